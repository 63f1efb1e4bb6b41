//! `kongrade rollback --print`: how to go back from where the database stands, with the exact
//! commands. Before `finish` the old nodes still work; after it only the backup brings them back.

use color_eyre::eyre::{eyre, Result};

use super::context::Connection;
use super::Code;
use crate::contract::journal::Event;
use crate::contract::BackupRecord;
use crate::exec::backup::restore_command;
use crate::exec::datadir;
use crate::exec::journal;
use crate::store::postgres::PgStore;

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

/// The guidance text, pure given its inputs.
pub fn guidance(pending: bool, backup: Option<&BackupRecord>, restore: Option<String>) -> String {
    let mut s = String::new();
    if pending {
        s.push_str(
            "The database has pending migrations: `finish` has NOT run. Old nodes still work.\n\n",
        );
        s.push_str("To roll back now:\n");
        s.push_str("  1. Move traffic back to the old-version nodes (start them again if you stopped them).\n");
        s.push_str("  2. Stop every new-version node.\n");
        s.push_str("  3. Do not run `kong migrations finish`. The migrations `up` ran are additive and the old version keeps working on them; run `up` and `finish` again when you retry.\n");
        s.push_str("No restore is needed, and none is advised: it would lose every write since the backup.\n");
    } else {
        s.push_str("No pending migrations: either `finish` has run (old nodes can no longer start) or no upgrade is under way.\n\n");
        s.push_str("Rolling back after finish means restoring the backup taken before `up`:\n");
        s.push_str("  1. Stop every Kong node (writes now would be lost anyway).\n");
        match (backup, restore) {
            (Some(b), Some(cmd)) => {
                s.push_str(&format!(
                    "  2. Check the file is the one recorded: sha256sum {}  (expect {})\n",
                    b.file.display(),
                    b.sha256
                ));
                s.push_str(&format!("  3. {cmd}\n"));
                s.push_str(&format!(
                    "  4. Start the old-version nodes.\n\nWhat it loses: every write to Kong's database since {} (the backup's time).\n",
                    b.created_at
                ));
            }
            _ => {
                s.push_str("  2. No kongrade backup is recorded for this database: restore your own backup (pg_restore --clean --if-exists -d <database> <file>).\n");
                s.push_str("  3. Start the old-version nodes.\n\nWhat it loses: every write since that backup.\n");
            }
        }
    }
    s
}

pub async fn run(conn: &Connection) -> Result<Code> {
    let Some(o) = conn.pg() else {
        return Err(eyre!(
            "rollback guidance for Cassandra: before finish stop the new nodes; after finish restore each node's `nodetool snapshot` (see Cassandra's documentation for restoring snapshots)"
        ));
    };
    let snap = PgStore::connect(o).await?.snapshot().await?;
    let pending = snap.schema_meta.as_ref().is_some_and(|rows| {
        rows.iter()
            .any(|r| r.pending.as_ref().is_some_and(|p| !p.is_empty()))
    });
    let mut backup = latest_backup(conn)?;
    // The journal's word is not enough: the file must still be the dump it recorded.
    let mut problem = None;
    if let Some(b) = &backup {
        if let Err(why) = crate::exec::backup::recheck(b).await {
            problem = Some(why);
            backup = None;
        }
    }
    let restore = backup.as_ref().map(|b| restore_command(o, &b.file));
    let mut text = String::new();
    if let Some(why) = problem {
        text.push_str(&format!(
            "WARNING: {why}. It cannot be restored; the steps below do not use it.\n\n"
        ));
    }
    text.push_str(&guidance(pending, backup.as_ref(), restore));
    print!("{}", crate::text::terminal_safe(&text));
    Ok(0)
}
