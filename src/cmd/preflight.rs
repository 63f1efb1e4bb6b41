//! The reads behind `kong::preflight` for `kongrade diagnose`: kong.conf's keys, the `KONG_*`
//! names, and from PostgreSQL one query (server version, regex routes, plugins) plus a bare
//! login handshake (does the server ask Kong's role for SCRAM?). A failed read leaves its checks
//! out and says so (`preflight-incomplete`): never a silent "nothing found".

use super::context::Context;
use super::diagnose::Gathered;
use crate::kong::catalog::Db;
use crate::kong::diagnose::Finding;
use crate::kong::plan::{Plan, StepKind};
use crate::kong::preflight::{DataPlane, PreflightData};
use crate::kong::snapshot::Snapshot;
use crate::store::postgres::{auth_asked, AuthAsked, PgStore};

/// The process environment's variable names (the preflight looks at the `KONG_*` ones).
pub fn env_names() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect()
}

/// Reads what the preflight needs. `env` lists the process environment's variable names.
pub async fn gather(ctx: &Context, g: &Gathered, env: &[String]) -> PreflightData {
    gather_from(ctx, &g.snapshot, g.row_counts.as_deref(), env).await
}

/// [`gather`] from a snapshot and row counts read elsewhere (`auto` reads its own).
pub async fn gather_from(
    ctx: &Context,
    snapshot: &Snapshot,
    row_counts: Option<&[(String, i64)]>,
    env: &[String],
) -> PreflightData {
    let mut d = PreflightData {
        conf_path: ctx.conn.conf.path.as_ref().map(|p| p.display().to_string()),
        env_names: env
            .iter()
            .filter(|n| n.starts_with("KONG_"))
            .cloned()
            .collect(),
        plugins_setting: ctx.conn.conf.plugins.clone(),
        ..PreflightData::default()
    };
    if let Some(path) = &ctx.conn.conf.path {
        match crate::kong::conf::read_conf_file(path) {
            Ok(file) => d.conf_keys = file.entries.into_iter().map(|e| (e.key, e.value)).collect(),
            Err(e) => d
                .incomplete
                .push(format!("kong.conf {}: {e:#}", path.display())),
        }
    }
    // Custom plugins' requires, from the Lua tree: names no release bundles are the custom ones.
    if let Some(dir) = &ctx.conn.kong_lua_path {
        let bundled: std::collections::BTreeSet<String> = ctx
            .catalog
            .releases
            .iter()
            .flat_map(|r| r.bundled_plugins.iter().cloned())
            .collect();
        match crate::exec::lua_requires::custom_plugins(dir, &bundled) {
            Ok(found) => d.custom_plugins = found,
            Err(e) => d.incomplete.push(format!(
                "custom plugins in --kong-lua-path {}: {e:#}",
                dir.display()
            )),
        }
    }
    d.data_planes = snapshot.data_planes.as_ref().map(|dps| {
        dps.iter()
            .map(|dp| DataPlane {
                hostname: dp.hostname.clone().unwrap_or_else(|| dp.id.clone()),
                version: dp
                    .version
                    .as_deref()
                    .and_then(crate::kong::version::Version::find_in),
            })
            .collect()
    });
    let Some(opts) = ctx.conn.pg().filter(|_| ctx.db == Db::Postgres) else {
        return d;
    };
    let count = |t: &str| row_counts.and_then(|c| c.iter().find(|(n, _)| n == t).map(|(_, n)| *n));
    match PgStore::connect(opts).await {
        Ok(store) => match store
            .preflight_read(
                count("routes"),
                count("plugins").is_some(),
                count(crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS),
            )
            .await
        {
            Ok(r) => {
                d.server_version_num = r.server_version_num;
                d.regex_route_count = r.regex_route_count;
                d.regex_routes = r.regex_route_count.map(|_| r.regex_routes);
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
    d.scram = auth_asked(opts).await.map(|a| a == AuthAsked::Scram);
    d
}

/// The preflight's findings for the plan the diagnosis makes.
pub fn findings(ctx: &Context, g: &Gathered, d: &PreflightData) -> Vec<Finding> {
    findings_for(ctx, &crate::kong::diagnose::plan_for(&g.input(ctx)), d)
}

/// The preflight's findings for `plan`: from its origin to the target, through the Kong versions
/// that run its `up`s and `finish`es.
pub fn findings_for(ctx: &Context, plan: &Plan, d: &PreflightData) -> Vec<Finding> {
    let Some(target) = ctx.target.version else {
        return Vec::new();
    };
    let mut hops = Vec::new();
    for s in &plan.steps {
        if matches!(s.kind, StepKind::Up | StepKind::Finish) {
            if let Some(v) = s.kong_version.filter(|v| !hops.contains(v)) {
                hops.push(v);
            }
        }
    }
    d.findings(plan.from, target, &hops, ctx.catalog)
}
