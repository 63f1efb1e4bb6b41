//! ADAPTER POINT for `kongrade demo`: a minimal in-process kong that runs `migrations
//! bootstrap|up|finish` against the training cluster's [`MemoryDb`], writing rows as Kong does
//! (kong-migrations.md sections 2, 3, 5) and printing Kong's lines. It exists so the demo works
//! end to end until engineer A's in-process stand-in is merged; that stand-in replaces this file
//! behind the same [`Launcher`] trait (see `tui::demo_launcher`).
//!
//! Simplified on purpose: `up` on a held lock aborts at once (Kong waits up to --lock-timeout),
//! and there is no --force.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;

use super::launcher::{Launcher, RunControl};
use crate::exec::runner::{Invocation, KongCommand, RunEvent, RunId, Stream};
use crate::kong::catalog::Db;
use crate::kong::snapshot::SchemaMetaRow;
use crate::kong::target::Target;
use crate::store::memory::MemoryDb;

pub struct TrainingKong {
    pub db: MemoryDb,
    pub target: Arc<Target>,
    /// Time one migration takes.
    pub step: Duration,
    /// Kong's --lock-timeout (scaled with the demo's speed).
    pub lock_ttl: Duration,
}

struct Ctl {
    signal: AtomicI32,
    wake: Notify,
}

struct SimRun(Arc<Ctl>);

impl RunControl for SimRun {
    fn interrupt(&self) {
        self.0.signal.store(libc::SIGINT, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
    fn kill(&self) {
        self.0.signal.store(libc::SIGKILL, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

impl Launcher for TrainingKong {
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
    ) -> Box<dyn RunControl> {
        let ctl = Arc::new(Ctl {
            signal: AtomicI32::new(0),
            wake: Notify::new(),
        });
        let sim = Sim {
            db: self.db.clone(),
            target: self.target.clone(),
            step: self.step,
            lock_ttl: self.lock_ttl,
            run,
            tx,
            ctl: ctl.clone(),
        };
        let inv = inv.clone();
        tokio::spawn(async move {
            let code = sim.run(&inv).await;
            let ev = match code {
                Ok(c) => RunEvent::Exited {
                    code: Some(c),
                    signal: None,
                },
                Err(sig) => RunEvent::Exited {
                    code: None,
                    signal: Some(sig),
                },
            };
            let _ = sim.tx.send((run, ev));
        });
        Box::new(SimRun(ctl))
    }
}

struct Sim {
    db: MemoryDb,
    target: Arc<Target>,
    step: Duration,
    lock_ttl: Duration,
    run: RunId,
    tx: UnboundedSender<(RunId, RunEvent)>,
    ctl: Arc<Ctl>,
}

/// A migration to run: subsystem, name, two-phase.
type Todo = (String, String, bool);

impl Sim {
    fn line(&self, stream: Stream, text: impl Into<String>) {
        let _ = self.tx.send((
            self.run,
            RunEvent::Line {
                stream,
                text: text.into(),
            },
        ));
    }

    fn out(&self, text: impl Into<String>) {
        self.line(Stream::Stdout, text);
    }

    /// Kong's error shape, exit 1.
    fn fail(&self, msg: &str) -> Result<i32, i32> {
        self.line(Stream::Stderr, format!("Error: {msg}"));
        self.line(Stream::Stderr, "");
        self.line(
            Stream::Stderr,
            "  Run with --v (verbose) or --vv (debug) for more details",
        );
        Ok(1)
    }

    /// Exit code, or the signal that ended the run.
    async fn run(&self, inv: &Invocation) -> Result<i32, i32> {
        let _ = self.tx.send((
            self.run,
            RunEvent::Started {
                command_line: format!("kong {} (training stand-in)", inv.kong_args().join(" ")),
            },
        ));
        let cmd = inv.command;
        if !matches!(
            cmd,
            KongCommand::Bootstrap | KongCommand::Up | KongCommand::Finish
        ) {
            self.out("the training stand-in simulates bootstrap, up and finish only");
            return Ok(0);
        }
        let owner = format!("training-run-{}", self.run);
        let todo: Vec<Todo> = {
            let mut t = self.db.lock_tables();
            if t.unavailable {
                drop(t);
                return self.fail("[PostgreSQL error] failed to connect: connection refused (the training database is down)");
            }
            let needs_bootstrap = t.schema_meta.is_none();
            let any_pending = t
                .schema_meta
                .iter()
                .flat_map(|m| m.values())
                .any(|r| r.pending.as_ref().is_some_and(|p| !p.is_empty()));
            let (todo, nothing) = match cmd {
                KongCommand::Bootstrap if !needs_bootstrap => {
                    (Vec::new(), "Database already bootstrapped")
                }
                KongCommand::Bootstrap => (self.all(), ""),
                _ if needs_bootstrap => {
                    drop(t);
                    return self.fail("Cannot run migrations: Database needs bootstrapping or is older than Kong 1.0.");
                }
                KongCommand::Up if any_pending => {
                    drop(t);
                    return self
                        .fail("Database has pending migrations; run 'kong migrations finish'");
                }
                KongCommand::Up => (
                    self.new_ones(&t.schema_meta),
                    "Database is already up-to-date",
                ),
                _ => (
                    self.pending_ones(&t.schema_meta),
                    "No pending migrations to finish",
                ),
            };
            if todo.is_empty() {
                drop(t);
                self.out(nothing);
                return Ok(0);
            }
            if t.lock.as_ref().is_some_and(|l| l.expires >= Instant::now()) {
                drop(t);
                self.out("aborted: another node is performing database changes");
                return Ok(0);
            }
            t.lock = Some(MemoryDb::lock_for(&owner, self.lock_ttl));
            if cmd == KongCommand::Bootstrap {
                t.schema_meta = Some(BTreeMap::new());
            }
            todo
        };
        if cmd == KongCommand::Bootstrap {
            self.out("Bootstrapping database...");
        }
        let mut current = String::new();
        let (mut executed, mut pending) = (0, 0);
        for (sub, name, two_phase) in &todo {
            if *sub != current {
                self.out(format!("migrating {sub} on database 'kong'..."));
                current = sub.clone();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.step) => {}
                _ = self.ctl.wake.notified() => {}
            }
            // Killed mid-way: what ran stays recorded, and so does the lock (Kong does not
            // release it), exactly the mess the stale-lock scenario trains for.
            let sig = self.ctl.signal.load(Ordering::SeqCst);
            if sig != 0 {
                return Err(sig);
            }
            let mut t = self.db.lock_tables();
            if t.unavailable {
                drop(t);
                return self
                    .fail("[PostgreSQL error] connection lost (the training database went down)");
            }
            let Some(meta) = t.schema_meta.as_mut() else {
                drop(t);
                return self.fail("schema_meta disappeared");
            };
            let row = meta.entry(sub.clone()).or_insert_with(|| SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: sub.clone(),
                ..SchemaMetaRow::default()
            });
            let state = match cmd {
                KongCommand::Up if *two_phase => {
                    row.pending.get_or_insert_with(Vec::new).push(name.clone());
                    pending += 1;
                    "pending"
                }
                KongCommand::Finish => {
                    if let Some(p) = row.pending.as_mut() {
                        p.retain(|x| x != name);
                    }
                    row.executed.get_or_insert_with(Vec::new).push(name.clone());
                    row.last_executed = Some(name.clone());
                    executed += 1;
                    "executed"
                }
                _ => {
                    row.executed.get_or_insert_with(Vec::new).push(name.clone());
                    row.last_executed = Some(name.clone());
                    executed += 1;
                    "executed"
                }
            };
            drop(t);
            self.out(format!("{sub} migrated up to: {name} ({state})"));
        }
        {
            let mut t = self.db.lock_tables();
            if t.lock.as_ref().is_some_and(|l| l.owner == owner) {
                t.lock = None;
            }
        }
        self.out(format!("{} migrations processed", todo.len()));
        self.out(format!("{executed} executed"));
        if cmd == KongCommand::Up {
            self.out(format!("{pending} pending"));
        }
        if pending > 0 {
            self.out("Database has pending migrations; run 'kong migrations finish' when ready");
        } else {
            self.out("Database is up-to-date");
        }
        Ok(0)
    }

    fn all(&self) -> Vec<Todo> {
        self.target
            .subsystems
            .iter()
            .flat_map(|s| {
                s.migrations
                    .iter()
                    .map(|m| (s.name.clone(), m.name.clone(), false))
            })
            .collect()
    }

    fn new_ones(&self, meta: &Option<BTreeMap<String, SchemaMetaRow>>) -> Vec<Todo> {
        let mut out = Vec::new();
        for s in &self.target.subsystems {
            let row = meta.as_ref().and_then(|m| m.get(&s.name));
            for m in &s.migrations {
                let recorded = row.is_some_and(|r| {
                    r.executed
                        .iter()
                        .chain(r.pending.iter())
                        .flatten()
                        .any(|x| x == &m.name)
                });
                if !recorded {
                    out.push((s.name.clone(), m.name.clone(), m.two_phase(Db::Postgres)));
                }
            }
        }
        out
    }

    fn pending_ones(&self, meta: &Option<BTreeMap<String, SchemaMetaRow>>) -> Vec<Todo> {
        let mut out = Vec::new();
        for s in &self.target.subsystems {
            let Some(row) = meta.as_ref().and_then(|m| m.get(&s.name)) else {
                continue;
            };
            for m in &s.migrations {
                if row.pending.iter().flatten().any(|x| x == &m.name) {
                    out.push((s.name.clone(), m.name.clone(), true));
                }
            }
        }
        out
    }
}
