//! What the wizard can tell from the migration state alone. A stand-in with the shape of
//! `kong::diagnose` (id, severity, title, seen, why, remedy): at merge, [`findings`] becomes a thin
//! call to it. Pure.

use crate::kong::report::lock_line;
use crate::kong::state::{MigState, SchemaState};
use crate::kong::version::Version;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier (also what gates key on).
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    /// What in the database shows it.
    pub seen: String,
    pub why: String,
    /// The exact thing to do.
    pub remedy: String,
}

/// Findings whose id stops the wizard at Preflight: it will not go on from there.
pub const BLOCKING: &[&str] = &["pre-1.0"];

pub fn blocks(f: &Finding) -> bool {
    BLOCKING.contains(&f.id)
}

/// Kong's guaranteed paths (kong-migrations.md section 6): patch releases, adjacent minors, the
/// LTS pairs 2.8 -> 3.4 -> 3.10, and 3.0 from 2.1 on.
pub fn supported_path(from: Version, to: Version) -> bool {
    let (f, t) = (from.series(), to.series());
    f >= t
        || (t.0 == f.0 && t.1 == f.1 + 1)
        || (f == (2, 8) && t == (3, 4))
        || (f == (3, 4) && t == (3, 10))
        || (t == (3, 0) && f >= (2, 1))
}

pub fn findings(state: &SchemaState) -> Vec<Finding> {
    let mut out = Vec::new();
    let f = |id, severity, title: String, seen: String, why: &str, remedy: String| Finding {
        id,
        severity,
        title,
        seen,
        why: why.to_string(),
        remedy,
    };

    if let Some(lock) = &state.lock {
        let line = lock_line(state).unwrap_or_default();
        if lock.live {
            let left = lock.seconds_left.map(|s| s.max(0.0).round() as u64);
            out.push(f(
                "lock-live",
                Severity::Warning,
                "The migrations lock is held".into(),
                line,
                "Kong takes it for every bootstrap, up and finish. Either a kong is migrating right now, or a run was killed and left it; Kong does not renew or release a killed run's lock.",
                match left {
                    Some(s) => format!("Wait. If no kong runs anywhere, it expires by itself in {s} s; never delete it while a migration may be running."),
                    None => "Wait until it is released; never delete it while a migration may be running.".into(),
                },
            ));
        } else {
            out.push(f(
                "lock-stale-row",
                Severity::Info,
                "An expired lock row is left".into(),
                line,
                "A run that was killed leaves its row; it no longer blocks anything.",
                "Nothing to do: the next kong migrations run removes it.".into(),
            ));
        }
    }

    if state.needs_bootstrap {
        if state.legacy_table {
            out.push(f(
                "pre-1.0",
                Severity::Error,
                "A pre-1.0 Kong database".into(),
                "schema_migrations table, no schema_meta".into(),
                "Kong 2.0 and later cannot read a 0.x schema, and bootstrap would start a second, empty schema beside the data. Only Kong 1.0 to 1.5 import it.",
                "Do not bootstrap. Upgrade through Kong 1.5: back up, run 'kong migrations up' then 'finish' with Kong 1.5.x, then 1.5 -> 2.8 -> 3.4 (see 'kongrade plan').".into(),
            ));
        } else {
            out.push(f(
                "needs-bootstrap",
                Severity::Info,
                "The database holds no Kong schema".into(),
                "no schema_meta table".into(),
                "A new installation starts with 'kong migrations bootstrap', which creates every table at the target version.",
                "Run bootstrap (the wizard's Bootstrap step) if this database is meant to be a new Kong's.".into(),
            ));
        }
        return out;
    }

    let pending = state.total(MigState::Pending);
    let new = state.total(MigState::New);
    if pending > 0 && new > 0 {
        out.push(f(
            "unfinished-upgrade",
            Severity::Error,
            "An earlier upgrade was never finished".into(),
            format!("{pending} pending and {new} new migrations"),
            "'up' refuses to run while migrations are pending: the earlier upgrade's 'finish' has to come first, run once every node older than that upgrade is gone.",
            "Run 'kong migrations finish' with the Kong version that ran that 'up', then come back for 'up'.".into(),
        ));
    } else if pending > 0 {
        out.push(f(
            "pending-finish",
            Severity::Info,
            "'up' has run; 'finish' is still to do".into(),
            format!("{pending} pending migrations"),
            "Two-phase migrations wait for 'finish', which may only run once every old node is stopped.",
            "Stop the old nodes, then run 'kong migrations finish' (the Decommission and Finish steps).".into(),
        ));
    }
    for g in &state.gaps {
        out.push(f(
            "gap",
            Severity::Error,
            format!("Migrations skipped in {}", g.subsystem),
            format!("{} not recorded, yet {} is", g.migrations.join(", "), g.before),
            "An earlier upgrade skipped them. Kong counts them as new and will run them now, out of order, against tables that moved on.",
            "Find out why they were skipped before running up ('kongrade diagnose'); restore the backup if a run half-failed.".into(),
        ));
    }
    for u in &state.unknown {
        if u.subsystem_loaded {
            out.push(f(
                "unknown-migrations",
                Severity::Warning,
                format!("{} has migrations the target does not know", u.subsystem),
                u.migrations.join(", "),
                "The database is newer than the target version, or was migrated with a different build.",
                "Check the target version (--target-version / the kong command) before running anything.".into(),
            ));
        } else {
            out.push(f(
                "plugin-not-loaded",
                Severity::Warning,
                format!("Plugin '{}' is recorded but not loaded", u.subsystem),
                format!("{} migrations recorded", u.migrations.len()),
                "A custom plugin missing from 'plugins' on the node that runs migrations never gets its migrations run.",
                format!("Add '{}' to plugins in kong.conf of the new version, or confirm it was removed on purpose.", u.subsystem),
            ));
        }
    }
    if state.legacy_table {
        out.push(f(
            "legacy-table",
            Severity::Info,
            "A pre-1.0 schema_migrations table is still there".into(),
            "schema_migrations beside schema_meta".into(),
            "Left over from a 0.x import; Kong 1.0+ ignores it.",
            "Nothing to do for this upgrade.".into(),
        ));
    }
    if !state.anomalies.is_empty() {
        out.push(f(
            "anomalies",
            Severity::Warning,
            "schema_meta rows contradict themselves".into(),
            format!("{} malformed entries", state.anomalies.len()),
            "Kong tolerates most of them silently, but they mean the records were edited or half-written.",
            "Read 'kongrade diagnose' before running anything.".into(),
        ));
    }
    let from = state
        .schema_matches
        .iter()
        .chain(state.core_matches.iter())
        .max()
        .copied();
    if let (Some(from), Some(to)) = (from, state.target_version) {
        if !supported_path(from, to) {
            out.push(f(
                "unsupported-path",
                Severity::Warning,
                format!("{}.{} -> {}.{} is not a guaranteed path", from.major, from.minor, to.major, to.minor),
                format!("the schema matches Kong {from}, the target is {to}"),
                "Kong guarantees upgrades between adjacent minors and the LTS pairs 2.8 -> 3.4 -> 3.10; skipped versions can fail mid-way.",
                "Go through the intermediate version ('kongrade plan'), or test this path on a copy first.".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    #[test]
    fn guaranteed_paths() {
        assert!(supported_path(v("2.8.5"), v("3.4.2")));
        assert!(supported_path(v("3.4.2"), v("3.5.0")));
        assert!(supported_path(v("2.1.0"), v("3.0.0")));
        assert!(supported_path(v("3.4.1"), v("3.4.2")));
        assert!(!supported_path(v("2.8.5"), v("3.9.3")));
        assert!(!supported_path(v("1.5.0"), v("3.4.2")));
    }
}
