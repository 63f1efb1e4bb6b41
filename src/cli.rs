//! Command-line interface. Flags that mirror kong.conf keys are applied as the highest-priority
//! layer over the file and `KONG_*` variables, so they are validated the same way.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "kongrade",
    version,
    about = "Guides a Kong Gateway database upgrade: backup, review, `kong migrations up`, old nodes out, `finish`.",
    long_about = None,
    after_help = "Run without a command to start the wizard against the database of kong.conf.\nExit codes of `status`: 0 up to date, 3 needs bootstrap, 4 pending, 5 new migrations, 6 migrations running now (live lock), 1 error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub conn: ConnArgs,

    #[command(flatten)]
    pub wizard: WizardArgs,
}

/// How the wizard runs (no subcommand, and `demo`).
#[derive(Args, Debug, Clone)]
pub struct WizardArgs {
    /// Show the state and findings only: run nothing
    #[arg(long)]
    pub read_only: bool,

    /// How often the live pane reads the database, in seconds
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_refresh)]
    pub refresh: std::time::Duration,

    /// Passed to kong as --lock-timeout (Kong's default: 60)
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,

    /// Passed to kong as --db-timeout (raise it for big tables)
    #[arg(long, value_name = "SECONDS")]
    pub db_timeout: Option<u64>,
}

fn parse_refresh(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.1..=3600.0).contains(&secs) {
        return Err("between 0.1 and 3600 seconds".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Where Kong's database is and which Kong version is the target. Shared by every command that
/// reads a database.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// kong.conf to read (default: /etc/kong/kong.conf, then /etc/kong.conf)
    #[arg(short = 'c', long = "conf", global = true, value_name = "FILE")]
    pub conf: Option<PathBuf>,

    /// The Kong version being upgraded to (default: from `kong version` of --kong-cmd)
    #[arg(long, global = true, value_name = "X.Y.Z")]
    pub target_version: Option<String>,

    /// Scan an installed Kong Lua tree (or a plugin directory) for migrations, custom plugins included
    #[arg(long, global = true, value_name = "DIR")]
    pub kong_lua_path: Option<PathBuf>,

    /// The new Kong's command line, e.g. 'docker exec -i kong-new kong'
    #[arg(long, global = true, value_name = "CMD", env = "KONGRADE_KONG_CMD")]
    pub kong_cmd: Option<String>,

    /// Overrides kong.conf `database` (postgres or cassandra)
    #[arg(long, global = true, value_name = "postgres|cassandra")]
    pub database: Option<String>,
    /// Overrides kong.conf `pg_host`
    #[arg(long, global = true, value_name = "HOST")]
    pub pg_host: Option<String>,
    /// Overrides kong.conf `pg_port`
    #[arg(long, global = true, value_name = "PORT")]
    pub pg_port: Option<String>,
    /// Overrides kong.conf `pg_user`
    #[arg(long, global = true, value_name = "USER")]
    pub pg_user: Option<String>,
    /// Overrides kong.conf `pg_database`
    #[arg(long, global = true, value_name = "NAME")]
    pub pg_database: Option<String>,
    /// Overrides kong.conf `pg_schema`
    #[arg(long, global = true, value_name = "SCHEMA")]
    pub pg_schema: Option<String>,
    /// Overrides kong.conf `pg_timeout` (milliseconds)
    #[arg(long, global = true, value_name = "MS")]
    pub pg_timeout: Option<String>,
    /// Overrides kong.conf `pg_ssl` (on|off)
    #[arg(long, global = true, value_name = "on|off")]
    pub pg_ssl: Option<String>,
    /// Overrides kong.conf `pg_ssl_verify` (on|off)
    #[arg(long, global = true, value_name = "on|off")]
    pub pg_ssl_verify: Option<String>,
    /// Overrides kong.conf `plugins` (comma list; `bundled` = the target's bundled plugins)
    #[arg(long, global = true, value_name = "LIST")]
    pub plugins: Option<String>,
}

impl ConnArgs {
    /// The flags given, as kong.conf keys and values.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let pairs = [
            ("database", &self.database),
            ("pg_host", &self.pg_host),
            ("pg_port", &self.pg_port),
            ("pg_user", &self.pg_user),
            ("pg_database", &self.pg_database),
            ("pg_schema", &self.pg_schema),
            ("pg_timeout", &self.pg_timeout),
            ("pg_ssl", &self.pg_ssl),
            ("pg_ssl_verify", &self.pg_ssl_verify),
            ("plugins", &self.plugins),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
            .collect()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The migration state, with `kong migrations list` exit codes (0/3/4/5, 6 = lock live, 1 error)
    Status {
        /// Print Kong's `migrations status` JSON plus kongrade's extras
        #[arg(long)]
        json: bool,
    },
    /// The wizard against the built-in training cluster: no database or Kong needed
    Demo {
        /// The training scenario (see --list)
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
        /// Speed of the simulated kong and lock timers (2 = twice as fast)
        #[arg(long, value_name = "X", default_value_t = 1.0)]
        speed: f64,
        /// List the scenarios and exit
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        wizard: WizardArgs,
    },
}
