//! The upgrade journal's entries, as written to and read back from its JSON-lines file
//! (`exec::journal` does the file, the lock and the fsync). Never holds a password.

use serde::{Deserialize, Serialize};

use super::backup::BackupRecord;
use crate::kong::state::{MigState, SchemaState};

/// Which database an upgrade is about. Never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbIdentity {
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub schema: Option<String>,
}

impl DbIdentity {
    /// A short stable key for file names.
    pub fn key(&self) -> String {
        let raw = format!(
            "{}-{}-{}-{}{}",
            self.kind,
            self.host,
            self.port,
            self.database,
            self.schema
                .as_deref()
                .map(|s| format!("-{s}"))
                .unwrap_or_default()
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// The state in a few numbers, kept before and after every command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSummary {
    pub needs_bootstrap: bool,
    pub executed: usize,
    pub pending: usize,
    pub new: usize,
    pub lock_live: bool,
    pub status_code: i32,
    pub schema_matches: Vec<String>,
}

impl StateSummary {
    pub fn of(s: &SchemaState) -> Self {
        StateSummary {
            needs_bootstrap: s.needs_bootstrap,
            executed: s.total(MigState::Executed),
            pending: s.total(MigState::Pending),
            new: s.total(MigState::New),
            lock_live: s.lock_live(),
            status_code: s.status_code() as i32,
            schema_matches: s.schema_matches.iter().map(|v| v.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Opened {
        database: DbIdentity,
        source: Option<String>,
        target: Option<String>,
        kongrade: String,
    },
    /// A step began, completed or failed.
    Step {
        step: String,
        phase: String,
        detail: Option<String>,
    },
    /// The operator confirmed something (what they typed, when it was typed).
    Confirmed {
        what: String,
        typed: Option<String>,
    },
    /// Announced before the command runs.
    Command {
        command_line: String,
    },
    CommandExit {
        command_line: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    State {
        when: String,
        state: StateSummary,
    },
    Backup {
        record: BackupRecord,
    },
    /// "I have my own backup", with the operator's reference to it.
    OwnBackup {
        reference: String,
    },
    /// A gate opened anyway, and why.
    Override {
        gate: String,
        reason: String,
    },
    Note {
        text: String,
    },
    /// The upgrade is over (done, or abandoned).
    Closed {
        outcome: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What reading a journal found: the good entries and a warning per line it had to skip.
#[derive(Debug, Clone, Default)]
pub struct ReadBack {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

impl ReadBack {
    pub fn closed(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.event, Event::Closed { .. }))
    }

    pub fn identity(&self) -> Option<&DbIdentity> {
        self.entries.iter().find_map(|e| match &e.event {
            Event::Opened { database, .. } => Some(database),
            _ => None,
        })
    }

    /// Steps that completed, in order.
    pub fn completed_steps(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Step { step, phase, .. } if phase == "done" => Some(step.clone()),
                _ => None,
            })
            .collect()
    }
}
