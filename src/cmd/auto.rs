//! `kongrade auto`: the whole procedure unattended, for CD pipelines. It reads the state, runs
//! `bootstrap`, `up` or `finish` as the state calls for, re-reads the database after every kong
//! run and reports what moved, until the database is up to date or a gate stops it.
//!
//! Progress is only ever what the database says: kong's exit code 0 does not mean migrations ran
//! (another node may hold the lock), so every step is judged by the state before and after it. A
//! step that failed or moved nothing is never run again in the same run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use color_eyre::eyre::{eyre, Result};
use serde_json::json;

use super::context::{self, Context};
use super::Code;
use crate::cli::ConnArgs;
use crate::contract::journal::Event;
use crate::contract::StateSummary;
use crate::contract::{Invocation, KongCommand, RunEvent, RunOutcome, Stream};
use crate::exec::journal::Journal;
use crate::exec::kong_target;
use crate::exec::runner::{start, KongTarget};
use crate::exec::standin::NOT_LEADER_MSG;
use crate::kong::catalog::{Catalog, Db};
use crate::kong::conf;
use crate::kong::report;
use crate::kong::state::{describe_versions, MigState, SchemaState};
use crate::kong::version::Version;

/// `auto`'s exit codes. Kong's `migrations list` uses 0/1/3/4/5 and `status` adds 6; auto's own
/// refusals start at 10 so a pipeline can tell them apart.
pub mod exit {
    /// The database is up to date for the target.
    pub const UP_TO_DATE: i32 = 0;
    /// An error before anything ran (configuration, target).
    pub const ERROR: i32 = 1;
    /// An option that cannot work here (`--backup=pg_dump` on Cassandra).
    pub const NOT_AVAILABLE: i32 = 2;
    /// Stopped with pending migrations: `finish` remains (as `kong migrations list`'s 4).
    pub const PENDING: i32 = 4;
    /// A pre-1.0 database (schema_migrations, no schema_meta).
    pub const PRE_1_0: i32 = 10;
    /// Gaps: migrations skipped by an earlier upgrade (`--allow-gaps`).
    pub const GAPS: i32 = 11;
    /// Migrations recorded that the target does not know (`--allow-unknown`).
    pub const UNKNOWN: i32 = 12;
    /// A version jump Kong does not support (`--allow-unsupported-jump`).
    pub const UNSUPPORTED_JUMP: i32 = 13;
    /// The migrations lock is live (and `--wait-lock` did not outlast it), or kong aborted on it.
    pub const LOCK_HELD: i32 = 14;
    /// kong could not run, failed, was killed, or changed nothing it should have.
    pub const KONG_FAILED: i32 = 15;
    /// The database could not be read (during the run: the state after a step is unknown).
    pub const DB_UNREADABLE: i32 = 16;
    /// The backup failed or could not be proven: nothing was migrated.
    pub const BACKUP_FAILED: i32 = 17;
    /// Interrupted (Ctrl-C or SIGTERM): the running step was let end, no further one started.
    pub const INTERRUPTED: i32 = 130;
}

const EXIT_CODES_HELP: &str = "\
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
  14  the migrations lock is held (--wait-lock SECONDS to wait it out)
  15  kong failed: could not start, exited non-zero, was killed, or changed nothing
  16  the database could not be read
  17  the backup (--backup=pg_dump) failed or could not be proven; nothing was migrated
 130  interrupted (Ctrl-C, SIGTERM): the running kong step is let end (a second Ctrl-C
      interrupts it), no further step is started

Examples:
  kongrade auto --kong-cmd 'docker exec -i kong-new kong'
  kongrade auto --finish=when-no-old-nodes --admin-url http://10.0.0.5:8001 --admin-url http://10.0.0.6:8001
  kongrade auto --backup=skip --finish=always --wait-lock 120 --json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backup {
    /// pg_dump the database first, proven with pg_restore --list (kongrade backup)
    #[value(name = "pg_dump")]
    PgDump,
    /// No backup: you took one yourself
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FinishMode {
    /// Stop after `up` (exit 4) and say what remains
    Never,
    /// Run `finish` too: only when no old-version node is running
    Always,
    /// Run `finish` only when no old node is seen: Admin API probes (--admin-url, nodes file),
    /// recent data planes; otherwise stop with exit 4 naming them
    WhenNoOldNodes,
}

#[derive(Args, Debug, Clone)]
#[command(
    about = "The whole upgrade unattended, for CD pipelines: bootstrap, or up (and finish), with safety gates",
    after_help = EXIT_CODES_HELP
)]
pub struct AutoArgs {
    /// Back up first (pg_dump, proven and journaled) before the first migrating step, or skip
    #[arg(long, value_enum, default_value_t = Backup::PgDump, value_name = "pg_dump|skip")]
    pub backup: Backup,

    /// After `up`: `never` stops with exit 4; `always` runs `finish` (every old node must be gone)
    #[arg(long, value_enum, default_value_t = FinishMode::Never)]
    pub finish: FinishMode,

    /// Wait up to SECONDS for a live migrations lock to go (another run, or a killed one's row)
    #[arg(long, value_name = "SECONDS")]
    pub wait_lock: Option<u64>,

    /// Go on although an earlier upgrade skipped migrations (Kong will run them out of order)
    #[arg(long)]
    pub allow_gaps: bool,

    /// Go on although the database records migrations the target does not know
    #[arg(long)]
    pub allow_unknown: bool,

    /// Go on although Kong does not support this version jump
    #[arg(long)]
    pub allow_unsupported_jump: bool,

    /// Print a JSON report on stdout at the end (progress goes to stderr)
    #[arg(long)]
    pub json: bool,

    /// Passed to kong: timeout in seconds for database operations (Kong's default 60)
    #[arg(long, value_name = "SECONDS")]
    pub db_timeout: Option<u64>,

    /// Passed to kong: the lock's ttl and how long `up` waits on another node (Kong's default 60)
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,

    /// Where --backup=pg_dump writes (default: kongrade's data directory)
    #[arg(long, value_name = "FILE")]
    pub backup_out: Option<std::path::PathBuf>,

    /// The nodes --finish=when-no-old-nodes checks
    #[command(flatten)]
    pub nodes: crate::cli::NodeArgs,
}

/// One migration whose state changed across a step.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Move {
    pub subsystem: String,
    pub migration: String,
    pub from: MigState,
    pub to: MigState,
}

/// What changed between two states, judged by the database alone.
pub fn moves(before: &SchemaState, after: &SchemaState) -> Vec<Move> {
    let mut out = Vec::new();
    for sub in &after.subsystems {
        let prev = before.subsystem(&sub.name);
        for m in &sub.migrations {
            let from = if before.needs_bootstrap {
                MigState::New
            } else {
                prev.and_then(|p| p.migrations.iter().find(|x| x.name == m.name))
                    .map(|x| x.state)
                    .unwrap_or(MigState::New)
            };
            if from != m.state {
                out.push(Move {
                    subsystem: sub.name.clone(),
                    migration: m.name.clone(),
                    from,
                    to: m.state,
                });
            }
        }
    }
    out
}

/// Kong's supported upgrade paths (kong-migrations.md section 6): patch releases, adjacent
/// minors, the LTS pairs 2.8 -> 3.4 -> 3.10, and 3.0 from 2.1.x on. Not a jump when the target
/// is not newer (a downgrade shows up as unknown migrations instead).
pub fn jump_supported(from: Version, to: Version) -> bool {
    // One rule for the whole tool: the plan's.
    crate::kong::plan::supported_jump(Catalog::embedded(), from, to)
}

/// The database's version: the newest release its recorded schema matches, on every subsystem,
/// else on core. None when it matches none (custom subsystems only, or a damaged core).
pub fn database_version(state: &SchemaState) -> Option<Version> {
    state
        .schema_matches
        .iter()
        .max()
        .or_else(|| state.core_matches.iter().max())
        .copied()
}

/// The newest release whose migrations are all recorded, on every subsystem it has that the
/// database records: the level the least advanced part of the schema has reached. After an
/// interrupted upgrade core may match an intermediate release while plugins still match the old
/// one; this is the old one.
pub fn fully_applied_version(state: &SchemaState, catalog: &Catalog) -> Option<Version> {
    let recorded = |sub: &str| -> Option<Vec<&str>> {
        let mut names: Vec<&str> = Vec::new();
        let mut any = false;
        if let Some(s) = state.subsystem(sub) {
            any |= s.recorded;
            names.extend(
                s.migrations
                    .iter()
                    .filter(|m| matches!(m.state, MigState::Executed | MigState::Pending))
                    .map(|m| m.name.as_str()),
            );
        }
        for u in state.unknown.iter().filter(|u| u.subsystem == sub) {
            any = true;
            names.extend(u.migrations.iter().map(String::as_str));
        }
        any.then_some(names)
    };
    catalog
        .releases
        .iter()
        .filter(|r| r.supports(state.db))
        .filter(|r| {
            r.subsystems.iter().all(|s| match recorded(&s.name) {
                Some(names) => s
                    .migrations
                    .iter()
                    .all(|m| names.contains(&m.name.as_str())),
                // Only core must be there; a plugin the database never had is not behind.
                None => s.name != "core",
            })
        })
        .map(|r| r.version)
        .max()
}

fn state_name(s: MigState) -> &'static str {
    match s {
        MigState::Executed => "executed",
        MigState::Pending => "pending",
        MigState::New => "new",
        MigState::Missing => "missing",
    }
}

struct StepRecord {
    command: KongCommand,
    command_line: String,
    outcome: RunOutcome,
    aborted_by_lock: bool,
    moved: Vec<Move>,
    output: Vec<(Stream, String)>,
}

/// Where auto speaks: stdout, or stderr when stdout carries the JSON report.
struct Reporter {
    json: bool,
    steps: Vec<StepRecord>,
}

impl Reporter {
    fn say(&self, s: &str) {
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }
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

/// The `KONG_*` variables that make kong see what kongrade's flags point at (kong reads the same
/// kong.conf and environment otherwise). Values may be secrets: they go to the child's
/// environment only.
pub fn kong_env(conn: &ConnArgs) -> Vec<(String, String)> {
    conn.overrides()
        .into_iter()
        .map(|(k, v)| (conf::env_var_for(&k), v))
        .collect()
}

fn summary(state: &SchemaState, catalog: &Catalog) -> String {
    let mut s = if state.needs_bootstrap {
        format!(
            "needs bootstrap ({} migrations to run)",
            state.total(MigState::New)
        )
    } else {
        format!(
            "{} executed, {} pending, {} new",
            state.total(MigState::Executed),
            state.total(MigState::Pending),
            state.total(MigState::New)
        )
    };
    if !state.schema_matches.is_empty() {
        s.push_str(&format!(
            "; recorded schema matches Kong {}",
            describe_versions(catalog, &state.schema_matches)
        ));
    } else if !state.core_matches.is_empty() {
        s.push_str(&format!(
            "; core matches Kong {}",
            describe_versions(catalog, &state.core_matches)
        ));
    }
    s
}

fn names_of(state: &SchemaState, which: MigState) -> String {
    state
        .subsystems
        .iter()
        .flat_map(|s| {
            s.names(which)
                .into_iter()
                .map(move |n| format!("{}/{n}", s.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(conn: &ConnArgs, args: &AutoArgs) -> Result<Code> {
    let mut rep = Reporter {
        json: args.json,
        steps: Vec::new(),
    };
    let mut final_state: Option<SchemaState> = None;
    let mut header = json!({});
    let stopped = drive(conn, args, &mut rep, &mut final_state, &mut header).await?;
    rep.say(&format!("\n{}", stopped.message));
    if args.json {
        let catalog = Catalog::embedded();
        let steps: Vec<serde_json::Value> = rep
            .steps
            .iter()
            .map(|s| {
                json!({
                    "command": s.command,
                    "command_line": s.command_line,
                    "outcome": s.outcome,
                    "aborted_by_lock": s.aborted_by_lock,
                    "moved": s.moved,
                    "output": s.output.iter().map(|(st, t)| json!({"stream": st, "text": t})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = json!({
            "exit_code": stopped.code,
            "result": stopped.result,
            "message": stopped.message,
            "target": header.get("target"),
            "database": header.get("database"),
            "steps": steps,
            "state": final_state.as_ref().map(|s| report::status_json(s, catalog)),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(stopped.code)
}

async fn drive(
    conn: &ConnArgs,
    args: &AutoArgs,
    rep: &mut Reporter,
    final_state: &mut Option<SchemaState>,
    header: &mut serde_json::Value,
) -> Result<Stopped> {
    let conf = context::load_conf(conn)?;
    let db = context::db_of(&conf)?;
    // Options that cannot work here are refused before anything is touched.
    if args.backup == Backup::PgDump && db == Db::Cassandra {
        return Ok(stop(
            exit::NOT_AVAILABLE,
            "option_not_available",
            "--backup=pg_dump needs PostgreSQL. On Cassandra run `nodetool snapshot <keyspace>` on \
             every node, then run again with --backup=skip.",
        ));
    }
    let catalog = Catalog::embedded();
    let kong = KongTarget::Process {
        command_line: conn.kong_cmd.clone().unwrap_or_else(|| "kong".to_string()),
        env: kong_env(conn),
    };
    let template = Invocation {
        command: KongCommand::Up,
        conf: conn.conf.clone(),
        db_timeout: args.db_timeout,
        lock_timeout: args.lock_timeout,
        force: false,
    };

    // The target: kongrade's own sources when given (checked against what kong says it is),
    // else the running kong itself.
    let target = if conn.target_version.is_some() || conn.kong_lua_path.is_some() {
        let target = context::resolve_target(conn, &conf, db).await?;
        let kv = match kong_target::version_of(&kong).await {
            Ok(v) => v,
            Err(e) => {
                return Ok(stop(
                    exit::KONG_FAILED,
                    "kong_failed",
                    format!(
                    "cannot run the kong command: {e:#}. Check --kong-cmd (or KONGRADE_KONG_CMD)."
                ),
                ))
            }
        };
        if let Some(tv) = target.version {
            if tv != kv {
                return Err(eyre!(
                    "the kong command is Kong {kv}, but the target is {tv}: kong would run {kv}'s migrations. Point --kong-cmd at the {tv} kong, or drop --target-version"
                ));
            }
        }
        target
    } else {
        match kong_target::target_from_kong(&kong, &template, &conf, db).await {
            Ok(info) => {
                if let Some(why) = &info.fallback {
                    rep.say(&format!("Target from the catalog: {why}"));
                }
                info.target
            }
            Err(e) => {
                return Ok(stop(
                    exit::KONG_FAILED,
                    "kong_failed",
                    format!("cannot learn the target from the kong command: {e:#}. Check --kong-cmd (or KONGRADE_KONG_CMD), or pass --target-version."),
                ))
            }
        }
    };
    let ctx = Context {
        conf,
        catalog,
        target,
        db,
    };
    ctx.ensure_supported()?;
    // The journal, before anything runs: an unwritable data directory or a second kongrade on
    // this upgrade stops here, not halfway.
    let jdir = crate::exec::datadir::sub_dir("journal")?;
    let (mut journal, earlier, resumed) =
        match Journal::open_for(&jdir, &crate::cmd::backup::identity(&ctx.conf, db)) {
            Ok(j) => j,
            Err(e) => return Ok(stop(exit::LOCK_HELD, "journal_locked", format!("{e:#}"))),
        };
    if resumed {
        let done = earlier.completed_steps();
        rep.say(&format!(
            "Resuming the upgrade journal {} ({} entries{}); the database state decides what runs next.",
            journal.path.display(),
            earlier.entries.len(),
            if done.is_empty() { String::new() } else { format!(", steps done: {}", done.join(", ")) }
        ));
    }
    for w in &earlier.warnings {
        rep.say(&format!("Journal warning: {w}"));
    }
    journal.append(Event::Note {
        text: format!(
            "kongrade auto: target {} ({}), --finish={:?}, --backup={:?}",
            ctx.target
                .version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "of the Lua tree".into()),
            ctx.target.source,
            args.finish,
            args.backup
        ),
    })?;
    let to = ctx.target.version;
    *header = json!({
        "target": {"version": to.map(|v| v.to_string()), "source": ctx.target.source},
        "database": ctx.describe_db(),
    });
    rep.say(&format!("kongrade auto\n{}", ctx.header()));

    let mut state = match ctx.read_state().await {
        Ok(s) => s,
        Err(e) => {
            return Ok(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!("cannot read the database: {e:#}"),
            ))
        }
    };
    *final_state = Some(state.clone());
    rep.say(&format!("State: {}", summary(&state, catalog)));

    // From here on, Ctrl-C and SIGTERM are auto's to handle (see `run_step`).
    let mut interrupts = listen_for_interrupts()?;
    // Steps that must not run again: they failed, or changed nothing.
    let mut blocked: HashMap<&'static str, (i32, &'static str, String)> = HashMap::new();
    let mut stale_told = false;
    let mut gated = false;
    // A backup recorded by the run this one resumes is not taken again.
    let earlier_backup = earlier.entries.iter().rev().find_map(|e| match &e.event {
        Event::Backup { record } => Some(record.clone()),
        _ => None,
    });
    let mut backed_up = false;
    if let (true, Some(rec)) = (args.backup == Backup::PgDump, &earlier_backup) {
        backed_up = true;
        rep.say(&format!(
            "Backup already taken by the run being resumed: {} (sha256 {})",
            rec.file.display(),
            rec.sha256
        ));
    }
    let mut step_no = 0;
    for round in 1.. {
        if round > 12 {
            // Each step moves the state forward, so a few suffice; this only guards a loop.
            return Ok(stop(
                exit::KONG_FAILED,
                "kong_failed",
                "too many steps without reaching an up-to-date database; stopping",
            ));
        }
        if state.lock_live() {
            match args.wait_lock {
                None => {
                    return Ok(stop(
                        exit::LOCK_HELD,
                        "lock_held",
                        format!(
                            "The migrations lock is held: {}.\nAnother node may be migrating now; if a killed run left it, it expires by itself. Pass --wait-lock SECONDS to wait it out.",
                            report::lock_line(&state).unwrap_or_default()
                        ),
                    ))
                }
                Some(secs) => {
                    match wait_lock(&ctx, rep, &state, Duration::from_secs(secs), &mut interrupts)
                        .await
                    {
                        Ok(s) => {
                            let moved = moves(&state, &s);
                            if !moved.is_empty() {
                                rep.say(&format!(
                                    "While the lock was held, {} migration(s) changed state (another run):",
                                    moved.len()
                                ));
                                print_moves(rep, &moved);
                            }
                            state = s;
                            *final_state = Some(state.clone());
                            if *interrupts.borrow() > 0 {
                                return Ok(stop(
                                    exit::INTERRUPTED,
                                    "interrupted",
                                    "Interrupted while waiting for the migrations lock; no step started.",
                                ));
                            }
                            if state.lock_live() {
                                return Ok(stop(
                                    exit::LOCK_HELD,
                                    "lock_held",
                                    format!(
                                        "The migrations lock is still held after {secs} s: {}",
                                        report::lock_line(&state).unwrap_or_default()
                                    ),
                                ));
                            }
                            continue;
                        }
                        Err(e) => {
                            return Ok(stop(
                                exit::DB_UNREADABLE,
                                "database_unreadable",
                                format!("cannot read the database while waiting for the lock: {e:#}"),
                            ))
                        }
                    }
                }
            }
        }
        // The gates judge the state once nothing is migrating it, before the first step.
        if !gated {
            gated = true;
            if let Some(s) = gates(&state, args, to, catalog) {
                return Ok(s);
            }
        }
        if state.lock.is_some() && !stale_told {
            stale_told = true;
            rep.say(&format!(
                "Migrations lock: {}",
                report::lock_line(&state).unwrap_or_default()
            ));
        }

        let command = if state.needs_bootstrap {
            KongCommand::Bootstrap
        } else if state.any(MigState::Pending) {
            let gate_closed = match args.finish {
                FinishMode::WhenNoOldNodes => match old_nodes(&ctx, args).await {
                    Ok(blockers) if blockers.is_empty() => None,
                    Ok(blockers) => Some(format!(
                        "Old nodes are still seen, so `finish` would break them:\n  - {}",
                        blockers.join("\n  - ")
                    )),
                    Err(e) => Some(format!("The nodes could not be checked: {e:#}")),
                },
                _ => None,
            };
            if let Some(why) = &gate_closed {
                return Ok(stop(
                    exit::PENDING,
                    "pending_finish",
                    format!(
                        "Stopped before finish: {} migration(s) pending.\n{why}\nStop them (data planes too), then run kongrade auto again.",
                        state.total(MigState::Pending)
                    ),
                ));
            }
            match args.finish {
                FinishMode::Always | FinishMode::WhenNoOldNodes => KongCommand::Finish,
                _ => {
                    let new_too = state.any(MigState::New);
                    return Ok(stop(
                        exit::PENDING,
                        "pending_finish",
                        format!(
                            "Stopped: {} migration(s) pending: {}.\n{}Next: stop every node of the old version (data planes too), then run 'kong migrations finish' with the new version (or kongrade auto --finish=always).",
                            state.total(MigState::Pending),
                            names_of(&state, MigState::Pending),
                            if new_too {
                                "New migrations wait behind them: Kong's 'up' refuses while migrations are pending (left by an earlier upgrade, or by an 'up' that stopped part way), so 'finish' comes first, then 'up'.\n"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
        } else if state.any(MigState::New) {
            KongCommand::Up
        } else {
            journal.append(Event::Closed {
                outcome: format!(
                    "up to date for Kong {}",
                    to.map(|v| v.to_string())
                        .unwrap_or_else(|| "(Lua tree)".into())
                ),
            })?;
            return Ok(stop(
                exit::UP_TO_DATE,
                "up_to_date",
                format!(
                    "Database is up to date for Kong {}.",
                    to.map(|v| v.to_string())
                        .unwrap_or_else(|| "(Lua tree)".into())
                ),
            ));
        };
        if args.backup == Backup::PgDump && !backed_up && !state.needs_bootstrap {
            // A fresh database has nothing to lose; anything else is dumped once, before the
            // first step that changes it.
            backed_up = true;
            rep.say("Backup: pg_dump of the database before any migration runs");
            match crate::cmd::backup::take(
                &ctx.conf,
                db,
                args.backup_out.clone(),
                !args.json,
                Some(&mut journal),
            )
            .await
            {
                Ok(rec) => rep.say(&format!(
                    "Backup verified: {} ({} bytes, sha256 {})",
                    rec.file.display(),
                    rec.bytes,
                    rec.sha256
                )),
                Err(e) => {
                    return Ok(stop(
                        exit::BACKUP_FAILED,
                        "backup_failed",
                        format!("The backup failed, so nothing was migrated: {e:#}\nFix it, or run again with --backup=skip if you took your own."),
                    ))
                }
            }
        }
        if *interrupts.borrow() > 0 {
            return Ok(stop(
                exit::INTERRUPTED,
                "interrupted",
                format!(
                    "Interrupted: no further step started. Next would be 'kong migrations {}'; run kongrade auto again to go on.",
                    command.as_str()
                ),
            ));
        }
        if let Some((code, result, why)) = blocked.get(command.as_str()) {
            return Ok(stop(
                *code,
                result,
                format!(
                    "Not running 'kong migrations {}' again in this run: {why}",
                    command.as_str()
                ),
            ));
        }

        let mut inv = template.clone();
        inv.command = command;
        step_no += 1;
        rep.say(&format!(
            "\nStep {step_no}: kong migrations {}",
            command.as_str()
        ));
        // Announced (and on disk) before kong starts.
        journal.append(Event::State {
            when: format!("before {}", command.as_str()),
            state: StateSummary::of(&state),
        })?;
        journal.append(Event::Command {
            command_line: format!(
                "{} {}",
                conn.kong_cmd.as_deref().unwrap_or("kong"),
                inv.kong_args().join(" ")
            ),
        })?;
        let (events, outcome, command_line) =
            run_step(&kong, &inv, step_no, rep, &mut interrupts).await;
        let (code, signal) = match &outcome {
            RunOutcome::Exited { code, signal } => (*code, *signal),
            RunOutcome::SpawnFailed { .. } => (None, None),
        };
        journal.append(Event::CommandExit {
            command_line: command_line.clone(),
            code,
            signal,
        })?;
        rep.say(&format!("  = {}", outcome.describe()));
        let output: Vec<(Stream, String)> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Line { stream, text } => Some((*stream, text.clone())),
                _ => None,
            })
            .collect();
        let aborted = output.iter().any(|(_, t)| t.contains(NOT_LEADER_MSG));

        // The database, not kong's words, says what happened.
        let after = match ctx.read_state().await {
            Ok(s) => {
                journal.append(Event::State {
                    when: format!("after {}", command.as_str()),
                    state: StateSummary::of(&s),
                })?;
                s
            }
            Err(e) => {
                rep.steps.push(StepRecord {
                    command,
                    command_line,
                    outcome: outcome.clone(),
                    aborted_by_lock: aborted,
                    moved: Vec::new(),
                    output,
                });
                return Ok(stop(
                    exit::DB_UNREADABLE,
                    "database_unreadable",
                    format!(
                        "'kong migrations {}' ended ({}), and then the database could not be read: {e:#}\nWhat the step changed is unknown. Nothing was retried: check the database, then run 'kongrade status'.",
                        command.as_str(),
                        outcome.describe()
                    ),
                ));
            }
        };
        let moved = moves(&state, &after);
        if moved.is_empty() {
            rep.say("  Database: nothing changed.");
        } else {
            rep.say(&format!("  Database: {} migration(s) moved:", moved.len()));
            print_moves(rep, &moved);
        }
        rep.say(&format!("  State: {}", summary(&after, catalog)));
        if aborted {
            rep.say(if moved.is_empty() {
                "  kong aborted: another node held the migrations lock."
            } else {
                "  kong aborted: another node held the migrations lock; the changes above are that node's."
            });
        }
        if after.lock_live() {
            rep.say(&format!(
                "  Migrations lock: {}",
                report::lock_line(&after).unwrap_or_default()
            ));
        }
        rep.steps.push(StepRecord {
            command,
            command_line,
            outcome: outcome.clone(),
            aborted_by_lock: aborted,
            moved: moved.clone(),
            output,
        });
        state = after;
        *final_state = Some(state.clone());

        if *interrupts.borrow() > 0 {
            return Ok(stop(
                exit::INTERRUPTED,
                "interrupted",
                format!(
                    "Interrupted: 'kong migrations {}' ended ({}); no further step started. The database state is above; run kongrade auto again to go on.",
                    command.as_str(),
                    outcome.describe()
                ),
            ));
        }
        if !outcome.success() {
            let what = match &outcome {
                RunOutcome::SpawnFailed { message } => format!(
                    "the kong command could not be started: {message}. Check --kong-cmd (or KONGRADE_KONG_CMD)."
                ),
                RunOutcome::Exited { signal: Some(_), .. } => format!(
                    "'kong migrations {}' was {}. The migrations recorded before it stopped are above; its lock row may stay until its ttl passes. Run kongrade auto again (with --wait-lock) to go on, or 'kongrade diagnose'.",
                    command.as_str(),
                    outcome.describe()
                ),
                _ => format!(
                    "'kong migrations {}' failed ({}); its output is above. Nothing was retried: fix the cause, then run kongrade auto again.",
                    command.as_str(),
                    outcome.describe()
                ),
            };
            return Ok(stop(exit::KONG_FAILED, "kong_failed", what));
        }
        if moved.is_empty() {
            let (code, result, why) = if aborted {
                (
                    exit::LOCK_HELD,
                    "lock_held",
                    "it aborted on another node's lock and the database did not change".to_string(),
                )
            } else {
                (
                    exit::KONG_FAILED,
                    "kong_failed",
                    format!(
                        "it exited 0 but the database did not change (does kong see the same database and the same target, Kong {}?)",
                        to.map(|v| v.to_string()).unwrap_or_default()
                    ),
                )
            };
            blocked.insert(command.as_str(), (code, result, why));
        }
    }
    unreachable!("the step loop only ends by returning")
}

/// Counts SIGINT and SIGTERM. kong runs in its own process group, so a terminal's Ctrl-C (or a CI
/// runner's SIGTERM to auto's group) reaches auto only; auto decides what kong gets.
fn listen_for_interrupts() -> Result<tokio::sync::watch::Receiver<u32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}

/// Runs one kong step, printing its output live, prefixed. On a first interrupt kong is let
/// finish (killed mid-migration it can leave a step half done, and dying with auto it would get
/// SIGPIPE at its next line anyway); on a second it gets SIGINT, then SIGKILL after 10 s.
async fn run_step(
    kong: &KongTarget,
    inv: &Invocation,
    step_no: u64,
    rep: &Reporter,
    interrupts: &mut tokio::sync::watch::Receiver<u32>,
) -> (Vec<RunEvent>, RunOutcome, String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = start(kong, inv, step_no, tx);
    let mut events = Vec::new();
    let mut command_line = String::new();
    let mut signals_open = true;
    let mut told = 0;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some((_, ev)) = ev else { break };
                match &ev {
                    RunEvent::Started { command_line: c } => {
                        command_line = c.clone();
                        rep.say(&format!("  $ {c}"));
                    }
                    RunEvent::Line { stream: Stream::Stdout, text } => rep.say(&format!("  | {text}")),
                    RunEvent::Line { stream: Stream::Stderr, text } => rep.say(&format!("  ! {text}")),
                    RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. } => {
                        events.push(ev);
                        break;
                    }
                }
                events.push(ev);
            }
            changed = interrupts.changed(), if signals_open => {
                if changed.is_err() {
                    signals_open = false;
                    continue;
                }
                let n = *interrupts.borrow_and_update();
                if n == 1 && told == 0 {
                    told = 1;
                    rep.say("  Interrupt: letting this kong step end (stopping it mid-migration can leave it half done); no further step will start. Interrupt again to stop kong now.");
                } else if n >= 2 && told < 2 {
                    told = 2;
                    rep.say("  Interrupting kong (SIGINT; SIGKILL in 10 s). A killed run leaves its lock row until its ttl passes.");
                    handle.cancel(Duration::from_secs(10));
                }
            }
        }
    }
    let outcome = handle.wait().await;
    (events, outcome, command_line)
}

fn print_moves(rep: &Reporter, moved: &[Move]) {
    for m in moved {
        rep.say(&format!(
            "    {}/{}: {} -> {}",
            m.subsystem,
            m.migration,
            state_name(m.from),
            state_name(m.to)
        ));
    }
}

/// The refusals, in order of what must be fixed first.
fn gates(
    state: &SchemaState,
    args: &AutoArgs,
    to: Option<Version>,
    catalog: &Catalog,
) -> Option<Stopped> {
    if state.needs_bootstrap && state.legacy_table {
        return Some(stop(
            exit::PRE_1_0,
            "refused_pre_1_0",
            "The database holds a pre-1.0 Kong schema (schema_migrations, no schema_meta). Kong 2.0+ cannot migrate it, and 'bootstrap' must NOT be run on it: upgrade through Kong 1.5 first ('kongrade plan').",
        ));
    }
    if !state.gaps.is_empty() && !args.allow_gaps {
        let list: Vec<String> = state
            .gaps
            .iter()
            .map(|g| {
                format!(
                    "{}: {} (never recorded, yet {} is)",
                    g.subsystem,
                    g.migrations.join(", "),
                    g.before
                )
            })
            .collect();
        return Some(stop(
            exit::GAPS,
            "refused_gaps",
            format!(
                "Gaps in the recorded migrations: an earlier upgrade skipped them, and Kong would run them now, out of order:\n  {}\n'kongrade diagnose' explains; --allow-gaps goes on anyway.",
                list.join("\n  ")
            ),
        ));
    }
    if !state.unknown.is_empty() && !args.allow_unknown {
        let list: Vec<String> = state
            .unknown
            .iter()
            .map(|u| {
                if u.subsystem_loaded {
                    format!("{}: {}", u.subsystem, u.migrations.join(", "))
                } else {
                    format!(
                        "{}: the whole subsystem ({} migrations) is recorded but the target does not load it (missing from `plugins`?)",
                        u.subsystem,
                        u.migrations.len()
                    )
                }
            })
            .collect();
        return Some(stop(
            exit::UNKNOWN,
            "refused_unknown",
            format!(
                "The database records migrations the target does not know (is the database newer than the target, or a plugin missing from `plugins`?):\n  {}\n--allow-unknown goes on anyway.",
                list.join("\n  ")
            ),
        ));
    }
    if state.needs_bootstrap || state.up_to_date() {
        return None;
    }
    // A target from a Lua tree alone has no version: no jump to judge.
    let to = to?;
    let from = database_version(state);
    let floor = fully_applied_version(state, catalog);
    // A schema at one release is judged from it. A mixed one (an interrupted upgrade, or
    // plugins behind core) passes if the jump is supported from core's release or from the
    // release every subsystem has reached: finishing an upgrade already under way is recovery.
    let supported = if !state.schema_matches.is_empty() {
        from.is_none_or(|f| jump_supported(f, to))
    } else {
        from.is_none_or(|f| jump_supported(f, to)) || floor.is_some_and(|f| jump_supported(f, to))
    };
    if !supported && !args.allow_unsupported_jump {
        let from = from.map(|v| v.to_string()).unwrap_or_default();
        let matches = if state.schema_matches.is_empty() {
            format!(
                "core matches Kong {}; every subsystem has reached {}",
                describe_versions(catalog, &state.core_matches),
                floor
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "no release".into())
            )
        } else {
            format!(
                "the database matches Kong {}",
                describe_versions(catalog, &state.schema_matches)
            )
        };
        return Some(stop(
            exit::UNSUPPORTED_JUMP,
            "refused_unsupported_jump",
            format!(
                "Kong does not support upgrading from {from} ({matches}) to {to} in one step: it supports patch releases, adjacent minors, 2.8 -> 3.4 -> 3.10, and 3.0 from 2.1+. Go through the versions in between ('kongrade plan'); --allow-unsupported-jump goes on anyway."
            ),
        ));
    }
    None
}

/// Polls the state until the lock is no longer live or `limit` has passed.
async fn wait_lock(
    ctx: &Context,
    rep: &Reporter,
    state: &SchemaState,
    limit: Duration,
    interrupts: &mut tokio::sync::watch::Receiver<u32>,
) -> Result<SchemaState> {
    rep.say(&format!(
        "Waiting up to {} s for the migrations lock: {}",
        limit.as_secs(),
        report::lock_line(state).unwrap_or_default()
    ));
    let start = Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(left.min(Duration::from_millis(500))) => false,
            r = interrupts.changed() => r.is_ok(),
        };
        let s = ctx.read_state().await?;
        if interrupted {
            return Ok(s);
        }
        if !s.lock_live() {
            rep.say(&format!(
                "The lock is gone after {:.1} s.",
                start.elapsed().as_secs_f64()
            ));
            return Ok(s);
        }
        if start.elapsed() >= limit {
            return Ok(s);
        }
    }
}

/// What keeps `--finish=when-no-old-nodes` from finishing: the same gate as `kongrade nodes`.
async fn old_nodes(ctx: &Context, args: &AutoArgs) -> Result<Vec<String>> {
    let n = &args.nodes;
    let nargs = crate::cmd::nodes::NodesArgs {
        admin_urls: n.admin_urls.clone(),
        nodes_file: n.nodes_file.clone(),
        probe: n.probe_options(),
        dp_window: n.dp_window as f64,
    };
    let inv = crate::cmd::nodes::inventory(ctx, &nargs).await?;
    Ok(inv.gate.blockers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn kongs_supported_paths() {
        assert!(jump_supported(v("3.4.0"), v("3.4.2")));
        assert!(jump_supported(v("3.3.1"), v("3.4.2")));
        assert!(jump_supported(v("2.8.5"), v("3.4.2")));
        assert!(jump_supported(v("3.4.2"), v("3.10.0")));
        assert!(jump_supported(v("2.1.4"), v("3.0.1")));
        assert!(jump_supported(v("2.8.5"), v("3.0.0")));
        assert!(
            jump_supported(v("3.4.2"), v("3.4.0")),
            "not a jump: downgrade"
        );
        assert!(!jump_supported(v("2.0.5"), v("3.0.0")));
        assert!(!jump_supported(v("2.8.5"), v("3.5.0")));
        assert!(!jump_supported(v("3.2.2"), v("3.4.2")));
        assert!(!jump_supported(v("1.5.1"), v("2.8.5")));
        assert!(!jump_supported(v("2.7.2"), v("3.4.2")));
    }
}
