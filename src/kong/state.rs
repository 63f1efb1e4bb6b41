//! The migration state: Kong's own `State.load` rules (kong/db/migrations/state.lua) to the letter,
//! plus what Kong does not report: gaps, unknown migrations, malformed rows, the lock, the pre-1.0
//! table and which releases the recorded schema matches.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::catalog::{Catalog, Db};
use super::snapshot::{LockRow, RewriteSeen, SchemaMetaRow, Snapshot};
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
    ExecutedAndPending {
        subsystem: String,
        migration: String,
    },
    /// `last_executed` names a migration in neither `executed` nor `pending`.
    LastExecutedUnrecorded {
        subsystem: String,
        migration: String,
    },
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
    /// Whether core 016's rewrite is at work in another session although no live lock shows
    /// (Kong does not renew its lock): running is a run all the same, and "cannot tell" is not
    /// "no" (`kong::half_applied`).
    pub rewrite: RewriteSeen,
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

    /// A run holds the migrations lock, or is still at work after its lock expired (Kong does not
    /// renew it): wait, start nothing.
    pub fn lock_live(&self) -> bool {
        self.lock.as_ref().is_some_and(|l| l.live) || self.rewrite == RewriteSeen::Running
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

/// FNV-1a: migration names are short, and SipHash's setup cost dominated the state benchmark.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastSet<'a> = HashSet<&'a str, std::hash::BuildHasherDefault<Fnv>>;

/// A set of migration names. Every membership test goes through one: a `schema_meta` array can
/// hold 100k names, and scanning it per name was quadratic (issue 13).
struct NameSet<'a>(FastSet<'a>);

impl<'a> NameSet<'a> {
    fn new(names: impl Iterator<Item = &'a String>) -> Self {
        let mut set = FastSet::default();
        set.extend(names.map(String::as_str));
        NameSet(set)
    }

    fn of(names: &'a [String]) -> Self {
        let mut set = FastSet::with_capacity_and_hasher(names.len(), Default::default());
        set.extend(names.iter().map(String::as_str));
        NameSet(set)
    }

    /// Adds a name; false when it was already there.
    fn insert(&mut self, name: &'a str) -> bool {
        self.0.insert(name)
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    fn len(&self) -> usize {
        self.0.len()
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
fn kong_rows(snapshot: &Snapshot) -> Option<RowMap<'_>> {
    snapshot.schema_meta.as_ref().map(|rows| {
        let mut map = RowMap::with_capacity_and_hasher(rows.len(), Default::default());
        map.extend(
            rows.iter()
                .filter(|r| r.key == "schema_meta")
                .map(|r| (r.subsystem.as_str(), r)),
        );
        map
    })
}

type RowMap<'a> = HashMap<&'a str, &'a SchemaMetaRow, std::hash::BuildHasherDefault<Fnv>>;

pub fn compute(target: &Target, snapshot: &Snapshot, catalog: &Catalog) -> SchemaState {
    let rows = kong_rows(snapshot);
    let needs_bootstrap = rows.is_none();
    let db = target.db;

    let mut subsystems = Vec::with_capacity(target.subsystems.len());
    let mut gaps = Vec::new();
    let mut unknown = Vec::new();

    for spec in &target.subsystems {
        let row = rows
            .as_ref()
            .and_then(|r| r.get(spec.name.as_str()))
            .copied();
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
                let executed = NameSet::of(v.executed);
                let pending = NameSet::of(v.pending);
                // `n` as in state.lua: the index just after last_executed once it is seen.
                let mut n: Option<usize> = None;
                for (i, m) in spec.migrations.iter().enumerate() {
                    if v.last_executed == Some(m.name.as_str()) {
                        n = Some(i + 1);
                    }
                    let state = if executed.contains(m.name.as_str()) {
                        MigState::Executed
                    } else if pending.contains(m.name.as_str()) {
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
                let mut extra: Vec<String> = Vec::new();
                let known = NameSet::new(spec.migrations.iter().map(|m| &m.name));
                let mut seen = NameSet(FastSet::with_capacity_and_hasher(
                    v.executed.len().saturating_sub(spec.migrations.len()),
                    Default::default(),
                ));
                for name in v.executed.iter().chain(v.pending.iter()) {
                    if !known.contains(name) && seen.insert(name) {
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
        let loaded: HashSet<&str> = target.subsystems.iter().map(|s| s.name.as_str()).collect();
        for row in all.iter().filter(|r| r.key == "schema_meta") {
            if !loaded.contains(row.subsystem.as_str()) {
                let v = view(row);
                let mut names: Vec<String> = Vec::new();
                let mut seen = NameSet(FastSet::default());
                for n in v.executed.iter().chain(v.pending.iter()) {
                    if seen.insert(n) {
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
        rewrite: snapshot
            .tilde_routes
            .as_ref()
            .map(|t| t.rewrite.clone())
            .unwrap_or_default(),
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
            // NULL columns are normal: Kong's first INSERT for a subsystem fills only the
            // column it appends to.
            match val {
                None => {}
                Some(list) => {
                    let mut seen =
                        FastSet::with_capacity_and_hasher(list.len(), Default::default());
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
        let executed = NameSet::of(v.executed);
        for p in v.pending {
            if executed.contains(p) {
                out.push(Anomaly::ExecutedAndPending {
                    subsystem: sub.clone(),
                    migration: p.clone(),
                });
            }
        }
        if let Some(le) = v.last_executed {
            if !le.is_empty() && !executed.contains(le) && !v.pending.iter().any(|p| p == le) {
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
fn matching_releases(catalog: &Catalog, db: Db, rows: &RowMap<'_>) -> (Vec<Version>, Vec<Version>) {
    // Only subsystems some release knows can take part: sets for those alone, built once.
    // The longest list any release has per subsystem: a row with more distinct names matches
    // none, so its set stops growing there (a row can hold 100k names, issue 13).
    let mut longest: HashMap<&str, usize> = HashMap::new();
    for sub in catalog.releases.iter().flat_map(|r| r.subsystems.iter()) {
        let l = longest.entry(sub.name.as_str()).or_default();
        *l = (*l).max(sub.migrations.len());
    }
    // `None`: more names than any release lists.
    let mut recorded: HashMap<&str, Option<NameSet>> = HashMap::new();
    for (&name, &max) in &longest {
        if let Some(row) = rows.get(name) {
            let v = view(row);
            let mut set = NameSet(FastSet::default());
            let mut fits = true;
            for n in v.executed.iter().chain(v.pending.iter()) {
                set.insert(n);
                if set.len() > max {
                    fits = false;
                    break;
                }
            }
            recorded.insert(row.subsystem.as_str(), fits.then_some(set));
        }
    }
    let Some(core_set) = recorded.get("core") else {
        return (Vec::new(), Vec::new());
    };
    let same = |spec: &super::catalog::SubsystemSpec, set: &Option<NameSet>| {
        set.as_ref().is_some_and(|set| {
            spec.migrations.len() == set.len()
                && spec.migrations.iter().all(|m| set.contains(&m.name))
        })
    };
    let mut full = Vec::new();
    let mut core_only = Vec::new();
    for rel in &catalog.releases {
        let Some(core_spec) = rel.subsystem("core") else {
            continue;
        };
        if !same(core_spec, core_set) || !rel.supports(db) {
            continue;
        }
        core_only.push(rel.version);
        // Walk the release's subsystems (few) rather than the recorded ones (maybe many).
        let all = rel
            .subsystems
            .iter()
            .filter(|s| s.name != "core")
            .all(|s| recorded.get(s.name.as_str()).is_none_or(|set| same(s, set)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::{MigrationSpec, Phases, Release, SubsystemSpec};
    use crate::kong::snapshot::LockRow;

    fn spec(name: &str, migs: &[(&str, bool)]) -> SubsystemSpec {
        SubsystemSpec {
            name: name.into(),
            origin: "kong".into(),
            migrations: migs
                .iter()
                .map(|(n, two)| MigrationSpec {
                    name: n.to_string(),
                    postgres: Some(Phases {
                        up: true,
                        teardown: *two,
                        ..Phases::default()
                    }),
                    cassandra: None,
                })
                .collect(),
        }
    }

    fn target(subs: Vec<SubsystemSpec>) -> Target {
        Target {
            version: Some(Version::new(9, 9, 9)),
            db: Db::Postgres,
            source: "test".into(),
            subsystems: subs,
            unresolved_plugins: vec![],
        }
    }

    fn row(sub: &str, last: Option<&str>, exec: &[&str], pend: &[&str]) -> SchemaMetaRow {
        SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: sub.into(),
            last_executed: last.map(str::to_string),
            executed: Some(exec.iter().map(|s| s.to_string()).collect()),
            pending: Some(pend.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn snap(rows: Option<Vec<SchemaMetaRow>>) -> Snapshot {
        let mut s = Snapshot::empty(Db::Postgres, "public");
        s.schema_meta = rows;
        s
    }

    fn empty_catalog() -> Catalog {
        Catalog {
            format: 1,
            source: "test".into(),
            releases: vec![],
        }
    }

    fn core() -> SubsystemSpec {
        spec(
            "core",
            &[
                ("000_base", false),
                ("001_a", true),
                ("002_b", false),
                ("003_c", false),
            ],
        )
    }

    #[test]
    fn no_schema_meta_needs_bootstrap() {
        let st = compute(&target(vec![core()]), &snap(None), &empty_catalog());
        assert!(st.needs_bootstrap);
        assert_eq!(st.status_code(), StatusCode::NeedsBootstrap);
        assert_eq!(st.total(MigState::New), 4);
    }

    #[test]
    fn kongs_missing_rule_only_fires_on_last_executed() {
        // 001_a is last_executed but recorded nowhere: Kong calls it missing. 000_base, before it
        // and unrecorded, is "new" by Kong's walk (and a gap for kongrade).
        let r = row("core", Some("001_a"), &["002_b"], &[]);
        let st = compute(
            &target(vec![core()]),
            &snap(Some(vec![r])),
            &empty_catalog(),
        );
        let c = st.subsystem("core").unwrap();
        let states: Vec<MigState> = c.migrations.iter().map(|m| m.state).collect();
        assert_eq!(
            states,
            vec![
                MigState::New,
                MigState::Missing,
                MigState::Executed,
                MigState::New
            ]
        );
        assert_eq!(st.gaps.len(), 1);
        assert_eq!(st.gaps[0].migrations, vec!["000_base", "001_a"]);
        assert_eq!(st.gaps[0].before, "002_b");
        assert!(st
            .anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::LastExecutedUnrecorded { .. })));
        assert_eq!(st.status_code(), StatusCode::New);
    }

    #[test]
    fn pending_wins_over_new_for_the_exit_code_and_executed_wins_over_pending() {
        let r = row("core", Some("000_base"), &["000_base", "001_a"], &["001_a"]);
        let st = compute(
            &target(vec![core()]),
            &snap(Some(vec![r])),
            &empty_catalog(),
        );
        assert_eq!(st.subsystem("core").unwrap().count(MigState::Pending), 0);
        assert!(st
            .anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::ExecutedAndPending { .. })));
        let r = row("core", Some("000_base"), &["000_base"], &["001_a"]);
        let st = compute(
            &target(vec![core()]),
            &snap(Some(vec![r])),
            &empty_catalog(),
        );
        assert_eq!(st.status_code(), StatusCode::Pending);
        assert!(st.any(MigState::New));
        assert!(st.gaps.is_empty());
    }

    #[test]
    fn up_to_date_unknown_and_unloaded_subsystems() {
        let r = row(
            "core",
            Some("003_c"),
            &["000_base", "001_a", "002_b", "003_c", "004_future"],
            &[],
        );
        let r2 = row("my-plugin", Some("000_x"), &["000_x"], &[]);
        let mut foreign = row("core", None, &[], &[]);
        foreign.key = "something_else".into();
        let st = compute(
            &target(vec![core()]),
            &snap(Some(vec![r, r2, foreign])),
            &empty_catalog(),
        );
        assert_eq!(st.status_code(), StatusCode::UpToDate);
        assert!(st.up_to_date());
        assert_eq!(st.unknown.len(), 2);
        assert!(st.unknown.iter().any(|u| u.subsystem == "core"
            && u.subsystem_loaded
            && u.migrations == vec!["004_future"]));
        assert!(st
            .unknown
            .iter()
            .any(|u| u.subsystem == "my-plugin" && !u.subsystem_loaded));
        assert!(st
            .anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::ForeignKey { .. })));
    }

    #[test]
    fn null_columns_read_as_empty_as_kong_reads_them() {
        let r = SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: "core".into(),
            last_executed: None,
            executed: None,
            pending: None,
        };
        let st = compute(
            &target(vec![core()]),
            &snap(Some(vec![r])),
            &empty_catalog(),
        );
        assert_eq!(st.total(MigState::New), 4);
        assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    }

    #[test]
    fn a_live_lock_overrides_every_other_code() {
        let mut s = snap(None);
        s.lock = Some(LockRow {
            owner: Some("x".into()),
            ttl: None,
            live: true,
            seconds_left: Some(10.0),
        });
        let st = compute(&target(vec![core()]), &s, &empty_catalog());
        assert_eq!(st.status_code(), StatusCode::Locked);
        s.lock.as_mut().unwrap().live = false;
        let st = compute(&target(vec![core()]), &s, &empty_catalog());
        assert_eq!(st.status_code(), StatusCode::NeedsBootstrap);
    }

    /// 100k names in one array took tens of seconds when membership was by scanning (issue 13):
    /// every check is by set now. Waits with a generous deadline instead of timing it.
    #[test]
    fn huge_arrays_take_linear_time() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut exec: Vec<String> = core().migrations.iter().map(|m| m.name.clone()).collect();
            exec.extend((0..100_000).map(|i| format!("900_unknown_{i}")));
            let pend: Vec<String> = (0..50_000).map(|i| format!("800_pending_{i}")).collect();
            let ghost: Vec<String> = (0..100_000).map(|i| format!("000_ghost_{i}")).collect();
            let rows = vec![
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: "core".into(),
                    last_executed: Some("003_c".into()),
                    executed: Some(exec),
                    pending: Some(pend),
                },
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: "ghost".into(),
                    last_executed: None,
                    executed: Some(ghost.clone()),
                    pending: Some(ghost),
                },
            ];
            let st = compute(&target(vec![core()]), &snap(Some(rows)), &empty_catalog());
            let _ = tx.send(st);
        });
        let st = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("state of 250k names not computed within 2 minutes: quadratic again?");
        let u = |s: &str| st.unknown.iter().find(|u| u.subsystem == s).unwrap();
        assert_eq!(u("core").migrations.len(), 150_000);
        assert_eq!(u("ghost").migrations.len(), 100_000);
        assert_eq!(st.total(MigState::Executed), 4);
    }

    #[test]
    fn schema_matches_and_ranges() {
        let rel = |v: Version, n: usize| Release {
            version: v,
            bundled_plugins: vec![],
            plugins_sorted: true,
            subsystems: vec![SubsystemSpec {
                migrations: core().migrations[..n].to_vec(),
                ..core()
            }],
        };
        let cat = Catalog {
            format: 1,
            source: "t".into(),
            releases: vec![
                rel(Version::new(1, 0, 0), 2),
                rel(Version::new(1, 0, 1), 3),
                rel(Version::new(1, 0, 2), 3),
                rel(Version::new(1, 1, 0), 4),
            ],
        };
        let r = row("core", Some("002_b"), &["000_base", "002_b"], &["001_a"]);
        let st = compute(&target(vec![core()]), &snap(Some(vec![r])), &cat);
        assert_eq!(
            st.schema_matches,
            vec![Version::new(1, 0, 1), Version::new(1, 0, 2)]
        );
        assert_eq!(
            describe_versions(&cat, &st.schema_matches),
            "1.0.1 to 1.0.2"
        );
        assert_eq!(
            describe_versions(
                &cat,
                &[
                    Version::new(1, 0, 0),
                    Version::new(1, 0, 1),
                    Version::new(1, 0, 2)
                ]
            ),
            "1.0.x"
        );
        assert_eq!(
            describe_versions(&cat, &[Version::new(1, 0, 0), Version::new(1, 1, 0)]),
            "1.0.0, 1.1.0"
        );
    }
}
