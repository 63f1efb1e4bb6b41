//! The wizard's runtime: takes the terminal, runs the event task, the poller and kong, feeds
//! everything to `wizard::update` as messages through one channel, carries out the effects, and
//! draws with the pure [`view::view`].
//!
//! `kongrade` runs it against kong.conf's PostgreSQL and a real kong command; `kongrade demo`
//! against the training cluster (a `MemoryDb`, and the kong stand-in running in-process on it).

pub mod dual;
pub mod events;
pub mod launcher;
pub mod logging;
pub mod poller;
pub mod terminal;
pub mod view;

#[cfg(test)]
mod screens;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use color_eyre::eyre::{bail, eyre, Result};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::cmd::context::{Connection, Context};
use crate::contract::{Invocation, KongCommand, RunEvent, RunId};
use crate::exec::datadir::{now_secs, utc_stamp};
use crate::exec::journal::Journal;
use crate::exec::runner::KongTarget;
use crate::kong::catalog::Catalog;
use crate::kong::nodes::{Checklist, NodeStatus};
use crate::store::postgres::PgOptions;
use crate::store::Endpoint;
use crate::training::{self, Training};
use crate::wizard::model::{display_command, shell_quote};
use crate::wizard::model::{BackupMethod, Resume};
use crate::wizard::{update, Effect, Interpreter, Model, Msg, Setup};

use launcher::{Launcher, RunControl};
use poller::{Poller, PollerHandle, Source};

/// How the wizard runs (the command line's flags, as plain values).
#[derive(Debug, Clone)]
pub struct WizardArgs {
    /// Show the state and findings only: run nothing.
    pub read_only: bool,
    /// How often the live pane reads the database.
    pub refresh: Duration,
    /// Passed to kong.
    pub lock_timeout: Option<u64>,
    pub db_timeout: Option<u64>,
    /// The nodes the Decommission step probes and lists.
    pub nodes: crate::cmd::nodes::NodesArgs,
    /// Dual-cluster: the clone, the new cluster's nodes and smoke tests (None: not given).
    pub dual: Option<crate::cmd::auto::DualArgs>,
    /// `--strategy`, `--deployment`, `--second-cluster`: the Strategy step preselected.
    pub strategy: crate::kong::strategy::Asked,
}

/// Clock tick: drives countdowns and ages on screen.
pub const TICK: Duration = Duration::from_millis(250);
/// How long kong gets to stop after an interrupt when the operator leaves.
pub const LEAVE_GRACE: Duration = Duration::from_secs(5);

pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The wizard draws on a terminal; anywhere else the plain commands are the right tool.
pub fn ensure_terminal() -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the wizard needs a terminal, and stdout is not one. In scripts and pipelines use `kongrade status` (the state, with exit codes) or `kongrade auto` (the unattended procedure)");
    }
    Ok(())
}

/// What the app runs with besides the model.
pub struct Runtime {
    pub launcher: Box<dyn Launcher>,
    pub poller: Poller,
    /// The training cluster, for `Effect::StopNode`.
    pub training: Option<Arc<Training>>,
    /// What `Effect::TakeBackup` dumps (None: kongrade takes no backup here).
    pub backup: Option<BackupJob>,
    /// The upgrade journal this process holds (None: the demo, or --read-only).
    pub journal: Option<Journal>,
    /// The nodes' Admin APIs to probe (None: none known).
    pub probes: Option<poller::Probes>,
    pub tick: Duration,
    /// Dual-cluster's jobs (None: the shared-database flow).
    pub dual: Option<Arc<dual::DualRuntime>>,
    /// In-place's `--smoke` tests and how long each may take (`Effect::Smoke`).
    pub smoke: (Vec<crate::cmd::auto::Smoke>, Duration),
    /// The kong a killed earlier run left running: watched until it ends.
    pub earlier: Option<crate::exec::journal::EarlierKong>,
    /// The rehearsal's staleness check, run as a task: its answer comes as one message.
    pub rehearsal_check: Option<StalenessCheck>,
}

/// [`rehearsal_staleness`], ready to run off the UI path.
pub type StalenessCheck =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::wizard::review::Staleness> + Send>>;

/// Runs the rehearsal's staleness check as a task that sends its answer as one message.
pub fn spawn_staleness(
    check: StalenessCheck,
    tx: UnboundedSender<Msg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let answer = check.await;
        let _ = tx.send(Msg::RehearsalChecked(answer));
    })
}

/// The database a backup is taken of.
#[derive(Clone)]
pub struct BackupJob {
    pub conn: Connection,
}

impl BackupJob {
    /// `cmd::backup::prepare` then `exec::backup::pg_dump`, progress sent as messages: the same
    /// checks and proof as `kongrade backup`, journaled by the model.
    async fn run(self, tx: UnboundedSender<Msg>) {
        /// Removes a dump that did not finish (the task aborted when the operator left): a
        /// broken file must not look like a backup.
        struct Partial(Option<std::path::PathBuf>);
        impl Drop for Partial {
            fn drop(&mut self) {
                if let Some(p) = self.0.take() {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        let progress = tx.clone();
        let result = async {
            let (o, out) = crate::cmd::backup::prepare(&self.conn, None).await?;
            let mut partial = Partial(Some(out.clone()));
            let rec = crate::exec::backup::pg_dump(&o, &out, move |p| {
                let _ = progress.send(Msg::BackupProgress {
                    bytes: p.bytes,
                    elapsed: p.elapsed,
                });
            })
            .await;
            if rec.is_ok() {
                partial.0 = None;
            }
            rec
        }
        .await
        .map_err(|e| format!("{e:#}"));
        let _ = tx.send(Msg::BackupDone(result));
    }
}

/// Runs that have not reported their end yet (kept by the event forwarder).
type Live = Arc<Mutex<HashSet<RunId>>>;

struct App {
    model: Model,
    launcher: Box<dyn Launcher>,
    runs: Vec<(RunId, Box<dyn RunControl>)>,
    live: Live,
    run_tx: UnboundedSender<(RunId, RunEvent)>,
    poller: PollerHandle,
    training: Option<Arc<Training>>,
    backup: Option<BackupJob>,
    /// The running backup (aborted when the app leaves: pg_dump dies with it).
    backup_task: Option<tokio::task::JoinHandle<()>>,
    /// For background tasks' results.
    tx: UnboundedSender<Msg>,
    /// The upgrade journal, when one is open.
    journal: Option<Journal>,
    /// Probes the nodes' Admin APIs in the background.
    prober: Option<PollerHandle>,
    /// No journal (the demo): the model's history, copied for the poller's policy.
    own_history: Option<poller::SharedHistory>,
    dual: Option<Arc<dual::DualRuntime>>,
    /// The clone being taken (aborted when the app leaves: pg_dump and pg_restore die with it).
    dual_tasks: Vec<tokio::task::JoinHandle<()>>,
    smoke: (Vec<crate::cmd::auto::Smoke>, Duration),
    /// The last `command` entry journaled (its seq names the run's marker) and its line.
    last_command: Option<(u64, String)>,
    /// Watches the earlier run's kong until it ends.
    earlier_task: Option<tokio::task::JoinHandle<()>>,
    /// The rehearsal's staleness check (one message, then it ends).
    staleness_task: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    fn dispatch(&mut self, msg: Msg) {
        let fx = update(&mut self.model, msg);
        if let Some(h) = &self.own_history {
            let now = self.model.policy_history();
            let mut shared = h.lock().unwrap_or_else(|e| e.into_inner());
            if *shared != now {
                *shared = now;
            }
        }
        let mut journal = self.journal.take();
        let mut command = None;
        let (act, msgs) = journal_first(fx, &mut |ev| match journal.as_mut() {
            Some(j) => {
                let line = match &ev {
                    crate::contract::journal::Event::Command { command_line, .. } => {
                        Some(command_line.clone())
                    }
                    _ => None,
                };
                let entry = j.append(ev).map_err(|e| format!("{e:#}"))?;
                if let Some(line) = line {
                    command = Some((entry.seq, line));
                }
                Ok(())
            }
            // The demo and read-only sessions keep no journal.
            None => Ok(()),
        });
        self.journal = journal;
        if command.is_some() {
            self.last_command = command;
        }
        for m in msgs {
            self.dispatch(m);
        }
        for e in act {
            self.execute(e);
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashSet<RunId>> {
        // A poisoned set only means a panic elsewhere; the ids in it are still right.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn execute(&mut self, fx: Effect) {
        let live = self.live().clone();
        self.runs.retain(|(id, _)| live.contains(id));
        match fx {
            Effect::StartKong(id, inv) => {
                tracing::info!(id, "starting {:?}", inv.command);
                // Before the start: a spawn failure may report its end at once.
                self.live().insert(id);
                // As auto: the journaled command's marker in kong's environment, its pid in
                // the journal once it runs, so a restart after a kill -9 waits for this kong.
                let announced = self
                    .journal
                    .as_ref()
                    .zip(self.last_command.clone())
                    .map(|(j, (seq, line))| (crate::exec::journal::run_marker(&j.path, seq), line));
                let ctl = self.launcher.start(
                    &inv,
                    id,
                    self.run_tx.clone(),
                    announced.as_ref().map(|(m, _)| m.as_str()),
                );
                if let (Some(pid), Some((_, line)), Some(j)) =
                    (ctl.pid(), announced, self.journal.as_mut())
                {
                    let started = crate::contract::journal::Event::CommandStarted {
                        command_line: line,
                        pid,
                        start_time: crate::exec::process::start_time(pid),
                    };
                    if let Err(e) = j.append(started) {
                        // Unjournaled, it must not run on: a restart could not know of it.
                        tracing::error!("journal: {e:#}");
                        ctl.kill();
                        let text = format!("the upgrade journal could not be written ({e:#}): kong was killed at once");
                        self.runs.push((id, ctl));
                        self.dispatch(Msg::Note { warn: true, text });
                        return;
                    }
                }
                self.runs.push((id, ctl));
            }
            Effect::Interrupt(id) => {
                if let Some((_, r)) = self.runs.iter().find(|(i, _)| *i == id) {
                    tracing::info!(id, "interrupting kong");
                    r.interrupt();
                }
            }
            Effect::Kill(id) => {
                if let Some((_, r)) = self.runs.iter().find(|(i, _)| *i == id) {
                    tracing::info!(id, "killing kong");
                    r.kill();
                }
            }
            Effect::Refresh => self.poller.refresh_now(),
            Effect::StopNode(name) => {
                if let Some(t) = self.training.clone() {
                    let (warn, text) = t.stop_node(&name);
                    self.dispatch(Msg::Note { warn, text });
                    self.poller.refresh_now();
                    if let Some(p) = &self.prober {
                        p.refresh_now();
                    }
                }
            }
            Effect::FixCause => {
                if let Some(t) = self.training.clone() {
                    let text = t.fix_fault();
                    self.dispatch(Msg::Note { warn: false, text });
                    self.poller.refresh_now();
                }
            }
            Effect::TakeBackup => match self.backup.clone() {
                Some(job) => {
                    tracing::info!("taking a backup");
                    self.backup_task = Some(tokio::spawn(job.run(self.tx.clone())));
                }
                None => self.dispatch(Msg::BackupDone(Err(
                    "kongrade cannot take a backup of this database".into(),
                ))),
            },
            Effect::Dual(job) => self.dual_job(job),
            Effect::Smoke => {
                // The one smoke runner and verdict, as auto's in-place.
                let (tests, timeout) = self.smoke.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let verdicts = crate::cmd::auto::run_smokes(&tests, timeout)
                        .await
                        .iter()
                        .map(|r| r.verdict())
                        .collect();
                    let _ = tx.send(Msg::Smoked(verdicts));
                });
            }
            // Written by `dispatch` before the batch's actions.
            Effect::Journal(_) => {}
            Effect::Quit => {}
        }
    }

    async fn main_loop(
        &mut self,
        terminal: &mut terminal::Term,
        rx: &mut UnboundedReceiver<Msg>,
        others: &mut Others,
    ) -> Result<()> {
        loop {
            let mut drawn = view::Drawn::default();
            terminal.draw(|f| drawn = view::view(&self.model, f))?;
            // The next key scrolls the overlay no further than this frame could show.
            self.model.overlay_end = drawn.overlay_end;
            let mut watched = vec![
                Watched::any_end("database poller", &mut self.poller.task),
                Watched::any_end("kong event forwarder", &mut others.forward),
                Watched::panic_only("terminal input task", &mut others.events),
            ];
            if let Some(p) = self.prober.as_mut() {
                watched.push(Watched::any_end("node prober", &mut p.task));
            }
            let first = tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return Ok(()),
                },
                (name, why) = first_to_die(watched) => {
                    tracing::error!("the {name} stopped: {why}");
                    return Err(eyre!(
                        "the wizard's {name} stopped ({why}), so the screen could no longer be trusted: kongrade left as on quit (kong, if it ran, was interrupted, given {} s, then killed). The log has the details",
                        LEAVE_GRACE.as_secs()
                    ));
                }
            };
            // The model's clock is set before each batch, so a run's exit is stamped no earlier
            // than it really happened (reads that started before it never judge it).
            self.dispatch(Msg::Tick(Instant::now()));
            self.dispatch(first);
            // Draw at least every few hundred messages even when kong floods its output.
            for _ in 0..512 {
                if self.model.quit {
                    break;
                }
                match rx.try_recv() {
                    Ok(m) => self.dispatch(m),
                    Err(_) => break,
                }
            }
            if self.model.quit {
                return Ok(());
            }
        }
    }

    /// After the terminal is restored: give interrupted runs their grace, then kill.
    async fn stop_runs(&mut self) {
        if self.live().is_empty() {
            return;
        }
        eprintln!(
            "kongrade: waiting up to {} s for kong to stop ...",
            LEAVE_GRACE.as_secs()
        );
        let live = self.live().clone();
        for (_, r) in self.runs.iter().filter(|(id, _)| live.contains(id)) {
            r.interrupt();
        }
        let deadline = Instant::now() + LEAVE_GRACE;
        while Instant::now() < deadline && !self.live().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let live = self.live().clone();
        for (id, r) in self.runs.iter().filter(|(id, _)| live.contains(id)) {
            eprintln!("kongrade: kong (run {id}) did not stop: killing it; its migrations lock stays until the lock timeout");
            r.kill();
        }
    }
}

/// The app's background tasks besides the poller and the prober (which the app holds).
struct Others {
    forward: tokio::task::JoinHandle<()>,
    events: tokio::task::JoinHandle<()>,
}

/// A background task the screen stands on, watched while the app runs.
struct Watched<'a> {
    name: &'static str,
    task: &'a mut tokio::task::JoinHandle<()>,
    /// Any end is a death (the poller, the prober and the forwarder end only with the app);
    /// else only a panic is (terminal input ends by itself when the terminal goes).
    any_end: bool,
}

impl<'a> Watched<'a> {
    fn any_end(name: &'static str, task: &'a mut tokio::task::JoinHandle<()>) -> Self {
        Watched {
            name,
            task,
            any_end: true,
        }
    }

    fn panic_only(name: &'static str, task: &'a mut tokio::task::JoinHandle<()>) -> Self {
        Watched {
            name,
            task,
            any_end: false,
        }
    }
}

/// Waits until one of the tasks dies, and says which and how. A task that already ended is not
/// polled again (a finished JoinHandle must not be).
async fn first_to_die(tasks: Vec<Watched<'_>>) -> (&'static str, String) {
    use futures::FutureExt;
    let waits: Vec<_> = tasks
        .into_iter()
        .map(|w| {
            async move {
                if w.task.is_finished() && !w.any_end {
                    // Ended earlier without a panic (it was awaited then): nothing to watch.
                    return std::future::pending().await;
                }
                let why = match (&mut *w.task).await {
                    Ok(()) if w.any_end => "it ended".to_string(),
                    Ok(()) => return std::future::pending().await,
                    Err(e) if e.is_panic() => {
                        let p = e.into_panic();
                        let text = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".into());
                        format!("panicked: {text}")
                    }
                    Err(e) => e.to_string(),
                };
                (w.name, why)
            }
            .boxed()
        })
        .collect();
    futures::future::select_all(waits).await.0
}

/// Test builds only: `KONGRADE_TEST_PANIC=TASK:FILE` makes that background task (`poller`,
/// `prober`, `forwarder`) panic once FILE exists, so a test can prove the supervision
/// (tests/tui_tmux.rs). Release builds never read it.
pub(crate) fn test_panic(task: &str) {
    #[cfg(debug_assertions)]
    if let Ok(v) = std::env::var("KONGRADE_TEST_PANIC") {
        if let Some((t, file)) = v.split_once(':') {
            if t == task && std::path::Path::new(file).exists() {
                panic!("test hook KONGRADE_TEST_PANIC: the {task} panics");
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = task;
}

/// Writes a batch's journal entries first, in order (each is fsynced, so it is on disk before
/// the action it announces). After an entry that cannot be written, the batch's actions do not
/// happen: kong is not started and no backup is taken, and the messages returned say so.
/// Returns the effects to carry out and the messages to dispatch.
fn journal_first(
    fx: Vec<Effect>,
    append: &mut dyn FnMut(crate::contract::journal::Event) -> Result<(), String>,
) -> (Vec<Effect>, Vec<Msg>) {
    let mut failed: Option<String> = None;
    let mut msgs = Vec::new();
    let mut rest = Vec::new();
    for e in fx {
        match e {
            Effect::Journal(ev) => {
                if failed.is_none() {
                    if let Err(e) = append(ev) {
                        tracing::error!("journal: {e}");
                        msgs.push(Msg::Note {
                            warn: true,
                            text: format!("the upgrade journal could not be written: {e}"),
                        });
                        failed = Some(e);
                    }
                }
            }
            other => rest.push(other),
        }
    }
    let Some(why) = failed else {
        return (rest, msgs);
    };
    let not_started = format!("not started: the upgrade journal could not be written ({why})");
    let mut act = Vec::new();
    for e in rest {
        match e {
            Effect::StartKong(id, _) => msgs.push(Msg::Run(
                id,
                RunEvent::SpawnFailed {
                    message: not_started.clone(),
                },
            )),
            Effect::TakeBackup => msgs.push(Msg::BackupDone(Err(not_started.clone()))),
            Effect::Dual(crate::wizard::dual::DualJob::Clone { .. }) => msgs.push(Msg::Dual(
                crate::wizard::dual::DualMsg::Cloned(Err(not_started.clone())),
            )),
            Effect::Dual(crate::wizard::dual::DualJob::Kong { id, .. }) => msgs.push(Msg::Run(
                id,
                RunEvent::SpawnFailed {
                    message: not_started.clone(),
                },
            )),
            other => act.push(other),
        }
    }
    (act, msgs)
}

/// Runs the app until the operator leaves. Returns the exit code.
pub async fn run(model: Model, rt: Runtime) -> Result<i32> {
    run_app(model, rt).await.map(|(code, _)| code)
}

/// Runs the app until the operator leaves: the exit code, and the training scenario to start
/// next when the trainee picked one from the menu.
async fn run_app(mut model: Model, rt: Runtime) -> Result<(i32, Option<String>)> {
    ensure_terminal()?;
    let log_path = logging::init()?;
    tracing::info!("wizard starting: {}", model.setup.database);
    model.log.push(
        crate::wizard::model::LogKind::Info,
        format!("kongrade logs to {}", log_path.display()),
    );
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (run_tx, mut run_rx) = mpsc::unbounded_channel::<(RunId, RunEvent)>();

    let mut guard = terminal::enter()?;
    let events = events::spawn(tx.clone(), rt.tick);
    let own_history = rt.poller.own_history.clone();
    let poller = poller::spawn(rt.poller, tx.clone());
    let prober = rt
        .probes
        .map(|p| poller::spawn_prober(p, poller::PROBE_EVERY, tx.clone()));
    let fwd = tx.clone();
    let app_tx = tx.clone();
    let tx_earlier = tx.clone();
    let live: Live = Arc::default();
    let ended = live.clone();
    let forward = tokio::spawn(async move {
        while let Some((id, ev)) = run_rx.recv().await {
            test_panic("forwarder");
            if matches!(ev, RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. }) {
                ended.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            }
            // The app may be gone (leaving): keep noting ends for the grace period.
            let _ = fwd.send(Msg::Run(id, ev));
        }
    });
    drop(tx);

    let mut app = App {
        model,
        launcher: rt.launcher,
        runs: Vec::new(),
        live,
        run_tx,
        poller,
        training: rt.training,
        backup: rt.backup,
        backup_task: None,
        tx: app_tx,
        journal: rt.journal,
        prober,
        own_history,
        dual: rt.dual,
        dual_tasks: Vec::new(),
        smoke: rt.smoke,
        last_command: None,
        staleness_task: rt
            .rehearsal_check
            .map(|c| spawn_staleness(c, tx_earlier.clone())),
        earlier_task: rt.earlier.map(|k| {
            let tx = tx_earlier.clone();
            tokio::spawn(async move {
                // As auto's wait: look every 200 ms until none of its processes is alive.
                while !k.alive().is_empty() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = tx.send(Msg::EarlierKongEnded);
            })
        }),
    };
    if let Ok(size) = guard.terminal.size() {
        app.dispatch(Msg::Resize {
            width: size.width,
            height: size.height,
        });
    }
    let mut others = Others { forward, events };
    let result = app
        .main_loop(&mut guard.terminal, &mut rx, &mut others)
        .await;
    others.events.abort();
    // The terminal comes back before anything else is printed.
    drop(guard);
    if let Some(h) = app.backup_task.take() {
        // pg_dump is killed with the task (kill_on_drop), and its partial file goes with it.
        if !h.is_finished() {
            eprintln!("kongrade: the backup was not finished: stopped");
        }
        h.abort();
    }
    for h in app.dual_tasks.drain(..) {
        if !h.is_finished() {
            eprintln!("kongrade: the clone was not finished: stopped (the journal says so; a restart replaces the half-made clone)");
        }
        h.abort();
    }
    if let Some(h) = app.earlier_task.take() {
        h.abort();
    }
    if let Some(h) = app.staleness_task.take() {
        h.abort();
    }
    app.stop_runs().await;
    others.forward.abort();
    tracing::info!("wizard done: step {:?}", app.model.step);
    result.map(|()| (app.model.exit_code, app.model.restart.take()))
}

/// `pg_dump` of Kong's database for the Backup step (the password comes from PGPASSWORD or
/// ~/.pgpass, never the command line).
pub fn pg_dump_command(o: &PgOptions) -> String {
    let mut s = format!(
        "pg_dump -h {} -p {} -U {} -Fc -f {} {}",
        shell_quote(&o.host),
        o.port,
        shell_quote(&o.user),
        shell_quote(&format!("kong-{}-backup.dump", o.database)),
        shell_quote(&o.database)
    );
    if let Some(schema) = &o.schema {
        s.push_str(&format!(" -n {}", shell_quote(schema)));
    }
    s
}

fn invocation(conf_path: Option<std::path::PathBuf>, w: &WizardArgs) -> Invocation {
    let mut inv = Invocation::new(KongCommand::Up);
    inv.conf = conf_path;
    inv.db_timeout = w.db_timeout;
    inv.lock_timeout = w.lock_timeout;
    inv
}

/// How the Backup step backs this database up, and the restore command for the rollback
/// guidance (PostgreSQL only).
fn backup_method(endpoint: &Endpoint) -> (BackupMethod, Option<String>) {
    match endpoint {
        Endpoint::Postgres(opts) => (
            BackupMethod::PgDump {
                command: pg_dump_command(opts),
            },
            Some(
                crate::exec::backup::restore_command(opts, std::path::Path::new(""))
                    .trim_end()
                    .to_string(),
            ),
        ),
        Endpoint::Cassandra(c) => (
            BackupMethod::Cassandra {
                keyspace: c.keyspace.clone(),
                tag: format!("kongrade-{}", utc_stamp(now_secs()).1),
                hosts: c.contact_points.clone(),
            },
            None,
        ),
        Endpoint::Memory(_) => (
            BackupMethod::OwnOnly {
                why: "this database lives in memory: there is nothing for pg_dump to read".into(),
            },
            None,
        ),
    }
}

/// `kongrade`: the wizard against kong.conf's database and a real kong command.
pub async fn wizard(conn: Connection, w: &WizardArgs) -> Result<i32> {
    // Before any slow work: a pipe gets the pointer to `status` at once.
    ensure_terminal()?;
    let ctx = Context::new(conn).await?;
    let kong_cmd = ctx.conn.kong_cmd.clone();
    // A command line that cannot be split (an unclosed quote) is said now, not at `up`.
    crate::exec::kong_version::split_command(&kong_cmd)?;
    let endpoint = ctx.conn.endpoint.clone();
    let (backup, restore_command) = backup_method(&endpoint);
    let (database, timeout) = (endpoint.describe(), endpoint.timeout());
    let source = Source::new(endpoint);
    let mut setup = Setup::new(&database, ctx.target.version);
    setup.kong_cmd = kong_cmd.clone();
    setup.invocation = invocation(ctx.conn.conf_path.clone(), w);
    setup.read_only = w.read_only;
    setup.color = !no_color();
    setup.refresh = w.refresh;
    setup.backup = backup;
    setup.dp_window = w.nodes.dp_window;
    setup.restore_command = restore_command;
    // The nodes Decommission lists: as `kongrade nodes` finds them.
    let (urls, manual) =
        crate::cmd::nodes::sources(&w.nodes.admin_urls, w.nodes.nodes_file.as_deref())?;
    setup.nodes = urls
        .iter()
        .map(|u| (u, "admin"))
        .chain(manual.iter().map(|m| (m, "manual")))
        .map(|(name, kind)| NodeStatus {
            name: name.clone(),
            kind: kind.into(),
            class: None,
            checklist: Checklist::default(),
        })
        .collect();
    // In-place's new nodes (`--new-admin-url`, as auto takes them) are probed with the old.
    let (new_urls, smoke_tests) = w
        .dual
        .as_ref()
        .map(|d| (d.new_admin_urls.clone(), d.smoke.clone()))
        .unwrap_or_default();
    if let Some(why) =
        crate::kong::in_place::smoke_refusal(!smoke_tests.is_empty(), !new_urls.is_empty())
    {
        bail!(why);
    }
    setup.in_place = crate::wizard::model::InPlaceSetup {
        new_admin_urls: new_urls.clone(),
        smoke: smoke_tests
            .iter()
            .map(|s| format!("{} {} {}", s.method, s.url, s.status))
            .collect(),
    };
    let smoke = (smoke_tests, w.nodes.probe.timeout);
    let mut probed = urls.clone();
    probed.extend(new_urls.into_iter().filter(|u| !urls.contains(u)));
    let probes = match (probed.is_empty(), ctx.target.version) {
        (false, Some(target)) => Some(poller::Probes::Http {
            urls: probed,
            opts: w.nodes.probe.clone(),
            target,
        }),
        _ => None,
    };
    // The strategy facts: the deployment as said or as the Admin APIs say it. A refused
    // --strategy stops here, before the terminal is taken, as `auto` and `plan` refuse it.
    let snapshot = ctx.snapshot().await.ok();
    let seen =
        crate::cmd::strategy::see(&w.strategy, ctx.target.version, snapshot.as_ref(), &w.nodes)
            .await;
    if let Some(s) = w.strategy.strategy {
        let from = snapshot.as_ref().and_then(|sn| {
            let st = crate::kong::state::compute(&ctx.target, sn, ctx.catalog);
            crate::kong::plan::origin(&st, ctx.catalog, None)
        });
        let choice = crate::cmd::strategy::choose(&seen, &w.strategy, from, ctx.target.version);
        if let Some(m) = choice.refusal_message(s) {
            eprintln!("{m}");
            return Ok(crate::kong::policy::exit::STRATEGY_REFUSED);
        }
    }
    setup.strategy = crate::wizard::model::StrategyFacts {
        preselected: w.strategy.strategy,
        deployment: (seen.deployment != crate::kong::strategy::Deployment::Unknown)
            .then(|| (seen.deployment, seen.deployment_from.clone())),
        second_cluster: w.strategy.second_cluster,
    };
    // Before the journal is opened: a clone the wizard cannot make (Cassandra, a bad --clone-*
    // flag, a kong that cannot see the clone's environment) leaves no journal behind.
    let dual = dual_setup(&ctx, w, snapshot.as_ref(), &mut setup)?;
    // The clone's flags say which procedure the operator means: dual-cluster, as if with
    // --strategy dual-cluster (the Strategy step still refuses it where Kong's guide does).
    if setup.dual.is_some() && setup.strategy.preselected.is_none() {
        setup.strategy.preselected = Some(crate::kong::strategy::Strategy::DualCluster);
    }
    let (journal, mut notes, earlier) = open_journal(&ctx, w.read_only, &mut setup)?;
    // An upgrade the journal says is dual-cluster goes on only with its clone's flags.
    if let Some(r) = &setup.resume {
        if r.strategy == Some(crate::kong::strategy::Strategy::DualCluster) && setup.dual.is_none()
        {
            bail!("this upgrade's journal chose dual-cluster: start the wizard again with the same clone flags (--clone-database NAME, or --clone-conf / --clone-pg-*) and --new-admin-url, so it resumes on the clone; nothing was run");
        }
    }
    notes.extend(seen.notes.iter().map(|n| format!("strategy: {n}")));
    // The rehearsal's staleness check reads every table: it runs beside the UI, which says
    // "checking" until its one message answers.
    let rehearsal_check = match (setup.rehearsal.as_mut(), ctx.conn.pg()) {
        (Some(r), Some(opts)) => {
            notes.push(r.line());
            let (opts, record) = (opts.clone(), r.record.clone());
            Some(
                Box::pin(async move { rehearsal_staleness(&opts, &record).await })
                    as StalenessCheck,
            )
        }
        (Some(r), None) => {
            r.staleness = crate::wizard::review::Staleness::not_postgres();
            notes.push(r.line());
            None
        }
        (None, _) => None,
    };
    // Review shows each migration's real module from the installed tree.
    if let Some(dir) = &ctx.conn.kong_lua_path {
        setup.kong_lua_path = true;
        match review_sources(dir) {
            Ok(found) => setup.migration_sources = Arc::new(found),
            Err(e) => notes.push(format!(
                "the migrations' modules in --kong-lua-path {} could not be read: {e:#}",
                dir.display()
            )),
        }
    }
    // A backup the journal records counts only if the file is still that dump.
    if let Some(r) = setup.resume.as_mut() {
        if let Some(crate::wizard::model::BackupState::Taken(rec)) = &r.backup {
            if let Err(why) = crate::exec::backup::recheck(rec).await {
                r.backup = None;
                r.backup_problem = Some(why);
            }
        }
    }
    // kongrade's connection flags reach kong as the KONG_* variables Kong reads, in the child's
    // environment only (as `auto` passes them).
    let launcher = launcher::Runner(ctx.conn.kong());
    tracing::debug!(
        "kong command: {}",
        display_command(&kong_cmd, &setup.invocation)
    );
    let timeout = (timeout * 2).max(Duration::from_secs(5));
    let settings = ctx.settings(w.db_timeout, w.lock_timeout);
    let backup_job = BackupJob {
        conn: ctx.conn.clone(),
    };
    let journal_id = ctx.conn.endpoint.identity();
    // The preflight's reads, as diagnose makes them; its findings wait for the first.
    let preflight =
        crate::cmd::preflight::PreflightSource::of(&ctx, &crate::cmd::preflight::env_names());
    let mut interpreter = Interpreter::new(Arc::new(ctx.target), ctx.catalog, settings);
    // The write watch: the store says whether it can count writes (PostgreSQL can).
    interpreter.journal_id = Some(journal_id);
    interpreter.preflight_wanted = true;
    let poller = Poller {
        source,
        interpreter,
        every: w.refresh,
        timeout,
        own_history: None,
        preflight: Some(preflight),
    };
    let mut model = Model::new(setup, Instant::now());
    for n in notes {
        model.log.push(crate::wizard::model::LogKind::Info, n);
    }
    run(
        model,
        Runtime {
            launcher: Box::new(launcher),
            poller,
            training: None,
            backup: Some(backup_job),
            journal,
            probes,
            tick: TICK,
            dual,
            smoke,
            earlier,
            rehearsal_check,
        },
    )
    .await
}

/// Dual-cluster from the wizard's clone flags (as `auto --strategy dual-cluster` takes them):
/// the clone's place resolved, a kong that would not see the clone's environment refused before
/// anything runs.
fn dual_setup(
    ctx: &Context,
    w: &WizardArgs,
    snapshot: Option<&crate::kong::snapshot::Snapshot>,
    setup: &mut Setup,
) -> Result<Option<Arc<dual::DualRuntime>>> {
    let Some(d) = w.dual.as_ref().filter(|d| d.clone.is_given()) else {
        return Ok(None);
    };
    let Some(source) = ctx.conn.pg().cloned() else {
        bail!("dual-cluster clones the database with pg_dump | pg_restore: PostgreSQL only");
    };
    let clone = d.clone.resolve(&source, None)?;
    // Every kong of the path (each hop's, with a template), judged as auto judges them.
    let plan = snapshot.map(|sn| {
        let st = crate::kong::state::compute(&ctx.target, sn, ctx.catalog);
        crate::kong::plan::plan_with(&st, &ctx.target, ctx.catalog, ctx.db, &Default::default())
    });
    if let Some(why) = crate::cmd::auto::hops::clone_reach(ctx, plan.as_ref())? {
        bail!(why);
    }
    let kong = match ctx.conn.kong() {
        KongTarget::Process { command_line, env } => KongTarget::Process {
            env: crate::exec::clone::with_clone_env(&env, &clone),
            command_line,
        },
        other => other,
    };
    setup.dual = Some(crate::wizard::dual::DualSetup {
        source: source.describe(),
        clone: clone.describe(),
        clone_database: clone.database.clone(),
        replace: d.clone.replace,
        new_admin_urls: d.new_admin_urls.clone(),
        new_status_urls: d.new_status_urls.clone(),
        smoke: d
            .smoke
            .iter()
            .map(|s| format!("{} {} {}", s.method, s.url, s.status))
            .collect(),
    });
    Ok(Some(Arc::new(dual::DualRuntime::Pg(Box::new(
        dual::PgDual {
            source,
            clone,
            clone_conf: d.clone.conf.clone(),
            kong,
            probe: w.nodes.probe.clone(),
            admin_urls: d.new_admin_urls.clone(),
            status_urls: d.new_status_urls.clone(),
            smoke: d.smoke.clone(),
            target: ctx.target.version,
        },
    )))))
}

/// Opens this database's upgrade journal, or resumes the unfinished one (`setup.resume` then
/// says what it recorded). Another kongrade holding it refuses the start. Read-only takes no
/// lock and writes nothing: it only reads what an unfinished journal says. Returns the journal
/// and lines for the log.
fn open_journal(
    ctx: &Context,
    read_only: bool,
    setup: &mut Setup,
) -> Result<(
    Option<Journal>,
    Vec<String>,
    Option<crate::exec::journal::EarlierKong>,
)> {
    use crate::exec::journal;
    let dir = crate::exec::datadir::sub_dir("journal")?;
    let id = ctx.conn.endpoint.identity();
    let mut notes = Vec::new();
    let mut earlier = None;
    let (j, rb) = if read_only {
        let rb = match journal::unfinished(&dir, &id)? {
            Some(p) => {
                notes.push(format!(
                    "read-only: the upgrade journal {} is read, not written",
                    p.display()
                ));
                Some(journal::read(&p)?)
            }
            None => None,
        };
        (None, rb)
    } else {
        let (mut j, rb, resumed) = Journal::open_for(&dir, &id).map_err(|e| {
            eyre!(
                "{e:#}
  `kongrade --read-only` watches the upgrade without taking its journal"
            )
        })?;
        notes.push(format!(
            "upgrade journal: {} ({})",
            j.path.display(),
            if resumed { "resumed" } else { "new" }
        ));
        setup.journal_path = Some(j.path.display().to_string());
        j.append(crate::contract::journal::Event::Note {
            text: format!(
                "kongrade wizard: target Kong {} ({}), kong command {}",
                ctx.target
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "of the Lua tree".into()),
                ctx.target.source,
                setup.kong_cmd
            ),
        })?;
        // A rehearsal leaves the journal open: its record is read whether or not it resumes.
        setup.rehearsal = rehearsal_for(&rb, ctx);
        // A kong the killed run left running (auto's reading of the journal, one rule): the
        // wizard waits for it, on screen, before anything can start another.
        if let Some(k) = crate::exec::journal::earlier_kong(&j.path, &rb) {
            let pids = k.alive();
            j.append(crate::contract::journal::Event::Note {
                text: k.waiting_note(&pids),
            })?;
            setup.earlier_kong = Some(crate::wizard::model::EarlierKongSeen {
                what: k.what.clone(),
                pids,
                command_line: k.command_line.clone(),
            });
            earlier = Some(k);
        }
        (Some(j), resumed.then_some(rb))
    };
    if let Some(rb) = rb.as_ref().filter(|_| setup.rehearsal.is_none()) {
        setup.rehearsal = rehearsal_for(rb, ctx);
    }
    if let Some(rb) = rb {
        for w in &rb.warnings {
            notes.push(format!("journal: {w}"));
        }
        setup.resume = Resume::from_journal(&rb);
        // In-place's downtime began at the journal's first gate: the clock keeps counting.
        let gate = rb.entries.iter().find_map(|e| match &e.event {
            crate::contract::journal::Event::Step { step, phase, .. }
                if step == crate::wizard::flow::IN_PLACE_GATE_STEP && phase == "done" =>
            {
                crate::exec::datadir::parse_utc_stamp(&e.at)
            }
            _ => None,
        });
        if let (Some(r), Some(at)) = (setup.resume.as_mut(), gate) {
            r.gate_secs_ago = Some(now_secs().saturating_sub(at) as f64);
        }
    }
    Ok((j, notes, earlier))
}

/// Each migration's module in the `--kong-lua-path` tree, as Review's detail view shows it:
/// tabs as spaces, and nothing that would reach the terminal as a control sequence.
pub fn review_sources(
    dir: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, crate::wizard::review::MigrationSource>> {
    Ok(crate::exec::lua_tree::migration_sources(dir)?
        .into_iter()
        .map(|(k, (path, text))| {
            (
                k,
                crate::wizard::review::MigrationSource {
                    path: path.display().to_string(),
                    text: crate::text::terminal_safe(&text.replace('\t', "    ")).into_owned(),
                },
            )
        })
        .collect())
}

/// The journal's newest rehearsal of this database for this target, its staleness not yet
/// checked. Filtered first, then the newest: a later rehearsal of another target (or another
/// database) says nothing of this one's times, and must not hide them.
pub fn rehearsal_for(
    rb: &crate::contract::journal::ReadBack,
    ctx: &Context,
) -> Option<crate::wizard::review::Rehearsal> {
    let target = ctx.target.version.map(|v| v.to_string());
    // The record names its source `user@host:port/db (schema s)`: any role, this database.
    let here = ctx.conn.pg().map(|o| {
        let d = o.describe();
        let at = d.find('@').map_or(0, |i| i + 1);
        format!("@{}", &d[at..])
    });
    rb.entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            crate::contract::journal::Event::Rehearsed { record }
                if record.target.is_some()
                    && record.target == target
                    && here
                        .as_ref()
                        .is_none_or(|h| record.clone.source.ends_with(h.as_str())) =>
            {
                Some(record.as_ref())
            }
            _ => None,
        })
        .map(|r| crate::wizard::review::Rehearsal::unchecked(r.clone()))
}

/// Whether the database changed since the rehearsal's clone: its configuration tables
/// compared with the clone's marks (the write guard's judgement, `Staleness::judged`). The one
/// check for `plan` and the wizard (which runs it off the UI path). No answer in time, or a
/// read that fails, is "not checked", never "changed" nor "fresh".
pub async fn rehearsal_staleness(
    opts: &PgOptions,
    r: &crate::contract::clone::RehearsalRecord,
) -> crate::wizard::review::Staleness {
    use crate::wizard::review::Staleness;
    // Bounded: the marks digest every configuration table (about 4 s per million rows).
    let check = async {
        let store = crate::store::postgres::PgStore::connect(opts).await?;
        store.table_marks().await
    };
    match tokio::time::timeout(STALENESS_WAIT, check).await {
        Err(_) => Staleness::NotChecked(format!(
            "no answer within {} s (a large or busy database); `kongrade rehearse` again gives a current record",
            STALENESS_WAIT.as_secs()
        )),
        Ok(Ok(now)) => Staleness::judged(r, &now),
        Ok(Err(e)) => Staleness::NotChecked(format!("the database could not be read: {e}")),
    }
}

/// How long the rehearsal's staleness check may take.
const STALENESS_WAIT: Duration = Duration::from_secs(10);

/// The kong `kongrade demo` runs: the stand-in (the code of `kongrade stand-in`) in-process on
/// the training database. `--speed` shortens each migration; the lock keeps Kong's own timing
/// (`--lock-timeout`), as the stand-in is Kong's CLI contract, not a cartoon of it.
pub fn demo_launcher(training: &Training, speed: f64) -> Box<dyn Launcher> {
    Box::new(launcher::Runner(
        training.kong(training::MIGRATION_DELAY.div_f64(speed)),
    ))
}

/// `kongrade demo`.
pub async fn demo(scenario: Option<&str>, speed: f64, list: bool, w: &WizardArgs) -> Result<i32> {
    if list {
        print!("{}", training::list_text().map_err(|e| eyre!(e))?);
        return Ok(0);
    }
    if !(speed.is_finite() && (0.05..=100.0).contains(&speed)) {
        bail!("--speed must be between 0.05 and 100 (got {speed})");
    }
    let mut name = scenario.unwrap_or(training::DEFAULT_SCENARIO).to_string();
    // The menu at Done starts another scenario (or this one again) in the same process.
    loop {
        let (code, next) = demo_once(&name, speed, w).await?;
        match next {
            Some(n) => name = n,
            None => return Ok(code),
        }
    }
}

/// One training scenario, from its start until the trainee leaves or picks another.
async fn demo_once(name: &str, speed: f64, w: &WizardArgs) -> Result<(i32, Option<String>)> {
    let sc = training::scenario(name).map_err(|e| eyre!(e))?;
    ensure_terminal()?;
    let catalog = Catalog::embedded();
    let training = Arc::new(sc.build(catalog, speed).map_err(|e| eyre!(e))?);
    let mut setup = Setup::new(
        &format!("training:{}", sc.name),
        Some(training.target_version),
    );
    setup.training = Some(sc.title.clone());
    setup.checkpoints = true;
    setup.scenario = Some(sc.name.clone());
    setup.scenarios = training::names()
        .into_iter()
        .filter_map(|n| training::scenario(n).ok().map(|s| (s.name, s.title)))
        .collect();
    setup.nodes = training.admin_nodes();
    // The scenario's nodes of the target version are in-place's new nodes.
    setup.in_place.new_admin_urls = training
        .nodes
        .iter()
        .filter(|n| !n.old && !n.data_plane)
        .map(|n| n.name.clone())
        .collect();
    setup.dp_window = w.nodes.dp_window;
    setup.read_only = w.read_only;
    setup.color = !no_color();
    setup.refresh = w.refresh;
    setup.backup = training.backup_method();
    setup.training_fix = training.fix();
    setup.strategy = sc.strategy_facts();
    setup.invocation = invocation(None, w);
    // A dual-cluster scenario: its simulated clone and new cluster.
    let dual = training.clone.as_ref().map(|c| {
        setup.dual = Some(crate::wizard::dual::DualSetup {
            source: format!("training:{}", sc.name),
            clone: dual::clone_name(&training),
            clone_database: c.spec.clone_database.clone(),
            replace: false,
            new_admin_urls: c.spec.new_nodes.clone(),
            new_status_urls: Vec::new(),
            smoke: c
                .spec
                .new_nodes
                .iter()
                .map(|n| format!("GET http://{n}:8000/health 200"))
                .collect(),
        });
        Arc::new(dual::DualRuntime::Training {
            t: training.clone(),
            delay: training::MIGRATION_DELAY.div_f64(speed),
        })
    });
    let mut model = Model::new(setup, Instant::now());
    model.log.push(
        crate::wizard::model::LogKind::Info,
        format!("training: {}: {}", sc.title, sc.summary),
    );
    model.log.push(
        crate::wizard::model::LogKind::Info,
        format!(
            "kong here is kongrade's stand-in playing Kong {}: Kong's messages, exit codes and migrations lock, bookkeeping only. Training keeps no upgrade journal.",
            training.target_version
        ),
    );
    let launcher = demo_launcher(&training, speed);
    let poller = Poller {
        source: Source::new(Endpoint::Memory(training.db.clone())),
        interpreter: training.interpreter(training.settings(w.db_timeout, w.lock_timeout)),
        every: w.refresh,
        timeout: Duration::from_secs(5),
        // The demo keeps no journal: the policy learns what this session ran from the model.
        own_history: Some(Arc::default()),
        preflight: None,
    };
    run_app(
        model,
        Runtime {
            launcher,
            poller,
            probes: Some(poller::Probes::Training(training.clone())),
            training: Some(training),
            backup: None,
            journal: None,
            tick: TICK,
            dual,
            smoke: (Vec::new(), Duration::from_secs(5)),
            earlier: None,
            rehearsal_check: None,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::journal::Event;

    fn note(text: &str) -> Effect {
        Effect::Journal(Event::Note { text: text.into() })
    }

    #[test]
    fn journal_entries_are_written_before_the_actions_they_announce() {
        let mut written = Vec::new();
        let fx = vec![
            note("command"),
            Effect::StartKong(3, Invocation::new(KongCommand::Up)),
            Effect::Refresh,
        ];
        let (act, msgs) = journal_first(fx, &mut |ev| {
            written.push(ev);
            Ok(())
        });
        assert_eq!(written.len(), 1);
        assert!(msgs.is_empty());
        assert_eq!(
            act,
            vec![
                Effect::StartKong(3, Invocation::new(KongCommand::Up)),
                Effect::Refresh
            ]
        );
    }

    #[test]
    fn an_unwritable_journal_starts_nothing_and_says_so() {
        let fx = vec![
            note("command"),
            note("more"),
            Effect::StartKong(3, Invocation::new(KongCommand::Up)),
            Effect::TakeBackup,
            Effect::Refresh,
        ];
        let mut tries = 0;
        let (act, msgs) = journal_first(fx, &mut |_| {
            tries += 1;
            Err("disk full".into())
        });
        assert_eq!(tries, 1, "nothing more is written after a failure");
        // Reading the database again is harmless; kong and pg_dump do not start.
        assert_eq!(act, vec![Effect::Refresh]);
        assert!(matches!(&msgs[0], Msg::Note { warn: true, text } if text.contains("disk full")));
        assert!(matches!(
            &msgs[1],
            Msg::Run(3, RunEvent::SpawnFailed { message }) if message.contains("journal could not be written")
        ));
        assert!(matches!(&msgs[2], Msg::BackupDone(Err(_))));
    }
}
