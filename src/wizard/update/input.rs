//! Keys outside overlays: the table's action, then what it does on this step.

use super::*;

pub(super) fn on_key(m: &mut Model, key: Key, fx: &mut Vec<Effect>) {
    if let Some(ov) = m.overlay.take() {
        overlay_key(m, ov, key, fx);
        return;
    }
    let Some(action) = action_for(key) else {
        return;
    };
    m.notice = None;
    match action {
        Action::Cancel => {
            if m.running() {
                m.overlay = Some(Overlay::LeaveWhileRunning);
            } else {
                leave(m, fx);
            }
        }
        Action::Help => m.overlay = Some(Overlay::Help),
        Action::Rollback => m.overlay = Some(Overlay::Rollback),
        Action::Focus => {
            m.focus = match m.focus {
                Focus::Step => Focus::Log,
                Focus::Log => Focus::Step,
            }
        }
        Action::LogPageUp => m.log.scroll_by(log_page(m)),
        Action::LogPageDown => m.log.scroll_by(-log_page(m)),
        Action::Up | Action::Down => {
            let d: isize = if action == Action::Up { -1 } else { 1 };
            match m.focus {
                // The log scrolls from the bottom: "up" means further back.
                Focus::Log => m.log.scroll_by(-d),
                Focus::Step => {
                    let n = list_len(m);
                    if n > 0 {
                        m.cursor = (m.cursor as isize + d).clamp(0, n as isize - 1) as usize;
                    }
                }
            }
        }
        Action::Top => match m.focus {
            Focus::Log => m.log.scroll = m.log.lines.len().saturating_sub(1),
            Focus::Step => m.cursor = 0,
        },
        Action::Bottom => match m.focus {
            Focus::Log => m.log.scroll = 0,
            Focus::Step => m.cursor = list_len(m).saturating_sub(1),
        },
        Action::Refresh => {
            fx.push(Effect::Refresh);
            notice(m, NoticeLevel::Info, "reading the database now");
        }
        Action::Back => back(m, fx),
        Action::Toggle => toggle(m, fx),
        Action::TakeBackup => take_backup(m, fx),
        Action::AddNode => {
            if m.step == Step::Decommission {
                m.overlay = Some(Overlay::AddNode {
                    typed: String::new(),
                    error: None,
                });
            }
        }
        Action::Override => override_gate(m),
        Action::Confirm => confirm(m, fx),
    }
}

pub(super) fn back(m: &mut Model, fx: &mut Vec<Effect>) {
    let ran_ok = |c: KongCommand, m: &Model| {
        m.outcome
            .as_ref()
            .is_some_and(|o| o.command == c && o.success)
    };
    let prev = match m.step {
        _ if m.running() => None,
        Step::Backup => Some(Step::Preflight),
        Step::Review => Some(Step::Backup),
        Step::Up if !ran_ok(KongCommand::Up, m) => Some(Step::Review),
        Step::Bootstrap if !ran_ok(KongCommand::Bootstrap, m) => Some(Step::Preflight),
        Step::Finish if !ran_ok(KongCommand::Finish, m) => Some(Step::Decommission),
        _ => None,
    };
    match prev {
        Some(s) => goto(m, s),
        None if m.running() => m.overlay = Some(Overlay::LeaveWhileRunning),
        None => leave(m, fx),
    }
}

pub(super) fn toggle(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Backup => toggle_backup(m, fx),
        Step::Decommission => toggle_decom(m, fx),
        _ => {}
    }
}

pub(super) fn confirm(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Connecting => notice(
            m,
            NoticeLevel::Info,
            "waiting for the first read of the database",
        ),
        Step::Waiting => notice(
            m,
            NoticeLevel::Info,
            "the wizard continues by itself once the lock is released",
        ),
        Step::Preflight => preflight_next(m),
        Step::Backup => {
            if m.backup_done() {
                goto(m, Step::Review);
            } else if m.backup_running() {
                notice(
                    m,
                    NoticeLevel::Info,
                    "the backup is running: the step goes on once it is written and verified",
                );
            } else {
                let how = match m.setup.backup {
                    BackupMethod::PgDump { .. } => {
                        "a backup first: t takes one now, Space records your own"
                    }
                    BackupMethod::OwnOnly { .. } => "a backup first: Space records your own",
                    BackupMethod::Cassandra { .. } => {
                        "a snapshot on every node first: run each command, then tick it (Space)"
                    }
                };
                notice(m, NoticeLevel::Warn, how);
            }
        }
        Step::Review => goto(m, Step::Up),
        Step::Up => run_step(m, KongCommand::Up),
        Step::Bootstrap => run_step(m, KongCommand::Bootstrap),
        Step::Decommission => goto(m, Step::Finish),
        Step::Finish => finish_step(m),
        Step::Done => leave(m, fx),
    }
}
