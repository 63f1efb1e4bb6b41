//! Turns the command line, kong.conf and the environment into what every command needs: the
//! database to read and the target's migrations.

use std::path::PathBuf;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::exec::kong_template::{self, KongTemplate};
use crate::exec::runner::KongTarget;
use crate::exec::{kong_version, lua_tree};
use crate::kong::catalog::{Catalog, Db};
use crate::kong::conf::{self, DatabaseKind, KongConf, LoadOptions, Secret};
use crate::kong::diagnose::Settings;
use crate::kong::plan::BackupTarget;
use crate::kong::snapshot::Snapshot;
use crate::kong::state::{self, SchemaState};
use crate::kong::target::Target;
use crate::kong::version::Version;
use crate::store::cassandra::CassandraOptions;
use crate::store::postgres::PgOptions;
use crate::store::{Endpoint, Store};

/// kongrade's connection flags as plain values (`cli` turns the parsed command line into this).
#[derive(Debug, Clone, Default)]
pub struct ConnOptions {
    /// `-c FILE`: kong.conf to read (kong is given the same).
    pub conf: Option<PathBuf>,
    /// `--target-version`.
    pub target_version: Option<String>,
    /// `--kong-lua-path`.
    pub kong_lua_path: Option<PathBuf>,
    /// `--kong-cmd`: the new Kong's command line.
    pub kong_cmd: Option<String>,
    /// `--kong-cmd-template`: a kong command line per Kong version (`{version}` in it).
    pub kong_cmd_template: Option<String>,
    /// `--kong-image`: the docker image whose tags are Kong versions (writes the template).
    pub kong_image: Option<String>,
    /// kong.conf keys set by flags (`--pg-host` is `pg_host`), applied over the file and `KONG_*`.
    pub overrides: Vec<(String, String)>,
}

/// Kong's database and kong itself, as kong.conf, `KONG_*` and the flags say: resolved once at
/// the top and handed down to the store, the backup, the journal and kong's environment.
#[derive(Debug, Clone)]
pub struct Connection {
    pub conf: KongConf,
    /// Where the database is (PostgreSQL or Cassandra).
    pub endpoint: Endpoint,
    /// `-c FILE` as given: kong reads the same file.
    pub conf_path: Option<PathBuf>,
    /// The new Kong's command line (`kong` when not given).
    pub kong_cmd: String,
    /// `KONG_*` for kong's environment, so kong sees what kongrade's flags point at (it reads
    /// the same kong.conf and environment otherwise). Values may be secrets.
    pub kong_env: Vec<(String, Secret)>,
    /// Where the target's migrations come from (`--target-version`, `--kong-lua-path`).
    pub target_version: Option<String>,
    pub kong_lua_path: Option<PathBuf>,
    /// `--kong-cmd` was given (else the target may come from `kong` on the PATH).
    pub kong_cmd_given: bool,
    /// One kong per Kong version (`--kong-cmd-template`, `--kong-image`): each hop of a path
    /// runs its own. `kong_cmd` is then the target's.
    pub kong_template: Option<KongTemplate>,
}

impl Connection {
    pub fn resolve(o: &ConnOptions) -> Result<Connection> {
        let conf = load_conf(o)?;
        let endpoint = match conf.database {
            DatabaseKind::Postgres => Endpoint::Postgres(PgOptions::from_conf(&conf.pg)),
            DatabaseKind::Cassandra => {
                Endpoint::Cassandra(CassandraOptions::from_conf(&conf.cassandra))
            }
            DatabaseKind::Off => return Err(eyre!(
                "database = off: a DB-less Kong has no migrations to run. Point kongrade at the database (kong.conf `database`, KONG_DATABASE or --database)"
            )),
        };
        let mut kong_env: Vec<(String, Secret)> = o
            .overrides
            .iter()
            .map(|(k, v)| (conf::env_var_for(k), Secret::new(v.as_str())))
            .collect();
        let mut conf_path = o.conf.clone();
        let template = match (&o.kong_cmd_template, &o.kong_image) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(image)) => {
                // The file is mounted at its absolute path, and kong is told that path.
                conf_path = match &conf_path {
                    Some(p) => Some(std::path::absolute(p).wrap_err_with(|| {
                        format!("-c {}: cannot make the path absolute", p.display())
                    })?),
                    None => None,
                };
                Some(kong_template::docker_template(
                    image,
                    conf.database,
                    conf_path.as_deref(),
                )?)
            }
            (None, None) => None,
        };
        let mut kong_cmd = o.kong_cmd.clone().unwrap_or_else(|| "kong".to_string());
        let kong_template = match template {
            None => None,
            Some(_) if o.kong_cmd.is_some() => {
                return Err(eyre!(
                    "--kong-cmd and --kong-cmd-template (or --kong-image) both given: --kong-cmd is one kong for every step, the template one kong per Kong version; give one"
                ))
            }
            Some(t) => {
                // A kong in a container sees neither kong.conf's connection nor the flags: the
                // whole connection goes in its environment (never in argv).
                let mut env = kong_template::connection_env(&conf);
                for (k, v) in kong_env.drain(..) {
                    if !env.iter().any(|(n, _)| *n == k) {
                        env.push((k, v));
                    }
                }
                kong_env = env.clone();
                let t = KongTemplate::new(&t, env)?;
                let Some(tv) = &o.target_version else {
                    return Err(eyre!(
                        "--kong-cmd-template and --kong-image need --target-version X.Y.Z: the Kong version of the last hop (each hop's kong is the template with that hop's version)"
                    ));
                };
                let tv: Version = tv.parse().map_err(|e| eyre!("--target-version: {e}"))?;
                kong_cmd = t.command_for(tv);
                Some(t)
            }
        };
        Ok(Connection {
            conf,
            endpoint,
            conf_path,
            kong_cmd_given: o.kong_cmd.is_some() || kong_template.is_some(),
            kong_cmd,
            kong_env,
            target_version: o.target_version.clone(),
            kong_lua_path: o.kong_lua_path.clone(),
            kong_template,
        })
    }

    /// The kong that runs Kong `v`'s migrations: the template's for that version, or the one
    /// kong command (which must then be `v`: callers check `kong version`).
    pub fn kong_for(&self, v: Version) -> KongTarget {
        match &self.kong_template {
            Some(t) => t.kong_for(v),
            None => self.kong(),
        }
    }

    pub fn db(&self) -> Db {
        self.endpoint.db()
    }

    /// kong as a child process, with the flags in its environment.
    pub fn kong(&self) -> KongTarget {
        KongTarget::Process {
            command_line: self.kong_cmd.clone(),
            env: self.kong_env.clone(),
        }
    }

    /// PostgreSQL's options (None on Cassandra): for pg_dump and its restore command.
    pub fn pg(&self) -> Option<&PgOptions> {
        match &self.endpoint {
            Endpoint::Postgres(o) => Some(o),
            _ => None,
        }
    }
}

pub struct Context {
    pub conn: Connection,
    pub catalog: &'static Catalog,
    pub target: Target,
    pub db: Db,
}

/// Reads kong.conf (with `KONG_*` variables and the flags on top).
pub fn load_conf(o: &ConnOptions) -> Result<KongConf> {
    let mut opts = LoadOptions::new(o.conf.clone());
    opts.overrides = o.overrides.clone();
    conf::load(&opts, &|k| std::env::var(k).ok()).map_err(|e| eyre!("{e}"))
}

/// Where the target's migrations come from, best first: the installed Lua tree, the embedded
/// catalog for `--target-version` or for what `kong version` answers.
pub async fn resolve_target(conn: &Connection) -> Result<Target> {
    let (conf, db) = (&conn.conf, conn.db());
    let catalog = Catalog::embedded();
    let scanned = match &conn.kong_lua_path {
        Some(dir) => {
            lua_tree::scan(dir).wrap_err_with(|| format!("--kong-lua-path {}", dir.display()))?
        }
        None => Vec::new(),
    };
    let version: Option<Version> = match &conn.target_version {
        Some(v) => Some(v.parse().map_err(|e| eyre!("--target-version: {e}"))?),
        None => match conn.kong_cmd_given.then_some(&conn.kong_cmd) {
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
    let source = match (&conn.kong_lua_path, version) {
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

impl Context {
    pub async fn new(conn: Connection) -> Result<Context> {
        let target = resolve_target(&conn).await?;
        Ok(Context {
            db: conn.db(),
            conn,
            catalog: Catalog::embedded(),
            target,
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
        self.conn.endpoint.describe()
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

    /// Opens the database.
    pub async fn store(&self) -> Result<Box<dyn Store>> {
        Ok(self.conn.endpoint.connect().await?)
    }

    pub async fn snapshot(&self) -> Result<Snapshot> {
        Ok(self.store().await?.snapshot().await?)
    }

    /// What the diagnosis and the plan need from kong.conf, plus the `kong migrations` flags
    /// the operator will pass.
    pub fn settings(&self, db_timeout_s: Option<u64>, lock_timeout_s: Option<u64>) -> Settings {
        let pg = &self.conn.conf.pg;
        Settings {
            conf_path: self
                .conn
                .conf
                .path
                .as_ref()
                .map(|p| p.display().to_string()),
            pg_timeout_ms: pg.timeout_ms,
            db_timeout_s,
            lock_timeout_s,
            plugins: self.conn.conf.plugins.clone(),
            connection: BackupTarget {
                host: pg.host.clone(),
                port: pg.port,
                user: pg.user.clone(),
                database: pg.database.clone(),
                schema: pg.schema.clone(),
                keyspace: self.conn.conf.cassandra.keyspace.clone(),
            },
            kong_env: None,
        }
    }

    pub async fn read_state(&self) -> Result<SchemaState> {
        let snap = self.snapshot().await?;
        Ok(state::compute(&self.target, &snap, self.catalog))
    }
}

/// The settings of another PostgreSQL database kong is pointed at (dual-cluster's clone): its
/// connection (host, port, role, database, schema), and its kong.conf when one names it (`conf`,
/// `--clone-conf`); the rest (plugins, timeouts) is the session's.
pub fn settings_on(
    session: &Settings,
    db: &crate::store::postgres::PgOptions,
    conf: Option<&std::path::Path>,
) -> Settings {
    let mut s = session.clone();
    match conf {
        Some(c) => {
            s.conf_path = Some(c.display().to_string());
            s.kong_env = None;
        }
        // kong.conf names the source: a kong command for this database carries its place in
        // the environment, as kongrade runs kong there (never the password).
        None => {
            let mut words: Vec<String> = crate::exec::clone::kong_env_for(db)
                .into_iter()
                .filter(|(k, _)| k.starts_with("KONG_PG_") && k != "KONG_PG_PASSWORD")
                .map(|(k, v)| format!("{k}={}", crate::kong::plan::shell_word(v.expose())))
                .collect();
            words.push(String::new());
            s.kong_env = Some(words.join(" "));
        }
    }
    s.connection = BackupTarget {
        host: db.host.clone(),
        port: db.port,
        user: db.user.clone(),
        database: db.database.clone(),
        schema: db.schema.clone(),
        keyspace: s.connection.keyspace.clone(),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_databases_settings_are_its_own_place() {
        let clone = crate::store::postgres::PgOptions {
            host: "db 2".into(),
            port: 5433,
            user: "kong".into(),
            password: Some(Secret::new("pw")),
            database: "kong_clone".into(),
            schema: None,
            timeout: Duration::from_secs(5),
            ssl: false,
            ssl_verify: false,
            trusted_certificates: vec![],
        };
        let s = settings_on(&Settings::default(), &clone, None);
        assert_eq!(
            (
                s.connection.host.as_str(),
                s.connection.port,
                s.connection.database.as_str()
            ),
            ("db 2", 5433, "kong_clone")
        );
        assert_eq!(s.conf_path, Settings::default().conf_path);
        assert_eq!(
            s.kong_env.as_deref(),
            Some("KONG_PG_HOST='db 2' KONG_PG_PORT=5433 KONG_PG_USER=kong KONG_PG_DATABASE=kong_clone ")
        );
        // Its own kong.conf names it: that file, no environment.
        let c = settings_on(&s, &clone, Some(std::path::Path::new("/etc/kong/new.conf")));
        assert_eq!(c.conf_path.as_deref(), Some("/etc/kong/new.conf"));
        assert_eq!(c.kong_env, None);
    }

    #[test]
    fn the_resolved_connection_hands_the_password_to_the_driver_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kong.conf");
        std::fs::write(
            &path,
            "database = postgres\npg_host = db1\npg_password = hunter2\n",
        )
        .expect("write kong.conf");
        let conn = Connection::resolve(&ConnOptions {
            conf: Some(path),
            overrides: vec![
                ("pg_port".into(), "5433".into()),
                ("pg_password".into(), "flag-pw".into()),
            ],
            ..ConnOptions::default()
        })
        .expect("resolves");
        let shown = format!("{conn:?} {:?} {:?}", conn.kong(), conn.endpoint);
        assert!(
            !shown.contains("hunter2") && !shown.contains("flag-pw"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(conn.endpoint.describe(), "kong@db1:5433/kong");
        // The flag wins over the file, and the driver gets it.
        let pg = conn.pg().expect("postgres");
        assert_eq!(pg.password.as_ref().map(Secret::expose), Some("flag-pw"));
        // kong is given the flags as Kong's own variables.
        let names: Vec<&str> = conn.kong_env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["KONG_PG_PORT", "KONG_PG_PASSWORD"]);
        assert_eq!(conn.endpoint.identity().port, 5433);
    }
}
