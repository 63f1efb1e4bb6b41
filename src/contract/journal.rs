//! The upgrade journal's entries, as written to and read back from its JSON-lines file
//! (`exec::journal` does the file, the lock and the fsync). Never holds a password.

use serde::{Deserialize, Serialize};

use super::backup::BackupRecord;
use crate::kong::state::{MigState, SchemaState};
use crate::kong::strategy::{Deployment, Jump, Strategy};

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
        /// The Kong version of the kong that runs it, when known (the policy's "who ran up").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kong_version: Option<String>,
    },
    /// The announced command's process is running: its pid and start time (`/proc/PID/stat`
    /// starttime, clock ticks since boot), so a later run can tell whether it still runs without
    /// mistaking a reused pid for it. Written as soon as it has started.
    CommandStarted {
        command_line: String,
        pid: u32,
        start_time: Option<u64>,
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
    /// `kongrade rehearse` ran the target's migrations on a clone: the clone, each step's
    /// migrations with their times, the outcome.
    Rehearsed {
        record: Box<super::clone::RehearsalRecord>,
    },
    /// The operator chose the upgrade's strategy: what Kong's guide recommended for the
    /// deployment and jump as kongrade saw them, and who chose (`auto`, `wizard`).
    StrategyChosen {
        strategy: Strategy,
        recommended: Strategy,
        deployment: Deployment,
        jump: Jump,
        by: String,
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
    /// This upgrade's history as the policy reads it: the kong runs with their versions and
    /// ends, the backup, the overrides, where the database stood at the start. `verify` checks
    /// a recorded backup file again (true: it still matches its record).
    pub fn history(&self, verify: impl Fn(&BackupRecord) -> bool) -> crate::kong::policy::History {
        use crate::kong::policy::{BackupRef, History, Run, RunEnd};
        let mut h = History::default();
        for e in &self.entries {
            match &e.event {
                Event::Command {
                    command_line,
                    kong_version,
                } => h.runs.push(Run {
                    command: run_command(command_line),
                    kong_version: kong_version.as_deref().and_then(|v| v.parse().ok()),
                    end: RunEnd::Unknown,
                }),
                Event::CommandExit { code, signal, .. } => {
                    if let Some(r) = h.runs.last_mut().filter(|r| r.end == RunEnd::Unknown) {
                        r.end = match (code, signal) {
                            (_, Some(_)) => RunEnd::Signalled,
                            (Some(0), None) => RunEnd::Succeeded,
                            _ => RunEnd::Failed,
                        };
                    }
                }
                Event::State { state, .. } if h.runs.is_empty() && h.started_from.is_none() => {
                    h.started_from = state
                        .schema_matches
                        .iter()
                        .filter_map(|v| v.parse().ok())
                        .max();
                }
                Event::Backup { record } => {
                    h.backup = Some(BackupRef {
                        file: record.file.display().to_string(),
                        sha256: record.sha256.clone(),
                        created_at: record.created_at.clone(),
                        restore: None,
                        verified: verify(record),
                    })
                }
                Event::OwnBackup { reference } => h.own_backup = Some(reference.clone()),
                Event::StrategyChosen { strategy, .. } => h.strategy = Some(*strategy),
                Event::Rehearsed { record } => h.rehearsals.push(record.as_ref().clone()),
                Event::Override { gate, reason } => {
                    h.overrides.push((gate.clone(), reason.clone()))
                }
                _ => {}
            }
        }
        h
    }

    /// The newest rehearsal this journal records (for "rehearsed on DATE: up 3 min 12 s...").
    pub fn last_rehearsal(&self) -> Option<&super::clone::RehearsalRecord> {
        self.entries.iter().rev().find_map(|e| match &e.event {
            Event::Rehearsed { record } => Some(record.as_ref()),
            _ => None,
        })
    }

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

    /// The last command announced that has no recorded end: the run that wrote it was killed
    /// (or crashed) while that kong may still be running. With its process, when recorded.
    pub fn unended_command(&self) -> Option<UnendedCommand> {
        let (i, seq, command_line) =
            self.entries
                .iter()
                .enumerate()
                .rev()
                .find_map(|(i, e)| match &e.event {
                    Event::Command { command_line, .. } => Some((i, e.seq, command_line.clone())),
                    _ => None,
                })?;
        let mut cmd = UnendedCommand {
            seq,
            command_line,
            pid: None,
            start_time: None,
        };
        for e in &self.entries[i + 1..] {
            match &e.event {
                Event::CommandExit { .. } => return None,
                Event::CommandStarted {
                    pid, start_time, ..
                } => {
                    cmd.pid = Some(*pid);
                    cmd.start_time = *start_time;
                }
                _ => {}
            }
        }
        Some(cmd)
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

/// The marker of the kong run announced by entry `seq` of the journal at `path`: set in that
/// kong's environment (`exec::process::RUN_MARKER_ENV`), so a later run finds it, and all it
/// started, while it still runs.
pub fn run_marker(path: &std::path::Path, seq: u64) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}#{seq}")
}

/// The marker of a kong run journaled as a step (dual-cluster's `up` and `finish` on the clone:
/// the step's `started` entry carries it, no `Command` entry announces it): `journal#0#the-step`.
/// auto and the wizard both start these kongs, and each finds the other's by this one rule.
pub fn step_marker(path: &std::path::Path, step: &str) -> String {
    format!("{}#{}", run_marker(path, 0), step.replace(' ', "-"))
}

/// A command the journal announced and never saw end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnendedCommand {
    /// The `Command` entry's sequence number (it names the run: see `exec::journal::run_marker`).
    pub seq: u64,
    pub command_line: String,
    pub pid: Option<u32>,
    pub start_time: Option<u64>,
}

/// Which kong command a journaled command line runs (`... migrations up ...`).
fn run_command(line: &str) -> crate::kong::policy::RunCommand {
    use crate::kong::policy::RunCommand;
    let mut words = line.split_whitespace().skip_while(|w| *w != "migrations");
    match words.nth(1) {
        Some("up") => RunCommand::Up,
        Some("finish") => RunCommand::Finish,
        Some("bootstrap") => RunCommand::Bootstrap,
        Some("reset") => RunCommand::Reset,
        _ => RunCommand::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, event: Event) -> Entry {
        Entry {
            seq,
            at: String::new(),
            event,
        }
    }

    #[test]
    fn the_chosen_strategy_is_read_back_into_the_history() {
        let chosen = |s: Strategy| Event::StrategyChosen {
            strategy: s,
            recommended: Strategy::DualCluster,
            deployment: Deployment::Traditional,
            jump: Jump::LtsPair,
            by: "auto".into(),
        };
        let line = serde_json::to_string(&entry(1, chosen(Strategy::InPlace))).unwrap();
        assert!(line.contains(r#""event":"strategy_chosen""#), "{line}");
        assert!(line.contains(r#""strategy":"in-place""#), "{line}");
        let back: Entry = serde_json::from_str(&line).unwrap();
        let rb = ReadBack {
            entries: vec![back, entry(2, chosen(Strategy::BlueGreen))],
            warnings: Vec::new(),
        };
        // The last choice counts.
        assert_eq!(rb.history(|_| true).strategy, Some(Strategy::BlueGreen));
        assert_eq!(ReadBack::default().history(|_| true).strategy, None);
    }

    #[test]
    fn the_last_command_without_an_exit_is_unended() {
        let cmd = |c: &str| Event::Command {
            command_line: c.into(),
            kong_version: None,
        };
        let exit = Event::CommandExit {
            command_line: "kong migrations up".into(),
            code: Some(0),
            signal: None,
        };
        let started = Event::CommandStarted {
            command_line: "kong migrations finish".into(),
            pid: 42,
            start_time: Some(7),
        };
        let rb = |events: Vec<Event>| ReadBack {
            entries: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| entry(i as u64 + 1, e))
                .collect(),
            warnings: Vec::new(),
        };
        assert_eq!(rb(vec![]).unended_command(), None);
        assert_eq!(
            rb(vec![cmd("kong migrations up"), exit.clone()]).unended_command(),
            None
        );
        // Killed before the process was recorded: no pid.
        assert_eq!(
            rb(vec![
                cmd("kong migrations up"),
                exit.clone(),
                cmd("kong migrations finish")
            ])
            .unended_command(),
            Some(UnendedCommand {
                seq: 3,
                command_line: "kong migrations finish".into(),
                pid: None,
                start_time: None
            })
        );
        let u = rb(vec![cmd("kong migrations finish"), started.clone()])
            .unended_command()
            .unwrap();
        assert_eq!((u.seq, u.pid, u.start_time), (1, Some(42), Some(7)));
        assert_eq!(
            rb(vec![cmd("kong migrations finish"), started, exit]).unended_command(),
            None
        );
    }
}
