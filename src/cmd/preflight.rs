//! The reads behind `kong::preflight` for `kongrade diagnose`: kong.conf's keys, the `KONG_*`
//! names, and from PostgreSQL one round trip (server version, plugins, and the routes unless the
//! row count read them on the same session) plus a bare
//! login handshake (does the server ask Kong's role for SCRAM?). A failed read leaves its checks
//! out and says so (`preflight-incomplete`): never a silent "nothing found".

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::context::Context;
use super::diagnose::Gathered;
use crate::kong::catalog::Db;
use crate::kong::diagnose::Finding;
use crate::kong::plan::Plan;
use crate::kong::preflight::{DataPlane, PreflightData};
use crate::kong::snapshot::Snapshot;
use crate::store::postgres::{auth_asked, AuthAsked, PgOptions, PgStore};

/// The process environment's variable names (the preflight looks at the `KONG_*` ones).
pub fn env_names() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect()
}

/// Reads what the preflight needs on a connection of its own. `env` lists the process
/// environment's variable names.
pub async fn gather(ctx: &Context, g: &Gathered, env: &[String]) -> PreflightData {
    PreflightSource::of(ctx, env)
        .gather(
            None,
            &g.snapshot,
            g.row_counts.as_deref(),
            None,
            crate::kong::preflight::reads_routes(&g.state, &ctx.target),
        )
        .await
}

/// The preflight on an open session (its query is then one more round trip on it, and a read
/// of every route the row count made is taken, not made again), for `plan`'s Kong versions:
/// the login handshake is made only when one of them cannot speak SCRAM. `diagnose` and
/// `auto` gather through here.
pub async fn gather_from(
    ctx: &Context,
    snapshot: &Snapshot,
    state: &crate::kong::state::SchemaState,
    row_counts: Option<&[(String, i64)]>,
    plan: &Plan,
    env: &[String],
    store: &dyn crate::store::Store,
) -> PreflightData {
    let hops = crate::kong::preflight::plan_hops(plan);
    PreflightSource::of(ctx, env)
        .gather(
            Some(store),
            snapshot,
            row_counts,
            Some(&hops),
            crate::kong::preflight::reads_routes(state, &ctx.target),
        )
        .await
}

/// [`gather_from`] for what diagnose read, on its own session.
pub async fn gather_on(
    ctx: &Context,
    g: &Gathered,
    env: &[String],
    store: &dyn crate::store::Store,
) -> PreflightData {
    let plan = crate::kong::diagnose::plan_for(&g.input(ctx));
    gather_from(
        ctx,
        &g.snapshot,
        &g.state,
        g.row_counts.as_deref(),
        &plan,
        env,
        store,
    )
    .await
}

/// Where the preflight reads from, owned (the wizard's poller keeps one for its whole session):
/// the one gather path of `diagnose`, `plan`, `auto` and the wizard.
#[derive(Clone, Debug)]
pub struct PreflightSource {
    pub conf_path: Option<PathBuf>,
    /// kong.conf's `plugins` setting.
    pub plugins_setting: Vec<String>,
    pub kong_lua_path: Option<PathBuf>,
    /// Plugins some release bundles (the others under `--kong-lua-path` are custom).
    pub bundled: BTreeSet<String>,
    /// PostgreSQL's connection (`None`: Cassandra, or the training cluster).
    pub pg: Option<PgOptions>,
    /// Cassandra's (Kong <= 3.3): its routes are read for the regex paths.
    pub cassandra: Option<crate::store::cassandra::CassandraOptions>,
    /// The environment's `KONG_*` names.
    pub env_names: Vec<String>,
}

impl PreflightSource {
    pub fn of(ctx: &Context, env: &[String]) -> PreflightSource {
        PreflightSource {
            conf_path: ctx.conn.conf.path.clone(),
            plugins_setting: ctx.conn.conf.plugins.clone(),
            kong_lua_path: ctx.conn.kong_lua_path.clone(),
            bundled: ctx
                .catalog
                .releases
                .iter()
                .flat_map(|r| r.bundled_plugins.iter().cloned())
                .collect(),
            pg: ctx.conn.pg().filter(|_| ctx.db == Db::Postgres).cloned(),
            cassandra: match &ctx.conn.endpoint {
                crate::store::Endpoint::Cassandra(o) => Some(o.clone()),
                _ => None,
            },
            env_names: env
                .iter()
                .filter(|n| n.starts_with("KONG_"))
                .cloned()
                .collect(),
        }
    }

    /// kong.conf, the Lua tree, then one PostgreSQL query and the login handshake. The row
    /// counts already read (`crate::store::big_table_counts`) spare counting routes again.
    /// `store`: an open session to run the query on (else one is opened); `hops`: the plan's
    /// Kong versions, when known (the handshake is skipped when none of them lacks SCRAM);
    /// `routes`: the upgrade crosses into 3.x (`kong::preflight::reads_routes`), the one case
    /// every route is read and judged.
    pub async fn gather(
        &self,
        store: Option<&dyn crate::store::Store>,
        snapshot: &Snapshot,
        row_counts: Option<&[(String, i64)]>,
        hops: Option<&[crate::kong::version::Version]>,
        routes: bool,
    ) -> PreflightData {
        let d = self.local(snapshot);
        self.read_database(d, store, row_counts, hops, routes).await
    }

    /// What needs no database: kong.conf, the `KONG_*` names, the Lua tree, the data planes the
    /// snapshot read. A caller whose database read timed out keeps these findings.
    pub fn local(&self, snapshot: &Snapshot) -> PreflightData {
        let mut d = PreflightData {
            conf_path: self.conf_path.as_ref().map(|p| p.display().to_string()),
            env_names: self.env_names.clone(),
            plugins_setting: self.plugins_setting.clone(),
            ..PreflightData::default()
        };
        if let Some(path) = &self.conf_path {
            match crate::kong::conf::read_conf_file(path) {
                Ok(file) => {
                    d.conf_keys = file.entries.into_iter().map(|e| (e.key, e.value)).collect()
                }
                Err(e) => d
                    .incomplete
                    .push(format!("kong.conf {}: {e:#}", path.display())),
            }
        }
        // Custom plugins' requires, from the Lua tree: names no release bundles are the custom
        // ones.
        if let Some(dir) = &self.kong_lua_path {
            d.lua_path = Some(dir.display().to_string());
            match crate::exec::lua_requires::custom_plugins(dir, &self.bundled) {
                Ok(found) => d.custom_plugins = found,
                Err(e) => d.incomplete.push(format!(
                    "custom plugins in --kong-lua-path {}: {e:#}",
                    dir.display()
                )),
            }
        }
        // Rows past their ttl are no data plane (Kong no longer returns them).
        d.data_planes = snapshot.data_planes.as_ref().map(|dps| {
            dps.iter()
                .filter(|dp| crate::kong::diagnose::dp_reporting(dp))
                .map(|dp| DataPlane {
                    hostname: dp.hostname.clone().unwrap_or_else(|| dp.id.clone()),
                    version: dp
                        .version
                        .as_deref()
                        .and_then(crate::kong::version::Version::find_in),
                })
                .collect()
        });
        d
    }

    /// The database's part of [`Self::gather`], added to `d` (from [`Self::local`]).
    pub async fn read_database(
        &self,
        mut d: PreflightData,
        store: Option<&dyn crate::store::Store>,
        row_counts: Option<&[(String, i64)]>,
        hops: Option<&[crate::kong::version::Version]>,
        routes: bool,
    ) -> PreflightData {
        if let Some(c) = self.cassandra.as_ref().filter(|_| routes) {
            // No server-side regex: every route's paths are read (paged) and judged, once: the
            // row count's read on this store when it made one.
            let kept = store
                .and_then(|s| s.as_cassandra())
                .and_then(|s| s.take_routes_scan());
            let read = match kept {
                Some(scan) => Ok(Some(scan)),
                None => match store.and_then(|s| s.as_cassandra()) {
                    Some(open) => open.scan_routes().await,
                    None => match crate::store::cassandra::CassandraStore::connect(c).await {
                        Ok(open) => open.scan_routes().await,
                        Err(e) => {
                            d.incomplete.push(format!(
                                "connecting for the routes: {}",
                                crate::text::terminal_safe(&e.to_string())
                            ));
                            Ok(None)
                        }
                    },
                },
            };
            match read {
                Ok(Some(scan)) => set_routes(&mut d, &scan),
                Ok(None) => {}
                Err(e) => d.incomplete.push(format!(
                    "routes: {}",
                    crate::text::terminal_safe(&e.to_string())
                )),
            }
        }
        let Some(opts) = &self.pg else {
            return d;
        };
        d.connection = Some(crate::kong::plan::BackupTarget {
            host: opts.host.clone(),
            port: opts.port,
            user: opts.user.clone(),
            database: opts.database.clone(),
            schema: opts.schema.clone(),
            ..Default::default()
        });
        // The row counts say which tables exist; without them (their read failed) the tables
        // are read anyway: a failure is then said (preflight-incomplete), never a silent skip.
        let exists = |t: &str| row_counts.is_none_or(|c| c.iter().any(|(n, _)| n == t));
        let owned;
        let open = match store.and_then(|s| s.as_postgres()) {
            Some(pg) => Ok(pg),
            None => match PgStore::connect(opts).await {
                Ok(s) => {
                    owned = s;
                    Ok(&owned)
                }
                Err(e) => Err(e),
            },
        };
        match open {
            Ok(store) => match store
                .preflight_read(routes && exists("routes"), exists("plugins"))
                .await
            {
                Ok(r) => {
                    d.server_version_num = r.server_version_num;
                    if let Some(scan) = &r.routes {
                        set_routes(&mut d, scan);
                    }
                    d.db_plugins = r.db_plugins;
                }
                Err(e) => d.incomplete.push(format!(
                    "routes, plugins and server version: {}",
                    crate::text::terminal_safe(&e.to_string())
                )),
            },
            Err(e) => d.incomplete.push(format!(
                "connecting for the routes, plugins and server version: {}",
                crate::text::terminal_safe(&e.to_string())
            )),
        }
        if hops.is_none_or(crate::kong::preflight::scram_matters) {
            match auth_asked(opts).await {
                Ok(a) => d.scram = Some(a == AuthAsked::Scram),
                // Where a Kong on the way cannot answer SCRAM, not knowing is said, never
                // "fine" (the findings know the plan's hops; the wizard's reading may not yet).
                Err(e) => {
                    d.scram_unread = Some(format!(
                        "the login the server asks of role {} (the SCRAM check): {e}",
                        opts.user
                    ))
                }
            }
        }
        d
    }
}

/// What the routes' read found, as the preflight takes it.
fn set_routes(d: &mut PreflightData, scan: &crate::kong::preflight::RoutesScan) {
    d.regex_route_count = Some(scan.regex);
    d.regex_refused_paths = Some(scan.refused_paths);
    d.regex_routes = Some(scan.routes());
}

/// The preflight's findings for the plan the diagnosis makes.
pub fn findings(ctx: &Context, g: &Gathered, d: &PreflightData) -> Vec<Finding> {
    findings_for(ctx, &crate::kong::diagnose::plan_for(&g.input(ctx)), d)
}

/// The preflight's findings for `plan`: from its origin to the target, through the Kong versions
/// that run its `up`s and `finish`es.
pub fn findings_for(ctx: &Context, plan: &Plan, d: &PreflightData) -> Vec<Finding> {
    match ctx.target.version {
        Some(target) => d.findings_for_plan(plan, target, ctx.catalog),
        None => Vec::new(),
    }
}
