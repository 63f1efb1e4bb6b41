//! Backup: kongrade's pg_dump, the operator's own backup, Cassandra snapshots.

use super::*;

pub(super) fn backup_done(
    m: &mut Model,
    result: Result<BackupRecord, String>,
    fx: &mut Vec<Effect>,
) {
    if !m.backup_running() {
        m.dropped += 1;
        return;
    }
    match result {
        Ok(rec) => {
            m.log.push(
                LogKind::Info,
                format!(
                    "backup written and verified: {} ({} bytes, sha256 {})",
                    rec.file.display(),
                    rec.bytes,
                    rec.sha256
                ),
            );
            fx.push(Effect::Journal(Event::Backup {
                record: rec.clone(),
            }));
            fx.push(Effect::Journal(step_event("backup", "done", None)));
            m.backup = BackupState::Taken(rec);
        }
        Err(e) => {
            m.log
                .push(LogKind::Error, format!("the backup failed: {e}"));
            fx.push(Effect::Journal(step_event(
                "backup",
                "failed",
                Some(e.clone()),
            )));
            m.backup = BackupState::Failed(e);
        }
    }
}

/// [t] on the Backup step: kongrade's pg_dump, announced in the journal first.
pub(super) fn take_backup(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.step != Step::Backup {
        return;
    }
    // The key table refused t where kongrade cannot take one; the training cluster has no
    // pg_dump, so it says what would happen and records a simulated one.
    if matches!(m.setup.backup, BackupMethod::OwnOnly { .. }) {
        if m.setup.training.is_some() {
            m.log.push(
                LogKind::Info,
                "training: on a real database kongrade runs pg_dump --format=custom here and proves the file with pg_restore --list",
            );
            own_backup(
                m,
                "simulated pg_dump (training: nothing was written)".into(),
                fx,
            );
            notice(
                m,
                NoticeLevel::Info,
                "simulated backup recorded (training). Enter goes on to Review.",
            );
        }
        return;
    }
    m.backup = BackupState::Running {
        started: m.now,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    m.log
        .push(LogKind::Info, "taking a backup: pg_dump --format=custom");
    fx.push(Effect::Journal(step_event(
        "backup",
        "started",
        Some("pg_dump --format=custom".into()),
    )));
    fx.push(Effect::TakeBackup);
}

/// The longest backup reference kept (a path, a snapshot id, a ticket URL).
pub const REFERENCE_MAX: usize = 200;

/// The operator's own backup, by their reference: journaled, then the step may go on.
pub(super) fn own_backup(m: &mut Model, reference: String, fx: &mut Vec<Effect>) {
    m.log
        .push(LogKind::Info, format!("your own backup: {reference}"));
    fx.push(Effect::Journal(Event::OwnBackup {
        reference: reference.clone(),
    }));
    fx.push(Effect::Journal(step_event("backup", "done", None)));
    m.backup = BackupState::Own(reference);
}

pub(super) fn toggle_backup(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.backup_running() {
        notice(
            m,
            NoticeLevel::Info,
            "the backup is running; its progress is above",
        );
        return;
    }
    let BackupMethod::Cassandra {
        keyspace,
        tag,
        hosts,
    } = m.setup.backup.clone()
    else {
        m.overlay = Some(Overlay::OwnBackup {
            typed: String::new(),
            error: None,
        });
        return;
    };
    let Some(done) = m.snapshots.get_mut(m.cursor) else {
        return;
    };
    *done = !*done;
    let all = m.snapshots.iter().all(|d| *d);
    if all {
        let reference = format!(
            "{} on {}",
            BackupMethod::nodetool(&keyspace, &tag),
            hosts.join(", ")
        );
        own_backup(m, reference, fx);
    } else if m.backup_done() {
        // A node unticked: the set is no longer whole.
        m.backup = BackupState::Missing;
    }
}
