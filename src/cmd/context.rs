//! Turns the command line, kong.conf and the environment into what every command needs: the
//! database to read and the target's migrations.

use std::time::Duration;

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::cli::ConnArgs;
use crate::exec::{kong_version, lua_tree};
use crate::kong::catalog::{Catalog, Db};
use crate::kong::conf::{self, DatabaseKind, KongConf, LoadOptions};
use crate::kong::diagnose::Settings;
use crate::kong::plan::BackupTarget;
use crate::kong::snapshot::Snapshot;
use crate::kong::state::{self, SchemaState};
use crate::kong::target::Target;
use crate::kong::version::Version;
use crate::store::cassandra::{CassandraOptions, CassandraStore};
use crate::store::postgres::{PgOptions, PgStore};

pub struct Context {
    pub conf: KongConf,
    pub catalog: &'static Catalog,
    pub target: Target,
    pub db: Db,
}

/// Reads kong.conf (with `KONG_*` variables and the flags on top).
pub fn load_conf(args: &ConnArgs) -> Result<KongConf> {
    let mut opts = LoadOptions::new(args.conf.clone());
    opts.overrides = args.overrides();
    conf::load(&opts, &|k| std::env::var(k).ok()).map_err(|e| eyre!("{e}"))
}

pub fn db_of(conf: &KongConf) -> Result<Db> {
    match conf.database {
        DatabaseKind::Postgres => Ok(Db::Postgres),
        DatabaseKind::Cassandra => Ok(Db::Cassandra),
        DatabaseKind::Off => Err(eyre!(
            "database = off: a DB-less Kong has no migrations to run. Point kongrade at the database (kong.conf `database`, KONG_DATABASE or --database)"
        )),
    }
}

pub fn pg_options(conf: &KongConf) -> PgOptions {
    let pg = &conf.pg;
    PgOptions {
        host: pg.host.clone(),
        port: pg.port,
        user: pg.user.clone(),
        password: pg.password.as_ref().map(|s| s.expose().to_string()),
        database: pg.database.clone(),
        schema: pg.schema.clone(),
        timeout: Duration::from_millis(pg.timeout_ms),
        ssl: pg.ssl,
        ssl_verify: pg.ssl_verify,
        trusted_certificates: pg.trusted_certificates.clone(),
    }
}

/// Where the target's migrations come from, best first: the installed Lua tree, the embedded
/// catalog for `--target-version` or for what `kong version` answers.
pub async fn resolve_target(args: &ConnArgs, conf: &KongConf, db: Db) -> Result<Target> {
    let catalog = Catalog::embedded();
    let scanned = match &args.kong_lua_path {
        Some(dir) => {
            lua_tree::scan(dir).wrap_err_with(|| format!("--kong-lua-path {}", dir.display()))?
        }
        None => Vec::new(),
    };
    let version: Option<Version> = match &args.target_version {
        Some(v) => Some(v.parse().map_err(|e| eyre!("--target-version: {e}"))?),
        None => match &args.kong_cmd {
            Some(cmd) => Some(
                kong_version::kong_version(cmd, Duration::from_secs(30))
                    .await
                    .wrap_err("finding the target version (pass --target-version X.Y.Z to skip this)")?,
            ),
            None if !scanned.is_empty() => None,
            None => match kong_version::kong_version("kong", Duration::from_secs(30)).await {
                Ok(v) => Some(v),
                Err(e) => {
                    return Err(eyre!(
                        "no target version: pass --target-version X.Y.Z (the Kong version you are upgrading to), or --kong-cmd for the new Kong ({e:#})"
                    ))
                }
            },
        },
    };
    let source = match (&args.kong_lua_path, version) {
        (Some(dir), _) => format!("lua tree {} + catalog", dir.display()),
        (None, _) => "catalog".to_string(),
    };
    match version {
        Some(v) => {
            let release = catalog.release(v).ok_or_else(|| {
                eyre!(
                    "Kong {v} is not in kongrade's catalog (it knows {} to {}); pass --kong-lua-path to read the installed Kong's migrations instead",
                    catalog.oldest().map(|v| v.to_string()).unwrap_or_default(),
                    catalog.newest().map(|v| v.to_string()).unwrap_or_default()
                )
            })?;
            // A target that cannot run on this database is still built: `diagnose` and `plan`
            // must be able to explain the way off Cassandra. Commands that would act on it call
            // `Context::ensure_supported`.
            Ok(Target::from_release(
                release,
                db,
                &conf.plugins,
                &scanned,
                &source,
            ))
        }
        None => {
            if !scanned.iter().any(|s| s.name == "core") {
                return Err(eyre!(
                    "--kong-lua-path holds no core migrations and no target version was given: pass --target-version X.Y.Z"
                ));
            }
            let mut subsystems = scanned.clone();
            subsystems
                .sort_by(|a, b| (a.name != "core", &a.name).cmp(&(b.name != "core", &b.name)));
            Ok(Target {
                version: None,
                db,
                source,
                subsystems,
                unresolved_plugins: Vec::new(),
            })
        }
    }
}

/// Rows of the given tables that exist: the planner's estimate (instant on huge tables), or an
/// exact count where the table was never analyzed.
pub async fn pg_row_counts(store: &PgStore, tables: &[&str]) -> Result<Vec<(String, i64)>> {
    let estimates = store.estimate_rows(tables).await?;
    let exact_for: Vec<&str> = estimates
        .iter()
        .filter(|(_, n)| n.is_none_or(|n| n <= 0))
        .map(|(t, _)| t.as_str())
        .collect();
    let mut out: Vec<(String, i64)> = estimates
        .iter()
        .filter_map(|(t, n)| n.filter(|n| *n > 0).map(|n| (t.clone(), n)))
        .collect();
    out.extend(store.count_rows(&exact_for).await?);
    out.sort();
    Ok(out)
}

impl Context {
    pub async fn new(args: &ConnArgs) -> Result<Context> {
        let conf = load_conf(args)?;
        let db = db_of(&conf)?;
        let target = resolve_target(args, &conf, db).await?;
        Ok(Context {
            conf,
            catalog: Catalog::embedded(),
            target,
            db,
        })
    }

    /// Refuses a target release that cannot run on this database (Cassandra after 3.3.x).
    pub fn ensure_supported(&self) -> Result<()> {
        if let Some(v) = self.target.version {
            if let Some(rel) = self.catalog.release(v) {
                if !rel.supports(self.db) {
                    // Name the newest release that still runs on this database: the way forward.
                    let last = self
                        .catalog
                        .releases
                        .iter()
                        .filter(|r| r.supports(self.db))
                        .map(|r| r.version)
                        .max()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "3.3.x".into());
                    return Err(eyre!(
                        "Kong {v} does not support {}: Kong removed Cassandra in 3.4.0. On Cassandra, upgrade to Kong {last} at most (--target-version {last}), then move the data to PostgreSQL before going further ('kongrade diagnose' shows how)",
                        self.db
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn describe_db(&self) -> String {
        match self.db {
            Db::Postgres => pg_options(&self.conf).describe(),
            Db::Cassandra => format!(
                "{}:{} keyspace {}",
                self.conf.cassandra.contact_points.join(","),
                self.conf.cassandra.port,
                self.conf.cassandra.keyspace
            ),
        }
    }

    pub fn header(&self) -> String {
        format!(
            "Database: {} ({})\nTarget:   Kong {} ({})",
            self.describe_db(),
            self.db,
            self.target
                .version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "of the Lua tree".into()),
            self.target.source
        )
    }

    pub async fn snapshot(&self) -> Result<Snapshot> {
        match self.db {
            Db::Postgres => {
                let store = PgStore::connect(&pg_options(&self.conf)).await?;
                Ok(store.snapshot().await?)
            }
            Db::Cassandra => {
                let store =
                    CassandraStore::connect(&CassandraOptions::from_conf(&self.conf.cassandra))
                        .await?;
                Ok(store.snapshot().await?)
            }
        }
    }

    /// Rows of the given tables that exist: the planner's estimate (instant on huge tables), or
    /// an exact count where the table was never analyzed. `None` on Cassandra: not counted.
    pub async fn row_counts(&self, tables: &[&str]) -> Result<Option<Vec<(String, i64)>>> {
        match self.db {
            Db::Postgres => {
                let store = PgStore::connect(&pg_options(&self.conf)).await?;
                Ok(Some(pg_row_counts(&store, tables).await?))
            }
            Db::Cassandra => Ok(None),
        }
    }

    /// What the diagnosis and the plan need from kong.conf, plus the `kong migrations` flags
    /// the operator will pass.
    pub fn settings(&self, db_timeout_s: Option<u64>, lock_timeout_s: Option<u64>) -> Settings {
        let pg = &self.conf.pg;
        Settings {
            conf_path: self.conf.path.as_ref().map(|p| p.display().to_string()),
            pg_timeout_ms: pg.timeout_ms,
            db_timeout_s,
            lock_timeout_s,
            plugins: self.conf.plugins.clone(),
            connection: BackupTarget {
                host: pg.host.clone(),
                port: pg.port,
                user: pg.user.clone(),
                database: pg.database.clone(),
                schema: pg.schema.clone(),
                keyspace: self.conf.cassandra.keyspace.clone(),
            },
        }
    }

    pub async fn read_state(&self) -> Result<SchemaState> {
        let snap = self.snapshot().await?;
        Ok(state::compute(&self.target, &snap, self.catalog))
    }
}
