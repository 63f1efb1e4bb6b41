//! What a store read from Kong's database, row for row, before any interpretation. Stores fill it;
//! `state::compute` interprets it. Kept raw so that malformed rows reach the diagnosis intact.

use serde::{Deserialize, Serialize};

use super::catalog::Db;

/// One `schema_meta` row. Arrays/sets may be NULL in a damaged database, so every column is
/// optional here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaMetaRow {
    pub key: String,
    pub subsystem: String,
    pub last_executed: Option<String>,
    pub executed: Option<Vec<String>>,
    pub pending: Option<Vec<String>>,
}

/// Tests: the `schema_meta` of a PostgreSQL database where every migration of `release` ran,
/// but those named in `pending` (recorded as pending, as an `up` without its `finish` leaves).
#[cfg(test)]
pub(crate) fn recorded_at(release: &super::catalog::Release, pending: &[&str]) -> Snapshot {
    let rows = release
        .subsystems
        .iter()
        .map(|s| {
            let (p, e): (Vec<String>, Vec<String>) = s
                .migrations
                .iter()
                .map(|m| m.name.clone())
                .partition(|n| pending.contains(&n.as_str()));
            SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: s.name.clone(),
                last_executed: e.last().cloned(),
                executed: Some(e),
                pending: Some(p),
            }
        })
        .collect();
    let mut snap = Snapshot::empty(super::catalog::Db::Postgres, "public");
    snap.schema_meta = Some(rows);
    snap.locks_table = true;
    snap
}

/// The `migrations` row of the `locks` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LockRow {
    pub owner: Option<String>,
    /// The ttl column as the server renders it in UTC (PostgreSQL); `None` on Cassandra, where the
    /// row's TTL is the expiry.
    pub ttl: Option<String>,
    /// Live by Kong's own rule (PostgreSQL: `ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC'`;
    /// Cassandra: the row exists).
    pub live: bool,
    /// Seconds until the lock expires; negative when it already has (PostgreSQL keeps the row until
    /// the next taker deletes it).
    pub seconds_left: Option<f64>,
}

impl LockRow {
    /// A PostgreSQL row whose ttl is NULL. Kong never writes one, and never removes one: its
    /// purge is `DELETE ... WHERE ttl < now` and its take is `INSERT ... ON CONFLICT DO NOTHING`,
    /// so every later bootstrap, up and finish finds the lock taken, prints "aborted: another node
    /// is performing database changes" and exits 0 having done nothing. (Cassandra rows have no
    /// ttl column: the row's own TTL ends them.)
    pub fn without_ttl(&self, db: Db) -> bool {
        db == Db::Postgres && !self.live && self.ttl.is_none() && self.seconds_left.is_none()
    }
}

/// One row of `clustering_data_planes` (hybrid mode). Only the columns the table has at the
/// database's version are filled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataPlaneRow {
    pub id: String,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub sync_status: Option<String>,
    /// The hash of the configuration the data plane runs (compare across data planes).
    #[serde(default)]
    pub config_hash: Option<String>,
    /// Seconds since `last_seen`, computed by the database clock (never the local one).
    pub last_seen_secs_ago: Option<f64>,
    pub last_seen: Option<String>,
    /// Seconds until the row's `ttl` (Kong purges the row after it; 2.2+), by the database clock.
    #[serde(default)]
    pub ttl_secs_left: Option<f64>,
}

/// Everything a store read in one pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub db: Db,
    /// The server's version string (`SHOW server_version`, or Cassandra's release_version).
    pub server_version: String,
    /// Where Kong's tables were looked for: the PostgreSQL schema or the Cassandra keyspace.
    pub namespace: String,
    /// `None`: there is no `schema_meta` table at all (needs bootstrap, or a pre-1.0 database).
    pub schema_meta: Option<Vec<SchemaMetaRow>>,
    /// Whether a `locks` table exists (1.0+ bootstrap creates it with `schema_meta`).
    pub locks_table: bool,
    pub lock: Option<LockRow>,
    /// The pre-1.0 `schema_migrations` table: `None` if absent, else its rows (id, migrations).
    pub legacy_migrations: Option<Vec<(String, Vec<String>)>>,
    /// `None` when the table does not exist.
    pub data_planes: Option<Vec<DataPlaneRow>>,
    /// Routes whose paths already carry 3.0's `~` while core `016_280_to_300` is not recorded
    /// (`kong::half_applied`). `None`: not read: 016's SQL has not run, or the store does not
    /// look (Cassandra, the training cluster).
    #[serde(default)]
    pub tilde_routes: Option<TildeRoutes>,
}

/// Routes with a path that begins with `~`, counted over the whole table, some of them listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TildeRoutes {
    pub count: i64,
    /// (id, name, paths) as stored (raw: the finding escapes what it shows), the lowest ids.
    pub listed: Vec<(String, Option<String>, Vec<String>)>,
    /// What the server shows of 016's rewrite at work in other sessions (PostgreSQL's
    /// pg_stat_activity). Unless it is `NotRunning` the routes are not read.
    #[serde(default)]
    pub rewrite: RewriteSeen,
}

/// Whether another session is running core 016's rewrite, as far as this role can see: three
/// answers, since PostgreSQL hides other roles' queries from a role without `pg_read_all_stats`
/// (`<insufficient privilege>`, state NULL), and a hidden session is not a session that is idle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewriteSeen {
    /// No session in this database sends 016's statements, and none is hidden from us.
    #[default]
    NotRunning,
    /// A session sends 016's statements: the run is alive, whatever its lock says.
    Running,
    /// None we can see does, but sessions of other roles in this database hide their queries
    /// from `role` (the role kongrade connects as): one of them may be the rewrite.
    CannotTell {
        role: String,
        /// The roles whose sessions are hidden (distinct, sorted).
        hidden: Vec<String>,
        /// Their sessions' `application_name`s (distinct, sorted; empty ones left out): shown
        /// to every role, so an agent can be told from Kong (3.4+ connects as `kong`).
        #[serde(default)]
        applications: Vec<String>,
    },
}

impl TildeRoutes {
    /// Counts one route read by a store that filters nothing itself (Cassandra), keeping the
    /// lowest ids listed as PostgreSQL's `ORDER BY id LIMIT` does.
    pub fn add(&mut self, id: String, name: Option<String>, paths: Vec<String>) {
        if !paths.iter().any(|p| super::half_applied::rewritten(p)) {
            return;
        }
        self.count += 1;
        let at = self.listed.partition_point(|(i, _, _)| *i < id);
        if at < super::preflight::LIST_MAX {
            self.listed.insert(at, (id, name, paths));
            self.listed.truncate(super::preflight::LIST_MAX);
        }
    }
}

impl Snapshot {
    /// An empty snapshot of a database that holds nothing of Kong's.
    pub fn empty(db: Db, namespace: &str) -> Snapshot {
        Snapshot {
            db,
            server_version: String::new(),
            namespace: namespace.to_string(),
            schema_meta: None,
            locks_table: false,
            lock: None,
            legacy_migrations: None,
            data_planes: None,
            tilde_routes: None,
        }
    }
}
