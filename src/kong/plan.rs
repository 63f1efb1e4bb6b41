//! The steps from the database's state to up to date on the target: backup, what to finish first,
//! each `up` with the Kong version that must run it, the old nodes, each `finish`; through
//! intermediate releases when Kong does not support the jump, through Kong 1.5 for a 0.x
//! database, off Cassandra when the target no longer supports it. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::catalog::{Catalog, Db, SubsystemSpec};
use super::state::{MigState, SchemaState};
use super::target::Target;
use super::version::Version;

/// A release series, (major, minor).
pub type Series = (u32, u32);

/// Kong's long-term-support pairs: upgrades between them are supported in one step.
pub const LTS_PAIRS: &[(Series, Series)] = &[((2, 8), (3, 4)), ((3, 4), (3, 10))];

/// Where Kong's data lives, for the backup command (never a password: pg_dump reads PGPASSWORD
/// or ~/.pgpass).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub schema: Option<String>,
    pub keyspace: String,
}

impl Default for BackupTarget {
    /// Kong's defaults.
    fn default() -> Self {
        BackupTarget {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "kong".into(),
            database: "kong".into(),
            schema: None,
            keyspace: "kong".into(),
        }
    }
}

/// The command lines every finding and plan step writes for this database: one form, quoted
/// for the shell, never a password (PGPASSWORD or ~/.pgpass).
impl BackupTarget {
    /// `psql` connected to Kong's database, before its own flags.
    pub fn psql_prefix(&self) -> String {
        format!(
            "psql -h {} -p {} -U {} -d {}",
            shell_word(&self.host),
            self.port,
            shell_word(&self.user),
            shell_word(&self.database)
        )
    }

    /// `psql ... -c SQL`.
    pub fn psql(&self, sql: &str) -> String {
        format!("{} -c {}", self.psql_prefix(), shell_word(sql))
    }

    /// `pg_dump` of Kong's data (its pg_schema only, when kong.conf sets one) to `LABEL.dump`,
    /// custom format.
    pub fn pg_dump(&self, label: &str) -> String {
        let mut dump = format!(
            "pg_dump -h {} -p {} -U {} -d {}",
            shell_word(&self.host),
            self.port,
            shell_word(&self.user),
            shell_word(&self.database)
        );
        if let Some(s) = &self.schema {
            dump.push_str(&format!(" -n {}", shell_word(s)));
        }
        dump.push_str(&format!(" -Fc -f {label}.dump"));
        dump
    }

    /// A Kong table's name in SQL, qualified by pg_schema when kong.conf sets one.
    pub fn table_sql(&self, name: &str) -> String {
        match &self.schema {
            Some(s) => format!("\"{}\".{name}", s.replace('"', "\"\"")),
            None => name.to_string(),
        }
    }
}

/// What shapes the commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanOptions {
    /// `-c FILE` for every kong command; `None`: Kong's own lookup (/etc/kong/kong.conf).
    pub conf_path: Option<String>,
    /// Words before `kong` in every kong command (`diagnose::Settings::kong_env`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kong_env: Option<String>,
    /// `--db-timeout` to pass to `kong migrations` (seconds), when advised or asked for.
    pub db_timeout: Option<u64>,
    /// `--lock-timeout` to pass (seconds).
    pub lock_timeout: Option<u64>,
    pub backup: BackupTarget,
    /// Rows of the 0.x `apis` table, when counted: `Some(0)` leaves out `migrate-apis`.
    pub legacy_apis: Option<i64>,
    /// The kong version that ran this upgrade's `up`, from its journal: it finishes what that
    /// `up` left pending (the database alone cannot tell an interrupted `up` of a newer release
    /// from a complete one of an older).
    pub ran_up: Option<Version>,
    /// The database's version when this upgrade began, from its journal: the jump is judged from
    /// it.
    pub started_from: Option<Version>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            conf_path: Some("/etc/kong/kong.conf".into()),
            kong_env: None,
            db_timeout: None,
            lock_timeout: None,
            backup: BackupTarget::default(),
            legacy_apis: None,
            ran_up: None,
            started_from: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The migrations lock is live: something is migrating now.
    Wait,
    Backup,
    Bootstrap,
    /// Pending migrations of an earlier `up` must be finished before any new `up`.
    FinishPrevious,
    Up,
    /// Kong 1.5's conversion of 0.x `apis` into services and routes.
    MigrateApis,
    /// Start new-version nodes, shift traffic, stop every old node.
    Nodes,
    Finish,
    MoveToPostgres,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedMigration {
    pub name: String,
    /// `up` leaves it pending; `finish` runs its teardown.
    pub two_phase: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedSubsystem {
    pub subsystem: String,
    pub migrations: Vec<PlannedMigration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub title: String,
    pub why: String,
    /// Exact commands, in order.
    pub commands: Vec<String>,
    /// The Kong version to run the commands with (`None`: no Kong command, or unknown).
    pub kong_version: Option<Version>,
    /// The database the step works on (changes once a Cassandra cluster moves to PostgreSQL).
    pub db: Db,
    /// For up/bootstrap: what runs; for finish: the teardowns.
    pub migrations: Vec<PlannedSubsystem>,
}

impl Step {
    pub fn migration_count(&self) -> usize {
        self.migrations.iter().map(|s| s.migrations.len()).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub db: Db,
    /// The database's version as far as the recorded schema tells.
    pub from: Option<Version>,
    /// Where this upgrade is judged from (see [`origin`]): the jump and the path start here.
    pub origin: Option<Version>,
    pub target: Option<Version>,
    /// The Kong releases whose `up` runs, in order (the target last).
    pub path: Vec<Version>,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
    /// The database needs nothing for the target.
    pub up_to_date: bool,
    /// Why no plan can be made (the database is newer than the target...).
    pub blocked: Option<String>,
}

/// The database's version: the newest release whose lists equal what is recorded (pending
/// included), else the newest matching on `core` alone.
pub fn database_version(state: &SchemaState) -> Option<Version> {
    state
        .schema_matches
        .iter()
        .max()
        .or_else(|| state.core_matches.iter().max())
        .copied()
}

/// Every name recorded per subsystem (executed or pending), as Kong would skip them. Kong's
/// "missing" migrations count as recorded: its `up` never runs them either.
///
/// Names no catalog release lists are left out: no release's list is compared against them, and a
/// database can record 100k of them (issue 13), which cost most of `status`'s time.
fn recorded_sets(state: &SchemaState, catalog: &Catalog) -> HashMap<String, BTreeSet<String>> {
    let listed = catalog_names(catalog);
    let mut map: HashMap<String, BTreeSet<String>> = HashMap::new();
    for s in &state.subsystems {
        let set = map.entry(s.name.clone()).or_default();
        for m in &s.migrations {
            if m.state != MigState::New {
                set.insert(m.name.clone());
            }
        }
    }
    for u in &state.unknown {
        map.entry(u.subsystem.clone()).or_default().extend(
            u.migrations
                .iter()
                .filter(|m| listed.contains(m.as_str()))
                .cloned(),
        );
    }
    map
}

/// Every migration name some catalog release lists, whatever its subsystem.
fn catalog_names(catalog: &Catalog) -> HashSet<&str> {
    catalog
        .releases
        .iter()
        .flat_map(|r| r.subsystems.iter())
        .flat_map(|s| s.migrations.iter())
        .map(|m| m.name.as_str())
        .collect()
}

/// The newest release whose every `core` migration is recorded: a floor for a database whose
/// schema matches no release exactly (an interrupted `up`, a hand edit).
pub fn floor_version(state: &SchemaState, catalog: &Catalog) -> Option<Version> {
    let rec = recorded_sets(state, catalog);
    let core = rec.get("core")?;
    catalog
        .releases
        .iter()
        .filter(|r| {
            r.supports(state.db)
                && r.subsystem("core")
                    .is_some_and(|c| c.migrations.iter().all(|m| core.contains(&m.name)))
        })
        .map(|r| r.version)
        .max()
}

/// [`introduced_in`] for every (subsystem, migration) of the catalog at once: for lookups of many
/// names (a database can record 100k unknown ones), built once instead of scanning per name.
pub fn introduced_index(catalog: &Catalog) -> HashMap<(&str, &str), Version> {
    let mut map: HashMap<(&str, &str), Version> = HashMap::new();
    for r in &catalog.releases {
        for s in &r.subsystems {
            for m in &s.migrations {
                map.entry((s.name.as_str(), m.name.as_str()))
                    .and_modify(|v| *v = (*v).min(r.version))
                    .or_insert(r.version);
            }
        }
    }
    map
}

/// The newest release whose migrations are all recorded (gaps aside), on every subsystem it has
/// that the database records: the level the least advanced part of the schema has reached. After an
/// interrupted upgrade core may match an intermediate release while plugins still match the old
/// one; this is the old one.
pub fn fully_applied_version(state: &SchemaState, catalog: &Catalog) -> Option<Version> {
    // Per subsystem with a row (or unknown names): every name it records.
    let mut rec: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for s in state.subsystems.iter().filter(|s| s.recorded) {
        rec.entry(s.name.as_str()).or_default().extend(
            s.migrations
                .iter()
                .filter(|m| matches!(m.state, MigState::Executed | MigState::Pending))
                .map(|m| m.name.as_str()),
        );
    }
    // Names no release lists cannot complete any release's list (and can be 100k).
    let listed = catalog_names(catalog);
    for u in &state.unknown {
        rec.entry(u.subsystem.as_str()).or_default().extend(
            u.migrations
                .iter()
                .map(String::as_str)
                .filter(|m| listed.contains(m)),
        );
    }
    // A gap (skipped, yet later ones recorded) does not pull the level down: it is its own
    // finding, and the next `up` runs it.
    for g in &state.gaps {
        rec.entry(g.subsystem.as_str())
            .or_default()
            .extend(g.migrations.iter().map(String::as_str));
    }
    catalog
        .releases
        .iter()
        .filter(|r| r.supports(state.db))
        .filter(|r| {
            r.subsystems.iter().all(|s| match rec.get(s.name.as_str()) {
                Some(names) => s.migrations.iter().all(|m| names.contains(m.name.as_str())),
                // Only core must be there; a plugin the database never had is not behind.
                None => s.name != "core",
            })
        })
        .map(|r| r.version)
        .max()
}

/// Where an upgrade is judged from, one rule for every command: the version its journal says
/// the database had when it began; else the recorded schema's release when it matches one on
/// every subsystem; else the release every subsystem has reached (an interrupted `up` leaves
/// core ahead of the plugins: continuing it with a release that runs the same migrations in
/// the same order is the jump from there); else core's match.
pub fn origin(
    state: &SchemaState,
    catalog: &Catalog,
    started_from: Option<Version>,
) -> Option<Version> {
    if state.needs_bootstrap {
        return None;
    }
    started_from
        .or_else(|| state.schema_matches.iter().max().copied())
        .or_else(|| fully_applied_version(state, catalog))
        .or_else(|| database_version(state))
}

/// The first release that lists `migration` in `subsystem`.
pub fn introduced_in(catalog: &Catalog, subsystem: &str, migration: &str) -> Option<Version> {
    catalog
        .releases
        .iter()
        .filter(|r| {
            r.subsystem(subsystem)
                .is_some_and(|s| s.position(migration).is_some())
        })
        .map(|r| r.version)
        .min()
}

fn last_series_of_major(catalog: &Catalog, major: u32) -> Option<(u32, u32)> {
    catalog.series().into_iter().filter(|s| s.0 == major).max()
}

/// Kong's support rule on series: a patch, the next minor, the first minor of the next major
/// from the last minor of the previous one, or an LTS pair.
pub fn supported_series(catalog: &Catalog, a: (u32, u32), b: (u32, u32)) -> bool {
    a == b
        || LTS_PAIRS.contains(&(a, b))
        || (a.0 == b.0 && b.1 == a.1 + 1)
        || (b.0 == a.0 + 1 && b.1 == 0 && last_series_of_major(catalog, a.0) == Some(a))
        // 3.0 accepts databases from 2.1.x on (kong-migrations.md section 6).
        || (b == (3, 0) && a.0 == 2 && a.1 >= 1)
}

/// Whether Kong supports upgrading a database at `from` with Kong `to` in one step.
pub fn supported_jump(catalog: &Catalog, from: Version, to: Version) -> bool {
    to <= from || supported_series(catalog, from.series(), to.series())
}

/// The releases to run from `from` to `to`: the latest patch of each intermediate series on the
/// shortest supported path (LTS pairs shorten it), then `to` itself. Empty when `to <= from`.
pub fn upgrade_path(catalog: &Catalog, from: Version, to: Version) -> Vec<Version> {
    if to <= from {
        return Vec::new();
    }
    if from.series() == to.series() || supported_jump(catalog, from, to) {
        return vec![to];
    }
    let mut nodes: Vec<(u32, u32)> = catalog
        .series()
        .into_iter()
        .filter(|s| *s > from.series() && *s < to.series())
        .collect();
    nodes.push(to.series());
    // Breadth-first over series; trying the furthest jump first makes the first path found
    // take the longest supported strides.
    let start = from.series();
    let mut prev: BTreeMap<(u32, u32), (u32, u32)> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(cur) = queue.pop_front() {
        if cur == to.series() {
            break;
        }
        for next in nodes.iter().rev() {
            if *next > cur && !prev.contains_key(next) && supported_series(catalog, cur, *next) {
                prev.insert(*next, cur);
                queue.push_back(*next);
            }
        }
    }
    let mut series = vec![to.series()];
    let mut cur = to.series();
    while let Some(p) = prev.get(&cur) {
        if *p == start {
            break;
        }
        series.push(*p);
        cur = *p;
    }
    if !prev.contains_key(&to.series()) {
        // No supported path in the catalog (it should not happen between 1.0 and 3.x): go
        // straight and let the finding say so.
        return vec![to];
    }
    series.reverse();
    series
        .iter()
        .map(|s| {
            if *s == to.series() {
                to
            } else {
                catalog
                    .latest_patch(s.0, s.1)
                    .unwrap_or(Version::new(s.0, s.1, 0))
            }
        })
        .collect()
}

/// `-c`, `--db-timeout`, `--lock-timeout` as advised.
struct Cmd<'a> {
    opts: &'a PlanOptions,
}

impl Cmd<'_> {
    fn conf(&self) -> String {
        match &self.opts.conf_path {
            Some(c) => format!(" -c {}", shell_word(c)),
            None => String::new(),
        }
    }

    fn kong_env(&self) -> &str {
        self.opts.kong_env.as_deref().unwrap_or("")
    }

    fn migrations(&self, sub: &str) -> String {
        let mut s = format!("{}kong migrations {sub}{}", self.kong_env(), self.conf());
        if let Some(t) = self.opts.db_timeout {
            s.push_str(&format!(" --db-timeout {t}"));
        }
        if let Some(t) = self.opts.lock_timeout {
            s.push_str(&format!(" --lock-timeout {t}"));
        }
        s
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// "1 row", "3 rows".
pub fn plural(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ver(v: Option<Version>) -> String {
    v.map(|v| format!("Kong {v}"))
        .unwrap_or_else(|| "the target Kong".into())
}

fn list_names(subs: &[PlannedSubsystem], only_two_phase: bool) -> String {
    subs.iter()
        .filter_map(|s| {
            let names: Vec<&str> = s
                .migrations
                .iter()
                .filter(|m| !only_two_phase || m.two_phase)
                .map(|m| m.name.as_str())
                .collect();
            (!names.is_empty()).then(|| format!("{}: {}", s.subsystem, names.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The two-phase migrations of what an `up` ran: the teardowns its `finish` runs.
fn teardowns_of(migs: &[PlannedSubsystem]) -> Vec<PlannedSubsystem> {
    migs.iter()
        .filter_map(|s| {
            let m: Vec<PlannedMigration> = s
                .migrations
                .iter()
                .filter(|m| m.two_phase)
                .cloned()
                .collect();
            (!m.is_empty()).then(|| PlannedSubsystem {
                subsystem: s.subsystem.clone(),
                migrations: m,
            })
        })
        .collect()
}

/// The migrations an earlier `up` left pending, per subsystem.
fn pending_of(state: &SchemaState) -> Vec<PlannedSubsystem> {
    state
        .subsystems
        .iter()
        .filter(|s| s.count(MigState::Pending) > 0)
        .map(|s| PlannedSubsystem {
            subsystem: s.name.clone(),
            migrations: s
                .migrations
                .iter()
                .filter(|m| m.state == MigState::Pending)
                .map(|m| PlannedMigration {
                    name: m.name.clone(),
                    two_phase: m.two_phase,
                })
                .collect(),
        })
        .collect()
}

/// Builds the steps while tracking what the database will have recorded after each.
struct Builder<'a> {
    catalog: &'a Catalog,
    target: &'a Target,
    opts: &'a PlanOptions,
    db: Db,
    recorded: HashMap<String, BTreeSet<String>>,
    steps: Vec<Step>,
    notes: Vec<String>,
    path: Vec<Version>,
}

impl<'a> Builder<'a> {
    fn cmd(&self) -> Cmd<'a> {
        Cmd { opts: self.opts }
    }

    fn step(&mut self, kind: StepKind, title: String, why: String, commands: Vec<String>) {
        self.steps.push(Step {
            kind,
            title,
            why,
            commands,
            kong_version: None,
            db: self.db,
            migrations: Vec::new(),
        });
    }

    fn last_mut(&mut self) -> Option<&mut Step> {
        self.steps.last_mut()
    }

    /// The subsystems a release loads for this operator: those the target loads (the same
    /// `plugins` setting), as the release knows them; the target's own lists on the last hop.
    fn scope(&self, v: Version) -> Vec<SubsystemSpec> {
        if Some(v) == self.target.version {
            return self.target.subsystems.clone();
        }
        let Some(rel) = self.catalog.release(v) else {
            return Vec::new();
        };
        rel.subsystems
            .iter()
            .filter(|s| s.name == "core" || self.target.subsystem(&s.name).is_some())
            .cloned()
            .collect()
    }

    /// What `up` with release `v` runs on top of what is recorded, and records it.
    fn run_up(&mut self, subs: &[SubsystemSpec]) -> Vec<PlannedSubsystem> {
        let mut out = Vec::new();
        for s in subs {
            let set = self.recorded.entry(s.name.clone()).or_default();
            let mut migs = Vec::new();
            for m in &s.migrations {
                if set.insert(m.name.clone()) {
                    migs.push(PlannedMigration {
                        name: m.name.clone(),
                        two_phase: m.two_phase(self.db),
                    });
                }
            }
            if !migs.is_empty() {
                out.push(PlannedSubsystem {
                    subsystem: s.name.clone(),
                    migrations: migs,
                });
            }
        }
        out
    }

    fn backup(&mut self, from: Option<Version>, to: Option<Version>) {
        let label = to
            .map(|v| format!("kong-before-{v}"))
            .unwrap_or_else(|| "kong-before-upgrade".into());
        let b = &self.opts.backup;
        let (commands, why) = match self.db {
            Db::Postgres => {
                let mut cmds = vec![b.pg_dump(&label)];
                // db_export exists from Kong 1.5 on; it is run with the version in service.
                if from.is_some_and(|v| v >= Version::new(1, 5, 0)) {
                    cmds.push(format!(
                        "kong config db_export {label}.yaml{}",
                        self.cmd().conf()
                    ));
                }
                (cmds, format!(
                    "After `finish` the only way back is a restore (pg_restore --clean --if-exists -d {} {label}.dump). pg_dump reads the password from PGPASSWORD or ~/.pgpass.",
                    shell_word(&b.database)
                ))
            }
            Db::Cassandra => (
                vec![format!(
                    "nodetool snapshot -t {label} {}   # on every Cassandra node",
                    shell_word(&b.keyspace)
                )],
                "After `finish` the only way back is restoring the snapshot on every node."
                    .to_string(),
            ),
        };
        self.step(
            StepKind::Backup,
            "Back up the database".into(),
            why,
            commands,
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = from;
        }
    }

    fn up(&mut self, v: Option<Version>, migs: Vec<PlannedSubsystem>, legacy_import: bool) {
        let total: usize = migs.iter().map(|s| s.migrations.len()).sum();
        let two: usize = migs
            .iter()
            .flat_map(|s| s.migrations.iter())
            .filter(|m| m.two_phase)
            .count();
        let phases = if two == 0 {
            "none two-phase".to_string()
        } else {
            format!("{two} two-phase, left pending until finish")
        };
        let mut why = if legacy_import {
            format!("Imports the 0.14 schema and runs {total} migrations ({phases}). ")
        } else {
            format!(
                "Runs {total} migration{} ({phases}): {}. ",
                if total == 1 { "" } else { "s" },
                list_names(&migs, false)
            )
        };
        why.push_str(if two == 0 {
            "Run it once, from one place, while the old nodes keep serving. Nothing is left pending: this release needs no finish."
        } else {
            "Run it once, from one place, while the old nodes keep serving; no Admin API changes until finish."
        });
        let cmd = self.cmd().migrations("up");
        self.step(
            StepKind::Up,
            format!("Run `kong migrations up` with {}", ver(v)),
            why,
            vec![cmd],
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = v;
            s.migrations = migs;
        }
    }

    fn nodes(&mut self, v: Option<Version>, intermediate: bool) {
        let conf = self.cmd().conf();
        let mut why = format!(
            "New nodes work on the migrated database beside the old ones. Shift traffic to the {} nodes, then stop every old node, data planes included: `finish` makes the schema unusable for them.",
            ver(v)
        );
        if intermediate {
            why.push_str(" With a maintenance window, stop all nodes once instead and run this release's up and finish back to back.");
        }
        self.step(
            StepKind::Nodes,
            format!("Replace the old nodes with {} nodes", ver(v)),
            why,
            vec![
                format!("kong start{conf}   # on each new node"),
                "kong quit   # on each old node, once traffic has moved".into(),
                "curl -s http://127.0.0.1:8001/ | grep -o '\"version\":\"[^\"]*\"'   # on each node: only the new version may answer".into(),
            ],
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = v;
        }
    }

    fn finish(&mut self, kind: StepKind, v: Option<Version>, migs: Vec<PlannedSubsystem>) {
        let title = match kind {
            StepKind::FinishPrevious => format!(
                "Finish the earlier upgrade: `kong migrations finish` with {}",
                v.map(|v| format!("Kong {v}, the version that ran up"))
                    .unwrap_or_else(|| "the Kong version that ran up".into())
            ),
            _ => format!("Run `kong migrations finish` with {}", ver(v)),
        };
        let why = match kind {
            StepKind::FinishPrevious => format!(
                "An earlier `up` left these pending: {}. `up` refuses to run until they are finished. Stop every node older than that version first.",
                list_names(&migs, false)
            ),
            _ => format!(
                "Runs the teardowns of {}. After this, older nodes can no longer run against this database; rollback means restoring the backup.",
                list_names(&migs, true)
            ),
        };
        let cmd = self.cmd().migrations("finish");
        self.step(kind, title, why, vec![cmd]);
        if let Some(s) = self.last_mut() {
            s.kong_version = v;
            s.migrations = migs;
        }
    }

    /// One release's cycle: up, nodes, finish (when something is two-phase). Returns false when
    /// the release runs nothing (folded into the next hop).
    fn hop(&mut self, v: Version, last: bool) -> bool {
        let scope = self.scope(v);
        let migs = self.run_up(&scope);
        if migs.is_empty() && !last {
            self.notes.push(format!(
                "Kong {v} changes nothing in the database after the previous step: its hop is skipped."
            ));
            return false;
        }
        self.path.push(v);
        let teardowns = teardowns_of(&migs);
        if !migs.is_empty() {
            self.up(Some(v), migs, false);
        }
        self.nodes(Some(v), !last);
        if !teardowns.is_empty() {
            self.finish(StepKind::Finish, Some(v), teardowns);
        }
        true
    }

    fn hops(&mut self, from: Option<Version>, to: Version) {
        let path = match from {
            Some(f) => upgrade_path(self.catalog, f, to),
            None => vec![to],
        };
        let n = path.len();
        for (i, v) in path.into_iter().enumerate() {
            self.hop(v, i + 1 == n);
        }
    }

    fn wait(&mut self, seconds_left: Option<f64>) {
        self.step(
            StepKind::Wait,
            "Wait: the migrations lock is live".into(),
            format!(
                "Something is migrating right now, or a killed run left the lock{}. Nothing else may start until it is gone.",
                seconds_left
                    .map(|s| format!(" (it expires in {} s)", s.max(0.0).ceil()))
                    .unwrap_or_default()
            ),
            vec!["kongrade status   # exit code 6 while the lock is live".into()],
        );
    }

    /// An empty database: bootstrap with the target, start its nodes.
    fn bootstrap(&mut self, to: Option<Version>) {
        let target = self.target;
        let all = self.run_up(&target.subsystems);
        let cmd = self.cmd().migrations("bootstrap");
        self.step(
            StepKind::Bootstrap,
            format!("Bootstrap the database with {}", ver(to)),
            "No schema_meta table: Kong has never run on this database. Bootstrap runs every migration, up and teardown, in one go.".into(),
            vec![cmd],
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = to;
            s.migrations = all;
        }
        let conf = self.cmd().conf();
        self.step(
            StepKind::Nodes,
            format!("Start the {} nodes", ver(to)),
            "The database is ready once bootstrap prints 'Database is up-to-date'.".into(),
            vec![format!("kong start{conf}")],
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = to;
        }
        if let Some(v) = to {
            self.path.push(v);
        }
    }

    /// A 0.x database (schema_migrations, no schema_meta): Kong `via` (1.0 to 1.5) imports it
    /// with `up`; `migrate-apis` needs the 0.14 tables, so it comes before `finish`.
    fn legacy_import(&mut self, via: Version, last: bool) {
        self.notes.push(
            "Kong 1.x imports only a 0.14.1 database: an older 0.x goes to 0.14.1 first.".into(),
        );
        let scope = self.scope(via);
        let migs = self.run_up(&scope);
        self.path.push(via);
        let teardowns = teardowns_of(&migs);
        self.up(Some(via), migs, true);
        let apis = self.opts.legacy_apis;
        if apis != Some(0) {
            let cmd = format!(
                "{}kong migrations migrate-apis{}",
                self.cmd().kong_env(),
                self.cmd().conf()
            );
            self.step(
                StepKind::MigrateApis,
                format!("Convert the 0.x `apis` to services and routes with Kong {via}"),
                format!(
                    "{}Kong 1.5 converts them (routes keep path_handling = v0); it needs the 0.14 tables, so run it after up and before finish, which drops schema_migrations.",
                    match apis {
                        Some(n) => format!("The `apis` table holds {}. ", plural(n, "row", "rows")),
                        None => "Only if the `apis` table has rows. ".into(),
                    }
                ),
                vec![cmd],
            );
            if let Some(s) = self.last_mut() {
                s.kong_version = Some(via);
            }
        }
        self.nodes(Some(via), !last);
        self.finish(StepKind::Finish, Some(via), teardowns);
    }

    /// Cassandra ends at 3.3.x: export at `pivot`, bootstrap PostgreSQL with the same version,
    /// import; the rest of the way runs on PostgreSQL.
    fn move_to_postgres(&mut self, pivot: Version) {
        let conf = self.cmd().conf();
        let file = format!("kong-{pivot}.yaml");
        self.step(
            StepKind::MoveToPostgres,
            format!("Move from Cassandra to PostgreSQL with Kong {pivot}"),
            format!(
                "Kong 3.4.0 and later cannot use Cassandra. Export the configuration with Kong {pivot}, bootstrap an empty PostgreSQL database with the same version and import it; then set database = postgres (and pg_*) in kong.conf on every node. db_export carries configuration entities, not rate-limiting counters, OAuth2 tokens or sessions."
            ),
            vec![
                format!("kong config db_export {file}{conf}   # still on Cassandra"),
                format!("KONG_DATABASE=postgres kong migrations bootstrap{conf}"),
                format!("KONG_DATABASE=postgres kong config db_import {file}{conf}"),
            ],
        );
        if let Some(s) = self.last_mut() {
            s.kong_version = Some(pivot);
        }
        self.db = Db::Postgres;
        // PostgreSQL now holds exactly the pivot release's migrations.
        self.recorded.clear();
        let scope = self.scope(pivot);
        for s in &scope {
            let set = self.recorded.entry(s.name.clone()).or_default();
            set.extend(s.migrations.iter().map(|m| m.name.clone()));
        }
        self.path.push(pivot);
    }
}

/// The plan with Kong's default flags (`-c /etc/kong/kong.conf`, no timeouts).
pub fn plan(state: &SchemaState, target: &Target, catalog: &Catalog, db: Db) -> Plan {
    plan_with(state, target, catalog, db, &PlanOptions::default())
}

/// Migrations recorded in the database that only releases newer than the target list.
pub fn newer_than_target(
    state: &SchemaState,
    catalog: &Catalog,
    to: Option<Version>,
) -> Vec<(String, String, Version)> {
    let Some(to) = to else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let index = introduced_index(catalog);
    for u in &state.unknown {
        for m in &u.migrations {
            if let Some(&v) = index.get(&(u.subsystem.as_str(), m.as_str())) {
                if v > to {
                    out.push((u.subsystem.clone(), m.clone(), v));
                }
            }
        }
    }
    out
}

pub fn plan_with(
    state: &SchemaState,
    target: &Target,
    catalog: &Catalog,
    db: Db,
    opts: &PlanOptions,
) -> Plan {
    let to = target.version;
    let from = if state.needs_bootstrap {
        None
    } else {
        database_version(state)
    };
    let mut b = Builder {
        catalog,
        target,
        opts,
        db,
        recorded: recorded_sets(state, catalog),
        steps: Vec::new(),
        notes: Vec::new(),
        path: Vec::new(),
    };
    let origin = origin(state, catalog, opts.started_from);
    let mut plan = Plan {
        db,
        from,
        origin,
        target: to,
        path: Vec::new(),
        steps: Vec::new(),
        notes: Vec::new(),
        up_to_date: false,
        blocked: None,
    };

    if let Some(l) = state.lock.as_ref().filter(|l| l.live) {
        b.wait(l.seconds_left);
    }

    let newer = newer_than_target(state, catalog, to);
    if let (Some(to), Some((_, _, v))) = (to, newer.iter().max_by_key(|n| n.2)) {
        plan.blocked = Some(format!(
            "The database holds migrations of Kong {v}, newer than the target Kong {to}: Kong has no down migrations. Run Kong {v} or later, or restore the backup taken before that upgrade."
        ));
        plan.steps = b.steps;
        return plan;
    }

    let cassandra_ends = |v: Version| {
        catalog
            .release(v)
            .map(|r| !r.supports(Db::Cassandra))
            .unwrap_or(v >= Version::new(3, 4, 0))
    };

    if state.needs_bootstrap && !state.legacy_table {
        if db == Db::Cassandra && to.is_some_and(cassandra_ends) {
            plan.blocked = Some(format!(
                "{} cannot use Cassandra: point kong.conf at PostgreSQL (database = postgres) and bootstrap there.",
                ver(to)
            ));
            plan.steps = b.steps;
            return plan;
        }
        b.bootstrap(to);
        return finish_plan(plan, b);
    }

    if state.up_to_date() {
        plan.up_to_date = true;
        if let (Some(f), Some(t)) = (from, to) {
            if f != t {
                b.notes.push(format!(
                    "The database already has every migration of Kong {t}: only the nodes change."
                ));
            }
        }
        return finish_plan(plan, b);
    }

    // The export runs with the kong that serves now: the release the upgrade starts from.
    b.backup(origin.or(from), to);

    // Where the walk starts: the imported 1.5 for a 0.x database, the version that ran `up`
    // once its pending migrations are finished, else the recorded schema's version.
    let mut start = from;
    if state.needs_bootstrap {
        let via = to
            .filter(|t| t.major == 1)
            .or_else(|| catalog.latest_patch(1, 5))
            .unwrap_or(Version::new(1, 5, 1));
        b.legacy_import(via, to == Some(via));
        start = Some(via);
    } else if state.any(MigState::Pending) {
        let pending = pending_of(state);
        if !state.any(MigState::New) {
            // `up` already ran with a release listing what the target lists: this upgrade is
            // half way; the old nodes go, then finish.
            let v = to.or(from);
            b.nodes(v, false);
            b.finish(StepKind::Finish, v, pending);
            if let Some(v) = v {
                b.path.push(v);
            }
            return finish_plan(plan, b);
        }
        // The kong that ran this upgrade's `up` finishes what it left; without a journal, the
        // release the recorded schema matches.
        b.finish(StepKind::FinishPrevious, opts.ran_up.or(from), pending);
    }
    // The walk starts where the upgrade is judged from (an interrupted `up` is continued, not
    // re-walked from core's intermediate release), so the path and the jump finding agree.
    if !state.needs_bootstrap && origin.is_some() {
        if start != origin && state.schema_matches.is_empty() {
            if let Some(o) = origin {
                b.notes.push(format!(
                    "The recorded schema matches no release exactly; every subsystem has reached Kong {o} (or this upgrade's journal says it began there), so the path starts there."
                ));
            }
        }
        start = origin;
    }
    if start.is_none() {
        start = floor_version(state, catalog);
        if let Some(f) = start {
            b.notes.push(format!(
                "The recorded schema matches no release exactly; it has at least every core migration of Kong {f}, so the path starts there."
            ));
        }
    }

    let Some(to) = to else {
        // A target read from a Lua tree without a version: one `up` with it.
        let migs = b.run_up(&target.subsystems);
        let teardowns = teardowns_of(&migs);
        b.up(None, migs, false);
        b.nodes(None, false);
        if !teardowns.is_empty() {
            b.finish(StepKind::Finish, None, teardowns);
        }
        return finish_plan(plan, b);
    };

    if b.db == Db::Cassandra && cassandra_ends(to) {
        // Upgrade on Cassandra to the 2.8 LTS (or stay on the database's 2.8+), move, go on.
        let pivot = match start {
            Some(s) if s >= Version::new(2, 8, 0) => s,
            _ => catalog.latest_patch(2, 8).unwrap_or(Version::new(2, 8, 5)),
        };
        if start.is_some_and(|s| s < pivot) {
            b.hops(start, pivot);
        }
        b.move_to_postgres(pivot);
        start = Some(pivot);
    }

    let walked = b.path.len();
    b.hops(start, to);
    if let Some(f) = start {
        if !supported_jump(catalog, f, to) {
            let via: Vec<String> = b.path[walked..].iter().map(|v| v.to_string()).collect();
            b.notes.insert(
                0,
                format!(
                    "Kong supports upgrades between patch releases, adjacent minor releases, the LTS pairs 2.8 -> 3.4 -> 3.10 and 2.1+ -> 3.0, so Kong {f} -> {to} goes through {}.",
                    via.join(" -> ")
                ),
            );
        }
    }
    finish_plan(plan, b)
}

fn finish_plan(mut plan: Plan, b: Builder<'_>) -> Plan {
    plan.steps = b.steps;
    plan.notes = b.notes;
    plan.path = b.path;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::snapshot::{LockRow, SchemaMetaRow, Snapshot};
    use crate::kong::state::compute;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn cat() -> &'static Catalog {
        Catalog::embedded()
    }

    fn target(version: &str, db: Db) -> Target {
        let rel = cat().release(v(version)).unwrap();
        Target::from_release(rel, db, &["bundled".to_string()], &[], "catalog")
    }

    /// schema_meta rows as bootstrap at `version` leaves them.
    fn rows_at(version: &str, db: Db) -> Vec<SchemaMetaRow> {
        let rel = cat().release(v(version)).unwrap();
        rel.subsystems
            .iter()
            .map(|s| SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: s.name.clone(),
                last_executed: s.migrations.last().map(|m| m.name.clone()),
                executed: Some(s.migrations.iter().map(|m| m.name.clone()).collect()),
                pending: Some(vec![]),
            })
            .filter(|_| rel.supports(db))
            .collect()
    }

    fn state(rows: Option<Vec<SchemaMetaRow>>, t: &Target) -> SchemaState {
        let mut s = Snapshot::empty(t.db, "public");
        s.schema_meta = rows;
        compute(t, &s, cat())
    }

    fn kinds(p: &Plan) -> Vec<(StepKind, Option<String>)> {
        p.steps
            .iter()
            .map(|s| (s.kind, s.kong_version.map(|v| v.to_string())))
            .collect()
    }

    #[test]
    fn the_support_rule() {
        let c = cat();
        assert!(supported_jump(c, v("3.4.0"), v("3.4.2")));
        assert!(supported_jump(c, v("3.4.2"), v("3.5.0")));
        assert!(supported_jump(c, v("2.8.5"), v("3.4.2")));
        assert!(supported_jump(c, v("2.8.5"), v("3.0.0")));
        assert!(supported_jump(c, v("1.5.1"), v("2.0.5")));
        assert!(supported_jump(c, v("3.4.2"), v("3.10.0")));
        assert!(!supported_jump(c, v("3.4.2"), v("3.9.3")));
        // 3.0 accepts databases from 2.1.x on.
        assert!(supported_jump(c, v("2.7.2"), v("3.0.0")));
        assert!(supported_jump(c, v("2.1.4"), v("3.0.2")));
        assert!(!supported_jump(c, v("2.0.5"), v("3.0.0")));
        assert!(!supported_jump(c, v("2.0.5"), v("3.4.2")));
        assert!(!supported_jump(c, v("1.4.3"), v("2.0.0")));
        // Downgrades are not "jumps": the unknown-migrations finding covers them.
        assert!(supported_jump(c, v("3.9.3"), v("3.4.2")));
    }

    #[test]
    fn paths_take_lts_strides_and_the_latest_patches() {
        let c = cat();
        let p: Vec<String> = upgrade_path(c, v("2.8.5"), v("3.9.3"))
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(p, ["3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.8.1", "3.9.3"]);
        let p: Vec<String> = upgrade_path(c, v("1.5.1"), v("3.4.2"))
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            p,
            // 2.1 -> 3.0 is supported (3.0 accepts 2.1.x on), which is shorter than the 2.8 LTS.
            ["2.0.5", "2.1.4", "3.0.2", "3.1.1", "3.2.2", "3.3.1", "3.4.2"]
        );
        assert_eq!(upgrade_path(c, v("3.4.2"), v("3.4.2")), vec![]);
        assert_eq!(upgrade_path(c, v("3.4.0"), v("3.4.2")), vec![v("3.4.2")]);
        // 3.10 is not in the catalog yet; the LTS pair still applies.
        assert_eq!(upgrade_path(c, v("3.4.2"), v("3.10.0")), vec![v("3.10.0")]);
    }

    #[test]
    fn nothing_to_do_on_an_up_to_date_database() {
        let t = target("3.4.2", Db::Postgres);
        let s = state(Some(rows_at("3.4.2", Db::Postgres)), &t);
        let p = plan(&s, &t, cat(), Db::Postgres);
        assert!(p.up_to_date);
        assert!(p.steps.is_empty(), "{:?}", p.steps);
        assert_eq!(p.from, Some(v("3.4.2")));
    }

    #[test]
    fn an_empty_database_is_bootstrapped() {
        let t = target("3.4.2", Db::Postgres);
        let s = state(None, &t);
        let p = plan(&s, &t, cat(), Db::Postgres);
        assert_eq!(
            kinds(&p),
            vec![
                (StepKind::Bootstrap, Some("3.4.2".into())),
                (StepKind::Nodes, Some("3.4.2".into()))
            ]
        );
        assert_eq!(
            p.steps[0].commands,
            ["kong migrations bootstrap -c /etc/kong/kong.conf"]
        );
        assert_eq!(
            p.steps[0].migration_count(),
            t.subsystems
                .iter()
                .map(|s| s.migrations.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn pending_with_new_finishes_first_with_the_version_that_ran_up() {
        let t = target("3.9.3", Db::Postgres);
        let mut rows = rows_at("2.8.5", Db::Postgres);
        // `up` with 3.4.2: 016_280_to_300 pending, the one-phase ones executed.
        for r in rows.iter_mut().filter(|r| r.subsystem == "core") {
            r.pending = Some(vec!["016_280_to_300".into()]);
            for m in [
                "017_300_to_310",
                "018_310_to_320",
                "019_320_to_330",
                "020_330_to_340",
            ] {
                r.executed.as_mut().unwrap().push(m.into());
            }
        }
        let s = state(Some(rows), &t);
        let p = plan(&s, &t, cat(), Db::Postgres);
        assert_eq!(p.steps[0].kind, StepKind::Backup);
        assert_eq!(p.steps[1].kind, StepKind::FinishPrevious);
        // Plugins are not at 3.4 in this synthetic row set, so only core decides.
        assert_eq!(
            p.steps[1].kong_version,
            s.core_matches.iter().max().copied()
        );
        assert_eq!(
            p.steps[1].migrations[0].migrations[0].name,
            "016_280_to_300"
        );
    }

    #[test]
    fn a_live_lock_comes_first() {
        let t = target("3.4.2", Db::Postgres);
        let mut snap = Snapshot::empty(Db::Postgres, "public");
        snap.schema_meta = Some(rows_at("2.8.5", Db::Postgres));
        snap.lock = Some(LockRow {
            owner: Some("x".into()),
            ttl: None,
            live: true,
            seconds_left: Some(42.0),
        });
        let s = compute(&t, &snap, cat());
        let p = plan(&s, &t, cat(), Db::Postgres);
        assert_eq!(p.steps[0].kind, StepKind::Wait);
        assert!(p.steps[0].why.contains("42 s"));
    }

    #[test]
    fn newer_database_blocks() {
        let t = target("3.4.2", Db::Postgres);
        let s = state(Some(rows_at("3.9.3", Db::Postgres)), &t);
        let p = plan(&s, &t, cat(), Db::Postgres);
        assert!(
            p.blocked.as_deref().unwrap_or("").contains("3.9.0"),
            "{p:?}"
        );
    }

    #[test]
    fn cassandra_moves_to_postgres_at_the_28_lts() {
        let t = target("3.4.2", Db::Cassandra);
        let s = state(Some(rows_at("2.7.2", Db::Cassandra)), &t);
        let p = plan(&s, &t, cat(), Db::Cassandra);
        let k = kinds(&p);
        assert_eq!(k[0].0, StepKind::Backup);
        assert!(p.steps[0].commands[0].starts_with("nodetool snapshot"));
        let mv = p
            .steps
            .iter()
            .position(|s| s.kind == StepKind::MoveToPostgres)
            .unwrap();
        assert_eq!(p.steps[mv].kong_version, Some(v("2.8.5")));
        // 2.7 -> 2.8 on Cassandra first, 2.8 -> 3.4 on PostgreSQL after.
        assert!(p.steps[..mv]
            .iter()
            .any(|s| s.kind == StepKind::Up && s.kong_version == Some(v("2.8.5"))));
        let after: Vec<&Step> = p.steps[mv + 1..].iter().collect();
        assert!(after.iter().all(|s| s.db == Db::Postgres));
        assert_eq!(after[0].kind, StepKind::Up);
        assert_eq!(after[0].kong_version, Some(v("3.4.2")));
    }

    #[test]
    fn timeouts_and_conf_reach_the_commands() {
        let t = target("3.4.2", Db::Postgres);
        let s = state(Some(rows_at("2.8.5", Db::Postgres)), &t);
        let opts = PlanOptions {
            conf_path: Some("/srv/kong conf/kong.conf".into()),
            db_timeout: Some(180),
            lock_timeout: Some(600),
            ..PlanOptions::default()
        };
        let p = plan_with(&s, &t, cat(), Db::Postgres, &opts);
        let up = p.steps.iter().find(|s| s.kind == StepKind::Up).unwrap();
        assert_eq!(
            up.commands,
            ["kong migrations up -c '/srv/kong conf/kong.conf' --db-timeout 180 --lock-timeout 600"]
        );
    }
}
