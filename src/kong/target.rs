//! The target: which subsystems and migrations the Kong version being upgraded to will load, from
//! the catalog, the `plugins` setting and any custom plugins found in an installed Lua tree.

use std::collections::BTreeSet;

use serde::Serialize;

use super::catalog::{Db, Release, SubsystemSpec};
use super::version::Version;

/// The migrations Kong would load for the target version on this database.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub version: Option<Version>,
    pub db: Db,
    /// Where the list came from, for the operator: `catalog`, `lua tree DIR`, `kong migrations status`.
    pub source: String,
    /// `core` first, then plugins in the order Kong loads them.
    pub subsystems: Vec<SubsystemSpec>,
    /// Plugins named in `plugins` that the target does not bundle and whose migrations were not
    /// found: their state cannot be judged, so they are reported rather than ignored.
    pub unresolved_plugins: Vec<String>,
}

/// The `plugins` setting expanded for one release: `bundled` becomes the release's bundled
/// plugins, `off` loads none, anything else is a plugin name. Order is kept, duplicates dropped.
pub fn expand_plugins(setting: &[String], release: &Release) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |name: &str, out: &mut Vec<String>| {
        if !out.iter().any(|p| p == name) {
            out.push(name.to_string());
        }
    };
    for entry in setting {
        match entry.as_str() {
            "off" => {}
            "bundled" => {
                for p in &release.bundled_plugins {
                    push(p, &mut out);
                }
            }
            name => push(name, &mut out),
        }
    }
    out
}

impl Target {
    /// Builds the target from a catalog release. `scanned` are subsystems read from an installed
    /// Lua tree; they replace catalog entries of the same name (the installed files are the truth).
    pub fn from_release(
        release: &Release,
        db: Db,
        plugins: &[String],
        scanned: &[SubsystemSpec],
        source: &str,
    ) -> Target {
        let loaded = expand_plugins(plugins, release);
        let bundled: BTreeSet<&str> = release.bundled_plugins.iter().map(String::as_str).collect();
        let find = |name: &str| -> Option<SubsystemSpec> {
            scanned
                .iter()
                .find(|s| s.name == name)
                .or_else(|| release.subsystem(name))
                .cloned()
        };

        let mut subsystems = Vec::new();
        if let Some(core) = find("core") {
            subsystems.push(core);
        }
        let mut plugin_subs = Vec::new();
        let mut unresolved = Vec::new();
        for p in &loaded {
            match find(p) {
                Some(s) => plugin_subs.push(s),
                // A bundled plugin without a subsystem simply has no migrations.
                None if bundled.contains(p.as_str()) => {}
                None => unresolved.push(p.clone()),
            }
        }
        // Kong sorts plugin subsystems by name from 2.4.0; before that the order is unspecified,
        // and sorting gives a stable display.
        plugin_subs.sort_by(|a, b| a.name.cmp(&b.name));
        subsystems.extend(plugin_subs);

        Target {
            version: Some(release.version),
            db,
            source: source.to_string(),
            subsystems,
            unresolved_plugins: unresolved,
        }
    }

    pub fn subsystem(&self, name: &str) -> Option<&SubsystemSpec> {
        self.subsystems.iter().find(|s| s.name == name)
    }
}
