//! Preflight: the findings decide whether and where the wizard goes on.

use super::*;

pub(super) fn preflight_next(m: &mut Model) {
    if let Some(b) = m.findings.iter().find(|f| blocks(f)) {
        let text = format!(
            "The wizard stops here: {}. The finding above says what to do instead.",
            b.title
        );
        notice(m, NoticeLevel::Block, text);
        return;
    }
    let Some(state) = m.state() else {
        notice(m, NoticeLevel::Info, "waiting for a read of the database");
        return;
    };
    let next = if state.lock_live() {
        Step::Waiting
    } else if state.needs_bootstrap {
        m.path = Path::Bootstrap;
        Step::Bootstrap
    } else if state.any(MigState::Pending) {
        Step::Decommission
    } else if state.any(MigState::New) {
        Step::Backup
    } else {
        Step::Done
    };
    if next != Step::Bootstrap {
        m.path = Path::Upgrade;
    }
    goto(m, next);
}
