//! The dual-cluster steps (`wizard::dual`): what Enter, Space, `c` and `p` do there, the
//! questions, the runtime's reports, and the judgement of a kong run on the clone. Every
//! action's journal entry goes out before the action's effect, in the same batch.

use super::*;

use crate::wizard::dual::{
    kong_step, run_marker, CloneState, Dual, DualAsk, DualJob, DualMsg, Guard, GuardFor,
    RETIRE_WORD, STEP_CLONE, STEP_GUARD, STEP_PROVEN, STEP_RETIRE, TRAFFIC,
};

fn dual(m: &Model) -> Option<&Dual> {
    m.dual.as_ref()
}

/// Backup is done: into the clone's steps, where a resumed run left them.
pub(super) fn enter(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(d) = dual(m) else {
        return;
    };
    let step = d.resume_step();
    if d.record().is_some() && !d.watch_asked {
        watch(m, fx);
    }
    if step != Step::Clone {
        let text = format!(
            "dual-cluster: the journal has this upgrade's clone (and what was done on it): resuming at {}; nothing done is repeated",
            step.title()
        );
        m.log.push(LogKind::Info, text.clone());
        notice(m, NoticeLevel::Info, text);
    }
    goto(m, step);
}

fn watch(m: &mut Model, fx: &mut Vec<Effect>) {
    if let Some(d) = m.dual.as_mut() {
        d.watch_asked = true;
        d.watching = false;
    }
    fx.push(Effect::Dual(DualJob::Watch));
    m.log.push(
        LogKind::Info,
        "the live pane reads the clone from now on (the source is only read by the write guard)",
    );
}

/// Why Enter does nothing on a dual step now; Ok: the label of what it does.
pub fn confirm_refusal(m: &Model) -> Result<&'static str, (NoticeLevel, String)> {
    use NoticeLevel::{Block, Info};
    let Some(d) = dual(m) else {
        return Err((Info, "not a dual-cluster upgrade".into()));
    };
    if let Some(why) = &d.source_changed {
        return Err((Block, why.clone()));
    }
    let running = "kong is running on the clone; Ctrl-C asks whether to stop it";
    match m.step {
        Step::Clone => match &d.clone {
            CloneState::Proven(_) if !d.stale() => Ok("continue"),
            CloneState::Inspecting => Err((Info, "looking at the clone's place...".into())),
            CloneState::Running => Err((
                Info,
                "the clone is streaming; the step goes on once it is proven".into(),
            )),
            _ if m.setup.read_only => Err((
                Info,
                "read-only (--read-only): kongrade takes no clone".into(),
            )),
            CloneState::Inspected(Some(n)) if *n > 0 && !may_replace(d) => {
                Err((Block, held_message(d, *n)))
            }
            _ => Ok("take clone"),
        },
        Step::CloneReview => match d.record() {
            Some(_) => Ok("continue"),
            None => Err((Block, "take the clone first".into())),
        },
        Step::CloneUp | Step::CloneFinish => {
            let command = step_command(m.step);
            let done = if command == KongCommand::Up {
                d.up_done
            } else {
                d.finish_done
            };
            if m.running() {
                return Err((Info, running.into()));
            }
            if done || ran_ok(m, command) {
                return Ok("continue");
            }
            if d.record().is_none() || d.stale() {
                return Err((Block, "take the clone first (the Clone step)".into()));
            }
            if command == KongCommand::Finish && !d.up_done {
                return Err((Block, "up on the clone first".into()));
            }
            if nothing_due(m, command) {
                return Ok("continue");
            }
            gate(m, command).map(|_| {
                if command == KongCommand::Up {
                    "run up (clone)"
                } else {
                    "run finish (clone)"
                }
            })
        }
        Step::NewCluster => {
            if d.proven {
                Ok("continue")
            } else if d.probing {
                Err((Info, "probing the new cluster...".into()))
            } else if !d.finish_done {
                Err((Block, "finish on the clone first".into()))
            } else if d.setup.new_admin_urls.is_empty() && m.setup.training.is_none() {
                Err((Block, "kongrade needs the new nodes' Admin APIs to prove them: start the wizard with --new-admin-url URL (each node), --new-status-url URL (3.3+) and --smoke 'METHOD URL STATUS'".into()))
            } else {
                Ok("probe")
            }
        }
        Step::Traffic => match d.next_traffic() {
            None => Ok("continue"),
            Some(i) => Err((
                Info,
                format!(
                    "shift traffic first: {} % is next (Space ticks it once shifted; the write guard is checked before)",
                    TRAFFIC[i]
                ),
            )),
        },
        Step::Retire => {
            if m.setup.read_only {
                Err((
                    Info,
                    "read-only (--read-only): kongrade records no retirement".into(),
                ))
            } else if d.guarding() {
                Err((Info, "checking the write guard...".into()))
            } else if d.next_traffic().is_some() {
                Err((Block, "all traffic on the new cluster first".into()))
            } else if d.stale() {
                Err((Block, stale_message(d)))
            } else {
                Ok("retire old")
            }
        }
        _ => Err((Info, "not a dual-cluster step".into())),
    }
}

/// Whether a place that holds something may be replaced (its name typed first unless it is
/// this upgrade's own half-made clone): `--clone-replace`, our own half-made clone, or a clone
/// the write guard found stale (the verdict is the trigger, the typed name the consent).
fn may_replace(d: &Dual) -> bool {
    d.setup.replace || d.ours || d.stale()
}

/// Enter does what `c` does: the clone is stale and the step is where a new one is taken
/// (the Clone step a resumed run enters, or Traffic where the guard said so).
pub fn enter_reclones(m: &Model) -> bool {
    dual(m).is_some_and(Dual::stale) && matches!(m.step, Step::Clone | Step::Traffic)
}

fn held_message(d: &Dual, n: i64) -> String {
    format!(
        "the clone's place {} holds {n} relation(s): kongrade never replaces a database it did not make unless told: start again with --clone-replace (you type its name to confirm), or name another with --clone-database",
        d.setup.clone
    )
}

fn stale_message(d: &Dual) -> String {
    let tables = d
        .guard
        .as_ref()
        .map(|g| g.stale.join(", "))
        .unwrap_or_default();
    format!(
        "the clone is stale: the old cluster's configuration changed after it ({tables}). Send all traffic back to the old cluster, keep writes frozen, and take a new clone (c): it is migrated again"
    )
}

fn step_command(step: Step) -> KongCommand {
    if step == Step::CloneFinish {
        KongCommand::Finish
    } else {
        KongCommand::Up
    }
}

fn ran_ok(m: &Model, command: KongCommand) -> bool {
    m.outcome
        .as_ref()
        .is_some_and(|o| o.command == command && o.success)
        && dual(m)
            .is_some_and(|d| d.kong_run.is_some() && d.kong_run == m.run.as_ref().map(|r| r.id))
}

/// The clone (the live pane reads it) shows nothing left for `command`.
fn nothing_due(m: &Model, command: KongCommand) -> bool {
    let watching = dual(m).is_some_and(|d| d.watching);
    watching
        && !m.db.stale()
        && m.state().is_some_and(|s| match command {
            KongCommand::Up => !s.needs_bootstrap && !s.any(MigState::New),
            _ => !s.needs_bootstrap && !s.any(MigState::Pending),
        })
}

/// Whether kong may run `command` on the clone now.
fn gate(m: &Model, command: KongCommand) -> Result<(), (NoticeLevel, String)> {
    use NoticeLevel::Block;
    if m.setup.read_only {
        return Err((
            NoticeLevel::Info,
            "read-only (--read-only): nothing runs".into(),
        ));
    }
    // A kong the killed run left running on the clone: no second one.
    if let Some(k) = &m.earlier_kong {
        return Err((Block, k.text()));
    }
    if !dual(m).is_some_and(|d| d.watching) {
        return Err((
            NoticeLevel::Info,
            "the live pane is switching to the clone: a moment".into(),
        ));
    }
    let Some(state) = m.state() else {
        return Err((Block, "the clone has not been read yet".into()));
    };
    if m.db.stale() {
        return Err((
            Block,
            "the clone cannot be read right now: kongrade will not start kong without seeing its state".into(),
        ));
    }
    if state.lock_live() {
        return Err((
            Block,
            "the clone's migrations lock is held: a kong is migrating it (maybe one a killed run started); wait until it is released".into(),
        ));
    }
    if command == KongCommand::Up && state.any(MigState::Pending) {
        return Err((
            Block,
            "the clone has pending migrations: Kong refuses up until finish ran".into(),
        ));
    }
    // The one clone gate, auto's too: any finding the policy blocks on, on the clone's reading
    // (its findings speak of the clone: the poller reads it with the clone's settings).
    let clone = dual(m)
        .map(|d| d.setup.clone_database.clone())
        .unwrap_or_else(|| "this clone".into());
    if let Some(r) = crate::kong::policy::clone_refusal(&m.findings, &clone, None, None) {
        return Err((
            Block,
            r.instead
                .unwrap_or_else(|| super::run::blocking_text(r.finding)),
        ));
    }
    Ok(())
}

/// Enter on a dual step (the key table refused it already where it cannot act).
pub(super) fn confirm(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(d) = dual(m) else {
        return;
    };
    match m.step {
        Step::Clone => {
            if d.record().is_some() && !d.stale() {
                if !d.watch_asked {
                    watch(m, fx);
                }
                goto(m, Step::CloneReview);
            } else {
                inspect(m, fx);
            }
        }
        Step::CloneReview => goto(m, Step::CloneUp),
        Step::CloneUp | Step::CloneFinish => run(m, step_command(m.step), fx),
        Step::NewCluster => {
            if d.proven {
                goto(m, Step::Traffic);
            } else {
                probe(m, fx);
            }
        }
        Step::Traffic => goto(m, Step::Retire),
        Step::Retire => check_guard(m, GuardFor::Retire, fx),
        _ => {}
    }
}

fn inspect(m: &mut Model, fx: &mut Vec<Effect>) {
    if let Some(d) = m.dual.as_mut() {
        d.clone = CloneState::Inspecting;
    }
    fx.push(Effect::Dual(DualJob::Inspect));
}

/// `c`: a new clone, replacing the stale one (asks, with its name typed).
pub fn reclone_refusal(m: &Model) -> Option<(NoticeLevel, String)> {
    let d = dual(m)?;
    if m.setup.read_only {
        return Some((NoticeLevel::Info, "read-only (--read-only)".into()));
    }
    // A probe or guard check in flight reports on the clone it started on: a new clone waits.
    if m.running()
        || d.probing
        || d.guarding()
        || matches!(d.clone, CloneState::Running | CloneState::Inspecting)
    {
        return Some((NoticeLevel::Info, "busy: wait until it ends".into()));
    }
    // Stale is the write guard's verdict on a clone that was taken (a cancelled question
    // leaves it stale, its record set aside): the trigger, whatever the record says now.
    if d.record().is_none() && !d.stale() {
        return Some((
            NoticeLevel::Info,
            "no clone yet: Enter on the Clone step takes it".into(),
        ));
    }
    if !d.stale() {
        return Some((
            NoticeLevel::Info,
            "the write guard found the clone current: no new clone is needed".into(),
        ));
    }
    None
}

/// `c`, or Enter on a stale clone: the Clone step's own path (the place inspected, then the
/// question with the clone's name typed), so both keys say and do the same.
pub(super) fn reclone(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.dual.is_none() {
        return;
    }
    inspect(m, fx);
}

/// `p`: probe the new cluster again.
pub(super) fn probe(m: &mut Model, fx: &mut Vec<Effect>) {
    if let Some(d) = m.dual.as_mut() {
        d.probing = true;
        d.report = None;
    }
    fx.push(Effect::Dual(DualJob::Probe));
}

/// Space on Traffic: the next step, once the write guard says the clone is current.
pub(super) fn tick(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(i) = dual(m).and_then(Dual::next_traffic) else {
        return;
    };
    check_guard(m, GuardFor::Traffic(i), fx);
}

pub fn tick_refusal(m: &Model) -> Option<(NoticeLevel, String)> {
    let d = dual(m)?;
    // A tick is journaled: read-only watches and records nothing.
    if m.setup.read_only {
        return Some((
            NoticeLevel::Info,
            "read-only (--read-only): kongrade records no traffic step".into(),
        ));
    }
    if d.guarding() {
        return Some((NoticeLevel::Info, "checking the write guard...".into()));
    }
    if !d.proven {
        return Some((
            NoticeLevel::Block,
            "prove the new cluster first (New cluster step): send it no traffic before".into(),
        ));
    }
    if d.next_traffic().is_none() {
        return Some((
            NoticeLevel::Info,
            "100 % is on the new cluster: Enter goes on to retire the old one".into(),
        ));
    }
    None
}

fn check_guard(m: &mut Model, what: GuardFor, fx: &mut Vec<Effect>) {
    let Some(d) = m.dual.as_mut() else {
        return;
    };
    let Some(then) = d.record().map(|r| r.tables.clone()) else {
        notice(m, NoticeLevel::Block, "no clone: nothing to guard");
        return;
    };
    d.guard_for = Some(what);
    fx.push(Effect::Dual(DualJob::Guard { then }));
}

/// Run kong on the clone: asks first, showing the command and where it points.
fn run(m: &mut Model, command: KongCommand, fx: &mut Vec<Effect>) {
    let step = kong_step(command);
    let done = dual(m).is_some_and(|d| {
        if command == KongCommand::Up {
            d.up_done
        } else {
            d.finish_done
        }
    }) || ran_ok(m, command);
    let next = if command == KongCommand::Up {
        Step::CloneFinish
    } else {
        Step::NewCluster
    };
    if done {
        goto(m, next);
        return;
    }
    if nothing_due(m, command) {
        // Done by a run this one resumes (auto's, or one killed after its work): recorded once.
        fx.push(Effect::Journal(step_event(
            step,
            "done",
            Some("the clone shows nothing left to do".into()),
        )));
        set_done(m, command);
        let text = format!(
            "the clone shows nothing left for {}: continuing",
            command.as_str()
        );
        m.log.push(LogKind::Info, text.clone());
        goto(m, next);
        notice(m, NoticeLevel::Info, text);
        return;
    }
    // The demo's checkpoint first, as in the other flows; its answer comes back to [`after_checkpoint`].
    if let Some(which) = m.open_checkpoint(command) {
        m.overlay = Some(Overlay::Checkpoint {
            which,
            chosen: None,
        });
        return;
    }
    m.overlay = Some(Overlay::Dual(DualAsk::Run {
        command,
        command_line: m.command_line(command),
    }));
}

/// After a dual-cluster checkpoint was answered: on to the run's confirmation.
pub(super) fn after_checkpoint(m: &mut Model, command: KongCommand, fx: &mut Vec<Effect>) {
    run(m, command, fx);
}

fn set_done(m: &mut Model, command: KongCommand) {
    if let Some(d) = m.dual.as_mut() {
        if command == KongCommand::Up {
            d.up_done = true;
        } else {
            d.finish_done = true;
        }
    }
}

/// Keys on a dual-cluster question.
pub(super) fn overlay_key(
    m: &mut Model,
    ask: DualAsk,
    action: Action,
    key: Key,
    fx: &mut Vec<Effect>,
) {
    match ask {
        DualAsk::Run { command, .. } => match action {
            Action::Yes => start(m, command, fx),
            _ => notice(m, NoticeLevel::Info, "cancelled: nothing ran"),
        },
        DualAsk::Clone {
            replace,
            held,
            typed,
            error,
        } => {
            let word = dual(m)
                .map(|d| d.setup.clone_database.clone())
                .unwrap_or_default();
            match (action, typed) {
                (Action::Close, _) => notice(m, NoticeLevel::Info, "cancelled: nothing was cloned"),
                (Action::Yes, None) => take_clone(m, replace, None, fx),
                (Action::Confirm, Some(t)) if t == word => take_clone(m, replace, Some(t), fx),
                (Action::Confirm, Some(t)) => {
                    m.overlay = Some(Overlay::Dual(DualAsk::Clone {
                        replace,
                        held,
                        typed: Some(t),
                        error: Some(format!("type '{word}' exactly to replace it")),
                    }))
                }
                (_, Some(mut t)) => {
                    edit(&mut t, action, key);
                    m.overlay = Some(Overlay::Dual(DualAsk::Clone {
                        replace,
                        held,
                        typed: Some(t),
                        error: if action == Action::Type || action == Action::Erase {
                            None
                        } else {
                            error
                        },
                    }));
                }
                _ => {}
            }
        }
        DualAsk::Retire { mut typed, error } => match action {
            Action::Close => notice(m, NoticeLevel::Info, "cancelled: the old cluster stays"),
            Action::Confirm if typed == RETIRE_WORD => retire(m, typed, fx),
            Action::Confirm => {
                m.overlay = Some(Overlay::Dual(DualAsk::Retire {
                    typed,
                    error: Some(format!("type '{RETIRE_WORD}' exactly")),
                }))
            }
            _ => {
                edit(&mut typed, action, key);
                let error = if matches!(action, Action::Type | Action::Erase) {
                    None
                } else {
                    error
                };
                m.overlay = Some(Overlay::Dual(DualAsk::Retire { typed, error }));
            }
        },
    }
}

fn edit(t: &mut String, action: Action, key: Key) {
    match action {
        Action::Erase => {
            t.pop();
        }
        Action::Type => {
            if let KeyCode::Char(c) = key.code {
                if t.chars().count() < 64 {
                    t.push(c);
                }
            }
        }
        _ => {}
    }
}

fn take_clone(m: &mut Model, replace: bool, typed: Option<String>, fx: &mut Vec<Effect>) {
    let Some(d) = m.dual.as_mut() else {
        return;
    };
    let replace = replace || d.ours;
    // What was there, said truly: absent, empty, or what this replaces (tables and rows); a
    // retry on this upgrade's own half-made clone journals the start that made it ours.
    let detail = match (&d.ours_detail, d.ours) {
        (Some(x), true) => x.clone(),
        _ => d
            .place
            .as_ref()
            .map(|p| p.detail(&d.setup.clone))
            .unwrap_or_else(|| format!("{} (not looked at before the start)", d.setup.clone)),
    };
    if crate::contract::clone::PlaceAtStart::ours(&detail, &d.setup.clone) {
        d.ours_detail = Some(detail.clone());
    }
    fx.push(Effect::Journal(Event::Confirmed {
        what: format!(
            "clone {} into {}{}",
            d.setup.source,
            d.setup.clone,
            if replace {
                " (replacing what it holds)"
            } else {
                ""
            }
        ),
        typed,
    }));
    // auto's detail: a restart replaces this half-made clone without --clone-replace only
    // when its place was absent or empty.
    fx.push(Effect::Journal(step_event(
        STEP_CLONE,
        "started",
        Some(detail),
    )));
    d.clone = CloneState::Running;
    d.clone_lines.clear();
    d.clone_started = Some(m.now);
    d.ours = true;
    // A new clone voids what was done on the old one.
    d.up_done = false;
    d.finish_done = false;
    d.proven = false;
    d.report = None;
    d.traffic = [false; 5];
    d.guard = None;
    d.kong_run = None;
    d.source_check = None;
    fx.push(Effect::Dual(DualJob::Clone { replace }));
    m.log.push(LogKind::Info, "clone: started");
    if m.step != Step::Clone {
        goto(m, Step::Clone);
    }
}

/// Starts kong on the clone; the step's start goes into the journal first (with the marker
/// kong carries in its environment).
fn start(m: &mut Model, command: KongCommand, fx: &mut Vec<Effect>) {
    if let Err((level, why)) = gate(m, command) {
        notice(m, level, format!("{} refused: {why}", command.as_str()));
        return;
    }
    let marker = run_marker(m.setup.journal_path.as_deref(), command);
    let line = m.command_line(command);
    let clone = dual(m).map(|d| d.setup.clone.clone()).unwrap_or_default();
    fx.push(Effect::Journal(Event::Confirmed {
        what: format!("run {line} on the clone {clone}"),
        typed: None,
    }));
    fx.push(Effect::Journal(step_event(
        kong_step(command),
        "started",
        Some(marker.clone()),
    )));
    let id = m.next_run;
    m.next_run += 1;
    m.run = Some(Run {
        id,
        command,
        command_line: format!("{line}   (on the clone {clone})"),
        started: m.now,
        state: RunState::Running,
        aborted: false,
        interrupted: false,
    });
    if let Some(d) = m.dual.as_mut() {
        d.kong_run = Some(id);
        d.source_check = None;
    }
    m.outcome = None;
    m.focus = Focus::Step;
    m.log.scroll = 0;
    fx.push(Effect::Dual(DualJob::Kong {
        id,
        command,
        marker,
    }));
}

fn retire(m: &mut Model, typed: String, fx: &mut Vec<Effect>) {
    let Some(d) = m.dual.as_mut() else {
        return;
    };
    fx.push(Effect::Journal(Event::Confirmed {
        what: format!(
            "the old cluster is retired (its database {} after it)",
            d.setup.source
        ),
        typed: Some(typed),
    }));
    fx.push(Effect::Journal(step_event(STEP_RETIRE, "done", None)));
    d.retired = true;
    m.log.push(
        LogKind::Info,
        "the old cluster is retired: configuration writes may resume, on the new cluster",
    );
    goto(m, Step::Done);
}

/// The runtime's reports.
pub(super) fn on_msg(m: &mut Model, msg: DualMsg, fx: &mut Vec<Effect>) {
    let Some(d) = m.dual.as_mut() else {
        return;
    };
    match msg {
        DualMsg::Inspected(Err(e)) => {
            d.clone = CloneState::Failed(e.clone());
            notice(
                m,
                NoticeLevel::Block,
                format!("{e}; nothing was journaled: Enter looks again"),
            );
        }
        DualMsg::Inspected(Ok(place)) => {
            let held = place.relations();
            d.place = Some(place);
            d.clone = CloneState::Inspected(held);
            let n = held.unwrap_or(0);
            if n > 0 && !may_replace(d) {
                let text = held_message(d, n);
                notice(m, NoticeLevel::Block, text);
                return;
            }
            let typed = (n > 0 && !d.ours).then(String::new);
            m.overlay = Some(Overlay::Dual(DualAsk::Clone {
                replace: n > 0 && may_replace(d),
                held,
                typed,
                error: None,
            }));
        }
        DualMsg::CloneLine(l) => {
            d.clone_lines.push(l.clone());
            m.log.push(LogKind::Info, format!("clone: {l}"));
        }
        DualMsg::Cloned(Ok(rec)) => {
            let json = serde_json::to_string(&*rec).unwrap_or_default();
            fx.push(Effect::Journal(step_event(STEP_CLONE, "done", Some(json))));
            let line = crate::exec::clone::proven_line(&rec);
            d.clone = CloneState::Proven(rec);
            d.ours = false;
            m.log.push(LogKind::Info, line);
            if m.step == Step::Clone {
                notice(m, NoticeLevel::Info, "the clone is proven: Enter goes on");
            }
            watch(m, fx);
            fx.push(Effect::Refresh);
        }
        DualMsg::Cloned(Err(e)) => {
            fx.push(Effect::Journal(step_event(
                STEP_CLONE,
                "failed",
                Some(e.clone()),
            )));
            d.clone = CloneState::Failed(e.clone());
            let text =
                format!("the clone failed, nothing was migrated and the source is untouched: {e}");
            m.log.push(LogKind::Error, text.clone());
            notice(m, NoticeLevel::Block, text);
        }
        DualMsg::Watching { from_seq } => {
            d.watching = true;
            // What was read before is the source's: dropped, and so is any read still in flight.
            m.db.seq = m.db.seq.max(from_seq.saturating_sub(1));
            m.reading = None;
        }
        DualMsg::SourceChecked(id, r) => {
            d.source_check = Some((id, r));
            fx.push(Effect::Refresh);
        }
        DualMsg::Probed(report) => {
            d.probing = false;
            let ok = report.problems.is_empty();
            fx.push(Effect::Journal(step_event(
                STEP_PROVEN,
                if ok { "done" } else { "failed" },
                (!ok).then(|| report.problems.join("\n")),
            )));
            for l in &report.ok {
                m.log.push(LogKind::Info, format!("new cluster: {l}"));
            }
            for l in &report.problems {
                m.log
                    .push(LogKind::Error, format!("new cluster NOT READY: {l}"));
            }
            d.proven = ok;
            d.report = Some(report);
            if ok {
                notice(
                    m,
                    NoticeLevel::Info,
                    "the new cluster is proven: Enter goes on to shift traffic",
                );
            } else {
                notice(
                    m,
                    NoticeLevel::Block,
                    "the new cluster is not ready (above): send it no traffic. Fix it, then p probes again",
                );
            }
        }
        DualMsg::Guarded(r) => guarded(m, r, fx),
    }
}

fn guarded(m: &mut Model, r: Result<Guard, String>, fx: &mut Vec<Effect>) {
    let Some(d) = m.dual.as_mut() else {
        return;
    };
    let what = d.guard_for.take();
    let g = match r {
        Ok(g) => g,
        Err(e) => {
            notice(
                m,
                NoticeLevel::Block,
                format!("the write guard could not read the source: {e}. Nothing was ticked"),
            );
            return;
        }
    };
    let stale = !g.stale.is_empty();
    fx.push(Effect::Journal(step_event(
        STEP_GUARD,
        if stale { "failed" } else { "done" },
        Some(g.lines.join("\n")),
    )));
    for l in &g.lines {
        m.log
            .push(if stale { LogKind::Warn } else { LogKind::Info }, l.clone());
    }
    d.guard = Some(g);
    if stale {
        let text = stale_message(d);
        notice(m, NoticeLevel::Block, text);
        return;
    }
    match what {
        Some(GuardFor::Traffic(i)) => {
            let pct = TRAFFIC[i];
            fx.push(Effect::Journal(step_event(
                &crate::wizard::dual::traffic_step(pct),
                "done",
                None,
            )));
            d.traffic[i] = true;
            let text = if pct == 100 {
                "100 % on the new cluster: keep watching it for a while, then Enter retires the old cluster".to_string()
            } else {
                format!("{pct} % on the new cluster (write guard: clone current); watch errors and latency before the next step")
            };
            m.log.push(LogKind::Info, text.clone());
            notice(m, NoticeLevel::Info, text);
        }
        Some(GuardFor::Retire) => {
            m.overlay = Some(Overlay::Dual(DualAsk::Retire {
                typed: String::new(),
                error: None,
            }));
        }
        None => {}
    }
}

/// Judges the kong run on the clone once it ended, the runtime compared the source, and a read
/// of the clone started after the end. True when the current run is the clone's (judged or not
/// yet): the shared-database judgement is not for it.
pub(super) fn judge(m: &mut Model, at: Instant, fx: &mut Vec<Effect>) -> bool {
    let (Some(d), Some(run)) = (m.dual.as_ref(), m.run.as_ref()) else {
        return false;
    };
    if d.kong_run != Some(run.id) {
        return false;
    }
    let RunState::Exited { code, signal, seen } = run.state else {
        return true;
    };
    if at < seen || m.outcome.is_some() || !d.watching {
        return true;
    }
    let source = match &d.source_check {
        Some((id, r)) if *id == run.id => r.clone(),
        _ => return true,
    };
    let Some(state) = m.state() else {
        return true;
    };
    let command = run.command;
    let due = match command {
        KongCommand::Up => state.total(MigState::New),
        _ => state.total(MigState::Pending),
    };
    let success = source.is_ok() && due == 0 && !state.needs_bootstrap;
    let exit = match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "no status".into(),
    };
    let name = command.as_str();
    let now_says = counts(m);
    let (phase, detail, text) = match &source {
        Err(why) => (
            "failed",
            Some("the source's schema_meta changed: kong did not use the clone".to_string()),
            why.clone(),
        ),
        Ok(()) if success => (
            "done",
            None,
            format!(
                "{name} on the clone is done ({now_says}); the source is unchanged (its schema_meta compared before and after). Enter: {}.",
                if command == KongCommand::Up {
                    "Finish on the clone (no old node reads it: nothing to decommission)"
                } else {
                    "New cluster"
                }
            ),
        ),
        Ok(()) => (
            "failed",
            Some(format!("{exit}; {due} still due")),
            format!(
                "{name} on the clone failed ({exit}; {due} migration(s) still due; the clone now says: {now_says}). The source is untouched. Read the log, fix the cause, then Enter runs {name} again (it asks first)."
            ),
        ),
    };
    fx.push(Effect::Journal(step_event(
        kong_step(command),
        phase,
        detail,
    )));
    m.log.push(
        if success {
            LogKind::Info
        } else {
            LogKind::Error
        },
        text.clone(),
    );
    if let Err(why) = &source {
        if let Some(d) = m.dual.as_mut() {
            d.source_changed = Some(why.clone());
        }
    }
    if success {
        set_done(m, command);
    }
    let end = m
        .run
        .as_ref()
        .map(|r| run_end(&r.state))
        .unwrap_or(crate::kong::policy::RunEnd::Unknown);
    let command_line = m
        .run
        .as_ref()
        .map(|r| r.command_line.clone())
        .unwrap_or_default();
    m.history.push(RunRecord {
        command_line,
        success,
        summary: text.split(". ").next().unwrap_or_default().to_string(),
        command,
        end,
    });
    m.outcome = Some(Outcome {
        command,
        success,
        text,
    });
    true
}

/// The journal step a failed start of the clone's kong is recorded under.
pub fn run_step_name(m: &Model, command: KongCommand) -> &'static str {
    match dual(m) {
        Some(d) if d.kong_run.is_some() && d.kong_run == m.run.as_ref().map(|r| r.id) => {
            kong_step(command)
        }
        _ => command.as_str(),
    }
}

/// Rows of the step's list (Review of the clone: its new migrations).
pub fn list_len(m: &Model) -> usize {
    match m.step {
        Step::CloneReview => m.new_migrations().len(),
        _ => 0,
    }
}
