//! A headless driver for the model, shared by the model tests and the screen snapshots: the
//! training cluster as the database, the kong stand-in (in-process, as `kongrade demo` runs it)
//! run to completion between messages, and a clock that moves only when told.

use std::time::{Duration, Instant};

use super::keys::{Key, KeyCode};
use super::model::*;
use super::update::{update, Effect, Msg};
use crate::contract::{Invocation, RunEvent, RunId};
use crate::exec::runner;
use crate::kong::catalog::Catalog;
use crate::training::{scenario, Scenario, Training};
use crate::wizard::Interpreter;

pub struct H {
    pub m: Model,
    pub seq: u64,
    pub training: Training,
    /// Reads the training database as the demo's poller does (diagnose included).
    pub interpreter: Interpreter,
}

fn setup_for(t: &Training, name: &str) -> Setup {
    let mut s = Setup::new(&format!("training:{name}"), Some(t.target_version));
    s.training = Some(name.to_string());
    s.nodes = t.admin_nodes();
    // The scenario's nodes of the target version are in-place's new nodes.
    s.in_place.new_admin_urls = t
        .nodes
        .iter()
        .filter(|n| !n.old && !n.data_plane)
        .map(|n| n.name.clone())
        .collect();
    s.backup = t.backup_method();
    s.training_fix = t.fix();
    s.strategy = t.scenario.strategy_facts();
    s
}

impl H {
    pub fn scenario(name: &str) -> H {
        let sc = scenario(name).unwrap_or_else(|e| panic!("{e}"));
        H::from(sc, false)
    }

    /// The scenario with the shared-database (blue-green) steps already chosen: what most
    /// model tests drive is those steps' mechanics (the finish gate, the checklist, the runs).
    /// The scenarios' LTS jump makes Kong refuse blue-green, so the choice is set here, past
    /// `choose`; the Strategy step's own tests start from [`H::choosing`].
    pub fn from(sc: Scenario, read_only: bool) -> H {
        // An `up` already run enters at Decommission with no strategy, as the demo does.
        let up_ran = sc.up_ran_with.is_some();
        let mut h = H::choosing_from(sc, read_only);
        if !up_ran {
            h.m.strategy = Some(crate::kong::strategy::Strategy::BlueGreen);
        }
        h
    }

    /// The scenario as the demo starts it: the Strategy step asks.
    pub fn choosing(name: &str) -> H {
        let sc = scenario(name).unwrap_or_else(|e| panic!("{e}"));
        H::choosing_from(sc, false)
    }

    pub fn choosing_from(sc: Scenario, read_only: bool) -> H {
        let training = sc
            .build(Catalog::embedded(), 1.0)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut setup = setup_for(&training, &sc.name);
        setup.read_only = read_only;
        H {
            m: Model::new(setup, Instant::now()),
            seq: 0,
            interpreter: training.interpreter(training.settings(None, None)),
            training,
        }
    }

    pub fn json(text: &str) -> H {
        H::from(serde_json::from_str(text).expect("scenario json"), false)
    }

    /// A read of the training database as the poller would send it, started now, then what
    /// the training nodes' Admin APIs answer (the runtime's prober, run here in step).
    pub fn read(&mut self) -> Vec<Effect> {
        let fx = self.read_db();
        self.probe();
        fx
    }

    /// What the training nodes' simulated Admin APIs answer now.
    pub fn probe(&mut self) -> Vec<Effect> {
        let answers = self.training.probe();
        update(&mut self.m, Msg::Probed(answers))
    }

    /// A read of the training database alone.
    pub fn read_db(&mut self) -> Vec<Effect> {
        self.seq += 1;
        // As the demo's runtime does: no journal, so the model's own runs are the history.
        self.interpreter.history = Some(self.m.policy_history());
        let result = self
            .training
            .db
            .snapshot()
            .map(|s| Box::new(self.interpreter.reading(&s)))
            .map_err(|e| e.to_string());
        let at = self.m.now;
        update(
            &mut self.m,
            Msg::Snapshot {
                seq: self.seq,
                result,
                at,
            },
        )
    }

    pub fn advance(&mut self, secs: f64) {
        let now = self.m.now + Duration::from_secs_f64(secs);
        update(&mut self.m, Msg::Tick(now));
    }

    pub fn key(&mut self, k: Key) -> Vec<Effect> {
        update(&mut self.m, Msg::Key(k))
    }

    pub fn enter(&mut self) -> Vec<Effect> {
        self.key(Key::plain(KeyCode::Enter))
    }

    pub fn esc(&mut self) -> Vec<Effect> {
        self.key(Key::plain(KeyCode::Esc))
    }

    pub fn space(&mut self) -> Vec<Effect> {
        self.key(Key::ch(' '))
    }

    pub fn down(&mut self) -> Vec<Effect> {
        self.key(Key::ch('j'))
    }

    pub fn typed(&mut self, s: &str) {
        for c in s.chars() {
            assert!(self.key(Key::ch(c)).is_empty());
        }
    }

    pub fn run(&mut self, id: RunId, ev: RunEvent) -> Vec<Effect> {
        update(&mut self.m, Msg::Run(id, ev))
    }

    /// Carries out a StartKong with the stand-in, feeding its events back; returns the
    /// effects the events produced.
    pub fn perform(&mut self, fx: &[Effect]) -> Vec<Effect> {
        let Some((id, inv)) = fx.iter().find_map(|e| match e {
            Effect::StartKong(id, inv) => Some((*id, inv.clone())),
            _ => None,
        }) else {
            panic!("no StartKong in {fx:?}");
        };
        let events = run_training_kong(&self.training, &inv, id);
        let mut out = Vec::new();
        for ev in events {
            out.extend(self.run(id, ev));
        }
        out
    }

    /// Stops nodes the way the demo runtime does, which then probes the nodes at once.
    pub fn stop_nodes(&mut self, fx: &[Effect]) {
        let mut stopped = false;
        for e in fx {
            if let Effect::StopNode(n) = e {
                let (warn, text) = self.training.stop_node(n);
                update(&mut self.m, Msg::Note { warn, text });
                stopped = true;
            }
        }
        if stopped {
            self.probe();
        }
    }

    /// Makes the fixes the wizard asked for, as the demo runtime does.
    pub fn fix(&mut self, fx: &[Effect]) {
        if fx.contains(&Effect::FixCause) {
            let text = self.training.fix_fault();
            update(&mut self.m, Msg::Note { warn: false, text });
            // The runtime reads the database again at once.
            self.read_db();
        }
    }

    /// Backup step: "I have my own backup", saying where it is. Returns the effects of Enter.
    pub fn own_backup(&mut self, reference: &str) -> Vec<Effect> {
        assert!(self.space().is_empty());
        assert!(
            matches!(self.m.overlay, Some(Overlay::OwnBackup { .. })),
            "{:?}",
            self.m.overlay
        );
        self.typed(reference);
        self.enter()
    }

    pub fn notice(&self) -> String {
        self.m
            .notice
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_default()
    }

    /// Ticks every confirmation, and every old node (and old data plane) out: its own row
    /// ticks its whole checklist, stopping it in the training cluster.
    pub fn tick_all(&mut self) {
        self.tick_all_with(true)
    }

    /// [`H::tick_all`] without stopping again a node that still answers after its stop (the
    /// operator who did not look).
    pub fn tick_all_once(&mut self) {
        self.tick_all_with(false)
    }

    fn tick_all_with(&mut self, again: bool) {
        let mut i = 0;
        while let Some(row) = self.m.decom_rows().get(i).cloned() {
            let undone = match &row {
                DecomRow::General(j) => !self.m.checklist[*j].done,
                DecomRow::Node(j) => {
                    let n = &self.m.nodes[*j];
                    node_needs_checklist(n) && !n.checklist.done()
                }
                DecomRow::DataPlane(k) => self.m.data_planes().iter().any(|(dp, old, _)| {
                    *old && dp_key(dp) == *k && !self.m.dp_checks.get(k).is_some_and(|c| c.done())
                }),
                _ => false,
            };
            if undone {
                self.m.cursor = i;
                // Space on the node's row ticks its next item, in order.
                for _ in 0..3 {
                    let fx = self.space();
                    self.stop_nodes(&fx);
                }
                // A node whose Admin API still answers after its stop is stopped again, as
                // the operator would on reading it (untick, tick).
                let still = again
                    && matches!(&row, DecomRow::Node(j) if self.m.nodes[*j].class.as_ref().is_some_and(|c| c.blocks_finish()));
                if still {
                    self.space();
                    let fx = self.space();
                    self.stop_nodes(&fx);
                }
            }
            i += 1;
        }
    }

    /// Lets time pass beyond the --dp-window for the data planes stopped so far: the training
    /// database backdates their stop and the wizard's clock moves on as far (both clocks agree).
    pub fn age_out(&mut self) {
        self.wait(self.m.setup.dp_window + 1.0);
    }

    /// From now on the training database reads on a clock that moves only with [`H::wait`]:
    /// for snapshots that show an age.
    pub fn freeze_db_clock(&mut self) {
        self.training.db.lock_tables().frozen_now = Some(Instant::now());
    }

    /// `secs` pass for the training database's stopped data planes and the wizard's clock alike.
    pub fn wait(&mut self, secs: f64) {
        let by = Duration::from_secs_f64(secs);
        {
            let mut t = self.training.db.lock_tables();
            for at in t.dp_stopped.values_mut() {
                if let Some(earlier) = at.checked_sub(by) {
                    *at = earlier;
                }
            }
        }
        self.advance(by.as_secs_f64());
    }

    /// Moves the cursor to a Decommission row.
    pub fn select(&mut self, row: &DecomRow) {
        self.m.cursor = self
            .m
            .decom_rows()
            .iter()
            .position(|r| r == row)
            .unwrap_or_else(|| panic!("no row {row:?} in {:?}", self.m.decom_rows()));
    }

    /// From Preflight through a successful up, at Decommission.
    pub fn through_up(&mut self) {
        self.read();
        assert_eq!(self.m.step, Step::Preflight);
        self.enter();
        assert_eq!(self.m.step, Step::Backup);
        self.own_backup("snapshot vol-0abc of the db host");
        self.enter();
        assert_eq!(self.m.step, Step::Review);
        self.enter();
        assert_eq!(self.m.step, Step::Up);
        self.enter();
        let fx = self.enter();
        let fx = self.perform(&fx);
        assert_eq!(actions(&fx), vec![Effect::Refresh]);
        self.advance(0.5);
        self.read();
        assert!(
            self.m.outcome.as_ref().is_some_and(|o| o.success),
            "{:?}",
            self.m.outcome
        );
        self.enter();
        assert_eq!(self.m.step, Step::Decommission);
    }
}

impl H {
    /// Plays the wizard from wherever it stands to Done the way an operator would, running kong
    /// (the stand-in) at Up and Finish, and stopping a node again when the database still sees it.
    pub fn play_to_done(&mut self) {
        for _ in 0..40 {
            if self.m.step == Step::Done {
                return;
            }
            self.play_one();
        }
        panic!("not Done after 40 moves: at {:?}", self.m.step);
    }

    /// One move of [`H::play_to_done`]'s operator.
    pub fn play_one(&mut self) {
        {
            match self.m.step {
                Step::Done => {}
                Step::Preflight if crate::wizard::keys::overridable_finding(&self.m).is_some() => {
                    // An error the scenario means the trainee to weigh: gone past with a reason.
                    self.key(Key::ch('o'));
                    self.typed("the scenario says so");
                    self.enter();
                }
                Step::Preflight | Step::Review | Step::Freeze | Step::StartNew => {
                    self.enter();
                }
                Step::Strategy => self.choose_recommended(),
                Step::Backup => {
                    if !self.m.backup_done() {
                        self.own_backup("snapshot vol-0abc of the db host");
                    }
                    self.enter();
                }
                Step::Up | Step::Bootstrap => {
                    self.enter();
                    let fx = self.enter();
                    let fx = self.perform(&fx);
                    assert_eq!(actions(&fx), vec![Effect::Refresh], "{}", self.notice());
                    self.advance(0.5);
                    self.read();
                    // A scenario whose migration fails: its fix, then up again.
                    let failed = self.m.outcome.as_ref().is_some_and(|o| !o.success);
                    if failed && self.m.setup.training_fix.is_some() && !self.m.fixed {
                        let fx = self.key(Key::ch('f'));
                        self.fix(&fx);
                        return;
                    }
                    assert!(
                        self.m.outcome.as_ref().is_some_and(|o| o.success),
                        "{:?}",
                        self.m.outcome
                    );
                    self.enter();
                }
                Step::Decommission => {
                    self.tick_all();
                    self.read();
                    // A node the database still sees after its stop is stopped again.
                    let seen: Vec<String> = self
                        .m
                        .old_data_planes_seen()
                        .iter()
                        .filter_map(|dp| dp.hostname.clone())
                        .collect();
                    for name in seen {
                        self.select(&DecomRow::DataPlane(name));
                        self.space();
                        let fx = self.space();
                        self.stop_nodes(&fx);
                    }
                    // A stopped data plane's row ages out over the window.
                    self.age_out();
                    self.read();
                    self.enter();
                }
                Step::Finish
                    if self
                        .m
                        .state()
                        .is_some_and(|s| !s.any(crate::kong::state::MigState::Pending)) =>
                {
                    // Nothing pending (a hop of one-phase migrations): finish has nothing to do.
                    self.enter();
                }
                Step::Finish => {
                    self.enter();
                    assert!(
                        matches!(self.m.overlay, Some(Overlay::Typed { .. })),
                        "finish offered: {}",
                        self.notice()
                    );
                    self.typed("finish");
                    let fx = self.enter();
                    self.perform(&fx);
                    self.advance(0.5);
                    self.read();
                    self.enter();
                }
                s => panic!("cannot play on from {s:?}: {}", self.notice()),
            }
        }
    }
}

impl H {
    /// At the Strategy step: answers what it asks (traditional; no second cluster), then
    /// follows Kong's recommendation, or in-place where the wizard cannot follow that one yet.
    pub fn choose_recommended(&mut self) {
        use crate::kong::strategy::Strategy;
        use crate::wizard::model::StrategyQuestion;
        while let Some(q) = self.m.strategy_question() {
            let k = match q {
                StrategyQuestion::Deployment => '1',
                StrategyQuestion::SecondCluster => '2',
            };
            self.key(Key::ch(k));
        }
        let rows = self.m.strategy_rows();
        let rec = self.m.strategy_choice().recommended;
        let pick = if self.m.strategy_unavailable(rec).is_none() {
            rec
        } else {
            Strategy::InPlace
        };
        self.m.cursor = rows
            .iter()
            .position(|(s, ok)| *s == pick && *ok)
            .unwrap_or_else(|| panic!("{pick} not allowed: {rows:?}"));
        self.enter();
        assert!(
            matches!(self.m.overlay, Some(Overlay::ConfirmStrategy { .. })),
            "{}",
            self.notice()
        );
        self.key(Key::ch('y'));
    }
}

/// The effects that act on the world, without the journal entries (checked on their own).
pub fn actions(fx: &[Effect]) -> Vec<Effect> {
    fx.iter()
        .filter(|e| !matches!(e, Effect::Journal(_)))
        .cloned()
        .collect()
}

/// The journal entries among the effects, in order.
pub fn journal(fx: &[Effect]) -> Vec<crate::contract::journal::Event> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Journal(ev) => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

pub fn run_training_kong(t: &Training, inv: &Invocation, id: RunId) -> Vec<RunEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _handle = runner::start(&t.kong(Duration::ZERO), inv, id, tx);
        let mut evs = Vec::new();
        while let Some((_, ev)) = rx.recv().await {
            let end = matches!(ev, RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. });
            evs.push(ev);
            if end {
                break;
            }
        }
        evs
    })
}
