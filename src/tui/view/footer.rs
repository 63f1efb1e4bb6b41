//! The key hints along the bottom.

use super::*;

/// What Enter does on this step, for the footer.
pub(super) fn confirm_label(m: &Model) -> Option<&'static str> {
    let ran_ok = |c| {
        m.outcome
            .as_ref()
            .is_some_and(|o| o.command == c && o.success)
    };
    let runs_here = matches!(m.step, Step::Up | Step::Bootstrap | Step::Finish);
    Some(match m.step {
        Step::Connecting | Step::Waiting => return None,
        // Read-only runs nothing: no hint that Enter would.
        _ if runs_here && m.setup.read_only => return None,
        Step::Preflight if m.findings.iter().any(blocks) => return None,
        // Nothing to continue with until a backup exists.
        Step::Backup if !m.backup_done() => return None,
        Step::Up if m.running() => return None,
        Step::Up if ran_ok(KongCommand::Up) => "continue",
        Step::Up => "run up",
        Step::Bootstrap if ran_ok(KongCommand::Bootstrap) => "continue",
        Step::Bootstrap => "run bootstrap",
        Step::Finish if m.running() => return None,
        Step::Finish if ran_ok(KongCommand::Finish) => "continue",
        Step::Finish => "finish",
        Step::Done => "leave",
        _ => "continue",
    })
}

pub(super) fn render_footer(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let toggles = matches!(m.step, Step::Backup | Step::Decommission);
    let cassandra = matches!(m.setup.backup, BackupMethod::Cassandra { .. });
    let lists = matches!(m.step, Step::Preflight | Step::Review | Step::Decommission)
        || (m.step == Step::Backup && cassandra);
    let offers_override = m.step == Step::Finish
        && !m.running()
        && !m.setup.read_only
        && m.gate_override.is_none()
        && !m.node_gate().open;
    let takes_backup = m.step == Step::Backup
        && !m.setup.read_only
        && !m.backup_running()
        && matches!(m.setup.backup, BackupMethod::PgDump { .. });
    let back_steps = matches!(
        m.step,
        Step::Backup | Step::Review | Step::Up | Step::Bootstrap | Step::Finish
    );
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    let mut room = (area.width as usize).saturating_sub(1);
    // The table order is the priority: hints that do not fit are left out, never cut.
    for b in KEYMAP {
        let Some((keys, label)) = b.hint else {
            continue;
        };
        let (keys, label) = match b.action {
            Action::Confirm => match confirm_label(m) {
                Some(l) => (keys, l),
                None => continue,
            },
            Action::Toggle if !toggles => continue,
            Action::Toggle if m.step == Step::Backup && !cassandra => (keys, "own backup"),
            Action::TakeBackup if !takes_backup => continue,
            Action::AddNode if m.step != Step::Decommission => continue,
            Action::Override if !offers_override => continue,
            Action::Down if !lists && m.focus == Focus::Step => continue,
            Action::Back if m.running() => ("Ctrl-C", "stop/leave"),
            Action::Back if !back_steps => (keys, "quit"),
            _ => (keys, label),
        };
        let need = keys.chars().count() + label.chars().count() + 3;
        if need > room {
            continue;
        }
        room -= need;
        spans.push(Span::styled(keys, t.accent()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    f.render_widget(Line::from(spans), area);
}
