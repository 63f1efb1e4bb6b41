//! The kong stand-in: `kong migrations bootstrap|up|finish|list|status|reset` and `kong version`
//! as Kong 3.x's CLI behaves (kong/cmd/migrations.lua, kong/cmd/utils/migrations.lua,
//! kong/db/init.lua `run_migrations` and `cluster_mutex`), for tests and training.
//!
//! It runs NO migration DDL. Its whole effect on a database is Kong's bookkeeping: the
//! `schema_meta` and `locks` tables, the migrations lock taken and released as Kong does, and one
//! recording statement per migration right after it "ran". So the state kongrade reads after a
//! stand-in run is the state a real Kong would have left, including after a failure
//! (`--fail-at`) or a killed run (`--die-at`), while the rest of the schema stays untouched.
//!
//! The same engine runs as a process (`kongrade stand-in`, against PostgreSQL) and as a tokio
//! task against the in-memory training database (`kongrade demo`), writing through [`Out`].

pub mod backend;
pub mod pg;
pub mod prefix;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result};

pub use backend::{Backend, MemoryBackend, OffBackend, Record};

use crate::contract::{Invocation, KongCommand, Stream};
use crate::kong::catalog::{Catalog, Db, SubsystemSpec};
use crate::kong::report;
use crate::kong::state::{self, MigState, SchemaState};
use crate::kong::target::Target;
use crate::kong::version::Version;

/// Kong's own texts (kong/cmd/utils/migrations.lua, kong/cmd/migrations.lua, 3.x).
pub const NOT_LEADER_MSG: &str = "aborted: another node is performing database changes";
pub const NEEDS_BOOTSTRAP_MSG: &str = "Database needs bootstrapping or is older than Kong 1.0.\n\n\
To start a new installation from scratch, run 'kong migrations bootstrap'.\n\n\
To migrate from a version older than 1.0, migrated to Kong 1.5.0 first. \n\
If you still have 'apis' entities, you can convert them to Routes and Services\n\
using the 'kong migrations migrate-apis' command in Kong 1.5.0.\n\n";
pub const PENDING_MSG: &str = "Database has pending migrations; run 'kong migrations finish'";
pub const VERBOSE_HINT: &str = "  Run with --v (verbose) or --vv (debug) for more details";

/// A migration named as `SUBSYSTEM/NAME` (e.g. `core/016_280_to_300`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRef {
    pub subsystem: String,
    pub name: String,
}

impl FromStr for MigrationRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((sub, name)) if !sub.is_empty() && !name.is_empty() => Ok(MigrationRef {
                subsystem: sub.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "'{s}' is not SUBSYSTEM/NAME (e.g. core/016_280_to_300)"
            )),
        }
    }
}

impl fmt::Display for MigrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.subsystem, self.name)
    }
}

/// How the stand-in behaves beyond Kong's own flags.
#[derive(Clone, Debug, PartialEq)]
pub struct StandInOptions {
    /// The Kong release it plays: its migrations come from the embedded catalog.
    pub kong_version: Version,
    /// Time each migration "takes", to watch progress.
    pub delay: Duration,
    /// This migration fails (its up, or its teardown during finish): Kong's error, exit 1.
    pub fail_at: Option<MigrationRef>,
    /// The process dies here, as a killed Kong: no cleanup, the lock row stays.
    pub die_at: Option<MigrationRef>,
    /// `plugins` for the in-process stand-in (a process reads kong.conf instead).
    pub plugins: Vec<String>,
    /// Subsystems beyond the catalog (custom plugins, as `--kong-lua-path` would find them): the
    /// training cluster's custom plugins have migrations no Kong release bundles.
    pub custom: Vec<SubsystemSpec>,
}

impl StandInOptions {
    pub fn new(kong_version: Version) -> Self {
        StandInOptions {
            kong_version,
            delay: Duration::ZERO,
            fail_at: None,
            die_at: None,
            plugins: vec!["bundled".to_string()],
            custom: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigCommand {
    Bootstrap,
    Up,
    Finish,
    List,
    Status,
    Reset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KongCall {
    Migrations(MigCommand),
    Version { all: bool },
}

/// Kong's command line after `kong`, as lapp reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KongArgs {
    pub call: KongCall,
    pub conf: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
    pub yes: bool,
    pub quiet: bool,
    pub force: bool,
    /// Seconds (Kong's default 60); replaces pg_timeout for the run.
    pub db_timeout: u64,
    /// Seconds (Kong's default 60): the lock's ttl, and how long `up` waits on another's.
    pub lock_timeout: u64,
    /// 0, 1 (`--v`) or 2 (`--vv`).
    pub verbosity: u8,
}

pub const MIGRATIONS_USAGE: &str = "Usage: kong migrations COMMAND [OPTIONS]

Manage database schema migrations (kongrade stand-in: bookkeeping only, no DDL).

The available commands are:
  bootstrap    Bootstrap the database and run all migrations.
  up           Run any new migrations.
  finish       Finish running any pending migrations after 'up'.
  list         List executed migrations.
  reset        Reset the database (the stand-in drops schema_meta and locks).
  status       Dump the database migration status in JSON format

Options:
 -y,--yes                 Assume \"yes\" to prompts and run non-interactively.
 -q,--quiet               Suppress all output.
 -f,--force               Run migrations even if database reports as already executed.
 --db-timeout  (default 60)  Timeout, in seconds, for all database operations.
 --lock-timeout (default 60) Timeout, in seconds, for nodes waiting on the leader node to
                             finish running migrations.
 -c,--conf     (optional string) Configuration file.
 -p,--prefix   (optional string) Override prefix directory.
 --v           verbose
 --vv          debug
";

impl KongArgs {
    /// Parses `migrations up -c FILE --lock-timeout 5` or `version [-a]`. Errors are the text
    /// Kong's CLI prints before its usage (exit 1).
    pub fn parse(args: &[String]) -> Result<KongArgs, String> {
        let mut positional: Vec<&str> = Vec::new();
        let mut a = KongArgs {
            call: KongCall::Version { all: false },
            conf: None,
            prefix: None,
            yes: false,
            quiet: false,
            force: false,
            db_timeout: 60,
            lock_timeout: 60,
            verbosity: 0,
        };
        let mut all = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if arg.starts_with("--") => (f, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                match inline.clone().or_else(|| it.next().cloned()) {
                    Some(v) => Ok(v),
                    None => Err(format!("{name} requires a value")),
                }
            };
            let number = |name: &str, v: String| -> Result<u64, String> {
                v.parse::<u64>()
                    .map_err(|_| format!("unable to convert to number: {v} ({name})"))
            };
            match flag {
                "-c" | "--conf" => a.conf = Some(PathBuf::from(value(flag)?)),
                "-p" | "--prefix" => a.prefix = Some(PathBuf::from(value(flag)?)),
                "-y" | "--yes" => a.yes = true,
                "-q" | "--quiet" => a.quiet = true,
                "-f" | "--force" => a.force = true,
                "-a" | "--all" => all = true,
                "--db-timeout" => a.db_timeout = number(flag, value(flag)?)?,
                "--lock-timeout" => a.lock_timeout = number(flag, value(flag)?)?,
                "--v" => a.verbosity = a.verbosity.max(1),
                "--vv" => a.verbosity = 2,
                f if f.starts_with('-') && f.len() > 1 => {
                    return Err(format!("unrecognized parameter: {f}"))
                }
                p => positional.push(p),
            }
        }
        match positional.as_slice() {
            ["version"] => a.call = KongCall::Version { all },
            ["migrations", sub] => {
                a.call = KongCall::Migrations(match *sub {
                    "bootstrap" => MigCommand::Bootstrap,
                    "up" => MigCommand::Up,
                    "finish" => MigCommand::Finish,
                    "list" => MigCommand::List,
                    "status" => MigCommand::Status,
                    "reset" => MigCommand::Reset,
                    other => return Err(format!("No such command for migrations: {other}")),
                })
            }
            ["migrations"] => return Err("No command given for migrations".to_string()),
            [] => {
                return Err(
                    "No command given (the stand-in knows 'migrations' and 'version')".into(),
                )
            }
            [cmd, ..] if *cmd != "migrations" && *cmd != "version" => {
                return Err(format!("No such command: {cmd}"))
            }
            _ => return Err(format!("unexpected arguments: {}", positional.join(" "))),
        }
        Ok(a)
    }

    /// The arguments of a runner invocation (for the in-process stand-in).
    pub fn from_invocation(inv: &Invocation) -> KongArgs {
        let call = match inv.command {
            KongCommand::Bootstrap => KongCall::Migrations(MigCommand::Bootstrap),
            KongCommand::Up => KongCall::Migrations(MigCommand::Up),
            KongCommand::Finish => KongCall::Migrations(MigCommand::Finish),
            KongCommand::List => KongCall::Migrations(MigCommand::List),
            KongCommand::Status => KongCall::Migrations(MigCommand::Status),
            KongCommand::Version => KongCall::Version { all: false },
        };
        KongArgs {
            call,
            conf: inv.conf.clone(),
            prefix: None,
            yes: false,
            quiet: false,
            force: inv.force,
            db_timeout: inv.db_timeout.unwrap_or(60),
            lock_timeout: inv.lock_timeout.unwrap_or(60),
            verbosity: 0,
        }
    }
}

/// Where the stand-in writes: the process's stdout/stderr, or run events.
pub trait Out: Send {
    fn line(&mut self, stream: Stream, text: &str);
    /// Whether stdin is a terminal (Kong's `reset` asks only on one).
    fn stdin_is_tty(&self) -> bool {
        false
    }
    /// Shows `prompt` and reads one answer; None when there is no one to ask.
    fn ask(&mut self, _prompt: &str) -> Option<String> {
        None
    }
}

/// How a stand-in run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Code(i32),
    /// `--die-at` was reached: the caller ends the process as a kill would (no cleanup).
    Die,
}

/// `kong version` output: Kong prints `meta._VERSION` alone (kong/cmd/version.lua); `-a` adds
/// the dependencies, which a stand-in does not have.
pub fn version_text(v: Version, all: bool) -> String {
    if all {
        format!(
            "Kong: {v}\nngx_lua: n/a (kongrade stand-in)\nnginx: n/a (kongrade stand-in)\nLua: n/a (kongrade stand-in)"
        )
    } else {
        v.to_string()
    }
}

/// Kong's CLI error shape (kong/cmd/init.lua): without --v, `Error: <message>`, a blank line
/// and the verbosity hint; with it, `Error: ` and the message below.
pub fn error_lines(message: &str, verbosity: u8) -> Vec<String> {
    let mut out = Vec::new();
    if verbosity == 0 {
        out.extend(format!("Error: {message}").split('\n').map(str::to_string));
        out.push(String::new());
        out.push(VERBOSE_HINT.to_string());
    } else {
        out.push("Error: ".to_string());
        out.extend(message.split('\n').map(str::to_string));
    }
    out
}

/// A lock owner id, random per run as Kong's (a v4 UUID from /dev/urandom; pid, time and a
/// counter if that cannot be read).
pub fn owner_id() -> String {
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos
            ^ (u128::from(std::process::id()) << 64)
            ^ u128::from(COUNTER.fetch_add(1, Ordering::Relaxed));
        b = mixed.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `YYYY/MM/DD HH:MM:SS` in local time, as Lua's `os.date` in Kong's log lines.
fn local_date() -> String {
    // SAFETY: time/localtime_r only write into the struct we pass.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

const DEBUG: u8 = 1;
const VERBOSE: u8 = 2;
const INFO: u8 = 3;
const WARN: u8 = 4;
const ERROR: u8 = 5;

/// kong/cmd/utils/log.lua: info and below to stdout, warn and error to stderr with a date; with
/// --v or --vv every line is dated. There is no quiet level: Kong's `-q` disables the log, but
/// loading the configuration switches it back on, so real Kong prints everything with `-q` too.
pub struct Log<'a, O: Out> {
    out: &'a mut O,
    level: u8,
}

impl<'a, O: Out> Log<'a, O> {
    /// The log of a run with `--v` (1) or `--vv` (2) given, or neither (0).
    pub fn new(out: &'a mut O, verbosity: u8) -> Self {
        let level = match verbosity {
            0 => INFO,
            1 => VERBOSE,
            _ => DEBUG,
        };
        Log { out, level }
    }

    fn emit(&mut self, lvl: u8, msg: &str) {
        if lvl < self.level {
            return;
        }
        let msg = if self.level < INFO || lvl >= WARN {
            let name = match lvl {
                DEBUG => "debug",
                VERBOSE => "verbose",
                INFO => "info",
                WARN => "warn",
                _ => "error",
            };
            format!("{} [{name}] {msg}", local_date())
        } else {
            msg.to_string()
        };
        let stream = if lvl < WARN {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        for line in msg.split('\n') {
            self.out.line(stream, line);
        }
    }
    pub fn info(&mut self, msg: &str) {
        self.emit(INFO, msg)
    }
    pub fn verbose(&mut self, msg: &str) {
        self.emit(VERBOSE, msg)
    }
    fn debug(&mut self, msg: &str) {
        self.emit(DEBUG, msg)
    }
    fn warn(&mut self, msg: &str) {
        self.emit(WARN, msg)
    }
    fn error(&mut self, msg: &str) {
        self.emit(ERROR, msg)
    }
}

/// Why a command stopped early.
enum Stop {
    /// Kong's `error()`: printed as `Error: ...`, exit 1.
    Error(String),
    /// `--die-at`: vanish without cleanup.
    Die,
}

type Step<T> = std::result::Result<T, Stop>;

fn fail(msg: impl Into<String>) -> Stop {
    Stop::Error(msg.into())
}

enum Mutex {
    Acquired,
    NotLeader,
}

/// One subsystem's migrations to run: (subsystem, [(name, two_phase)]).
type Group = (String, Vec<(String, bool)>);

fn group(st: &SchemaState, which: MigState) -> Vec<Group> {
    st.subsystems
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.migrations
                    .iter()
                    .filter(|m| m.state == which)
                    .map(|m| (m.name.clone(), m.two_phase))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, m)| !m.is_empty())
        .collect()
}

/// `kong migrations status`: Kong's JSON (cjson.encode of the state: keys absent when empty,
/// migration names only).
pub fn status_json(st: &SchemaState) -> String {
    let mut parts = vec![format!("\"needs_bootstrap\":{}", st.needs_bootstrap)];
    for (key, which) in [
        ("executed_migrations", MigState::Executed),
        ("pending_migrations", MigState::Pending),
        ("new_migrations", MigState::New),
        ("missing_migrations", MigState::Missing),
    ] {
        let list: Vec<serde_json::Value> = st
            .subsystems
            .iter()
            .filter(|s| s.count(which) > 0)
            .map(|s| {
                serde_json::json!({
                    "subsystem": s.name,
                    "namespace": s.namespace,
                    "migrations": s.names(which),
                })
            })
            .collect();
        if !list.is_empty() {
            parts.push(format!("\"{key}\":{}", serde_json::Value::Array(list)));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// The target the stand-in plays: the catalog release with the `plugins` setting, and `custom`
/// subsystems where the catalog has none.
pub fn target_for(
    version: Version,
    plugins: &[String],
    custom: &[SubsystemSpec],
) -> Result<Target> {
    let catalog = Catalog::embedded();
    let release = catalog.release(version).ok_or_else(|| {
        eyre!(
            "Kong {version} is not in kongrade's catalog ({} to {}): the stand-in cannot play it",
            catalog.oldest().map(|v| v.to_string()).unwrap_or_default(),
            catalog.newest().map(|v| v.to_string()).unwrap_or_default()
        )
    })?;
    Ok(Target::from_release(
        release,
        Db::Postgres,
        plugins,
        custom,
        "catalog (stand-in)",
    ))
}

/// The sleeps of Kong's wait on another node's lock (kong/db/init.lua `cluster_mutex`): 0.1 s,
/// then three times longer each time up to 2 s, until their sum reaches the lock timeout. The
/// lock is read after every sleep but the last, which ends in the timeout error; so a wait can
/// run up to ~2 s past `--lock-timeout`.
pub fn lock_wait_sleeps(limit_secs: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut step = 0.1_f64;
    let mut elapsed = 0.0_f64;
    while elapsed < limit_secs {
        out.push(step);
        elapsed += step;
        step = (step * 3.0).min(2.0);
    }
    out
}

struct Engine<'a, B: Backend, O: Out> {
    b: &'a mut B,
    log: Log<'a, O>,
    /// The backend's error prefix (`[PostgreSQL error] `).
    pe: &'static str,
    opts: &'a StandInOptions,
    args: &'a KongArgs,
    target: Target,
    owner: String,
}

/// Runs one Kong command against `backend`. `plugins` is kong.conf's `plugins` setting.
pub async fn run<B: Backend, O: Out>(
    backend: &mut B,
    out: &mut O,
    opts: &StandInOptions,
    plugins: &[String],
    args: &KongArgs,
) -> Ending {
    let cmd = match &args.call {
        KongCall::Version { all } => {
            for l in version_text(opts.kong_version, *all).split('\n') {
                out.line(Stream::Stdout, l);
            }
            return Ending::Code(0);
        }
        KongCall::Migrations(c) => *c,
    };
    let verbosity = args.verbosity;
    let result = match target_for(opts.kong_version, plugins, &opts.custom) {
        Err(e) => Err(fail(format!("{e}"))),
        Ok(target) => {
            let pe = backend.error_prefix();
            let mut e = Engine {
                b: backend,
                log: Log::new(out, verbosity),
                pe,
                opts,
                args,
                target,
                owner: owner_id(),
            };
            e.log.verbose(&format!("Kong: {}", opts.kong_version));
            let r = e.dispatch(cmd).await;
            return finish_with(r, e.log.out, verbosity);
        }
    };
    finish_with(result, out, verbosity)
}

fn finish_with<O: Out>(r: Step<i32>, out: &mut O, verbosity: u8) -> Ending {
    match r {
        Ok(code) => Ending::Code(code),
        Err(Stop::Die) => Ending::Die,
        Err(Stop::Error(m)) => {
            for l in error_lines(&m, verbosity) {
                out.line(Stream::Stderr, &l);
            }
            Ending::Code(1)
        }
    }
}

impl<B: Backend, O: Out> Engine<'_, B, O> {
    async fn dispatch(&mut self, cmd: MigCommand) -> Step<i32> {
        if cmd == MigCommand::Status && self.opts.kong_version < Version::new(3, 0, 0) {
            // `migrations status` arrived with Kong 3.0.0.
            return Err(fail(format!(
                "No such command for migrations: status (Kong {} has no 'migrations status')",
                self.opts.kong_version
            )));
        }
        match cmd {
            MigCommand::List => self.list().await,
            MigCommand::Status => {
                let st = self.state().await?;
                // print(), so it shows even with -q.
                self.log.out.line(Stream::Stdout, &status_json(&st));
                Ok(0)
            }
            MigCommand::Bootstrap => self.bootstrap().await,
            MigCommand::Up => self.up().await,
            MigCommand::Finish => self.finish().await,
            MigCommand::Reset => self.reset().await,
        }
    }

    async fn state(&mut self) -> Step<SchemaState> {
        let pe = self.pe;
        self.log.debug("loading subsystems migrations...");
        self.log.verbose("retrieving database schema state...");
        let snap = self
            .b
            .snapshot()
            .await
            .map_err(|e| fail(format!("{pe}{e}")))?;
        self.log.verbose("schema state retrieved");
        Ok(state::compute(&self.target, &snap, Catalog::embedded()))
    }

    /// The first half of Kong's `cluster_mutex`: take the lock, or wait while another holds it
    /// (unless `no_wait`), polling with Kong's steps (0.1 s, x3, at most 2 s).
    async fn acquire(&mut self, no_wait: bool) -> Step<Mutex> {
        let pe = self.pe;
        let ttl = Duration::from_secs(self.args.lock_timeout);
        let got = self
            .b
            .insert_lock(&self.owner, ttl)
            .await
            .map_err(|e| fail(format!("{pe}failed to insert cluster lock: {e}")))?;
        if got {
            return Ok(Mutex::Acquired);
        }
        if no_wait {
            return Ok(Mutex::NotLeader);
        }
        let sleeps = lock_wait_sleeps(ttl.as_secs_f64());
        let last = sleeps.len().saturating_sub(1);
        for (i, step) in sleeps.into_iter().enumerate() {
            tokio::time::sleep(Duration::from_secs_f64(step)).await;
            if i == last {
                break;
            }
            let locked = self
                .b
                .read_lock()
                .await
                .map_err(|e| fail(format!("{pe}failed to read cluster lock: {e}")))?;
            // Gone, or expired while we waited: either way Kong counts it as released.
            if !locked {
                return Ok(Mutex::NotLeader);
            }
        }
        Err(fail(format!("{pe}timeout")))
    }

    /// The second half: the callback's outcome. An error releases the lock and is wrapped as
    /// Kong wraps it; a death leaves the lock row where it is.
    async fn release(&mut self, r: Step<()>, cleanup: bool) -> Step<()> {
        let pe = self.pe;
        match r {
            Err(Stop::Die) => Err(Stop::Die),
            Err(Stop::Error(m)) => {
                let _ = self.b.remove_lock(&self.owner).await;
                Err(fail(format!(
                    "{pe}cluster_mutex callback threw an error: {m}"
                )))
            }
            Ok(()) => {
                if cleanup {
                    // Kong ignores a failure to remove its lock; the ttl ends it.
                    let _ = self.b.remove_lock(&self.owner).await;
                }
                Ok(())
            }
        }
    }

    /// kong/db/init.lua `run_migrations`: per subsystem, per migration: run, record, print.
    async fn run_migrations(
        &mut self,
        groups: &[Group],
        run_up: bool,
        run_teardown: bool,
        skip_teardown: &HashSet<(String, String)>,
    ) -> Step<()> {
        let db_name = self.b.db_name();
        let db_desc = self.b.db_desc();
        let missing = self.b.missing_strategy();
        let pe = self.pe;
        let mut n_migrations = 0usize;
        let mut n_pending = 0usize;
        for (sub, migs) in groups {
            self.log
                .info(&format!("migrating {sub} on {db_desc} '{db_name}'..."));
            for (name, two_phase) in migs {
                if let Some(strategy) = missing {
                    return Err(fail(format!(
                        "{pe}missing {strategy} strategy for migration '{name}'"
                    )));
                }
                self.log.debug(&format!("running migration: {name}"));
                if !self.opts.delay.is_zero() {
                    tokio::time::sleep(self.opts.delay).await;
                }
                let here = |r: &Option<MigrationRef>| {
                    r.as_ref()
                        .is_some_and(|r| &r.subsystem == sub && &r.name == name)
                };
                if here(&self.opts.die_at) {
                    return Err(Stop::Die);
                }
                if here(&self.opts.fail_at) {
                    let phase = if run_up { "up" } else { "teardown" };
                    return Err(fail(format!(
                        "{pe}failed to run migration '{name}' {phase}: ERROR: kongrade stand-in: failure requested with --fail-at {sub}/{name}"
                    )));
                }
                if run_up {
                    // What the data does to this migration (the training database's faults):
                    // Kong's wrapping of a failed up, run_migrations in kong/db/init.lua.
                    if let Some((phase, error)) = self.b.fault(sub, name) {
                        return Err(fail(format!(
                            "{pe}failed to run migration '{name}' {phase}: {error}"
                        )));
                    }
                }
                let record_err = |e: color_eyre::Report| {
                    fail(format!("{pe}failed to record migration '{name}': {e}"))
                };
                if run_up {
                    let how = if *two_phase {
                        n_pending += 1;
                        Record::Pending
                    } else {
                        Record::Executed
                    };
                    self.b.record(sub, name, how).await.map_err(record_err)?;
                }
                let skip = skip_teardown.contains(&(sub.clone(), name.clone()));
                if !skip && run_teardown && *two_phase {
                    self.b
                        .record(sub, name, Record::Teardown)
                        .await
                        .map_err(record_err)?;
                    n_pending = n_pending.saturating_sub(1);
                }
                let label = if *two_phase && !run_teardown {
                    "(pending)"
                } else {
                    "(executed)"
                };
                self.log
                    .info(&format!("{sub} migrated up to: {name} {label}"));
                n_migrations += 1;
            }
        }
        self.log.info(&format!(
            "{n_migrations} migration{} processed",
            if n_migrations > 1 { "s" } else { "" }
        ));
        let n_executed = n_migrations - n_pending.min(n_migrations);
        if n_executed > 0 {
            self.log.info(&format!("{n_executed} executed"));
        }
        if n_pending > 0 {
            self.log.info(&format!("{n_pending} pending"));
        }
        Ok(())
    }

    async fn list(&mut self) -> Step<i32> {
        let st = self.state().await?;
        if st.needs_bootstrap {
            self.log.info(NEEDS_BOOTSTRAP_MSG);
            return Ok(3);
        }
        let mut r = "";
        if let Some(b) = report::kong_block(&st, MigState::Executed) {
            self.log.info(&format!("Executed migrations:\n{b}"));
            r = "\n";
        }
        if let Some(b) = report::kong_block(&st, MigState::Pending) {
            self.log.info(&format!("{r}Pending migrations:\n{b}"));
            r = "\n";
        }
        if let Some(b) = report::kong_block(&st, MigState::New) {
            self.log.info(&format!("{r}New migrations available:\n{b}"));
            r = "\n";
        }
        let pending = st.any(MigState::Pending);
        let new = st.any(MigState::New);
        if pending && new {
            if !r.is_empty() {
                self.log.info("");
            }
            self.log.warn(&format!(
                "Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version {})",
                self.opts.kong_version
            ));
            self.log.info("\nRun 'kong migrations finish' when ready to complete pending migrations (postgres database will be incompatible with the previous Kong version)");
            return Ok(4);
        }
        if pending {
            self.log.info("\nRun 'kong migrations finish' when ready");
            return Ok(4);
        }
        if new {
            self.log.info("\nRun 'kong migrations up' to proceed");
            return Ok(5);
        }
        Ok(0)
    }

    async fn bootstrap(&mut self) -> Step<i32> {
        let pe = self.pe;
        let mut st = self.state().await?;
        if self.args.force {
            self.reset_database(&st).await?;
            st = self.state().await?;
        }
        if !st.needs_bootstrap {
            self.log.info("Database already bootstrapped");
            return Ok(0);
        }
        self.log.info("Bootstrapping database...");
        self.b
            .bootstrap_tables()
            .await
            .map_err(|e| fail(format!("{pe}failed to bootstrap database: {e}")))?;
        match self.acquire(true).await? {
            Mutex::NotLeader => {
                self.log.info(NOT_LEADER_MSG);
                Ok(0)
            }
            Mutex::Acquired => {
                let groups = group(&st, MigState::New);
                let r = self
                    .run_migrations(&groups, true, true, &HashSet::new())
                    .await;
                if r.is_ok() {
                    self.log.info("Database is up-to-date");
                }
                self.release(r, true).await?;
                Ok(0)
            }
        }
    }

    async fn up(&mut self) -> Step<i32> {
        let st = self.state().await?;
        if st.needs_bootstrap {
            return Err(fail(format!(
                "Cannot run migrations: {NEEDS_BOOTSTRAP_MSG}"
            )));
        }
        if !self.args.force && st.any(MigState::Pending) {
            return Err(fail(PENDING_MSG));
        }
        match self.acquire(false).await? {
            Mutex::NotLeader => {
                self.log.info(NOT_LEADER_MSG);
                Ok(0)
            }
            Mutex::Acquired => {
                let r = self.up_locked().await;
                self.release(r, true).await?;
                Ok(0)
            }
        }
    }

    async fn up_locked(&mut self) -> Step<()> {
        let force = self.args.force;
        let mut st = self.state().await?;
        if !force && st.any(MigState::Pending) {
            return Err(fail(PENDING_MSG));
        }
        if force && st.any(MigState::Executed) {
            let skip: HashSet<(String, String)> = group(&st, MigState::Pending)
                .into_iter()
                .flat_map(|(s, m)| m.into_iter().map(move |(n, _)| (s.clone(), n)))
                .collect();
            self.run_migrations(&group(&st, MigState::Executed), true, true, &skip)
                .await?;
            st = self.state().await?;
            if st.any(MigState::Pending) {
                self.log.info(
                    "\nDatabase has pending migrations; run 'kong migrations finish' when ready",
                );
                return Ok(());
            }
        }
        if !st.any(MigState::New) {
            if !force {
                self.log.info("Database is already up-to-date");
            }
            return Ok(());
        }
        if let Some(b) = report::kong_block(&st, MigState::New) {
            self.log.debug(&format!("migrations to run:\n{b}"));
        }
        self.run_migrations(&group(&st, MigState::New), true, false, &HashSet::new())
            .await?;
        let st = self.state().await?;
        if st.any(MigState::Pending) {
            self.log
                .info("\nDatabase has pending migrations; run 'kong migrations finish' when ready");
        }
        Ok(())
    }

    async fn finish(&mut self) -> Step<i32> {
        let st = self.state().await?;
        if st.needs_bootstrap {
            return Err(fail(format!(
                "Cannot run migrations: {NEEDS_BOOTSTRAP_MSG}"
            )));
        }
        match self.acquire(true).await? {
            Mutex::NotLeader => {
                self.log.info(NOT_LEADER_MSG);
                Ok(0)
            }
            Mutex::Acquired => {
                let r = self.finish_locked().await;
                self.release(r, true).await?;
                Ok(0)
            }
        }
    }

    async fn finish_locked(&mut self) -> Step<()> {
        let force = self.args.force;
        let mut st = self.state().await?;
        if force && st.any(MigState::Executed) {
            self.run_migrations(&group(&st, MigState::Executed), true, true, &HashSet::new())
                .await?;
            st = self.state().await?;
        }
        if st.any(MigState::Pending) {
            if let Some(b) = report::kong_block(&st, MigState::Pending) {
                self.log
                    .debug(&format!("pending migrations to finish:\n{b}"));
            }
            self.run_migrations(&group(&st, MigState::Pending), false, true, &HashSet::new())
                .await?;
            st = self.state().await?;
        }
        if st.any(MigState::New) {
            self.log
                .info("\nNew migrations available; run 'kong migrations up' to proceed");
            return Ok(());
        }
        // Kong 3.x prints this after a successful finish too: the state it tests is the one
        // re-read after the teardowns.
        if !force && !st.any(MigState::Pending) {
            self.log.info("No pending migrations to finish");
        }
        Ok(())
    }

    async fn reset(&mut self) -> Step<i32> {
        let st = self.state().await?;
        if !self.args.yes {
            if !self.log.out.stdin_is_tty() {
                return Err(fail(
                    "not a tty: invoke 'reset' non-interactively with the --yes flag",
                ));
            }
            if !st.needs_bootstrap && !self.confirm("Are you sure? This operation is irreversible.")
            {
                self.log.info("cancelled");
                return Ok(0);
            }
        }
        Ok(if self.reset_database(&st).await? {
            0
        } else {
            1
        })
    }

    fn confirm(&mut self, q: &str) -> bool {
        for _ in 0..3 {
            // Kong 2.x asked `[Y/n]`, 3.x `[y/n]`; both want an answer typed, no default.
            let choices = if self.opts.kong_version < Version::new(3, 0, 0) {
                "[Y/n]"
            } else {
                "[y/n]"
            };
            match self.log.out.ask(&format!("> {q} {choices} ")).as_deref() {
                Some("y" | "Y" | "yes" | "YES") => return true,
                Some("n" | "N" | "no" | "NO") => return false,
                // An unknown answer, or none (stdin closed): Kong asks again, three times in all.
                Some(_) | None => {}
            }
        }
        false
    }

    /// kong/cmd/utils/migrations.lua `reset`: under the lock (no wait, no cleanup: the table
    /// goes with it); if the lock cannot even be tried, reset without it, as Kong does.
    async fn reset_database(&mut self, st: &SchemaState) -> Step<bool> {
        let pe = self.pe;
        if st.needs_bootstrap {
            self.log.info("Database not bootstrapped, nothing to reset");
            return Ok(false);
        }
        match self.acquire(true).await {
            Err(Stop::Die) => Err(Stop::Die),
            Err(Stop::Error(e)) => {
                self.log
                    .error(&format!("{e} - retrying without cluster lock"));
                self.log.info("Resetting database...");
                self.b.reset().await.map_err(|e| fail(format!("{pe}{e}")))?;
                self.log.info("Database successfully reset");
                Ok(true)
            }
            Ok(Mutex::NotLeader) => {
                self.log.info(NOT_LEADER_MSG);
                Ok(false)
            }
            Ok(Mutex::Acquired) => {
                self.log.info("Resetting database...");
                let r = self.b.reset().await.map_err(|e| fail(format!("{pe}{e}")));
                self.release(r, false).await?;
                self.log.info("Database successfully reset");
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<KongArgs, String> {
        let v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        KongArgs::parse(&v)
    }

    #[test]
    fn parses_kong_flags_anywhere() {
        let a = args("migrations up -c /etc/kong.conf --lock-timeout 5 --db-timeout=7 -y --vv")
            .unwrap();
        assert_eq!(a.call, KongCall::Migrations(MigCommand::Up));
        assert_eq!(a.conf, Some(PathBuf::from("/etc/kong.conf")));
        assert_eq!(
            (a.lock_timeout, a.db_timeout, a.yes, a.verbosity),
            (5, 7, true, 2)
        );
        let a = args("-f migrations finish").unwrap();
        assert!(a.force);
        assert_eq!(a.call, KongCall::Migrations(MigCommand::Finish));
        assert_eq!(
            args("version -a").unwrap().call,
            KongCall::Version { all: true }
        );
        assert!(args("migrations sideways")
            .unwrap_err()
            .contains("No such command"));
        assert!(args("migrations up --lock-timeout soon").is_err());
        assert!(args("migrations up --bogus")
            .unwrap_err()
            .contains("--bogus"));
        assert!(args("start").is_err());
    }

    #[test]
    fn the_lock_wait_sleeps_as_kongs() {
        let round =
            |v: Vec<f64>| -> Vec<u32> { v.iter().map(|s| (s * 10.0).round() as u32).collect() };
        assert_eq!(round(lock_wait_sleeps(2.0)), vec![1, 3, 9, 20]);
        assert_eq!(round(lock_wait_sleeps(5.0)), vec![1, 3, 9, 20, 20]);
        assert_eq!(round(lock_wait_sleeps(1.0)), vec![1, 3, 9]);
        // Up to ~2 s past the timeout, never short of it.
        for limit in [1.0, 2.0, 5.0, 60.0] {
            let total: f64 = lock_wait_sleeps(limit).iter().sum();
            assert!(total >= limit && total < limit + 2.0, "{limit}: {total}");
        }
        assert!(lock_wait_sleeps(0.0).is_empty());
    }

    #[test]
    fn errors_have_kongs_shape() {
        assert_eq!(
            error_lines("boom", 0),
            vec![
                "Error: boom".to_string(),
                String::new(),
                VERBOSE_HINT.to_string()
            ]
        );
    }

    #[test]
    fn owner_ids_are_v4_uuids_and_differ() {
        let a = owner_id();
        let b = owner_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn migration_refs() {
        let r: MigrationRef = "core/016_280_to_300".parse().unwrap();
        assert_eq!(r.subsystem, "core");
        assert_eq!(r.to_string(), "core/016_280_to_300");
        assert!("core".parse::<MigrationRef>().is_err());
        assert!("/x".parse::<MigrationRef>().is_err());
    }
}
