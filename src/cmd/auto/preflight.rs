//! Before anything runs: the configuration, options that cannot work here, the target (checked
//! against the kong command), the journal (opened or resumed) and the first read of the state.

use color_eyre::eyre::{eyre, Result};
use serde_json::json;

use super::report::{summary, Reporter};
use super::{exit, stop, AutoArgs, Backup, Phase, Session};
use crate::cmd::context::{self, Connection, Context};
use crate::contract::journal::Event;
use crate::contract::{Invocation, KongCommand};
use crate::exec::journal::Journal;
use crate::exec::kong_target;
use crate::kong::catalog::{Catalog, Db};

/// Everything a run needs, or why it stops before its first step.
pub(super) async fn prepare(
    conn: Connection,
    args: &AutoArgs,
    rep: &mut Reporter,
) -> Result<Phase<Session>> {
    let db = conn.db();
    // Options that cannot work here are refused before anything is touched.
    if args.backup == Backup::PgDump && db == Db::Cassandra {
        return Ok(Err(stop(
            exit::NOT_AVAILABLE,
            "option_not_available",
            "--backup=pg_dump needs PostgreSQL. On Cassandra run `nodetool snapshot <keyspace>` on \
             every node, then run again with --backup=skip.",
        )));
    }
    let catalog = Catalog::embedded();
    let kong = conn.kong();
    let template = Invocation {
        command: KongCommand::Up,
        conf: conn.conf_path.clone(),
        db_timeout: args.db_timeout,
        lock_timeout: args.lock_timeout,
        force: false,
    };

    // The target: kongrade's own sources when given (checked against what kong says it is),
    // else the running kong itself.
    let target = if conn.target_version.is_some() || conn.kong_lua_path.is_some() {
        let target = context::resolve_target(&conn).await?;
        let kv = match kong_target::version_of(&kong).await {
            Ok(v) => v,
            Err(e) => {
                return Ok(Err(stop(
                    exit::KONG_FAILED,
                    "kong_failed",
                    format!(
                    "cannot run the kong command: {e:#}. Check --kong-cmd (or KONGRADE_KONG_CMD)."
                ),
                )))
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
        match kong_target::target_from_kong(&kong, &template, &conn.conf, db).await {
            Ok(info) => {
                if let Some(why) = &info.fallback {
                    rep.say(&format!("Target from the catalog: {why}"));
                }
                info.target
            }
            Err(e) => {
                return Ok(Err(stop(
                    exit::KONG_FAILED,
                    "kong_failed",
                    format!("cannot learn the target from the kong command: {e:#}. Check --kong-cmd (or KONGRADE_KONG_CMD), or pass --target-version."),
                )))
            }
        }
    };
    let ctx = Context {
        conn,
        catalog,
        target,
        db,
    };
    ctx.ensure_supported()?;
    // The journal, before anything runs: an unwritable data directory or a second kongrade on
    // this upgrade stops here, not halfway.
    let jdir = crate::exec::datadir::sub_dir("journal")?;
    let (mut journal, earlier, resumed) =
        match Journal::open_for(&jdir, &ctx.conn.endpoint.identity()) {
            Ok(j) => j,
            // Only another kongrade holding it is "lock held"; an I/O error is named as such.
            Err(e) => {
                let held = matches!(
                    e.downcast_ref::<crate::exec::journal::JournalError>(),
                    Some(crate::exec::journal::JournalError::Held { .. })
                );
                return Ok(Err(if held {
                    stop(exit::LOCK_HELD, "journal_locked", format!("{e:#}"))
                } else {
                    stop(
                        exit::ERROR,
                        "journal_unusable",
                        format!("The upgrade journal cannot be used, so nothing ran: {e:#}"),
                    )
                }));
            }
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
    rep.header = json!({
        "target": {"version": ctx.target.version.map(|v| v.to_string()), "source": ctx.target.source},
        "database": ctx.describe_db(),
    });
    rep.say(&format!("kongrade auto\n{}", ctx.header()));
    if let Err(stopped) = super::resume::wait_for_earlier_kong(&mut journal, &earlier, rep).await? {
        return Ok(Err(stopped));
    }

    let state = match ctx.read_state().await {
        Ok(s) => s,
        Err(e) => {
            return Ok(Err(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!("cannot read the database: {e:#}"),
            )))
        }
    };
    rep.final_state = Some(state.clone());
    rep.say(&format!("State: {}", summary(&state, catalog)));
    Ok(Ok(Session {
        ctx,
        kong,
        template,
        journal,
        earlier,
        state,
    }))
}
