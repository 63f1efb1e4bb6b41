//! Everything that happens arrives as one [`Msg`]; [`update`] changes the model and returns the
//! [`Effect`]s the runtime must carry out. No I/O, no clock: time comes in with the messages.

use std::time::{Duration, Instant};

use crate::contract::journal::Event;
use crate::contract::{
    BackupRecord, Invocation, KongCommand, RunEvent, RunId, StateSummary, Stream,
};
use crate::kong::state::MigState;

use super::keys::{Action, Key, KeyCode};
use super::model::*;
use crate::kong::nodes::{Checklist, NodeClass, NodeStatus};

// One file per step or concern; each `use super::*` for the shared helpers below.
mod backup;
mod decommission;
pub mod dual;
mod finish;
mod input;
mod overlays;
mod preflight;
mod run;
mod snapshot;
mod strategy;

use backup::{backup_done, own_backup, take_backup, toggle_backup};
use decommission::{add_node, on_probed, remove_node, toggle_decom};
use finish::{finish_step, override_done, override_gate};
use input::on_key;
use overlays::overlay_key;
use preflight::preflight_next;
use run::{confirmed, judge_run, on_run, run_step};
use snapshot::{counts, on_snapshot};
use strategy::{
    after_preflight, answer, chosen, freeze_confirmed, gate_passed, new_nodes_done, pick, smoked,
};

pub use backup::REFERENCE_MAX;
pub use finish::{finish_blockers, REASON_MIN};
pub use run::gate;

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
    /// A dual-cluster job's report.
    Dual(crate::wizard::dual::DualMsg),
    /// In-place's smoke tests ran: each one's verdict (`SmokeRun::verdict`).
    Smoked(Vec<Result<String, String>>),
    /// The kong the previous run left running has ended.
    EarlierKongEnded,
    /// The rehearsal's staleness check answered (run beside the UI: `tui::spawn_staleness`).
    RehearsalChecked(crate::wizard::review::Staleness),
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
    /// Training cluster only: make the scenario's fix (the data a failing migration needs).
    FixCause,
    /// Restore the terminal and leave (running kong is interrupted first).
    Quit,
    /// Take a pg_dump in the background (progress and the end come back as messages).
    TakeBackup,
    /// Append to the upgrade journal (fsynced) before carrying out the effects after it: every
    /// entry comes before the action it announces.
    Journal(Event),
    /// A dual-cluster job (the clone, kong on it, the new nodes, the write guard).
    Dual(crate::wizard::dual::DualJob),
    /// In-place: run the `--smoke` tests through the new nodes' proxy (`Msg::Smoked` reports).
    Smoke,
}

const ABORTED: &str = "aborted: another node is performing database changes";

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    let before = m.step;
    let overlay_before = m.overlay.as_ref().map(std::mem::discriminant);
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
        Msg::Dual(msg) => dual::on_msg(m, msg, &mut fx),
        Msg::Smoked(verdicts) => smoked(m, verdicts, &mut fx),
        Msg::EarlierKongEnded => earlier_kong_ended(m, &mut fx),
        Msg::RehearsalChecked(answer) => rehearsal_checked(m, answer),
    }
    if m.overlay.as_ref().map(std::mem::discriminant) != overlay_before {
        m.overlay_scroll = 0;
    }
    if m.step != before {
        // The path the operator took, in the journal (entering a step starts nothing itself).
        // A strategy chosen in this message comes first: it is what decides the step entered.
        let at = fx
            .iter()
            .take_while(|e| matches!(e, Effect::Journal(Event::StrategyChosen { .. })))
            .count();
        fx.insert(
            at,
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

/// The previous run's kong ended: noted as auto notes it, the banner back to the resume's,
/// and the database read again (it says what that kong did).
fn earlier_kong_ended(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(k) = m.earlier_kong.take() else {
        return;
    };
    fx.push(Effect::Journal(Event::Note {
        text: crate::exec::journal::ended_note(&k.command_line),
    }));
    m.banner = m.setup.resume.as_ref().map(Resume::summary);
    let text = format!(
        "the {} the previous run started has ended: reading the database again (it says what that kong did)",
        k.what
    );
    m.log.push(LogKind::Info, text.clone());
    notice(m, NoticeLevel::Info, text);
    fx.push(Effect::Refresh);
}

/// The rehearsal's staleness check answered: Review and Up say it from now on, and the log
/// keeps the line as it now reads.
fn rehearsal_checked(m: &mut Model, answer: crate::wizard::review::Staleness) {
    use crate::wizard::review::Staleness;
    let Some(r) = m.setup.rehearsal.as_mut() else {
        return;
    };
    let kind = match answer {
        Staleness::Fresh => LogKind::Info,
        _ => LogKind::Warn,
    };
    r.staleness = answer;
    let line = r.line();
    m.log.push(kind, line);
}

fn step_event(step: &str, phase: &str, detail: Option<String>) -> Event {
    Event::Step {
        step: step.to_string(),
        phase: phase.to_string(),
        detail,
    }
}

fn goto(m: &mut Model, step: Step) {
    m.step = step;
    if !m.visited.contains(&step) {
        m.visited.push(step);
    }
    m.cursor = 0;
    m.focus = Focus::Step;
}

/// Rows in the current step's list, for the cursor.
pub fn list_len(m: &Model) -> usize {
    match m.step {
        Step::Preflight => m.findings.len(),
        Step::Backup => m.snapshots.len(),
        Step::Review => m.new_migrations().len(),
        Step::Decommission => m.decom_rows().len(),
        s if crate::wizard::dual::is_dual(s) => dual::list_len(m),
        Step::Strategy if m.strategy_question().is_none() => m.strategy_rows().len(),
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

/// Exit status after leaving while kong ran (it was interrupted): like a shell's for SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

fn leave(m: &mut Model, fx: &mut Vec<Effect>) {
    if let Some(run) = m.run.as_ref().filter(|r| r.active()) {
        fx.push(Effect::Interrupt(run.id));
        m.exit_code = EXIT_INTERRUPTED;
    }
    m.quit = true;
    fx.push(Effect::Quit);
}
