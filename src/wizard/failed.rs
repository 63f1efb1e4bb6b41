//! After an `up` that failed part way: what Kong left behind, read from its own output (the
//! migrations it printed as done, its error) and checked against the database, and what the
//! operator does next. Pure.
//!
//! Kong's facts (kong/db/init.lua `run_migrations`, `cluster_mutex`): every migration is
//! recorded in schema_meta right after it ran, so those before the failing one stay recorded;
//! the failing one is not, and nothing after it runs; the callback's error releases the lock;
//! the CLI prints `Error: ...` on stderr and exits 1. The next `up` skips what is recorded and
//! starts at the failed one, unless a two-phase migration of the run is pending: Kong refuses
//! `up` then until `finish` ran.

use super::model::{LogKind, Model};
use crate::contract::KongCommand;
use crate::kong::policy::FindingId;
use crate::kong::state::MigState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedUp {
    /// Kong's error, from `failed to run migration` on when it says so, line by line.
    pub error: Vec<String>,
    /// `subsystem/name` of the migration that failed, when Kong's error names it.
    pub failed: Option<String>,
    /// `subsystem/name` of each migration the run printed as migrated, in order.
    pub recorded: Vec<String>,
    /// Migrations still new besides the failed one: they never ran.
    pub not_run: usize,
    /// The database shows no live lock.
    pub lock_released: bool,
    /// A migration is pending: Kong refuses `up` until `finish` ran.
    pub pending: bool,
    /// Running `up` again would damage data (`paths-half-rewritten`): the finding's title.
    pub rerun_harms: Option<String>,
}

/// The account of the last run, when it is an `up` the database judged failed.
pub fn failed_up(m: &Model) -> Option<FailedUp> {
    let o = m.outcome.as_ref()?;
    if o.command != KongCommand::Up || o.success {
        return None;
    }
    m.run.as_ref().filter(|r| r.command == KongCommand::Up)?;
    let state = m.state()?;
    // The run's own lines: after the last command line logged (one per run, as it starts).
    let start = m
        .log
        .lines
        .iter()
        .rposition(|l| l.kind == LogKind::Command)
        .unwrap_or(0);
    let lines = &m.log.lines[start..];
    let recorded: Vec<String> = lines
        .iter()
        .filter(|l| l.kind == LogKind::Stdout)
        .filter_map(|l| {
            let (sub, rest) = l.text.split_once(" migrated up to: ")?;
            let name = rest.split_whitespace().next()?;
            Some((sub.to_string(), name.to_string()))
        })
        // Kong's word checked against the database: only what schema_meta holds counts.
        .filter(|(sub, name)| {
            state.subsystem(sub).is_some_and(|s| {
                s.migrations.iter().any(|mig| {
                    &mig.name == name && matches!(mig.state, MigState::Executed | MigState::Pending)
                })
            })
        })
        .map(|(sub, name)| format!("{sub}/{name}"))
        .collect();
    let mut error = Vec::new();
    let mut in_error = false;
    for l in lines.iter().filter(|l| l.kind == LogKind::Stderr) {
        if let Some(msg) = l.text.strip_prefix("Error: ") {
            in_error = true;
            // The CLI's wrapping (`[PostgreSQL error] cluster_mutex callback threw an error:`)
            // says little; the migration's own words start here.
            let msg = match msg.find("failed to run migration") {
                Some(i) => &msg[i..],
                None => msg,
            };
            error.push(msg.to_string());
        } else if in_error {
            if l.text.trim().is_empty() {
                break;
            }
            error.push(l.text.clone());
        }
    }
    let name = error.first().and_then(|e| {
        let rest = e.strip_prefix("failed to run migration '")?;
        rest.split_once('\'').map(|(n, _)| n.to_string())
    });
    // Kong runs new migrations in order and stops at the failing one: the first still new of
    // that name is it.
    let failed = name.and_then(|n| {
        state
            .subsystems
            .iter()
            .find(|s| {
                s.migrations
                    .iter()
                    .any(|mig| mig.name == n && mig.state == MigState::New)
            })
            .map(|s| format!("{}/{n}", s.name))
    });
    let new = state.total(MigState::New);
    Some(FailedUp {
        error,
        not_run: new.saturating_sub(usize::from(failed.is_some())),
        failed,
        recorded,
        lock_released: !state.lock_live(),
        pending: state.any(MigState::Pending),
        rerun_harms: rerun_harms(m),
    })
}

/// Running `up` again would damage data (`paths-half-rewritten`), or may (`rewrite-unseen`:
/// kongrade cannot see whether the rewrite still runs), on this read: its title.
pub fn rerun_harms(m: &Model) -> Option<String> {
    m.reading.as_ref().and_then(|r| {
        r.findings
            .iter()
            .find(|f| {
                matches!(
                    f.id,
                    FindingId::PathsHalfRewritten | FindingId::RewriteUnseen
                )
            })
            .map(|f| f.title.clone())
    })
}

/// The account as lines for the Up step: what happened, then what to do.
pub fn account(f: &FailedUp, fix: Option<(&str, bool)>) -> Vec<(Tone, String)> {
    let mut out = Vec::new();
    if !f.error.is_empty() {
        out.push((Tone::Error, format!("Kong's error: {}", f.error.join(" "))));
    }
    let failed = f.failed.as_deref().unwrap_or("the failing migration");
    let recorded = match f.recorded.as_slice() {
        [] => "Recorded in schema_meta by this run: none.".to_string(),
        [one] => format!("Recorded in schema_meta by this run: {one}."),
        [first, .., last] => format!(
            "Recorded in schema_meta by this run: {} migrations, {first} to {last}.",
            f.recorded.len()
        ),
    };
    out.push((Tone::Plain, recorded));
    out.push((
        Tone::Plain,
        format!(
            "Not recorded: {failed}, which failed{}.",
            match f.not_run {
                0 => String::new(),
                1 => ", and 1 more, which never ran".to_string(),
                n => format!(", and {n} more, which never ran"),
            }
        ),
    ));
    out.push((
        Tone::Plain,
        if f.lock_released {
            "The migrations lock: released (Kong deletes its lock when a migration fails)."
                .to_string()
        } else {
            "The migrations lock: still live; Enter waits until it is released.".to_string()
        },
    ));
    if f.pending {
        out.push((
            Tone::Warn,
            "A two-phase migration of this run is recorded pending: Kong refuses up until finish has run, so up cannot simply run again. b shows the way back; the policy's next step is in the findings.".to_string(),
        ));
        return out;
    }
    let fix_line = match fix {
        Some((label, false)) => format!(" Training: f does it here ({label})."),
        Some((_, true)) => " Training: fixed.".to_string(),
        None => String::new(),
    };
    if let Some(title) = &f.rerun_harms {
        out.push((
            Tone::Error,
            format!("Do not run up again yet. {title}. The finding paths-half-rewritten has the repair (its commands, first) and the restore; up stays blocked until the database shows it done.{fix_line}"),
        ));
        return out;
    }
    let skips = match f.recorded.len() {
        0 => String::new(),
        1 => " skips the 1 recorded migration and".to_string(),
        n => format!(" skips the {n} recorded migrations and"),
    };
    out.push((
        Tone::Good,
        format!(
            "What to do: read Kong's error (the log has it whole): it names the migration and what in the data stopped it. Fix that cause.{fix_line} Then Enter runs up again: Kong{skips} starts again at {failed}."
        ),
    ));
    out.push((
        Tone::Plain,
        "Not finish: nothing of this run is pending, and finish never runs what up has not. Not bootstrap: the database is bootstrapped. Up again without fixing the cause fails again. If the cause cannot be fixed, b shows the way back.".to_string(),
    ));
    out
}

/// How a line of the account is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Error,
}
