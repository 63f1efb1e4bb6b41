//! One kong step (`bootstrap`, `up` or `finish`): announced in the journal, run with its output
//! live, then judged by the database alone: what moved, whether kong aborted on another node's
//! lock, and whether the step may run again in this run.

use std::time::Duration;

use color_eyre::eyre::Result;

use super::report::{moves, print_moves, summary, Reporter, StepRecord};
use super::{exit, stop, Interrupts, Phase, Session};
use crate::contract::journal::Event;
use crate::contract::{Invocation, KongCommand, RunEvent, RunOutcome, StateSummary, Stream};
use crate::exec::journal::run_marker;
use crate::exec::process::{self, RUN_MARKER_ENV};
use crate::exec::runner::{start, KongTarget};
use crate::exec::standin::NOT_LEADER_MSG;
use crate::kong::report;

/// Why a step must not run again in this run: the stop it would end with.
pub(super) type Blocked = (i32, &'static str, String);

/// Runs `command` as step `step_no` and reads the database after it. Goes on with `Some` when
/// the step moved nothing (it must not run again), `None` when it moved the state.
pub(super) async fn run(
    s: &mut Session,
    command: KongCommand,
    step_no: u64,
    rep: &mut Reporter,
    interrupts: &mut Interrupts,
) -> Result<Phase<Option<Blocked>>> {
    let to = s.ctx.target.version;
    let mut inv = s.template.clone();
    inv.command = command;
    rep.say(&format!(
        "\nStep {step_no}: kong migrations {}",
        command.as_str()
    ));
    // Announced (and on disk) before kong starts.
    s.journal.append(Event::State {
        when: format!("before {}", command.as_str()),
        state: StateSummary::of(&s.state),
    })?;
    // This hop's kong (with a template, each hop has its own).
    let kong_cmd = match &s.kong {
        KongTarget::Process { command_line, .. } => command_line.as_str(),
        KongTarget::InProcess { .. } => s.ctx.conn.kong_cmd.as_str(),
    };
    let announced = format!("{kong_cmd} {}", inv.kong_args().join(" "));
    let entry = s.journal.append(Event::Command {
        command_line: announced.clone(),
        // The kong command was checked to be the target's version before anything ran.
        kong_version: s.ctx.target.version.map(|v| v.to_string()),
    })?;
    // Before each step: the journal must still be there to record it (its lock too).
    s.journal.check_intact()?;
    rep.kong_running = true;
    // The run's marker in kong's environment, and its pid once it has one: a restart after
    // auto is killed waits for this kong (and whatever it started) instead of racing it.
    let kong = marked(&s.kong, &run_marker(&s.journal.path, entry.seq));
    let journal = &mut s.journal;
    let (events, outcome, command_line) = run_step(&kong, &inv, step_no, rep, interrupts, |pid| {
        journal.append(Event::CommandStarted {
            command_line: announced,
            pid,
            start_time: process::start_time(pid),
        })
    })
    .await?;
    let (code, signal) = match &outcome {
        RunOutcome::Exited { code, signal } => (*code, *signal),
        RunOutcome::SpawnFailed { .. } => (None, None),
    };
    s.journal.append(Event::CommandExit {
        command_line: command_line.clone(),
        code,
        signal,
    })?;
    rep.say(&format!("  = {}", outcome.describe()));
    let output: Vec<(Stream, String)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line { stream, text } => Some((*stream, text.clone())),
            _ => None,
        })
        .collect();
    let aborted = output.iter().any(|(_, t)| t.contains(NOT_LEADER_MSG));

    // The database, not kong's words, says what happened.
    let after = match s.ctx.read_state().await {
        Ok(after) => {
            s.journal.append(Event::State {
                when: format!("after {}", command.as_str()),
                state: StateSummary::of(&after),
            })?;
            after
        }
        Err(e) => {
            rep.kong_running = false;
            rep.steps.push(StepRecord {
                command,
                command_line,
                outcome: outcome.clone(),
                aborted_by_lock: aborted,
                moved: Vec::new(),
                output,
            });
            return Ok(Err(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!(
                    "'kong migrations {}' ended ({}), and then the database could not be read: {e:#}\nWhat the step changed is unknown. Nothing was retried: check the database, then run 'kongrade status'.",
                    command.as_str(),
                    outcome.describe()
                ),
            )));
        }
    };
    let moved = moves(&s.state, &after);
    if moved.is_empty() {
        rep.say("  Database: nothing changed.");
    } else {
        rep.say(&format!("  Database: {} migration(s) moved:", moved.len()));
        print_moves(rep, &moved);
    }
    rep.say(&format!("  State: {}", summary(&after, s.ctx.catalog)));
    if aborted {
        rep.say(if moved.is_empty() {
            "  kong aborted: another node held the migrations lock."
        } else {
            "  kong aborted: another node held the migrations lock; the changes above are that node's."
        });
    }
    if after.lock_live() {
        rep.say(&format!(
            "  Migrations lock: {}",
            report::lock_line(&after).unwrap_or_default()
        ));
    }
    rep.kong_running = false;
    rep.steps.push(StepRecord {
        command,
        command_line,
        outcome: outcome.clone(),
        aborted_by_lock: aborted,
        moved: moved.clone(),
        output,
    });
    s.state = after;
    rep.final_state = Some(s.state.clone());

    if *interrupts.borrow() > 0 {
        return Ok(Err(stop(
            exit::INTERRUPTED,
            "interrupted",
            format!(
                "Interrupted: 'kong migrations {}' ended ({}); no further step started. The database state is above; run kongrade auto again to go on.",
                command.as_str(),
                outcome.describe()
            ),
        )));
    }
    if !outcome.success() {
        let what = match &outcome {
            RunOutcome::SpawnFailed { message } => format!(
                "the kong command could not be started: {message}. Check --kong-cmd (or KONGRADE_KONG_CMD)."
            ),
            RunOutcome::Exited { signal: Some(_), .. } => format!(
                "'kong migrations {}' was {}. The migrations recorded before it stopped are above; its lock row may stay until its ttl passes. Run kongrade auto again (with --wait-lock) to go on, or 'kongrade diagnose'.",
                command.as_str(),
                outcome.describe()
            ),
            _ => format!(
                "'kong migrations {}' failed ({}); its output is above. Nothing was retried: fix the cause, then run kongrade auto again.",
                command.as_str(),
                outcome.describe()
            ),
        };
        return Ok(Err(stop(exit::KONG_FAILED, "kong_failed", what)));
    }
    if !moved.is_empty() {
        return Ok(Ok(None));
    }
    Ok(Ok(Some(if aborted {
        (
            exit::LOCK_HELD,
            "lock_held",
            "it aborted on another node's lock and the database did not change".to_string(),
        )
    } else {
        (
            exit::KONG_FAILED,
            "kong_failed",
            format!(
                "it exited 0 but the database did not change (does kong see the same database and the same target, Kong {}?)",
                to.map(|v| v.to_string()).unwrap_or_default()
            ),
        )
    })))
}

/// Counts SIGINT and SIGTERM. kong runs in its own process group, so a terminal's Ctrl-C (or a CI
/// runner's SIGTERM to auto's group) reaches auto only; auto decides what kong gets.
pub(super) fn listen_for_interrupts() -> Result<Interrupts> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}

/// Runs one kong step, printing its output live, prefixed. On a first interrupt kong is let
/// finish (killed mid-migration it can leave a step half done, and dying with auto it would get
/// SIGPIPE at its next line anyway); on a second it gets SIGINT, then SIGKILL after 10 s.
async fn run_step<T>(
    kong: &KongTarget,
    inv: &Invocation,
    step_no: u64,
    rep: &Reporter,
    interrupts: &mut Interrupts,
    started: impl FnOnce(u32) -> Result<T>,
) -> Result<(Vec<RunEvent>, RunOutcome, String)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = start(kong, inv, step_no, tx);
    if let Some(pid) = handle.pid() {
        if let Err(e) = started(pid) {
            // Unjournaled, it must not run on: a restart could not know of it.
            handle.kill();
            let _ = handle.wait().await;
            return Err(e);
        }
    }
    let mut events = Vec::new();
    let mut command_line = String::new();
    let mut signals_open = true;
    let mut told = 0;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some((_, ev)) = ev else { break };
                match &ev {
                    RunEvent::Started { command_line: c } => {
                        command_line = c.clone();
                        rep.say(&format!("  $ {c}"));
                    }
                    RunEvent::Line { stream: Stream::Stdout, text } => rep.say(&format!("  | {text}")),
                    RunEvent::Line { stream: Stream::Stderr, text } => rep.say(&format!("  ! {text}")),
                    RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. } => {
                        events.push(ev);
                        break;
                    }
                }
                events.push(ev);
            }
            changed = interrupts.changed(), if signals_open => {
                if changed.is_err() {
                    signals_open = false;
                    continue;
                }
                let n = *interrupts.borrow_and_update();
                if n == 1 && told == 0 {
                    told = 1;
                    rep.say("  Interrupt: letting this kong step end (stopping it mid-migration can leave it half done); no further step will start. Interrupt again to stop kong now.");
                } else if n >= 2 && told < 2 {
                    told = 2;
                    rep.say("  Interrupting kong (SIGINT; SIGKILL in 10 s). A killed run leaves its lock row until its ttl passes.");
                    handle.cancel(Duration::from_secs(10));
                }
            }
        }
    }
    let outcome = handle.wait().await;
    Ok((events, outcome, command_line))
}

/// `kong` with the run's marker added to the child's environment.
fn marked(kong: &KongTarget, marker: &str) -> KongTarget {
    match kong {
        KongTarget::Process { command_line, env } => {
            let mut env = env.clone();
            env.push((RUN_MARKER_ENV.to_string(), marker.into()));
            KongTarget::Process {
                command_line: command_line.clone(),
                env,
            }
        }
        other => other.clone(),
    }
}
