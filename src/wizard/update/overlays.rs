//! Keys while an overlay is open (taken out of the model; put back unless the key closes it).

use super::*;

use super::input::{ask_leave, leave_interrupting};

pub(super) fn overlay_key(
    m: &mut Model,
    ov: Overlay,
    action: Action,
    key: Key,
    fx: &mut Vec<Effect>,
) {
    if action == Action::Cancel {
        // Ctrl-C keeps its meaning in every overlay: leaving, asked.
        ask_leave(m, fx);
        return;
    }
    // Every overlay scrolls the same way when it is taller than the screen: reading ones
    // (help, rollback, the full texts), questions, menus and entries.
    if matches!(action, Action::Up | Action::Down) {
        m.overlay_scroll = scrolled(action, m.overlay_scroll, m.overlay_end);
        m.overlay = Some(ov);
        return;
    }
    match ov {
        // A reading overlay stays until a closing key.
        ov @ (Overlay::Help | Overlay::Rollback | Overlay::StepInFull | Overlay::Detail { .. }) => {
            if action != Action::Close {
                m.overlay = Some(ov);
            }
        }
        Overlay::Dual(ask) => super::dual::overlay_key(m, ask, action, key, fx),
        Overlay::Confirm { command, .. } => match action {
            Action::Yes => confirmed(m, command, None, fx),
            _ => notice(m, NoticeLevel::Info, "cancelled: nothing ran"),
        },
        Overlay::Typed {
            command,
            command_line,
            word,
            mut typed,
            mut error,
        } => {
            match action {
                Action::Close => {
                    notice(m, NoticeLevel::Info, "cancelled: nothing ran");
                    return;
                }
                Action::Confirm if typed == word => {
                    confirmed(m, command, Some(typed), fx);
                    return;
                }
                Action::Confirm => error = Some(format!("type '{word}' exactly to run it")),
                Action::Erase => {
                    typed.pop();
                    error = None;
                }
                Action::Type => {
                    if let KeyCode::Char(c) = key.code {
                        if typed.chars().count() < 32 {
                            typed.push(c);
                            error = None;
                        }
                    }
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
            text_input(
                m,
                action,
                key,
                fx,
                typed,
                error,
                &|typed, error| Overlay::AddNode { typed, error },
                add_node,
            );
        }
        Overlay::Override {
            target,
            typed,
            error,
        } => {
            let t = target.clone();
            text_input(
                m,
                action,
                key,
                fx,
                typed,
                error,
                &|typed, error| Overlay::Override {
                    target: t.clone(),
                    typed,
                    error,
                },
                |m: &mut Model, reason: String, fx: &mut Vec<Effect>| {
                    override_done(m, &target, reason, fx)
                },
            );
        }
        Overlay::OwnBackup { typed, error } => {
            text_input(
                m,
                action,
                key,
                fx,
                typed,
                error,
                &|typed, error| Overlay::OwnBackup { typed, error },
                |m: &mut Model, reference: String, fx: &mut Vec<Effect>| {
                    if reference.is_empty() {
                        return Err("say where the backup is, so it can be found to restore".into());
                    }
                    own_backup(m, reference, fx);
                    Ok(())
                },
            );
        }
        Overlay::Scenarios => match action {
            Action::Choose => {
                let picked = match key.code {
                    KeyCode::Char(c) => c.to_digit(10).map(|d| d as usize),
                    _ => None,
                };
                match picked.and_then(|d| m.setup.scenarios.get(d.wrapping_sub(1))) {
                    Some((name, _)) => {
                        m.restart = Some(name.clone());
                        leave(m, fx);
                    }
                    None => m.overlay = Some(Overlay::Scenarios),
                }
            }
            Action::Close => {}
            _ => m.overlay = Some(Overlay::Scenarios),
        },
        Overlay::Checkpoint { which, chosen } => {
            let q = crate::wizard::text::checkpoint(which);
            match action {
                Action::Choose => {
                    let picked = match key.code {
                        KeyCode::Char(c) => c.to_digit(10).map(|d| d as usize),
                        _ => None,
                    };
                    let chosen = match picked {
                        Some(d) if (1..=q.choices.len()).contains(&d) => Some(d - 1),
                        _ => chosen,
                    };
                    m.overlay = Some(Overlay::Checkpoint { which, chosen });
                }
                Action::Confirm if chosen == Some(q.right) => {
                    m.checkpoints_passed.push(which);
                    m.log.push(
                        LogKind::Info,
                        format!("checkpoint: {} {}", q.question, q.choices[q.right].0),
                    );
                    // On to what the step does next: the confirmation of the command.
                    match which {
                        Checkpoint::BeforeCloneUp | Checkpoint::BeforeCloneFinish => {
                            super::dual::after_checkpoint(m, which.command(), fx)
                        }
                        _ if which.command() == KongCommand::Finish => finish_step(m),
                        _ => run_step(m, which.command()),
                    }
                }
                Action::Close => notice(
                    m,
                    NoticeLevel::Info,
                    "the question waits: Enter asks it again, and nothing runs before it is answered",
                ),
                _ => m.overlay = Some(Overlay::Checkpoint { which, chosen }),
            }
        }
        Overlay::ConfirmStrategy { strategy } => match action {
            Action::Yes => chosen(m, strategy, "wizard", fx),
            _ => notice(m, NoticeLevel::Info, "not chosen: pick a strategy"),
        },
        Overlay::Leave => {
            if action == Action::Yes {
                leave(m, fx);
            }
        }
        Overlay::LeaveWhileRunning => {
            let Some(id) = m.run.as_ref().filter(|r| r.active()).map(|r| r.id) else {
                return;
            };
            match action {
                Action::Interrupt => {
                    if let Some(r) = m.run.as_mut() {
                        r.interrupted = true;
                    }
                    m.log
                        .push(LogKind::Warn, "interrupting kong (SIGINT) at your request");
                    fx.push(Effect::Interrupt(id));
                }
                Action::Yes => leave_interrupting(m, fx),
                Action::Kill => m.overlay = Some(Overlay::ConfirmKill),
                _ => {}
            }
        }
        Overlay::ConfirmKill => {
            let Some(id) = m.run.as_ref().filter(|r| r.active()).map(|r| r.id) else {
                return;
            };
            if action == Action::Yes {
                m.log.push(
                    LogKind::Warn,
                    "killing kong (SIGKILL) at your request: its lock stays until the lock timeout",
                );
                fx.push(Effect::Kill(id));
            }
        }
        Overlay::RemoveNode { index, name } => {
            if action == Action::Yes {
                remove_node(m, index, &name, fx);
            }
        }
    }
}

/// The bound before any frame measured the overlay (headless): more rows than any has.
const OVERLAY_SCROLL_MAX: usize = 200;

/// The one way an overlay scrolls: a row up or down, never past `end` (the furthest the last
/// frame could show), so Up moves the text at once however long Down was held.
pub(crate) fn scrolled(action: Action, scroll: usize, end: Option<usize>) -> usize {
    let end = end.unwrap_or(OVERLAY_SCROLL_MAX);
    let scroll = scroll.min(end);
    match action {
        Action::Up => scroll.saturating_sub(1),
        _ => (scroll + 1).min(end),
    }
}

/// A one-line text entry in an overlay: typing, Backspace, Esc cancels, Enter hands the trimmed
/// text to `done`, which may refuse it (returning the reason) and keep the overlay open.
#[allow(clippy::too_many_arguments)]
pub(super) fn text_input(
    m: &mut Model,
    action: Action,
    key: Key,
    fx: &mut Vec<Effect>,
    mut typed: String,
    error: Option<String>,
    rebuild: &dyn Fn(String, Option<String>) -> Overlay,
    done: impl FnOnce(&mut Model, String, &mut Vec<Effect>) -> Result<(), String>,
) {
    let mut error = error;
    match action {
        Action::Close => {
            notice(m, NoticeLevel::Info, "cancelled");
            return;
        }
        Action::Confirm => match done(m, typed.trim().to_string(), fx) {
            Ok(()) => return,
            Err(why) => error = Some(why),
        },
        Action::Erase => {
            typed.pop();
            error = None;
        }
        Action::Type => {
            if let KeyCode::Char(c) = key.code {
                if typed.chars().count() < REFERENCE_MAX {
                    typed.push(c);
                    error = None;
                }
            }
        }
        _ => {}
    }
    m.overlay = Some(rebuild(typed, error));
}
