//! What the preflight (`kong::preflight`) reads from PostgreSQL: the server version, the routes
//! whose paths 3.x reads differently (counted and listed), the plugins configured, in one round
//! trip; and which authentication the server asks of Kong's role, from a bare startup handshake
//! (needs no privilege, and no password).

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ident, PgOptions, PgStore};
use crate::kong::preflight::RoutePaths;
use crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS_WHERE;
use crate::store::{StoreError, StoreErrorKind};

/// Routes tables above this many rows are counted on a sample (TABLESAMPLE BERNOULLI), so that the
/// read stays quick on a million routes.
pub const SAMPLE_ABOVE: i64 = crate::kong::rewrites::REGEX_SAMPLE_ABOVE;

/// Rows the sample aims at.
const SAMPLE_ROWS: i64 = 100_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreflightRead {
    pub server_version_num: Option<u32>,
    /// Routes with a regex path and no `~` (`None`: no routes table).
    pub regex_route_count: Option<i64>,
    /// The count is scaled up from a sample.
    pub regex_count_sampled: bool,
    /// Some of them (at most `kong::preflight::LIST_MAX`).
    pub regex_routes: Vec<RoutePaths>,
    /// Distinct `plugins.name` (`None`: no plugins table).
    pub db_plugins: Option<Vec<String>>,
}

/// Regex paths that may hold what 3.x's default router refuses are looked for in the WHOLE
/// routes table, never on the sample: that finding stops `auto` (exit 20), and a sample or the
/// first few routes by id can miss the one route that breaks. The test is a cheap superset of
/// `kong::preflight::incompatible_regex` (substrings only), which then judges each path exactly.
const SUSPECT_WHERE: &str = "EXISTS (SELECT 1 FROM unnest(paths) p WHERE left(p, 1) <> '~' \
     AND (strpos(p, '(?') > 0 OR strpos(p, '\\') > 0 OR strpos(p, '*+') > 0 \
          OR strpos(p, '++') > 0 OR strpos(p, '?+') > 0))";

/// At most this many suspect routes are read; the finding lists what it found.
pub const SUSPECTS_MAX: usize = 200;

#[derive(Deserialize)]
struct Raw {
    server_version_num: Option<String>,
    regex: Option<RawCount>,
    routes: Option<Vec<RawRoute>>,
    #[serde(default)]
    suspects: Option<Vec<RawRoute>>,
    plugins: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawCount {
    matched: i64,
    scanned: i64,
}

#[derive(Deserialize)]
struct RawRoute {
    id: String,
    name: Option<String>,
    paths: Option<Vec<String>>,
}

impl PgStore {
    fn table_name(&self, table: &str) -> String {
        match &self.opts.schema {
            Some(s) => format!("{}.{}", ident(s), ident(table)),
            None => ident(table),
        }
    }

    /// One query. `routes_rows`: the routes table's size as already read (`None`: it does not
    /// exist); `plugins_table`: the plugins table exists.
    /// `known_regex`: the regex routes already counted with the row counts (see
    /// [`PgStore::regex_route_count`]): not counted again.
    pub async fn preflight_read(
        &self,
        routes_rows: Option<i64>,
        plugins_table: bool,
        known_regex: Option<i64>,
    ) -> Result<PreflightRead, StoreError> {
        let mut parts =
            vec!["'server_version_num', current_setting('server_version_num')".to_string()];
        let mut sampled = false;
        if let Some(rows) = routes_rows {
            let routes = self.table_name("routes");
            let (sample, s) = sample_clause(rows);
            sampled = s;
            let cond = ROUTES_WITH_REGEX_PATHS_WHERE;
            if known_regex.is_none() {
                parts.push(format!(
                    "'regex', (SELECT json_build_object('matched', count(*) FILTER (WHERE {cond}), 'scanned', count(*)) FROM {routes}{sample})"
                ));
            }
            parts.push(format!(
                "'routes', (SELECT coalesce(json_agg(json_build_object('id', id::text, 'name', name, 'paths', paths)), '[]'::json) \
                 FROM (SELECT id, name, paths FROM {routes}{sample} WHERE {cond} ORDER BY id LIMIT {}) r)",
                crate::kong::preflight::LIST_MAX
            ));
            parts.push(format!(
                "'suspects', (SELECT coalesce(json_agg(json_build_object('id', id::text, 'name', name, 'paths', paths)), '[]'::json) \
                 FROM (SELECT id, name, paths FROM {routes} WHERE {SUSPECT_WHERE} ORDER BY id LIMIT {SUSPECTS_MAX}) r)"
            ));
        }
        if plugins_table {
            parts.push(format!(
                "'plugins', (SELECT coalesce(json_agg(name ORDER BY name), '[]'::json) FROM (SELECT DISTINCT name FROM {}) p)",
                self.table_name("plugins")
            ));
        }
        let sql = format!("SELECT json_build_object({})::text", parts.join(", "));
        let rows = self.simple_rows(&sql).await?;
        let text = rows
            .first()
            .and_then(|r| r.get(0))
            .ok_or_else(|| StoreError {
                kind: StoreErrorKind::Query,
                message: "the server returned no row for the preflight read".into(),
                hint: String::new(),
            })?;
        let raw: Raw = serde_json::from_str(text).map_err(|e| StoreError {
            kind: StoreErrorKind::Malformed,
            message: format!("the routes or plugins table cannot be read: {e}"),
            hint: "were Kong's tables altered by hand?".into(),
        })?;
        let regex_route_count = match known_regex {
            Some(n) => routes_rows.map(|_| n),
            None => raw
                .regex
                .as_ref()
                .map(|c| scaled(c.matched, c.scanned, sampled, routes_rows)),
        };
        Ok(PreflightRead {
            server_version_num: raw.server_version_num.and_then(|s| s.trim().parse().ok()),
            regex_route_count,
            regex_count_sampled: sampled,
            regex_routes: {
                // The listed ones, then every suspect not already among them.
                let mut seen = std::collections::HashSet::new();
                raw.routes
                    .unwrap_or_default()
                    .into_iter()
                    .chain(raw.suspects.unwrap_or_default())
                    .filter(|r| seen.insert(r.id.clone()))
                    .map(|r| RoutePaths {
                        id: r.id,
                        name: r.name,
                        paths: r.paths.unwrap_or_default(),
                    })
                    .collect()
            },
            db_plugins: raw.plugins,
        })
    }
}

impl PgStore {
    /// Routes whose paths carry regex characters and no `~` (what core `016_280_to_300`'s up_f
    /// rewrites one UPDATE at a time), for a routes table of `routes_rows` rows: counted on a
    /// sample above [`SAMPLE_ABOVE`] rows and scaled up.
    pub async fn regex_route_count(&self, routes_rows: i64) -> Result<i64, StoreError> {
        let (sample, sampled) = sample_clause(routes_rows);
        let sql = format!(
            "SELECT count(*) FILTER (WHERE {ROUTES_WITH_REGEX_PATHS_WHERE}), count(*) FROM {}{sample}",
            self.table_name("routes")
        );
        let rows = self.simple_rows(&sql).await?;
        let num = |i: usize| {
            rows.first()
                .and_then(|r| r.get(i))
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(scaled(num(0), num(1), sampled, Some(routes_rows)))
    }
}

/// The TABLESAMPLE clause for a routes table of `rows` rows, and whether it samples.
fn sample_clause(rows: i64) -> (String, bool) {
    if rows > SAMPLE_ABOVE {
        let pct = (SAMPLE_ROWS as f64 * 100.0 / rows as f64).clamp(0.01, 100.0);
        // BERNOULLI picks rows, not whole pages: routes created together (one decK sync) sit
        // on neighbouring pages, and a page sample misses them all or counts them many times.
        (format!(" TABLESAMPLE BERNOULLI ({pct:.4})"), true)
    } else {
        (String::new(), false)
    }
}

/// A sampled count scaled up to the table's rows.
fn scaled(matched: i64, scanned: i64, sampled: bool, rows: Option<i64>) -> i64 {
    if sampled && scanned > 0 {
        let rows = rows.unwrap_or(scanned) as f64;
        (matched as f64 * rows / scanned as f64).round() as i64
    } else {
        matched
    }
}

/// What the server asks a client for at login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthAsked {
    Trust,
    Cleartext,
    Md5,
    /// SASL with SCRAM-SHA-256 offered.
    Scram,
    Other(i32),
}

/// Opens a startup handshake as Kong's role and reads the first authentication request, then
/// hangs up. `None` when it cannot tell: the server refused the connection, or demands TLS
/// (kongrade does not speak TLS here).
pub async fn auth_asked(opts: &PgOptions) -> Option<AuthAsked> {
    let go = async {
        if opts.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", opts.host, opts.port);
            let s = tokio::net::UnixStream::connect(path).await.ok()?;
            handshake(s, opts).await
        } else {
            let s = tokio::net::TcpStream::connect((opts.host.as_str(), opts.port))
                .await
                .ok()?;
            handshake(s, opts).await
        }
    };
    tokio::time::timeout(opts.timeout, go).await.ok().flatten()
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    opts: &PgOptions,
) -> Option<AuthAsked> {
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes()); // protocol 3.0
    for (k, v) in [
        ("user", opts.user.as_str()),
        ("database", opts.database.as_str()),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg).await.ok()?;
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await.ok()?;
    if head[0] != b'R' {
        return None;
    }
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    // An authentication request is short; anything else is not one we read.
    if !(8..=1024).contains(&len) {
        return None;
    }
    let mut rest = vec![0u8; (len - 4) as usize];
    s.read_exact(&mut rest).await.ok()?;
    let code = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    Some(match code {
        0 => AuthAsked::Trust,
        3 => AuthAsked::Cleartext,
        5 => AuthAsked::Md5,
        10 if rest[4..]
            .split(|b| *b == 0)
            .any(|m| m == b"SCRAM-SHA-256" || m == b"SCRAM-SHA-256-PLUS") =>
        {
            AuthAsked::Scram
        }
        other => AuthAsked::Other(other),
    })
}
