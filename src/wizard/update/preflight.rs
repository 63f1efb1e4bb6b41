//! Preflight: the findings decide whether and where the wizard goes on.

use super::*;

pub(super) fn preflight_next(m: &mut Model, fx: &mut Vec<Effect>) {
    // The key table refuses Enter while a finding stops the wizard; this is the step.
    if crate::wizard::keys::preflight_block(m).is_some()
        || crate::wizard::keys::preflight_pending(m)
    {
        return;
    }
    let Some(state) = m.state().cloned() else {
        notice(m, NoticeLevel::Info, "waiting for a read of the database");
        return;
    };
    let next = if state.lock_live() {
        Step::Waiting
    } else if state.needs_bootstrap {
        m.path = Path::Bootstrap;
        Step::Bootstrap
    } else if state.any(MigState::Pending) {
        // `up` ran: what is left of any strategy is old nodes out, then finish.
        m.finishing = m.strategy.is_none();
        if m.flow() == Flow::InPlace {
            Step::Finish
        } else {
            Step::Decommission
        }
    } else if state.any(MigState::New) {
        m.path = Path::Upgrade;
        after_preflight(m, fx);
        return;
    } else {
        Step::Done
    };
    if next != Step::Bootstrap {
        m.path = Path::Upgrade;
    }
    goto(m, next);
}
