//! The training scenarios (`assets/scenarios/*.json`, embedded) and how one is built into a
//! [`Training`] cluster: the rows Kong would have written, from the migration catalog, and the
//! cluster's simulated nodes. Pure.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use super::Training;
use crate::kong::catalog::{Catalog, Db, MigrationSpec, Phases, SubsystemSpec};
use crate::kong::snapshot::{DataPlaneRow, SchemaMetaRow};
use crate::kong::target::Target;
use crate::kong::version::Version;
use crate::store::memory::{MemoryDb, MemoryTables, MigrationFault};
use crate::wizard::model::Node;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    pub summary: String,
    /// The version the database was bootstrapped at (absent: no Kong schema).
    #[serde(default)]
    pub bootstrapped_at: Option<String>,
    /// An `up` that ran with this version and was never finished.
    #[serde(default)]
    pub up_ran_with: Option<String>,
    /// A Kong 0.x database (`schema_migrations`, no `schema_meta`).
    #[serde(default)]
    pub legacy: bool,
    pub target: String,
    #[serde(default)]
    pub custom_plugins: Vec<CustomPlugin>,
    #[serde(default)]
    pub lock: Option<ScenarioLock>,
    #[serde(default)]
    pub nodes: Vec<ScenarioNode>,
    /// Done the dual-cluster way: the clone, the new cluster, a write after the clone.
    #[serde(default)]
    pub dual_cluster: Option<super::clone::ScenarioDual>,
    /// A migration that fails on this cluster's data when `up` runs it, until the trainee
    /// fixes the cause.
    #[serde(default)]
    pub fault: Option<ScenarioFault>,
    /// How the cluster is deployed, as the Strategy step is told it (absent: it asks).
    #[serde(default)]
    pub deployment: Option<crate::kong::strategy::Deployment>,
    /// Whether a second cluster and database can be had (absent: the Strategy step asks).
    #[serde(default)]
    pub second_cluster: Option<bool>,
}

/// A migration that fails in the middle of `up`, and the fix the trainee can make.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFault {
    /// `SUBSYSTEM/NAME`.
    pub migration: String,
    /// The part that fails: `up` (its SQL, run in a transaction) or `up_f` (its Lua).
    pub phase: String,
    /// The database's error as Kong's PostgreSQL driver (pgmoon) words it: `ERROR: <message>`,
    /// the detail on the next line.
    pub error: String,
    /// The fix, in the footer's few words.
    pub fix_label: String,
    /// What the fix is, as the operator would do it (shown before, logged after).
    pub fix: String,
    /// What the failing run leaves in the data: routes whose paths core 016's `up_f` had
    /// already rewritten with `~` when it stopped.
    #[serde(default)]
    pub leaves_rewritten_routes: Option<crate::kong::snapshot::TildeRoutes>,
}

impl Scenario {
    /// The scenario's strategy facts, as the runtime hands a real cluster's to the wizard.
    pub fn strategy_facts(&self) -> crate::wizard::model::StrategyFacts {
        crate::wizard::model::StrategyFacts {
            preselected: None,
            deployment: self
                .deployment
                .map(|d| (d, "the scenario (training)".to_string())),
            second_cluster: self.second_cluster,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPlugin {
    pub name: String,
    pub migrations: Vec<CustomMigration>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMigration {
    pub name: String,
    /// The first Kong version whose plugin release carries it.
    pub since: String,
    #[serde(default)]
    pub two_phase: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioLock {
    pub owner: String,
    /// Seconds until it expires (divided by `--speed`).
    pub seconds: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioNode {
    pub name: String,
    pub version: String,
    /// A hybrid-mode data plane: it has a row in `clustering_data_planes`.
    #[serde(default)]
    pub data_plane: bool,
    #[serde(default)]
    pub ip: Option<String>,
    /// Ignores the first stop (its supervisor restarts it).
    #[serde(default)]
    pub stuck: bool,
}

const SCENARIOS: &[(&str, &str)] = &[
    ("clean", include_str!("../../assets/scenarios/clean.json")),
    (
        "custom-plugin",
        include_str!("../../assets/scenarios/custom-plugin.json"),
    ),
    (
        "stale-lock",
        include_str!("../../assets/scenarios/stale-lock.json"),
    ),
    (
        "unfinished",
        include_str!("../../assets/scenarios/unfinished.json"),
    ),
    (
        "pre-1.0",
        include_str!("../../assets/scenarios/pre-1.0.json"),
    ),
    (
        "old-node-serving",
        include_str!("../../assets/scenarios/old-node-serving.json"),
    ),
    (
        "lts-dual-cluster",
        include_str!("../../assets/scenarios/lts-dual-cluster.json"),
    ),
    (
        "failed-up",
        include_str!("../../assets/scenarios/failed-up.json"),
    ),
    (
        "interrupted-016",
        include_str!("../../assets/scenarios/interrupted-016.json"),
    ),
];

pub const DEFAULT_SCENARIO: &str = "clean";

pub fn names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|(n, _)| *n).collect()
}

pub fn scenario(name: &str) -> Result<Scenario, String> {
    let (_, text) = SCENARIOS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        format!(
            "no scenario '{name}'; there are: {} (kongrade demo --list)",
            names().join(", ")
        )
    })?;
    serde_json::from_str(text).map_err(|e| format!("scenario {name}: {e}"))
}

/// `kongrade demo --list`.
pub fn list_text() -> Result<String, String> {
    let mut out = String::from("Training scenarios (kongrade demo --scenario NAME):\n\n");
    for name in names() {
        let s = scenario(name)?;
        out.push_str(&format!("  {:<18} {}\n", s.name, s.title));
        out.push_str(&format!("  {:<18} {}\n\n", "", s.summary));
    }
    Ok(out)
}

fn version(s: &str, what: &str) -> Result<Version, String> {
    s.parse()
        .map_err(|e| format!("scenario {what} version '{s}': {e}"))
}

fn custom_at(plugins: &[CustomPlugin], v: Version) -> Result<Vec<SubsystemSpec>, String> {
    let mut out = Vec::new();
    for p in plugins {
        let mut migrations = Vec::new();
        for m in &p.migrations {
            if version(&m.since, "since")? <= v {
                migrations.push(MigrationSpec {
                    name: m.name.clone(),
                    postgres: Some(Phases {
                        up: true,
                        teardown: m.two_phase,
                        ..Phases::default()
                    }),
                    cassandra: None,
                });
            }
        }
        out.push(SubsystemSpec {
            name: p.name.clone(),
            origin: format!("lua:{}", p.name),
            migrations,
        });
    }
    Ok(out)
}

/// What Kong at version `v` loads: its bundled subsystems plus the custom plugins.
/// kong.conf's `plugins` of the training cluster.
pub(super) fn plugins_of(s: &Scenario) -> Vec<String> {
    let mut plugins = vec!["bundled".to_string()];
    plugins.extend(s.custom_plugins.iter().map(|p| p.name.clone()));
    plugins
}

fn target_at(s: &Scenario, catalog: &Catalog, v: Version) -> Result<Target, String> {
    let release = catalog
        .release(v)
        .ok_or_else(|| format!("scenario {}: Kong {v} is not in the catalog", s.name))?;
    let plugins = plugins_of(s);
    let scanned = custom_at(&s.custom_plugins, v)?;
    Ok(Target::from_release(
        release,
        Db::Postgres,
        &plugins,
        &scanned,
        "training catalog",
    ))
}

fn row(sub: &str) -> SchemaMetaRow {
    SchemaMetaRow {
        key: "schema_meta".into(),
        subsystem: sub.to_string(),
        ..SchemaMetaRow::default()
    }
}

impl Scenario {
    pub fn build(&self, catalog: &Catalog, speed: f64) -> Result<Training, String> {
        let target_version = version(&self.target, "target")?;
        let target = target_at(self, catalog, target_version)?;
        let mut tables = MemoryTables::default();
        if self.legacy {
            tables.legacy_migrations = Some(vec![
                (
                    "core".into(),
                    vec![
                        "2015-01-12-175310_skeleton".into(),
                        "2015-01-12-175310_init_schema".into(),
                        "2018-08-06-000001_init_schema".into(),
                    ],
                ),
                (
                    "key-auth".into(),
                    vec!["2015-07-31-172400_init_keyauth".into()],
                ),
            ]);
        }
        if let Some(v) = &self.bootstrapped_at {
            let at = target_at(self, catalog, version(v, "bootstrap")?)?;
            let mut meta = BTreeMap::new();
            for sub in &at.subsystems {
                let mut r = row(&sub.name);
                r.executed = Some(sub.migrations.iter().map(|m| m.name.clone()).collect());
                r.last_executed = sub.migrations.last().map(|m| m.name.clone());
                meta.insert(sub.name.clone(), r);
            }
            tables.schema_meta = Some(meta);
        }
        if let Some(v) = &self.up_ran_with {
            let at = target_at(self, catalog, version(v, "up")?)?;
            let meta = tables.schema_meta.as_mut().ok_or_else(|| {
                format!("scenario {}: up_ran_with needs bootstrapped_at", self.name)
            })?;
            for sub in &at.subsystems {
                let r = meta
                    .entry(sub.name.clone())
                    .or_insert_with(|| row(&sub.name));
                for m in &sub.migrations {
                    let recorded = r
                        .executed
                        .iter()
                        .chain(r.pending.iter())
                        .flatten()
                        .any(|x| x == &m.name);
                    if recorded {
                        continue;
                    }
                    if m.two_phase(Db::Postgres) {
                        r.pending.get_or_insert_with(Vec::new).push(m.name.clone());
                    } else {
                        r.executed.get_or_insert_with(Vec::new).push(m.name.clone());
                        r.last_executed = Some(m.name.clone());
                    }
                }
            }
        }
        if let Some(l) = &self.lock {
            tables.lock = Some(MemoryDb::lock_for(
                &l.owner,
                Duration::from_secs_f64((l.seconds / speed).max(0.0)),
            ));
        }
        let dps: Vec<DataPlaneRow> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.data_plane)
            .map(|(i, n)| DataPlaneRow {
                id: format!("0000{i:04}-dp00-4000-8000-00000000{i:04}"),
                hostname: Some(n.name.clone()),
                ip: n.ip.clone(),
                version: Some(n.version.clone()),
                sync_status: Some("normal".into()),
                config_hash: None,
                last_seen_secs_ago: Some(3.0),
                last_seen: None,
                ttl_secs_left: None,
            })
            .collect();
        if !dps.is_empty() {
            tables.data_planes = Some(dps);
        }
        if let Some(f) = &self.fault {
            let (sub, name) = f.migration.split_once('/').ok_or_else(|| {
                format!(
                    "scenario {}: fault migration '{}' is not SUBSYSTEM/NAME",
                    self.name, f.migration
                )
            })?;
            let known = target
                .subsystems
                .iter()
                .any(|s| s.name == sub && s.migrations.iter().any(|m| m.name == name));
            if !known {
                return Err(format!(
                    "scenario {}: the target has no migration {}",
                    self.name, f.migration
                ));
            }
            tables.faults.push(MigrationFault {
                subsystem: sub.to_string(),
                name: name.to_string(),
                phase: f.phase.clone(),
                error: f.error.clone(),
                leaves: f.leaves_rewritten_routes.clone(),
            });
        }
        let mut nodes = Vec::new();
        for n in &self.nodes {
            nodes.push(Node {
                name: n.name.clone(),
                version: n.version.clone(),
                old: version(&n.version, "node")? < target_version,
                data_plane: n.data_plane,
            });
        }
        let stuck = self
            .nodes
            .iter()
            .filter(|n| n.stuck)
            .map(|n| n.name.clone())
            .collect();
        Ok(Training {
            scenario: self.clone(),
            db: MemoryDb::new(tables),
            target,
            target_version,
            nodes,
            stuck: Mutex::new(stuck),
            stopped: Mutex::new(HashSet::new()),
            custom: custom_at(&self.custom_plugins, target_version)?,
            clone: self
                .dual_cluster
                .clone()
                .map(super::clone::TrainingClone::new),
        })
    }
}
