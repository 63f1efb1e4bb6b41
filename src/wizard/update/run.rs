//! Running kong: the gate, the confirmation, the start, its events, and the judgement
//! from the database afterwards.

use super::*;

use crate::kong::version::Version;

/// Judges the last run on the first good read that started after its exit was seen: the exit
/// code alone proves nothing (Kong exits 0 when it aborts on a held lock).
pub(super) fn judge_run(m: &mut Model, at: Instant, fx: &mut Vec<Effect>) {
    // A run on the clone is judged by the clone and the source's check around it.
    if super::dual::judge(m, at, fx) {
        return;
    }
    let Some(run) = &m.run else {
        return;
    };
    let RunState::Exited { code, signal, seen } = run.state else {
        return;
    };
    if at < seen || m.outcome.is_some() {
        return;
    }
    let Some(state) = m.state() else {
        return;
    };
    let success = match run.command {
        KongCommand::Up => !state.needs_bootstrap && !state.any(MigState::New),
        KongCommand::Finish => !state.needs_bootstrap && !state.any(MigState::Pending),
        KongCommand::Bootstrap => !state.needs_bootstrap && !state.any(MigState::New),
        _ => code == Some(0),
    };
    let exit = match (code, signal) {
        (Some(c), _) => format!("kong exited with code {c}"),
        (None, Some(s)) if run.interrupted => format!("kong was interrupted (signal {s})"),
        (None, Some(s)) => format!("kong was ended by signal {s}"),
        (None, None) => "kong ended".to_string(),
    };
    let now_says = counts(m);
    let name = run.command.as_str();
    // The database is the judge; a non-zero exit beside a complete result is still worth saying.
    let odd_exit = if success && code != Some(0) {
        format!(" ({exit}, yet the database shows it complete.)")
    } else {
        String::new()
    };
    let text = if success {
        let done = match run.command {
            KongCommand::Up if m.flow().stops_old_nodes_before_up() => {
                let p = state.total(MigState::Pending);
                // Short: the whole result must fit a 60x16 screen beside the downtime clock.
                format!(
                    "up is done ({now_says}); {p} two-phase wait for finish, next. Enter: Finish."
                )
            }
            KongCommand::Up => {
                let p = state.total(MigState::Pending);
                if p > 0 {
                    format!("up is done ({now_says}). {p} two-phase migrations wait for finish; the old nodes keep serving. Enter: Decommission.")
                } else {
                    format!("up is done ({now_says}): nothing is pending, finish has nothing to do. Enter: Decommission.")
                }
            }
            KongCommand::Finish => {
                format!("finish is done ({now_says}). Enter to continue.")
            }
            _ => format!("{name} is done ({now_says}). Enter to continue."),
        };
        format!("{done}{odd_exit}")
    } else {
        let why = if run.aborted {
            " Kong aborted because another node held the migrations lock, and changed nothing."
        } else if code == Some(0) {
            " Kong reported success, but the database disagrees."
        } else {
            ""
        };
        format!("{exit}; the database now says: {now_says}.{why} Nothing is retried automatically: read the log, fix the cause, then Enter runs {name} again (it asks first).")
    };
    let command = run.command;
    fx.push(Effect::Journal(Event::State {
        when: format!("after {name}"),
        state: StateSummary::of(state),
    }));
    fx.push(Effect::Journal(step_event(
        name,
        if success { "done" } else { "failed" },
        (!success).then(|| text.clone()),
    )));
    m.log.push(
        if success {
            LogKind::Info
        } else {
            LogKind::Error
        },
        text.clone(),
    );
    if success && command == KongCommand::Finish {
        consequence_of_override(m);
    }
    let command_line = m
        .run
        .as_ref()
        .map(|r| r.command_line.clone())
        .unwrap_or_default();
    let end = m
        .run
        .as_ref()
        .map(|r| run_end(&r.state))
        .unwrap_or(crate::kong::policy::RunEnd::Unknown);
    m.history.push(RunRecord {
        command_line,
        success,
        summary: first_sentence(&text),
        command,
        end,
    });
    m.outcome = Some(Outcome {
        command,
        success,
        text,
    });
}

/// Up to the first ". " (the rest of an outcome is the advice that follows it).
fn first_sentence(text: &str) -> String {
    match text.find(". ") {
        Some(i) => text[..=i].to_string(),
        None => text.to_string(),
    }
}

pub(super) fn on_run(m: &mut Model, id: RunId, ev: RunEvent, fx: &mut Vec<Effect>) {
    let now = m.now;
    let Some(run) = m.run.as_mut().filter(|r| r.id == id && r.active()) else {
        m.dropped += 1;
        return;
    };
    match ev {
        RunEvent::Started { command_line } => {
            m.log.push(LogKind::Command, format!("$ {command_line}"));
        }
        RunEvent::Line { stream, text } => {
            if text.contains(ABORTED) {
                run.aborted = true;
            }
            let kind = match stream {
                Stream::Stdout => LogKind::Stdout,
                Stream::Stderr => LogKind::Stderr,
            };
            // kong prints names from the database: shown, never acted on by the terminal.
            let text = text.replace('\t', "    ");
            m.log.push(kind, crate::text::escape(&text).into_owned());
        }
        RunEvent::Exited { code, signal } => {
            fx.push(Effect::Journal(Event::CommandExit {
                command_line: run.command_line.clone(),
                code,
                signal,
            }));
            run.state = RunState::Exited {
                code,
                signal,
                seen: now,
            };
            let how = match (code, signal) {
                (Some(c), _) => format!("code {c}"),
                (None, Some(s)) => format!("signal {s}"),
                (None, None) => "no status".into(),
            };
            m.log.push(
                LogKind::Info,
                format!("kong exited ({how}); re-reading the database to see what it did"),
            );
            if m.overlay == Some(Overlay::LeaveWhileRunning) {
                m.overlay = None;
            }
            fx.push(Effect::Refresh);
        }
        RunEvent::SpawnFailed { message } => {
            let line = run.command_line.clone();
            let command = run.command;
            run.state = RunState::SpawnFailed(message.clone());
            fx.push(Effect::Journal(Event::CommandExit {
                command_line: line.clone(),
                code: None,
                signal: None,
            }));
            fx.push(Effect::Journal(step_event(
                super::dual::run_step_name(m, command),
                "failed",
                Some(format!("could not start: {message}")),
            )));
            let text = format!("could not start `{line}`: {message}. Check --kong-cmd (or KONGRADE_KONG_CMD); nothing ran.");
            m.log.push(LogKind::Error, text.clone());
            m.history.push(RunRecord {
                command_line: line.clone(),
                success: false,
                summary: first_sentence(&text),
                command,
                end: crate::kong::policy::RunEnd::Failed,
            });
            m.outcome = Some(Outcome {
                command,
                success: false,
                text,
            });
            if m.overlay == Some(Overlay::LeaveWhileRunning) {
                m.overlay = None;
            }
        }
    }
}

/// Up and Bootstrap: run (after a confirmation), or go on once it succeeded.
pub(super) fn run_step(m: &mut Model, command: KongCommand) {
    let next = m.flow().next(m.step).unwrap_or(Step::Done);
    if m.running() {
        notice(
            m,
            NoticeLevel::Info,
            "kong is running; Ctrl-C asks whether to stop it",
        );
        return;
    }
    if m.outcome
        .as_ref()
        .is_some_and(|o| o.command == command && o.success)
    {
        goto(m, next);
        return;
    }
    // Someone else may have done it meanwhile: the database is the judge.
    let done_already = m.state().is_some_and(|s| match command {
        KongCommand::Up => !s.needs_bootstrap && !s.any(MigState::New),
        _ => !s.needs_bootstrap,
    });
    if done_already && !m.db.stale() {
        let text = format!(
            "the database shows nothing left for {}: continuing",
            command.as_str()
        );
        m.log.push(LogKind::Info, text.clone());
        goto(m, next);
        notice(m, NoticeLevel::Info, text);
        return;
    }
    match gate(m, command) {
        Err(why) => notice(m, NoticeLevel::Block, why),
        Ok(()) if m.open_checkpoint(command).is_some() => {
            m.overlay = m.open_checkpoint(command).map(|which| Overlay::Checkpoint {
                which,
                chosen: None,
            });
        }
        Ok(()) => {
            m.overlay = Some(Overlay::Confirm {
                command,
                command_line: m.command_line(command),
            })
        }
    }
}

/// Whether kong may be started now for `command`; the reason when not.
pub fn gate(m: &Model, command: KongCommand) -> Result<(), String> {
    if m.setup.read_only {
        return Err(
            "read-only (--read-only): kongrade shows the state and findings and runs nothing"
                .into(),
        );
    }
    if m.running() {
        return Err("kong is already running".into());
    }
    // A kong the killed run left running: no second one, whatever the database says now.
    if let Some(k) = &m.earlier_kong {
        return Err(k.text());
    }
    let Some(state) = m.state() else {
        return Err("the database has not been read yet".into());
    };
    if m.db.stale() {
        return Err(format!(
            "the database cannot be read right now ({} failed reads): kongrade will not start kong without seeing the state",
            m.db.failures
        ));
    }
    if state.lock_live() {
        let owner = state
            .lock
            .as_ref()
            .and_then(|l| l.owner.clone())
            .unwrap_or_else(|| "unknown".into());
        let left = m
            .lock_seconds_left()
            .map(|s| format!("it expires in {}", secs_text(s)))
            .unwrap_or_else(|| "it expires by itself".into());
        if let Some(r) = m.own_lock_run() {
            return Err(format!(
                "the migrations lock is the one your own {} left when it was {} (owner {owner}): {left}, and Kong deletes it on the next run. Enter works once it is released; kongrade never deletes it",
                r.command.as_str(),
                if r.interrupted { "interrupted" } else { "stopped" }
            ));
        }
        return Err(format!(
            "the migrations lock is held (owner {owner}): another kong is migrating; {left}. Wait until it is released"
        ));
    }
    match command {
        KongCommand::Up if m.flow().stops_old_nodes_before_up() => {
            let blockers = m.in_place_blockers();
            if !blockers.is_empty() {
                return Err(format!(
                    "in-place: up runs only once every old node is stopped: {}",
                    blockers.join("; ")
                ));
            }
            if state.any(MigState::Pending) {
                return Err("migrations are pending: Kong refuses up until 'finish' ran".into());
            }
        }
        KongCommand::Up => {
            if state.needs_bootstrap {
                return Err("the database needs bootstrap, not up".into());
            }
            if state.any(MigState::Pending) {
                return Err("migrations are pending: Kong refuses up until 'finish' ran".into());
            }
        }
        KongCommand::Bootstrap => {
            if state.legacy_table {
                return Err("a pre-1.0 database must never be bootstrapped: upgrade through Kong 1.5 ('kongrade plan')".into());
            }
            if !state.needs_bootstrap {
                return Err("the database is already bootstrapped".into());
            }
        }
        KongCommand::Finish => {
            let blockers = finish_blockers(m);
            if !blockers.is_empty() {
                return Err(blockers.join("; "));
            }
        }
        _ => {}
    }
    // Last, so the reasons above say it in the command's words.
    if let Some(why) = blocking_finding(m) {
        return Err(why);
    }
    Ok(())
}

/// What auto refuses without a flag, the wizard never runs kong over, at whatever step it
/// appears (an interrupted 016 shows only after the up that failed), on the shared database or
/// the clone the live pane reads.
pub fn blocking_finding(m: &Model) -> Option<String> {
    m.findings
        .iter()
        .find(|f| crate::wizard::model::blocks(f))
        .map(blocking_text)
}

/// What the wizard says of a finding it starts no kong over.
pub fn blocking_text(f: &crate::wizard::Finding) -> String {
    format!(
        "{}: the finding says what to do first; kongrade starts no kong while it stands",
        f.title
    )
}

/// The operator confirmed `command` (with the word they typed): journaled, then started if the
/// gate still holds.
pub(super) fn confirmed(
    m: &mut Model,
    command: KongCommand,
    typed: Option<String>,
    fx: &mut Vec<Effect>,
) {
    if let Err(why) = gate(m, command) {
        notice(
            m,
            NoticeLevel::Block,
            format!("{} refused: {why}", command.as_str()),
        );
        return;
    }
    fx.push(Effect::Journal(Event::Confirmed {
        what: format!("run {}", m.command_line(command)),
        typed,
    }));
    start(m, command, fx);
}

/// Starts `command` (the confirmation was given); re-checks the gate, since the database may have
/// changed while the confirmation was on screen. The state and the command line go into the
/// journal before kong starts.
pub(super) fn start(m: &mut Model, command: KongCommand, fx: &mut Vec<Effect>) {
    if let Err(why) = gate(m, command) {
        notice(
            m,
            NoticeLevel::Block,
            format!("{} refused: {why}", command.as_str()),
        );
        return;
    }
    if let Some(state) = m.state() {
        fx.push(Effect::Journal(Event::State {
            when: format!("before {}", command.as_str()),
            state: StateSummary::of(state),
        }));
    }
    fx.push(Effect::Journal(Event::Command {
        command_line: m.command_line(command),
        kong_version: m.setup.target.map(|v| v.to_string()),
    }));
    let id = m.next_run;
    m.next_run += 1;
    let mut inv = m.setup.invocation.clone();
    inv.command = command;
    m.run = Some(Run {
        id,
        command,
        command_line: m.command_line(command),
        started: m.now,
        state: RunState::Running,
        aborted: false,
        interrupted: false,
    });
    m.outcome = None;
    m.focus = Focus::Step;
    m.log.scroll = 0;
    fx.push(Effect::StartKong(id, inv));
}

/// Training: finish ran although the node gate was opened anyway and old nodes still serve.
/// What that costs is shown, not only said: each old node's log as the trainee would read it,
/// and the way back (the rollback guidance now restores the backup).
fn consequence_of_override(m: &mut Model) {
    if m.setup.training.is_none() || m.gate_override.is_none() {
        return;
    }
    if m.node_gate().open {
        return;
    }
    let mut lines = Vec::new();
    let target = m.setup.target;
    // Old traditional nodes and control planes read the database: what finish tore down is gone.
    for n in m
        .nodes
        .iter()
        .filter(|n| n.class.as_ref().is_some_and(|c| c.blocks_finish()))
    {
        lines.extend(old_node_log(&n.name, n.class.as_ref(), target));
    }
    // A data plane reads no database: the new control plane turns it away (it keeps serving
    // the last configuration it had, going stale).
    let cp = m
        .nodes
        .iter()
        .find(|n| matches!(n.class, Some(NodeClass::New { .. })))
        .map(|n| n.name.clone())
        .unwrap_or_else(|| "the new control plane".into());
    for dp in m.old_data_planes_seen() {
        lines.extend(old_dp_log(&cp, &dp, target));
    }
    for l in lines {
        m.log.push(LogKind::Error, l);
    }
    m.log.push(
        LogKind::Warn,
        "(training) the override let finish run with old nodes serving: what the old nodes read is gone. The way back now is the backup: b shows the restore",
    );
}

/// What an old traditional node or control plane logs once finish has run, in Kong's words.
/// From 2.x to 3.x, finish runs core `016_280_to_300`'s teardown, which drops `vaults_beta`
/// (Kong 3.4.2 kong/db/migrations/core/016_280_to_300.lua), the table 2.8's vaults entity lives
/// in (2.8.5 kong/db/schema/entities/vaults_beta.lua). The line is the Admin API's error path
/// in 2.8.5 (kong/api/api_helpers.lua:340 `kong.log.err(err)` after a DAO error), the DAO error
/// as kong/db/errors.lua prints it (`[postgres] <pgmoon's "ERROR: <message>">`), in nginx's
/// error-log layout. The date, pid and connection number are left out (the model has no wall
/// clock), and so is the statement position pgmoon appends (it depends on the query text).
fn old_node_log(name: &str, class: Option<&NodeClass>, target: Option<Version>) -> Vec<String> {
    let old_major = match class {
        Some(NodeClass::Old { version, .. }) => version.parse::<Version>().ok().map(|v| v.major),
        _ => None,
    };
    match (old_major, target) {
        (Some(2), Some(t)) if t.major >= 3 => vec![
            format!("(training) {name} log: [error] … [kong] api_helpers.lua:340 [postgres] ERROR: relation \"vaults_beta\" does not exist, client: …, server: kong_admin, request: \"GET /vaults-beta HTTP/1.1\""),
            format!("(training) kongrade: finish ran core 016_280_to_300's teardown, which dropped vaults_beta, the table {name}'s Kong 2.x reads its vaults from: every read of it fails like this (the Admin API's /vaults-beta, any {{vault://…}} reference through a vault entity)"),
        ],
        _ => vec![format!("(training) kongrade: {name} runs the old version, whose schema finish tore down: what it reads of the teardowns' tables and columns fails")],
    }
}

/// An old data plane after finish: the new control plane refuses it when it connects, in the
/// words of Kong 3.4.2 kong/clustering/compat/init.lua (a different major) logged by
/// kong/clustering/control_plane.lua:250 in handle_cp_websocket(), with the suffix
/// kong/clustering/utils.lua's connect_dp builds. Same-major data planes are not refused: what
/// they may reject is configuration, which kongrade says in its own words.
fn old_dp_log(
    cp: &str,
    dp: &crate::kong::snapshot::DataPlaneRow,
    target: Option<Version>,
) -> Vec<String> {
    let key = dp_key(dp);
    let version = dp.version.clone().unwrap_or_default();
    let dp_major = version.parse::<Version>().ok().map(|v| v.major);
    match (dp_major, target) {
        (Some(d), Some(t)) if d != t.major => {
            let mut suffix = vec![format!("id: {}", dp.id)];
            if let Some(h) = &dp.hostname {
                suffix.push(format!("host: {h}"));
            }
            if let Some(ip) = &dp.ip {
                suffix.push(format!("ip: {ip}"));
            }
            suffix.push(format!("version: {version}"));
            vec![
                format!("(training) {cp} log: [error] … [lua] control_plane.lua:250: handle_cp_websocket(): [clustering] data plane version {version} is incompatible with control plane version {t} ({}.x.y are accepted) [{}]", t.major, suffix.join(", ")),
                format!("(training) kongrade: {key} reads no database, so finish did not break it; but no control plane it may connect to now accepts it, so it keeps serving the last configuration it had, going stale"),
            ]
        }
        _ => vec![format!("(training) kongrade: {key}'s control planes are new now; this old data plane may reject the configuration they send (fields its version does not know) and keeps serving the last one it accepted, going stale")],
    }
}
