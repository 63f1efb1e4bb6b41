//! Everything that happens arrives as one [`Msg`]; [`update`] changes the model and returns the
//! [`Effect`]s the runtime must carry out. No I/O, no clock: time comes in with the messages.

use std::time::{Duration, Instant};

use crate::exec::backup::BackupRecord;
use crate::exec::journal::{Event, StateSummary};
use crate::exec::runner::{Invocation, KongCommand, RunEvent, RunId, Stream};
use crate::kong::state::MigState;

use super::keys::{action_for, Action, Key, KeyCode};
use super::model::*;
use crate::kong::nodes::{Checklist, NodeClass, NodeStatus};

#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Key(Key),
    Resize {
        width: u16,
        height: u16,
    },
    /// The clock: the runtime sends one on a timer and before each batch of messages.
    Tick(Instant),
    /// A read of the database by the poller. `at` is when the read started; `seq` grows with
    /// every read, so an older result arriving late is recognised and dropped.
    Snapshot {
        seq: u64,
        result: Result<Box<Reading>, String>,
        at: Instant,
    },
    /// An event of a kong run; events of any run but the current one are dropped.
    Run(RunId, RunEvent),
    /// A note from the runtime for the log (e.g. what a training node did when stopped).
    Note {
        warn: bool,
        text: String,
    },
    /// SIGTERM or SIGHUP: leave now (interrupting kong), restoring the terminal.
    Terminate,
    /// kongrade's pg_dump is this far.
    BackupProgress {
        bytes: u64,
        elapsed: Duration,
    },
    /// kongrade's backup ended: the proven record, or why it failed.
    BackupDone(Result<BackupRecord, String>),
    /// What each Admin API answered (by its name in the node list), classified.
    Probed(Vec<(String, NodeClass)>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Start kong with this invocation, tagging its events with the id.
    StartKong(RunId, Invocation),
    /// SIGINT to the run.
    Interrupt(RunId),
    /// SIGKILL to the run.
    Kill(RunId),
    /// Read the database now.
    Refresh,
    /// Training cluster only: stop this simulated node.
    StopNode(String),
    /// Restore the terminal and leave (running kong is interrupted first).
    Quit,
    /// Take a pg_dump in the background (progress and the end come back as messages).
    TakeBackup,
    /// Append to the upgrade journal (fsynced) before carrying out the effects after it: every
    /// entry comes before the action it announces.
    Journal(Event),
}

const ABORTED: &str = "aborted: another node is performing database changes";

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    let before = m.step;
    match msg {
        Msg::Tick(now) => {
            if now > m.now {
                m.now = now;
            }
        }
        Msg::Resize { width, height } => m.size = (width, height),
        Msg::Snapshot { seq, result, at } => on_snapshot(m, seq, result, at, &mut fx),
        Msg::Run(id, ev) => on_run(m, id, ev, &mut fx),
        Msg::Key(k) => on_key(m, k, &mut fx),
        Msg::Note { warn, text } => m
            .log
            .push(if warn { LogKind::Warn } else { LogKind::Info }, text),
        Msg::Terminate => leave(m, &mut fx),
        Msg::BackupProgress { bytes, elapsed } => {
            if let BackupState::Running { started, .. } = m.backup {
                m.backup = BackupState::Running {
                    started,
                    bytes,
                    elapsed,
                };
            }
        }
        Msg::BackupDone(result) => backup_done(m, result, &mut fx),
        Msg::Probed(answers) => on_probed(m, answers),
    }
    if m.step != before {
        // The path the operator took, in the journal (entering a step starts nothing itself).
        fx.insert(
            0,
            Effect::Journal(step_event(m.step.key(), "entered", None)),
        );
        if m.step == Step::Done && !m.closed && m.state().is_some_and(|s| s.up_to_date()) {
            m.closed = true;
            fx.push(Effect::Journal(Event::Closed {
                outcome: format!(
                    "up to date for Kong {}",
                    m.setup
                        .target
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(target)".into())
                ),
            }));
        }
    }
    fx
}

fn backup_done(m: &mut Model, result: Result<BackupRecord, String>, fx: &mut Vec<Effect>) {
    if !m.backup_running() {
        m.dropped += 1;
        return;
    }
    match result {
        Ok(rec) => {
            m.log.push(
                LogKind::Info,
                format!(
                    "backup written and verified: {} ({} bytes, sha256 {})",
                    rec.file.display(),
                    rec.bytes,
                    rec.sha256
                ),
            );
            fx.push(Effect::Journal(Event::Backup {
                record: rec.clone(),
            }));
            fx.push(Effect::Journal(step_event("backup", "done", None)));
            m.backup = BackupState::Taken(rec);
        }
        Err(e) => {
            m.log
                .push(LogKind::Error, format!("the backup failed: {e}"));
            fx.push(Effect::Journal(step_event(
                "backup",
                "failed",
                Some(e.clone()),
            )));
            m.backup = BackupState::Failed(e);
        }
    }
}

fn on_probed(m: &mut Model, answers: Vec<(String, NodeClass)>) {
    let first = m.probed_at.is_none();
    m.probed_at = Some(m.now);
    for (name, class) in answers {
        let Some(n) = m
            .nodes
            .iter_mut()
            .find(|n| n.name == name && n.kind == "admin")
        else {
            continue;
        };
        // Changes are worth a line (an old node stopping answering is the point); the first
        // answers are on screen.
        let was = n.class.as_ref().map(NodeClass::label);
        if !first && was.as_deref() != Some(class.label().as_str()) {
            m.log
                .push(LogKind::Info, format!("{name}: now {}", class.label()));
        }
        n.class = Some(class);
    }
}

fn step_event(step: &str, phase: &str, detail: Option<String>) -> Event {
    Event::Step {
        step: step.to_string(),
        phase: phase.to_string(),
        detail,
    }
}

/// [t] on the Backup step: kongrade's pg_dump, announced in the journal first.
fn take_backup(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.step != Step::Backup {
        return;
    }
    let why_not = match &m.setup.backup {
        _ if m.setup.read_only => Some(
            "read-only (--read-only): kongrade takes no backup; Space records your own".to_string(),
        ),
        BackupMethod::OwnOnly { why } => Some(format!("{why}; Space records your own backup")),
        BackupMethod::Cassandra { .. } => Some(
            "Cassandra has no single dump: run the snapshot on every node below and tick it".into(),
        ),
        BackupMethod::PgDump { .. } if m.backup_running() => {
            Some("the backup is running; its progress is above".into())
        }
        BackupMethod::PgDump { .. } => None,
    };
    if let Some(why) = why_not {
        notice(m, NoticeLevel::Info, why);
        return;
    }
    m.backup = BackupState::Running {
        started: m.now,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    m.log
        .push(LogKind::Info, "taking a backup: pg_dump --format=custom");
    fx.push(Effect::Journal(step_event(
        "backup",
        "started",
        Some("pg_dump --format=custom".into()),
    )));
    fx.push(Effect::TakeBackup);
}

fn counts(m: &Model) -> String {
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

fn on_snapshot(
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
fn enter(m: &mut Model) {
    let Some(state) = m.state() else {
        return;
    };
    let pending = state.total(MigState::Pending);
    let (step, note) = if state.lock_live() {
        (
            Step::Waiting,
            Some("the migrations lock is held: the wizard watches until it is released".into()),
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
    m.path = if state.needs_bootstrap && !state.legacy_table {
        Path::Bootstrap
    } else {
        Path::Upgrade
    };
    if let Some(n) = &note {
        m.log.push(LogKind::Info, n.clone());
    }
    m.entry_note = note;
    goto(m, step);
}

fn goto(m: &mut Model, step: Step) {
    m.step = step;
    m.cursor = 0;
    m.focus = Focus::Step;
}

/// Judges the last run on the first good read that started after its exit was seen: the exit
/// code alone proves nothing (Kong exits 0 when it aborts on a held lock).
fn judge_run(m: &mut Model, at: Instant, fx: &mut Vec<Effect>) {
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
    m.outcome = Some(Outcome {
        command,
        success,
        text,
    });
}

fn on_run(m: &mut Model, id: RunId, ev: RunEvent, fx: &mut Vec<Effect>) {
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
            m.log.push(kind, text);
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
                command.as_str(),
                "failed",
                Some(format!("could not start: {message}")),
            )));
            let text = format!("could not start `{line}`: {message}. Check --kong-cmd (or KONGRADE_KONG_CMD); nothing ran.");
            m.log.push(LogKind::Error, text.clone());
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

/// Rows in the current step's list, for the cursor.
pub fn list_len(m: &Model) -> usize {
    match m.step {
        Step::Preflight => m.findings.len(),
        Step::Backup => m.snapshots.len(),
        Step::Review => m.new_migrations().len(),
        Step::Decommission => m.decom_rows().len(),
        _ => 0,
    }
}

fn log_page(m: &Model) -> isize {
    (m.size.1 as isize / 4).max(1)
}

fn notice(m: &mut Model, level: NoticeLevel, text: impl Into<String>) {
    m.notice = Some(Notice {
        level,
        text: text.into(),
    });
}

fn leave(m: &mut Model, fx: &mut Vec<Effect>) {
    if let Some(run) = m.run.as_ref().filter(|r| r.active()) {
        fx.push(Effect::Interrupt(run.id));
    }
    m.quit = true;
    fx.push(Effect::Quit);
}

fn on_key(m: &mut Model, key: Key, fx: &mut Vec<Effect>) {
    if let Some(ov) = m.overlay.take() {
        overlay_key(m, ov, key, fx);
        return;
    }
    let Some(action) = action_for(key) else {
        return;
    };
    m.notice = None;
    match action {
        Action::Cancel => {
            if m.running() {
                m.overlay = Some(Overlay::LeaveWhileRunning);
            } else {
                leave(m, fx);
            }
        }
        Action::Help => m.overlay = Some(Overlay::Help),
        Action::Rollback => m.overlay = Some(Overlay::Rollback),
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
            if m.step == Step::Decommission {
                m.overlay = Some(Overlay::AddNode {
                    typed: String::new(),
                    error: None,
                });
            }
        }
        Action::Override => override_gate(m),
        Action::Confirm => confirm(m, fx),
    }
}

fn overlay_key(m: &mut Model, ov: Overlay, key: Key, fx: &mut Vec<Effect>) {
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

fn back(m: &mut Model, fx: &mut Vec<Effect>) {
    let ran_ok = |c: KongCommand, m: &Model| {
        m.outcome
            .as_ref()
            .is_some_and(|o| o.command == c && o.success)
    };
    let prev = match m.step {
        _ if m.running() => None,
        Step::Backup => Some(Step::Preflight),
        Step::Review => Some(Step::Backup),
        Step::Up if !ran_ok(KongCommand::Up, m) => Some(Step::Review),
        Step::Bootstrap if !ran_ok(KongCommand::Bootstrap, m) => Some(Step::Preflight),
        Step::Finish if !ran_ok(KongCommand::Finish, m) => Some(Step::Decommission),
        _ => None,
    };
    match prev {
        Some(s) => goto(m, s),
        None if m.running() => m.overlay = Some(Overlay::LeaveWhileRunning),
        None => leave(m, fx),
    }
}

/// A one-line text entry in an overlay: typing, Backspace, Esc cancels, Enter hands the trimmed
/// text to `done`, which may refuse it (returning the reason) and keep the overlay open.
#[allow(clippy::too_many_arguments)]
fn text_input(
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

/// A node kongrade cannot probe: the operator ticks its checklist, and finish waits for it.
fn add_node(m: &mut Model, name: String, fx: &mut Vec<Effect>) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name, so the node can be told apart".into());
    }
    if m.nodes.iter().any(|n| n.name == name) {
        return Err(format!("{name} is in the list already"));
    }
    m.log
        .push(LogKind::Info, format!("node added by hand: {name}"));
    fx.push(Effect::Journal(Event::Note {
        text: format!("manual node added: {name}"),
    }));
    m.nodes.push(NodeStatus {
        name,
        kind: "manual".into(),
        class: None,
        checklist: Checklist::default(),
    });
    Ok(())
}

/// Shortest reason accepted for opening the gate anyway: a few words, not a keystroke.
pub const REASON_MIN: usize = 8;

/// [o] on Finish: offered only while the node gate is what stops finish.
fn override_gate(m: &mut Model) {
    if m.step != Step::Finish {
        return;
    }
    if m.gate_override.is_some() {
        notice(
            m,
            NoticeLevel::Info,
            "the gate is already open (overridden)",
        );
        return;
    }
    if m.node_gate().open {
        notice(
            m,
            NoticeLevel::Info,
            "the finish gate is open: nothing to override",
        );
        return;
    }
    m.overlay = Some(Overlay::Override {
        typed: String::new(),
        error: None,
    });
}

fn override_done(m: &mut Model, reason: String, fx: &mut Vec<Effect>) -> Result<(), String> {
    if reason.chars().count() < REASON_MIN {
        return Err(format!(
            "say why, in a few words (at least {REASON_MIN} characters): it goes into the journal"
        ));
    }
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
    Ok(())
}

/// The longest backup reference kept (a path, a snapshot id, a ticket URL).
pub const REFERENCE_MAX: usize = 200;

/// The operator's own backup, by their reference: journaled, then the step may go on.
fn own_backup(m: &mut Model, reference: String, fx: &mut Vec<Effect>) {
    m.log
        .push(LogKind::Info, format!("your own backup: {reference}"));
    fx.push(Effect::Journal(Event::OwnBackup {
        reference: reference.clone(),
    }));
    fx.push(Effect::Journal(step_event("backup", "done", None)));
    m.backup = BackupState::Own(reference);
}

fn toggle_backup(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.backup_running() {
        notice(
            m,
            NoticeLevel::Info,
            "the backup is running; its progress is above",
        );
        return;
    }
    let BackupMethod::Cassandra {
        keyspace,
        tag,
        hosts,
    } = m.setup.backup.clone()
    else {
        m.overlay = Some(Overlay::OwnBackup {
            typed: String::new(),
            error: None,
        });
        return;
    };
    let Some(done) = m.snapshots.get_mut(m.cursor) else {
        return;
    };
    *done = !*done;
    let all = m.snapshots.iter().all(|d| *d);
    if all {
        let reference = format!(
            "{} on {}",
            BackupMethod::nodetool(&keyspace, &tag),
            hosts.join(", ")
        );
        own_backup(m, reference, fx);
    } else if m.backup_done() {
        // A node unticked: the set is no longer whole.
        m.backup = BackupState::Missing;
    }
}

/// Space on a Decommission row: a confirmation, one item of a node's checklist, or (on the
/// node's own row) all three at once.
fn toggle_decom(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(row) = m.decom_rows().get(m.cursor).cloned() else {
        return;
    };
    let (name, items, checks): (String, Vec<NodeItem>, Checklist) = match &row {
        DecomRow::General(i) => {
            if let Some(item) = m.checklist.get_mut(*i) {
                item.done = !item.done;
            }
            return;
        }
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            let Some(n) = m.nodes.get(*i) else { return };
            if !node_needs_checklist(n) {
                notice(
                    m,
                    NoticeLevel::Info,
                    format!("{} runs the new version: nothing to take out", n.name),
                );
                return;
            }
            let items = match &row {
                DecomRow::NodeItem(_, it) => vec![*it],
                _ => NodeItem::ALL.to_vec(),
            };
            (n.name.clone(), items, n.checklist)
        }
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            let old = m
                .data_planes()
                .iter()
                .any(|(dp, old, _)| *old && dp_key(dp) == *k);
            if !old {
                notice(
                    m,
                    NoticeLevel::Info,
                    format!("{k} runs the new version: nothing to take out"),
                );
                return;
            }
            let items = match &row {
                DecomRow::DataPlaneItem(_, it) => vec![*it],
                _ => NodeItem::ALL.to_vec(),
            };
            (
                k.clone(),
                items,
                m.dp_checks.get(k).copied().unwrap_or_default(),
            )
        }
    };
    // One item flips; the node's own row ticks all three, or unticks them when all are ticked.
    let mut c = checks;
    let value = if items.len() == 1 {
        !items[0].get(&c)
    } else {
        !c.done()
    };
    for it in &items {
        it.set(&mut c, value);
    }
    match &row {
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            m.dp_checks.insert(k.clone(), c);
        }
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            if let Some(n) = m.nodes.get_mut(*i) {
                n.checklist = c;
            }
        }
        DecomRow::General(_) => {}
    }
    if c.stopped && !checks.stopped {
        if m.setup.training.is_some() {
            fx.push(Effect::StopNode(name.clone()));
        }
        m.log.push(LogKind::Info, format!("marked stopped: {name}"));
    }
    if c.done() && !checks.done() {
        fx.push(Effect::Journal(Event::Confirmed {
            what: format!("{name}: out of the load balancer, drained and stopped"),
            typed: None,
        }));
    }
}

fn toggle(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Backup => toggle_backup(m, fx),
        Step::Decommission => toggle_decom(m, fx),
        _ => {}
    }
}

fn confirm(m: &mut Model, fx: &mut Vec<Effect>) {
    match m.step {
        Step::Connecting => notice(
            m,
            NoticeLevel::Info,
            "waiting for the first read of the database",
        ),
        Step::Waiting => notice(
            m,
            NoticeLevel::Info,
            "the wizard continues by itself once the lock is released",
        ),
        Step::Preflight => preflight_next(m),
        Step::Backup => {
            if m.backup_done() {
                goto(m, Step::Review);
            } else if m.backup_running() {
                notice(
                    m,
                    NoticeLevel::Info,
                    "the backup is running: the step goes on once it is written and verified",
                );
            } else {
                let how = match m.setup.backup {
                    BackupMethod::PgDump { .. } => {
                        "a backup first: t takes one now, Space records your own"
                    }
                    BackupMethod::OwnOnly { .. } => "a backup first: Space records your own",
                    BackupMethod::Cassandra { .. } => {
                        "a snapshot on every node first: run each command, then tick it (Space)"
                    }
                };
                notice(m, NoticeLevel::Warn, how);
            }
        }
        Step::Review => goto(m, Step::Up),
        Step::Up => run_step(m, KongCommand::Up),
        Step::Bootstrap => run_step(m, KongCommand::Bootstrap),
        Step::Decommission => goto(m, Step::Finish),
        Step::Finish => finish_step(m),
        Step::Done => leave(m, fx),
    }
}

fn preflight_next(m: &mut Model) {
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

/// Up and Bootstrap: run (after a confirmation), or go on once it succeeded.
fn run_step(m: &mut Model, command: KongCommand) {
    let next = if command == KongCommand::Up {
        Step::Decommission
    } else {
        Step::Done
    };
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
        Ok(()) => {
            m.overlay = Some(Overlay::Confirm {
                command,
                command_line: m.command_line(command),
            })
        }
    }
}

fn finish_step(m: &mut Model) {
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
            goto(m, Step::Done);
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
    let mut out = Vec::new();
    if m.gate_override.is_none() {
        out.extend(m.node_gate().blockers);
    }
    for item in m.checklist.iter().filter(|i| !i.done) {
        out.push(format!("not confirmed: {}", item.label));
    }
    out
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
        return Err(format!(
            "the migrations lock is held (owner {owner}): another kong is migrating; wait until it is released"
        ));
    }
    match command {
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
    Ok(())
}

/// The operator confirmed `command` (with the word they typed): journaled, then started if the
/// gate still holds.
fn confirmed(m: &mut Model, command: KongCommand, typed: Option<String>, fx: &mut Vec<Effect>) {
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
fn start(m: &mut Model, command: KongCommand, fx: &mut Vec<Effect>) {
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
