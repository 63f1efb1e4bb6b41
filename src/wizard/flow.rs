//! Which steps follow which, per strategy: the one place `update`, the step bar, the header and
//! the help read the procedure from (kong-upgrades.md 1.2-1.5). Pure.
//!
//! - Choosing: Preflight, then the Strategy step; the rest depends on the choice.
//! - Blue-green (shared database): Backup, Review, Up while old nodes serve, Decommission, Finish.
//! - In-place: Backup, Review, Freeze (writes frozen, confirmed), Decommission as "stop every
//!   old node" (the gate: none answers), Up, Finish right after, StartNew (the new nodes probed).
//! - Dual-cluster: the steps the dual-cluster helper fills in ([`DUAL_CLUSTER`]); until then the
//!   wizard says where it runs (`kongrade auto --strategy dual-cluster`) and does not pretend.
//! - Rolling: nothing to migrate: the Strategy step shows the order, then Done.

use std::time::Duration;

use super::model::{Checkpoint, Model, Path, Step, StrategyQuestion};
use crate::kong::nodes::NodeClass;
use crate::kong::strategy::{self, Choice, Deployment, OldNode, Strategy, StrategyInput};

/// The procedure the wizard follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// The strategy is not chosen yet.
    Choosing,
    /// An empty database: bootstrap.
    Bootstrap,
    /// Entered with `up` already run (pending migrations) and no strategy recorded: what is
    /// left of any strategy on this database is old nodes out, then finish.
    Finishing,
    BlueGreen,
    InPlace,
    DualCluster,
    Rolling,
}

/// The journal's step for in-place's gate (none of the old nodes answers: the downtime's
/// start) and for the new nodes proven: the names `kongrade auto --strategy in-place` writes,
/// so either tool resumes the other's clock.
pub use crate::kong::in_place::{GATE_STEP as IN_PLACE_GATE_STEP, NEW_NODES_STEP, SMOKE_STEP};

const CHOOSING: &[Step] = &[Step::Preflight, Step::Strategy, Step::Done];
const BOOTSTRAP: &[Step] = &[Step::Preflight, Step::Bootstrap, Step::Done];
const FINISHING: &[Step] = &[Step::Decommission, Step::Finish, Step::Done];
const BLUE_GREEN: &[Step] = &[
    Step::Preflight,
    Step::Strategy,
    Step::Backup,
    Step::Review,
    Step::Up,
    Step::Decommission,
    Step::Finish,
    Step::Done,
];
const IN_PLACE: &[Step] = &[
    Step::Preflight,
    Step::Strategy,
    Step::Backup,
    Step::Review,
    Step::Freeze,
    Step::Decommission,
    Step::Up,
    Step::Finish,
    Step::StartNew,
    Step::Done,
];
const ROLLING: &[Step] = &[Step::Preflight, Step::Strategy, Step::Done];

/// Dual-cluster (`super::dual`): the backup, then the clone's steps; the old cluster retired
/// last.
pub const DUAL_CLUSTER: &[Step] = &[
    Step::Preflight,
    Step::Strategy,
    Step::Backup,
    Step::Clone,
    Step::CloneReview,
    Step::CloneUp,
    Step::CloneFinish,
    Step::NewCluster,
    Step::Traffic,
    Step::Retire,
    Step::Done,
];

impl Flow {
    /// The flow of a chosen strategy.
    pub fn of(s: Strategy) -> Flow {
        match s {
            Strategy::BlueGreen => Flow::BlueGreen,
            Strategy::InPlace => Flow::InPlace,
            Strategy::DualCluster => Flow::DualCluster,
            Strategy::Rolling => Flow::Rolling,
        }
    }

    pub fn strategy(self) -> Option<Strategy> {
        match self {
            Flow::BlueGreen => Some(Strategy::BlueGreen),
            Flow::InPlace => Some(Strategy::InPlace),
            Flow::DualCluster => Some(Strategy::DualCluster),
            Flow::Rolling => Some(Strategy::Rolling),
            Flow::Choosing | Flow::Bootstrap | Flow::Finishing => None,
        }
    }

    /// The steps, in order, as the step bar shows them.
    pub fn steps(self) -> &'static [Step] {
        match self {
            Flow::Choosing => CHOOSING,
            Flow::Bootstrap => BOOTSTRAP,
            Flow::Finishing => FINISHING,
            Flow::BlueGreen => BLUE_GREEN,
            Flow::InPlace => IN_PLACE,
            Flow::DualCluster => DUAL_CLUSTER,
            Flow::Rolling => ROLLING,
        }
    }

    /// The step after `step` on this flow (None: `step` is not on it, or is the last).
    pub fn next(self, step: Step) -> Option<Step> {
        let s = self.steps();
        s.iter()
            .position(|x| *x == step)
            .and_then(|i| s.get(i + 1))
            .copied()
    }

    /// The step before `step` on this flow.
    pub fn prev(self, step: Step) -> Option<Step> {
        let s = self.steps();
        s.iter()
            .position(|x| *x == step)
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| s.get(i))
            .copied()
    }

    /// The step's title on this flow: in-place's Decommission stops every old node before up.
    pub fn title(self, step: Step) -> &'static str {
        match (self, step) {
            (Flow::InPlace, Step::Decommission) => "Stop old nodes",
            _ => step.title(),
        }
    }

    /// Why the step exists, where this flow gives it another purpose than blue-green's.
    pub fn why(self, step: Step) -> &'static str {
        match (self, step) {
            (Flow::InPlace, Step::Decommission) => "In-place: every old node stops before up; the gate opens only when none answers. The proxy's downtime starts then.",
            (Flow::InPlace, Step::Up) => "up runs once with the NEW kong, every old node stopped; finish follows right after.",
            (Flow::InPlace, Step::Finish) => "finish right after up: no old node runs, so nothing reads what it removes. Then the new nodes start.",
            (Flow::InPlace, Step::Backup) => "In-place's way back after up is this backup's restore: take it now, verified.",
            _ => super::text::why(step),
        }
    }

    /// The help's words for the step on this flow: what it is for, what can go wrong.
    pub fn help(self, step: Step) -> (&'static str, &'static str) {
        match (self, step) {
            (Flow::InPlace, Step::Decommission) => (
                "In-place (Kong's guide): stop every old traditional node and control plane before up; the database keeps running. kongrade probes each Admin API: up waits until none answers. Data planes keep serving their cached configuration and are replaced afterwards (rolling).",
                "An old node still running while up changes the schema reads what it cannot; a node that restarts by itself (a supervisor) answers again: stop it for good.",
            ),
            (Flow::InPlace, Step::Up) => (
                "up runs once, with the NEW version's kong, every old node stopped. finish follows right after.",
                "Interrupting it can leave the lock held until it expires and one migration half-applied; the way back is the backup's restore.",
            ),
            _ => super::text::step_help(step),
        }
    }

    /// The step's name in the step bar, short enough for the whole bar at 80 columns.
    pub fn label(self, step: Step) -> &'static str {
        match (self, step) {
            (Flow::InPlace, Step::Decommission) => "Stop old",
            (_, Step::Freeze) => "Freeze",
            (_, Step::StartNew) => "Start new",
            _ => step.title(),
        }
    }

    /// The training checkpoints this flow asks (`kongrade demo`), before the command each names.
    pub fn checkpoints(self) -> &'static [Checkpoint] {
        match self {
            Flow::BlueGreen | Flow::Finishing => &[Checkpoint::BeforeUp, Checkpoint::BeforeFinish],
            // Finish follows up at once with every old node already stopped: the one question
            // is who runs up.
            Flow::InPlace => &[Checkpoint::BeforeUp],
            Flow::DualCluster => &[Checkpoint::BeforeCloneUp, Checkpoint::BeforeCloneFinish],
            Flow::Choosing | Flow::Bootstrap | Flow::Rolling => &[],
        }
    }

    /// `up` runs only once every old node is stopped (in-place); else while they serve.
    pub fn stops_old_nodes_before_up(self) -> bool {
        self == Flow::InPlace
    }
}

impl Model {
    /// Why the wizard cannot follow `s` here, with what would let it.
    pub fn strategy_unavailable(&self, s: Strategy) -> Option<String> {
        match s {
            // The clone's place is a start flag (the demo's dual scenario has its own).
            Strategy::DualCluster if self.dual.is_none() => Some(
                "Dual-cluster needs to know where the clone goes: start the wizard again with --clone-database NAME (a new database on this server; --clone-pg-host and the other --clone-pg-* flags for another one) and the new cluster's --new-admin-url URL, or run `kongrade auto --strategy dual-cluster --clone-database NAME --new-admin-url URL`. Nothing is journaled here.".into(),
            ),
            _ => None,
        }
    }

    /// The procedure being followed now.
    pub fn flow(&self) -> Flow {
        if self.path == Path::Bootstrap {
            return Flow::Bootstrap;
        }
        match self.strategy {
            Some(s) => Flow::of(s),
            None if self.finishing => Flow::Finishing,
            None => Flow::Choosing,
        }
    }

    /// The deployment mode, and how it is known: as said or probed (the runtime's facts), else
    /// data planes recorded in `clustering_data_planes`, else the operator's answer.
    pub fn deployment(&self) -> (Deployment, String) {
        if let Some((d, from)) = &self.setup.strategy.deployment {
            return (*d, from.clone());
        }
        if self
            .reading
            .as_ref()
            .is_some_and(|r| !r.data_planes.is_empty())
        {
            return (
                Deployment::HybridControlPlane,
                "data planes recorded in clustering_data_planes".into(),
            );
        }
        match self.answers.deployment {
            Some(d) => (d, "your answer".into()),
            None => (Deployment::Unknown, "not known".into()),
        }
    }

    pub fn second_cluster(&self) -> Option<bool> {
        self.setup
            .strategy
            .second_cluster
            .or(self.answers.second_cluster)
    }

    /// The old nodes as their Admin APIs answered: a node not read (down, unreadable, a manual
    /// entry) may be any version, so it cannot prove the floor blue-green to 3.x needs.
    pub fn old_nodes_seen(&self) -> Vec<OldNode> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.class {
                Some(NodeClass::New { .. }) => None,
                Some(NodeClass::Old { version, .. }) => Some(OldNode {
                    name: n.name.clone(),
                    version: crate::kong::version::Version::find_in(version),
                }),
                _ => Some(OldNode {
                    name: n.name.clone(),
                    version: None,
                }),
            })
            .collect()
    }

    /// Kong's choice for this upgrade, on what the wizard knows now (`kong::strategy::choose`),
    /// made again only when what it is chosen from changes (the screen reads it every frame).
    pub fn strategy_choice(&self) -> std::sync::Arc<Choice> {
        let key = (
            self.deployment().0,
            self.reading.as_ref().and_then(|r| r.from),
            self.setup.target,
            self.old_nodes_seen(),
            self.second_cluster(),
        );
        self.memo.choice.get(
            |k| *k == key,
            || {
                let c = strategy::choose(&StrategyInput {
                    deployment: key.0,
                    from: key.1,
                    to: key.2,
                    old_nodes: &key.3,
                    second_cluster: key.4,
                });
                (key.clone(), c)
            },
        )
    }

    /// What the Strategy step must ask before it offers the strategies.
    pub fn strategy_question(&self) -> Option<StrategyQuestion> {
        let (d, _) = self.deployment();
        if d == Deployment::Unknown {
            return Some(StrategyQuestion::Deployment);
        }
        if d.has_database() && self.second_cluster().is_none() {
            return Some(StrategyQuestion::SecondCluster);
        }
        None
    }

    /// The Strategy step's rows: the allowed strategies (Kong's recommendation first), then
    /// the refused ones.
    pub fn strategy_rows(&self) -> Vec<(Strategy, bool)> {
        let c = self.strategy_choice();
        c.allowed
            .iter()
            .map(|o| (o.strategy, true))
            .chain(c.refused.iter().map(|r| (r.strategy, false)))
            .collect()
    }

    /// In-place: the old nodes that still answer, or are not probed yet (each keeps `up`
    /// from running: the gate opens only when none of them answers). A node answering the
    /// target version is not an old one. Data planes never read the database: they keep
    /// serving their cached configuration and are rolled afterwards.
    pub fn in_place_blockers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            match (&n.class, n.kind.as_str()) {
                (_, "manual") if !n.checklist.stopped => {
                    out.push(format!("{}: not confirmed stopped", n.name))
                }
                (_, "manual") => {}
                (None, _) => out.push(format!("{}: not probed yet", n.name)),
                (Some(NodeClass::Unreachable { .. }), _) | (Some(NodeClass::New { .. }), _) => {}
                (Some(c), _) => out.push(format!("{}: answers ({})", n.name, c.label())),
            }
        }
        for c in self.checklist.iter().filter(|c| !c.done) {
            out.push(format!("not confirmed: {}", c.label));
        }
        out
    }

    /// In-place's downtime so far (from the gate to the new nodes answering), on the model's
    /// clock.
    pub fn downtime(&self) -> Option<Duration> {
        let since = self.downtime_since?;
        let until = self.downtime_until.unwrap_or(self.now);
        Some(until.saturating_duration_since(since))
    }

    /// In-place: the new nodes (`--new-admin-url`) and what each answers now (they must answer
    /// the target version).
    pub fn new_nodes(&self) -> Vec<(String, bool, String)> {
        self.new_probes
            .iter()
            .map(|(url, class)| {
                let ok = matches!(class, Some(NodeClass::New { .. }));
                let label = class
                    .as_ref()
                    .map(NodeClass::label)
                    .unwrap_or_else(|| "not probed yet".into());
                (url.clone(), ok, label)
            })
            .collect()
    }

    /// In-place: whether the new nodes are proven (every `--new-admin-url` answers `GET /` with
    /// the target version: auto's rule, `kong::in_place::judge_new_nodes`), or why not. With
    /// none given, the operator's word is all there is: `Ok(false)` asks for it.
    pub fn new_nodes_proven(&self) -> Result<bool, String> {
        if self.new_probes.is_empty() {
            return Ok(false);
        }
        let unprobed: Vec<&str> = self
            .new_probes
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(u, _)| u.as_str())
            .collect();
        if !unprobed.is_empty() {
            return Err(format!("not probed yet: {}", unprobed.join(", ")));
        }
        let answers = self
            .new_probes
            .iter()
            .filter_map(|(u, c)| c.as_ref().map(|c| (u.as_str(), c)));
        match crate::kong::in_place::judge_new_nodes(answers) {
            Ok(_) => Ok(true),
            Err(bad) => Err(format!(
                "not every new node answers the target version yet (start them on this database): {}",
                bad.join("; ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_ends_at_done_and_moves_one_way() {
        for f in [
            Flow::Choosing,
            Flow::Bootstrap,
            Flow::Finishing,
            Flow::BlueGreen,
            Flow::InPlace,
            Flow::DualCluster,
            Flow::Rolling,
        ] {
            let s = f.steps();
            assert_eq!(s.last(), Some(&Step::Done), "{f:?}");
            for w in s.windows(2) {
                assert_eq!(f.next(w[0]), Some(w[1]), "{f:?}");
                assert_eq!(f.prev(w[1]), Some(w[0]), "{f:?}");
            }
            assert_eq!(f.next(Step::Done), None);
        }
    }

    #[test]
    fn in_place_stops_the_old_nodes_before_up_and_finishes_right_after() {
        let f = Flow::InPlace;
        assert_eq!(f.next(Step::Review), Some(Step::Freeze));
        assert_eq!(f.next(Step::Freeze), Some(Step::Decommission));
        assert_eq!(f.next(Step::Decommission), Some(Step::Up));
        assert_eq!(f.next(Step::Up), Some(Step::Finish));
        assert_eq!(f.next(Step::Finish), Some(Step::StartNew));
        assert_eq!(f.title(Step::Decommission), "Stop old nodes");
        // Blue-green: up while old nodes serve, then they go, then finish.
        assert_eq!(Flow::BlueGreen.next(Step::Up), Some(Step::Decommission));
        assert_eq!(Flow::BlueGreen.next(Step::Decommission), Some(Step::Finish));
    }

    #[test]
    fn dual_cluster_retires_the_old_cluster_last_and_finishes_on_the_clone() {
        let f = Flow::DualCluster;
        assert_eq!(f.next(Step::Strategy), Some(Step::Backup));
        assert_eq!(f.next(Step::Backup), Some(Step::Clone));
        assert_eq!(f.next(Step::CloneFinish), Some(Step::NewCluster));
        assert_eq!(f.next(Step::Retire), Some(Step::Done));
        assert!(!f.steps().contains(&Step::Decommission));
    }
}
