//! The Strategy step: Kong's choice for this upgrade (`kong::strategy::choose`), the questions
//! kongrade cannot answer itself, the operator's pick (journaled before anything it announces),
//! and the in-place steps' own moments (writes frozen, the gate, the new nodes proven).

use super::*;

use crate::kong::strategy::{Deployment, Strategy};
use crate::wizard::flow::{IN_PLACE_GATE_STEP, NEW_NODES_STEP, SMOKE_STEP};

/// The journal entry for the operator's choice (as `auto` writes it, `by` the wizard).
pub(super) fn chosen_event(m: &Model, s: Strategy, by: &str) -> Event {
    let c = m.strategy_choice();
    Event::StrategyChosen {
        strategy: s,
        recommended: c.recommended,
        deployment: c.deployment,
        jump: c.jump,
        by: by.to_string(),
    }
}

/// After Preflight: the Strategy step, unless the strategy is known (read back from the journal,
/// or preselected with --strategy and allowed here).
pub(super) fn after_preflight(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.strategy.is_some() {
        // Read back from the journal: the banner says which; it is not asked again.
        go_on_from_strategy(m);
        return;
    }
    goto(m, Step::Strategy);
    let Some(s) = m.setup.strategy.preselected else {
        return;
    };
    match m.strategy_choice().refusal_message(s) {
        // The runtime refuses this at start; the facts changed since (a node answered).
        Some(why) => notice(m, NoticeLevel::Block, why),
        None if m.strategy_unavailable(s).is_some() => {
            let why = m.strategy_unavailable(s).unwrap_or_default();
            notice(m, NoticeLevel::Warn, why);
        }
        None => chosen(m, s, "wizard --strategy", fx),
    }
}

/// Digits at the Strategy step: the answer to the question it asks.
pub(super) fn answer(m: &mut Model, key: Key) {
    let Some(q) = m.strategy_question() else {
        return;
    };
    let picked = match key.code {
        KeyCode::Char(c) => c.to_digit(10).map(|d| d as usize),
        _ => None,
    };
    let Some(i) = picked.and_then(|d| d.checked_sub(1)) else {
        return;
    };
    if i >= q.choices().len() {
        notice(
            m,
            NoticeLevel::Info,
            format!("answer 1 to {}", q.choices().len()),
        );
        return;
    }
    match q {
        StrategyQuestion::Deployment => {
            m.answers.deployment = Some(
                [
                    Deployment::Traditional,
                    Deployment::HybridControlPlane,
                    Deployment::DbLess,
                    Deployment::DataPlane,
                ][i],
            )
        }
        StrategyQuestion::SecondCluster => m.answers.second_cluster = Some(i == 0),
    }
    m.log.push(
        LogKind::Info,
        format!("strategy: you answered: {}", q.choices()[i]),
    );
    m.cursor = 0;
}

/// Enter on a strategy row: the confirmation (the key table refused the rest already).
pub(super) fn pick(m: &mut Model) {
    let Some((s, true)) = m.strategy_rows().get(m.cursor).copied() else {
        return;
    };
    m.overlay = Some(Overlay::ConfirmStrategy { strategy: s });
}

/// The operator chose `s` (confirmed, or preselected): journaled, then the flow goes on.
pub(super) fn chosen(m: &mut Model, s: Strategy, by: &str, fx: &mut Vec<Effect>) {
    let choice = m.strategy_choice();
    // The key table and the start refuse this; a changed read must not slip one through.
    if let Some(why) = choice.refusal_message(s) {
        notice(m, NoticeLevel::Block, why);
        return;
    }
    fx.push(Effect::Journal(chosen_event(m, s, by)));
    m.strategy = Some(s);
    let rec = if s == choice.recommended {
        " (Kong's recommendation)".to_string()
    } else {
        format!(" (Kong recommends {} here)", choice.recommended)
    };
    m.log
        .push(LogKind::Info, format!("strategy: {s}{rec}, chosen ({by})"));
    if let Some(o) = choice.offer(s) {
        for c in &o.caveats {
            m.log.push(LogKind::Warn, format!("caution: {c}"));
        }
    }
    if s != Strategy::DualCluster {
        // Another procedure than the clone's: the dual-cluster steps stay out of it.
        m.dual = None;
        m.path = Path::Upgrade;
    }
    // The chosen procedure's confirmations (in-place's are the old nodes' stop; at Freeze, the
    // writes), the rule a resumed run takes them by; a tick already given is kept.
    let keep = crate::wizard::model::checklist_of(&m.setup, Some(s));
    m.checklist
        .retain(|c| keep.iter().any(|k| k.label == c.label));
    go_on_from_strategy(m);
}

/// From the Strategy step to the chosen flow's next step (Done for rolling: nothing runs).
fn go_on_from_strategy(m: &mut Model) {
    let next = m.flow().next(Step::Strategy).unwrap_or(Step::Done);
    goto(m, next);
}

/// In-place's Freeze: the operator confirms configuration writes are frozen (journaled).
pub(super) fn freeze_confirmed(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.step != Step::Freeze {
        return;
    }
    fx.push(Effect::Journal(Event::Confirmed {
        what: "configuration writes are frozen (Admin API, Kong Manager, decK, direct database edits) until the upgrade is complete".into(),
        typed: None,
    }));
    fx.push(Effect::Journal(step_event("freeze", "done", None)));
    m.log.push(
        LogKind::Info,
        "you confirmed: configuration writes are frozen",
    );
    if let Some(next) = m.flow().next(Step::Freeze) {
        goto(m, next);
    }
}

/// In-place: leaving "Stop old nodes" with none answering is the gate: the downtime starts.
pub(super) fn gate_passed(m: &mut Model, fx: &mut Vec<Effect>) {
    let blockers = m.in_place_blockers();
    if !blockers.is_empty() {
        notice(
            m,
            NoticeLevel::Block,
            format!(
                "in-place: up runs only once every old node is stopped: {}",
                blockers.join("; ")
            ),
        );
        return;
    }
    if m.downtime_since.is_none() {
        m.downtime_since = Some(m.now);
        let names: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
        fx.push(Effect::Journal(step_event(
            IN_PLACE_GATE_STEP,
            "done",
            Some(format!(
                "none of the old nodes answers ({}): the downtime starts",
                if names.is_empty() {
                    "confirmed by the operator".to_string()
                } else {
                    names.join(", ")
                }
            )),
        )));
        m.log.push(
            LogKind::Warn,
            "no old node answers: the proxy is down from now until the new nodes serve",
        );
    }
    if let Some(next) = m.flow().next(Step::Decommission) {
        goto(m, next);
    }
}

/// In-place's last step: the new nodes answer the target version (or, with no
/// `--new-admin-url`, the operator says they serve), then the `--smoke` tests pass through
/// them; the downtime ends there (auto's clock stops there too).
pub(super) fn new_nodes_done(m: &mut Model, fx: &mut Vec<Effect>) {
    let detail = match m.new_nodes_proven() {
        Ok(true) => {
            let answers: Vec<(String, crate::kong::nodes::NodeClass)> = m
                .new_probes
                .iter()
                .filter_map(|(u, c)| c.clone().map(|c| (u.clone(), c)))
                .collect();
            let verdict = crate::kong::in_place::judge_new_nodes(
                answers.iter().map(|(u, c)| (u.as_str(), c)),
            );
            crate::kong::in_place::new_nodes_entry(&verdict).1
        }
        Ok(false) => {
            fx.push(Effect::Journal(Event::Confirmed {
                what: "the new nodes serve (no --new-admin-url to probe)".into(),
                typed: None,
            }));
            "confirmed by the operator".into()
        }
        Err(why) => {
            notice(m, NoticeLevel::Block, why);
            return;
        }
    };
    if m.smoke == SmokeState::Running {
        notice(m, NoticeLevel::Info, "the smoke tests are running");
        return;
    }
    let smoke_due = !m.setup.in_place.smoke.is_empty()
        && !matches!(m.smoke, SmokeState::Passed(_))
        && m.new_nodes_proven() == Ok(true);
    // As auto journals it: the new nodes proven, then the smoke tests.
    fx.push(Effect::Journal(step_event(
        NEW_NODES_STEP,
        "done",
        Some(detail.clone()),
    )));
    m.log
        .push(LogKind::Info, format!("the new nodes answer: {detail}"));
    if smoke_due {
        m.smoke = SmokeState::Running;
        m.log.push(
            LogKind::Info,
            format!(
                "smoke tests through the new nodes: {}",
                m.setup.in_place.smoke.join("; ")
            ),
        );
        fx.push(Effect::Smoke);
        return;
    }
    serving(m);
}

/// The new nodes serve (proven, smoke-tested where asked): the downtime ends, Done.
fn serving(m: &mut Model) {
    if m.downtime_until.is_none() {
        m.downtime_until = Some(m.now);
    }
    let down = m
        .downtime()
        .map(|d| format!("; downtime {}", secs_text(d.as_secs_f64())))
        .unwrap_or_default();
    m.log
        .push(LogKind::Info, format!("the new nodes serve{down}"));
    goto(m, Step::Done);
}

/// The smoke tests' verdicts: journaled as auto journals them; all passed ends the downtime,
/// any failure keeps Done shut and says the way back (in-place's rollback: the backup).
pub(super) fn smoked(m: &mut Model, verdicts: Vec<Result<String, String>>, fx: &mut Vec<Effect>) {
    if m.smoke != SmokeState::Running {
        return;
    }
    let failed: Vec<String> = verdicts.iter().filter_map(|v| v.clone().err()).collect();
    let (phase, detail) = crate::kong::in_place::smoke_entry(verdicts.len(), &failed);
    fx.push(Effect::Journal(step_event(SMOKE_STEP, phase, Some(detail))));
    for v in &verdicts {
        match v {
            Ok(l) => m.log.push(LogKind::Info, l.clone()),
            Err(l) => m.log.push(LogKind::Error, format!("SMOKE FAILED: {l}")),
        }
    }
    if failed.is_empty() {
        m.smoke = SmokeState::Passed(verdicts.into_iter().flatten().collect());
        if m.step == Step::StartNew {
            serving(m);
        }
        return;
    }
    m.smoke = SmokeState::Failed(failed.clone());
    notice(
        m,
        NoticeLevel::Block,
        format!(
            "smoke tests failed: {}. Send the new nodes no traffic: fix them, then Enter runs the smoke tests again; or roll back (b): restore the verified backup",
            failed.join("; ")
        ),
    );
}
