//! A read of the database arrives: health, findings, and where to enter.

use super::*;

pub(super) fn counts(m: &Model) -> String {
    match m.state() {
        Some(s) if s.needs_bootstrap => "no Kong schema (needs bootstrap)".into(),
        Some(s) => format!(
            "{} executed, {} pending, {} new",
            s.total(MigState::Executed),
            s.total(MigState::Pending),
            s.total(MigState::New)
        ),
        None => "unknown".into(),
    }
}

pub(super) fn on_snapshot(
    m: &mut Model,
    seq: u64,
    result: Result<Box<Reading>, String>,
    at: Instant,
    fx: &mut Vec<Effect>,
) {
    if seq <= m.db.seq {
        m.dropped += 1;
        return;
    }
    m.db.seq = seq;
    match result {
        Err(e) => {
            if m.db.failures == 0 {
                m.log
                    .push(LogKind::Warn, format!("cannot read the database: {e}"));
            }
            m.db.failures += 1;
            m.db.last_error = Some(e);
        }
        Ok(reading) => {
            if m.db.failures > 0 && m.db.last_ok.is_some() {
                m.log.push(
                    LogKind::Info,
                    format!(
                        "the database answers again (after {} failed reads)",
                        m.db.failures
                    ),
                );
            }
            m.db.failures = 0;
            m.db.last_error = None;
            m.db.last_ok = Some(at);
            m.findings = reading.findings.clone();
            m.reading = Some(*reading);
            judge_run(m, at, fx);
            match m.step {
                Step::Connecting => enter(m),
                Step::Waiting if !m.state().is_some_and(|s| s.lock_live()) => {
                    m.log
                        .push(LogKind::Info, "the migrations lock is released: continuing");
                    enter(m);
                }
                _ => {}
            }
            m.cursor = m.cursor.min(list_len(m).saturating_sub(1));
        }
    }
}

/// Where to start from what the database says: a live lock waits, pending migrations mean an
/// `up` already ran (resume at Decommission), anything else starts at Preflight.
pub(super) fn enter(m: &mut Model) {
    let Some(state) = m.state() else {
        return;
    };
    let pending = state.total(MigState::Pending);
    let (step, note) = if state.lock_live() {
        (
            Step::Waiting,
            Some("the migrations lock is held: the wizard watches until it is released".into()),
        )
    } else if pending > 0 && m.strategy == Some(crate::kong::strategy::Strategy::InPlace) {
        // In-place stopped every old node before its up: finish is next.
        (
            Step::Finish,
            Some(format!(
                "'up' already ran ({pending} migrations pending), in-place: resuming at Finish"
            )),
        )
    } else if pending > 0 {
        (
            Step::Decommission,
            Some(format!(
                "'up' already ran ({pending} migrations pending): resuming at Decommission"
            )),
        )
    } else {
        (Step::Preflight, None)
    };
    // A pre-1.0 database is upgraded (through 1.5), never bootstrapped.
    // Dual-cluster is an upgrade too: its steps come from the flow (`m.dual`, the strategy).
    m.path = if state.needs_bootstrap && !state.legacy_table {
        Path::Bootstrap
    } else {
        Path::Upgrade
    };
    if step == Step::Decommission {
        m.finishing = m.strategy.is_none();
    }
    if let Some(n) = &note {
        m.log.push(LogKind::Info, n.clone());
    }
    m.entry_note = note;
    goto(m, step);
}
