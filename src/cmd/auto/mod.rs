//! `kongrade auto`: the whole procedure unattended, for CD pipelines. It reads the state, runs
//! `bootstrap`, `up` or `finish` as the state calls for, re-reads the database after every kong
//! run and reports what moved, until the database is up to date or a gate stops it.
//!
//! Progress is only ever what the database says: kong's exit code 0 does not mean migrations ran
//! (another node may hold the lock), so every step is judged by the state before and after it. A
//! step that failed or moved nothing is never run again in the same run.

mod backup;
mod dual_cluster;
mod gates;
pub(crate) mod hops;
mod in_place;
mod lock;
mod next;
mod nodes;
mod preflight;
mod report;
mod resume;
mod step;
mod strategy;

use std::collections::HashMap;

use color_eyre::eyre::Result;

use super::Code;
use crate::cmd::context::{Connection, Context};
use crate::contract::journal::ReadBack;
use crate::contract::Invocation;
use crate::exec::journal::Journal;
use crate::exec::runner::KongTarget;
use crate::kong::report as state_report;
use crate::kong::state::SchemaState;

pub use dual_cluster::{judge_new_node, parse_smoke, run_smokes, smoke, DualArgs, Smoke};
pub use report::{moves, Move};

/// `auto`'s exit codes live with the policy's rules (Kong's `migrations list` uses 0/1/3/4/5 and
/// `status` adds 6; auto's own refusals start at 10 so a pipeline can tell them apart).
pub use crate::kong::policy::exit;

/// `kongrade auto --help`'s exit codes and examples.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  up to date
   1  error before anything ran (configuration, target)
   2  option not available here (--backup=pg_dump on Cassandra: use nodetool snapshot)
   4  stopped after `up`: pending migrations remain, `kong migrations finish` is next
      (with --finish=when-no-old-nodes: an old node is still seen; the report says which)
  10  pre-1.0 database: upgrade through Kong 1.5 first
  11  gaps in the recorded migrations (--allow-gaps)
  12  migrations recorded that the target does not know (--allow-unknown)
  13  unsupported version jump (--allow-unsupported-jump)
  14  the migrations lock is held (--wait-lock SECONDS to wait it out; a lock row
      without a ttl never ends: the message says how to delete it)
  15  kong failed: could not start, exited non-zero, was killed, or changed nothing
  16  the database could not be read
  17  the backup (--backup=pg_dump) failed or could not be proven; nothing was migrated
  18  the journal failed after the run began (unwritable, deleted, or its lock file gone):
      a step may have run, the message says which; `kongrade status` shows the database
  19  the database's state forbids every step: Kong's tables without schema_meta
      (bootstrap would run over them)
  20  the target will break something (a removed kong.conf key, regex routes 3.x refuses,
      a plugin it does not ship, SCRAM with an old Kong...) (--allow-breaking), or a
      preflight read failed so its checks did not run (--allow-incomplete-preflight)
  21  the --strategy given is refused here (Kong's guide does not allow it for this
      deployment and jump: the message says why and what is allowed), or no --strategy
      and Kong's guide refuses blue-green here (the LTS pair 2.8 -> 3.4; to 3.x with old
      nodes below 2.8.2 or not given with --admin-url, or from before 2.1.0): auto's own
      procedure is blue-green's, so nothing runs; the message gives the command line of
      each allowed strategy; or --strategy rolling: no migrations to run, the data planes
      are replaced (they are listed)
  22  --strategy in-place: a precondition is not met (--writes-frozen not given, no
      --admin-url for the old nodes, or an old node still answers); nothing was migrated
  23  --strategy in-place: the database is up to date, but a --new-admin-url did not
      answer the target version within --new-nodes-wait, or a --smoke test failed
      through the new nodes' proxy (the message gives the backup's restore command)
  24  --strategy dual-cluster: the clone could not be made or proven (exists and is not
      empty: --clone-replace; no right to create a database; another PostgreSQL major)
  25  --strategy dual-cluster: the source's configuration changed after the clone (the
      write guard names the tables): take a new clone with --clone-replace
  26  --strategy dual-cluster: the clone is migrated, the new cluster is not proven yet (no
      --new-admin-url, a node not on the target, a smoke test failed): start it, run again
 130  interrupted (Ctrl-C, SIGTERM): the running kong step is let end (a second Ctrl-C
      interrupts it), no further step is started

Without --strategy, auto runs `up` on the shared database while old nodes serve (then `finish`):
blue-green, only where Kong's guide allows it (patch and minor jumps within a major; to 3.x
from old nodes all at 2.8.2+, given with --admin-url). Elsewhere choose --strategy in-place or
dual-cluster (exit 21 says how).

Examples:
  kongrade auto --kong-cmd 'docker exec -i kong-new kong'
  kongrade auto --kong-image kong --target-version 3.9.3 --finish=always
      (each release of the path with its own kong: docker run ... kong:3.4.2 kong, then the next)
  kongrade auto --finish=when-no-old-nodes --admin-url http://10.0.0.5:8001 --admin-url http://10.0.0.6:8001
  kongrade auto --backup=skip --finish=always --wait-lock 120 --json
  kongrade auto --strategy in-place --writes-frozen --admin-url http://10.0.0.5:8001 \
      --new-admin-url http://10.0.0.7:8001 --smoke 'GET http://10.0.0.7:8000/health 200'
      (prints the downtime every few seconds until the new nodes are proven)
  kongrade auto --strategy dual-cluster --clone-database kong_new --new-admin-url http://10.0.1.5:8001 \
      --smoke 'GET http://10.0.1.5:8000/health 200'";

/// `--backup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backup {
    /// pg_dump the database first, proven with pg_restore --list (kongrade backup).
    PgDump,
    /// No backup: the operator took one.
    Skip,
}

/// `--finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishMode {
    /// Stop after `up` (exit 4) and say what remains.
    Never,
    /// Run `finish` too.
    Always,
    /// Run `finish` only when no old node is seen.
    WhenNoOldNodes,
}

/// What `kongrade auto` was asked to do (the command line's `auto` flags, as plain values).
#[derive(Debug, Clone)]
pub struct AutoArgs {
    pub backup: Backup,
    pub finish: FinishMode,
    /// Wait up to this many seconds for a live migrations lock to go.
    pub wait_lock: Option<u64>,
    pub allow_gaps: bool,
    pub allow_unknown: bool,
    pub allow_unsupported_jump: bool,
    /// Go on although the preflight says the target breaks something (exit 20 otherwise).
    pub allow_breaking: bool,
    /// Go on although a preflight read failed (exit 20 otherwise).
    pub allow_incomplete_preflight: bool,
    /// A JSON report on stdout at the end (progress goes to stderr).
    pub json: bool,
    /// Passed to kong.
    pub db_timeout: Option<u64>,
    pub lock_timeout: Option<u64>,
    /// Where --backup=pg_dump writes (default: kongrade's data directory).
    pub backup_out: Option<std::path::PathBuf>,
    /// The nodes --finish=when-no-old-nodes checks.
    pub nodes: crate::cmd::nodes::NodesArgs,
    /// `--strategy`, `--deployment`, `--second-cluster`.
    pub strategy: crate::kong::strategy::Asked,
    /// `--writes-frozen`: the operator froze configuration writes (in-place requires it).
    pub writes_frozen: bool,
    /// `--new-admin-url`: the new nodes' Admin APIs, proven after `finish` (in-place).
    pub new_admin_urls: Vec<String>,
    /// `--new-nodes-wait`: how long to wait for them to answer the target version (seconds).
    pub new_nodes_wait: u64,
    /// `--strategy dual-cluster`: the clone, the new cluster's nodes, the smoke tests.
    pub dual: DualArgs,
}

/// The end of a run: an exit code, a machine-readable result and what to do next.
struct Stopped {
    code: i32,
    result: &'static str,
    message: String,
}

fn stop(code: i32, result: &'static str, message: impl Into<String>) -> Stopped {
    Stopped {
        code,
        result,
        message: message.into(),
    }
}

/// A phase of the run goes on with a value, or the run ends with the [`Stopped`].
type Phase<T> = std::result::Result<T, Stopped>;

/// Unwraps a [`Phase`], returning from the run when it stopped.
macro_rules! go {
    ($phase:expr) => {
        match $phase {
            Ok(v) => v,
            Err(stopped) => return Ok(stopped),
        }
    };
}

/// SIGINT and SIGTERM counted so far (see [`step::listen_for_interrupts`]).
type Interrupts = tokio::sync::watch::Receiver<u32>;

/// What the phases share once the preflight is through.
struct Session {
    ctx: Context,
    kong: KongTarget,
    /// `kong migrations` with the operator's flags; each step sets the command.
    template: Invocation,
    journal: Journal,
    /// What the run being resumed recorded (empty for a new upgrade).
    earlier: ReadBack,
    /// The state as last read from the database.
    state: SchemaState,
}

pub async fn run(conn: Connection, args: &AutoArgs) -> Result<Code> {
    let mut rep = report::Reporter::new(args.json);
    let stopped = match drive(conn, args, &mut rep).await {
        Ok(s) => s,
        // The journal failing mid-run is not "an error before anything ran" (exit 1).
        Err(e)
            if e.downcast_ref::<crate::exec::journal::JournalError>()
                .is_some() =>
        {
            let ran = rep.steps.len() + usize::from(rep.kong_running);
            stop(
                exit::JOURNAL_FAILED,
                "journal_failed",
                format!(
                    "{e:#}\n{}",
                    if ran == 0 {
                        "No kong step had run.".to_string()
                    } else {
                        format!("{ran} kong step(s) ran in this run; their effect is in the database, not all of it in the journal.")
                    }
                ),
            )
        }
        Err(e) => return Err(e),
    };
    rep.say(&format!("\n{}", stopped.message));
    if args.json {
        let v = rep.json_report(&stopped, crate::kong::catalog::Catalog::embedded());
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(stopped.code)
}

/// The procedure: preflight, the gates (against the target), then for each hop of the path (one
/// hop unless a kong template walks several releases) rounds of (lock, next command, backup,
/// step) until the database is up to date for that hop's release, proven before the next; until
/// the database is up to date for the target or something stops it.
async fn drive(conn: Connection, args: &AutoArgs, rep: &mut report::Reporter) -> Result<Stopped> {
    let mut s = go!(preflight::prepare(conn, args, rep).await?);

    // What the journal being resumed says: who ran `up`, where the upgrade began.
    let history = s.earlier.history(crate::exec::backup::record_still_matches);
    let decided = go!(strategy::decide(&mut s, args, &history, rep).await?);
    let strategy = decided.chosen;
    if strategy == Some(crate::kong::strategy::Strategy::InPlace) {
        let gate = go!(in_place::begin(&mut s, args, rep).await?);
        let args = in_place::args_for(args);
        let stopped = migrate(&mut s, &args, &history, None, rep).await?;
        return in_place::end(&mut s, &args, &gate, stopped, rep).await;
    }
    if strategy != Some(crate::kong::strategy::Strategy::DualCluster) && args.dual.is_given() {
        return Ok(stop(
            exit::ERROR,
            "option_not_available",
            "--clone-* and --new-status-url belong to --strategy dual-cluster, --smoke to dual-cluster or in-place: add one, or leave them out",
        ));
    }
    if strategy == Some(crate::kong::strategy::Strategy::DualCluster) {
        // Dual-cluster: the source's gates judge the jump (the clone runs the same
        // migrations); then the procedure runs on the clone, never on the source.
        // With a kong template, each release of the path runs on the clone with its own kong.
        let mut interrupts = step::listen_for_interrupts()?;
        let walk = s.ctx.conn.kong_template.is_some();
        let plan = go!(gates::gates(&mut s, args, &history, walk, rep).await?);
        let hops = go!(hops::path(&s, &plan, rep).await?);
        return dual_cluster::run(&mut s, args, &hops, rep, &mut interrupts).await;
    }
    // No strategy given: the shared-database procedure, where Kong's guide allows blue-green.
    let unasked = strategy.is_none().then_some(&decided);
    migrate(&mut s, args, &history, unasked, rep).await
}

/// The steps, hop by hop, until the database is up to date for the target or a gate stops them.
/// `unasked`: no `--strategy` was given, so after the gates Kong's choice decides whether the
/// shared-database procedure may run at all.
async fn migrate(
    s: &mut Session,
    args: &AutoArgs,
    history: &crate::kong::policy::History,
    unasked: Option<&strategy::Decided>,
    rep: &mut report::Reporter,
) -> Result<Stopped> {
    // From here on, Ctrl-C and SIGTERM are auto's to handle (see `step::run_step`).
    let mut interrupts = step::listen_for_interrupts()?;
    // The gates judge the state once nothing is migrating it, before the first step.
    while s.state.lock_live() {
        go!(lock::wait_out(s, args, rep, &mut interrupts).await);
    }
    let walk = s.ctx.conn.kong_template.is_some();
    let plan = go!(gates::gates(s, args, history, walk, rep).await?);
    if let Some(decided) = unasked {
        go!(strategy::unasked(s, args, decided, rep)?);
    }
    let hops = go!(hops::path(s, &plan, rep).await?);
    let mut run = Run {
        // A backup recorded by the run this one resumes is not taken again.
        backed_up: backup::taken_earlier(args, &s.earlier, rep).await,
        stale_told: false,
        step_no: 0,
    };
    if hops.is_empty() {
        go!(run.rounds(s, args, rep, &mut interrupts).await?);
    }
    let n = hops.len();
    for (i, hop) in hops.iter().enumerate() {
        go!(hops::enter(s, hop, i, n, rep).await?);
        if let Err(mut stopped) = run.rounds(s, args, rep, &mut interrupts).await? {
            stopped.message = format!(
                "Stopped in {}: {}",
                hops::label(i, n, hop.version),
                stopped.message
            );
            return Ok(stopped);
        }
        go!(hops::prove(s, hop, i, n, rep).await?);
    }
    let to = s
        .ctx
        .target
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(Lua tree)".into());
    s.journal.append(crate::contract::journal::Event::Closed {
        outcome: format!("up to date for Kong {to}"),
    })?;
    Ok(stop(
        exit::UP_TO_DATE,
        "up_to_date",
        format!("Database is up to date for Kong {to}."),
    ))
}

/// What the rounds of a run share across hops.
struct Run {
    backed_up: bool,
    stale_told: bool,
    step_no: u64,
}

impl Run {
    /// Steps until the database is up to date for the session's target (`Ok`), or a stop.
    async fn rounds(
        &mut self,
        s: &mut Session,
        args: &AutoArgs,
        rep: &mut report::Reporter,
        interrupts: &mut Interrupts,
    ) -> Result<Phase<()>> {
        // Steps that must not run again: they failed, or changed nothing.
        let mut blocked: HashMap<&'static str, step::Blocked> = HashMap::new();
        for round in 1.. {
            if round > 12 {
                // Each step moves the state forward, so a few suffice; this only guards a loop.
                return Ok(Err(stop(
                    exit::KONG_FAILED,
                    "kong_failed",
                    "too many steps without reaching an up-to-date database; stopping",
                )));
            }
            if s.state.lock_live() {
                if let Err(stopped) = lock::wait_out(s, args, rep, interrupts).await {
                    return Ok(Err(stopped));
                }
                continue;
            }
            if s.state.lock.is_some() && !self.stale_told {
                self.stale_told = true;
                rep.say(&format!(
                    "Migrations lock: {}",
                    state_report::lock_line(&s.state).unwrap_or_default()
                ));
            }

            let command = match next::command(s, args).await? {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(Ok(())),
                Err(stopped) => return Ok(Err(stopped)),
            };
            if args.backup == Backup::PgDump && !self.backed_up && !s.state.needs_bootstrap {
                // A fresh database has nothing to lose; anything else is dumped once, before the
                // first step that changes it.
                self.backed_up = true;
                if let Err(stopped) = backup::take(s, args, rep).await {
                    return Ok(Err(stopped));
                }
            }
            if *interrupts.borrow() > 0 {
                return Ok(Err(stop(
                    exit::INTERRUPTED,
                    "interrupted",
                    format!(
                        "Interrupted: no further step started. Next would be 'kong migrations {}'; run kongrade auto again to go on.",
                        command.as_str()
                    ),
                )));
            }
            if let Some((code, result, why)) = blocked.get(command.as_str()) {
                return Ok(Err(stop(
                    *code,
                    result,
                    format!(
                        "Not running 'kong migrations {}' again in this run: {why}",
                        command.as_str()
                    ),
                )));
            }

            self.step_no += 1;
            match step::run(s, command, self.step_no, rep, interrupts).await? {
                Ok(Some(why)) => {
                    blocked.insert(command.as_str(), why);
                }
                Ok(None) => {}
                Err(stopped) => return Ok(Err(stopped)),
            }
        }
        unreachable!("the step loop only ends by returning")
    }
}
