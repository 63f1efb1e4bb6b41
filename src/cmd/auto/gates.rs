//! auto's refusals before the first step: what the state must not be for `auto` to go on
//! unattended (pre-1.0, gaps, unknown migrations, an unsupported jump), each lifted by its
//! `--allow-...` flag where one exists.

use super::{exit, stop, AutoArgs, Stopped};
use crate::kong::catalog::Catalog;
use crate::kong::state::{describe_versions, MigState, SchemaState};
use crate::kong::version::Version;

/// Kong's supported upgrade paths (kong-migrations.md section 6): patch releases, adjacent
/// minors, the LTS pairs 2.8 -> 3.4 -> 3.10, and 3.0 from 2.1.x on. Not a jump when the target
/// is not newer (a downgrade shows up as unknown migrations instead).
pub fn jump_supported(from: Version, to: Version) -> bool {
    // One rule for the whole tool: the plan's.
    crate::kong::plan::supported_jump(Catalog::embedded(), from, to)
}

/// The database's version: the newest release its recorded schema matches, on every subsystem,
/// else on core. None when it matches none (custom subsystems only, or a damaged core).
pub fn database_version(state: &SchemaState) -> Option<Version> {
    state
        .schema_matches
        .iter()
        .max()
        .or_else(|| state.core_matches.iter().max())
        .copied()
}

/// The newest release whose migrations are all recorded, on every subsystem it has that the
/// database records: the level the least advanced part of the schema has reached. After an
/// interrupted upgrade core may match an intermediate release while plugins still match the old
/// one; this is the old one.
pub fn fully_applied_version(state: &SchemaState, catalog: &Catalog) -> Option<Version> {
    // A set: the lists can hold 100k names, checked once per migration of every release.
    let recorded = |sub: &str| -> Option<std::collections::HashSet<&str>> {
        let mut names: std::collections::HashSet<&str> = Default::default();
        let mut any = false;
        if let Some(s) = state.subsystem(sub) {
            any |= s.recorded;
            names.extend(
                s.migrations
                    .iter()
                    .filter(|m| matches!(m.state, MigState::Executed | MigState::Pending))
                    .map(|m| m.name.as_str()),
            );
        }
        for u in state.unknown.iter().filter(|u| u.subsystem == sub) {
            any = true;
            names.extend(u.migrations.iter().map(String::as_str));
        }
        any.then_some(names)
    };
    catalog
        .releases
        .iter()
        .filter(|r| r.supports(state.db))
        .filter(|r| {
            r.subsystems.iter().all(|s| match recorded(&s.name) {
                Some(names) => s
                    .migrations
                    .iter()
                    .all(|m| names.contains(&m.name.as_str())),
                // Only core must be there; a plugin the database never had is not behind.
                None => s.name != "core",
            })
        })
        .map(|r| r.version)
        .max()
}

/// The refusals, in order of what must be fixed first.
pub(super) fn gates(
    state: &SchemaState,
    args: &AutoArgs,
    to: Option<Version>,
    catalog: &Catalog,
) -> Option<Stopped> {
    if state.needs_bootstrap && state.legacy_table {
        return Some(stop(
            exit::PRE_1_0,
            "refused_pre_1_0",
            "The database holds a pre-1.0 Kong schema (schema_migrations, no schema_meta). Kong 2.0+ cannot migrate it, and 'bootstrap' must NOT be run on it: upgrade through Kong 1.5 first ('kongrade plan').",
        ));
    }
    if !state.gaps.is_empty() && !args.allow_gaps {
        let list: Vec<String> = state
            .gaps
            .iter()
            .map(|g| {
                format!(
                    "{}: {} (never recorded, yet {} is)",
                    g.subsystem,
                    g.migrations.join(", "),
                    g.before
                )
            })
            .collect();
        return Some(stop(
            exit::GAPS,
            "refused_gaps",
            format!(
                "Gaps in the recorded migrations: an earlier upgrade skipped them, and Kong would run them now, out of order:\n  {}\n'kongrade diagnose' explains; --allow-gaps goes on anyway.",
                list.join("\n  ")
            ),
        ));
    }
    if !state.unknown.is_empty() && !args.allow_unknown {
        let list: Vec<String> = state
            .unknown
            .iter()
            .map(|u| {
                if u.subsystem_loaded {
                    format!("{}: {}", u.subsystem, u.migrations.join(", "))
                } else {
                    format!(
                        "{}: the whole subsystem ({} migrations) is recorded but the target does not load it (missing from `plugins`?)",
                        u.subsystem,
                        u.migrations.len()
                    )
                }
            })
            .collect();
        return Some(stop(
            exit::UNKNOWN,
            "refused_unknown",
            format!(
                "The database records migrations the target does not know (is the database newer than the target, or a plugin missing from `plugins`?):\n  {}\n--allow-unknown goes on anyway.",
                list.join("\n  ")
            ),
        ));
    }
    if state.needs_bootstrap || state.up_to_date() {
        return None;
    }
    // A target from a Lua tree alone has no version: no jump to judge.
    let to = to?;
    let from = database_version(state);
    let floor = fully_applied_version(state, catalog);
    // A schema at one release is judged from it. A mixed one (an interrupted upgrade, or
    // plugins behind core) passes if the jump is supported from core's release or from the
    // release every subsystem has reached: finishing an upgrade already under way is recovery.
    let supported = if !state.schema_matches.is_empty() {
        from.is_none_or(|f| jump_supported(f, to))
    } else {
        from.is_none_or(|f| jump_supported(f, to)) || floor.is_some_and(|f| jump_supported(f, to))
    };
    if !supported && !args.allow_unsupported_jump {
        let from = from.map(|v| v.to_string()).unwrap_or_default();
        let matches = if state.schema_matches.is_empty() {
            format!(
                "core matches Kong {}; every subsystem has reached {}",
                describe_versions(catalog, &state.core_matches),
                floor
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "no release".into())
            )
        } else {
            format!(
                "the database matches Kong {}",
                describe_versions(catalog, &state.schema_matches)
            )
        };
        return Some(stop(
            exit::UNSUPPORTED_JUMP,
            "refused_unsupported_jump",
            format!(
                "Kong does not support upgrading from {from} ({matches}) to {to} in one step: it supports patch releases, adjacent minors, 2.8 -> 3.4 -> 3.10, and 3.0 from 2.1+. Go through the versions in between ('kongrade plan'); --allow-unsupported-jump goes on anyway."
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn kongs_supported_paths() {
        assert!(jump_supported(v("3.4.0"), v("3.4.2")));
        assert!(jump_supported(v("3.3.1"), v("3.4.2")));
        assert!(jump_supported(v("2.8.5"), v("3.4.2")));
        assert!(jump_supported(v("3.4.2"), v("3.10.0")));
        assert!(jump_supported(v("2.1.4"), v("3.0.1")));
        assert!(jump_supported(v("2.8.5"), v("3.0.0")));
        assert!(
            jump_supported(v("3.4.2"), v("3.4.0")),
            "not a jump: downgrade"
        );
        assert!(!jump_supported(v("2.0.5"), v("3.0.0")));
        assert!(!jump_supported(v("2.8.5"), v("3.5.0")));
        assert!(!jump_supported(v("3.2.2"), v("3.4.2")));
        assert!(!jump_supported(v("1.5.1"), v("2.8.5")));
        assert!(!jump_supported(v("2.7.2"), v("3.4.2")));
    }
}
