//! Dual-cluster in the wizard (Kong's guide for majors and LTS jumps): the source stays as it is
//! and keeps serving the old cluster; a clone of it is proven, migrated by the new kong (`up`
//! then `finish`, no old node reads the clone), the new cluster is probed and smoke-tested,
//! traffic is shifted in steps with the write guard checked before each, and the old cluster is
//! retired last. Pure state; the runtime's jobs live in `tui::dual`.
//!
//! The journal step names are `auto --strategy dual-cluster`'s, so either can resume the
//! other's run: `dual-cluster clone` (done: the CloneRecord as JSON), `dual-cluster up`,
//! `dual-cluster finish`, `dual-cluster write guard`, `dual-cluster new cluster proven`; the
//! wizard adds `dual-cluster traffic N %` and `dual-cluster retire`.

use crate::contract::clone::CloneRecord;
use crate::contract::journal::{Event, ReadBack};
use crate::contract::KongCommand;

use super::model::Step;

pub const STEP_CLONE: &str = "dual-cluster clone";
pub const STEP_UP: &str = "dual-cluster up";
pub const STEP_FINISH: &str = "dual-cluster finish";
pub const STEP_GUARD: &str = "dual-cluster write guard";
pub const STEP_PROVEN: &str = "dual-cluster new cluster proven";
pub const STEP_RETIRE: &str = "dual-cluster retire";

/// The traffic shift, in the steps Kong's guide suggests watching (percent to the new cluster).
pub const TRAFFIC: [u8; 5] = [1, 5, 10, 50, 100];

/// The journal step of one traffic shift (`dual-cluster traffic 10 %`).
pub fn traffic_step(pct: u8) -> String {
    format!("dual-cluster traffic {pct} %")
}

/// The journal step of a kong run on the clone.
pub fn kong_step(command: KongCommand) -> &'static str {
    match command {
        KongCommand::Finish => STEP_FINISH,
        _ => STEP_UP,
    }
}

/// The dual-cluster steps after Backup, in order.
pub const STEPS: &[Step] = &[
    Step::Clone,
    Step::CloneReview,
    Step::CloneUp,
    Step::CloneFinish,
    Step::NewCluster,
    Step::Traffic,
    Step::Retire,
];

/// What the wizard knows of the dual-cluster flags before anything runs (no password).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DualSetup {
    /// The source as shown (`kong@db:5432/kong`): the old cluster's database, never written.
    pub source: String,
    /// The clone's place as shown (`kong@db:5432/kong_new`), and its database's name (typed to
    /// confirm replacing it).
    pub clone: String,
    pub clone_database: String,
    /// `--clone-replace`: a clone target that holds something is dropped and re-created.
    pub replace: bool,
    /// `--new-admin-url`, `--new-status-url`, `--smoke` (as typed), for the New cluster step.
    pub new_admin_urls: Vec<String>,
    pub new_status_urls: Vec<String>,
    pub smoke: Vec<String>,
}

/// What a journal (the wizard's or auto's) says of a dual-cluster run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DualResume {
    /// The last proven clone (None: none, or a new one was started after it).
    pub clone: Option<CloneRecord>,
    /// A clone was started and never proven; `ours` when its place was absent or empty then
    /// (auto's rule: only such a half-made clone is replaced without --clone-replace).
    pub clone_started: Option<String>,
    /// Done after the last proven clone.
    pub up_done: bool,
    pub finish_done: bool,
    pub proven: bool,
    pub traffic: Vec<u8>,
    pub retired: bool,
    /// The write guard's last verdict was stale (a new clone is due).
    pub stale: bool,
}

impl DualResume {
    /// Reads the dual-cluster steps in order: a new clone voids what was done on the old one.
    pub fn from_journal(rb: &ReadBack) -> DualResume {
        let mut r = DualResume::default();
        for e in &rb.entries {
            let Event::Step {
                step,
                phase,
                detail,
            } = &e.event
            else {
                continue;
            };
            match (step.as_str(), phase.as_str()) {
                (STEP_CLONE, "started") => {
                    r = DualResume {
                        clone_started: detail.clone(),
                        ..DualResume::default()
                    }
                }
                (STEP_CLONE, "done") => {
                    // An unreadable record proves nothing: the clone is taken again.
                    let rec = detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<CloneRecord>(d).ok());
                    r = DualResume {
                        clone: rec,
                        ..DualResume::default()
                    };
                }
                (STEP_CLONE, "failed") => r.clone_started = None,
                (STEP_UP, "done") => r.up_done = true,
                (STEP_FINISH, "done") => r.finish_done = true,
                (STEP_PROVEN, "done") => r.proven = true,
                (STEP_PROVEN, "failed") => r.proven = false,
                (STEP_GUARD, "failed") => r.stale = true,
                (STEP_GUARD, "done") => r.stale = false,
                (STEP_RETIRE, "done") => r.retired = true,
                (s, "done") => {
                    if let Some(p) = TRAFFIC.iter().find(|p| traffic_step(**p) == s) {
                        if !r.traffic.contains(p) {
                            r.traffic.push(*p);
                        }
                    }
                }
                _ => {}
            }
        }
        r
    }

    pub fn is_empty(&self) -> bool {
        *self == DualResume::default()
    }
}

/// Where the clone stands.
#[derive(Clone, Debug, PartialEq)]
pub enum CloneState {
    /// Not taken (or a new one is due).
    None,
    /// The runtime is looking at the clone's place (exists? holds how many relations?).
    Inspecting,
    /// The place was read: relations in it (None: the database does not exist).
    Inspected(Option<i64>),
    /// pg_dump | pg_restore is streaming; the lines so far.
    Running,
    Proven(Box<CloneRecord>),
    Failed(String),
}

/// The write guard's last word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    /// Configuration tables changed on the source since the clone (the clone is stale).
    pub stale: Vec<String>,
    /// Tables written by traffic that changed (expected).
    pub diverging: Vec<String>,
    /// The verdict's lines (as auto prints them).
    pub lines: Vec<String>,
}

/// One new node as probed: its URL and what is wrong (empty: the target on a reachable
/// database, ready where asked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClusterReport {
    /// Lines that passed, as shown (`http://new:8001: Kong 3.4.2, database reachable`).
    pub ok: Vec<String>,
    /// What is wrong, one line each (nothing: the new cluster is ready for traffic).
    pub problems: Vec<String>,
}

/// A question of the dual-cluster steps (drawn as an overlay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DualAsk {
    /// Take the clone. `typed`: the clone's database name must be typed when it replaces one
    /// that holds something.
    Clone {
        replace: bool,
        held: Option<i64>,
        typed: Option<String>,
        error: Option<String>,
    },
    /// Run kong on the clone.
    Run {
        command: KongCommand,
        command_line: String,
    },
    /// Retire the old cluster: the word `retire` typed.
    Retire {
        typed: String,
        error: Option<String>,
    },
}

/// The word typed to retire the old cluster.
pub const RETIRE_WORD: &str = "retire";

/// What the wizard has of a dual-cluster upgrade.
#[derive(Clone, Debug, PartialEq)]
pub struct Dual {
    pub setup: DualSetup,
    pub clone: CloneState,
    /// The clone job's progress lines, and when it started (the screen's running clock).
    pub clone_lines: Vec<String>,
    pub clone_started: Option<std::time::Instant>,
    /// The journal's clone was started by an earlier run on an absent or empty place (or this
    /// session started one): replaced again without asking.
    pub ours: bool,
    /// The journaled start that made the place ours (its detail is journaled again on a retry).
    pub ours_detail: Option<String>,
    /// What the clone's place held when last looked at (the journal's word at the start).
    pub place: Option<crate::contract::clone::PlaceAtStart>,
    /// The live pane was asked to read the clone, and (`watching`) its first read of the clone
    /// is the next one: reads of the source still in flight then are dropped.
    pub watch_asked: bool,
    pub watching: bool,
    pub up_done: bool,
    pub finish_done: bool,
    /// The kong run on the clone (m.run's id) and the runtime's word on the source around it:
    /// `Some(Ok)` unchanged, `Some(Err)` the source's schema_meta changed.
    pub kong_run: Option<crate::contract::RunId>,
    pub source_check: Option<(crate::contract::RunId, Result<(), String>)>,
    /// The source changed under a run meant for the clone: everything stops.
    pub source_changed: Option<String>,
    pub probing: bool,
    pub report: Option<NewClusterReport>,
    pub proven: bool,
    /// What the guard is checked for: a traffic step (its index), or the retirement.
    pub guard_for: Option<GuardFor>,
    pub guard: Option<Guard>,
    /// The traffic steps ticked, by index in [`TRAFFIC`].
    pub traffic: [bool; 5],
    pub retired: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardFor {
    Traffic(usize),
    Retire,
}

impl Dual {
    pub fn new(setup: DualSetup, resume: Option<&DualResume>) -> Dual {
        let mut d = Dual {
            setup,
            clone: CloneState::None,
            clone_lines: Vec::new(),
            clone_started: None,
            ours: false,
            ours_detail: None,
            place: None,
            watch_asked: false,
            watching: false,
            up_done: false,
            finish_done: false,
            kong_run: None,
            source_check: None,
            source_changed: None,
            probing: false,
            report: None,
            proven: false,
            guard_for: None,
            guard: None,
            traffic: [false; 5],
            retired: false,
        };
        if let Some(r) = resume {
            d.ours_detail = r
                .clone_started
                .clone()
                .filter(|x| crate::contract::clone::PlaceAtStart::ours(x, &d.setup.clone));
            d.ours = d.ours_detail.is_some();
            if let Some(rec) = &r.clone {
                // A proven clone of another place is not this one's.
                if rec.clone == d.setup.clone {
                    d.clone = CloneState::Proven(Box::new(rec.clone()));
                    d.up_done = r.up_done;
                    d.finish_done = r.finish_done;
                    d.proven = r.proven;
                    for (i, p) in TRAFFIC.iter().enumerate() {
                        d.traffic[i] = r.traffic.contains(p);
                    }
                    d.retired = r.retired;
                    if r.stale {
                        d.guard = Some(Guard {
                            stale: vec!["(see the journal)".into()],
                            diverging: Vec::new(),
                            lines: vec!["The write guard found the clone stale in an earlier run: take a new clone (c).".into()],
                        });
                    }
                }
            }
        }
        d
    }

    pub fn record(&self) -> Option<&CloneRecord> {
        match &self.clone {
            CloneState::Proven(r) => Some(r),
            _ => None,
        }
    }

    /// The write guard is being checked (for a traffic step or the retirement).
    pub fn guarding(&self) -> bool {
        self.guard_for.is_some()
    }

    pub fn stale(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| !g.stale.is_empty())
    }

    /// The next traffic step to tick (None: 100 % is shifted).
    pub fn next_traffic(&self) -> Option<usize> {
        self.traffic.iter().position(|t| !*t)
    }

    /// The first dual-cluster step not done: where a resumed run enters.
    pub fn resume_step(&self) -> Step {
        if self.record().is_none() || self.stale() {
            Step::Clone
        } else if !self.up_done {
            Step::CloneReview
        } else if !self.finish_done {
            Step::CloneFinish
        } else if !self.proven {
            Step::NewCluster
        } else if self.next_traffic().is_some() {
            Step::Traffic
        } else if !self.retired {
            Step::Retire
        } else {
            Step::Done
        }
    }

    /// The rollback while the old cluster is not retired (Kong's dual-cluster guide).
    pub fn rollback_text(&self) -> String {
        if self.retired {
            format!(
                "The old cluster is retired. Going back now means rebuilding it from the backup taken before the clone (the database {} was never written by this upgrade, if it still exists).",
                self.setup.source
            )
        } else {
            format!(
                "Dual-cluster: the old cluster and its database {} were never touched by this upgrade.\n\nRollback, at any point until the old cluster is retired: send all traffic back to the old cluster. Then investigate on the new one (its database is the clone {}), and shift again when it is fixed.\n\nRows written by traffic meanwhile (rate-limiting counters, OAuth2 tokens, sessions, ACME) are not copied back: tokens and sessions the new cluster issued are not on the old one.",
                self.setup.source, self.setup.clone
            )
        }
    }
}

/// Whether a step is one of dual-cluster's own.
pub fn is_dual(step: Step) -> bool {
    STEPS.contains(&step)
}

/// Whether a dual-cluster step the wizard is past is really done (the progress line's tick).
pub fn step_done(m: &super::model::Model, step: Step) -> bool {
    let Some(d) = &m.dual else {
        return false;
    };
    match step {
        Step::Clone => d.record().is_some() && !d.stale(),
        Step::CloneReview => m.visited.contains(&Step::CloneReview) || d.up_done,
        Step::CloneUp => d.up_done,
        Step::CloneFinish => d.finish_done,
        Step::NewCluster => d.proven,
        Step::Traffic => d.next_traffic().is_none(),
        Step::Retire => d.retired,
        _ => false,
    }
}

/// What the runtime does for the dual-cluster steps (`Effect::Dual`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DualJob {
    /// Read the clone's place: does the database exist, how many relations does it hold.
    Inspect,
    /// Clone the source into it and prove it (`exec::clone`); `replace` drops what it holds.
    Clone { replace: bool },
    /// The live pane reads the clone from now on.
    Watch,
    /// Run kong on the clone (its connection in kong's environment, with the marker), the
    /// source's `schema_meta` read before and after.
    Kong {
        id: crate::contract::RunId,
        command: KongCommand,
        marker: String,
    },
    /// Probe the new cluster's nodes and run the smoke tests.
    Probe,
    /// The write guard: the source now against the source at the clone's snapshot (`then`).
    Guard {
        then: Vec<crate::contract::clone::TableMark>,
    },
}

impl DualJob {
    /// Whether it changes anything (not carried out when its journal entry could not be written).
    pub fn acts(&self) -> bool {
        matches!(self, DualJob::Clone { .. } | DualJob::Kong { .. })
    }
}

/// What the runtime's dual-cluster jobs report (`Msg::Dual`).
#[derive(Clone, Debug, PartialEq)]
pub enum DualMsg {
    /// What the clone's place holds (absent, empty, or its relations, tables and rows).
    Inspected(Result<crate::contract::clone::PlaceAtStart, String>),
    CloneLine(String),
    Cloned(Result<Box<CloneRecord>, String>),
    /// The source's schema_meta around the run: unchanged, or what changed.
    SourceChecked(crate::contract::RunId, Result<(), String>),
    /// The poller reads the clone from the read numbered `from_seq` on.
    Watching {
        from_seq: u64,
    },
    Probed(NewClusterReport),
    Guarded(Result<Guard, String>),
}

/// The step's purpose, one line (the step pane's first line).
pub fn why(step: Step) -> &'static str {
    match step {
        Step::Clone => "The new cluster gets its own database: a proven copy of the source. The source and the old cluster are never touched.",
        Step::CloneReview => "These run on the clone, not on the source: the old cluster keeps serving from its own database meanwhile.",
        Step::CloneUp => "up on the clone, by the new kong pointed at it through its environment. The source's schema_meta is checked around the run.",
        Step::CloneFinish => "finish on the clone at once: no old node reads the clone, so there is nothing to decommission first.",
        Step::NewCluster => "Start the new cluster's nodes on the clone, then prove them: version, database, readiness, smoke tests.",
        Step::Traffic => "Shift traffic in steps, watching errors and latency. The write guard is checked before each step.",
        Step::Retire => "Last: retire the old cluster and its database. Until now the rollback was sending all traffic back.",
        _ => "",
    }
}

/// The help overlay's words: what the step is for, what can go wrong here.
pub fn help(step: Step) -> (&'static str, &'static str) {
    match step {
        Step::Clone => (
            "Kong's dual-cluster guide: a new database with the same PostgreSQL version, the source restored into it. kongrade streams pg_dump | pg_restore at one snapshot of the source, then proves the copy: schema_meta identical, every table's rows identical.",
            "A clone target that already holds something is refused unless --clone-replace (then its name is typed). Configuration written on the old cluster after the clone is not on the new one: keep writes frozen.",
        ),
        Step::CloneReview => (
            "The migrations the new kong will run on the clone. The source stays at its version: the old cluster keeps serving from it.",
            "Reading them on the source would say the same today: the clone is its copy. Only the clone is migrated.",
        ),
        Step::CloneUp => (
            "kong migrations up on the clone, by the new version's kong. Its connection is in kong's environment (KONG_PG_*), never in argv.",
            "A kong that ignores its environment (a wrapper that drops KONG_PG_*) would migrate the source: kongrade compares the source's schema_meta before and after and stops if it changed.",
        ),
        Step::CloneFinish => (
            "kong migrations finish on the clone. No old node reads the clone, so it runs right after up: no decommission in between.",
            "As for up: the source's schema_meta is compared around the run.",
        ),
        Step::NewCluster => (
            "The new cluster's nodes run on the clone. Each Admin API (--new-admin-url) must answer the target version with its database reachable, /status/ready on 3.3+ (--new-status-url), and every --smoke test must answer its status.",
            "Send no traffic to a node that fails any of these. Certificates, keys and custom templates are not in the database: copy them to the new nodes.",
        ),
        Step::Traffic => (
            "Shift traffic to the new cluster in steps (1 %, 5 %, 10 %, 50 %, 100 %) with your load balancer, DNS or Kong's Canary plugin; tick each once done and watched.",
            "Before each step the write guard compares the source's configuration tables with the clone's snapshot: a change on the old cluster after the clone makes the clone stale (c takes a new one). Tables written by traffic are expected to diverge.",
        ),
        Step::Retire => (
            "Retire the old cluster, then its database. Only now may configuration writes resume, on the new cluster.",
            "After this, going back means rebuilding the old cluster from the backup: keep it.",
        ),
        _ => ("", ""),
    }
}

/// The kong run's marker in its environment (a resumed run recognises a kong still running).
pub fn run_marker(journal_path: Option<&str>, command: KongCommand) -> String {
    let path = std::path::Path::new(journal_path.unwrap_or("training"));
    crate::contract::journal::step_marker(path, kong_step(command))
}
