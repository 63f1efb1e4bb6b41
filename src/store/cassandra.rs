//! Cassandra (Kong 1.0 to 3.3.x): reads `schema_meta`, the `migrations` lock with its remaining
//! TTL, the pre-1.0 `schema_migrations`, data planes and the server's release through the scylla
//! driver. Two rounds of concurrent queries: what exists (system tables), then Kong's tables.
//! Read-only: only SELECTs are sent, no keyspace is `USE`d, no schema metadata is fetched.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{BoxFuture, FutureExt};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{
    ConnectionError, ConnectionPoolError, ConnectionSetupRequestErrorKind, DbError, ExecutionError,
    MetadataError, NewSessionError, RequestAttemptError,
};
use scylla::frame::response::result::{CollectionType, ColumnType};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::query_result::QueryRowsResult;
use scylla::statement::unprepared::Statement;
use scylla::statement::Consistency;
use scylla::value::{CqlValue, Row};

use super::{Counted, Store, StoreError, StoreErrorKind};
use crate::kong::catalog::Db;
use crate::kong::conf::{CassandraConf, Secret};
use crate::kong::snapshot::{DataPlaneRow, LockRow, SchemaMetaRow, Snapshot};

/// How to reach Kong's Cassandra cluster, as kong.conf's cassandra_* keys say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CassandraOptions {
    /// Host names or addresses, without ports (kong.conf refuses `host:port`).
    pub contact_points: Vec<String>,
    pub port: u16,
    pub keyspace: String,
    pub username: String,
    /// Shown by `Debug` as `<redacted>`; exposed only to the driver.
    pub password: Option<Secret>,
    /// `cassandra_timeout`: connecting, and every request.
    pub timeout: Duration,
    pub ssl: bool,
    pub ssl_verify: bool,
    /// `lua_ssl_trusted_certificate`.
    pub trusted_certificates: Vec<String>,
    /// Preferred when `lb_policy` is DC-aware, as Kong does.
    pub local_datacenter: Option<String>,
    /// `cassandra_lb_policy`: only whether it is DC-aware matters to a reader.
    pub lb_policy: String,
    /// `cassandra_read_consistency` (ONE, LOCAL_QUORUM...), used for every read but the lock's.
    pub read_consistency: String,
}

impl CassandraOptions {
    pub fn from_conf(c: &CassandraConf) -> CassandraOptions {
        CassandraOptions {
            contact_points: c.contact_points.clone(),
            port: c.port,
            keyspace: c.keyspace.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            timeout: Duration::from_millis(c.timeout_ms),
            ssl: c.ssl,
            ssl_verify: c.ssl_verify,
            trusted_certificates: c.trusted_certificates.clone(),
            local_datacenter: c.local_datacenter.clone(),
            lb_policy: c.lb_policy.clone(),
            read_consistency: c.read_consistency.clone(),
        }
    }

    /// `127.0.0.1,10.0.0.2:9042 keyspace kong`; never the password.
    pub fn describe(&self) -> String {
        format!("{} keyspace {}", self.address(), self.keyspace)
    }

    /// `127.0.0.1,10.0.0.2:9042`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.contact_points.join(","), self.port)
    }

    fn dc_aware(&self) -> bool {
        self.lb_policy.contains("DCAware")
    }

    /// `host:port` for the driver, bracketing bare IPv6 addresses.
    fn known_nodes(&self) -> Vec<String> {
        self.contact_points
            .iter()
            .map(|h| {
                if h.contains(':') && !h.starts_with('[') {
                    format!("[{h}]:{}", self.port)
                } else {
                    format!("{h}:{}", self.port)
                }
            })
            .collect()
    }
}

/// An open, read-only session.
pub struct CassandraStore {
    session: Session,
    opts: CassandraOptions,
    read_consistency: Consistency,
    /// The routes' read made by the row count, until the preflight takes it.
    routes_scan: std::sync::Mutex<Option<crate::kong::preflight::RoutesScan>>,
    /// The last `~` routes read and when: Cassandra has no server-side filter, so each read
    /// pages every route, and the wizard's poller reads every second.
    tilde_read: std::sync::Mutex<Option<(std::time::Instant, crate::kong::snapshot::TildeRoutes)>>,
}

/// How long a `~` routes read on Cassandra stands before the routes are paged again.
const TILDE_READ_FOR: Duration = Duration::from_secs(30);

fn err(kind: StoreErrorKind, message: String, hint: &str) -> StoreError {
    StoreError {
        kind,
        message,
        hint: hint.to_string(),
    }
}

const HINT_REACH: &str = "is Cassandra running, and are cassandra_contact_points / cassandra_port right? (kong.conf, KONG_CASSANDRA_CONTACT_POINTS, --cassandra-contact-points); raise cassandra_timeout if it is only slow";
const HINT_AUTH: &str = "check cassandra_username and cassandra_password in kong.conf (or KONG_CASSANDRA_USERNAME / KONG_CASSANDRA_PASSWORD)";
const HINT_TLS: &str =
    "check cassandra_ssl, cassandra_ssl_verify and lua_ssl_trusted_certificate in kong.conf";

/// Kong's consistency names (kong.conf) as the driver's values.
fn consistency(name: &str) -> Option<Consistency> {
    Some(match name.to_ascii_uppercase().as_str() {
        "ALL" => Consistency::All,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "QUORUM" => Consistency::Quorum,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => return None,
    })
}

/// Keyspace names are letters, digits and underscores, at most 48 (Cassandra's own rule); the
/// name is inlined into statements, so nothing else may pass.
fn valid_keyspace(ks: &str) -> bool {
    !ks.is_empty() && ks.len() <= 48 && ks.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The text of an error and of everything that caused it.
fn full_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// An I/O error raised by rustls (handshake, certificate) rather than by the network.
fn is_tls_io(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        || {
            let t = e.to_string().to_lowercase();
            t.contains("certificate") || t.contains("tls") || t.contains("handshake")
        }
}

fn classify_connection(e: &ConnectionError, opts: &CassandraOptions) -> StoreError {
    let target = opts.describe();
    match e {
        ConnectionError::ConnectTimeout => err(
            StoreErrorKind::Unreachable,
            format!(
                "Cassandra at {target} did not answer within {} ms",
                opts.timeout.as_millis()
            ),
            HINT_REACH,
        ),
        ConnectionError::IoError(io) if is_tls_io(io) => err(
            StoreErrorKind::Tls,
            format!("TLS with Cassandra at {target} failed: {io}"),
            HINT_TLS,
        ),
        ConnectionError::ConnectionSetupRequestError(setup) => match &setup.error {
            ConnectionSetupRequestErrorKind::DbError(
                DbError::AuthenticationError | DbError::Unauthorized,
                msg,
            ) => err(
                StoreErrorKind::Auth,
                format!("Cassandra at {target} refused the login: {msg}"),
                HINT_AUTH,
            ),
            ConnectionSetupRequestErrorKind::MissingAuthentication => err(
                StoreErrorKind::Auth,
                format!("Cassandra at {target} requires a login, and cassandra_password is not set"),
                "set cassandra_username and cassandra_password in kong.conf (Kong logs in only when both are set)",
            ),
            ConnectionSetupRequestErrorKind::DbError(db, msg) => err(
                StoreErrorKind::Query,
                format!("Cassandra at {target} refused the connection: {msg} ({db})"),
                "",
            ),
            _ => not_cql(e, opts),
        },
        _ => not_cql(e, opts),
    }
}

/// A connection that failed or broke during the handshake. A frame the driver cannot read most
/// likely means one side speaks TLS and the other does not, so the text is looked at for it.
fn not_cql(e: &ConnectionError, opts: &CassandraOptions) -> StoreError {
    let target = opts.describe();
    let text = full_chain(e);
    let lower = text.to_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        return err(
            StoreErrorKind::Tls,
            format!("TLS with Cassandra at {target} failed: {text}"),
            HINT_TLS,
        );
    }
    if lower.contains("frame") || lower.contains("protocol") || lower.contains("unexpected") {
        return err(
            StoreErrorKind::Tls,
            format!(
                "Cassandra at {target} does not speak {} CQL: {text}",
                if opts.ssl { "TLS-wrapped" } else { "plain" }
            ),
            if opts.ssl {
                "the server may not use TLS on this port: check cassandra_ssl and cassandra_port in kong.conf"
            } else {
                "the server may require TLS: check cassandra_ssl (and cassandra_port) in kong.conf"
            },
        );
    }
    err(
        StoreErrorKind::Unreachable,
        format!("cannot reach Cassandra at {target}: {text}"),
        HINT_REACH,
    )
}

fn classify_pool(e: &ConnectionPoolError, opts: &CassandraOptions) -> StoreError {
    match e {
        ConnectionPoolError::Broken {
            last_connection_error,
        } => classify_connection(last_connection_error, opts),
        other => err(
            StoreErrorKind::Unreachable,
            format!("cannot reach Cassandra at {}: {other}", opts.describe()),
            HINT_REACH,
        ),
    }
}

fn classify_session(e: &NewSessionError, opts: &CassandraOptions) -> StoreError {
    let target = opts.describe();
    match e {
        NewSessionError::FailedToResolveAnyHostname(hosts) => err(
            StoreErrorKind::Unreachable,
            format!(
                "none of the Cassandra contact points resolves: {}",
                hosts.join(", ")
            ),
            "check cassandra_contact_points in kong.conf",
        ),
        NewSessionError::EmptyKnownNodesList => err(
            StoreErrorKind::Unreachable,
            "cassandra_contact_points is empty".into(),
            "name at least one Cassandra node in cassandra_contact_points",
        ),
        NewSessionError::MetadataError(MetadataError::ConnectionPoolError(p)) => {
            classify_pool(p, opts)
        }
        NewSessionError::MetadataError(m) => err(
            StoreErrorKind::Query,
            format!("Cassandra at {target} answered, but its cluster tables (system.local, system.peers) cannot be read: {}", full_chain(m)),
            "",
        ),
        other => err(
            StoreErrorKind::Query,
            format!("cannot open a session with Cassandra at {target}: {}", full_chain(other)),
            "",
        ),
    }
}

/// Sorts a failed request. `what` names what was read, for the message.
fn classify_request(e: &ExecutionError, opts: &CassandraOptions, what: &str) -> StoreError {
    let target = opts.describe();
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, msg)) => match db {
            DbError::AuthenticationError | DbError::Unauthorized => err(
                StoreErrorKind::Auth,
                format!("Cassandra at {target} refused to let {} read {what}: {msg}", opts.username),
                "the role in cassandra_username needs SELECT on Kong's keyspace (and on system_schema)",
            ),
            DbError::Unavailable { .. }
            | DbError::ReadTimeout { .. }
            | DbError::ReadFailure { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping => err(
                StoreErrorKind::Unreachable,
                format!("Cassandra at {target} could not read {what}: {msg} ({db})"),
                "too few replicas answered: are nodes down? cassandra_read_consistency decides how many must answer",
            ),
            _ => err(
                StoreErrorKind::Query,
                format!("Cassandra at {target} could not read {what}: {msg}"),
                "",
            ),
        },
        ExecutionError::RequestTimeout(d) => err(
            StoreErrorKind::Unreachable,
            format!(
                "Cassandra at {target} stopped answering (no reply to the read of {what} within {} ms)",
                d.as_millis()
            ),
            "check the cluster; raise cassandra_timeout if it is only slow",
        ),
        ExecutionError::ConnectionPoolError(p) => classify_pool(p, opts),
        ExecutionError::EmptyPlan => err(
            StoreErrorKind::Unreachable,
            format!("no Cassandra node of {target} can take the read of {what}"),
            "check cassandra_local_datacenter: no node of that datacenter is up",
        ),
        other => err(
            StoreErrorKind::Query,
            format!("Cassandra at {target} could not read {what}: {}", full_chain(other)),
            "",
        ),
    }
}

/// Columns of clustering_data_planes kongrade reads when present (they arrived over releases;
/// `id` is the key and always there).
const DP_COLUMNS: &[&str] = &[
    "hostname",
    "ip",
    "version",
    "sync_status",
    "config_hash",
    "last_seen",
];

/// Milliseconds since the epoch as `2024-05-01T10:00:00.123Z` (UTC, proleptic Gregorian).
fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn local_now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The text form of a value kongrade shows as text (uuid, text, inet...).
fn text_of(v: &CqlValue) -> String {
    match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.clone(),
        CqlValue::Timestamp(t) => format_millis(t.0),
        other => other.to_string(),
    }
}

impl CassandraStore {
    pub async fn connect(opts: &CassandraOptions) -> Result<CassandraStore, StoreError> {
        if !valid_keyspace(&opts.keyspace) {
            return Err(err(
                StoreErrorKind::MissingDatabase,
                format!(
                    "cassandra_keyspace '{}' cannot name a Cassandra keyspace",
                    opts.keyspace
                ),
                "keyspace names are 1 to 48 letters, digits or underscores: fix cassandra_keyspace in kong.conf",
            ));
        }
        let read_consistency = consistency(&opts.read_consistency).ok_or_else(|| {
            err(
                StoreErrorKind::Query,
                format!(
                    "cassandra_read_consistency '{}' is not a consistency level",
                    opts.read_consistency
                ),
                "use ONE, TWO, THREE, QUORUM, LOCAL_QUORUM, LOCAL_ONE, EACH_QUORUM or ALL",
            )
        })?;

        let mut profile = ExecutionProfile::builder()
            .consistency(read_consistency)
            .request_timeout(Some(opts.timeout));
        if opts.dc_aware() {
            if let Some(dc) = &opts.local_datacenter {
                // Kong's DC-aware policies prefer the local datacenter and fall back to others.
                profile = profile.load_balancing_policy(
                    DefaultPolicy::builder()
                        .prefer_datacenter(dc.clone())
                        .permit_dc_failover(true)
                        .build(),
                );
            }
        }

        let mut builder = SessionBuilder::new()
            .known_nodes(opts.known_nodes())
            .connection_timeout(opts.timeout)
            .hostname_resolution_timeout(Some(opts.timeout))
            // The driver's own reads of system.local/system.peers get cassandra_timeout too.
            .metadata_request_serverside_timeout(opts.timeout)
            .metadata_request_clientside_timeout(opts.timeout)
            // Kong's tables are read by name; the driver's schema crawl would only cost time.
            .fetch_schema_metadata(false)
            .fetch_full_schema_metadata(false)
            .default_execution_profile_handle(profile.build().into_handle());
        // Kong logs in only when both are set; so does kongrade.
        if let Some(pw) = &opts.password {
            builder = builder.user(opts.username.clone(), pw.expose().to_string());
        }
        if opts.ssl {
            let tls =
                super::tls::client_config_chain_only(opts.ssl_verify, &opts.trusted_certificates)
                    .map_err(|e| err(StoreErrorKind::Tls, format!("{e:#}"), HINT_TLS))?;
            builder = builder.tls_context(Some(Arc::new(tls)));
        }

        // The driver bounds each connection attempt by connection_timeout, and may try the
        // contact points one after the other; the whole handshake gets a deadline too.
        let tries = opts.contact_points.len().clamp(1, 4) as u32;
        let deadline = opts.timeout * tries + Duration::from_millis(100);
        let session = match tokio::time::timeout(deadline, builder.build()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(classify_session(&e, opts)),
            Err(_) => {
                return Err(err(
                    StoreErrorKind::Unreachable,
                    format!(
                        "Cassandra at {} did not answer within {} ms",
                        opts.describe(),
                        deadline.as_millis()
                    ),
                    HINT_REACH,
                ))
            }
        };
        Ok(CassandraStore {
            session,
            opts: opts.clone(),
            read_consistency,
            routes_scan: Default::default(),
            tilde_read: Default::default(),
        })
    }

    pub fn options(&self) -> &CassandraOptions {
        &self.opts
    }

    /// Runs one SELECT and returns its rows. `what` names the read in errors.
    async fn select(
        &self,
        cql: String,
        what: &str,
        consistency: Consistency,
    ) -> Result<QueryRowsResult, StoreError> {
        let mut st = Statement::new(cql);
        st.set_consistency(consistency);
        st.set_is_idempotent(true);
        st.set_request_timeout(Some(self.opts.timeout));
        let res = self
            .session
            .query_unpaged(st, ())
            .await
            .map_err(|e| classify_request(&e, &self.opts, what))?;
        res.into_rows_result().map_err(|e| {
            err(
                StoreErrorKind::Malformed,
                format!("Cassandra answered the read of {what} with something else than rows: {e}"),
                "",
            )
        })
    }

    /// Reads everything kongrade needs about Kong's tables.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let ks = &self.opts.keyspace;
        let c = self.read_consistency;
        // system tables are local to each node: ONE is what the drivers use for them.
        let (local, keyspaces, tables) = tokio::join!(
            self.select(
                "SELECT release_version FROM system.local WHERE key = 'local'".into(),
                "system.local",
                Consistency::One,
            ),
            self.select(
                format!("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '{ks}'"),
                "system_schema.keyspaces",
                Consistency::One,
            ),
            self.select(
                format!("SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{ks}'"),
                "system_schema.tables",
                Consistency::One,
            ),
        );
        let server_version = local?
            .maybe_first_row::<(Option<String>,)>()
            .map_err(|e| malformed("system.local", &e))?
            .and_then(|(v,)| v)
            .unwrap_or_default();
        if server_version.starts_with("1.") || server_version.starts_with("2.") {
            return Err(err(
                StoreErrorKind::Query,
                format!("Cassandra {server_version} keeps its schema in system.schema_* tables; kongrade reads Cassandra 3.0 and later (system_schema)"),
                "Kong 2.x and 3.x need Cassandra 3.x or 4.x anyway: upgrade Cassandra first",
            ));
        }
        let found = keyspaces?
            .rows::<(String,)>()
            .map_err(|e| malformed("system_schema.keyspaces", &e))?
            .filter_map(Result::ok)
            .any(|(name,)| &name == ks);
        if !found {
            return Err(err(
                StoreErrorKind::MissingDatabase,
                format!("Cassandra at {} has no keyspace '{ks}'", self.opts.address()),
                "check cassandra_keyspace in kong.conf (names are case-sensitive). Kong itself would call this \"needs bootstrap\": 'kong migrations bootstrap' creates the keyspace, so make sure this is a new installation and not a misspelt keyspace",
            ));
        }
        let tables: BTreeSet<String> = tables?
            .rows::<(String,)>()
            .map_err(|e| malformed("system_schema.tables", &e))?
            .map(|r| r.map(|(t,)| t))
            .collect::<Result<_, _>>()
            .map_err(|e| malformed("system_schema.tables", &e))?;
        let has = |t: &str| tables.contains(t);

        let (meta, lock, legacy, dps) = tokio::join!(
            async {
                if !has("schema_meta") {
                    return Ok(None);
                }
                self.schema_meta(c).await.map(Some)
            },
            async {
                if !has("locks") {
                    return Ok(None);
                }
                self.lock().await.map(Some)
            },
            async {
                if !has("schema_migrations") {
                    return Ok(None);
                }
                self.legacy(c).await.map(Some)
            },
            async {
                if !has("clustering_data_planes") {
                    return Ok(None);
                }
                self.data_planes(c).await.map(Some)
            },
        );

        let mut snap = Snapshot::empty(Db::Cassandra, ks);
        snap.server_version = server_version;
        snap.schema_meta = meta?;
        let lock = lock?;
        snap.locks_table = lock.is_some();
        snap.lock = lock.flatten();
        snap.legacy_migrations = legacy?;
        snap.data_planes = dps?;
        snap.tilde_routes = self
            .tilde_routes(snap.schema_meta.as_deref(), &tables)
            .await?;
        Ok(snap)
    }

    async fn schema_meta(&self, c: Consistency) -> Result<Vec<SchemaMetaRow>, StoreError> {
        // Every row, not only key = 'schema_meta' as Kong selects: foreign rows are reported.
        let what = "schema_meta";
        let rows = self
            .select(
                format!(
                    "SELECT key, subsystem, last_executed, executed, pending FROM \"{}\".schema_meta",
                    self.opts.keyspace
                ),
                what,
                c,
            )
            .await
            .map_err(|e| kong_table(e, what))?;
        check_types(
            &rows,
            what,
            &["text", "text", "text", "set<text>", "set<text>"],
        )?;
        type Raw = (
            String,
            String,
            Option<String>,
            Option<Vec<String>>,
            Option<Vec<String>>,
        );
        let mut out: Vec<SchemaMetaRow> = rows
            .rows::<Raw>()
            .map_err(|e| malformed(what, &e))?
            .map(|r| {
                r.map(
                    |(key, subsystem, last_executed, executed, pending)| SchemaMetaRow {
                        key,
                        subsystem,
                        last_executed,
                        executed,
                        pending,
                    },
                )
            })
            .collect::<Result<_, _>>()
            .map_err(|e| malformed(what, &e))?;
        // Partitions come back in token order; sort as the PostgreSQL store does.
        out.sort_by(|a, b| (&a.subsystem, &a.key).cmp(&(&b.subsystem, &b.key)));
        Ok(out)
    }

    /// The `migrations` row: present means live (it vanishes when its TTL runs out).
    async fn lock(&self) -> Result<Option<LockRow>, StoreError> {
        let what = "the migrations lock";
        // Kong takes the lock with a lightweight transaction and reads it at SERIAL (LOCAL_SERIAL
        // with a DC-aware policy): a plain read could miss a lock a quorum already holds.
        let serial = if self.opts.dc_aware() {
            Consistency::LocalSerial
        } else {
            Consistency::Serial
        };
        let rows = self
            .select(
                format!(
                    "SELECT owner, TTL(owner) FROM \"{}\".locks WHERE key = 'migrations'",
                    self.opts.keyspace
                ),
                what,
                serial,
            )
            .await
            .map_err(|e| kong_table(e, "locks"))?;
        check_types(&rows, "locks", &["text", "int"])?;
        let row = rows
            .maybe_first_row::<(Option<String>, Option<i32>)>()
            .map_err(|e| malformed("locks", &e))?;
        Ok(row.map(|(owner, ttl)| LockRow {
            owner,
            ttl: None,
            live: true,
            // NULL: written without a TTL on a table without a default one; it never expires.
            seconds_left: ttl.map(f64::from),
        }))
    }

    async fn legacy(&self, c: Consistency) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let what = "schema_migrations";
        let rows = self
            .select(
                format!(
                    "SELECT id, migrations FROM \"{}\".schema_migrations",
                    self.opts.keyspace
                ),
                what,
                c,
            )
            .await
            .map_err(|e| kong_table(e, what))?;
        check_types(&rows, what, &["text", "list<text>"])?;
        let mut out: Vec<(String, Vec<String>)> = rows
            .rows::<(String, Option<Vec<String>>)>()
            .map_err(|e| malformed(what, &e))?
            .map(|r| r.map(|(id, m)| (id, m.unwrap_or_default())))
            .collect::<Result<_, _>>()
            .map_err(|e| malformed(what, &e))?;
        out.sort();
        Ok(out)
    }

    async fn data_planes(&self, c: Consistency) -> Result<Vec<DataPlaneRow>, StoreError> {
        let ks = &self.opts.keyspace;
        let what = "clustering_data_planes";
        let cols = self
            .select(
                format!("SELECT column_name FROM system_schema.columns WHERE keyspace_name = '{ks}' AND table_name = 'clustering_data_planes'"),
                "system_schema.columns",
                Consistency::One,
            )
            .await?;
        let present: BTreeSet<String> = cols
            .rows::<(String,)>()
            .map_err(|e| malformed("system_schema.columns", &e))?
            .filter_map(|r| r.ok().map(|(n,)| n))
            .collect();
        let wanted: Vec<&str> = DP_COLUMNS
            .iter()
            .copied()
            .filter(|c| present.contains(*c))
            .collect();
        let mut select = vec!["id"];
        select.extend(&wanted);
        let (rows, now) = tokio::join!(
            self.select(
                format!(
                    "SELECT {} FROM \"{ks}\".clustering_data_planes",
                    select.join(", ")
                ),
                what,
                c,
            ),
            self.server_now(),
        );
        let rows = rows.map_err(|e| kong_table(e, what))?;
        let now = now.unwrap_or_else(|| {
            tracing::warn!(
                "the server's clock could not be read; data plane ages use the local clock"
            );
            local_now_millis()
        });
        let mut out = Vec::new();
        for row in rows.rows::<Row>().map_err(|e| malformed(what, &e))? {
            let row = row.map_err(|e| malformed(what, &e))?;
            let mut dp = DataPlaneRow::default();
            for (name, value) in select.iter().zip(row.columns) {
                let Some(v) = value else { continue };
                match *name {
                    "id" => dp.id = text_of(&v),
                    "hostname" => dp.hostname = Some(text_of(&v)),
                    "ip" => dp.ip = Some(text_of(&v)),
                    "version" => dp.version = Some(text_of(&v)),
                    "sync_status" => dp.sync_status = Some(text_of(&v)),
                    "config_hash" => dp.config_hash = Some(text_of(&v)),
                    "last_seen" => {
                        if let CqlValue::Timestamp(t) = &v {
                            dp.last_seen_secs_ago = Some((now - t.0) as f64 / 1000.0);
                        }
                        dp.last_seen = Some(text_of(&v));
                    }
                    _ => {}
                }
            }
            out.push(dp);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The coordinator's clock (ms since the epoch), so that data plane ages do not depend on
    /// this machine's clock. `None` if the server cannot say (the caller falls back).
    async fn server_now(&self) -> Option<i64> {
        let rows = self
            .select(
                "SELECT toUnixTimestamp(now()) FROM system.local WHERE key = 'local'".into(),
                "the server's clock",
                Consistency::One,
            )
            .await
            .ok()?;
        rows.maybe_first_row::<(Option<i64>,)>()
            .ok()
            .flatten()
            .and_then(|(n,)| n)
    }
}

/// The CQL name of a column type, as Kong's DDL writes it.
fn type_name(t: &ColumnType) -> String {
    match t {
        ColumnType::Native(n) => format!("{n:?}").to_lowercase(),
        ColumnType::Collection { typ, .. } => match typ {
            CollectionType::List(e) => format!("list<{}>", type_name(e)),
            CollectionType::Set(e) => format!("set<{}>", type_name(e)),
            CollectionType::Map(k, v) => format!("map<{}, {}>", type_name(k), type_name(v)),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// Compares the columns read with the types Kong creates, to name the altered column rather than
/// the driver's type-check error (which speaks of Rust types).
fn check_types(rows: &QueryRowsResult, table: &str, expected: &[&str]) -> Result<(), StoreError> {
    for (spec, want) in rows.column_specs().iter().zip(expected) {
        let got = type_name(spec.typ());
        // ascii decodes as text does; anything else would be misread.
        if got != *want && !(got == "ascii" && *want == "text") {
            return Err(err(
                StoreErrorKind::Malformed,
                format!(
                    "Kong's {table} table has {} of type {got}, where Kong creates {want}",
                    spec.name()
                ),
                "the table was altered by hand or belongs to something else than Kong; compare it with Kong's migrations",
            ));
        }
    }
    Ok(())
}

fn malformed(what: &str, e: &dyn fmt::Display) -> StoreError {
    err(
        StoreErrorKind::Malformed,
        format!("{what} holds values kongrade cannot read: {e}"),
        "the table does not have the columns and types Kong creates; was it altered by hand?",
    )
}

/// A server-side refusal to read one of Kong's tables means its columns are not Kong's.
fn kong_table(e: StoreError, what: &str) -> StoreError {
    if e.kind == StoreErrorKind::Query {
        err(
            StoreErrorKind::Malformed,
            format!("Kong's {what} table cannot be read: {}", e.message),
            "the table does not have the columns Kong creates; was it altered by hand?",
        )
    } else {
        e
    }
}

impl CassandraStore {
    /// Pages every route (id, name, paths) to `each`; `false`: there is no routes table.
    async fn each_route(
        &self,
        mut each: impl FnMut(crate::kong::preflight::RoutePaths),
    ) -> Result<bool, StoreError> {
        use crate::kong::preflight::RoutePaths;
        use futures::StreamExt;
        let what = "routes";
        let mut st = Statement::new(format!(
            "SELECT id, name, paths FROM \"{}\".routes",
            self.opts.keyspace
        ));
        st.set_consistency(consistency(&self.opts.read_consistency).unwrap_or(Consistency::One));
        st.set_is_idempotent(true);
        st.set_page_size(5000);
        st.set_request_timeout(Some(self.opts.timeout));
        let fail = |e: &dyn fmt::Display| {
            let text = e.to_string();
            err(
                StoreErrorKind::Query,
                format!("reading Kong's routes from Cassandra: {text}"),
                "",
            )
        };
        let pager = match self.session.query_iter(st, ()).await {
            Ok(p) => p,
            // A keyspace without Kong's tables yet (never bootstrapped).
            Err(e) if e.to_string().contains("unconfigured table") => return Ok(false),
            Err(e) => return Err(fail(&e)),
        };
        let mut rows = pager
            .rows_stream::<Row>()
            .map_err(|e| malformed(what, &e))?;
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| fail(&e))?;
            let mut cols = row.columns.into_iter();
            let id = cols
                .next()
                .flatten()
                .map(|v| text_of(&v))
                .unwrap_or_default();
            let name = cols.next().flatten().map(|v| text_of(&v));
            let paths: Vec<String> = match cols.next().flatten() {
                Some(CqlValue::List(items)) | Some(CqlValue::Set(items)) => {
                    items.iter().map(text_of).collect()
                }
                _ => Vec::new(),
            };
            each(RoutePaths { id, name, paths });
        }
        Ok(true)
    }

    /// Reads every route's paths (paged; Cassandra has no server-side regex) and judges them
    /// with `kong::preflight`'s rule; `rows` is then every route. `None`: there is no routes
    /// table. The scan is kept for the preflight ([`CassandraStore::take_routes_scan`]): the
    /// routes are read once per diagnosis.
    pub async fn scan_routes(
        &self,
    ) -> Result<Option<crate::kong::preflight::RoutesScan>, StoreError> {
        let mut scan = crate::kong::preflight::RoutesScan::default();
        if !self.each_route(|r| scan.add(r)).await? {
            return Ok(None);
        }
        // Judged on the raw text; shown escaped.
        scan.map_text(|t| crate::text::escape(t).into_owned());
        if let Ok(mut kept) = self.routes_scan.lock() {
            *kept = Some(scan.clone());
        }
        Ok(Some(scan))
    }

    /// The routes an interrupted core 016 left with `~` (`kong::half_applied`), read only when
    /// that can be: 016 unrecorded, and its CQL ran (it adds `targets.cache_key`).
    async fn tilde_routes(
        &self,
        meta: Option<&[SchemaMetaRow]>,
        tables: &BTreeSet<String>,
    ) -> Result<Option<crate::kong::snapshot::TildeRoutes>, StoreError> {
        let unrecorded = meta.and_then(crate::kong::half_applied::recorded) == Some(false);
        if !unrecorded || !tables.contains("routes") || !tables.contains("targets") {
            return Ok(None);
        }
        let ks = &self.opts.keyspace;
        let cols = self
            .select(
                format!("SELECT column_name FROM system_schema.columns WHERE keyspace_name = '{ks}' AND table_name = 'targets'"),
                "system_schema.columns",
                Consistency::One,
            )
            .await?;
        let sql_ran = cols
            .rows::<(String,)>()
            .map_err(|e| malformed("system_schema.columns", &e))?
            .filter_map(Result::ok)
            .any(|(c,)| c == "cache_key");
        if !sql_ran {
            return Ok(None);
        }
        if let Some((at, t)) = self.tilde_read.lock().ok().and_then(|k| k.clone()) {
            if at.elapsed() < TILDE_READ_FOR {
                return Ok(Some(t));
            }
        }
        // Raw: the remedy writes the paths back; the finding escapes what it shows.
        let mut t = crate::kong::snapshot::TildeRoutes::default();
        self.each_route(|r| t.add(r.id, r.name, r.paths)).await?;
        if let Ok(mut k) = self.tilde_read.lock() {
            *k = Some((std::time::Instant::now(), t.clone()));
        }
        Ok(Some(t))
    }

    /// The routes' read this session's row count made, taken (a later read scans again).
    pub fn take_routes_scan(&self) -> Option<crate::kong::preflight::RoutesScan> {
        self.routes_scan.lock().ok().and_then(|mut k| k.take())
    }
}

impl Store for CassandraStore {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
        CassandraStore::snapshot(self).boxed()
    }

    /// Cassandra tables are not counted (a full scan per table), but for the routes when core
    /// 016_280_to_300 lies ahead.
    fn row_counts<'a>(&'a self, tables: &'a [&'a str]) -> Counted<'a> {
        // Counting a Cassandra table is a full scan: the routes are paged only when their regex
        // paths are asked for (a jump into 3.x: 016's estimate, one UPDATE per such route, and
        // the preflight), never for the size of `routes` alone.
        async move {
            let regex = crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS;
            if !tables.contains(&regex) {
                return Ok(None);
            }
            let Some(r) = self.scan_routes().await? else {
                return Ok(Some(Vec::new()));
            };
            Ok(Some(vec![
                ("routes".to_string(), r.rows),
                (regex.to_string(), r.regex),
            ]))
        }
        .boxed()
    }

    fn writes_since(&self, _since: u64) -> Counted<'_> {
        async { Ok(None) }.boxed()
    }

    fn describe(&self) -> String {
        self.options().describe()
    }

    fn as_cassandra(&self) -> Option<&CassandraStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CassandraOptions {
        CassandraOptions {
            contact_points: vec!["10.0.0.1".into(), "::1".into(), "[::2]".into()],
            port: 9042,
            keyspace: "kong".into(),
            username: "kong".into(),
            password: Some("s3cret-pw".into()),
            timeout: Duration::from_secs(5),
            ssl: false,
            ssl_verify: false,
            trusted_certificates: vec![],
            local_datacenter: None,
            lb_policy: "RequestRoundRobin".into(),
            read_consistency: "ONE".into(),
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let d = format!("{:?}", opts());
        assert!(!d.contains("s3cret-pw"), "{d}");
        assert!(d.contains("<redacted>"));
        assert!(!opts().describe().contains("s3cret"));
    }

    #[test]
    fn contact_points_get_the_port_and_ipv6_brackets() {
        assert_eq!(
            opts().known_nodes(),
            ["10.0.0.1:9042", "[::1]:9042", "[::2]:9042"]
        );
    }

    #[test]
    fn keyspace_names_are_checked_before_being_inlined() {
        assert!(valid_keyspace("kong"));
        assert!(valid_keyspace("Kong_2"));
        assert!(!valid_keyspace(""));
        assert!(!valid_keyspace("kong'; DROP"));
        assert!(!valid_keyspace("a-b"));
        assert!(!valid_keyspace(&"k".repeat(49)));
    }

    #[test]
    fn kongs_consistency_names() {
        assert_eq!(consistency("ONE"), Some(Consistency::One));
        assert_eq!(consistency("local_quorum"), Some(Consistency::LocalQuorum));
        assert_eq!(consistency("SERIAL"), None);
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(1_714_557_600_123), "2024-05-01T10:00:00.123Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[tokio::test]
    async fn a_bad_keyspace_name_fails_before_any_connection() {
        let mut o = opts();
        o.keyspace = "no-dashes".into();
        let e = CassandraStore::connect(&o).await.err().unwrap();
        assert_eq!(e.kind, StoreErrorKind::MissingDatabase);
        assert!(e.hint.contains("cassandra_keyspace"), "{e}");
    }
}
