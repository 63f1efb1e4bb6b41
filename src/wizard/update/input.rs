//! Keys: [`keys::available`](super::super::keys::available) says what a key means now or why
//! it does nothing; this carries the meaning out, on the step or on the overlay open.

use super::*;

use crate::wizard::keys::{available, back_target, something_happened, too_small, unbound};

pub(super) fn on_key(m: &mut Model, key: Key, fx: &mut Vec<Effect>) {
    let Some(hint) = available(m).into_iter().find(|h| h.matches(key)) else {
        // Not bound now: the table says so, and nothing else changes.
        if let Some((level, why)) = unbound(m, key) {
            notice(m, level, why);
        }
        return;
    };
    if let Some((level, why)) = hint.refused {
        notice(m, level, why);
        return;
    }
    if too_small(m) {
        // Nothing on screen can be read: only leaving, and its question, act.
        match (hint.action, m.overlay.take()) {
            (Action::Yes, Some(Overlay::LeaveWhileRunning)) => leave_interrupting(m, fx),
            (Action::Yes, _) => leave(m, fx),
            (Action::Close, _) => {}
            _ => ask_leave(m, fx),
        }
        return;
    }
    match m.overlay.take() {
        Some(ov) => {
            // The overlay shows the notice line: an older one would no longer be about it.
            m.notice = None;
            overlay_key(m, ov, hint.action, key, fx)
        }
        None => {
            m.notice = None;
            step_key(m, hint.action, key, fx);
        }
    }
}

fn step_key(m: &mut Model, action: Action, key: Key, fx: &mut Vec<Effect>) {
    match action {
        Action::Cancel => ask_leave(m, fx),
        Action::Help => m.overlay = Some(Overlay::help()),
        Action::Rollback => m.overlay = Some(Overlay::rollback()),
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
            m.overlay = Some(Overlay::AddNode {
                typed: String::new(),
                error: None,
            });
        }
        Action::RemoveNode => ask_remove_node(m),
        Action::Override => override_gate(m),
        Action::Detail => open_detail(m),
        Action::Confirm => confirm(m, fx),
        // Overlay actions: not bound on a step.
        Action::Close
        | Action::Yes
        | Action::Type
        | Action::Erase
        | Action::Interrupt
        | Action::Kill => {}
        Action::Choose => answer(m, key),
        Action::Scenarios => m.overlay = Some(Overlay::Scenarios),
        Action::Reclone => super::dual::reclone(m, fx),
        Action::Probe => super::dual::probe(m, fx),
        Action::FixCause => {
            // The runtime makes the fix and logs what it did.
            m.fixed = true;
            fx.push(Effect::FixCause);
            notice(
                m,
                NoticeLevel::Info,
                "fixed: Enter runs up again (Kong starts at the migration that failed)",
            );
        }
    }
}

/// Leaving: at once when nothing would be lost, else a question (kong running: the question
/// that offers to interrupt it).
pub(super) fn ask_leave(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.running() {
        m.overlay = Some(Overlay::LeaveWhileRunning);
    } else if something_happened(m) && m.step != Step::Done {
        m.overlay = Some(Overlay::Leave);
    } else {
        leave(m, fx);
    }
}

/// The operator chose to leave while kong runs: kong is interrupted as the runtime does
/// (interrupt, grace, kill), and kongrade exits non-zero.
pub(super) fn leave_interrupting(m: &mut Model, fx: &mut Vec<Effect>) {
    m.log
        .push(LogKind::Warn, "leaving: interrupting kong first");
    leave(m, fx);
}

pub(super) fn back(m: &mut Model, fx: &mut Vec<Effect>) {
    match back_target(m) {
        Some(s) => goto(m, s),
        None if m.step == Step::Done => leave(m, fx),
        None => ask_leave(m, fx),
    }
}

pub(super) fn toggle(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Backup => toggle_backup(m, fx),
        Step::Decommission => toggle_decom(m, fx),
        Step::Traffic => super::dual::tick(m, fx),
        _ => {}
    }
}

/// Enter on a step; the key table refused it already where it cannot act.
pub(super) fn confirm(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Connecting | Step::Waiting => {}
        Step::Preflight => preflight_next(m, fx),
        Step::Strategy => pick(m),
        Step::Backup if m.flow() == crate::wizard::flow::Flow::DualCluster => {
            super::dual::enter(m, fx)
        }
        Step::Backup | Step::Review => {
            if let Some(next) = m.flow().next(m.step) {
                goto(m, next);
            }
        }
        Step::Freeze => freeze_confirmed(m, fx),
        Step::Up => run_step(m, KongCommand::Up),
        Step::Bootstrap => run_step(m, KongCommand::Bootstrap),
        Step::Decommission if m.flow().stops_old_nodes_before_up() => gate_passed(m, fx),
        Step::Decommission => goto(m, Step::Finish),
        Step::Finish => finish_step(m),
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => super::dual::confirm(m, fx),
        Step::StartNew => new_nodes_done(m, fx),
        Step::Done => leave(m, fx),
    }
}

/// `v`: the selected finding, row or log line, in full.
fn open_detail(m: &mut Model) {
    let (title, text) = if m.focus == Focus::Log {
        let len = m.log.lines.len();
        let Some(l) = len
            .checked_sub(1 + m.log.scroll)
            .and_then(|i| m.log.lines.get(i))
        else {
            return;
        };
        ("Log line".to_string(), l.text.clone())
    } else {
        match m.step {
            Step::Preflight => {
                let Some(f) = m.findings.get(m.cursor) else {
                    return;
                };
                (f.title.clone(), finding_text(m, f))
            }
            Step::Review | Step::CloneReview => {
                let Some(r) = m.migration_reviews().into_iter().nth(m.cursor) else {
                    return;
                };
                let key = format!("{}/{}", r.subsystem, r.migration);
                let text =
                    r.detail_text(m.setup.migration_sources.get(&key), m.setup.kong_lua_path);
                (key, text)
            }
            Step::Decommission => {
                let Some(row) = m.decom_rows().get(m.cursor).cloned() else {
                    return;
                };
                ("Decommission".to_string(), m.decom_row_text(&row))
            }
            _ => {
                m.overlay = Some(Overlay::StepInFull);
                return;
            }
        }
    };
    m.overlay = Some(Overlay::Detail { title, text });
}

/// A finding as `kongrade diagnose` prints it, and what the wizard does with it.
pub fn finding_text(m: &Model, f: &crate::kong::diagnose::Finding) -> String {
    let mut s = format!("{:?}: {}\n", f.severity, f.title);
    for r in &f.remedy {
        s.push_str(&format!("› {r}\n"));
    }
    if !f.seen.is_empty() {
        s.push_str(&format!("seen: {}\n", f.seen.join("; ")));
    }
    s.push_str(&format!("\n{}\n", f.why));
    let rule = match finding_gate(f) {
        WizardGate::Block => "The wizard stops here: no step after Preflight would be right.".to_string(),
        WizardGate::Override => match m.finding_overrides.get(f.id.as_str()) {
            Some(reason) => format!("Overridden, with your reason (journaled): {reason}"),
            None => "The wizard stops here until you follow the path the finding names, or override it with your reason (o; journaled).".to_string(),
        },
        WizardGate::Wait => "The wizard waits until it clears (it watches the database).".to_string(),
        WizardGate::Path => "The wizard's own steps deal with it: follow them.".to_string(),
        WizardGate::Warn | WizardGate::Inform => "The wizard goes on; keep it in mind.".to_string(),
    };
    s.push_str(&format!("\n{rule}"));
    s
}

fn ask_remove_node(m: &mut Model) {
    let i = match m.decom_rows().get(m.cursor) {
        Some(DecomRow::Node(i) | DecomRow::NodeItem(i, _)) => *i,
        _ => return,
    };
    if let Some(n) = m.nodes.get(i).filter(|n| n.kind == "manual") {
        m.overlay = Some(Overlay::RemoveNode {
            index: i,
            name: n.name.clone(),
        });
    }
}
