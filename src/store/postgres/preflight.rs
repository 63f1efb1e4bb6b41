//! What the preflight (`kong::preflight`) reads from PostgreSQL: the server version, the routes
//! whose paths 3.x reads differently (every route judged, once per session: the row count's read
//! is shared), the plugins configured, in one round trip; and which authentication the server asks of Kong's role, from a bare startup handshake
//! (needs no privilege, and no password).

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ident, PgOptions, PgStore};
use crate::kong::preflight::{sql_maybe_regex_route, RoutePaths, RoutesScan};
use crate::store::{StoreError, StoreErrorKind};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreflightRead {
    pub server_version_num: Option<u32>,
    /// What the read of every route found (`None`: no routes table).
    pub routes: Option<RoutesScan>,
    /// Distinct `plugins.name` (`None`: no plugins table).
    pub db_plugins: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Raw {
    server_version_num: Option<String>,
    plugins: Option<Vec<String>>,
}

impl PgStore {
    fn table_name(&self, table: &str) -> String {
        match &self.opts.schema {
            Some(s) => format!("{}.{}", ident(s), ident(table)),
            None => ident(table),
        }
    }

    /// The statements of the routes' read, in one string (one round trip): the planner is told
    /// that sending rows from parallel workers is cheap (the prefilter keeps few; where the
    /// server has no parallel query the setting is skipped), then the rows the prefilter keeps.
    /// Every route is read: the refused-regex finding stops `auto`, a sample could miss the
    /// one route that breaks.
    fn routes_scan_sql(&self) -> String {
        format!(
            "SELECT set_config(name, '0', true) FROM pg_settings WHERE name = 'parallel_tuple_cost'; \
             SELECT id::text, name, array_to_json(paths)::text FROM {} WHERE {}",
            self.table_name("routes"),
            sql_maybe_regex_route("paths")
        )
    }

    /// How long the read of every route may take: pg_timeout, and at least a minute (a full
    /// scan of a million routes whose paths are all regexes sends every row; the server answered
    /// the snapshot already, so a slow scan is work, not a dead server).
    fn scan_bound(&self) -> std::time::Duration {
        self.opts.timeout.max(std::time::Duration::from_secs(60))
    }

    /// Reads every route once (the server sends only those its prefilter keeps) and judges
    /// them with `kong::preflight`'s rule. The scan is kept for this session's preflight read
    /// ([`PgStore::preflight_read`] takes it: the routes are not read twice).
    pub async fn scan_routes(&self) -> Result<RoutesScan, StoreError> {
        let mut scan = RoutesScan::default();
        let sql = self.routes_scan_sql();
        self.simple_each(&sql, self.scan_bound(), |i, row| {
            if i == 1 {
                scan.add(route_of(row)?);
            }
            Ok(())
        })
        .await?;
        if let Ok(mut kept) = self.routes_scan.lock() {
            *kept = Some(scan.clone());
        }
        Ok(scan)
    }

    /// One round trip: the server version, the plugins configured, and the routes' read unless
    /// this session's row count made it already (then taken, not read again). `routes`: the
    /// routes table exists; `plugins_table`: the plugins table exists.
    pub async fn preflight_read(
        &self,
        routes: bool,
        plugins_table: bool,
    ) -> Result<PreflightRead, StoreError> {
        let mut parts =
            vec!["'server_version_num', current_setting('server_version_num')".to_string()];
        if plugins_table {
            parts.push(format!(
                "'plugins', (SELECT coalesce(json_agg(name ORDER BY name), '[]'::json) FROM (SELECT DISTINCT name FROM {}) p)",
                self.table_name("plugins")
            ));
        }
        let kept = self.routes_scan.lock().ok().and_then(|mut k| k.take());
        let scan_here = routes && kept.is_none();
        let mut sql = format!("SELECT json_build_object({})::text", parts.join(", "));
        if scan_here {
            sql = format!("{sql}; {}", self.routes_scan_sql());
        }
        let mut text = None;
        let mut scan = RoutesScan::default();
        let bound = if scan_here {
            self.scan_bound()
        } else {
            self.opts.timeout
        };
        self.simple_each(&sql, bound, |i, row| {
            match i {
                0 => text = row.get(0).map(str::to_string),
                2 => scan.add(route_of(row)?),
                _ => {}
            }
            Ok(())
        })
        .await?;
        let text = text.ok_or_else(|| StoreError {
            kind: StoreErrorKind::Query,
            message: "the server returned no row for the preflight read".into(),
            hint: String::new(),
        })?;
        let raw: Raw = serde_json::from_str(&text).map_err(|e| StoreError {
            kind: StoreErrorKind::Malformed,
            message: format!("the plugins table cannot be read: {e}"),
            hint: "were Kong's tables altered by hand?".into(),
        })?;
        Ok(PreflightRead {
            server_version_num: raw.server_version_num.and_then(|s| s.trim().parse().ok()),
            routes: if scan_here {
                Some(scan)
            } else {
                kept.filter(|_| routes)
            },
            db_plugins: raw.plugins,
        })
    }
}

/// A route row of the scan: id, name, paths as JSON.
fn route_of(row: &tokio_postgres::SimpleQueryRow) -> Result<RoutePaths, StoreError> {
    let paths: Option<Vec<Option<String>>> = match row.get(2) {
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError {
            kind: StoreErrorKind::Malformed,
            message: format!("the routes table cannot be read: {e}"),
            hint: "were Kong's tables altered by hand?".into(),
        })?,
        None => None,
    };
    Ok(RoutePaths {
        id: row.get(0).unwrap_or_default().to_string(),
        name: row.get(1).map(str::to_string),
        paths: paths.unwrap_or_default().into_iter().flatten().collect(),
    })
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
/// hangs up: no password is sent. With `pg_ssl` it asks for TLS first, as Kong's pgmoon does
/// (on the server's "no TLS" it goes on in the clear, as pgmoon does without
/// `ssl_required`). Err says why it cannot tell: the server refused the connection or the
/// login (pg_hba.conf), or TLS failed.
pub async fn auth_asked(opts: &PgOptions) -> Result<AuthAsked, String> {
    let go = async {
        if opts.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", opts.host, opts.port);
            let s = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| format!("connecting to {path}: {e}"))?;
            handshake(s, opts).await
        } else {
            let mut s = tokio::net::TcpStream::connect((opts.host.as_str(), opts.port))
                .await
                .map_err(|e| format!("connecting to {}:{}: {e}", opts.host, opts.port))?;
            if !opts.ssl {
                return handshake(s, opts).await;
            }
            // SSLRequest: length 8, code 80877103.
            let io = |e: std::io::Error| format!("asking {}:{} for TLS: {e}", opts.host, opts.port);
            s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
                .await
                .map_err(io)?;
            let mut answer = [0u8; 1];
            s.read_exact(&mut answer).await.map_err(io)?;
            match answer[0] {
                b'S' => {
                    let cfg = crate::store::tls::client_config(
                        opts.ssl_verify,
                        &opts.trusted_certificates,
                    )
                    .map_err(|e| format!("TLS: {e:#}"))?;
                    let name = rustls::pki_types::ServerName::try_from(opts.host.clone())
                        .map_err(|e| format!("TLS: {}: {e}", opts.host))?;
                    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
                        .connect(name, s)
                        .await
                        .map_err(|e| format!("TLS with {}:{}: {e}", opts.host, opts.port))?;
                    handshake(tls, opts).await
                }
                b'N' => handshake(s, opts).await,
                other => Err(format!(
                    "the server answered the TLS request with {:?}",
                    other as char
                )),
            }
        }
    };
    tokio::time::timeout(opts.timeout, go)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", opts.timeout.as_millis())))
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    opts: &PgOptions,
) -> Result<AuthAsked, String> {
    let io = |e: std::io::Error| format!("the login handshake: {e}");
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
    s.write_all(&msg).await.map_err(io)?;
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await.map_err(io)?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    // An authentication request (or an error) is short; anything else is not one we read.
    if !(8..=4096).contains(&len) {
        return Err(format!(
            "the server sent an unexpected {:?} message",
            head[0] as char
        ));
    }
    let mut rest = vec![0u8; (len - 4) as usize];
    s.read_exact(&mut rest).await.map_err(io)?;
    if head[0] == b'E' {
        // ErrorResponse: fields of a type byte and a NUL-ended text; M is the message.
        let message = rest
            .split(|b| *b == 0)
            .find_map(|f| f.strip_prefix(b"M"))
            .map(|m| crate::text::terminal_safe(&String::from_utf8_lossy(m)).into_owned())
            .unwrap_or_else(|| "no message".into());
        return Err(format!("the server refused the login: {message}"));
    }
    if head[0] != b'R' {
        return Err(format!(
            "the server sent an unexpected {:?} message",
            head[0] as char
        ));
    }
    let code = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    Ok(match code {
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
