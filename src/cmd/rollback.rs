//! `kongrade rollback --print`: how to go back from where the database stands, with the exact
//! commands. Before `finish` the old nodes still work; after it only the backup brings them back.

use color_eyre::eyre::{eyre, Result};

use super::context::{Connection, Context};
use super::diagnose::{assess, gather, position_text};
use super::Code;
use crate::cmd::diagnose::MigrationFlags;
use crate::contract::journal::Event;
use crate::contract::BackupRecord;
use crate::exec::backup::restore_command;
use crate::exec::datadir;
use crate::exec::journal;
use crate::kong::catalog::Catalog;
use crate::kong::policy::BackupRef;

/// The newest verified backup recorded for this database, in any journal.
pub fn latest_backup(conn: &Connection) -> Result<Option<BackupRecord>> {
    let dir = datadir::sub_dir("journal")?;
    let id = conn.endpoint.identity();
    for p in journal::list(&dir)? {
        let Ok(rb) = journal::read(&p) else { continue };
        if rb.identity() != Some(&id) {
            continue;
        }
        if let Some(rec) = rb.entries.iter().rev().find_map(|e| match &e.event {
            Event::Backup { record } => Some(record.clone()),
            _ => None,
        }) {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

/// The context for rollback: the target as every command resolves it; when none can be had (no
/// --target-version, no kong to ask), the release the database's recorded schema matches,
/// pending migrations included: that is the release whose `up` ran.
pub async fn context(conn: Connection) -> Result<Context> {
    let given =
        conn.target_version.is_some() || conn.kong_lua_path.is_some() || conn.kong_cmd_given;
    if given {
        return Context::new(conn).await;
    }
    let fallback = conn.clone();
    match Context::new(conn).await {
        Ok(c) => Ok(c),
        Err(_) => {
            let newest = Catalog::embedded()
                .newest()
                .ok_or_else(|| eyre!("the embedded catalog is empty"))?;
            let mut probe = fallback.clone();
            probe.target_version = Some(newest.to_string());
            let state = Context::new(probe).await?.read_state().await?;
            let v = crate::kong::plan::database_version(&state).ok_or_else(|| {
                eyre!("no target version, and the database's schema matches no Kong release: pass --target-version X.Y.Z (the version you are upgrading to)")
            })?;
            let mut at = fallback;
            at.target_version = Some(v.to_string());
            Context::new(at).await
        }
    }
}

/// Prints the policy's rollback from where the upgrade stands (kongrade never restores by
/// itself).
pub async fn run(ctx: &Context) -> Result<Code> {
    let Some(pg) = ctx.conn.pg() else {
        return Err(eyre!(
            "rollback guidance for Cassandra: before finish stop the new nodes; after finish restore each node's `nodetool snapshot` (see Cassandra's documentation for restoring snapshots)"
        ));
    };
    let g = gather(ctx, &MigrationFlags::default()).await?;
    let a = assess(&g, ctx);
    // The newest backup recorded for this database (a finished upgrade's journal is closed).
    // The journal's word is not enough: the file must still be the dump it recorded.
    let mut record = latest_backup(&ctx.conn)?;
    let mut text = String::new();
    if let Some(b) = &record {
        if let Err(why) = crate::exec::backup::recheck(b).await {
            text.push_str(&format!(
                "WARNING: {why}. It cannot be restored; the steps below do not use it.\n\n"
            ));
            record = None;
        }
    }
    let mut rb = a.rollback.clone();
    if let Some(backup) = rb.backup_mut() {
        *backup = record.map(|r| BackupRef {
            restore: Some(restore_command(pg, &r.file)),
            file: r.file.display().to_string(),
            sha256: r.sha256,
            created_at: r.created_at,
            verified: true,
        });
    }
    text.push_str(&position_text(&a));
    text.push('\n');
    text.push_str(&rb.guidance());
    // Database contents (the backup's path among them) must not drive the terminal.
    print!("{}", crate::text::terminal_safe(&text));
    Ok(0)
}
