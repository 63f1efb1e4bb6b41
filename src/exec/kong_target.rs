//! The target read from the Kong that will migrate: `kong version`, then (3.0+) `kong migrations
//! status`, whose JSON names every migration that node loads, custom plugins included, under the
//! node's own `plugins` setting.
//!
//! Order: the JSON gives names per state (executed, pending, new, missing), each list in the
//! node's order, but not how the lists interleave. Concatenating them is NOT the order: after an
//! `up` from 2.8 to 3.4, core's `016_280_to_300` is pending while the later `017_300_to_310` is
//! executed, so executed+pending puts 016 after 017. The order is therefore taken from the
//! catalog for names it knows, and otherwise by name: every subsystem of every release 1.0.0 to
//! 3.9.3 lists its migrations in name order (the `NNN_` prefixes), so that is Kong's convention.
//! Two-phase flags come from the catalog; a name it does not know is two-phase if the node
//! reports it pending, else taken as one-phase.

use std::collections::BTreeMap;

use color_eyre::eyre::{eyre, Result, WrapErr};
use serde::Deserialize;

use super::runner::{run_to_end, KongTarget};
use crate::contract::{Invocation, KongCommand, RunEvent, Stream};
use crate::kong::catalog::{Catalog, Db, MigrationSpec, Phases, Release, SubsystemSpec};
use crate::kong::conf::KongConf;
use crate::kong::target::Target;
use crate::kong::version::Version;

#[derive(Deserialize)]
struct StatusJson {
    #[serde(default)]
    executed_migrations: Vec<StatusEntry>,
    #[serde(default)]
    pending_migrations: Vec<StatusEntry>,
    #[serde(default)]
    new_migrations: Vec<StatusEntry>,
    #[serde(default)]
    missing_migrations: Vec<StatusEntry>,
}

#[derive(Deserialize)]
struct StatusEntry {
    subsystem: String,
    #[serde(default)]
    migrations: Vec<serde_json::Value>,
}

/// A migration entry is a name; Kong's `missing_migrations` would hold objects with a `name`.
fn entry_name(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("name").and_then(|n| n.as_str()).map(str::to_string),
        _ => None,
    }
}

/// Builds the target from `kong migrations status` JSON of a Kong `version`; `release` (the
/// catalog's, when it has that version) supplies order and two-phase flags.
pub fn target_from_status_json(
    text: &str,
    version: Version,
    release: Option<&Release>,
    db: Db,
) -> Result<Target> {
    // The JSON is the last line that parses: a node may print warnings before it.
    let parsed: StatusJson = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .or_else(|| serde_json::from_str(text.trim()).ok())
        .ok_or_else(|| {
            eyre!(
                "'kong migrations status' printed no status JSON: {:?}",
                clip(text)
            )
        })?;

    // subsystem -> (names, names reported pending)
    let mut subs: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    // Membership by set: a node can report 100k names (issue 13).
    let mut seen: std::collections::HashSet<(String, String)> = Default::default();
    for (list, pending) in [
        (&parsed.executed_migrations, false),
        (&parsed.pending_migrations, true),
        (&parsed.new_migrations, false),
        (&parsed.missing_migrations, false),
    ] {
        for e in list {
            let slot = subs.entry(e.subsystem.clone()).or_default();
            for n in e.migrations.iter().filter_map(entry_name) {
                if seen.insert((e.subsystem.clone(), n.clone())) {
                    slot.0.push(n.clone());
                }
                if pending {
                    slot.1.push(n);
                }
            }
        }
    }
    if !subs.contains_key("core") {
        return Err(eyre!(
            "'kong migrations status' lists no core migrations: {:?}",
            clip(text)
        ));
    }

    let mut subsystems = Vec::new();
    for (name, (names, pending)) in subs {
        let known = release.and_then(|r| r.subsystem(&name));
        subsystems.push(order_subsystem(&name, names, &pending, known, db));
    }
    // Kong's order: core first, then plugins by name (3.0+ sorts them).
    subsystems.sort_by(|a, b| (a.name != "core", &a.name).cmp(&(b.name != "core", &b.name)));
    Ok(Target {
        version: Some(version),
        db,
        source: "kong migrations status".to_string(),
        subsystems,
        unresolved_plugins: Vec::new(),
    })
}

fn order_subsystem(
    name: &str,
    mut names: Vec<String>,
    pending: &[String],
    known: Option<&SubsystemSpec>,
    db: Db,
) -> SubsystemSpec {
    if let Some(spec) = known {
        let same = spec.migrations.len() == names.len()
            && spec.migrations.iter().all(|m| names.contains(&m.name));
        if same {
            return spec.clone();
        }
    }
    names.sort();
    let pending: std::collections::HashSet<&String> = pending.iter().collect();
    let migrations = names
        .into_iter()
        .map(|n| {
            known
                .and_then(|s| s.migrations.iter().find(|m| m.name == n))
                .cloned()
                .unwrap_or_else(|| {
                    let phases = Phases {
                        up: true,
                        teardown: pending.contains(&n),
                        ..Phases::default()
                    };
                    MigrationSpec {
                        name: n,
                        postgres: (db == Db::Postgres).then_some(phases),
                        cassandra: (db == Db::Cassandra).then_some(phases),
                    }
                })
        })
        .collect();
    SubsystemSpec {
        name: name.to_string(),
        origin: match known {
            Some(s) => s.origin.clone(),
            None => "kong migrations status".to_string(),
        },
        migrations,
    }
}

fn clip(s: &str) -> String {
    let t = s.trim();
    if t.chars().count() > 200 {
        format!("{}...", t.chars().take(200).collect::<String>())
    } else {
        t.to_string()
    }
}

fn stdout_of(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line {
                stream: Stream::Stdout,
                text,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn stderr_of(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line {
                stream: Stream::Stderr,
                text,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `kong version` through the runner.
pub async fn version_of(kong: &KongTarget) -> Result<Version> {
    let (events, outcome) = run_to_end(kong, &Invocation::new(KongCommand::Version), |_| {}).await;
    let out = stdout_of(&events);
    if !outcome.success() {
        return Err(eyre!(
            "'kong version' failed ({}){}",
            outcome.describe(),
            match clip(&format!("{}\n{}", out, stderr_of(&events))) {
                s if s.is_empty() => String::new(),
                s => format!(": {s}"),
            }
        ));
    }
    Version::find_in(&out)
        .ok_or_else(|| eyre!("'kong version' printed no version number: {:?}", clip(&out)))
}

/// What [`target_from_kong`] found, and how.
#[derive(Debug, Clone)]
pub struct KongTargetInfo {
    pub target: Target,
    pub version: Version,
    /// Why the catalog was used instead of `kong migrations status`, when it was.
    pub fallback: Option<String>,
}

/// The target from the running Kong: its version, then its `migrations status` (3.0+) for the
/// migrations it actually loads; the embedded catalog when that fails or before 3.0. `conf` is
/// passed as `-c` to kong; `plugins` is the `plugins` setting for the catalog fallback.
pub async fn target_from_kong(
    kong: &KongTarget,
    inv_template: &Invocation,
    conf: &KongConf,
    db: Db,
) -> Result<KongTargetInfo> {
    let version = version_of(kong).await?;
    let catalog = Catalog::embedded();
    let release = catalog.release(version);
    let from_catalog = |why: String| -> Result<KongTargetInfo> {
        let rel = release.ok_or_else(|| {
            eyre!("Kong {version} is not in kongrade's catalog and its migrations could not be read from it ({why}); pass --kong-lua-path")
        })?;
        if !rel.supports(db) {
            return Err(eyre!(
                "Kong {version} does not support {db}: Cassandra support ended with 3.3.x"
            ));
        }
        Ok(KongTargetInfo {
            target: Target::from_release(rel, db, &conf.plugins, &[], "catalog"),
            version,
            fallback: Some(why),
        })
    };
    if version < Version::new(3, 0, 0) {
        return from_catalog(format!("Kong {version} has no 'kong migrations status'"));
    }
    let mut inv = inv_template.clone();
    inv.command = KongCommand::Status;
    inv.force = false;
    let (events, outcome) = run_to_end(kong, &inv, |_| {}).await;
    if !outcome.success() {
        return from_catalog(format!(
            "'kong migrations status' failed ({}): {}",
            outcome.describe(),
            clip(&stderr_of(&events))
        ));
    }
    match target_from_status_json(&stdout_of(&events), version, release, db)
        .wrap_err("reading 'kong migrations status'")
    {
        Ok(target) => Ok(KongTargetInfo {
            target,
            version,
            fallback: None,
        }),
        Err(e) => from_catalog(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_lists_are_not_the_order_but_the_catalog_and_names_are() {
        let cat = Catalog::embedded();
        let rel = cat.release(Version::new(3, 4, 2)).unwrap();
        let core = rel.subsystem("core").unwrap();
        let names: Vec<&str> = core.migrations.iter().map(|m| m.name.as_str()).collect();
        let i016 = names.iter().position(|n| *n == "016_280_to_300").unwrap();
        // After `up` from 2.8: 016 pending, everything else executed.
        let executed: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| *n != "016_280_to_300")
            .collect();
        let json = serde_json::json!({
            "needs_bootstrap": false,
            "executed_migrations": [{"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": executed}],
            "pending_migrations": [{"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": ["016_280_to_300"]}],
            "new_migrations": [{"subsystem": "my-plugin", "namespace": "kong.plugins.my-plugin.migrations", "migrations": ["001_b", "000_a"]}],
        })
        .to_string();
        // Executed then pending would put 016 last.
        let concat: Vec<&str> = executed.iter().copied().chain(["016_280_to_300"]).collect();
        assert_ne!(concat, names);

        let t = target_from_status_json(&json, rel.version, Some(rel), Db::Postgres).unwrap();
        assert_eq!(t.subsystems[0].name, "core");
        assert_eq!(
            &t.subsystems[0], core,
            "core is the catalog's, order and flags"
        );
        assert_eq!(t.subsystems[0].migrations[i016].name, "016_280_to_300");
        let mine = t.subsystem("my-plugin").unwrap();
        let mine_names: Vec<&str> = mine.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            mine_names,
            vec!["000_a", "001_b"],
            "unknown names in name order"
        );
        assert!(!mine.migrations[0].two_phase(Db::Postgres));
        assert_eq!(t.source, "kong migrations status");
    }

    #[test]
    fn pending_unknowns_are_two_phase_and_garbage_is_refused() {
        let json = r#"warning: something
{"needs_bootstrap":false,"executed_migrations":[{"subsystem":"core","migrations":["000_base"]}],"pending_migrations":[{"subsystem":"custom","migrations":["000_x"]}]}"#;
        let t = target_from_status_json(json, Version::new(3, 4, 2), None, Db::Postgres).unwrap();
        assert!(t.subsystem("custom").unwrap().migrations[0].two_phase(Db::Postgres));
        assert!(
            target_from_status_json("garbage", Version::new(3, 4, 2), None, Db::Postgres).is_err()
        );
        assert!(target_from_status_json(
            r#"{"needs_bootstrap":true,"new_migrations":[{"subsystem":"acl","migrations":["000_base_acl"]}]}"#,
            Version::new(3, 4, 2),
            None,
            Db::Postgres
        )
        .is_err(), "no core: not a Kong status");
    }

    #[test]
    fn every_catalog_subsystem_lists_its_migrations_in_name_order() {
        // The convention the fallback order relies on.
        for rel in &Catalog::embedded().releases {
            for s in &rel.subsystems {
                let names: Vec<&str> = s.migrations.iter().map(|m| m.name.as_str()).collect();
                let mut sorted = names.clone();
                sorted.sort();
                assert_eq!(names, sorted, "{} {}", rel.version, s.name);
            }
        }
    }
}
