//! `kongrade journal [list|show ID]`: past and in-progress upgrades, read without taking them.

use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};

use super::Code;
use crate::contract::journal::{Entry, Event, ReadBack};
use crate::exec::datadir;
use crate::exec::journal;

/// Human output: journal and database contents (names, owners, notes) must not drive the terminal.
macro_rules! say {
    ($($t:tt)*) => { println!("{}", crate::text::terminal_safe(&format!($($t)*))) };
}
macro_rules! esay {
    ($($t:tt)*) => { eprintln!("{}", crate::text::terminal_safe(&format!($($t)*))) };
}

fn describe(e: &Entry) -> String {
    match &e.event {
        Event::Opened {
            database, target, ..
        } => format!(
            "opened for {} {}:{}/{}{}",
            database.kind,
            database.host,
            database.port,
            database.database,
            target
                .as_deref()
                .map(|t| format!(", target {t}"))
                .unwrap_or_default()
        ),
        Event::Step {
            step,
            phase,
            detail,
        } => format!(
            "step {step}: {phase}{}",
            detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        Event::Confirmed { what, typed } => format!(
            "confirmed {what}{}",
            typed
                .as_deref()
                .map(|t| format!(" (typed '{t}')"))
                .unwrap_or_default()
        ),
        Event::Command {
            command_line,
            kong_version,
        } => match kong_version {
            Some(v) => format!("running (Kong {v}): {command_line}"),
            None => format!("running: {command_line}"),
        },
        Event::CommandStarted {
            command_line, pid, ..
        } => format!("started as pid {pid}: {command_line}"),
        Event::CommandExit {
            command_line,
            code,
            signal,
        } => match (code, signal) {
            (Some(c), _) => format!("exit {c}: {command_line}"),
            (None, Some(s)) => format!("killed by signal {s}: {command_line}"),
            _ => format!("ended: {command_line}"),
        },
        Event::State { when, state } => format!(
            "state {when}: {} executed, {} pending, {} new{}{}",
            state.executed,
            state.pending,
            state.new,
            if state.needs_bootstrap {
                ", needs bootstrap"
            } else {
                ""
            },
            if state.lock_live { ", lock live" } else { "" }
        ),
        Event::Backup { record } => format!(
            "backup {} ({} bytes, sha256 {})",
            record.file.display(),
            record.bytes,
            record.sha256
        ),
        Event::OwnBackup { reference } => format!("operator's own backup: {reference}"),
        Event::Override { gate, reason } => format!("gate '{gate}' opened anyway: {reason}"),
        Event::Note { text } => text.clone(),
        Event::Rehearsed { record } => {
            format!("{} (clone {})", record.summary(), record.clone.clone)
        }
        Event::StrategyChosen {
            strategy,
            recommended,
            deployment,
            jump,
            by,
        } => format!(
            "strategy {strategy} chosen ({by}; Kong recommends {recommended} for {deployment}, {} jump)",
            jump.as_str()
        ),
        Event::Closed { outcome } => format!("closed: {outcome}"),
    }
}

fn summary_line(path: &std::path::Path, rb: &ReadBack) -> String {
    let id = rb
        .identity()
        .map(|d| format!("{} {}:{}/{}", d.kind, d.host, d.port, d.database))
        .unwrap_or_else(|| "unknown database".into());
    let last = rb
        .entries
        .last()
        .map(describe)
        .unwrap_or_else(|| "empty".into());
    format!(
        "{}  {}  {}  last: {}",
        path.file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default(),
        if rb.closed() { "closed " } else { "OPEN   " },
        id,
        last
    )
}

fn find(dir: &std::path::Path, id: &str) -> Result<PathBuf> {
    let direct = PathBuf::from(id);
    if direct.is_file() {
        return Ok(direct);
    }
    let all = journal::list(dir)?;
    let hits: Vec<&PathBuf> = all
        .iter()
        .filter(|p| {
            p.file_stem()
                .map(|s| s.to_string_lossy().starts_with(id))
                .unwrap_or(false)
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(eyre!(
            "no journal '{id}' in {} (kongrade journal list)",
            dir.display()
        )),
        _ => Err(eyre!(
            "'{id}' names {} journals: give more of the name",
            hits.len()
        )),
    }
}

pub fn run(show: Option<String>, json: bool) -> Result<Code> {
    let dir = datadir::sub_dir("journal")?;
    match show {
        None => {
            let all = journal::list(&dir)?;
            if json {
                let v: Vec<serde_json::Value> = all
                    .iter()
                    .filter_map(|p| {
                        let rb = journal::read(p).ok()?;
                        Some(serde_json::json!({
                            "id": p.file_stem().map(|s| s.to_string_lossy().to_string()),
                            "path": p,
                            "closed": rb.closed(),
                            "database": rb.identity(),
                            "entries": rb.entries.len(),
                        }))
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if all.is_empty() {
                say!("No upgrade journals yet in {}", dir.display());
            } else {
                for p in &all {
                    match journal::read(p) {
                        Ok(rb) => say!("{}", summary_line(p, &rb)),
                        Err(e) => say!("{}  unreadable: {e}", p.display()),
                    }
                }
            }
        }
        Some(id) => {
            let path = find(&dir, &id)?;
            let rb = journal::read(&path)?;
            for w in &rb.warnings {
                esay!("warning: {w}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rb.entries)?);
            } else {
                say!("{}", path.display());
                for e in &rb.entries {
                    say!("{:>4}  {}  {}", e.seq, e.at, describe(e));
                }
            }
        }
    }
    Ok(0)
}
