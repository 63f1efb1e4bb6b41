//! The live pane's source: a background task that reads the database every `--refresh`, keeps
//! one connection, reconnects after any error, and sends each result as a [`Msg::Snapshot`].
//! The app never waits on it: a database that hangs or goes away only makes the pane stale.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::contract::DbIdentity;
use crate::exec::probe::{probe, ProbeOptions};
use crate::kong::diagnose::WritesSinceUp;
use crate::kong::nodes::{classify, NodeClass};
use crate::kong::snapshot::Snapshot;
use crate::kong::version::Version;
use crate::store::{Endpoint, Store, StoreError};
use crate::wizard::{Interpreter, Msg};

/// How long the first count and the preflight may read every route (a jump into 3.x): as
/// long as diagnose's read may (a million routes whose paths are all regexes take seconds).
const ROUTES_READ_BOUND: Duration = Duration::from_secs(60);

/// Where the poller reads from: the database, and the store kept open between reads (dropped
/// after an error or a read that hung, so the next read reconnects).
pub struct Source {
    endpoint: Endpoint,
    conn: Option<Box<dyn Store>>,
}

impl Source {
    pub fn new(endpoint: Endpoint) -> Source {
        Source {
            endpoint,
            conn: None,
        }
    }

    pub async fn read(&mut self) -> Result<Snapshot, StoreError> {
        let store = match self.conn.take() {
            Some(s) => s,
            None => self.endpoint.connect().await?,
        };
        let snap = store.snapshot().await?;
        // Only a connection that just worked is kept: an error reconnects next time.
        self.conn = Some(store);
        Ok(snap)
    }

    /// Rows of Kong's big tables and the regex routes (for the timeout advice and the 016
    /// estimate): the very count `kongrade diagnose` reads. `Ok(None)`: not counted here
    /// (Cassandra, and the training cluster, which has no tables beyond Kong's bookkeeping).
    pub async fn row_counts(
        &mut self,
        snap: &Snapshot,
        routes: bool,
    ) -> Result<Option<Vec<(String, i64)>>, String> {
        let Some(store) = self.conn.as_ref() else {
            return Err("no connection to count with".into());
        };
        crate::store::big_table_counts(store.as_ref(), snap, routes)
            .await
            .map_err(|e| e.to_string())
    }

    /// Entity writes since the journaled `up` (None when not known, or not told by this store).
    async fn writes_since_up(&self, id: &DbIdentity) -> Option<WritesSinceUp> {
        let store = self.conn.as_ref()?;
        crate::cmd::diagnose::writes_since_up(store.as_ref(), id).await
    }

    /// Forgets the connection (after a read that hung).
    fn reset(&mut self) {
        self.conn = None;
    }
}

/// The write watch counts rows in a dozen tables: every 15 s is plenty for advice, and keeps it
/// off the 1 s refresh.
const WRITES_EVERY: Duration = Duration::from_secs(15);

/// Whether a snapshot has pending migrations (the write watch matters only then).
fn has_pending(snap: &Snapshot) -> bool {
    snap.schema_meta.as_ref().is_some_and(|rows| {
        rows.iter()
            .any(|r| r.pending.as_ref().is_some_and(|p| !p.is_empty()))
    })
}

pub struct Poller {
    pub source: Source,
    pub interpreter: Interpreter,
    pub every: Duration,
    /// A read that takes longer is abandoned (and the connection dropped).
    pub timeout: Duration,
    /// A session without a journal (the demo): the model's own runs as the policy's history,
    /// kept current by the app.
    pub own_history: Option<SharedHistory>,
    /// Where `kong::preflight`'s inputs are read (diagnose's gather): after the first count,
    /// and again whenever the app asks for a read at once (the operator's r, a run's end), so
    /// a fixed kong.conf or route is seen. `None`: nothing to gather (the training cluster).
    pub preflight: Option<crate::cmd::preflight::PreflightSource>,
}

/// The model's history as the app last copied it, for the poller's policy.
pub type SharedHistory = Arc<std::sync::Mutex<crate::kong::policy::History>>;

/// Another database to read from (dual-cluster: the clone). Its reading is its own: whatever in
/// the interpreter came from the first database is replaced or read again ([`Poller::switch_to`]).
#[derive(Clone, Debug)]
pub struct Retarget {
    pub endpoint: Endpoint,
    /// The kong.conf that names it (`--clone-conf`), if one does: the `-c` of its findings'
    /// commands and the file its preflight reads. None: the first database's kong.conf stays
    /// (kong reaches the clone through `KONG_PG_*` in its environment).
    pub conf: Option<std::path::PathBuf>,
}

pub struct PollerHandle {
    /// Wakes the poller for an immediate read.
    pub refresh: Arc<Notify>,
    pub task: JoinHandle<()>,
    /// A database to read from the next read on (dual-cluster: the clone).
    pub retarget: Arc<std::sync::Mutex<Option<Retarget>>>,
}

impl PollerHandle {
    pub fn refresh_now(&self) {
        self.refresh.notify_one();
    }

    /// Reads `to` from now on (and at once).
    pub fn retarget(&self, to: Retarget) {
        *self.retarget.lock().unwrap_or_else(|e| e.into_inner()) = Some(to);
        self.refresh_now();
    }
}

impl Poller {
    /// Reads `to` from the next read on. Everything the reading takes from the database is that
    /// database's: its connection in the settings (the findings' psql lines, schema-qualified
    /// SQL), its own journal identity (no other database's `up` for the write watch or the
    /// policy's history), its row counts and preflight read again there. Left alone: the target,
    /// the --db-timeout/--lock-timeout, kong.conf's other settings.
    pub fn switch_to(&mut self, to: Retarget) {
        let i = &mut self.interpreter;
        if let Endpoint::Postgres(o) = &to.endpoint {
            i.settings = crate::cmd::context::settings_on(&i.settings, o, to.conf.as_deref());
            if let Some(p) = self.preflight.as_mut() {
                p.pg = Some(o.clone());
                if let Some(c) = &to.conf {
                    p.conf_path = Some(c.clone());
                }
            }
        }
        if i.journal_id.is_some() {
            i.journal_id = Some(to.endpoint.identity());
        }
        i.history = None;
        i.writes_since_up = None;
        i.row_counts = None;
        i.count_error = None;
        // Gathered again on the first read of it (the poller gathers while it has none).
        i.preflight = None;
        self.source = Source::new(to.endpoint);
    }
}

impl Drop for PollerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the poller; it stops when the receiver of `tx` is gone or the handle is dropped.
pub fn spawn(mut p: Poller, tx: UnboundedSender<Msg>) -> PollerHandle {
    let refresh = Arc::new(Notify::new());
    let wake = refresh.clone();
    let retarget: Arc<std::sync::Mutex<Option<Retarget>>> = Arc::default();
    let new_target = retarget.clone();
    let task = tokio::spawn(async move {
        let mut seq: u64 = 0;
        let mut counted = false;
        let mut writes_checked: Option<Instant> = None;
        // Woken for a read at once (not the timer): the preflight is read again too.
        let mut woken = false;
        loop {
            super::test_panic("poller");
            let next = new_target.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(to) = next {
                // Another database: its own connection, settings, counts and preflight; the
                // wizard learns which read is the first of it, so no earlier one is taken for it.
                p.switch_to(to);
                counted = false;
                writes_checked = None;
                let from_seq = seq + 1;
                let _ = tx.send(Msg::Dual(crate::wizard::dual::DualMsg::Watching {
                    from_seq,
                }));
            }
            seq += 1;
            // The read's start time: a run is judged only by reads that started after it ended.
            let at = Instant::now();
            let result = match tokio::time::timeout(p.timeout, p.source.read()).await {
                Ok(Ok(snap)) => {
                    // Every route is read only for a jump into 3.x (one rule with diagnose);
                    // judged only when something is about to be read, not on every poll.
                    let routes_for = |snap: &Snapshot, it: &Interpreter| {
                        crate::kong::preflight::reads_routes(
                            &crate::kong::state::compute(&it.target, snap, it.catalog),
                            &it.target,
                        )
                    };
                    // A read of every route is work, not a dead server: diagnose's bound
                    // (`PgStore::scan_bound`, a minute at least), not the poll's.
                    let bound = |routes: bool| {
                        if routes {
                            p.timeout.max(ROUTES_READ_BOUND)
                        } else {
                            p.timeout
                        }
                    };
                    if !counted {
                        counted = true;
                        let routes = routes_for(&snap, &p.interpreter);
                        match tokio::time::timeout(
                            bound(routes),
                            p.source.row_counts(&snap, routes),
                        )
                        .await
                        {
                            Ok(Ok(c)) => p.interpreter.row_counts = c,
                            Ok(Err(e)) => p.interpreter.count_error = Some(e),
                            Err(_) => {
                                p.source.reset();
                                p.interpreter.count_error = Some(format!(
                                    "counting did not finish within {} s",
                                    bound(routes).as_secs()
                                ));
                            }
                        }
                    }
                    let mut preflight_timed_out = false;
                    if let Some(src) = p
                        .preflight
                        .as_ref()
                        .filter(|_| woken || p.interpreter.preflight.is_none())
                    {
                        let counts = p.interpreter.row_counts.clone();
                        let routes = routes_for(&snap, &p.interpreter);
                        // kong.conf, the environment and the Lua tree are read first and kept
                        // whatever the database does: a slow read loses only its own checks.
                        let local = src.local(&snap);
                        let gathered = tokio::time::timeout(
                            bound(routes),
                            src.read_database(
                                local.clone(),
                                p.source.conn.as_deref(),
                                counts.as_deref(),
                                None,
                                routes,
                            ),
                        )
                        .await;
                        p.interpreter.preflight = Some(gathered.unwrap_or_else(|_| {
                            preflight_timed_out = true;
                            let mut d = local;
                            d.incomplete.push(format!(
                                "the preflight's database reads (routes, plugins, server version, login) did not finish within {} s",
                                bound(routes).as_secs()
                            ));
                            d
                        }));
                    }
                    if preflight_timed_out {
                        // As after a count that timed out: the session may still be busy with
                        // the abandoned read; the next poll opens a new one.
                        p.source.reset();
                    }
                    if let Some(h) = &p.own_history {
                        p.interpreter.history =
                            Some(h.lock().unwrap_or_else(|e| e.into_inner()).clone());
                    }
                    if let Some(id) = p.interpreter.journal_id.clone() {
                        // Small and local: who ran `up` must be as fresh as the state.
                        p.interpreter.history = crate::exec::journal::open_history(&id);
                        let due = writes_checked.is_none_or(|t| t.elapsed() >= WRITES_EVERY);
                        if !has_pending(&snap) {
                            p.interpreter.writes_since_up = None;
                        } else if due {
                            writes_checked = Some(Instant::now());
                            if let Ok(w) =
                                tokio::time::timeout(p.timeout, p.source.writes_since_up(&id)).await
                            {
                                p.interpreter.writes_since_up = w;
                            }
                        }
                    }
                    Ok(Box::new(p.interpreter.reading(&snap)))
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => {
                    p.source.reset();
                    Err(format!(
                        "the database did not answer within {} s",
                        p.timeout.as_secs()
                    ))
                }
            };
            if let Err(e) = &result {
                tracing::warn!(seq, "read failed: {e}");
            }
            if tx.send(Msg::Snapshot { seq, result, at }).is_err() {
                break;
            }
            woken = tokio::select! {
                _ = tokio::time::sleep(p.every) => false,
                _ = wake.notified() => true,
            };
        }
    });
    PollerHandle {
        refresh,
        task,
        retarget,
    }
}

/// What the node prober asks.
pub enum Probes {
    /// Kong Admin APIs: `GET /` on each at once (`exec::probe`, never longer than its timeout),
    /// classified against the target as `kongrade nodes` does.
    Http {
        urls: Vec<String>,
        opts: ProbeOptions,
        target: Version,
    },
    /// The training cluster's simulated Admin APIs.
    Training(Arc<crate::training::Training>),
}

impl Probes {
    pub async fn probe(&self) -> Vec<(String, NodeClass)> {
        match self {
            Probes::Http { urls, opts, target } => {
                let answers = futures::future::join_all(urls.iter().map(|u| probe(u, opts))).await;
                urls.iter()
                    .zip(answers)
                    .map(|(u, a)| (u.clone(), classify(&a, *target)))
                    .collect()
            }
            Probes::Training(t) => t.probe(),
        }
    }
}

/// How often the Admin APIs are asked.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);

/// Probes the nodes every `every` (or at once when woken) and sends [`Msg::Probed`]. Same
/// handle as the poller's: dropping it stops the task.
pub fn spawn_prober(p: Probes, every: Duration, tx: UnboundedSender<Msg>) -> PollerHandle {
    let refresh = Arc::new(Notify::new());
    let wake = refresh.clone();
    let task = tokio::spawn(async move {
        loop {
            super::test_panic("prober");
            let answers = p.probe().await;
            if tx.send(Msg::Probed(answers)).is_err() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
            }
        }
    });
    PollerHandle {
        refresh,
        task,
        retarget: Arc::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::Catalog;
    use crate::training;
    use crate::tui::view::render_to_string;
    use crate::wizard::{update, Model, Setup, Step};

    /// Feeds poller messages to the model until `done` holds (or fails after 5 s).
    async fn pump(
        m: &mut Model,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
        done: impl Fn(&Model) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(m) {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, rx.recv())
                .await
                .expect("condition reached within 5 s")
                .expect("poller alive");
            update(m, Msg::Tick(Instant::now()));
            update(m, msg);
        }
    }

    #[tokio::test]
    async fn a_database_that_goes_away_shows_stale_then_recovers_by_itself() {
        let cat = Catalog::embedded();
        let t = training::scenario("clean")
            .and_then(|s| s.build(cat, 1.0))
            .expect("scenario");
        let db = t.db.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = spawn(
            Poller {
                source: Source::new(Endpoint::Memory(db.clone())),
                interpreter: t.interpreter(t.settings(None, None)),
                every: Duration::from_millis(10),
                timeout: Duration::from_secs(1),
                own_history: None,
                preflight: None,
            },
            tx,
        );
        let mut m = Model::new(
            Setup::new("training cluster 'clean'", Some(t.target_version)),
            Instant::now(),
        );
        pump(&mut m, &mut rx, |m| m.step == Step::Preflight).await;

        db.lock_tables().unavailable = true;
        pump(&mut m, &mut rx, |m| m.db.failures >= 3).await;
        assert!(m.db.stale());
        assert_eq!(
            m.step,
            Step::Preflight,
            "the app goes on; only the pane is stale"
        );
        let screen = render_to_string(&m, 80, 24);
        assert!(screen.contains("STALE"), "{screen}");
        assert!(screen.contains("training database is down"), "{screen}");

        db.lock_tables().unavailable = false;
        pump(&mut m, &mut rx, |m| !m.db.stale()).await;
        assert!(m.log.lines.iter().any(|l| l.text.contains("answers again")));
        assert!(!render_to_string(&m, 80, 24).contains("STALE"));
        drop(handle);
    }

    #[tokio::test]
    async fn refresh_reads_at_once_and_sequence_numbers_grow() {
        let cat = Catalog::embedded();
        let t = training::scenario("clean")
            .and_then(|s| s.build(cat, 1.0))
            .expect("scenario");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = spawn(
            Poller {
                source: Source::new(Endpoint::Memory(t.db.clone())),
                interpreter: t.interpreter(t.settings(None, None)),
                every: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
                own_history: None,
                preflight: None,
            },
            tx,
        );
        let first = rx.recv().await.expect("first read");
        handle.refresh_now();
        let second = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("refresh answered at once")
            .expect("alive");
        match (first, second) {
            (Msg::Snapshot { seq: a, at: ta, .. }, Msg::Snapshot { seq: b, at: tb, .. }) => {
                assert!(b > a && tb >= ta);
            }
            other => panic!("{other:?}"),
        }
    }
}
