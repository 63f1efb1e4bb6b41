//! Kong states on Cassandra, recorded as Kong's Cassandra connector records them
//! (kong-migrations.md section 2: one-phase `up` adds to `executed` and sets `last_executed`,
//! two-phase `up` adds to `pending`, `finish` moves pending to executed), from the embedded
//! catalog's `cassandra` phases. A state is served by the CQL test server (`support::cql`), or,
//! when `KONGRADE_TEST_CASSANDRA=host:port` is set, written into a fresh keyspace of that real
//! cluster through the scylla driver and dropped afterwards (`KONGRADE_TEST_CASSANDRA_USER` /
//! `_PASSWORD` log in when it has authentication on).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::store::cassandra::CassandraOptions;

use super::cql::{kong_tables, now_millis, CqlServer, ServerState, Table, TlsFiles, Val};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetaRow {
    pub key: String,
    pub subsystem: String,
    pub last_executed: Option<String>,
    /// Sets in Cassandra: order does not matter, an empty one is NULL.
    pub executed: Vec<String>,
    pub pending: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct DataPlane {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub version: Option<String>,
    pub sync_status: Option<String>,
    /// How long ago it last reported, by the server's clock.
    pub seen_secs_ago: i64,
}

/// A `routes` row: id (a uuid), name, paths.
pub type RouteRow = (String, Option<String>, Vec<String>);

/// What Kong's keyspace holds. `None` tables do not exist.
#[derive(Clone, Debug, Default)]
pub struct KongKeyspace {
    /// Keyed by (key, subsystem).
    pub schema_meta: Option<BTreeMap<(String, String), MetaRow>>,
    pub locks_table: bool,
    /// The `migrations` lock row: owner and TTL in seconds.
    pub lock: Option<(String, i32)>,
    pub schema_migrations: Option<Vec<(String, Vec<String>)>>,
    /// `with_23`: the table has Kong 2.3's version and sync_status columns.
    pub data_planes: Option<(bool, Vec<DataPlane>)>,
    /// Other tables (a 0.x keyspace's `apis`...), created empty.
    pub other_tables: Vec<String>,
    /// Kong's `routes`, when the fixture has it.
    pub routes: Option<Vec<RouteRow>>,
    /// A `targets` table; `true`: with the `cache_key` column core 016's CQL adds.
    pub targets: Option<bool>,
}

fn release(v: &str) -> &'static kongrade::kong::catalog::Release {
    Catalog::embedded()
        .release(v.parse().expect("version"))
        .expect("release in catalog")
}

impl KongKeyspace {
    /// A keyspace with no table at all (created, never bootstrapped).
    pub fn empty() -> KongKeyspace {
        KongKeyspace::default()
    }

    /// The tables `kong migrations bootstrap` creates.
    fn bootstrap_tables(&mut self) {
        if self.schema_meta.is_none() {
            self.schema_meta = Some(BTreeMap::new());
        }
        self.locks_table = true;
    }

    fn row(&mut self, sub: &str) -> &mut MetaRow {
        self.bootstrap_tables();
        let meta = self.schema_meta.as_mut().expect("bootstrapped");
        meta.entry(("schema_meta".to_string(), sub.to_string()))
            .or_insert_with(|| MetaRow {
                key: "schema_meta".into(),
                subsystem: sub.into(),
                ..Default::default()
            })
    }

    /// `up` of a one-phase migration, or `finish` of a pending one.
    pub fn record_executed(&mut self, sub: &str, name: &str) {
        let r = self.row(sub);
        r.pending.retain(|p| p != name);
        if !r.executed.iter().any(|e| e == name) {
            r.executed.push(name.to_string());
        }
        r.last_executed = Some(name.to_string());
    }

    /// `up` of a two-phase migration.
    pub fn record_pending(&mut self, sub: &str, name: &str) {
        let r = self.row(sub);
        if !r.pending.iter().any(|e| e == name) {
            r.pending.push(name.to_string());
        }
    }

    /// `kong migrations bootstrap` at `v`: every migration up and torn down.
    pub fn bootstrap_at(mut self, v: &str) -> Self {
        self.bootstrap_tables();
        for sub in &release(v).subsystems {
            for m in &sub.migrations {
                assert!(
                    m.phases(Db::Cassandra).is_some(),
                    "Kong {v} has no Cassandra section for {}",
                    m.name
                );
                self.record_executed(&sub.name, &m.name);
            }
        }
        self
    }

    /// `kong migrations up` with `v` over what is recorded, at most `stop_after` migrations.
    pub fn up_to(mut self, v: &str, stop_after: Option<usize>) -> Self {
        let recorded: Vec<(String, String)> = self
            .schema_meta
            .iter()
            .flat_map(|m| m.values())
            .flat_map(|r| {
                r.executed
                    .iter()
                    .chain(r.pending.iter())
                    .map(move |n| (r.subsystem.clone(), n.clone()))
            })
            .collect();
        let mut ran = 0;
        for sub in &release(v).subsystems {
            for m in &sub.migrations {
                if recorded.contains(&(sub.name.clone(), m.name.clone())) {
                    continue;
                }
                if stop_after.is_some_and(|n| ran >= n) {
                    return self;
                }
                if m.two_phase(Db::Cassandra) {
                    self.record_pending(&sub.name, &m.name);
                } else {
                    self.record_executed(&sub.name, &m.name);
                }
                ran += 1;
            }
        }
        self
    }

    /// `kong migrations finish`.
    pub fn finish(mut self) -> Self {
        let pending: Vec<(String, String)> = self
            .schema_meta
            .iter()
            .flat_map(|m| m.values())
            .flat_map(|r| {
                r.pending
                    .iter()
                    .map(move |n| (r.subsystem.clone(), n.clone()))
            })
            .collect();
        for (s, n) in pending {
            self.record_executed(&s, &n);
        }
        self
    }

    /// The migrations lock, held by `owner`, expiring in `ttl` seconds.
    pub fn lock(mut self, owner: &str, ttl: i32) -> Self {
        self.locks_table = true;
        self.lock = Some((owner.to_string(), ttl));
        self
    }

    /// A row as written by hand (for damaged-database cases).
    pub fn raw_meta(mut self, row: MetaRow) -> Self {
        self.bootstrap_tables();
        self.schema_meta
            .as_mut()
            .expect("bootstrapped")
            .insert((row.key.clone(), row.subsystem.clone()), row);
        self
    }

    /// A 0.14 keyspace: `schema_migrations` and 0.x tables, no schema_meta.
    pub fn legacy_014(mut self) -> Self {
        self.schema_migrations = Some(vec![
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
        self.other_tables.push("apis".into());
        self
    }

    pub fn data_planes(mut self, with_23: bool, dps: Vec<DataPlane>) -> Self {
        self.data_planes = Some((with_23, dps));
        self
    }

    /// The tables and rows, as the CQL test server holds them.
    fn tables(&self, ks: &str, now_ms: i64) -> Vec<Table> {
        let mut out = Vec::new();
        if let Some(meta) = &self.schema_meta {
            let mut t = kong_tables::schema_meta(ks);
            for r in meta.values() {
                t.insert(
                    &[
                        ("key", Val::text(&r.key)),
                        ("subsystem", Val::text(&r.subsystem)),
                        ("last_executed", Val::opt_text(r.last_executed.as_deref())),
                        ("executed", Val::text_set(&r.executed)),
                        ("pending", Val::text_set(&r.pending)),
                    ],
                    None,
                    now_ms,
                );
            }
            out.push(t);
        }
        if self.locks_table {
            let mut t = kong_tables::locks(ks);
            if let Some((owner, ttl)) = &self.lock {
                t.insert(
                    &[
                        ("key", Val::text("migrations")),
                        ("owner", Val::text(owner)),
                    ],
                    Some(*ttl),
                    now_ms,
                );
            }
            out.push(t);
        }
        if let Some(rows) = &self.schema_migrations {
            let mut t = kong_tables::schema_migrations(ks);
            for (id, m) in rows {
                t.insert(
                    &[("id", Val::text(id)), ("migrations", Val::text_list(m))],
                    None,
                    now_ms,
                );
            }
            out.push(t);
        }
        if let Some((with_23, dps)) = &self.data_planes {
            let mut t = kong_tables::clustering_data_planes(ks, *with_23);
            for d in dps {
                let mut vals = vec![
                    ("id", Val::uuid(&d.id)),
                    ("hostname", Val::text(&d.hostname)),
                    ("ip", Val::text(&d.ip)),
                    ("last_seen", Val::Timestamp(now_ms - d.seen_secs_ago * 1000)),
                    ("config_hash", Val::text("a9a166c59873245db8f1a747ba9a80a7")),
                ];
                if *with_23 {
                    vals.push(("version", Val::opt_text(d.version.as_deref())));
                    vals.push(("sync_status", Val::opt_text(d.sync_status.as_deref())));
                }
                t.insert(&vals, None, now_ms);
            }
            out.push(t);
        }
        if let Some(routes) = &self.routes {
            let mut t = Table::new(
                ks,
                "routes",
                &[
                    ("id", super::cql::Ty::Uuid),
                    ("name", super::cql::Ty::Text),
                    ("paths", super::cql::Ty::list_text()),
                ],
                &["id"],
                &[],
            );
            for (id, name, paths) in routes {
                t.insert(
                    &[
                        ("id", Val::uuid(id)),
                        ("name", Val::opt_text(name.as_deref())),
                        ("paths", Val::text_list(paths)),
                    ],
                    None,
                    now_ms,
                );
            }
            out.push(t);
        }
        if let Some(cache_key) = self.targets {
            let mut cols = vec![
                ("id", super::cql::Ty::Uuid),
                ("target", super::cql::Ty::Text),
            ];
            if cache_key {
                cols.push(("cache_key", super::cql::Ty::Text));
            }
            out.push(Table::new(ks, "targets", &cols, &["id"], &[]));
        }
        for name in &self.other_tables {
            out.push(Table::new(
                ks,
                name,
                &[("id", super::cql::Ty::Uuid), ("name", super::cql::Ty::Text)],
                &["id"],
                &[],
            ));
        }
        out
    }

    /// The same state as CQL statements for a real cluster (DDL as Kong's migrations write it).
    fn statements(&self, ks: &str) -> Vec<String> {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let set = |v: &[String]| {
            if v.is_empty() {
                "null".to_string()
            } else {
                format!(
                    "{{{}}}",
                    v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
                )
            }
        };
        let list = |v: &[String]| {
            format!(
                "[{}]",
                v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
            )
        };
        let opt = |v: &Option<String>| v.as_deref().map(q).unwrap_or_else(|| "null".into());
        let mut out = vec![format!(
            "CREATE KEYSPACE \"{ks}\" WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        )];
        if let Some(meta) = &self.schema_meta {
            out.push(format!("CREATE TABLE \"{ks}\".schema_meta (key text, subsystem text, last_executed text, executed set<text>, pending set<text>, PRIMARY KEY (key, subsystem))"));
            for r in meta.values() {
                out.push(format!(
                    "INSERT INTO \"{ks}\".schema_meta (key, subsystem, last_executed, executed, pending) VALUES ({}, {}, {}, {}, {})",
                    q(&r.key),
                    q(&r.subsystem),
                    opt(&r.last_executed),
                    set(&r.executed),
                    set(&r.pending)
                ));
            }
        }
        if self.locks_table {
            out.push(format!("CREATE TABLE \"{ks}\".locks (key text PRIMARY KEY, owner text) WITH default_time_to_live = 60"));
            if let Some((owner, ttl)) = &self.lock {
                out.push(format!(
                    "INSERT INTO \"{ks}\".locks (key, owner) VALUES ('migrations', {}) IF NOT EXISTS USING TTL {ttl}",
                    q(owner)
                ));
            }
        }
        if let Some(rows) = &self.schema_migrations {
            out.push(format!("CREATE TABLE \"{ks}\".schema_migrations (id text PRIMARY KEY, migrations list<text>)"));
            for (id, m) in rows {
                out.push(format!(
                    "INSERT INTO \"{ks}\".schema_migrations (id, migrations) VALUES ({}, {})",
                    q(id),
                    list(m)
                ));
            }
        }
        if let Some((with_23, dps)) = &self.data_planes {
            let extra = if *with_23 {
                ", version text, sync_status text"
            } else {
                ""
            };
            out.push(format!("CREATE TABLE \"{ks}\".clustering_data_planes (id uuid, hostname text, ip text, last_seen timestamp, config_hash text{extra}, PRIMARY KEY (id)) WITH default_time_to_live = 1209600"));
            let now = now_millis();
            for d in dps {
                let (cols, vals) = if *with_23 {
                    (
                        ", version, sync_status",
                        format!(", {}, {}", opt(&d.version), opt(&d.sync_status)),
                    )
                } else {
                    ("", String::new())
                };
                out.push(format!(
                    "INSERT INTO \"{ks}\".clustering_data_planes (id, hostname, ip, last_seen, config_hash{cols}) VALUES ({}, {}, {}, {}, 'a9a166c59873245db8f1a747ba9a80a7'{vals})",
                    d.id,
                    q(&d.hostname),
                    q(&d.ip),
                    now - d.seen_secs_ago * 1000
                ));
            }
        }
        if let Some(routes) = &self.routes {
            out.push(format!(
                "CREATE TABLE \"{ks}\".routes (id uuid PRIMARY KEY, name text, paths list<text>)"
            ));
            for (id, name, paths) in routes {
                out.push(format!(
                    "INSERT INTO \"{ks}\".routes (id, name, paths) VALUES ({id}, {}, [{}])",
                    name.as_deref().map(q).unwrap_or_else(|| "null".into()),
                    paths.iter().map(|p| q(p)).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if let Some(cache_key) = self.targets {
            out.push(format!(
                "CREATE TABLE \"{ks}\".targets (id uuid PRIMARY KEY, target text{})",
                if cache_key { ", cache_key text" } else { "" }
            ));
        }
        for name in &self.other_tables {
            out.push(format!(
                "CREATE TABLE \"{ks}\".{name} (id uuid PRIMARY KEY, name text)"
            ));
        }
        out
    }
}

/// How the cluster is served.
#[derive(Default)]
pub struct Serve {
    /// Turn on PasswordAuthenticator with this role (test server only).
    pub credentials: Option<(String, String)>,
    pub release_version: Option<String>,
    /// The server's clock ahead of the local one (test server only).
    pub clock_offset_ms: i64,
    pub tls: Option<TlsFiles>,
    /// Serve no Kong keyspace at all.
    pub no_keyspace: bool,
}

/// A Cassandra holding one Kong keyspace, for one test.
pub struct Cluster {
    pub host: String,
    pub port: u16,
    pub keyspace: String,
    /// The role to log in with, when the cluster wants one.
    pub credentials: Option<(String, String)>,
    /// The CQL test server; `None` on a real cluster.
    pub server: Option<CqlServer>,
    real: bool,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The real cluster of `KONGRADE_TEST_CASSANDRA`, if set.
pub fn real_cluster() -> Option<(String, u16)> {
    let v = std::env::var("KONGRADE_TEST_CASSANDRA").ok()?;
    let (h, p) = v
        .rsplit_once(':')
        .expect("KONGRADE_TEST_CASSANDRA=host:port");
    Some((
        h.to_string(),
        p.parse().expect("KONGRADE_TEST_CASSANDRA port"),
    ))
}

fn real_credentials() -> Option<(String, String)> {
    Some((
        std::env::var("KONGRADE_TEST_CASSANDRA_USER").ok()?,
        std::env::var("KONGRADE_TEST_CASSANDRA_PASSWORD").unwrap_or_default(),
    ))
}

/// Runs statements on the real cluster, one session, in order.
fn run_real(host: &str, port: u16, stmts: &[String]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut b = scylla::client::session_builder::SessionBuilder::new()
            .known_node(format!("{host}:{port}"))
            .fetch_schema_metadata(false);
        if let Some((u, p)) = real_credentials() {
            b = b.user(u, p);
        }
        let s = b
            .build()
            .await
            .map_err(|e| format!("connect to KONGRADE_TEST_CASSANDRA: {e}"))?;
        for st in stmts {
            let mut q = scylla::statement::unprepared::Statement::new(st.clone());
            q.set_consistency(scylla::statement::Consistency::One);
            q.set_request_timeout(Some(Duration::from_secs(60)));
            s.query_unpaged(q, ())
                .await
                .map_err(|e| format!("{st}: {e}"))?;
        }
        Ok(())
    })
}

impl Cluster {
    /// Serves `state` as keyspace `kong_<name>` (a unique `kongrade_<name>_<pid>_<n>` on a real
    /// cluster).
    pub fn start(name: &str, state: &KongKeyspace, serve: Serve) -> Cluster {
        if let Some((host, port)) = real_cluster() {
            let ks = format!(
                "kongrade_{name}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            if !serve.no_keyspace {
                if let Err(e) = run_real(&host, port, &state.statements(&ks)) {
                    panic!("{e}");
                }
            }
            return Cluster {
                host,
                port,
                keyspace: ks,
                credentials: real_credentials(),
                server: None,
                real: true,
            };
        }
        let ks = format!("kong_{name}");
        let mut st = ServerState {
            credentials: serve.credentials.clone(),
            clock_offset_ms: serve.clock_offset_ms,
            ..Default::default()
        };
        if let Some(v) = serve.release_version {
            st.release_version = v;
        }
        if !serve.no_keyspace {
            st.keyspaces.push(ks.clone());
            st.tables = state.tables(&ks, st.now_ms());
        }
        let server = CqlServer::start_with_tls(st, serve.tls.as_ref());
        Cluster {
            host: "127.0.0.1".into(),
            port: server.port(),
            keyspace: ks,
            credentials: serve.credentials,
            server: Some(server),
            real: false,
        }
    }

    pub fn is_real(&self) -> bool {
        self.real
    }

    /// kong.conf's settings for this cluster.
    pub fn options(&self) -> CassandraOptions {
        CassandraOptions {
            contact_points: vec![self.host.clone()],
            port: self.port,
            keyspace: self.keyspace.clone(),
            username: self
                .credentials
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_else(|| "kong".into()),
            password: self.credentials.as_ref().map(|c| c.1.as_str().into()),
            timeout: Duration::from_secs(5),
            ssl: false,
            ssl_verify: false,
            trusted_certificates: vec![],
            local_datacenter: None,
            lb_policy: "RequestRoundRobin".into(),
            read_consistency: "ONE".into(),
        }
    }

    /// `KONG_*` variables that point Kong (and kongrade) at this cluster.
    pub fn kong_env(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("KONG_DATABASE".to_string(), "cassandra".to_string()),
            ("KONG_CASSANDRA_CONTACT_POINTS".into(), self.host.clone()),
            ("KONG_CASSANDRA_PORT".into(), self.port.to_string()),
            ("KONG_CASSANDRA_KEYSPACE".into(), self.keyspace.clone()),
        ];
        if let Some((u, p)) = &self.credentials {
            v.push(("KONG_CASSANDRA_USERNAME".into(), u.clone()));
            v.push(("KONG_CASSANDRA_PASSWORD".into(), p.clone()));
        }
        v
    }

    /// Every statement the test server received (empty on a real cluster).
    pub fn statements_seen(&self) -> Vec<String> {
        self.server.as_ref().map(|s| s.log()).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.real {
            // Also after a failed test; a failure here must not panic inside a panic.
            if let Err(e) = run_real(
                &self.host,
                self.port,
                &[format!("DROP KEYSPACE IF EXISTS \"{}\"", self.keyspace)],
            ) {
                eprintln!("could not drop keyspace {}: {e}", self.keyspace);
            }
        }
    }
}
