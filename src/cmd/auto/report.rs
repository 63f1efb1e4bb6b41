//! What auto says while it runs (stdout, or stderr under `--json`) and the JSON report at the
//! end: the steps, what each moved in the database, the final state.

use serde_json::json;

use super::Stopped;
use crate::contract::{KongCommand, RunOutcome, Stream};
use crate::kong::catalog::Catalog;
use crate::kong::report;
use crate::kong::state::{describe_versions, MigState, SchemaState};

/// One migration whose state changed across a step.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Move {
    pub subsystem: String,
    pub migration: String,
    pub from: MigState,
    pub to: MigState,
}

/// What changed between two states, judged by the database alone.
pub fn moves(before: &SchemaState, after: &SchemaState) -> Vec<Move> {
    let mut out = Vec::new();
    for sub in &after.subsystems {
        let prev = before.subsystem(&sub.name);
        for m in &sub.migrations {
            let from = if before.needs_bootstrap {
                MigState::New
            } else {
                prev.and_then(|p| p.migrations.iter().find(|x| x.name == m.name))
                    .map(|x| x.state)
                    .unwrap_or(MigState::New)
            };
            if from != m.state {
                out.push(Move {
                    subsystem: sub.name.clone(),
                    migration: m.name.clone(),
                    from,
                    to: m.state,
                });
            }
        }
    }
    out
}

fn state_name(s: MigState) -> &'static str {
    match s {
        MigState::Executed => "executed",
        MigState::Pending => "pending",
        MigState::New => "new",
        MigState::Missing => "missing",
    }
}

/// One kong step as the report shows it.
pub(super) struct StepRecord {
    pub command: KongCommand,
    pub command_line: String,
    pub outcome: RunOutcome,
    pub aborted_by_lock: bool,
    pub moved: Vec<Move>,
    pub output: Vec<(Stream, String)>,
}

/// Where auto speaks: stdout, or stderr when stdout carries the JSON report. Collects what the
/// JSON report says at the end.
pub(super) struct Reporter {
    pub json: bool,
    pub steps: Vec<StepRecord>,
    /// The last state read from the database.
    pub final_state: Option<SchemaState>,
    /// `target` and `database`, once known.
    pub header: serde_json::Value,
    /// A kong step started and is not in `steps` yet (so a failure now comes after it ran).
    pub kong_running: bool,
}

impl Reporter {
    pub fn new(json: bool) -> Reporter {
        Reporter {
            json,
            steps: Vec::new(),
            final_state: None,
            header: json!({}),
            kong_running: false,
        }
    }

    pub fn say(&self, s: &str) {
        // kong's output and the database's names pass through here: no raw escapes.
        let s = crate::text::terminal_safe(s);
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    /// The `--json` report of a run that ended with `stopped`.
    pub fn json_report(&self, stopped: &Stopped, catalog: &Catalog) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({
                    "command": s.command,
                    "command_line": s.command_line,
                    "outcome": s.outcome,
                    "aborted_by_lock": s.aborted_by_lock,
                    "moved": s.moved,
                    "output": s.output.iter().map(|(st, t)| json!({"stream": st, "text": t})).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "exit_code": stopped.code,
            "result": stopped.result,
            "message": stopped.message,
            "target": self.header.get("target"),
            "database": self.header.get("database"),
            "strategy": self.header.get("strategy"),
            "in_place": self.header.get("in_place"),
            "steps": steps,
            "state": self.final_state.as_ref().map(|s| report::status_json(s, catalog)),
        })
    }
}

pub(super) fn summary(state: &SchemaState, catalog: &Catalog) -> String {
    let mut s = if state.needs_bootstrap {
        format!(
            "needs bootstrap ({} migrations to run)",
            state.total(MigState::New)
        )
    } else {
        format!(
            "{} executed, {} pending, {} new",
            state.total(MigState::Executed),
            state.total(MigState::Pending),
            state.total(MigState::New)
        )
    };
    if !state.schema_matches.is_empty() {
        s.push_str(&format!(
            "; recorded schema matches Kong {}",
            describe_versions(catalog, &state.schema_matches)
        ));
    } else if !state.core_matches.is_empty() {
        s.push_str(&format!(
            "; core matches Kong {}",
            describe_versions(catalog, &state.core_matches)
        ));
    }
    s
}

pub(super) fn names_of(state: &SchemaState, which: MigState) -> String {
    state
        .subsystems
        .iter()
        .flat_map(|s| {
            s.names(which)
                .into_iter()
                .map(move |n| format!("{}/{n}", s.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn print_moves(rep: &Reporter, moved: &[Move]) {
    for m in moved {
        rep.say(&format!(
            "    {}/{}: {} -> {}",
            m.subsystem,
            m.migration,
            state_name(m.from),
            state_name(m.to)
        ));
    }
}
