//! Resuming after a run that was killed while its kong ran: that kong may still be migrating
//! (it has its own process group, so it outlives auto). Nothing starts, and the database is not
//! judged, until it has ended.

use std::time::{Duration, Instant};

use color_eyre::eyre::Result;

use super::report::Reporter;
use super::{exit, stop, Phase};
use crate::contract::journal::{Event, ReadBack};
use crate::exec::journal::{earlier_kong, pids_text, EarlierKong, Journal};

/// How often to look, and how often to say it is still running.
const POLL: Duration = Duration::from_millis(200);
const TELL_EVERY: Duration = Duration::from_secs(30);

/// Waits while a kong the earlier run journaled still runs: the shared database's (by pid and
/// start time, or by the marker in its environment) or the clone's (a dual-cluster step's
/// marker), each journaled as waited for and as ended. Ctrl-C or SIGTERM stop the wait, and the
/// run, with nothing done.
pub(super) async fn wait_for_earlier_kong(
    journal: &mut Journal,
    earlier: &ReadBack,
    rep: &Reporter,
) -> Result<Phase<()>> {
    // One at a time, then asked again: the one reading (`earlier_kong`) the wizard waits by.
    while let Some(cmd) = earlier_kong(&journal.path, earlier) {
        if let Err(stopped) = wait_for(journal, &cmd, rep).await? {
            return Ok(Err(stopped));
        }
    }
    Ok(Ok(()))
}

async fn wait_for(journal: &mut Journal, cmd: &EarlierKong, rep: &Reporter) -> Result<Phase<()>> {
    let alive = || cmd.alive();
    let pids = alive();
    if pids.is_empty() {
        return Ok(Ok(()));
    }
    let named = |pids: &[u32]| pids_text(pids);
    rep.say(&format!(
        "The run being resumed was stopped while kong ran, and that kong is still running: pid {} ({}).\nWaiting for it to end before reading the database; nothing is started meanwhile.",
        named(&pids),
        if cmd.on_clone() {
            &cmd.what
        } else {
            &cmd.command_line
        }
    ));
    journal.append(Event::Note {
        text: cmd.waiting_note(&pids),
    })?;
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let began = Instant::now();
    let mut told = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = int.recv() => return Ok(Err(interrupted(&cmd.command_line))),
            _ = term.recv() => return Ok(Err(interrupted(&cmd.command_line))),
        }
        let now = alive();
        if now.is_empty() {
            break;
        }
        if told.elapsed() >= TELL_EVERY {
            told = Instant::now();
            rep.say(&format!(
                "  still running after {} s: pid {}",
                began.elapsed().as_secs(),
                named(&now)
            ));
        }
    }
    rep.say(&format!(
        "That kong has ended (after {} s of waiting); the database says what it did.",
        began.elapsed().as_secs()
    ));
    journal.append(Event::Note {
        text: cmd.ended_note(),
    })?;
    Ok(Ok(()))
}

fn interrupted(command_line: &str) -> super::Stopped {
    stop(
        exit::INTERRUPTED,
        "interrupted",
        format!(
            "Interrupted while waiting for the earlier run's kong ({command_line}) to end; nothing was started. Run kongrade auto again to go on."
        ),
    )
}
