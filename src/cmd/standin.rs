//! `kongrade stand-in ... -- <kong arguments>`: the kong stand-in as a process, against the
//! PostgreSQL database of kong.conf / `KONG_*`, printing what Kong prints.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::Code;
use crate::contract::Stream;
use crate::exec::standin::{
    self, error_lines, pg::PgBackend, prefix, Ending, KongArgs, KongCall, Log, MigrationRef,
    OffBackend, Out, StandInOptions, MIGRATIONS_USAGE,
};
use crate::kong::conf::{DatabaseKind, KongConf, Origin};
use crate::kong::version::Version;

/// What `kongrade stand-in` was asked to play (the command line's flags, as plain values).
#[derive(Debug, Clone)]
pub struct StandInArgs {
    /// The Kong release to play (its migrations come from kongrade's catalog).
    pub kong_version: Version,
    /// Milliseconds each migration takes.
    pub delay_ms: u64,
    /// This migration fails (its up; its teardown in `finish`).
    pub fail_at: Option<MigrationRef>,
    /// Die here as a killed Kong would.
    pub die_at: Option<MigrationRef>,
    /// Kong's own arguments (`migrations up -c FILE ...`).
    pub kong_args: Vec<String>,
}

struct ProcessOut;

impl Out for ProcessOut {
    fn line(&mut self, stream: Stream, text: &str) {
        // Line by line, flushed: a watcher sees progress as it happens, and a later SIGKILL
        // (--die-at) loses nothing already said.
        match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{text}");
                let _ = o.flush();
            }
            Stream::Stderr => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{text}");
                let _ = e.flush();
            }
        }
    }

    fn stdin_is_tty(&self) -> bool {
        // SAFETY: isatty only inspects the descriptor.
        unsafe { libc::isatty(0) == 1 }
    }

    fn ask(&mut self, prompt: &str) -> Option<String> {
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "{prompt}");
        let _ = o.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

fn kong_error(out: &mut ProcessOut, msg: &str, verbosity: u8) -> Code {
    for l in error_lines(msg, verbosity) {
        out.line(Stream::Stderr, &l);
    }
    1
}

pub async fn run(args: &StandInArgs) -> color_eyre::Result<Code> {
    let mut out = ProcessOut;
    let kargs = match KongArgs::parse(&args.kong_args) {
        Ok(a) => a,
        Err(e) => {
            // lapp's shape: the complaint, a blank line, the usage; exit 1.
            out.line(Stream::Stderr, &e);
            out.line(Stream::Stderr, "");
            for l in MIGRATIONS_USAGE.lines() {
                out.line(Stream::Stderr, l);
            }
            return Ok(1);
        }
    };
    let opts = StandInOptions {
        kong_version: args.kong_version,
        delay: Duration::from_millis(args.delay_ms),
        fail_at: args.fail_at.clone(),
        die_at: args.die_at.clone(),
        plugins: vec!["bundled".into()],
        custom: Vec::new(),
    };
    if let KongCall::Version { all } = kargs.call {
        // `kong version` reads no configuration.
        for l in standin::version_text(opts.kong_version, all).split('\n') {
            out.line(Stream::Stdout, l);
        }
        return Ok(0);
    }
    let conn = super::context::ConnOptions {
        conf: kargs.conf.clone(),
        ..Default::default()
    };
    let conf = match super::context::load_conf(&conn) {
        Ok(c) => c,
        Err(e) => return Ok(kong_error(&mut out, &format!("{e:#}"), kargs.verbosity)),
    };
    // Kong prepares the prefix before it touches the database: a bad one stops it here.
    if let Some(prefix) = prefix_of(&kargs, &conf) {
        let r = prefix::prepare(&prefix, &mut Log::new(&mut out, kargs.verbosity));
        if let Err(msg) = r {
            return Ok(kong_error(&mut out, &msg, kargs.verbosity));
        }
    }
    let ending = match conf.database {
        DatabaseKind::Off => {
            // DB-less: Kong's `off` connector, which has every migration executed.
            let target = match standin::target_for(opts.kong_version, &conf.plugins, &[]) {
                Ok(t) => t,
                Err(e) => return Ok(kong_error(&mut out, &format!("{e}"), kargs.verbosity)),
            };
            let mut backend = OffBackend::new(&target);
            standin::run(&mut backend, &mut out, &opts, &conf.plugins, &kargs).await
        }
        DatabaseKind::Cassandra => {
            let msg = "the kongrade stand-in keeps Kong's bookkeeping in PostgreSQL only (database = cassandra)";
            return Ok(kong_error(&mut out, msg, kargs.verbosity));
        }
        DatabaseKind::Postgres => {
            let mut pg = crate::store::postgres::PgOptions::from_conf(&conf.pg);
            // Kong's migrations commands replace pg_timeout with --db-timeout.
            pg.timeout = Duration::from_secs(kargs.db_timeout.max(1));
            let mut backend = match PgBackend::connect(&pg).await {
                Ok(b) => b,
                Err(e) => {
                    // Kong's connector init: its first query is `SHOW server_version_num`.
                    let msg = format!(
                        "[PostgreSQL error] failed to retrieve PostgreSQL server_version_num: {e}"
                    );
                    return Ok(kong_error(&mut out, &msg, kargs.verbosity));
                }
            };
            standin::run(&mut backend, &mut out, &opts, &conf.plugins, &kargs).await
        }
    };
    match ending {
        Ending::Code(c) => Ok(c),
        Ending::Die => {
            // As `kill -9`: no destructor, no lock release, no connection goodbye.
            // SAFETY: raising a signal on ourselves; nothing after it runs.
            unsafe {
                libc::raise(libc::SIGKILL);
            }
            std::process::exit(137)
        }
    }
}

/// The prefix to prepare: `-p`, else a `prefix` set in kong.conf or KONG_PREFIX. Kong's default
/// (/usr/local/kong) is not touched: a stand-in run must not create it on the machine.
fn prefix_of(kargs: &KongArgs, conf: &KongConf) -> Option<PathBuf> {
    let given = match &kargs.prefix {
        Some(p) => p.clone(),
        None if conf.origin("prefix").is_some_and(|o| *o != Origin::Default) => conf.prefix.clone(),
        None => return None,
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    Some(prefix::absolute(&given, &cwd))
}
