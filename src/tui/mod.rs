//! The wizard's runtime: takes the terminal, runs the event task, the poller and kong, feeds
//! everything to `wizard::update` as messages through one channel, carries out the effects, and
//! draws with the pure [`view::view`].
//!
//! `kongrade` runs it against kong.conf's PostgreSQL and a real kong command; `kongrade demo`
//! against the training cluster (a `MemoryDb`, and the kong stand-in running in-process on it).

pub mod demo;
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

use crate::cli::{ConnArgs, WizardArgs};
use crate::cmd::context::{pg_options, Context};
use crate::exec::datadir::{now_secs, utc_stamp};
use crate::exec::journal::Journal;
use crate::exec::runner::{Invocation, KongCommand, KongTarget, RunEvent, RunId};
use crate::kong::catalog::{Catalog, Db};
use crate::kong::conf::KongConf;
use crate::store::cassandra::CassandraOptions;
use crate::store::postgres::PgOptions;
use crate::wizard::model::BackupMethod;
use crate::wizard::model::{display_command, shell_quote};
use crate::wizard::{update, Effect, Model, Msg, Setup};

use launcher::{Launcher, RunControl};
use poller::{Interpreter, Poller, PollerHandle, Source};

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
    pub training: Option<Arc<demo::Training>>,
    /// What `Effect::TakeBackup` dumps (None: kongrade takes no backup here).
    pub backup: Option<BackupJob>,
    pub tick: Duration,
}

/// The database a backup is taken of.
#[derive(Clone)]
pub struct BackupJob {
    pub conf: KongConf,
    pub db: Db,
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
            let (o, out) = crate::cmd::backup::prepare(&self.conf, self.db, None).await?;
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
    training: Option<Arc<demo::Training>>,
    backup: Option<BackupJob>,
    /// The running backup (aborted when the app leaves: pg_dump dies with it).
    backup_task: Option<tokio::task::JoinHandle<()>>,
    /// For background tasks' results.
    tx: UnboundedSender<Msg>,
    /// The upgrade journal, when one is open.
    journal: Option<Journal>,
}

impl App {
    fn dispatch(&mut self, msg: Msg) {
        for fx in update(&mut self.model, msg) {
            self.execute(fx);
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
                let ctl = self.launcher.start(&inv, id, self.run_tx.clone());
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
            Effect::Journal(event) => {
                if let Some(j) = self.journal.as_mut() {
                    if let Err(e) = j.append(event) {
                        tracing::error!("journal: {e:#}");
                    }
                }
            }
            Effect::Quit => {}
        }
    }

    async fn main_loop(
        &mut self,
        terminal: &mut terminal::Term,
        rx: &mut UnboundedReceiver<Msg>,
    ) -> Result<()> {
        loop {
            terminal.draw(|f| view::view(&self.model, f))?;
            let Some(first) = rx.recv().await else {
                return Ok(());
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

/// Runs the app until the operator leaves. Returns the exit code.
pub async fn run(mut model: Model, rt: Runtime) -> Result<i32> {
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
    let poller = poller::spawn(rt.poller, tx.clone());
    let fwd = tx.clone();
    let app_tx = tx.clone();
    let live: Live = Arc::default();
    let ended = live.clone();
    let forward = tokio::spawn(async move {
        while let Some((id, ev)) = run_rx.recv().await {
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
        journal: None,
    };
    if let Ok(size) = guard.terminal.size() {
        app.dispatch(Msg::Resize {
            width: size.width,
            height: size.height,
        });
    }
    let result = app.main_loop(&mut guard.terminal, &mut rx).await;
    events.abort();
    // The terminal comes back before anything else is printed.
    drop(guard);
    if let Some(h) = app.backup_task.take() {
        // pg_dump is killed with the task (kill_on_drop), and its partial file goes with it.
        if !h.is_finished() {
            eprintln!("kongrade: the backup was not finished: stopped");
        }
        h.abort();
    }
    app.stop_runs().await;
    forward.abort();
    tracing::info!("wizard done: step {:?}", app.model.step);
    result.map(|()| 0)
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

fn invocation(conn: &ConnArgs, w: &WizardArgs) -> Invocation {
    let mut inv = Invocation::new(KongCommand::Up);
    inv.conf = conn.conf.clone();
    inv.db_timeout = w.db_timeout;
    inv.lock_timeout = w.lock_timeout;
    inv
}

/// `kongrade`: the wizard against kong.conf's database and a real kong command.
pub async fn wizard(conn: &ConnArgs, w: &WizardArgs) -> Result<i32> {
    // Before any slow work: a pipe gets the pointer to `status` at once.
    ensure_terminal()?;
    let ctx = Context::new(conn).await?;
    let kong_cmd = conn.kong_cmd.clone().unwrap_or_else(|| "kong".into());
    // A command line that cannot be split (an unclosed quote) is said now, not at `up`.
    crate::exec::kong_version::split_command(&kong_cmd)?;
    let (source, backup, database, timeout) = match ctx.db {
        Db::Postgres => {
            let opts = pg_options(&ctx.conf);
            let backup = BackupMethod::PgDump {
                command: pg_dump_command(&opts),
            };
            let (database, timeout) = (opts.describe(), opts.timeout);
            (Source::postgres(opts), backup, database, timeout)
        }
        Db::Cassandra => {
            let c = &ctx.conf.cassandra;
            let backup = BackupMethod::Cassandra {
                keyspace: c.keyspace.clone(),
                tag: format!("kongrade-{}", utc_stamp(now_secs()).1),
                hosts: c.contact_points.clone(),
            };
            let opts = CassandraOptions::from_conf(c);
            let timeout = opts.timeout;
            (Source::cassandra(opts), backup, ctx.describe_db(), timeout)
        }
    };
    let mut setup = Setup::new(&database, ctx.target.version);
    setup.kong_cmd = kong_cmd.clone();
    setup.invocation = invocation(conn, w);
    setup.read_only = w.read_only;
    setup.color = !no_color();
    setup.refresh = w.refresh;
    setup.backup = backup;
    // kongrade's connection flags reach kong as the KONG_* variables Kong reads, in the child's
    // environment only (as `auto` passes them).
    let launcher = launcher::Runner(KongTarget::Process {
        command_line: kong_cmd.clone(),
        env: crate::cmd::auto::kong_env(conn),
    });
    tracing::debug!(
        "kong command: {}",
        display_command(&kong_cmd, &setup.invocation)
    );
    let timeout = (timeout * 2).max(Duration::from_secs(5));
    let settings = ctx.settings(w.db_timeout, w.lock_timeout);
    let backup_job = BackupJob {
        conf: ctx.conf.clone(),
        db: ctx.db,
    };
    let poller = Poller {
        source,
        interpreter: Interpreter::new(Arc::new(ctx.target), ctx.catalog, settings),
        every: w.refresh,
        timeout,
    };
    run(
        Model::new(setup, Instant::now()),
        Runtime {
            launcher: Box::new(launcher),
            poller,
            training: None,
            backup: Some(backup_job),
            tick: TICK,
        },
    )
    .await
}

/// The kong `kongrade demo` runs: the stand-in (the code of `kongrade stand-in`) in-process on
/// the training database. `--speed` shortens each migration; the lock keeps Kong's own timing
/// (`--lock-timeout`), as the stand-in is Kong's CLI contract, not a cartoon of it.
pub fn demo_launcher(training: &demo::Training, speed: f64) -> Box<dyn Launcher> {
    Box::new(launcher::Runner(
        training.kong(demo::MIGRATION_DELAY.div_f64(speed)),
    ))
}

/// `kongrade demo`.
pub async fn demo(scenario: Option<&str>, speed: f64, list: bool, w: &WizardArgs) -> Result<i32> {
    if list {
        print!("{}", demo::list_text().map_err(|e| eyre!(e))?);
        return Ok(0);
    }
    if !(speed.is_finite() && (0.05..=100.0).contains(&speed)) {
        bail!("--speed must be between 0.05 and 100 (got {speed})");
    }
    let name = scenario.unwrap_or(demo::DEFAULT_SCENARIO);
    let sc = demo::scenario(name).map_err(|e| eyre!(e))?;
    ensure_terminal()?;
    let catalog = Catalog::embedded();
    let training = Arc::new(sc.build(catalog, speed).map_err(|e| eyre!(e))?);
    let mut setup = Setup::new(
        &format!("training:{}", sc.name),
        Some(training.target_version),
    );
    setup.training = Some(sc.title.clone());
    setup.nodes = training.nodes.clone();
    setup.read_only = w.read_only;
    setup.color = !no_color();
    setup.refresh = w.refresh;
    setup.backup = training.backup_method();
    setup.invocation = invocation(&ConnArgs::default(), w);
    let mut model = Model::new(setup, Instant::now());
    model.log.push(
        crate::wizard::model::LogKind::Info,
        format!("training: {}: {}", sc.title, sc.summary),
    );
    model.log.push(
        crate::wizard::model::LogKind::Info,
        format!(
            "kong here is kongrade's stand-in playing Kong {}: Kong's messages, exit codes and migrations lock, bookkeeping only",
            training.target_version
        ),
    );
    let launcher = demo_launcher(&training, speed);
    let poller = Poller {
        source: Source::Memory(training.db.clone()),
        interpreter: training.interpreter(training.settings(w.db_timeout, w.lock_timeout)),
        every: w.refresh,
        timeout: Duration::from_secs(5),
    };
    run(
        model,
        Runtime {
            launcher,
            poller,
            training: Some(training),
            backup: None,
            tick: TICK,
        },
    )
    .await
}
