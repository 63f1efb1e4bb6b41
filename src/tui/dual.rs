//! The dual-cluster jobs of the wizard (`wizard::dual::DualJob`): the clone through
//! `exec::clone` (its proof), kong on the clone (the clone's connection in kong's environment,
//! the source's `schema_meta` read before and after), the new nodes probed as auto probes them
//! (`judge_new_node`, `smoke`), the write guard (`kong::write_guard::judge`). In the demo the
//! same jobs run on the training cluster's simulated clone. Each reports as `Msg::Dual`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::cmd::auto::{judge_new_node, run_smokes, Smoke};
use crate::contract::clone::{CloneRecord, PlaceAtStart, TableMark};
use crate::contract::{Invocation, KongCommand, RunEvent, RunId};
use crate::exec::probe::{self, ProbeOptions};
use crate::exec::runner::{self, KongTarget, RunHandle};
use crate::kong::nodes::ProbeAnswer;
use crate::kong::version::Version;
use crate::kong::write_guard;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::Endpoint;
use crate::training::Training;
use crate::wizard::dual::{DualJob, DualMsg, Guard, NewClusterReport};
use crate::wizard::Msg;

use super::launcher::RunControl;

/// Where the dual-cluster jobs run.
pub enum DualRuntime {
    Pg(Box<PgDual>),
    /// The demo: the training cluster's simulated clone, the stand-in's migration delay.
    Training {
        t: Arc<Training>,
        delay: Duration,
    },
}

/// A real dual-cluster upgrade on PostgreSQL.
pub struct PgDual {
    pub source: PgOptions,
    pub clone: PgOptions,
    /// `--clone-conf`: the kong.conf that names the clone (its findings' `-c`).
    pub clone_conf: Option<std::path::PathBuf>,
    /// The new kong, its environment pointed at the clone.
    pub kong: KongTarget,
    pub probe: ProbeOptions,
    pub admin_urls: Vec<String>,
    pub status_urls: Vec<String>,
    pub smoke: Vec<Smoke>,
    pub target: Option<Version>,
}

fn join_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

impl DualRuntime {
    /// What the live pane reads once the clone exists: the clone, with its own kong.conf when
    /// one names it.
    pub fn clone_target(&self) -> Option<super::poller::Retarget> {
        match self {
            DualRuntime::Pg(p) => Some(super::poller::Retarget {
                endpoint: Endpoint::Postgres(p.clone.clone()),
                conf: p.clone_conf.clone(),
            }),
            DualRuntime::Training { t, .. } => t.clone.as_ref().map(|c| super::poller::Retarget {
                endpoint: Endpoint::Memory(c.db.clone()),
                conf: None,
            }),
        }
    }

    /// The source's schema_meta as text (compared around each kong run on the clone).
    async fn source_meta(&self) -> Result<String, String> {
        match self {
            DualRuntime::Pg(p) => {
                // Bounded: a source that hangs must not leave a finished run looking alive.
                let wait = p.source.timeout.max(Duration::from_secs(5)) * 2;
                match tokio::time::timeout(wait, crate::exec::clone::source_schema_meta(&p.source))
                    .await
                {
                    Ok(r) => r.map(|rows| rows.join("\n")).map_err(|e| format!("{e:#}")),
                    Err(_) => Err(format!("no answer within {} s", wait.as_secs())),
                }
            }
            DualRuntime::Training { t, .. } => Ok(format!("{:?}", t.db.lock_tables().schema_meta)),
        }
    }

    fn source_changed(&self, command: KongCommand) -> String {
        match self {
            DualRuntime::Pg(p) => {
                crate::exec::clone::source_changed_message(&p.source, command.as_str())
            }
            DualRuntime::Training { .. } => format!(
                "STOP: 'kong migrations {}' changed the SOURCE: this kong did not use the clone.",
                command.as_str()
            ),
        }
    }

    /// The new kong pointed at the clone, carrying the run's marker.
    fn kong(&self, marker: &str) -> KongTarget {
        match self {
            DualRuntime::Pg(p) => super::launcher::marked(&p.kong, marker),
            DualRuntime::Training { t, delay } => {
                let mut k = t.kong(*delay);
                if let (KongTarget::InProcess { db, .. }, Some(c)) = (&mut k, &t.clone) {
                    *db = c.db.clone();
                }
                k
            }
        }
    }

    async fn inspect(&self) -> Result<PlaceAtStart, String> {
        match self {
            DualRuntime::Pg(p) => crate::exec::clone::place_at_start(&p.clone).await,
            DualRuntime::Training { t, .. } => {
                let Some(c) = t.clone.as_ref() else {
                    return Ok(PlaceAtStart::Absent);
                };
                Ok(match c.occupied() {
                    None => PlaceAtStart::Absent,
                    Some(0) => PlaceAtStart::Empty,
                    Some(relations) => {
                        let marks = c.source_marks();
                        PlaceAtStart::Held {
                            relations,
                            tables: marks.len() as i64,
                            rows: marks.iter().map(|m| m.rows).sum(),
                        }
                    }
                })
            }
        }
    }

    async fn take_clone(
        &self,
        replace: bool,
        tx: &UnboundedSender<Msg>,
    ) -> Result<CloneRecord, String> {
        let say = |l: &str| {
            let _ = tx.send(Msg::Dual(DualMsg::CloneLine(l.to_string())));
        };
        match self {
            DualRuntime::Pg(p) => {
                crate::exec::clone::clone_database(&p.source, &p.clone, replace, say)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
            DualRuntime::Training { t, delay } => {
                let c = t
                    .clone
                    .as_ref()
                    .ok_or("this scenario has no clone".to_string())?;
                say(&format!(
                    "Clone database training:{} {} (PostgreSQL 15 on both servers, simulated).",
                    c.spec.clone_database,
                    if c.occupied().is_some() {
                        "dropped and re-created"
                    } else {
                        "created"
                    }
                ));
                say("Streaming pg_dump | pg_restore at the source's snapshot (simulated)...");
                tokio::time::sleep(*delay * 3).await;
                say("Copied; proving the clone...");
                Ok(c.take(
                    &t.db,
                    &format!("training:{}", t.scenario.name),
                    &clone_name(t),
                ))
            }
        }
    }

    async fn probe(&self) -> NewClusterReport {
        let mut ok = Vec::new();
        let mut problems = Vec::new();
        match self {
            DualRuntime::Pg(p) => {
                for url in &p.admin_urls {
                    let root = probe::probe(&join_url(url, "/"), &p.probe).await;
                    let status = probe::probe(&join_url(url, "/status"), &p.probe).await;
                    let found = judge_new_node(&root, &status, p.target);
                    if found.is_empty() {
                        ok.push(format!(
                            "{url}: Kong {}, database reachable",
                            p.target.map(|v| v.to_string()).unwrap_or_default()
                        ));
                    }
                    problems.extend(found.into_iter().map(|x| format!("{url}: {x}")));
                }
                // /status/ready is Kong 3.3+'s (kong-upgrades.md 4.2), on the Status API.
                let needs_ready = p.target.is_some_and(|v| v >= Version::new(3, 3, 0));
                if needs_ready && p.status_urls.is_empty() {
                    ok.push("/status/ready not checked: it is on the Status API; give --new-status-url to check it".into());
                }
                for url in &p.status_urls {
                    match probe::probe(&join_url(url, "/status/ready"), &p.probe).await {
                        ProbeAnswer::Http { status: 200, .. } => {
                            ok.push(format!("{url}/status/ready: ready"))
                        }
                        ProbeAnswer::Http { status, .. } => {
                            problems.push(format!("{url}/status/ready answered HTTP {status}"))
                        }
                        ProbeAnswer::Failed { error } => {
                            problems.push(format!("{url}/status/ready: {error}"))
                        }
                    }
                }
                for r in run_smokes(&p.smoke, p.probe.timeout).await {
                    match r.verdict() {
                        Ok(line) => ok.push(line),
                        Err(problem) => problems.push(problem),
                    }
                }
            }
            DualRuntime::Training { t, .. } => {
                let Some(c) = &t.clone else {
                    problems.push("this scenario has no new cluster".into());
                    return NewClusterReport { ok, problems };
                };
                let ready =
                    c.db.snapshot()
                        .ok()
                        .map(|snap| {
                            crate::kong::state::compute(
                                &t.target,
                                &snap,
                                crate::kong::catalog::Catalog::embedded(),
                            )
                        })
                        .is_some_and(|s| s.up_to_date());
                for n in &c.spec.new_nodes {
                    if ready {
                        ok.push(format!(
                            "{n} (training): Kong {}, database reachable, /status/ready 200",
                            t.target_version
                        ));
                        ok.push(format!(
                            "smoke GET http://{n}:8000/health 200 (training): 200 as expected"
                        ));
                    } else {
                        problems.push(format!(
                            "{n} (training): does not start: the clone's migrations are not finished (Kong: database needs bootstrapping or is older than Kong)"
                        ));
                    }
                }
            }
        }
        NewClusterReport { ok, problems }
    }

    async fn guard(&self, then: &[TableMark]) -> Result<Guard, String> {
        let now = match self {
            DualRuntime::Pg(p) => {
                let store = PgStore::connect(&p.source)
                    .await
                    .map_err(|e| format!("the source: {e}"))?;
                store
                    .table_marks()
                    .await
                    .map_err(|e| format!("the source: {e}"))?
            }
            DualRuntime::Training { t, .. } => t
                .clone
                .as_ref()
                .map(|c| {
                    c.traffic_flows();
                    c.source_marks()
                })
                .unwrap_or_default(),
        };
        let v = write_guard::judge(then, &now);
        Ok(Guard {
            stale: v.stale.iter().map(|c| c.table.clone()).collect(),
            diverging: v.diverging.iter().map(|c| c.table.clone()).collect(),
            lines: v.lines(),
        })
    }

    /// Carries out a job other than kong's run and Watch (the app's): its report.
    pub(crate) async fn report(&self, job: &DualJob, tx: &UnboundedSender<Msg>) -> Option<DualMsg> {
        Some(match job {
            DualJob::Inspect => DualMsg::Inspected(self.inspect().await),
            DualJob::Clone { replace } => {
                DualMsg::Cloned(self.take_clone(*replace, tx).await.map(Box::new))
            }
            DualJob::Probe => DualMsg::Probed(self.probe().await),
            DualJob::Guard { then } => DualMsg::Guarded(self.guard(then).await),
            DualJob::Watch | DualJob::Kong { .. } => return None,
        })
    }

    /// After a kong run on the clone: the training cluster's write on the old cluster happens
    /// once finish is done, while the trainee is about to shift traffic.
    fn after_run(&self, command: KongCommand) -> Option<String> {
        match self {
            DualRuntime::Training { t, .. } if command == KongCommand::Finish => {
                t.clone.as_ref().and_then(|c| c.write_once())
            }
            _ => None,
        }
    }
}

/// How the training clone is shown (`training:lts-dual-cluster -> kong_new`).
pub fn clone_name(t: &Training) -> String {
    format!(
        "training:{}",
        t.clone
            .as_ref()
            .map(|c| c.spec.clone_database.as_str())
            .unwrap_or("clone")
    )
}

/// A run's control before its handle exists (the source is read first): an interrupt or kill
/// asked meanwhile is applied as soon as it starts.
#[derive(Default)]
pub(crate) struct SlotState {
    handle: Option<RunHandle>,
    interrupt: bool,
    kill: bool,
}

#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<Mutex<SlotState>>);

impl Slot {
    fn with(&self, f: impl FnOnce(&mut SlotState)) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }
}

impl RunControl for Slot {
    fn interrupt(&self) {
        self.with(|s| match &s.handle {
            Some(h) => h.interrupt(),
            None => s.interrupt = true,
        });
    }
    fn kill(&self) {
        self.with(|s| match &s.handle {
            Some(h) => h.kill(),
            None => s.kill = true,
        });
    }
}

impl super::App {
    /// Carries out a dual-cluster job; its results come back as messages.
    pub(super) fn dual_job(&mut self, job: DualJob) {
        let Some(rt) = self.dual.clone() else {
            let _ = self.tx.send(Msg::Note {
                warn: true,
                text: "dual-cluster is not set up in this session".into(),
            });
            return;
        };
        let tx = self.tx.clone();
        match job {
            DualJob::Watch => {
                if let Some(to) = rt.clone_target() {
                    self.poller.retarget(to);
                }
            }
            DualJob::Clone { .. } => {
                tracing::info!("taking the clone");
                self.dual_tasks.push(tokio::spawn(async move {
                    if let Some(msg) = rt.report(&job, &tx).await {
                        let _ = tx.send(Msg::Dual(msg));
                    }
                }));
            }
            DualJob::Inspect | DualJob::Probe | DualJob::Guard { .. } => {
                tokio::spawn(async move {
                    if let Some(msg) = rt.report(&job, &tx).await {
                        let _ = tx.send(Msg::Dual(msg));
                    }
                });
            }
            DualJob::Kong {
                id,
                command,
                marker,
            } => {
                let mut inv: Invocation = self.model.setup.invocation.clone();
                inv.command = command;
                self.live().insert(id);
                let slot = Slot::default();
                self.runs.push((id, Box::new(slot.clone())));
                let run_tx = self.run_tx.clone();
                tokio::spawn(async move {
                    run_on_clone(rt, id, command, marker, inv, slot, run_tx, tx).await
                });
            }
        }
    }
}

/// kong on the clone: the source read before, the run (its events to the wizard as any run's),
/// the source read after and compared.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_on_clone(
    rt: Arc<DualRuntime>,
    id: RunId,
    command: KongCommand,
    marker: String,
    inv: Invocation,
    slot: Slot,
    run_tx: UnboundedSender<(RunId, RunEvent)>,
    tx: UnboundedSender<Msg>,
) {
    let before = match rt.source_meta().await {
        Ok(b) => b,
        Err(e) => {
            // Without the source's state before, no run could be proven harmless: none starts.
            let _ = run_tx.send((
                id,
                RunEvent::SpawnFailed {
                    message: format!("the source's schema_meta could not be read first: {e}"),
                },
            ));
            return;
        }
    };
    let (ktx, mut krx) = tokio::sync::mpsc::unbounded_channel();
    let handle = runner::start(&rt.kong(&marker), &inv, id, ktx);
    slot.with(|s| {
        if s.kill {
            handle.kill();
        } else if s.interrupt {
            handle.interrupt();
        }
        s.handle = Some(handle);
    });
    let mut exited = false;
    while let Some((rid, ev)) = krx.recv().await {
        let end = matches!(ev, RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. });
        exited |= matches!(ev, RunEvent::Exited { .. });
        // Held back until the source is compared: the wizard judges the run on both.
        if end {
            let after = rt.source_meta().await;
            let check = match after {
                Ok(a) if a == before => Ok(()),
                Ok(_) => Err(rt.source_changed(command)),
                Err(e) => Err(format!(
                    "the source's schema_meta could not be read after the run ({e}): kongrade cannot prove kong left it alone; check it with kongrade status before going on"
                )),
            };
            if exited {
                let _ = tx.send(Msg::Dual(DualMsg::SourceChecked(id, check.clone())));
                if check.is_ok() {
                    if let Some(note) = rt.after_run(command) {
                        let _ = tx.send(Msg::Note {
                            warn: true,
                            text: note,
                        });
                    }
                }
            }
            let _ = run_tx.send((rid, ev));
            break;
        }
        let _ = run_tx.send((rid, ev));
    }
}
