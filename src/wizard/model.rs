//! The wizard's state: which step, what the database last said, what kong is doing, what the
//! operator confirmed. Plain data; only [`super::update`] changes it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::contract::journal::{Event, ReadBack};
use crate::contract::BackupRecord;
use crate::contract::{Invocation, KongCommand, RunId};
use crate::kong::nodes::{
    finish_gate, old_data_planes, Checklist, FinishGate, NodeClass, NodeStatus,
};
use crate::kong::snapshot::DataPlaneRow;
use crate::kong::state::{MigState, SchemaState};
use crate::kong::version::Version;

use crate::kong::diagnose::Finding;
use crate::kong::strategy::{Deployment, Strategy};

pub use super::flow::Flow;

/// What the runtime knows before the first read: where the database is, what kong to run.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The database as shown (never a password): `kong@db:5432/kong`, or the training cluster.
    pub database: String,
    pub target: Option<Version>,
    /// The kong command line as the operator gave it (`kong`, `docker exec -i kong-new kong`).
    pub kong_cmd: String,
    /// Flags every kong run gets (`-c FILE`, timeouts); the subcommand is set per step.
    pub invocation: Invocation,
    /// `--read-only`: state and findings, nothing runs.
    pub read_only: bool,
    /// The scenario's title when this is the training cluster (`kongrade demo`).
    pub training: Option<String>,
    /// False under NO_COLOR.
    pub color: bool,
    /// How often the poller reads the database.
    pub refresh: Duration,
    /// The nodes kongrade knows before the first probe: Admin APIs (`--admin-url`, the nodes
    /// file; the training cluster's simulated ones), and manual entries. Data planes come from
    /// the database on every read.
    pub nodes: Vec<NodeStatus>,
    /// A data plane seen within this many seconds still serves (`--dp-window`).
    pub dp_window: f64,
    /// How the Backup step backs this database up.
    pub backup: BackupMethod,
    /// What an earlier, unfinished run of this upgrade recorded in the journal.
    pub resume: Option<Resume>,
    /// Where this upgrade's journal is (None: read-only, or the training cluster).
    pub journal_path: Option<String>,
    /// `pg_restore ... -d DB` without the file, for the rollback guidance (PostgreSQL only).
    pub restore_command: Option<String>,
    /// Training: ask the trainee a question before `up` and before `finish` (`kongrade demo`).
    pub checkpoints: bool,
    /// Training: the scenarios the menu at Done offers, (name, title), and this one's name.
    pub scenarios: Vec<(String, String)>,
    pub scenario: Option<String>,
    /// The journal's last rehearsal of this database for this target (`kongrade rehearse`).
    pub rehearsal: Option<super::review::Rehearsal>,
    /// `--kong-lua-path` was given; the migrations' modules read from it, by `sub/migration`.
    pub kong_lua_path: bool,
    pub migration_sources: std::sync::Arc<BTreeMap<String, super::review::MigrationSource>>,
    /// Dual-cluster: the clone and the new cluster (None: the shared-database flow).
    pub dual: Option<super::dual::DualSetup>,
    /// Training: the fix the scenario offers for a migration that fails in `up` (the footer's
    /// label, what it does).
    pub training_fix: Option<(String, String)>,
    /// The strategy facts as the runtime gathered them (`--strategy`, `--deployment`,
    /// `--second-cluster`, the probed Admin APIs' roles; the scenario's in demo).
    pub strategy: StrategyFacts,
    /// In-place: the new nodes to prove after finish, and the smoke tests through them.
    pub in_place: InPlaceSetup,
    /// A kong the previous run (killed) started and left running, found at open
    /// (`exec::journal::earlier_kong`): nothing starts until it has ended.
    pub earlier_kong: Option<EarlierKongSeen>,
}

/// A kong an earlier run left running, as the wizard shows it while waiting for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierKongSeen {
    /// `kong migrations up` (`... on the clone`).
    pub what: String,
    pub pids: Vec<u32>,
    pub command_line: String,
}

impl EarlierKongSeen {
    /// "a kong migrations up started by the previous run (pid N) is still running: waiting for it".
    pub fn text(&self) -> String {
        format!(
            "a {} started by the previous run (pid {}) is still running: waiting for it",
            self.what,
            crate::exec::journal::pids_text(&self.pids)
        )
    }
}

/// In-place's new nodes as `auto --strategy in-place` takes them: `--new-admin-url` (never the
/// old nodes' `--admin-url`) and `--smoke` (as typed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InPlaceSetup {
    pub new_admin_urls: Vec<String>,
    pub smoke: Vec<String>,
}

/// In-place's smoke tests through the new nodes' proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SmokeState {
    #[default]
    NotRun,
    Running,
    /// Each test's verdict line (`smoke GET URL: 200 as expected`).
    Passed(Vec<String>),
    /// What failed, a line each.
    Failed(Vec<String>),
}

/// What the Strategy step starts from: each `None` is not known (the step asks what it needs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyFacts {
    /// `--strategy`: preselected (refused at start when Kong's guide does not allow it).
    pub preselected: Option<Strategy>,
    /// `--deployment`, or what an Admin API's `GET /` said, with where it came from.
    pub deployment: Option<(Deployment, String)>,
    /// `--second-cluster yes|no`.
    pub second_cluster: Option<bool>,
}

/// An unfinished upgrade found in the journal: the database still decides where the wizard
/// enters; the journal spares the operator what is already done (the backup).
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// When the upgrade's journal was opened (UTC).
    pub started: String,
    pub backup: Option<BackupState>,
    /// Why the backup the journal records no longer counts (the file is gone or changed): set by
    /// the runtime after checking the file again; the Backup step then asks for a new one.
    pub backup_problem: Option<String>,
    /// Steps the journal records as done, in order, without repeats.
    pub steps_done: Vec<String>,
    /// What the journal says of a dual-cluster run (the wizard's or auto's).
    pub dual: super::dual::DualResume,
    /// The strategy the journal records as chosen (the last one): not asked again.
    pub strategy: Option<Strategy>,
    /// In-place: how long ago the old nodes were found stopped (the journal's gate entry, the
    /// downtime's start), set by the runtime from the wall clock so the clock keeps counting.
    pub gate_secs_ago: Option<f64>,
}

impl Resume {
    /// What an unfinished journal says; None when it holds nothing of an upgrade yet.
    pub fn from_journal(rb: &ReadBack) -> Option<Resume> {
        if rb.closed() {
            return None;
        }
        let started = rb.entries.first().map(|e| e.at.clone())?;
        let mut backup = None;
        let mut strategy = None;
        for e in &rb.entries {
            match &e.event {
                Event::StrategyChosen { strategy: s, .. } => strategy = Some(*s),
                Event::Backup { record } => backup = Some(BackupState::Taken(record.clone())),
                Event::OwnBackup { reference } => {
                    backup = Some(BackupState::Own(reference.clone()))
                }
                _ => {}
            }
        }
        let mut steps_done: Vec<String> = Vec::new();
        for s in rb.completed_steps() {
            if !steps_done.contains(&s) {
                steps_done.push(s);
            }
        }
        let dual = super::dual::DualResume::from_journal(rb);
        if backup.is_none() && steps_done.is_empty() && dual.is_empty() && strategy.is_none() {
            return None;
        }
        Some(Resume {
            started,
            backup,
            backup_problem: None,
            steps_done,
            dual,
            strategy,
            gate_secs_ago: None,
        })
    }

    /// "Resuming the upgrade started <at>: backup done (file), up done".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.strategy {
            parts.push(format!("strategy {s} chosen"));
        }
        match &self.backup {
            Some(BackupState::Taken(r)) => {
                // The file's name finds it in the backups directory; the log has the full path.
                let name = r
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| r.file.display().to_string());
                parts.push(format!("backup done ({name})"))
            }
            Some(BackupState::Own(r)) => parts.push(format!("backup done (yours: {r})")),
            _ if self.backup_problem.is_some() => parts.push("backup to take again".into()),
            _ => {}
        }
        for s in self.steps_done.iter().filter(|s| *s != "backup") {
            parts.push(format!("{s} done"));
        }
        format!(
            "Resuming the upgrade started {}: {}",
            self.started,
            parts.join(", ")
        )
    }
}

/// What the Backup step can do here (the runtime knows: a real PostgreSQL, Cassandra, or the
/// training cluster).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupMethod {
    /// kongrade takes a pg_dump ([t]), or the operator names their own. `command` is the
    /// equivalent pg_dump for those who take it themselves.
    PgDump { command: String },
    /// kongrade cannot dump this database (the training cluster has no pg_dump): the operator
    /// names their own backup.
    OwnOnly { why: String },
    /// Cassandra has no single dump: `nodetool snapshot` on every node, ticked one by one.
    Cassandra {
        keyspace: String,
        /// The snapshot's tag, so every node's snapshot can be found (and cleared) together.
        tag: String,
        hosts: Vec<String>,
    },
}

impl BackupMethod {
    /// The command for one Cassandra node.
    pub fn nodetool(keyspace: &str, tag: &str) -> String {
        format!(
            "nodetool snapshot -t {} {}",
            shell_quote(tag),
            shell_quote(keyspace)
        )
    }
}

/// Where the backup stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupState {
    Missing,
    /// kongrade's pg_dump is running.
    Running {
        started: Instant,
        bytes: u64,
        elapsed: Duration,
    },
    /// Written and proven (pg_restore --list read it, schema_meta is in it).
    Taken(BackupRecord),
    /// The last attempt failed; nothing half-written was kept.
    Failed(String),
    /// The operator's own backup, by the reference they typed (or the snapshots they ticked).
    Own(String),
}

impl Setup {
    /// A minimal setup for tests and tools: target version, kong command `kong`.
    pub fn new(database: &str, target: Option<Version>) -> Setup {
        Setup {
            database: database.to_string(),
            target,
            kong_cmd: "kong".into(),
            invocation: Invocation::new(KongCommand::Up),
            read_only: false,
            training: None,
            color: true,
            refresh: Duration::from_secs(1),
            nodes: Vec::new(),
            dp_window: DP_WINDOW_SECS,
            backup: BackupMethod::PgDump {
                command: "pg_dump -Fc -f kong-backup.dump kong".into(),
            },
            resume: None,
            journal_path: None,
            restore_command: None,
            checkpoints: false,
            scenarios: Vec::new(),
            scenario: None,
            rehearsal: None,
            kong_lua_path: false,
            migration_sources: Default::default(),
            dual: None,
            training_fix: None,
            strategy: StrategyFacts::default(),
            in_place: InPlaceSetup::default(),
            earlier_kong: None,
        }
    }
}

/// A data plane pings its control plane every 30 s: seen within two pings means it still runs
/// (`kongrade nodes --dp-window`'s default).
pub const DP_WINDOW_SECS: f64 = 60.0;

/// A node of the training cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// Runs the version being upgraded from: must be stopped before finish.
    pub old: bool,
    /// A hybrid-mode data plane: seen through the database, not probed.
    pub data_plane: bool,
}

/// One read of the database, interpreted.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub state: SchemaState,
    /// Hybrid-mode data planes (empty when the table does not exist).
    pub data_planes: Vec<DataPlaneRow>,
    /// Which Kong release the recorded schema matches (`2.8.x`), when one does.
    pub schema_label: Option<String>,
    /// `kong::diagnose` on this read: what `kongrade diagnose` would say now.
    pub findings: Vec<Finding>,
    /// The policy on this read (with the journal): where the upgrade stands, what is next, how
    /// to roll back. The model adds what only it knows (its own running kong).
    pub position: crate::kong::policy::Position,
    /// The version the upgrade is judged from (`kong::plan::origin`): the strategy's jump.
    pub from: Option<Version>,
    pub next: crate::kong::policy::NextStep,
    pub rollback: crate::kong::policy::Rollback,
    /// The preflight's reads (kong.conf, routes, plugins, the server's login) have not come
    /// back yet: its findings are missing, so the Preflight step waits.
    pub preflight_pending: bool,
    /// Rows of the big tables (planner estimates) and the regex routes: diagnose's count.
    pub row_counts: Option<Vec<(String, i64)>>,
    /// Each coming migration's estimated work (diagnose's timeout advice), for Review.
    pub estimates: Vec<crate::kong::diagnose::HeavyWork>,
}

pub use crate::kong::policy::WizardGate;

/// What the wizard does with a finding: the policy's rule table decides (`kong::policy::RULES`).
pub fn finding_gate(f: &Finding) -> WizardGate {
    crate::kong::policy::wizard_gate(f)
}

/// Whether a finding stops the wizard outright.
pub fn blocks(f: &Finding) -> bool {
    finding_gate(f) == WizardGate::Block
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Before the first good read.
    Connecting,
    /// The migrations lock is live: watch until it is released.
    Waiting,
    Preflight,
    /// Kong's strategy for this upgrade: recommended, allowed, refused; the operator picks.
    Strategy,
    Bootstrap,
    Backup,
    Review,
    /// In-place: the operator confirms configuration writes are frozen (journaled).
    Freeze,
    Up,
    Decommission,
    Finish,
    /// Dual-cluster (`super::dual`): the clone taken and proven, its migrations reviewed, `up`
    /// and `finish` on it, the new cluster proven, traffic shifted, the old cluster retired.
    Clone,
    CloneReview,
    CloneUp,
    CloneFinish,
    NewCluster,
    Traffic,
    Retire,
    /// In-place: the new nodes started on the migrated database, probed until they answer.
    StartNew,
    Done,
}

impl Step {
    /// The step's name in the journal.
    pub fn key(self) -> &'static str {
        match self {
            Step::Connecting => "connecting",
            Step::Waiting => "waiting",
            Step::Preflight => "preflight",
            Step::Strategy => "strategy",
            Step::Freeze => "freeze",
            Step::StartNew => "start-new-nodes",
            Step::Bootstrap => "bootstrap",
            Step::Backup => "backup",
            Step::Review => "review",
            Step::Up => "up",
            Step::Decommission => "decommission",
            Step::Finish => "finish",
            Step::Clone => "clone",
            Step::CloneReview => "clone review",
            Step::CloneUp => "clone up",
            Step::CloneFinish => "clone finish",
            Step::NewCluster => "new cluster",
            Step::Traffic => "traffic",
            Step::Retire => "retire",
            Step::Done => "done",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Connecting => "Connecting",
            Step::Waiting => "Waiting for the lock",
            Step::Preflight => "Preflight",
            Step::Strategy => "Strategy",
            Step::Freeze => "Freeze writes",
            Step::StartNew => "Start new nodes",
            Step::Bootstrap => "Bootstrap",
            Step::Backup => "Backup",
            Step::Review => "Review",
            Step::Up => "Up",
            Step::Decommission => "Decommission",
            Step::Finish => "Finish",
            Step::Clone => "Clone",
            Step::CloneReview => "Review",
            Step::CloneUp => "Up (clone)",
            Step::CloneFinish => "Finish (clone)",
            Step::NewCluster => "New cluster",
            Step::Traffic => "Traffic",
            Step::Retire => "Retire old",
            Step::Done => "Done",
        }
    }
}

/// The two procedures: an upgrade, or a new installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Upgrade,
    Bootstrap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Step,
    Log,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// The step's help and keys.
    Help,
    /// How to roll back from where the database stands (`kongrade rollback --print`'s text).
    Rollback,
    /// A finding, a row or a log line in full.
    Detail { title: String, text: String },
    /// The whole step as the screen would show it with room to spare (`v` where the step has no
    /// list to pick from).
    StepInFull,
    /// Leaving when something has happened: asks.
    Leave,
    /// Kill kong (SIGKILL)? Its own question, so no key kills at once.
    ConfirmKill,
    /// Remove a node added by hand (`nodes[index]`, named so a changed list is noticed)?
    RemoveNode { index: usize, name: String },
    /// Run this command? Shows the exact command line.
    Confirm {
        command: KongCommand,
        command_line: String,
    },
    /// `finish` cannot be undone: the operator types the word.
    Typed {
        command: KongCommand,
        command_line: String,
        word: &'static str,
        typed: String,
        error: Option<String>,
    },
    /// Ctrl-C while kong runs.
    LeaveWhileRunning,
    /// "I have my own backup": where it is (a file, a snapshot id, a ticket), for the journal.
    OwnBackup {
        typed: String,
        error: Option<String>,
    },
    /// A node kongrade cannot probe, added by name to the Decommission list.
    AddNode {
        typed: String,
        error: Option<String>,
    },
    /// Training: the scenario menu (at Done): another one, or this one again.
    Scenarios,
    /// Follow this strategy? Says what it means here (Kong's cautions) before it is journaled.
    ConfirmStrategy { strategy: Strategy },
    /// Training: a question before a step runs, answered (rightly) before going on.
    Checkpoint {
        which: Checkpoint,
        /// The answer picked last (its explanation is shown), by index.
        chosen: Option<usize>,
    },
    /// Open a gate anyway: why, in the operator's words (journaled as Override).
    Override {
        target: OverrideTarget,
        typed: String,
        error: Option<String>,
    },
    /// A dual-cluster question (take the clone, run kong on it, retire the old cluster).
    Dual(super::dual::DualAsk),
}

/// The trainee's checkpoints (`kongrade demo`): before `up`, before `finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    BeforeUp,
    BeforeFinish,
    /// Dual-cluster: where `up` runs.
    BeforeCloneUp,
    /// Dual-cluster: why `finish` may follow `up` at once on the clone.
    BeforeCloneFinish,
}

impl Checkpoint {
    /// The step whose command waits for it.
    pub fn command(self) -> KongCommand {
        match self {
            Checkpoint::BeforeUp | Checkpoint::BeforeCloneUp => KongCommand::Up,
            Checkpoint::BeforeFinish | Checkpoint::BeforeCloneFinish => KongCommand::Finish,
        }
    }
}

/// What an override opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideTarget {
    /// An Error finding at Preflight, by its id.
    Finding { id: String, title: String },
    /// The finish gate's node check.
    FinishGate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A command line kongrade ran.
    Command,
    Stdout,
    Stderr,
    /// kongrade's own account of what happened.
    Info,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub kind: LogKind,
    pub text: String,
}

/// Every command run and its output, plus kongrade's own notes; scrollable.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub lines: Vec<LogLine>,
    /// Lines scrolled up from the bottom; 0 follows new output.
    pub scroll: usize,
}

/// Enough for any migration run; older lines go first, in chunks so pushing stays cheap.
const LOG_CAP: usize = 20_000;

impl Log {
    pub fn push(&mut self, kind: LogKind, text: impl Into<String>) {
        if self.lines.len() >= LOG_CAP {
            self.lines.drain(..LOG_CAP / 10);
        }
        self.lines.push(LogLine {
            kind,
            text: text.into(),
        });
        // Keep the view on the same lines when the operator scrolled up.
        if self.scroll > 0 {
            self.scroll = (self.scroll + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.len().saturating_sub(1);
        self.scroll = (self.scroll as isize + delta).clamp(0, max as isize) as usize;
    }
}

/// The health of the poller's reads.
#[derive(Clone, Debug, Default)]
pub struct DbHealth {
    /// Sequence number of the last read applied (stale reads have a lower one).
    pub seq: u64,
    /// When the last good read started.
    pub last_ok: Option<Instant>,
    /// Failed reads since the last good one.
    pub failures: u32,
    pub last_error: Option<String>,
}

impl DbHealth {
    /// The last read failed: what is on screen is older than it looks.
    pub fn stale(&self) -> bool {
        self.failures > 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// `seen` is when the wizard learned of the exit: only reads started after it judge the run.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        seen: Instant,
    },
    SpawnFailed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: RunId,
    pub command: KongCommand,
    pub command_line: String,
    pub started: Instant,
    pub state: RunState,
    /// Kong printed "aborted: another node is performing database changes" (and exits 0).
    pub aborted: bool,
    /// The operator asked to interrupt it.
    pub interrupted: bool,
}

impl Run {
    pub fn active(&self) -> bool {
        self.state == RunState::Running
    }
}

/// What a finished run achieved, judged from the database re-read after it, not its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub command: KongCommand,
    pub success: bool,
    pub text: String,
}

/// A kong run as the Done summary tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    pub command_line: String,
    pub success: bool,
    /// The outcome's first sentence.
    pub summary: String,
    pub command: KongCommand,
    /// How kong ended, as the journal records it (the exit, not the database's judgement).
    pub end: crate::kong::policy::RunEnd,
}

/// How a run ended as a journal's history says it: by its exit code or signal.
pub fn run_end(state: &RunState) -> crate::kong::policy::RunEnd {
    use crate::kong::policy::RunEnd;
    match state {
        RunState::Running => RunEnd::Unknown,
        RunState::Exited { code: Some(0), .. } => RunEnd::Succeeded,
        RunState::Exited {
            signal: Some(_), ..
        } => RunEnd::Signalled,
        RunState::Exited { .. } | RunState::SpawnFailed(_) => RunEnd::Failed,
    }
}

fn policy_command(c: KongCommand) -> crate::kong::policy::RunCommand {
    use crate::kong::policy::RunCommand;
    match c {
        KongCommand::Up => RunCommand::Up,
        KongCommand::Finish => RunCommand::Finish,
        KongCommand::Bootstrap => RunCommand::Bootstrap,
        _ => RunCommand::Other,
    }
}

/// One of the operator's confirmations that no node can prove (traffic moved, writes paused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckItem {
    pub label: String,
    pub done: bool,
}

/// What the operator confirms for each old node: in this order, as a node is taken out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeItem {
    OutOfLb,
    Drained,
    Stopped,
}

impl NodeItem {
    pub const ALL: [NodeItem; 3] = [NodeItem::OutOfLb, NodeItem::Drained, NodeItem::Stopped];

    pub fn label(self) -> &'static str {
        match self {
            NodeItem::OutOfLb => "out of the load balancer",
            NodeItem::Drained => "drained (no requests in flight)",
            NodeItem::Stopped => "stopped",
        }
    }

    pub fn get(self, c: &Checklist) -> bool {
        match self {
            NodeItem::OutOfLb => c.out_of_lb,
            NodeItem::Drained => c.drained,
            NodeItem::Stopped => c.stopped,
        }
    }

    pub fn set(self, c: &mut Checklist, v: bool) {
        match self {
            NodeItem::OutOfLb => c.out_of_lb = v,
            NodeItem::Drained => c.drained = v,
            NodeItem::Stopped => c.stopped = v,
        }
    }
}

impl Overlay {
    pub fn add_node(typed: String, error: Option<String>) -> Overlay {
        Overlay::AddNode { typed, error }
    }

    pub fn help() -> Overlay {
        Overlay::Help
    }

    pub fn rollback() -> Overlay {
        Overlay::Rollback
    }
}

/// A row of the Decommission list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecomRow {
    /// `checklist[i]`.
    General(usize),
    /// `nodes[i]`: its name and what the probe says.
    Node(usize),
    NodeItem(usize, NodeItem),
    /// A data plane the database sees, by hostname (or id).
    DataPlane(String),
    DataPlaneItem(String, NodeItem),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warn,
    /// The wizard refused: this is why.
    Block,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub setup: Setup,
    pub step: Step,
    pub path: Path,
    /// The wizard's clock: advanced by ticks, so the model never reads the time itself.
    pub now: Instant,
    /// When this session began (for the Done summary).
    pub began: Instant,
    pub size: (u16, u16),
    pub db: DbHealth,
    pub reading: Option<Reading>,
    pub findings: Vec<Finding>,
    pub overlay: Option<Overlay>,
    /// Rows scrolled in the overlay (every kind scrolls the same way); back to 0 whenever
    /// another kind of overlay opens.
    pub overlay_scroll: usize,
    /// The furthest the overlay on screen scrolls, as the last frame measured it (the runtime
    /// keeps what the view drew); `None`: none drawn. Scrolling stops there, so Up moves at once
    /// after Down was held past the end.
    pub overlay_end: Option<usize>,
    /// Values the view reads every frame, kept until their inputs change.
    pub memo: crate::wizard::memo::Memos,
    pub focus: Focus,
    pub log: Log,
    /// The current or last kong run.
    pub run: Option<Run>,
    pub outcome: Option<Outcome>,
    pub next_run: RunId,
    pub backup: BackupState,
    /// Cassandra: the nodes whose snapshot the operator ticked, by index in the method's hosts.
    pub snapshots: Vec<bool>,
    pub checklist: Vec<CheckItem>,
    /// Every node known, with what its last probe said and the operator's ticks.
    pub nodes: Vec<NodeStatus>,
    /// The operator's ticks for data planes, by hostname (or id).
    pub dp_checks: BTreeMap<String, Checklist>,
    /// When the last probe of the Admin APIs answered.
    pub probed_at: Option<Instant>,
    /// The finish gate opened anyway, with the operator's reason (journaled as Override).
    pub gate_override: Option<String>,
    /// When the operator marked each data plane stopped (to tell one ageing out from one that
    /// checked in again after its stop).
    pub dp_stopped_at: BTreeMap<String, Instant>,
    /// Steps entered this session (a tick for Review means it was seen).
    pub visited: Vec<Step>,
    /// Every kong run this session and what the database said of it afterwards.
    pub history: Vec<RunRecord>,
    /// Error findings gone past anyway at Preflight: id -> the operator's reason (journaled).
    pub finding_overrides: BTreeMap<String, String>,
    /// What the process exits with once `quit` is set: non-zero when leaving interrupted kong.
    pub exit_code: i32,
    /// Selected row of the step's list (findings, migrations, checklist).
    pub cursor: usize,
    pub notice: Option<Notice>,
    /// Why the wizard entered where it did, when not at Preflight.
    pub entry_note: Option<String>,
    /// A line across the top for the whole session (resuming an upgrade).
    pub banner: Option<String>,
    /// The journal got its Closed entry (the upgrade is done).
    pub closed: bool,
    pub quit: bool,
    /// Stale snapshots and run events dropped (for tests and the log file).
    pub dropped: u64,
    /// Training checkpoints answered rightly this session.
    pub checkpoints_passed: Vec<Checkpoint>,
    /// Training: leave this scenario and start this one (the runtime builds it afresh).
    pub restart: Option<String>,
    /// Dual-cluster's state (None: the shared-database flow).
    pub dual: Option<super::dual::Dual>,
    /// Training: the trainee made the scenario's fix (`setup.training_fix`).
    pub fixed: bool,
    /// The strategy chosen (journaled), or read back from the journal on resume.
    pub strategy: Option<Strategy>,
    /// Entered with `up` already run and no strategy recorded (see [`Flow::Finishing`]).
    pub finishing: bool,
    /// The operator's answers at the Strategy step, where kongrade could not see.
    pub answers: StrategyAnswers,
    /// In-place: when no old node answered any more (the downtime's start, the model's clock).
    pub downtime_since: Option<Instant>,
    /// In-place: when every new node answered the target version and the smoke tests passed
    /// (the downtime's end).
    pub downtime_until: Option<Instant>,
    /// In-place: each `--new-admin-url` and what its last probe said.
    pub new_probes: Vec<(String, Option<NodeClass>)>,
    pub smoke: SmokeState,
    /// The previous run's kong, still running (see [`Setup::earlier_kong`]), until it ends.
    pub earlier_kong: Option<EarlierKongSeen>,
}

/// What the operator answered at the Strategy step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrategyAnswers {
    pub deployment: Option<Deployment>,
    pub second_cluster: Option<bool>,
}

/// What the Strategy step asks before it offers the strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyQuestion {
    Deployment,
    SecondCluster,
}

impl StrategyQuestion {
    pub fn text(self) -> &'static str {
        match self {
            StrategyQuestion::Deployment => "How is this Kong cluster deployed? kongrade could not see it (no Admin API said its role, no data plane is recorded).",
            StrategyQuestion::SecondCluster => "Can a second cluster and a second database be had for the upgrade (the same capacity as this one)?",
        }
    }

    /// The answers, by number (1 first).
    pub fn choices(self) -> &'static [&'static str] {
        match self {
            StrategyQuestion::Deployment => &[
                "traditional: nodes on the database serve traffic and the Admin API",
                "hybrid: a control plane on the database, with data planes",
                "DB-less nodes (database = off)",
                "hybrid data planes (no database of their own)",
            ],
            StrategyQuestion::SecondCluster => &[
                "yes: a second cluster and database can be had",
                "no: resources are limited to this cluster",
            ],
        }
    }
}

impl Model {
    pub fn new(setup: Setup, now: Instant) -> Model {
        // A strategy the journal records is not asked again; in-place's clock keeps counting.
        let resumed_strategy = setup.resume.as_ref().and_then(|r| r.strategy);
        let checklist = checklist_of(&setup, resumed_strategy);
        // The clone's flags mean dual-cluster only when the journal records no other strategy
        // (an in-place upgrade resumed with them must not walk into the clone's steps).
        let other_strategy = setup
            .resume
            .as_ref()
            .and_then(|r| r.strategy)
            .is_some_and(|s| s != crate::kong::strategy::Strategy::DualCluster);
        let dual = setup
            .dual
            .clone()
            .filter(|_| !other_strategy)
            .map(|d| super::dual::Dual::new(d, setup.resume.as_ref().map(|r| &r.dual)));
        let setup_nodes = setup.nodes.clone();
        let new_probes = setup
            .in_place
            .new_admin_urls
            .iter()
            .map(|u| (u.clone(), None))
            .collect();
        // A resumed Cassandra backup was every node's snapshot.
        let resumed_backup = setup.resume.as_ref().is_some_and(|r| r.backup.is_some());
        let snapshots = match &setup.backup {
            BackupMethod::Cassandra { hosts, .. } => vec![resumed_backup; hosts.len()],
            _ => Vec::new(),
        };
        let mut log = Log::default();
        let mut backup = BackupState::Missing;
        let mut banner = None;
        let resumed_gate = setup
            .resume
            .as_ref()
            .and_then(|r| r.gate_secs_ago)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| now.checked_sub(Duration::from_secs_f64(s)).unwrap_or(now));
        if let Some(r) = &setup.resume {
            // A backup the journal proves is not asked for again.
            if let Some(b) = &r.backup {
                backup = b.clone();
            }
            let text = r.summary();
            log.push(LogKind::Info, text.clone());
            if let Some(BackupState::Taken(rec)) = &r.backup {
                log.push(
                    LogKind::Info,
                    format!(
                        "the backup: {} ({} bytes, sha256 {})",
                        rec.file.display(),
                        rec.bytes,
                        rec.sha256
                    ),
                );
            }
            if let Some(why) = &r.backup_problem {
                log.push(
                    LogKind::Warn,
                    format!("{why}: it no longer counts as the backup; the Backup step asks for a new one"),
                );
            }
            banner = Some(text);
        }
        let earlier_kong = setup.earlier_kong.clone();
        if let Some(k) = &earlier_kong {
            // Across the top from the first screen: no key starts another kong meanwhile.
            log.push(LogKind::Warn, k.text());
            banner = Some(k.text());
        }
        Model {
            setup,
            step: Step::Connecting,
            path: Path::Upgrade,
            now,
            began: now,
            size: (80, 24),
            db: DbHealth::default(),
            reading: None,
            findings: Vec::new(),
            overlay: None,
            overlay_scroll: 0,
            overlay_end: None,
            memo: Default::default(),
            focus: Focus::Step,
            log,
            run: None,
            outcome: None,
            next_run: 1,
            backup,
            snapshots,
            checklist,
            nodes: setup_nodes,
            dp_checks: BTreeMap::new(),
            probed_at: None,
            gate_override: None,
            finding_overrides: BTreeMap::new(),
            visited: Vec::new(),
            dp_stopped_at: BTreeMap::new(),
            history: Vec::new(),
            exit_code: 0,
            cursor: 0,
            notice: None,
            entry_note: None,
            banner,
            closed: false,
            quit: false,
            dropped: 0,
            checkpoints_passed: Vec::new(),
            restart: None,
            dual,
            fixed: false,
            strategy: resumed_strategy,
            finishing: false,
            answers: StrategyAnswers::default(),
            downtime_since: resumed_gate,
            downtime_until: None,
            new_probes,
            smoke: SmokeState::NotRun,
            earlier_kong,
        }
    }

    /// This session's runs, backup and overrides as the policy's history: what the journal would
    /// say, for a session that keeps none (the demo). The runtime hands it to the poller, so the
    /// policy's position and rollback know what this session ran.
    pub fn policy_history(&self) -> crate::kong::policy::History {
        use crate::kong::policy::{BackupRef, History, Run as PRun};
        let kong_version = self.setup.target;
        let mut runs: Vec<PRun> = self
            .history
            .iter()
            .map(|r| PRun {
                command: policy_command(r.command),
                kong_version,
                end: r.end,
            })
            .collect();
        // The current run until it is judged (its record is pushed then).
        if let Some(run) = self.run.as_ref().filter(|_| self.outcome.is_none()) {
            runs.push(PRun {
                command: policy_command(run.command),
                kong_version,
                end: run_end(&run.state),
            });
        }
        let mut overrides: Vec<(String, String)> = self
            .finding_overrides
            .iter()
            .map(|(id, why)| (id.clone(), why.clone()))
            .collect();
        if let Some(why) = &self.gate_override {
            overrides.push(("finish_gate".into(), why.clone()));
        }
        History {
            runs,
            backup: match &self.backup {
                BackupState::Taken(rec) => Some(BackupRef {
                    file: rec.file.display().to_string(),
                    sha256: rec.sha256.clone(),
                    created_at: rec.created_at.clone(),
                    restore: None,
                    verified: true,
                }),
                _ => None,
            },
            own_backup: match &self.backup {
                BackupState::Own(r) => Some(r.clone()),
                _ => None,
            },
            overrides,
            started_from: None,
            strategy: self.strategy,
            // A session that keeps no journal rehearsed nothing.
            rehearsals: Vec::new(),
        }
    }

    /// The checkpoint the trainee answers before `command` runs, if one is still open.
    pub fn open_checkpoint(&self, command: KongCommand) -> Option<Checkpoint> {
        if !self.setup.checkpoints {
            return None;
        }
        self.flow()
            .checkpoints()
            .iter()
            .copied()
            .find(|c| c.command() == command && !self.checkpoints_passed.contains(c))
    }

    pub fn state(&self) -> Option<&SchemaState> {
        self.reading.as_ref().map(|r| &r.state)
    }

    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(Run::active)
    }

    /// A backup that can be restored exists: taken and proven, or the operator's own.
    pub fn backup_done(&self) -> bool {
        matches!(self.backup, BackupState::Taken(_) | BackupState::Own(_))
    }

    pub fn backup_running(&self) -> bool {
        matches!(self.backup, BackupState::Running { .. })
    }

    /// Age of the last good read.
    pub fn read_age(&self) -> Option<Duration> {
        self.db
            .last_ok
            .map(|t| self.now.saturating_duration_since(t))
    }

    /// Seconds the lock has left now, from what the last read said and the time since.
    pub fn lock_seconds_left(&self) -> Option<f64> {
        let lock = self.state()?.lock.as_ref()?;
        let left = lock.seconds_left?;
        let age = self.read_age().map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Some(left - age)
    }

    /// This session's last run, when it was interrupted, killed or ended by a signal while the
    /// lock is held: that lock is the one it left, not another kong's.
    pub fn own_lock_run(&self) -> Option<&Run> {
        let live = self.state()?.lock_live();
        self.run.as_ref().filter(|r| {
            live && !r.active()
                && (r.interrupted
                    || matches!(
                        r.state,
                        RunState::Exited {
                            signal: Some(_),
                            ..
                        }
                    )
                    || matches!(r.state, RunState::Exited { code: Some(c), .. } if c != 0))
        })
    }

    /// The command line kongrade shows and runs for `command`.
    pub fn command_line(&self, command: KongCommand) -> String {
        let mut inv = self.setup.invocation.clone();
        inv.command = command;
        display_command(&self.setup.kong_cmd, &inv)
    }

    /// Migrations `up` will run, per subsystem: (subsystem, migration, two-phase).
    pub fn new_migrations(&self) -> Vec<(&str, &str, bool)> {
        let Some(state) = self.state() else {
            return Vec::new();
        };
        state
            .subsystems
            .iter()
            .flat_map(|s| {
                s.migrations
                    .iter()
                    .filter(|m| m.state == MigState::New)
                    .map(move |m| (s.name.as_str(), m.name.as_str(), m.two_phase))
            })
            .collect()
    }

    /// The data planes of the last read, their `last_seen` aged by the time since that read:
    /// "seen 3 s ago" grows with the clock, and a stopped one ages out over the window.
    pub fn aged_data_planes(&self) -> Vec<DataPlaneRow> {
        let Some(reading) = &self.reading else {
            return Vec::new();
        };
        let age = self.read_age().map(|d| d.as_secs_f64()).unwrap_or(0.0);
        reading
            .data_planes
            .iter()
            .cloned()
            .map(|mut dp| {
                if let Some(s) = dp.last_seen_secs_ago.as_mut() {
                    *s += age;
                }
                dp
            })
            .collect()
    }

    /// Data planes the database knows, old ones (older than the target, or of unknown version)
    /// first: those need taking out. Each with whether it still serves (seen within the window).
    pub fn data_planes(&self) -> Vec<(DataPlaneRow, bool, bool)> {
        let Some(target) = self.setup.target else {
            return Vec::new();
        };
        let mut rows: Vec<(DataPlaneRow, bool, bool)> = self
            .aged_data_planes()
            .into_iter()
            .map(|dp| {
                let old = dp
                    .version
                    .as_deref()
                    .and_then(Version::find_in)
                    .is_none_or(|v| v < target);
                let recent = dp
                    .last_seen_secs_ago
                    .is_some_and(|s| s <= self.setup.dp_window);
                (dp, old, recent)
            })
            .collect();
        rows.sort_by_key(|(_, old, _)| !*old);
        rows
    }

    /// Old-version data planes the database saw recently: proof an old node still serves.
    pub fn old_data_planes_seen(&self) -> Vec<DataPlaneRow> {
        self.data_planes()
            .into_iter()
            .filter(|(_, old, recent)| *old && *recent)
            .map(|(dp, _, _)| dp)
            .collect()
    }

    /// `kong::nodes::finish_gate` on what is known now: the probes, the manual entries' ticks,
    /// and the data planes the database saw within the window.
    pub fn node_gate(&self) -> FinishGate {
        let Some(target) = self.setup.target else {
            return FinishGate {
                open: false,
                blockers: vec!["no target version: old and new nodes cannot be told apart".into()],
            };
        };
        let dps = old_data_planes(&self.aged_data_planes(), target, self.setup.dp_window);
        finish_gate(&self.nodes, &dps)
    }

    /// The rows of the Decommission list: the confirmations, then each node (its checklist
    /// under it unless it runs the new version), then the data planes.
    pub fn decom_rows(&self) -> Vec<DecomRow> {
        let mut rows: Vec<DecomRow> = (0..self.checklist.len()).map(DecomRow::General).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            rows.push(DecomRow::Node(i));
            if node_needs_checklist(n) {
                rows.extend(NodeItem::ALL.iter().map(|it| DecomRow::NodeItem(i, *it)));
            }
        }
        for (dp, old, _) in self.data_planes() {
            let key = dp_key(&dp);
            rows.push(DecomRow::DataPlane(key.clone()));
            if old {
                rows.extend(
                    NodeItem::ALL
                        .iter()
                        .map(|it| DecomRow::DataPlaneItem(key.clone(), *it)),
                );
            }
        }
        rows
    }
}

impl Model {
    /// A Decommission row's whole text (the screen cuts it to fit; `v` shows it all).
    pub fn decom_row_text(&self, row: &DecomRow) -> String {
        let tick = |done: bool, label: &str| format!("[{}] {label}", if done { "x" } else { " " });
        match row {
            DecomRow::General(j) => self
                .checklist
                .get(*j)
                .map(|c| tick(c.done, &c.label))
                .unwrap_or_default(),
            DecomRow::Node(j) => {
                let Some(n) = self.nodes.get(*j) else {
                    return String::new();
                };
                let label = match (&n.class, n.kind.as_str()) {
                    (_, "manual") => "manual entry: tick it when taken out".to_string(),
                    (None, _) => "not probed yet".to_string(),
                    (Some(c), _) => c.label(),
                };
                format!("{}  {label}", n.name)
            }
            DecomRow::NodeItem(j, it) => self
                .nodes
                .get(*j)
                .map(|n| tick(it.get(&n.checklist), it.label()))
                .unwrap_or_default(),
            DecomRow::DataPlane(k) => self.data_plane_text(k),
            DecomRow::DataPlaneItem(k, it) => tick(
                it.get(&self.dp_checks.get(k).copied().unwrap_or_default()),
                it.label(),
            ),
        }
    }

    /// What the database says of a data plane, by its key.
    pub fn data_plane_text(&self, k: &str) -> String {
        let dps = self.data_planes();
        let Some((dp, old, recent)) = dps.iter().find(|(dp, _, _)| dp_key(dp) == k) else {
            return String::new();
        };
        let ago = dp
            .last_seen_secs_ago
            .map(secs_text)
            .unwrap_or_else(|| "?".into());
        let v = dp.version.as_deref().unwrap_or("?");
        let marked = self.dp_checks.get(k).is_some_and(|c| c.stopped);
        let since_stop = self
            .dp_stopped_at
            .get(k)
            .map(|at| self.now.saturating_duration_since(*at).as_secs_f64());
        let seen = dp.last_seen_secs_ago.unwrap_or(f64::MAX);
        // The database's word on it: a data plane checks in every 30 s. Stopped, its row stays
        // and ages; seen more recently than its stop, it still runs.
        match (old, recent) {
            (true, true) if marked && since_stop.is_some_and(|s| seen < s) => format!(
                "{k}  OLD {v} data plane, still seen {ago} ago after its stop: stop it again"
            ),
            (true, true) if marked => format!(
                "{k}  OLD {v} data plane, stopped: not seen for {ago}; it stops counting once unseen for {} (--dp-window)",
                secs_text(self.setup.dp_window)
            ),
            (true, true) => format!("{k}  OLD {v} data plane, seen {ago} ago"),
            (true, false) => format!("{k}  old {v} data plane, gone (seen {ago} ago)"),
            (false, _) => format!("{k}  new {v} data plane"),
        }
    }
}

/// `3.0 s`, `42 s`, `5 min`, `2 h`: an age or a duration as the screen says it.
pub fn secs_text(d: f64) -> String {
    let n = d.max(0.0);
    if n < 10.0 {
        format!("{n:.1} s")
    } else if n < 120.0 {
        format!("{} s", n.round() as u64)
    } else if n < 7200.0 {
        format!("{} min", (n / 60.0).round() as u64)
    } else {
        format!("{} h", (n / 3600.0).round() as u64)
    }
}

/// How a step behind the current one is marked in the progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// It is done, and the database or the journal shows it.
    Done,
    /// Gone past with an override.
    Overridden,
    /// Passed without being done (no backup taken or recorded; entered past it).
    NotDone,
}

/// Whether a step the wizard is past is really done: ticks only when true.
pub fn step_mark(m: &Model, step: Step) -> Mark {
    let state = m.state();
    let done = match step {
        Step::Preflight => {
            if !m.finding_overrides.is_empty() {
                return Mark::Overridden;
            }
            true
        }
        Step::Backup => m.backup_done(),
        Step::Review => m.visited.contains(&Step::Review),
        Step::Up => state.is_some_and(|s| !s.needs_bootstrap && !s.any(MigState::New)),
        Step::Bootstrap => state.is_some_and(|s| !s.needs_bootstrap),
        Step::Decommission => {
            if m.gate_override.is_some() {
                return Mark::Overridden;
            }
            m.node_gate().open && m.checklist.iter().all(|c| c.done)
        }
        Step::Finish => state.is_some_and(|s| !s.any(MigState::Pending)),
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => super::dual::step_done(m, step),
        Step::Strategy => m.strategy.is_some(),
        // The only way past Freeze is the operator's confirmation (journaled).
        Step::Freeze => true,
        Step::StartNew => m.downtime_until.is_some(),
        Step::Connecting | Step::Waiting | Step::Done => true,
    };
    if done {
        Mark::Done
    } else {
        Mark::NotDone
    }
}

/// A node on the new version needs no taking out; every other one (old, unreadable,
/// unreachable, a manual entry) gets its checklist.
pub fn node_needs_checklist(n: &NodeStatus) -> bool {
    n.kind == "manual" || !matches!(n.class, Some(NodeClass::New { .. }))
}

/// How a data plane is named on screen and keyed for its ticks.
pub fn dp_key(dp: &DataPlaneRow) -> String {
    dp.hostname.clone().unwrap_or_else(|| dp.id.clone())
}

/// The confirmations at "Stop old nodes" for `strategy` (the one rule for a chosen and a resumed
/// one). In-place has no new nodes to shift traffic to before up, and Freeze confirmed the
/// writes: only the old nodes' stop stays (when kongrade knows none of them).
pub fn checklist_of(
    setup: &Setup,
    strategy: Option<crate::kong::strategy::Strategy>,
) -> Vec<CheckItem> {
    let mut items = checklist_for(setup);
    if strategy == Some(crate::kong::strategy::Strategy::InPlace) {
        items.retain(|c| c.label.starts_with(EVERY_OLD_NODE));
    }
    items
}

const EVERY_OLD_NODE: &str = "Every old-version node is stopped";

fn checklist_for(setup: &Setup) -> Vec<CheckItem> {
    let item = |label: &str| CheckItem {
        label: label.to_string(),
        done: false,
    };
    let mut items = vec![item("Traffic is shifted to the new-version nodes")];
    if setup.nodes.is_empty() {
        // No node is known to kongrade: only the operator can say the old ones are gone (the
        // data planes table still counts).
        items.push(item(&format!(
            "{EVERY_OLD_NODE} (traditional nodes, control and data planes)"
        )));
    }
    items.push(item("Admin API writes are paused until finish"));
    items
}

/// Quotes an argument for display the way a shell would need it.
pub fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The exact command line: the kong command as given, then Kong's arguments.
pub fn display_command(kong_cmd: &str, inv: &Invocation) -> String {
    let mut s = kong_cmd.trim().to_string();
    for a in inv.kong_args() {
        s.push(' ');
        s.push_str(&shell_quote(&a));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted() {
        let mut inv = Invocation::new(KongCommand::Up);
        inv.conf = Some("/etc/kong/my kong.conf".into());
        assert_eq!(
            display_command("docker exec -i kong-new kong", &inv),
            "docker exec -i kong-new kong migrations up -c '/etc/kong/my kong.conf'"
        );
    }

    #[test]
    fn log_scroll_holds_position_while_lines_arrive() {
        let mut log = Log::default();
        for i in 0..10 {
            log.push(LogKind::Stdout, format!("{i}"));
        }
        log.scroll_by(3);
        log.push(LogKind::Stdout, "more");
        assert_eq!(log.scroll, 4);
        log.scroll_by(-100);
        assert_eq!(log.scroll, 0);
    }
}
