//! Keys while an overlay is open: each overlay decides what its keys mean.

use super::*;

pub(super) fn overlay_key(m: &mut Model, ov: Overlay, key: Key, fx: &mut Vec<Effect>) {
    let action = action_for(key);
    match ov {
        Overlay::Rollback => {
            // Any closing key closes it; Ctrl-C keeps its meaning.
            if action == Some(Action::Cancel) {
                on_key(m, key, fx);
            } else if !matches!(
                action,
                Some(Action::Rollback | Action::Back | Action::Confirm)
            ) {
                m.overlay = Some(Overlay::Rollback);
            }
        }
        Overlay::Help => {
            if action == Some(Action::Cancel) {
                on_key(m, key, fx);
            } else if !matches!(action, Some(Action::Help | Action::Back | Action::Confirm)) {
                m.overlay = Some(Overlay::Help);
            }
        }
        Overlay::Confirm {
            command,
            command_line,
        } => match key.code {
            KeyCode::Enter | KeyCode::Char('y') if !key.ctrl => {
                confirmed(m, command, None, fx);
            }
            KeyCode::Esc | KeyCode::Char('n' | 'q') if !key.ctrl => {
                notice(m, NoticeLevel::Info, "cancelled: nothing ran");
            }
            _ if action == Some(Action::Cancel) => on_key(m, key, fx),
            _ => {
                m.overlay = Some(Overlay::Confirm {
                    command,
                    command_line,
                })
            }
        },
        Overlay::Typed {
            command,
            command_line,
            word,
            mut typed,
            error,
        } => {
            if action == Some(Action::Cancel) {
                on_key(m, key, fx);
                return;
            }
            let mut error = error;
            match key.code {
                KeyCode::Esc => {
                    notice(m, NoticeLevel::Info, "cancelled: nothing ran");
                    return;
                }
                KeyCode::Enter if typed == word => {
                    confirmed(m, command, Some(typed), fx);
                    return;
                }
                KeyCode::Enter => {
                    error = Some(format!("type '{word}' exactly to run it"));
                }
                KeyCode::Backspace => {
                    typed.pop();
                    error = None;
                }
                KeyCode::Char(c) if !key.ctrl && typed.chars().count() < 32 => {
                    typed.push(c);
                    error = None;
                }
                _ => {}
            }
            m.overlay = Some(Overlay::Typed {
                command,
                command_line,
                word,
                typed,
                error,
            });
        }
        Overlay::AddNode { typed, error } => {
            let done = |m: &mut Model, text: String, fx: &mut Vec<Effect>| add_node(m, text, fx);
            text_input(m, key, action, fx, typed, error, Overlay::add_node, done);
        }
        Overlay::Override { typed, error } => {
            let done =
                |m: &mut Model, text: String, fx: &mut Vec<Effect>| override_done(m, text, fx);
            text_input(
                m,
                key,
                action,
                fx,
                typed,
                error,
                Overlay::override_gate,
                done,
            );
        }
        Overlay::OwnBackup { mut typed, error } => {
            if action == Some(Action::Cancel) {
                on_key(m, key, fx);
                return;
            }
            let mut error = error;
            match key.code {
                KeyCode::Esc => {
                    notice(m, NoticeLevel::Info, "cancelled: no backup recorded");
                    return;
                }
                KeyCode::Enter if !typed.trim().is_empty() => {
                    own_backup(m, typed.trim().to_string(), fx);
                    return;
                }
                KeyCode::Enter => {
                    error = Some("say where the backup is, so it can be found to restore".into());
                }
                KeyCode::Backspace => {
                    typed.pop();
                    error = None;
                }
                KeyCode::Char(c) if !key.ctrl && typed.chars().count() < REFERENCE_MAX => {
                    typed.push(c);
                    error = None;
                }
                _ => {}
            }
            m.overlay = Some(Overlay::OwnBackup { typed, error });
        }
        Overlay::LeaveWhileRunning => {
            let Some(id) = m.run.as_ref().filter(|r| r.active()).map(|r| r.id) else {
                return;
            };
            match key.code {
                KeyCode::Char('i') if !key.ctrl => {
                    if let Some(r) = m.run.as_mut() {
                        r.interrupted = true;
                    }
                    m.log
                        .push(LogKind::Warn, "interrupting kong (SIGINT) at your request");
                    fx.push(Effect::Interrupt(id));
                }
                KeyCode::Char('k') if !key.ctrl => {
                    m.log.push(LogKind::Warn, "killing kong (SIGKILL) at your request: its lock stays until the lock timeout");
                    fx.push(Effect::Kill(id));
                }
                // A second Ctrl-C means it: leave.
                KeyCode::Char('q' | 'y') | KeyCode::Char('c')
                    if key.ctrl == (key.code == KeyCode::Char('c')) =>
                {
                    m.log
                        .push(LogKind::Warn, "leaving: interrupting kong first");
                    leave(m, fx);
                }
                KeyCode::Esc | KeyCode::Char('n') => {}
                _ => m.overlay = Some(Overlay::LeaveWhileRunning),
            }
        }
    }
}

/// A one-line text entry in an overlay: typing, Backspace, Esc cancels, Enter hands the trimmed
/// text to `done`, which may refuse it (returning the reason) and keep the overlay open.
#[allow(clippy::too_many_arguments)]
pub(super) fn text_input(
    m: &mut Model,
    key: Key,
    action: Option<Action>,
    fx: &mut Vec<Effect>,
    mut typed: String,
    error: Option<String>,
    rebuild: fn(String, Option<String>) -> Overlay,
    done: impl FnOnce(&mut Model, String, &mut Vec<Effect>) -> Result<(), String>,
) {
    if action == Some(Action::Cancel) {
        on_key(m, key, fx);
        return;
    }
    let mut error = error;
    match key.code {
        KeyCode::Esc => {
            notice(m, NoticeLevel::Info, "cancelled");
            return;
        }
        KeyCode::Enter => match done(m, typed.trim().to_string(), fx) {
            Ok(()) => return,
            Err(why) => error = Some(why),
        },
        KeyCode::Backspace => {
            typed.pop();
            error = None;
        }
        KeyCode::Char(c) if !key.ctrl && typed.chars().count() < REFERENCE_MAX => {
            typed.push(c);
            error = None;
        }
        _ => {}
    }
    m.overlay = Some(rebuild(typed, error));
}
