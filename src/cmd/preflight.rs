//! The reads behind `kong::preflight` for `kongrade diagnose`: kong.conf's keys, the `KONG_*`
//! names, and from PostgreSQL one query (server version, regex routes, plugins) plus a bare
//! login handshake (does the server ask Kong's role for SCRAM?). A failed read leaves its check
//! out: the preflight is advice on top of the diagnosis.

use super::context::Context;
use super::diagnose::Gathered;
use crate::kong::catalog::Db;
use crate::kong::diagnose::Finding;
use crate::kong::plan::StepKind;
use crate::kong::preflight::{DataPlane, PreflightData};
use crate::store::postgres::{auth_asked, AuthAsked, PgStore};

/// Reads what the preflight needs. `env` lists the process environment's variable names.
pub async fn gather(ctx: &Context, g: &Gathered, env: &[String]) -> PreflightData {
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
        if let Ok(file) = crate::kong::conf::read_conf_file(path) {
            d.conf_keys = file.entries.into_iter().map(|e| (e.key, e.value)).collect();
        }
    }
    d.data_planes = g.snapshot.data_planes.as_ref().map(|dps| {
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
    let count = |t: &str| {
        g.row_counts
            .as_ref()
            .and_then(|c| c.iter().find(|(n, _)| n == t).map(|(_, n)| *n))
    };
    if let Ok(store) = PgStore::connect(opts).await {
        if let Ok(r) = store
            .preflight_read(count("routes"), count("plugins").is_some())
            .await
        {
            d.server_version_num = r.server_version_num;
            d.regex_route_count = r.regex_route_count;
            d.regex_routes = r.regex_route_count.map(|_| r.regex_routes);
            d.db_plugins = r.db_plugins;
        }
    }
    d.scram = auth_asked(opts).await.map(|a| a == AuthAsked::Scram);
    d
}

/// The preflight's findings for the plan the diagnosis makes.
pub fn findings(ctx: &Context, g: &Gathered, d: &PreflightData) -> Vec<Finding> {
    let Some(target) = ctx.target.version else {
        return Vec::new();
    };
    let plan = crate::kong::diagnose::plan_for(&g.input(ctx));
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
