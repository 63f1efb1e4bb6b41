//! What a kong run reports while it runs and how it ended: the same events whether kong is a
//! process (`exec::runner`) or the stand-in running in-process (`kongrade demo`).

use serde::Serialize;

/// Tags a run so late events of an earlier run can be told apart.
pub type RunId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a run reports, in order: Started, Lines, then exactly one of Exited / SpawnFailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The command line as shown to the operator (no secrets: they travel in the environment).
    Started {
        command_line: String,
    },
    Line {
        stream: Stream,
        text: String,
    },
    /// `code` is None when a signal ended it (then `signal` says which).
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    SpawnFailed {
        message: String,
    },
}

/// How a run ended (the last event, as a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    SpawnFailed {
        message: String,
    },
}

impl RunOutcome {
    pub fn success(&self) -> bool {
        matches!(self, RunOutcome::Exited { code: Some(0), .. })
    }

    /// `exit code 2`, `killed by signal 9 (SIGKILL)`, `could not start: ...`.
    pub fn describe(&self) -> String {
        match self {
            RunOutcome::Exited { code: Some(c), .. } => format!("exit code {c}"),
            RunOutcome::Exited {
                signal: Some(s), ..
            } => format!("killed by signal {s}{}", signal_name(*s)),
            RunOutcome::Exited { .. } => "ended without an exit status".to_string(),
            RunOutcome::SpawnFailed { message } => format!("could not start: {message}"),
        }
    }

    /// The outcome a final event carries (None for `Started` and `Line`).
    pub fn from_event(e: &RunEvent) -> Option<RunOutcome> {
        match e {
            RunEvent::Exited { code, signal } => Some(RunOutcome::Exited {
                code: *code,
                signal: *signal,
            }),
            RunEvent::SpawnFailed { message } => Some(RunOutcome::SpawnFailed {
                message: message.clone(),
            }),
            _ => None,
        }
    }

    /// The final event that reports this outcome.
    pub fn event(&self) -> RunEvent {
        match self {
            RunOutcome::Exited { code, signal } => RunEvent::Exited {
                code: *code,
                signal: *signal,
            },
            RunOutcome::SpawnFailed { message } => RunEvent::SpawnFailed {
                message: message.clone(),
            },
        }
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGINT => " (SIGINT)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        _ => "",
    }
}
