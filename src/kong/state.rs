//! The migration state: Kong's own `State.load` rules (kong/db/migrations/state.lua) to the letter,
//! plus what Kong does not report: gaps, unknown migrations, malformed rows, the lock, the pre-1.0
//! table and which releases the recorded schema matches.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::catalog::{Catalog, Db};
use super::snapshot::{LockRow, SchemaMetaRow, Snapshot};
use super::target::Target;
use super::version::Version;

/// What Kong calls a migration's state for the target version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigState {
    Executed,
    Pending,
    New,
    /// Kong's odd rule: not recorded, and named by `last_executed`.
    Missing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    pub name: String,
    pub state: MigState,
    /// Two-phase on this database: `up` leaves it pending until `finish`.
    pub two_phase: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubsystemState {
    pub name: String,
    pub namespace: String,
    /// There is a `schema_meta` row for it.
    pub recorded: bool,
    pub last_executed: Option<String>,
    pub migrations: Vec<MigrationState>,
}

impl SubsystemState {
    pub fn count(&self, s: MigState) -> usize {
        self.migrations.iter().filter(|m| m.state == s).count()
    }

    pub fn names(&self, s: MigState) -> Vec<String> {
        self.migrations
            .iter()
            .filter(|m| m.state == s)
            .map(|m| m.name.clone())
            .collect()
    }
}

/// Unrecorded migrations that come before a recorded one: an earlier upgrade skipped them, and
/// Kong will treat them as new and run them out of order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub subsystem: String,
    pub migrations: Vec<String>,
    /// The first recorded migration that follows them.
    pub before: String,
}

/// Migrations recorded in the database that the target does not know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unknown {
    pub subsystem: String,
    pub migrations: Vec<String>,
    /// False when the whole subsystem is not loaded by the target (plugin dropped from `plugins`,
    /// or a newer Kong's subsystem).
    pub subsystem_loaded: bool,
}

/// Rows that contradict themselves or Kong's format. Kong tolerates most of them silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// A name in both `executed` and `pending` (Kong counts it executed).
    ExecutedAndPending { subsystem: String, migration: String },
    /// `last_executed` names a migration in neither `executed` nor `pending`.
    LastExecutedUnrecorded { subsystem: String, migration: String },
    /// A NULL `executed` or `pending` column (Kong reads it as empty).
    NullColumn { subsystem: String, column: String },
    /// A row whose key is not `schema_meta` (Kong ignores it).
    ForeignKey { key: String, subsystem: String },
    /// The same name twice in one column.
    Duplicate {
        subsystem: String,
        column: String,
        migration: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaState {
    pub db: Db,
    pub target_version: Option<Version>,
    pub needs_bootstrap: bool,
    /// A pre-1.0 `schema_migrations` table is present.
    pub legacy_table: bool,
    pub subsystems: Vec<SubsystemState>,
    pub gaps: Vec<Gap>,
    pub unknown: Vec<Unknown>,
    pub anomalies: Vec<Anomaly>,
    pub lock: Option<LockRow>,
    /// Releases whose migrations equal what is recorded, on every recorded subsystem they share.
    pub schema_matches: Vec<Version>,
    /// Releases that match on `core` alone (useful when plugins lag behind).
    pub core_matches: Vec<Version>,
}

/// Exit codes of `kongrade status`, those of `kong migrations list` plus 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StatusCode {
    UpToDate = 0,
    NeedsBootstrap = 3,
    Pending = 4,
    New = 5,
    /// The migrations lock is live: something is migrating right now.
    Locked = 6,
}

impl SchemaState {
    pub fn any(&self, s: MigState) -> bool {
        self.subsystems.iter().any(|x| x.count(s) > 0)
    }

    pub fn total(&self, s: MigState) -> usize {
        self.subsystems.iter().map(|x| x.count(s)).sum()
    }

    pub fn lock_live(&self) -> bool {
        self.lock.as_ref().is_some_and(|l| l.live)
    }

    /// Nothing left for `up` or `finish` to do.
    pub fn up_to_date(&self) -> bool {
        !self.needs_bootstrap && !self.any(MigState::Pending) && !self.any(MigState::New)
    }

    /// Kong's `migrations list` decision, with a live lock first: whatever the rows say, they are
    /// about to change.
    pub fn status_code(&self) -> StatusCode {
        if self.lock_live() {
            StatusCode::Locked
        } else if self.needs_bootstrap {
            StatusCode::NeedsBootstrap
        } else if self.any(MigState::Pending) {
            StatusCode::Pending
        } else if self.any(MigState::New) {
            // Kong's list ignores "missing" for its exit code (is_up_to_date looks at new only);
            // kongrade reports it, and gaps, in the text and in diagnose.
            StatusCode::New
        } else {
            StatusCode::UpToDate
        }
    }

    pub fn subsystem(&self, name: &str) -> Option<&SubsystemState> {
        self.subsystems.iter().find(|s| s.name == name)
    }
}

/// A `schema_meta` row read as Kong reads it (NULL arrays are empty).
struct RowView<'a> {
    last_executed: Option<&'a str>,
    executed: &'a [String],
    pending: &'a [String],
}

fn view(row: &SchemaMetaRow) -> RowView<'_> {
    RowView {
        last_executed: row.last_executed.as_deref(),
        executed: row.executed.as_deref().unwrap_or(&[]),
        pending: row.pending.as_deref().unwrap_or(&[]),
    }
}

/// Kong selects `WHERE key = 'schema_meta'`; other keys are not its rows.
fn kong_rows(snapshot: &Snapshot) -> Option<HashMap<&str, &SchemaMetaRow>> {
    snapshot.schema_meta.as_ref().map(|rows| {
        rows.iter()
            .filter(|r| r.key == "schema_meta")
            .map(|r| (r.subsystem.as_str(), r))
            .collect()
    })
}

pub fn compute(target: &Target, snapshot: &Snapshot, catalog: &Catalog) -> SchemaState {
    let rows = kong_rows(snapshot);
    let needs_bootstrap = rows.is_none();
    let db = target.db;

    let mut subsystems = Vec::with_capacity(target.subsystems.len());
    let mut gaps = Vec::new();
    let mut unknown = Vec::new();

    for spec in &target.subsystems {
        let row = rows.as_ref().and_then(|r| r.get(spec.name.as_str())).copied();
        let mut migs = Vec::with_capacity(spec.migrations.len());
        match row {
            None => {
                for m in &spec.migrations {
                    migs.push(MigrationState {
                        name: m.name.clone(),
                        state: MigState::New,
                        two_phase: m.two_phase(db),
                    });
                }
            }
            Some(row) => {
                let v = view(row);
                // `n` as in state.lua: the index just after last_executed once it is seen.
                let mut n: Option<usize> = None;
                for (i, m) in spec.migrations.iter().enumerate() {
                    if v.last_executed == Some(m.name.as_str()) {
                        n = Some(i + 1);
                    }
                    let state = if v.executed.iter().any(|e| *e == m.name) {
                        MigState::Executed
                    } else if v.pending.iter().any(|p| *p == m.name) {
                        MigState::Pending
                    } else if n.is_none_or(|n| i >= n) {
                        MigState::New
                    } else {
                        MigState::Missing
                    };
                    migs.push(MigrationState {
                        name: m.name.clone(),
                        state,
                        two_phase: m.two_phase(db),
                    });
                }
                if let Some(g) = gap_of(&spec.name, &migs) {
                    gaps.push(g);
                }
                let known: BTreeSet<&str> = spec.migrations.iter().map(|m| m.name.as_str()).collect();
                let mut extra: Vec<String> = Vec::new();
                for name in v.executed.iter().chain(v.pending.iter()) {
                    if !known.contains(name.as_str()) && !extra.contains(name) {
                        extra.push(name.clone());
                    }
                }
                if !extra.is_empty() {
                    unknown.push(Unknown {
                        subsystem: spec.name.clone(),
                        migrations: extra,
                        subsystem_loaded: true,
                    });
                }
            }
        }
        subsystems.push(SubsystemState {
            name: spec.name.clone(),
            namespace: spec.namespace(),
            recorded: row.is_some(),
            last_executed: row.and_then(|r| r.last_executed.clone()),
            migrations: migs,
        });
    }

    // Recorded subsystems the target does not load at all.
    if let Some(all) = snapshot.schema_meta.as_ref() {
        for row in all.iter().filter(|r| r.key == "schema_meta") {
            if target.subsystem(&row.subsystem).is_none() {
                let v = view(row);
                let mut names: Vec<String> = Vec::new();
                for n in v.executed.iter().chain(v.pending.iter()) {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
                unknown.push(Unknown {
                    subsystem: row.subsystem.clone(),
                    migrations: names,
                    subsystem_loaded: false,
                });
            }
        }
    }

    let anomalies = snapshot
        .schema_meta
        .as_deref()
        .map(anomalies_of)
        .unwrap_or_default();
    let (schema_matches, core_matches) = match rows.as_ref() {
        Some(r) => matching_releases(catalog, db, r),
        None => (Vec::new(), Vec::new()),
    };

    SchemaState {
        db,
        target_version: target.version,
        needs_bootstrap,
        legacy_table: snapshot.legacy_migrations.is_some(),
        subsystems,
        gaps,
        unknown,
        anomalies,
        lock: snapshot.lock.clone(),
        schema_matches,
        core_matches,
    }
}

/// Unrecorded (new or missing) migrations followed by a recorded one.
fn gap_of(subsystem: &str, migs: &[MigrationState]) -> Option<Gap> {
    let last_recorded = migs
        .iter()
        .rposition(|m| matches!(m.state, MigState::Executed | MigState::Pending))?;
    let skipped: Vec<String> = migs[..last_recorded]
        .iter()
        .filter(|m| matches!(m.state, MigState::New | MigState::Missing))
        .map(|m| m.name.clone())
        .collect();
    if skipped.is_empty() {
        return None;
    }
    // The first recorded migration after the first skipped one.
    let first_skipped = migs[..last_recorded]
        .iter()
        .position(|m| matches!(m.state, MigState::New | MigState::Missing))?;
    let before = migs[first_skipped..]
        .iter()
        .find(|m| matches!(m.state, MigState::Executed | MigState::Pending))
        .map(|m| m.name.clone())
        .unwrap_or_default();
    Some(Gap {
        subsystem: subsystem.to_string(),
        migrations: skipped,
        before,
    })
}

fn anomalies_of(rows: &[SchemaMetaRow]) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for row in rows {
        if row.key != "schema_meta" {
            out.push(Anomaly::ForeignKey {
                key: row.key.clone(),
                subsystem: row.subsystem.clone(),
            });
            continue;
        }
        let sub = &row.subsystem;
        for (col, val) in [("executed", &row.executed), ("pending", &row.pending)] {
            match val {
                None => out.push(Anomaly::NullColumn {
                    subsystem: sub.clone(),
                    column: col.to_string(),
                }),
                Some(list) => {
                    let mut seen = BTreeSet::new();
                    for n in list {
                        if !seen.insert(n.as_str()) {
                            out.push(Anomaly::Duplicate {
                                subsystem: sub.clone(),
                                column: col.to_string(),
                                migration: n.clone(),
                            });
                        }
                    }
                }
            }
        }
        let v = view(row);
        for p in v.pending {
            if v.executed.contains(p) {
                out.push(Anomaly::ExecutedAndPending {
                    subsystem: sub.clone(),
                    migration: p.clone(),
                });
            }
        }
        if let Some(le) = v.last_executed {
            if !le.is_empty() && !v.executed.iter().any(|e| e == le) && !v.pending.iter().any(|p| p == le) {
                out.push(Anomaly::LastExecutedUnrecorded {
                    subsystem: sub.clone(),
                    migration: le.to_string(),
                });
            }
        }
    }
    out
}

/// Releases whose lists equal the recorded names (executed or pending) on every recorded
/// subsystem the release has; and those matching on `core` alone.
fn matching_releases(
    catalog: &Catalog,
    db: Db,
    rows: &HashMap<&str, &SchemaMetaRow>,
) -> (Vec<Version>, Vec<Version>) {
    let recorded: HashMap<&str, BTreeSet<&str>> = rows
        .iter()
        .map(|(sub, row)| {
            let v = view(row);
            let set = v
                .executed
                .iter()
                .chain(v.pending.iter())
                .map(String::as_str)
                .collect();
            (*sub, set)
        })
        .collect();
    let Some(core) = recorded.get("core") else {
        return (Vec::new(), Vec::new());
    };
    let mut full = Vec::new();
    let mut core_only = Vec::new();
    for rel in &catalog.releases {
        if !rel.supports(db) {
            continue;
        }
        let same = |name: &str, set: &BTreeSet<&str>| -> Option<bool> {
            let spec = rel.subsystem(name)?;
            Some(
                spec.migrations.len() == set.len()
                    && spec.migrations.iter().all(|m| set.contains(m.name.as_str())),
            )
        };
        if same("core", core) != Some(true) {
            continue;
        }
        core_only.push(rel.version);
        let all = recorded
            .iter()
            .filter(|(sub, _)| **sub != "core")
            .all(|(sub, set)| same(sub, set).unwrap_or(true));
        if all {
            full.push(rel.version);
        }
    }
    (full, core_only)
}

/// "3.4.0 to 3.4.2", "2.8.x", "1.5.0 to 2.0.5": contiguous catalog releases folded into ranges.
pub fn describe_versions(catalog: &Catalog, versions: &[Version]) -> String {
    if versions.is_empty() {
        return "no known release".to_string();
    }
    let all: Vec<Version> = {
        let mut v: Vec<Version> = catalog.versions().collect();
        v.sort();
        v
    };
    let wanted: BTreeSet<Version> = versions.iter().copied().collect();
    let mut ranges: Vec<(Version, Version)> = Vec::new();
    let mut cur: Option<(Version, Version)> = None;
    for v in &all {
        if wanted.contains(v) {
            cur = Some(match cur {
                Some((a, _)) => (a, *v),
                None => (*v, *v),
            });
        } else if let Some(r) = cur.take() {
            ranges.push(r);
        }
    }
    if let Some(r) = cur {
        ranges.push(r);
    }
    ranges
        .iter()
        .map(|(a, b)| {
            let whole_series = a.series() == b.series()
                && all
                    .iter()
                    .filter(|v| v.series() == a.series())
                    .all(|v| wanted.contains(v));
            if whole_series && a != b {
                format!("{}.{}.x", a.major, a.minor)
            } else if a == b {
                a.to_string()
            } else {
                format!("{a} to {b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
