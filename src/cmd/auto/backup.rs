//! `--backup=pg_dump`: one proven, journaled dump before the first step that changes the
//! database, unless the run being resumed already took one.

use super::report::Reporter;
use super::{exit, stop, AutoArgs, Backup, Phase, Session};
use crate::contract::journal::{Event, ReadBack};

/// Whether the run this one resumes recorded a backup that is still good (then it is not taken
/// again). The file is checked again (there, same size and sha256, readable by pg_restore): a
/// deleted or damaged dump is said so and a new one taken.
pub(super) async fn taken_earlier(args: &AutoArgs, earlier: &ReadBack, rep: &Reporter) -> bool {
    let earlier_backup = earlier.entries.iter().rev().find_map(|e| match &e.event {
        Event::Backup { record } => Some(record.clone()),
        _ => None,
    });
    if let (true, Some(rec)) = (args.backup == Backup::PgDump, &earlier_backup) {
        if let Err(why) = crate::exec::backup::recheck(rec).await {
            rep.say(&format!(
                "The backup recorded by the run being resumed cannot be used: {why}. A new one is taken."
            ));
            return false;
        }
        rep.say(&format!(
            "Backup already taken by the run being resumed: {} (sha256 {})",
            rec.file.display(),
            rec.sha256
        ));
        return true;
    }
    false
}

/// Takes the backup; a failure stops the run before anything migrated.
pub(super) async fn take(s: &mut Session, args: &AutoArgs, rep: &Reporter) -> Phase<()> {
    rep.say("Backup: pg_dump of the database before any migration runs");
    match crate::cmd::backup::take(
        &s.ctx.conn,
        args.backup_out.clone(),
        false,
        !args.json,
        Some(&mut s.journal),
    )
    .await
    {
        Ok(rec) => {
            rep.say(&format!(
                "Backup verified: {} ({} bytes, sha256 {})",
                rec.file.display(),
                rec.bytes,
                rec.sha256
            ));
            Ok(())
        }
        Err(e) => Err(stop(
            exit::BACKUP_FAILED,
            "backup_failed",
            format!("The backup failed, so nothing was migrated: {e:#}\nFix it, or run again with --backup=skip if you took your own."),
        )),
    }
}
