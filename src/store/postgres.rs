//! PostgreSQL: reads schema_meta, the migrations lock, the pre-1.0 table, data planes and the
//! server version in two round trips (one to learn which tables exist, one to read them).
//! Read-only: no write, no lock taken.

use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};

use serde::Deserialize;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, SimpleQueryMessage};

use super::{Counted, Store, StoreError, StoreErrorKind};

mod marks;
mod preflight;
use crate::kong::catalog::Db;
use crate::kong::conf::{PgConf, Secret};
use crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS;
use crate::kong::snapshot::{DataPlaneRow, LockRow, SchemaMetaRow, Snapshot};
pub use marks::{schema_meta_text, table_marks};
pub use preflight::{auth_asked, AuthAsked, PreflightRead};

/// How to reach Kong's PostgreSQL database, as kong.conf's pg_* keys say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Shown by `Debug` as `<redacted>`; exposed only to the driver and libpq's environment.
    pub password: Option<Secret>,
    pub database: String,
    pub schema: Option<String>,
    pub timeout: Duration,
    pub ssl: bool,
    pub ssl_verify: bool,
    pub trusted_certificates: Vec<String>,
}

impl PgOptions {
    pub fn from_conf(pg: &PgConf) -> PgOptions {
        PgOptions {
            host: pg.host.clone(),
            port: pg.port,
            user: pg.user.clone(),
            password: pg.password.clone(),
            database: pg.database.clone(),
            schema: pg.schema.clone(),
            timeout: Duration::from_millis(pg.timeout_ms),
            ssl: pg.ssl,
            ssl_verify: pg.ssl_verify,
            trusted_certificates: pg.trusted_certificates.clone(),
        }
    }

    /// `kong@127.0.0.1:5432/kong` (schema appended when set); never the password.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        );
        if let Some(schema) = &self.schema {
            s.push_str(&format!(" (schema {schema})"));
        }
        s
    }
}

/// An open, read-only connection.
pub struct PgStore {
    client: Client,
    opts: PgOptions,
    /// Statements sent through [`PgStore::simple_rows`]: each is one round trip (the bench and
    /// the tests hold the preflight to one).
    sent: std::sync::atomic::AtomicU64,
    /// The routes' read made by the row count, until the preflight read takes it.
    routes_scan: std::sync::Mutex<Option<crate::kong::preflight::RoutesScan>>,
}

fn err(kind: StoreErrorKind, message: String, hint: &str) -> StoreError {
    StoreError {
        kind,
        message,
        hint: hint.to_string(),
    }
}

/// Sorts a driver error into what the operator must do. `what` names the database.
pub(crate) fn classify(e: &tokio_postgres::Error, opts: &PgOptions) -> StoreError {
    let target = opts.describe();
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return err(
                StoreErrorKind::Auth,
                format!("PostgreSQL at {target} refused the login: {}", db.message()),
                "check pg_user and pg_password in kong.conf (or KONG_PG_USER / KONG_PG_PASSWORD)",
            );
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return err(
                StoreErrorKind::MissingDatabase,
                format!("PostgreSQL at {}:{} has no database '{}'", opts.host, opts.port, opts.database),
                "check pg_database in kong.conf; a brand new installation needs the database created first (createdb), then 'kong migrations bootstrap'",
            );
        }
        return err(
            StoreErrorKind::Query,
            format!("PostgreSQL at {target}: {} ({})", db.message(), code.code()),
            "",
        );
    }
    let text = full_chain(e);
    let lower = text.to_lowercase();
    if lower.contains("tls") || lower.contains("certificate") || lower.contains("ssl") {
        return err(
            StoreErrorKind::Tls,
            format!("TLS with PostgreSQL at {target} failed: {text}"),
            "check pg_ssl, pg_ssl_verify and lua_ssl_trusted_certificate in kong.conf",
        );
    }
    err(
        StoreErrorKind::Unreachable,
        format!("cannot reach PostgreSQL at {target}: {text}"),
        "is the server running, and are pg_host / pg_port right? (kong.conf, KONG_PG_HOST, --pg-host)",
    )
}

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

/// Quotes a string as an SQL literal. Used only for names from kong.conf in the simple query
/// protocol, which has no parameters; standard_conforming_strings is on since PostgreSQL 9.1.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// What is wrong with schema_meta's columns (`name:type,...` from pg_attribute), if anything:
/// a wrong type must become a message naming the column, not a parse error later.
fn schema_meta_columns_problem(cols: &str) -> Option<String> {
    let have: Vec<(&str, &str)> = cols.split(',').filter_map(|c| c.split_once(':')).collect();
    let mut problems = Vec::new();
    for (name, want) in [
        ("key", "text"),
        ("subsystem", "text"),
        ("last_executed", "text"),
        ("executed", "text[]"),
        ("pending", "text[]"),
    ] {
        match have.iter().find(|(n, _)| *n == name) {
            None => problems.push(format!("column {name} is missing")),
            // varchar(n) and varchar(n)[] read the same as text and text[].
            Some((_, t)) if normalize_type(t) == want => {}
            Some((_, t)) => problems.push(format!("{name} is {t}, not {want}")),
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn normalize_type(t: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.replace("character varying", "text")
}

/// Kong's entity tables (and cluster_events) watched for Admin API writes between up and finish.
const WATCHED_TABLES: &[&str] = &[
    "services",
    "routes",
    "plugins",
    "consumers",
    "upstreams",
    "targets",
    "certificates",
    "snis",
    "ca_certificates",
    "workspaces",
    "keyauth_credentials",
    "basicauth_credentials",
    "acls",
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "vaults",
    "key_sets",
    "keys",
    "cluster_events",
];

/// Columns of clustering_data_planes kongrade reads, when present (they arrived over releases).
const DP_COLUMNS: &[&str] = &[
    "hostname",
    "ip",
    "version",
    "sync_status",
    "config_hash",
    "last_seen",
];

impl PgStore {
    /// A read-only session (what every reader of Kong's database uses).
    pub async fn connect(opts: &PgOptions) -> Result<PgStore, StoreError> {
        Self::connect_session(opts, true).await
    }

    /// A writable session, for the kong stand-in that keeps Kong's bookkeeping (schema_meta,
    /// locks). Same UTC session as the reader.
    pub async fn connect_writable(opts: &PgOptions) -> Result<PgStore, StoreError> {
        Self::connect_session(opts, false).await
    }

    /// Statements this session sent so far (one round trip each).
    pub fn statements_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The open session, for statements beyond [`PgStore::snapshot`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn connect_session(opts: &PgOptions, read_only: bool) -> Result<PgStore, StoreError> {
        if opts.database.contains('\0') || opts.schema.as_deref().is_some_and(|s| s.contains('\0'))
        {
            return Err(err(
                StoreErrorKind::Query,
                "pg_database or pg_schema contains a NUL byte".into(),
                "fix the value in kong.conf",
            ));
        }
        let mut cfg = Config::new();
        cfg.host(&opts.host)
            .port(opts.port)
            .user(&opts.user)
            .dbname(&opts.database)
            .application_name("kongrade")
            .connect_timeout(opts.timeout)
            // Kong sets its sessions to UTC and writes the lock ttl in UTC wall time; reading in
            // any other zone shifts the lock's liveness by the offset.
            .options(if read_only {
                "-c TimeZone=UTC -c default_transaction_read_only=on"
            } else {
                "-c TimeZone=UTC"
            });
        if let Some(p) = &opts.password {
            cfg.password(p.expose());
        }
        let fut = async {
            if opts.ssl {
                cfg.ssl_mode(SslMode::Require);
                let tls = super::tls::client_config(opts.ssl_verify, &opts.trusted_certificates)
                    .map_err(|e| {
                        err(
                            StoreErrorKind::Tls,
                            format!("{e:#}"),
                            "check lua_ssl_trusted_certificate in kong.conf",
                        )
                    })?;
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                let (client, conn) = cfg
                    .connect(connector)
                    .await
                    .map_err(|e| classify(&e, opts))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            } else {
                cfg.ssl_mode(SslMode::Disable);
                let (client, conn) = cfg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| classify(&e, opts))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
        };
        // connect_timeout covers the TCP connect only; the whole handshake gets pg_timeout too.
        let client = match tokio::time::timeout(opts.timeout + Duration::from_millis(100), fut)
            .await
        {
            Ok(r) => r?,
            Err(_) => return Err(err(
                StoreErrorKind::Unreachable,
                format!(
                    "PostgreSQL at {} did not answer within {} ms",
                    opts.describe(),
                    opts.timeout.as_millis()
                ),
                "is the server up and reachable? raise pg_timeout in kong.conf if it is just slow",
            )),
        };
        Ok(PgStore {
            client,
            opts: opts.clone(),
            sent: Default::default(),
            routes_scan: Default::default(),
        })
    }

    async fn simple_rows(
        &self,
        sql: &str,
    ) -> Result<Vec<tokio_postgres::SimpleQueryRow>, StoreError> {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fut = self.client.simple_query(sql);
        let msgs = match tokio::time::timeout(self.opts.timeout, fut).await {
            Ok(r) => r.map_err(|e| classify(&e, &self.opts))?,
            Err(_) => {
                return Err(err(
                    StoreErrorKind::Unreachable,
                    format!(
                        "PostgreSQL at {} stopped answering (no reply within {} ms)",
                        self.opts.describe(),
                        self.opts.timeout.as_millis()
                    ),
                    "check the server; raise pg_timeout if it is only slow",
                ))
            }
        };
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .collect())
    }

    /// Sends `sql` (one or more statements, one round trip) and hands each row to `each` with
    /// the index of its statement, as the rows arrive (a scan's rows are never all held).
    /// `bound`: how long the whole read may take.
    async fn simple_each(
        &self,
        sql: &str,
        bound: Duration,
        mut each: impl FnMut(usize, &tokio_postgres::SimpleQueryRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use futures::StreamExt;
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fut = async {
            let stream = self
                .client
                .simple_query_raw(sql)
                .await
                .map_err(|e| classify(&e, &self.opts))?;
            futures::pin_mut!(stream);
            let mut statement = 0;
            while let Some(m) = stream.next().await {
                match m.map_err(|e| classify(&e, &self.opts))? {
                    SimpleQueryMessage::Row(r) => each(statement, &r)?,
                    SimpleQueryMessage::CommandComplete(_) => statement += 1,
                    _ => {}
                }
            }
            Ok(())
        };
        match tokio::time::timeout(bound, fut).await {
            Ok(r) => r,
            Err(_) => Err(err(
                StoreErrorKind::Unreachable,
                format!(
                    "PostgreSQL at {} stopped answering (no reply within {} ms)",
                    self.opts.describe(),
                    bound.as_millis()
                ),
                "check the server; raise pg_timeout if it is only slow",
            )),
        }
    }

    /// Reads everything kongrade needs about Kong's tables.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let reg = |table: &str| match &self.opts.schema {
            Some(s) => format!(
                "to_regclass({})::text",
                literal(&format!("{}.{}", ident(s), table))
            ),
            None => format!("to_regclass({})::text", literal(table)),
        };
        let schema_expr = match &self.opts.schema {
            Some(s) => literal(s),
            None => "current_schema()".to_string(),
        };
        let schema_exists = match &self.opts.schema {
            Some(s) => format!(
                "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {})",
                literal(s)
            ),
            None => "true".to_string(),
        };
        let cdp_schema = match &self.opts.schema {
            Some(s) => literal(s),
            None => "(SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('clustering_data_planes'))".to_string(),
        };
        let probe = format!(
            "SELECT current_setting('server_version'), coalesce({schema_expr}, ''), {schema_exists}, \
             {sm}, {locks}, {legacy}, {cdp}, \
             (SELECT string_agg(column_name::text, ',') FROM information_schema.columns \
              WHERE table_schema = {cdp_schema} AND table_name = 'clustering_data_planes'), \
             (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',') FROM pg_attribute \
              WHERE attrelid = {sm_oid} AND attnum > 0 AND NOT attisdropped), \
             {routes}, \
             EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {targets_oid} AND attname = 'cache_key' AND NOT attisdropped) \
             AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {routes_oid} AND attname = 'paths' \
               AND atttypid = 'text[]'::regtype AND NOT attisdropped)",
            sm_oid = reg("schema_meta").trim_end_matches("::text"),
            routes = reg("routes"),
            routes_oid = reg("routes").trim_end_matches("::text"),
            targets_oid = reg("targets").trim_end_matches("::text"),
            sm = reg("schema_meta"),
            locks = reg("locks"),
            legacy = reg("schema_migrations"),
            cdp = reg("clustering_data_planes"),
        );
        let rows = self.simple_rows(&probe).await?;
        let row = rows.first().ok_or_else(|| {
            err(
                StoreErrorKind::Query,
                "the server returned no row for the table probe".into(),
                "",
            )
        })?;
        let get = |i: usize| row.get(i).map(str::to_string);
        let server_version = get(0).unwrap_or_default();
        let namespace = get(1).unwrap_or_default();
        if get(2).as_deref() != Some("t") {
            return Err(err(
                StoreErrorKind::MissingSchema,
                format!(
                    "pg_schema '{}' does not exist in database '{}'",
                    self.opts.schema.clone().unwrap_or_default(),
                    self.opts.database
                ),
                "check pg_schema in kong.conf: Kong keeps its tables there; leave it unset to use the search_path (usually 'public')",
            ));
        }
        let (sm, locks, legacy, cdp) = (get(3), get(4), get(5), get(6));
        // core 016_280_to_300's SQL adds targets.cache_key and commits before its Lua rewrites
        // the routes: only then can an interrupted run have left `~` paths (kong::half_applied).
        // A routes.paths altered away from text[] is not read (it would fail the whole read).
        let routes_016 = get(9).filter(|_| get(10).as_deref() == Some("t"));
        let cdp_cols: Vec<String> = get(7)
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        if sm.is_some() {
            if let Some(problem) = schema_meta_columns_problem(get(8).as_deref().unwrap_or("")) {
                return Err(err(
                    StoreErrorKind::Malformed,
                    format!("Kong's schema_meta in {} cannot be read: {problem}", self.opts.describe()),
                    "Kong creates it as (key text, subsystem text, last_executed text, executed text[], pending text[]); was it altered by hand? Compare with a backup before running any migration",
                ));
            }
        }

        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = &sm {
            // Kong writes one-dimensional lists; a row with a deeper array is set aside and
            // named (table, row, column) instead of failing the whole read on its JSON.
            let flat =
                "coalesce(array_ndims(executed), 1) = 1 AND coalesce(array_ndims(pending), 1) = 1";
            parts.push(format!(
                "'schema_meta', (SELECT coalesce(json_agg(json_build_object('key', key, 'subsystem', subsystem, \
                 'last_executed', last_executed, 'executed', executed, 'pending', pending) ORDER BY subsystem, key), '[]'::json) FROM {t} WHERE {flat}), \
                 'deep_arrays', (SELECT json_agg(json_build_object('key', key, 'subsystem', subsystem, \
                 'executed', array_ndims(executed), 'pending', array_ndims(pending))) FROM {t} WHERE NOT ({flat}))"
            ));
        }
        if let (Some(t), Some(r)) = (&sm, &routes_016) {
            // Read only while 016 is unrecorded: on a 3.x database every regex path has its `~`.
            // While the rewrite runs (another session sends its statements) nothing is scanned:
            // the wizard reads every second, and the routes are being written.
            // A session whose query this role may not read could be the rewrite: "cannot tell",
            // never "not running" (kong::snapshot::RewriteSeen).
            use crate::kong::half_applied::{
                HIDDEN_SQL, MIGRATION as m, REWRITE_QUERIES_SQL, REWRITTEN_SQL,
            };
            let tilde = format!("EXISTS (SELECT 1 FROM unnest(paths) p WHERE {REWRITTEN_SQL})");
            let others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
            let running = format!(
                "EXISTS (SELECT 1 {others} \
                 AND (state = 'active' OR state_change > now() - interval '60 seconds') AND {REWRITE_QUERIES_SQL})"
            );
            let hidden = format!("EXISTS (SELECT 1 {others} AND {HIDDEN_SQL})");
            let hidden_roles = format!(
                "(SELECT coalesce(json_agg(DISTINCT coalesce(usename::text, usesysid::text) \
                   ORDER BY coalesce(usename::text, usesysid::text)), '[]'::json) {others} AND {HIDDEN_SQL})"
            );
            let hidden_apps = format!(
                "(SELECT coalesce(json_agg(DISTINCT application_name ORDER BY application_name) \
                   FILTER (WHERE application_name <> ''), '[]'::json) {others} AND {HIDDEN_SQL})"
            );
            parts.push(format!(
                "'tilde', CASE WHEN EXISTS (SELECT 1 FROM {t} WHERE key = 'schema_meta' AND subsystem = 'core' \
                 AND ('{m}' = ANY(executed) OR '{m}' = ANY(pending))) THEN NULL \
                 WHEN {running} THEN json_build_object('count', 0, 'listed', '[]'::json, 'rewrite', 'running') \
                 WHEN {hidden} THEN json_build_object('count', 0, 'listed', '[]'::json, 'rewrite', \
                   json_build_object('cannot_tell', json_build_object('role', current_user, 'hidden', {hidden_roles}, \
                     'applications', {hidden_apps}))) \
                 ELSE (SELECT json_build_object('count', count(*), \
                   'listed', coalesce(json_agg(json_build_array(id::text, name, array_remove(paths, NULL)) ORDER BY id) \
                     FILTER (WHERE n <= {max}), '[]'::json)) \
                   FROM (SELECT id, name, paths, row_number() OVER (ORDER BY id) AS n FROM {r} WHERE {tilde}) x) END",
                max = crate::kong::preflight::LIST_MAX
            ));
        }
        if let Some(t) = &locks {
            // Kong's liveness rule, verbatim: ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC'.
            // 'infinity' and '-infinity' are valid ttls: shown as such (no seconds), and a year
            // before the common era keeps its "BC".
            parts.push(format!(
                "'lock', (SELECT json_build_object('owner', owner, \
                 'ttl', CASE WHEN NOT isfinite(ttl) THEN ttl::text \
                   ELSE to_char(ttl AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                   || CASE WHEN ttl < '0001-01-01 00:00:00+00'::timestamptz THEN ' BC' ELSE '' END END, \
                 'live', coalesce(ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC', false), \
                 'seconds_left', CASE WHEN isfinite(ttl) THEN extract(epoch FROM (ttl - CURRENT_TIMESTAMP))::float8 END) \
                 FROM {t} WHERE key = 'migrations' LIMIT 1)"
            ));
        }
        if let Some(t) = &legacy {
            parts.push(format!(
                "'legacy', (SELECT coalesce(json_agg(json_build_object('id', id::text, 'migrations', migrations)), '[]'::json) FROM {t})"
            ));
        }
        if let Some(t) = &cdp {
            let mut fields = vec!["'id', id::text".to_string()];
            for c in DP_COLUMNS {
                if cdp_cols.iter().any(|x| x == c) {
                    fields.push(format!("'{c}', {c}::text"));
                }
            }
            if cdp_cols.iter().any(|x| x == "last_seen") {
                fields.push("'last_seen_secs_ago', extract(epoch FROM (CURRENT_TIMESTAMP - last_seen))::float8".into());
            }
            if cdp_cols.iter().any(|x| x == "ttl") {
                fields.push(
                    "'ttl_secs_left', extract(epoch FROM (ttl - CURRENT_TIMESTAMP))::float8".into(),
                );
            }
            parts.push(format!(
                "'data_planes', (SELECT coalesce(json_agg(json_build_object({})), '[]'::json) FROM {t})",
                fields.join(", ")
            ));
        }

        let mut snap = Snapshot::empty(Db::Postgres, &namespace);
        snap.server_version = server_version;
        snap.locks_table = locks.is_some();
        if parts.is_empty() {
            return Ok(snap);
        }
        let sql = format!("SELECT json_build_object({})::text", parts.join(", "));
        let rows = match self.simple_rows(&sql).await {
            Ok(r) => r,
            Err(e) if e.kind == StoreErrorKind::Query => {
                return Err(err(
                    StoreErrorKind::Malformed,
                    format!("Kong's tables in {} cannot be read: {}", self.opts.describe(), e.message),
                    "the schema_meta or locks table does not have the columns Kong creates; was it altered by hand?",
                ))
            }
            Err(e) => return Err(e),
        };
        let text = rows.first().and_then(|r| r.get(0)).ok_or_else(|| {
            err(
                StoreErrorKind::Query,
                "the server returned no row".into(),
                "",
            )
        })?;
        let raw: RawRead = serde_json::from_str(text).map_err(|e| {
            err(
                StoreErrorKind::Malformed,
                format!("Kong's tables hold values kongrade cannot read: {e}"),
                "",
            )
        })?;
        if let Some(deep) = raw.deep_arrays.as_ref().filter(|d| !d.is_empty()) {
            let rows: Vec<String> = deep
                .iter()
                .map(|d| {
                    let mut cols = Vec::new();
                    for (name, n) in [("executed", d.executed), ("pending", d.pending)] {
                        if let Some(n) = n.filter(|n| *n > 1) {
                            cols.push(format!("{name} is a {n}-dimensional array"));
                        }
                    }
                    format!(
                        "row subsystem '{}' (key '{}'): {}",
                        crate::text::echo(d.subsystem.as_deref().unwrap_or("")),
                        crate::text::echo(d.key.as_deref().unwrap_or("")),
                        cols.join(", ")
                    )
                })
                .collect();
            return Err(err(
                StoreErrorKind::Malformed,
                format!(
                    "Kong's schema_meta in {} cannot be read: {}",
                    self.opts.describe(),
                    rows.join("; ")
                ),
                "Kong writes executed and pending as one-dimensional lists of names; was the row edited by hand? Compare with a backup before running any migration",
            ));
        }
        if sm.is_some() {
            snap.schema_meta = Some(
                raw.schema_meta
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            );
        }
        snap.lock = raw.lock;
        snap.tilde_routes = raw.tilde;
        if legacy.is_some() {
            snap.legacy_migrations = Some(
                raw.legacy
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| {
                        (
                            l.id,
                            l.migrations
                                .unwrap_or_default()
                                .into_iter()
                                .flatten()
                                .collect(),
                        )
                    })
                    .collect(),
            );
        }
        if cdp.is_some() {
            snap.data_planes = Some(raw.data_planes.unwrap_or_default());
        }
        Ok(snap)
    }

    /// The database's size on disk in bytes, to check a backup will fit before starting it.
    pub async fn database_size(&self) -> Result<u64, StoreError> {
        let rows = self
            .simple_rows("SELECT pg_database_size(current_database())")
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get(0))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// Rows of Kong's entity tables created or updated after `since` (seconds since the epoch),
    /// and cluster events after it: Admin API writes. Only tables and columns that exist.
    pub async fn writes_since(&self, since: u64) -> Result<Vec<(String, i64)>, StoreError> {
        let schema = match &self.opts.schema {
            Some(s) => literal(s),
            None => "current_schema()".to_string(),
        };
        let cols = self
            .simple_rows(&format!(
                "SELECT table_name::text, string_agg(column_name::text, ',') FROM information_schema.columns \
                 WHERE table_schema = {schema} AND column_name IN ('created_at', 'updated_at', 'at') \
                 GROUP BY table_name"
            ))
            .await?;
        let mut parts = Vec::new();
        for r in &cols {
            let (Some(table), Some(c)) = (r.get(0), r.get(1)) else {
                continue;
            };
            if !WATCHED_TABLES.contains(&table) {
                continue;
            }
            let c: Vec<&str> = c.split(',').collect();
            let cond = if table == "cluster_events" && c.contains(&"at") {
                "at".to_string()
            } else if c.contains(&"updated_at") && c.contains(&"created_at") {
                "greatest(created_at, updated_at)".to_string()
            } else if c.contains(&"created_at") {
                "created_at".to_string()
            } else {
                continue;
            };
            let name = match &self.opts.schema {
                Some(s) => format!("{}.{}", ident(s), ident(table)),
                None => ident(table),
            };
            parts.push(format!(
                "SELECT {lit}, count(*) FROM {name} WHERE {cond} > to_timestamp({since})",
                lit = literal(table)
            ));
        }
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.simple_rows(&parts.join(" UNION ALL ")).await?;
        let mut out: Vec<(String, i64)> = rows
            .iter()
            .filter_map(|r| Some((r.get(0)?.to_string(), r.get(1)?.parse().ok()?)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        Ok(out)
    }

    /// The planner's row estimates (`pg_class.reltuples`) of the given tables that exist: instant
    /// even where count(*) would outlast pg_timeout. `None` for a table never analyzed.
    pub async fn estimate_rows(
        &self,
        tables: &[&str],
    ) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = tables.iter().map(|t| literal(t)).collect();
        let reg = match &self.opts.schema {
            Some(s) => format!(
                "to_regclass(quote_ident({}) || '.' || quote_ident(t.name))",
                literal(s)
            ),
            None => "to_regclass(quote_ident(t.name))".to_string(),
        };
        let sql = format!(
            "SELECT t.name, CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END \
             FROM unnest(ARRAY[{}]::text[]) AS t(name) JOIN pg_class c ON c.oid = {reg} ORDER BY t.name",
            names.join(", ")
        );
        let rows = self.simple_rows(&sql).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let name = r.get(0)?.to_string();
                Some((name, r.get(1).and_then(|n| n.parse().ok())))
            })
            .collect())
    }

    /// Counts rows of the given tables that exist (for diagnosis of long migrations).
    pub async fn count_rows(&self, tables: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
        let mut out = Vec::new();
        for t in tables {
            let reg = match &self.opts.schema {
                Some(s) => format!("{}.{}", ident(s), ident(t)),
                None => ident(t),
            };
            let probe = format!("SELECT to_regclass({})::text", literal(&reg));
            let rows = self.simple_rows(&probe).await?;
            let Some(name) = rows.first().and_then(|r| r.get(0)).map(str::to_string) else {
                continue;
            };
            let rows = self
                .simple_rows(&format!("SELECT count(*) FROM {name}"))
                .await?;
            if let Some(n) = rows
                .first()
                .and_then(|r| r.get(0))
                .and_then(|s| s.parse().ok())
            {
                out.push((t.to_string(), n));
            }
        }
        Ok(out)
    }

    /// Rows of the given tables that exist: the planner's estimate (instant on huge tables), or
    /// an exact count where the table was never analyzed.
    /// [`ROUTES_WITH_REGEX_PATHS`] among `tables` is not a table: the routes whose paths core
    /// `016_280_to_300` rewrites, counted when `routes` exists (its estimate needs them).
    pub async fn row_counts(&self, tables: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
        let wants_regex = tables.contains(&ROUTES_WITH_REGEX_PATHS);
        let tables: Vec<&str> = tables
            .iter()
            .copied()
            .filter(|t| *t != ROUTES_WITH_REGEX_PATHS)
            .collect();
        let tables = &tables[..];
        let estimates = self.estimate_rows(tables).await?;
        let exact_for: Vec<&str> = estimates
            .iter()
            .filter(|(_, n)| n.is_none_or(|n| n <= 0))
            .map(|(t, _)| t.as_str())
            .collect();
        let mut out: Vec<(String, i64)> = estimates
            .iter()
            .filter_map(|(t, n)| n.filter(|n| *n > 0).map(|n| (t.clone(), n)))
            .collect();
        out.extend(self.count_rows(&exact_for).await?);
        if wants_regex {
            if let Some(routes) = out.iter().find(|(t, _)| t == "routes").map(|(_, n)| *n) {
                // Not fatal: without it the estimate falls back to every route, and the
                // preflight reads again (and says so when that fails too).
                let n = if routes > 0 {
                    self.scan_routes().await.ok().map(|s| s.regex)
                } else {
                    Some(0)
                };
                if let Some(n) = n {
                    out.push((ROUTES_WITH_REGEX_PATHS.to_string(), n));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Store for PgStore {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
        PgStore::snapshot(self).boxed()
    }

    fn row_counts<'a>(&'a self, tables: &'a [&'a str]) -> Counted<'a> {
        async move { PgStore::row_counts(self, tables).await.map(Some) }.boxed()
    }

    fn writes_since(&self, since: u64) -> Counted<'_> {
        async move { PgStore::writes_since(self, since).await.map(Some) }.boxed()
    }

    fn describe(&self) -> String {
        self.opts.describe()
    }

    fn as_postgres(&self) -> Option<&PgStore> {
        Some(self)
    }
}

#[derive(Deserialize)]
struct RawRead {
    schema_meta: Option<Vec<RawMeta>>,
    deep_arrays: Option<Vec<RawDeep>>,
    lock: Option<LockRow>,
    legacy: Option<Vec<RawLegacy>>,
    data_planes: Option<Vec<DataPlaneRow>>,
    #[serde(default)]
    tilde: Option<crate::kong::snapshot::TildeRoutes>,
}

#[derive(Deserialize)]
struct RawMeta {
    key: Option<String>,
    subsystem: Option<String>,
    last_executed: Option<String>,
    executed: Option<Vec<Option<String>>>,
    pending: Option<Vec<Option<String>>>,
}

impl From<RawMeta> for SchemaMetaRow {
    fn from(r: RawMeta) -> Self {
        // NULL elements inside an array carry no name; Kong's Lua would skip them too.
        SchemaMetaRow {
            key: r.key.unwrap_or_default(),
            subsystem: r.subsystem.unwrap_or_default(),
            last_executed: r.last_executed,
            executed: r.executed.map(|v| v.into_iter().flatten().collect()),
            pending: r.pending.map(|v| v.into_iter().flatten().collect()),
        }
    }
}

/// A schema_meta row with an array of more than one dimension: which one, and how deep.
#[derive(Deserialize)]
struct RawDeep {
    key: Option<String>,
    subsystem: Option<String>,
    executed: Option<i32>,
    pending: Option<i32>,
}

#[derive(Deserialize)]
struct RawLegacy {
    id: String,
    migrations: Option<Vec<Option<String>>>,
}

#[cfg(test)]
mod tests {
    use super::schema_meta_columns_problem as problem;

    #[test]
    fn schema_meta_columns_are_checked_by_name_and_type() {
        let kong = "key:text,subsystem:text,last_executed:text,executed:text[],pending:text[]";
        assert_eq!(problem(kong), None);
        assert_eq!(problem("key:character varying(255),subsystem:text,last_executed:text,executed:character varying(100)[],pending:text[]"), None);
        assert_eq!(
            problem("key:text,subsystem:text,last_executed:text,executed:text,pending:text[]")
                .as_deref(),
            Some("executed is text, not text[]")
        );
        assert_eq!(
            problem("key:text,subsystem:text,executed:text[],pending:text[]").as_deref(),
            Some("column last_executed is missing")
        );
    }
}
