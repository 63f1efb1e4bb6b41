//! `auto --strategy dual-cluster`: Kong's recommended procedure for a second cluster. The source
//! database is cloned and proven (`exec::clone`), the clone migrated (`up`, then `finish`, by
//! the new kong with the clone's connection in its environment), the write guard run, the new
//! cluster's nodes probed and smoke-tested, and the traffic checklist printed. The source is
//! never written: kong never sees it, and the clone reads it in a read-only session.
//!
//! Every action is journaled in the source's upgrade journal as a step (`dual-cluster clone`,
//! `dual-cluster up`, `dual-cluster finish`) with `started` before and `done` after, so a run
//! killed anywhere resumes without repeating one: a done clone is not taken again (its proof is
//! read back), a kong step started by a killed run is waited for (its marker in kong's
//! environment), and the clone's own `schema_meta` says whether `up` or `finish` is still due.
//! The checks (write guard, probes, smoke tests) are read-only and run again on every run: a
//! stale answer from an earlier run proves nothing now. kong's runs are not journaled as
//! `command` entries: those describe the source database, which this procedure never migrates.

use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, Result};

use super::report::Reporter;
use super::{exit, stop, AutoArgs, Interrupts, Session, Stopped};
use crate::contract::clone::CloneRecord;
use crate::contract::journal::{Event, ReadBack};
use crate::contract::{Invocation, KongCommand, RunEvent, Stream};
use crate::exec::clone::{self, CloneSpec};
use crate::exec::probe::{self, ProbeOptions};
use crate::exec::process::RUN_MARKER_ENV;
use crate::exec::runner::{self, KongTarget};
use crate::kong::nodes::ProbeAnswer;
use crate::kong::state::{self, MigState};
use crate::kong::version::Version;
use crate::kong::write_guard;
use crate::store::postgres::{PgOptions, PgStore};

// Its exit codes live with the others in the policy (one place for every rule).
use crate::kong::policy::exit::{CLONE_FAILED, CLONE_STALE, NEW_CLUSTER_NOT_READY};

const STEP_CLONE: &str = "dual-cluster clone";

/// `--smoke METHOD URL STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smoke {
    pub method: String,
    pub url: String,
    pub status: u16,
}

/// Parses `GET http://10.0.0.9:8000/health 200`.
pub fn parse_smoke(s: &str) -> Result<Smoke, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [method, url, status] = parts.as_slice() else {
        return Err(format!(
            "--smoke '{s}': expected METHOD URL STATUS, e.g. 'GET http://new-proxy:8000/health 200'"
        ));
    };
    let method = method.to_ascii_uppercase();
    if !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!("--smoke '{s}': '{method}' is not an HTTP method"));
    }
    let u = probe::parse_url(url).map_err(|e| format!("--smoke '{s}': {e}"))?;
    // Refused here, at the command line, not after in-place's downtime has begun.
    if u.tls {
        return Err(format!(
            "--smoke '{s}': https smoke URLs are not supported yet: use the proxy's http listener"
        ));
    }
    let status: u16 = status
        .parse()
        .ok()
        .filter(|n| (100..600).contains(n))
        .ok_or_else(|| format!("--smoke '{s}': '{status}' is not an HTTP status"))?;
    Ok(Smoke {
        method,
        url: url.to_string(),
        status,
    })
}

/// What dual-cluster needs beyond auto's flags.
#[derive(Debug, Clone, Default)]
pub struct DualArgs {
    pub clone: CloneSpec,
    /// The new cluster's Admin APIs (probed: `GET /` version, `/status` database.reachable).
    pub new_admin_urls: Vec<String>,
    /// The new cluster's Status APIs (`/status/ready`, Kong 3.3+).
    pub new_status_urls: Vec<String>,
    pub smoke: Vec<Smoke>,
}

impl DualArgs {
    /// Whether any of dual-cluster's own flags was given.
    pub fn is_given(&self) -> bool {
        // (--new-admin-url is in-place's too.)
        self.clone.is_given()
            || self.clone.replace
            || !self.new_status_urls.is_empty()
            || !self.smoke.is_empty()
    }
}

/// The phase a step of this procedure reached, from the journal (`started` or `done`), and the
/// detail of that entry.
const STEP_WRITE_GUARD: &str = "dual-cluster write guard";

fn last_phase(rb: &ReadBack, step: &str) -> Option<(String, Option<String>)> {
    rb.entries.iter().rev().find_map(|e| match &e.event {
        Event::Step {
            step: s,
            phase,
            detail,
        } if s == step => Some((phase.clone(), detail.clone())),
        _ => None,
    })
}

fn step_event(step: &str, phase: &str, detail: Option<String>) -> Event {
    Event::Step {
        step: step.to_string(),
        phase: phase.to_string(),
        detail,
    }
}

/// The whole procedure; ends with the run's stop (0: ready for the traffic shift).
/// `hops`: the releases of the path with their kongs (empty: one kong, the session's).
pub(super) async fn run(
    s: &mut Session,
    args: &AutoArgs,
    hops: &[super::hops::Hop],
    rep: &mut Reporter,
    interrupts: &mut Interrupts,
) -> Result<Stopped> {
    let d = &args.dual;
    let Some(source) = s.ctx.conn.pg().cloned() else {
        return Ok(stop(
            exit::NOT_AVAILABLE,
            "option_not_available",
            "--strategy dual-cluster clones the database with pg_dump | pg_restore: PostgreSQL only",
        ));
    };
    if !d.clone.is_given() {
        return Ok(stop(
            exit::ERROR,
            "clone_not_given",
            "--strategy dual-cluster needs the clone's place: --clone-database NAME (same server), or --clone-pg-host/--clone-pg-port/--clone-pg-user/--clone-pg-database, or --clone-conf FILE",
        ));
    }
    let target = match d.clone.resolve(&source, None) {
        Ok(t) => t,
        Err(e) => return Ok(stop(CLONE_FAILED, "clone_failed", format!("{e:#}"))),
    };
    rep.say(&format!(
        "\nDual-cluster: the source {} stays as it is (the old cluster keeps serving from it); the new cluster runs on the clone {}.",
        source.describe(),
        target.describe()
    ));

    // A kong run by `docker exec` and the like never sees the clone's connection: refused
    // before anything is cloned, whichever hop it runs.
    if let Some(why) = super::hops::clone_unreachable(&s.kong, hops) {
        return Ok(stop(exit::ERROR, "kong_ignores_environment", why));
    }

    // 1. The clone, proven.
    let rec = match clone_step(s, &source, &target, &d.clone, rep).await? {
        Ok(rec) => rec,
        Err(stopped) => return Ok(stopped),
    };

    // 2, 3. The clone migrated by the new kong (each hop's own, proven before the next). The
    // clone is read with its own settings: its findings name the clone, not the source.
    let settings = crate::cmd::context::settings_on(
        &s.ctx
            .settings(s.template.db_timeout, s.template.lock_timeout),
        &target,
        d.clone.conf.as_deref(),
    );
    let on_clone = |kong: &KongTarget| super::hops::on_clone(kong, &target);
    if hops.is_empty() {
        let kong = on_clone(&s.kong);
        for command in [KongCommand::Up, KongCommand::Finish] {
            if let Some(stopped) = kong_step(
                s, &kong, &source, &target, &settings, command, None, args, rep, interrupts,
            )
            .await?
            {
                return Ok(stopped);
            }
        }
    }
    let n = hops.len();
    for (i, hop) in hops.iter().enumerate() {
        let label = super::hops::label(i, n, hop.version);
        s.ctx.target = hop.target.clone();
        let kong = on_clone(&hop.kong);
        rep.say(&format!(
            "\n== {} on the clone",
            super::hops::capital(&label)
        ));
        for command in [KongCommand::Up, KongCommand::Finish] {
            if let Some(mut stopped) = kong_step(
                s,
                &kong,
                &source,
                &target,
                &settings,
                command,
                Some(hop.version),
                args,
                rep,
                interrupts,
            )
            .await?
            {
                stopped.message = format!("Stopped in {label}: {}", stopped.message);
                return Ok(stopped);
            }
        }
        let store = PgStore::connect(&target)
            .await
            .map_err(|e| eyre!("the clone: {e}"))?;
        let snap = store
            .snapshot()
            .await
            .map_err(|e| eyre!("the clone: {e}"))?;
        let step = format!("dual-cluster {label}");
        if let Err(why) = super::hops::Proof::of(hop, &snap, s.ctx.catalog).verdict {
            s.journal
                .append(step_event(&step, "failed", Some(why.clone())))?;
            return Ok(stop(
                exit::KONG_FAILED,
                "hop_unproven",
                format!(
                    "{} is not complete on the clone: {why}. The next hop was not started; the source is untouched.",
                    super::hops::capital(&label),
                ),
            ));
        }
        s.journal.append(step_event(
            &step,
            "done",
            Some(format!("every migration of Kong {} executed", hop.version)),
        ))?;
        rep.say(&format!(
            "  Proven on the clone: every migration of Kong {} is executed.",
            hop.version
        ));
    }

    // 4. The write guard: the source against itself at the clone's snapshot.
    let store = PgStore::connect(&source)
        .await
        .map_err(|e| eyre!("the source: {e}"))?;
    let now = store
        .table_marks()
        .await
        .map_err(|e| eyre!("the source: {e}"))?;
    let verdict = write_guard::judge(&rec.tables, &now);
    for l in verdict.lines() {
        rep.say(&l);
    }
    s.journal.append(step_event(
        STEP_WRITE_GUARD,
        if verdict.is_stale() { "failed" } else { "done" },
        Some(verdict.lines().join("\n")),
    ))?;
    if verdict.is_stale() {
        return Ok(stop(
            CLONE_STALE,
            "clone_stale",
            format!(
                "The clone {} is stale: the source's configuration changed after it (above). Keep configuration writes frozen, then run again with --clone-replace for a new clone (it is migrated again).",
                target.describe()
            ),
        ));
    }

    // 5. The new cluster.
    if let Some(stopped) = new_cluster(s, d, &target, &args.nodes.probe, rep).await? {
        return Ok(stopped);
    }
    s.journal
        .append(step_event("dual-cluster new cluster proven", "done", None))?;
    for l in checklist(&source, &target) {
        rep.say(&l);
    }
    Ok(stop(
        exit::UP_TO_DATE,
        "dual_cluster_ready",
        format!(
            "Dual-cluster: the clone {} is migrated and proven, the new cluster answers as Kong {} and passed its smoke tests. Shift traffic in steps (above); until the old cluster is retired, the rollback is: send all traffic back to the old cluster.",
            target.describe(),
            target_version(s)
        ),
    ))
}

fn target_version(s: &Session) -> String {
    s.ctx
        .target
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(the Lua tree's)".into())
}

async fn clone_step(
    s: &mut Session,
    source: &PgOptions,
    target: &PgOptions,
    spec: &CloneSpec,
    rep: &mut Reporter,
) -> Result<std::result::Result<CloneRecord, Stopped>> {
    let earlier = last_phase(&s.earlier, STEP_CLONE);
    if let Some(("done", Some(detail))) = earlier.as_ref().map(|(p, d)| (p.as_str(), d.clone())) {
        let rec: CloneRecord = serde_json::from_str(&detail)
            .map_err(|e| eyre!("the journal's clone record cannot be read: {e}"))?;
        // A clone the write guard found stale is taken again when --clone-replace asks for it
        // (the stale message says to); otherwise a proven clone is never taken twice.
        let stale = last_phase(&s.earlier, STEP_WRITE_GUARD).is_some_and(|(p, _)| p == "failed");
        if rec.clone_database == target.database
            && rec.clone_host == target.host
            && rec.clone_port == target.port
            && !(stale && spec.replace)
        {
            rep.say(&format!(
                "Clone: taken and proven earlier ({}, snapshot {}, {} rows); not taken again.",
                rec.created_at,
                rec.snapshot,
                rec.total_rows()
            ));
            return Ok(Ok(rec));
        }
    }
    // A clone this upgrade started and never finished proving is its own to replace, but only
    // if its place was absent or empty when that start was journaled: a database that already
    // held something (the operator's) is never taken for ours after a kill.
    // The journal says what was there: absent, empty, or what --clone-replace replaced.
    let shown = target.describe();
    let earlier_start = earlier
        .as_ref()
        .filter(|(p, _)| p == "started")
        .and_then(|(_, d)| d.clone());
    let ours = earlier_start
        .as_deref()
        .is_some_and(|d| crate::contract::clone::PlaceAtStart::ours(d, &shown));
    let started_detail = match earlier_start.filter(|_| ours) {
        Some(d) => Some(d),
        None => match clone::place_at_start(target).await {
            // Held and not to be replaced: refused by the clone below, no start journaled.
            Ok(p) if p.relations().unwrap_or(0) > 0 && !spec.replace => None,
            Ok(p) => Some(p.detail(&shown)),
            // Nothing journaled: a place nobody can read is not "absent or empty".
            Err(e) => {
                return Ok(Err(stop(
                    CLONE_FAILED,
                    "clone_failed",
                    format!("The clone failed, nothing was migrated: {e}"),
                )))
            }
        },
    };
    if let Some(detail) = started_detail {
        s.journal
            .append(step_event(STEP_CLONE, "started", Some(detail)))?;
    }
    rep.say(&format!(
        "\nClone: {} into {}",
        source.describe(),
        target.describe()
    ));
    let res = clone::clone_database(source, target, spec.replace || ours, |l| {
        rep.say(&format!("  {l}"))
    })
    .await;
    match res {
        Ok(rec) => {
            s.journal.append(step_event(
                STEP_CLONE,
                "done",
                Some(serde_json::to_string(&rec)?),
            ))?;
            rep.say(&format!("  {}", clone::proven_line(&rec)));
            Ok(Ok(rec))
        }
        Err(e) => {
            s.journal
                .append(step_event(STEP_CLONE, "failed", Some(format!("{e:#}"))))?;
            Ok(Err(stop(
                CLONE_FAILED,
                "clone_failed",
                format!("The clone failed, nothing was migrated: {e:#}"),
            )))
        }
    }
}

/// The clone's state, as the target sees it.
async fn clone_state(s: &Session, store: &PgStore) -> Result<crate::kong::state::SchemaState> {
    let snap = store
        .snapshot()
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    Ok(state::compute(&s.ctx.target, &snap, s.ctx.catalog))
}

/// The journal step of a kong run on the clone (`dual-cluster up`; with hops, `dual-cluster up
/// (Kong 3.4.2)`): the wizard's names too, so either resumes the other's run.
fn kong_step_name(command: KongCommand, hop: Option<Version>) -> String {
    match hop {
        None => format!("dual-cluster {}", command.as_str()),
        Some(v) => format!("dual-cluster {} (Kong {v})", command.as_str()),
    }
}

/// `up` or `finish` on the clone, unless the clone says it is done. `Some`: the run stops.
/// `hop`: the release of the path this kong is (its steps journaled apart).
#[allow(clippy::too_many_arguments)]
async fn kong_step(
    s: &mut Session,
    kong: &KongTarget,
    source: &PgOptions,
    target: &PgOptions,
    settings: &crate::kong::diagnose::Settings,
    command: KongCommand,
    hop: Option<Version>,
    args: &AutoArgs,
    rep: &mut Reporter,
    interrupts: &mut Interrupts,
) -> Result<Option<Stopped>> {
    let step = kong_step_name(command, hop);
    // A kong a killed run started on the clone was waited for before anything was read
    // (`resume::wait_for_earlier_kong`, the one reading auto and the wizard wait by).
    let store = PgStore::connect(target)
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    let snap = store
        .snapshot()
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    // The wizard's clone gate: no kong while a finding the policy blocks on stands on the
    // clone's reading (read as the wizard reads it, with the clone's own connection). An up cut
    // short inside 016 is said the clone's way: a new clone, not a repair.
    let reading = crate::wizard::Interpreter::new(
        std::sync::Arc::new(s.ctx.target.clone()),
        s.ctx.catalog,
        settings.clone(),
    )
    .reading(&snap);
    let rewritten = crate::kong::half_applied::at_risk(&snap).map(|t| t.count);
    if let Some(r) = crate::kong::policy::clone_refusal(
        &reading.findings,
        &target.database,
        rewritten,
        Some(&super::gates::allowances(args)),
    ) {
        let message = r.instead.clone().unwrap_or_else(|| {
            format!(
                "The clone {} (nothing ran; the source is untouched): {}",
                target.describe(),
                crate::kong::policy::Refusal {
                    exit: r.exit,
                    lifted_by: None,
                    finding: r.finding.clone(),
                }
                .message()
            )
        });
        return Ok(Some(stop(
            r.exit,
            crate::kong::policy::exit::refusal_result(r.exit),
            message,
        )));
    }
    let before = state::compute(&s.ctx.target, &snap, s.ctx.catalog);
    let due = |st: &crate::kong::state::SchemaState| match command {
        KongCommand::Up => st.total(MigState::New),
        _ => st.total(MigState::Pending),
    };
    if due(&before) == 0 {
        rep.say(&format!(
            "\nClone: 'kong migrations {}' has nothing to do there (done).",
            command.as_str()
        ));
        if last_phase(&s.earlier, &step).is_none_or(|(p, _)| p != "done") {
            s.journal.append(step_event(&step, "done", None))?;
        }
        return Ok(None);
    }
    if *interrupts.borrow() > 0 {
        return Ok(Some(stop(
            exit::INTERRUPTED,
            "interrupted",
            format!(
                "Interrupted: no further step started. Next would be 'kong migrations {}' on the clone; run kongrade auto again to go on.",
                command.as_str()
            ),
        )));
    }
    let marker = crate::exec::journal::step_marker(&s.journal.path, &step);
    s.journal
        .append(step_event(&step, "started", Some(marker.clone())))?;
    rep.say(&format!(
        "\nClone: kong migrations {} ({} migration(s)), kong pointed at {} through its environment",
        command.as_str(),
        due(&before),
        target.describe()
    ));
    let kong = match kong {
        KongTarget::Process { command_line, env } => {
            let mut env = env.clone();
            env.push((RUN_MARKER_ENV.to_string(), marker.as_str().into()));
            KongTarget::Process {
                command_line: command_line.clone(),
                env,
            }
        }
        other => other.clone(),
    };
    let mut inv: Invocation = s.template.clone();
    inv.command = command;
    let source_before = clone::source_schema_meta(source).await?;
    let (events, outcome) = runner::run_to_end(&kong, &inv, |ev| match ev {
        RunEvent::Started { command_line } => rep.say(&format!("  $ {command_line}")),
        RunEvent::Line {
            stream: Stream::Stdout,
            text,
        } => rep.say(&format!("  | {text}")),
        RunEvent::Line {
            stream: Stream::Stderr,
            text,
        } => rep.say(&format!("  ! {text}")),
        _ => {}
    })
    .await;
    rep.say(&format!("  = {}", outcome.describe()));
    if clone::source_schema_meta(source).await? != source_before {
        s.journal.append(step_event(
            &step,
            "failed",
            Some("the source's schema_meta changed: kong did not use the clone".into()),
        ))?;
        return Ok(Some(stop(
            exit::KONG_FAILED,
            "source_changed",
            clone::source_changed_message(source, command.as_str()),
        )));
    }
    let after = clone_state(s, &store).await?;
    if outcome.success() && due(&after) == 0 {
        s.journal.append(step_event(&step, "done", None))?;
        return Ok(None);
    }
    let output: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    s.journal.append(step_event(
        &step,
        "failed",
        Some(format!("{}; {} still due", outcome.describe(), due(&after))),
    ))?;
    Ok(Some(stop(
        exit::KONG_FAILED,
        "kong_failed",
        format!(
            "'kong migrations {}' on the clone {} ({}; {} migration(s) still due); its output is above{}. The source is untouched: fix the cause and run again, or take a new clone under another name with --clone-database NEW_NAME.",
            command.as_str(),
            if outcome.success() { "changed nothing" } else { "failed" },
            outcome.describe(),
            due(&after),
            if output.is_empty() { " (none)" } else { "" }
        ),
    )))
}

/// The JSON body's field at `path` (`database.reachable`).
fn json_at<'a>(body: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(body, |v, k| v.get(k))
}

/// What one new node's Admin API says, as problems (empty: it is a target node on a database
/// it reaches).
pub fn judge_new_node(
    root: &ProbeAnswer,
    status: &ProbeAnswer,
    target: Option<Version>,
) -> Vec<String> {
    let mut problems = Vec::new();
    match root {
        ProbeAnswer::Http {
            status: 200, body, ..
        } => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            match (json_at(&v, &["version"]).and_then(|x| x.as_str()), target) {
                (None, _) => {
                    problems.push("GET / names no version: is this Kong's Admin API?".into())
                }
                (Some(got), Some(want)) => {
                    let ok = got
                        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .next()
                        .and_then(|s| s.parse::<Version>().ok())
                        == Some(want);
                    if !ok {
                        problems.push(format!("GET / says Kong {got}, not the target {want}"));
                    }
                }
                (Some(_), None) => {}
            }
        }
        ProbeAnswer::Http { status, .. } => problems.push(format!("GET / answered HTTP {status}")),
        ProbeAnswer::Failed { error } => problems.push(format!("GET /: {error}")),
    }
    match status {
        ProbeAnswer::Http {
            status: 200, body, ..
        } => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            if json_at(&v, &["database", "reachable"]).and_then(|x| x.as_bool()) != Some(true) {
                problems.push("/status: database.reachable is not true".into());
            }
        }
        ProbeAnswer::Http { status, .. } => {
            problems.push(format!("GET /status answered HTTP {status}"))
        }
        ProbeAnswer::Failed { error } => problems.push(format!("GET /status: {error}")),
    }
    problems
}

fn join_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The new nodes probed and the smoke tests run. `Some`: not ready.
async fn new_cluster(
    s: &mut Session,
    d: &DualArgs,
    target: &PgOptions,
    probe_opts: &ProbeOptions,
    rep: &mut Reporter,
) -> Result<Option<Stopped>> {
    let version = s.ctx.target.version;
    if d.new_admin_urls.is_empty() {
        for l in start_nodes(s, target) {
            rep.say(&l);
        }
        return Ok(Some(stop(
            NEW_CLUSTER_NOT_READY,
            "new_cluster_not_given",
            "The clone is migrated. Next: start the new cluster's nodes on it (above), then run again with --new-admin-url URL (each node), --new-status-url URL (3.3+) and --smoke 'METHOD URL STATUS' through their proxy. Nothing is repeated.",
        )));
    }
    let mut problems = Vec::new();
    rep.say("\nNew cluster:");
    for url in &d.new_admin_urls {
        let root = probe::probe(&join_url(url, "/"), probe_opts).await;
        let status = probe::probe(&join_url(url, "/status"), probe_opts).await;
        let p = judge_new_node(&root, &status, version);
        if p.is_empty() {
            rep.say(&format!(
                "  {url}: Kong {}, database reachable",
                version.map(|v| v.to_string()).unwrap_or_default()
            ));
        }
        problems.extend(p.into_iter().map(|x| format!("{url}: {x}")));
    }
    let needs_ready = version.is_some_and(|v| v >= Version::new(3, 3, 0));
    if needs_ready && d.new_status_urls.is_empty() {
        rep.say("  /status/ready not checked: it is on the Status API (status_listen); give --new-status-url to check it");
    }
    for url in &d.new_status_urls {
        match probe::probe(&join_url(url, "/status/ready"), probe_opts).await {
            ProbeAnswer::Http { status: 200, .. } => {
                rep.say(&format!("  {url}/status/ready: ready"))
            }
            ProbeAnswer::Http { status, body, .. } => problems.push(format!(
                "{url}/status/ready answered HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            )),
            ProbeAnswer::Failed { error } => problems.push(format!("{url}/status/ready: {error}")),
        }
    }
    for r in run_smokes(&d.smoke, probe_opts.timeout).await {
        match r.verdict() {
            Ok(line) => rep.say(&format!("  {line}")),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        return Ok(None);
    }
    s.journal.append(step_event(
        "dual-cluster new cluster proven",
        "failed",
        Some(problems.join("\n")),
    ))?;
    for p in &problems {
        rep.say(&format!("  NOT READY: {p}"));
    }
    Ok(Some(stop(
        NEW_CLUSTER_NOT_READY,
        "new_cluster_not_ready",
        "The new cluster is not ready (above): send it no traffic. Fix it and run again; the clone and its migrations are not repeated.",
    )))
}

/// One smoke request: its status, or why there is none (a URL that times out says so).
/// One smoke test's outcome: what it answered, and its line for the operator.
pub struct SmokeRun {
    pub test: Smoke,
    pub got: Result<u16, String>,
}

impl SmokeRun {
    /// `Ok("smoke GET URL: 200 as expected")`, or `Err` with what went wrong.
    pub fn verdict(&self) -> Result<String, String> {
        let t = &self.test;
        let line = format!("smoke {} {}", t.method, t.url);
        match &self.got {
            Ok(got) if *got == t.status => Ok(format!("{line}: {got} as expected")),
            Ok(got) => Err(format!("{line}: HTTP {got}, expected {}", t.status)),
            Err(e) => Err(format!("{line}: {e}")),
        }
    }
}

/// Runs every smoke test in turn (at least 5 s each: a cold proxy may be slow to answer);
/// in-place, dual-cluster and the wizard all judge them by [`SmokeRun::verdict`].
pub async fn run_smokes(tests: &[Smoke], timeout: Duration) -> Vec<SmokeRun> {
    let timeout = timeout.max(Duration::from_secs(5));
    let mut out = Vec::new();
    for t in tests {
        out.push(SmokeRun {
            test: t.clone(),
            got: smoke(t, timeout).await,
        });
    }
    out
}

pub async fn smoke(t: &Smoke, timeout: Duration) -> Result<u16, String> {
    let began = Instant::now();
    match tokio::time::timeout(timeout, smoke_inner(t)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {} ms (timed out after {} ms)",
            timeout.as_millis(),
            began.elapsed().as_millis()
        )),
    }
}

async fn smoke_inner(t: &Smoke) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = probe::parse_url(&t.url)?;
    if u.tls {
        return Err("https smoke URLs are not supported yet: use the proxy's http listener".into());
    }
    let mut tcp = tokio::net::TcpStream::connect((u.host.as_str(), u.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", u.host, u.port))?;
    let req = format!(
        "{} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: kongrade/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        t.method,
        u.path,
        u.host,
        u.port,
        env!("CARGO_PKG_VERSION")
    );
    tcp.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    // The status line is all a smoke test needs.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 8192 {
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| "not an HTTP answer".to_string())
}

/// How to start the new cluster's nodes on the clone (no password shown).
fn start_nodes(s: &Session, target: &PgOptions) -> Vec<String> {
    let v = target_version(s);
    vec![
        String::new(),
        format!("Start the new cluster (Kong {v}, as many nodes as the old one) on the clone, with kong.conf or these variables:"),
        format!(
            "  KONG_DATABASE=postgres KONG_PG_HOST={} KONG_PG_PORT={} KONG_PG_USER={} KONG_PG_DATABASE={} KONG_PG_PASSWORD=...",
            target.host, target.port, target.user, target.database
        ),
        "  Copy the old cluster's certificates, keys and custom nginx templates (not in the database); on hybrid control planes, the same cluster certificate.".into(),
    ]
}

/// The traffic shift, the rollback and the retirement (Kong's dual-cluster guide).
fn checklist(source: &PgOptions, target: &PgOptions) -> Vec<String> {
    vec![
        String::new(),
        "Traffic shift (your load balancer, DNS or Canary plugin), watching error rates and latency at each step:".into(),
        "  [ ] 1 % to the new cluster".into(),
        "  [ ] 5 %".into(),
        "  [ ] 10 %".into(),
        "  [ ] 50 %".into(),
        "  [ ] 100 %, then keep watching for a while".into(),
        format!(
            "Rollback, at any point until the old cluster is retired: send all traffic back to the old cluster (its database {} was never written).",
            source.describe()
        ),
        format!(
            "Retire the old cluster last, and its database {} after it; unfreeze configuration writes only then, on the new cluster ({}).",
            source.describe(),
            target.describe()
        ),
        "Expected to diverge meanwhile: rows written by traffic (rate-limiting counters, OAuth2 tokens, sessions, ACME): tokens and sessions issued by the old cluster are not on the new one.".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> ProbeAnswer {
        ProbeAnswer::Http {
            status,
            body: body.into(),
            location: None,
        }
    }

    #[test]
    fn auto_and_the_wizard_mark_a_kong_on_the_clone_alike() {
        // Each waits for a kong the other left running, by its marker: one rule makes both.
        let path = "/var/lib/kongrade/journal/postgres-db-5432-kong.jsonl";
        for command in [KongCommand::Up, KongCommand::Finish] {
            let ours = crate::exec::journal::step_marker(
                std::path::Path::new(path),
                &kong_step_name(command, None),
            );
            assert_eq!(
                ours,
                crate::wizard::dual::run_marker(Some(path), command),
                "{command:?}"
            );
            assert_eq!(
                ours,
                format!(
                    "postgres-db-5432-kong.jsonl#0#dual-cluster-{}",
                    command.as_str()
                )
            );
        }
        assert_eq!(
            kong_step_name(KongCommand::Up, Some("3.4.2".parse().unwrap())),
            "dual-cluster up (Kong 3.4.2)"
        );
    }

    #[test]
    fn smoke_tests_are_method_url_status() {
        let t = parse_smoke("get http://10.0.0.9:8000/health 200").unwrap();
        assert_eq!(
            t,
            Smoke {
                method: "GET".into(),
                url: "http://10.0.0.9:8000/health".into(),
                status: 200
            }
        );
        assert!(parse_smoke("GET http://x/")
            .unwrap_err()
            .contains("METHOD URL STATUS"));
        assert!(parse_smoke("GET ftp://x/ 200").is_err());
        assert!(parse_smoke("GET https://x/health 200")
            .unwrap_err()
            .contains("https smoke URLs are not supported"));
        assert!(parse_smoke("GET http://x/ 999")
            .unwrap_err()
            .contains("not an HTTP status"));
    }

    #[test]
    fn a_new_node_must_be_the_target_and_reach_its_database() {
        let v: Version = "3.4.2".parse().unwrap();
        let ok = judge_new_node(
            &http(200, r#"{"version":"3.4.2"}"#),
            &http(200, r#"{"database":{"reachable":true}}"#),
            Some(v),
        );
        assert!(ok.is_empty(), "{ok:?}");
        let old = judge_new_node(
            &http(200, r#"{"version":"2.8.5"}"#),
            &http(200, r#"{"database":{"reachable":false}}"#),
            Some(v),
        );
        assert_eq!(old.len(), 2, "{old:?}");
        assert!(old[0].contains("not the target 3.4.2"));
        let down = judge_new_node(
            &ProbeAnswer::Failed {
                error: "connect: refused".into(),
            },
            &http(503, ""),
            Some(v),
        );
        assert_eq!(
            down,
            ["GET /: connect: refused", "GET /status answered HTTP 503"]
        );
        // Enterprise versions carry a fourth part.
        let ee = judge_new_node(
            &http(200, r#"{"version":"3.4.2-enterprise-edition"}"#),
            &http(200, r#"{"database":{"reachable":true}}"#),
            Some(v),
        );
        assert!(ee.is_empty(), "{ee:?}");
    }

    #[tokio::test]
    async fn a_smoke_url_that_never_answers_times_out_with_a_message() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", l.local_addr().unwrap());
        // Accepts and never answers.
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = l.accept().await {
                held.push(c);
            }
        });
        let t = parse_smoke(&format!("GET {url} 200")).unwrap();
        let e = smoke(&t, Duration::from_millis(300)).await.unwrap_err();
        assert!(e.contains("no answer within 300 ms"), "{e}");
    }
}
