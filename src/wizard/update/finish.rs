//! Finish: what blocks it, the typed confirmation, and opening the node gate anyway.

use super::*;

pub(super) fn finish_step(m: &mut Model) {
    if m.running() {
        notice(
            m,
            NoticeLevel::Info,
            "kong is running; Ctrl-C asks whether to stop it",
        );
        return;
    }
    let nothing_pending = m
        .state()
        .is_some_and(|s| !s.needs_bootstrap && !s.any(MigState::Pending));
    let succeeded = m
        .outcome
        .as_ref()
        .is_some_and(|o| o.command == KongCommand::Finish && o.success);
    if succeeded || (nothing_pending && !m.db.stale()) {
        // An earlier upgrade's finish can leave this upgrade's `up` still to do.
        if m.state().is_some_and(|s| s.any(MigState::New)) {
            m.outcome = None;
            // The database changed since that backup: this upgrade wants its own.
            m.backup = BackupState::Missing;
            m.snapshots.iter_mut().for_each(|d| *d = false);
            m.log.push(
                LogKind::Info,
                "the pending migrations are finished; new migrations remain: the upgrade continues at Backup",
            );
            goto(m, Step::Backup);
        } else {
            // In-place: the new nodes are started and proven next.
            goto(m, m.flow().next(Step::Finish).unwrap_or(Step::Done));
        }
        return;
    }
    // The step lists what blocks finish; the notice says the wizard stopped.
    if !m.setup.read_only && !finish_blockers(m).is_empty() {
        notice(
            m,
            NoticeLevel::Block,
            "finish refused: see what blocks it above. Esc goes back to Decommission.",
        );
        return;
    }
    match gate(m, KongCommand::Finish) {
        Err(why) => notice(m, NoticeLevel::Block, format!("finish refused: {why}")),
        Ok(()) if m.open_checkpoint(KongCommand::Finish).is_some() => {
            m.overlay = m
                .open_checkpoint(KongCommand::Finish)
                .map(|which| Overlay::Checkpoint {
                    which,
                    chosen: None,
                });
        }
        Ok(()) => {
            m.overlay = Some(Overlay::Typed {
                command: KongCommand::Finish,
                command_line: m.command_line(KongCommand::Finish),
                word: "finish",
                typed: String::new(),
                error: None,
            })
        }
    }
}

/// Why finish must not run now: the node gate (old nodes probed, old data planes the database
/// saw, manual entries not ticked) unless the operator opened it anyway, and the confirmations
/// not given.
pub fn finish_blockers(m: &Model) -> Vec<String> {
    if m.flow().stops_old_nodes_before_up() {
        // In-place: finish follows up with every old node stopped; the same gate holds.
        return m.in_place_blockers();
    }
    let mut out = Vec::new();
    if m.gate_override.is_none() {
        out.extend(m.node_gate().blockers);
    }
    for item in m.checklist.iter().filter(|i| !i.done) {
        out.push(format!("not confirmed: {}", item.label));
    }
    out
}

/// Shortest reason accepted for opening the gate anyway: a few words, not a keystroke.
pub const REASON_MIN: usize = 8;

/// [o]: an Error finding at Preflight, or the node gate at Finish (the key table offers it
/// only where there is something to open).
pub(super) fn override_gate(m: &mut Model) {
    let target = match m.step {
        Step::Preflight => match crate::wizard::keys::overridable_finding(m) {
            Some(f) => OverrideTarget::Finding {
                id: f.id.to_string(),
                title: f.title.clone(),
            },
            None => return,
        },
        Step::Finish => OverrideTarget::FinishGate,
        _ => return,
    };
    m.overlay = Some(Overlay::Override {
        target,
        typed: String::new(),
        error: None,
    });
}

pub(super) fn override_done(
    m: &mut Model,
    target: &OverrideTarget,
    reason: String,
    fx: &mut Vec<Effect>,
) -> Result<(), String> {
    if reason.chars().count() < REASON_MIN {
        return Err(format!(
            "say why, in a few words (at least {REASON_MIN} characters): {}",
            if m.setup.journal_path.is_some() {
                "it goes into the upgrade journal"
            } else {
                "it is kept in the log"
            }
        ));
    }
    match target {
        OverrideTarget::Finding { id, title } => {
            m.log.push(
                LogKind::Warn,
                format!("{title}: overridden at Preflight: {reason}"),
            );
            fx.push(Effect::Journal(Event::Override {
                gate: format!("preflight: {id}: {title}"),
                reason: reason.clone(),
            }));
            m.finding_overrides.insert(id.clone(), reason);
        }
        OverrideTarget::FinishGate => {
            let blockers = m.node_gate().blockers;
            m.log.push(
                LogKind::Warn,
                format!(
                    "finish gate opened anyway: {reason} (it was closed by: {})",
                    blockers.join("; ")
                ),
            );
            fx.push(Effect::Journal(Event::Override {
                gate: format!("finish: {}", blockers.join("; ")),
                reason: reason.clone(),
            }));
            m.gate_override = Some(reason);
        }
    }
    Ok(())
}
