//! Backup: how this database is backed up, and where the backup stands.

use super::*;

/// `1.8 MB`, `640 KB`, `12 B`.
pub(super) fn bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{} MB", n >> 20)
    } else if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{} KB", n >> 10)
    } else {
        format!("{n} B")
    }
}

pub(super) fn backup_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    // A key and what it does, wrapped under the text (never cut on a narrow screen).
    let key = |out: &mut Vec<Line<'static>>, k: &str, text: &str| {
        for (i, l) in wrap(text, w.saturating_sub(6).max(1))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                format!("{k:<6}")
            } else {
                " ".repeat(6)
            };
            out.push(Line::from(vec![
                Span::styled(lead, t.accent()),
                Span::raw(l),
            ]));
        }
    };
    // Once there is a backup, where it is comes first: on a short screen it stays in view.
    let status_first = m.backup_done();
    let mut status = Vec::new();
    backup_status(m, w, t, &mut status);
    if status_first {
        out.append(&mut status);
        out.push(Line::raw(""));
    }
    match &m.setup.backup {
        BackupMethod::PgDump { .. } => {
            key(out, "t", "take one now: pg_dump, verified");
            key(out, "Space", "I have my own backup (say where)");
        }
        BackupMethod::OwnOnly { why } => {
            push_wrapped(out, why, w, t.dim());
            key(out, "Space", "I have my own backup (say where)");
        }
        BackupMethod::Cassandra {
            keyspace,
            tag,
            hosts,
        } => {
            push_wrapped(
                out,
                "On every node, run the snapshot, then tick it (Space):",
                w,
                Style::new(),
            );
            let cmd = BackupMethod::nodetool(keyspace, tag);
            let list_h = h.saturating_sub(out.len() + 2).max(1);
            let (start, shown) = window(hosts, m.cursor, list_h);
            for (i, host) in shown.iter().enumerate() {
                let idx = start + i;
                let selected = idx == m.cursor;
                let done = m.snapshots.get(idx).copied().unwrap_or(false);
                let mark = if done { "[x] " } else { "[ ] " };
                let text = truncate(&format!("{host}: {cmd}"), w.saturating_sub(6)).into_owned();
                let mut line = Line::from(vec![
                    Span::raw(if selected { "▸ " } else { "  " }),
                    Span::styled(mark, if done { t.ok() } else { t.bold() }),
                    Span::raw(text),
                ]);
                if selected && m.focus == Focus::Step {
                    line = line.patch_style(t.selected());
                }
                out.push(line);
            }
        }
    }
    if !status_first {
        out.push(Line::raw(""));
        out.append(&mut status);
    }
    if let (BackupMethod::PgDump { command }, false) = (&m.setup.backup, m.backup_done()) {
        out.push(Line::styled("Taking it yourself:", t.dim()));
        push_wrapped(out, &format!("$ {command}"), w, t.accent());
        push_wrapped(
            out,
            "and a declarative export: kong config db_export kong.yaml",
            w,
            t.dim(),
        );
    }
}

/// Where the backup stands: running, written and verified, failed, or the operator's own.
fn backup_status(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    match &m.backup {
        BackupState::Missing => {}
        BackupState::Running {
            bytes: b, elapsed, ..
        } => out.push(Line::styled(
            format!("pg_dump: {}, {} …", bytes(*b), secs(elapsed.as_secs_f64())),
            t.warn(),
        )),
        BackupState::Taken(rec) => {
            push_hanging(
                out,
                "✓ ",
                &format!("Backup written and verified: {}", rec.file.display()),
                w,
                t.ok(),
            );
            push_hanging(
                out,
                "  ",
                &format!(
                    "{} ({} bytes), sha256 {}",
                    bytes(rec.bytes),
                    rec.bytes,
                    rec.sha256
                ),
                w,
                t.dim(),
            );
        }
        BackupState::Failed(e) => {
            push_hanging(out, "✗ ", &format!("The backup failed: {e}"), w, t.err());
            if matches!(m.setup.backup, BackupMethod::PgDump { .. }) {
                out.push(Line::styled("t tries again; nothing was kept.", t.dim()));
            }
        }
        BackupState::Own(r) => push_hanging(out, "✓ ", &format!("Your backup: {r}"), w, t.ok()),
    }
}
