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

    /// The nodes the Decommission step probes and lists (as `kongrade nodes`)
    #[command(flatten)]
    pub nodes: NodeArgs,
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
    /// Overrides kong.conf `cassandra_contact_points` (comma list of hosts, no ports)
    #[arg(long, global = true, value_name = "HOSTS")]
    pub cassandra_contact_points: Option<String>,
    /// Overrides kong.conf `cassandra_port`
    #[arg(long, global = true, value_name = "PORT")]
    pub cassandra_port: Option<String>,
    /// Overrides kong.conf `cassandra_keyspace`
    #[arg(long, global = true, value_name = "KEYSPACE")]
    pub cassandra_keyspace: Option<String>,
    /// Overrides kong.conf `cassandra_username`
    #[arg(long, global = true, value_name = "USER")]
    pub cassandra_username: Option<String>,
    /// Overrides kong.conf `cassandra_timeout` (milliseconds)
    #[arg(long, global = true, value_name = "MS")]
    pub cassandra_timeout: Option<String>,
    /// Overrides kong.conf `cassandra_ssl` (on|off)
    #[arg(long, global = true, value_name = "on|off")]
    pub cassandra_ssl: Option<String>,
    /// Overrides kong.conf `cassandra_ssl_verify` (on|off)
    #[arg(long, global = true, value_name = "on|off")]
    pub cassandra_ssl_verify: Option<String>,
    /// Overrides kong.conf `plugins` (comma list; `bundled` = the target's bundled plugins)
    #[arg(long, global = true, value_name = "LIST")]
    pub plugins: Option<String>,
}

impl ConnArgs {
    /// The flags as plain values, for [`crate::cmd::context::Connection::resolve`].
    pub fn options(&self) -> crate::cmd::context::ConnOptions {
        crate::cmd::context::ConnOptions {
            conf: self.conf.clone(),
            target_version: self.target_version.clone(),
            kong_lua_path: self.kong_lua_path.clone(),
            kong_cmd: self.kong_cmd.clone(),
            overrides: self.overrides(),
        }
    }

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
            ("cassandra_contact_points", &self.cassandra_contact_points),
            ("cassandra_port", &self.cassandra_port),
            ("cassandra_keyspace", &self.cassandra_keyspace),
            ("cassandra_username", &self.cassandra_username),
            ("cassandra_timeout", &self.cassandra_timeout),
            ("cassandra_ssl", &self.cassandra_ssl),
            ("cassandra_ssl_verify", &self.cassandra_ssl_verify),
            ("plugins", &self.plugins),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
            .collect()
    }
}

/// The flags `kong migrations` will be given, so that advice accounts for them.
#[derive(Args, Debug, Clone, Default)]
pub struct MigrationFlags {
    /// The --db-timeout you will pass to kong migrations (seconds; Kong's default is 60)
    #[arg(long, value_name = "S")]
    pub db_timeout: Option<u64>,
    /// The --lock-timeout you will pass to kong migrations (seconds; Kong's default is 60)
    #[arg(long, value_name = "S")]
    pub lock_timeout: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The migration state, with `kong migrations list` exit codes (0/3/4/5, 6 = lock live, 1 error)
    Status {
        /// Print Kong's `migrations status` JSON plus kongrade's extras
        #[arg(long)]
        json: bool,
    },
    /// A pg_dump of Kong's database in custom format, verified with pg_restore --list, recorded
    /// in the upgrade journal (files 0600 in the data directory, KONGRADE_DATA_DIR overrides)
    Backup {
        /// Where to write the dump (default: the data directory's backups/)
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Print the backup record (file, bytes, sha256) as JSON
        #[arg(long)]
        json: bool,
    },
    /// Past and in-progress upgrades, from the journal
    Journal {
        #[command(subcommand)]
        action: Option<JournalAction>,
        /// JSON output
        #[arg(long, global = true)]
        json: bool,
    },
    /// Old and new nodes (Admin API probes, hybrid data planes, manual entries) and the finish
    /// gate: exit 0 when no old node is seen, 7 when the gate is closed
    Nodes {
        #[command(flatten)]
        nodes: NodeArgs,
        /// JSON output
        #[arg(long)]
        json: bool,
    },
    /// What stands in the way of the upgrade, why, and the commands that fix it
    #[command(
        after_help = "Exit codes: 0 nothing above information, 2 warnings, 1 errors (or kongrade could not read the database)."
    )]
    Diagnose {
        /// Print the findings as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: MigrationFlags,
    },
    /// The steps from the database's state to up to date on the target, with exact commands
    #[command(
        after_help = "Exit codes: 0 a plan (or nothing to do), 1 no plan is possible (e.g. the database is newer than the target) or an error."
    )]
    Plan {
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: MigrationFlags,
    },
    // About texts live on the argument structs (cmd::auto, cmd::standin).
    Auto(crate::cmd::auto::AutoArgs),
    #[command(hide = true)]
    StandIn(crate::cmd::standin::StandInArgs),
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
    /// How to roll back from where the database stands, with the exact commands
    Rollback {
        /// Print the guidance (kongrade never restores by itself)
        #[arg(long, default_value_t = true)]
        print: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct NodeArgs {
    /// A Kong Admin API to probe (repeatable), e.g. http://10.0.0.5:8001
    #[arg(long = "admin-url", value_name = "URL")]
    pub admin_urls: Vec<String>,
    /// A JSON file {"admin_urls": [...], "manual_nodes": [...]} (default: kongrade's config dir nodes.json)
    #[arg(long, value_name = "FILE")]
    pub nodes_file: Option<PathBuf>,
    /// Kong-Admin-Token header for the probes
    #[arg(
        long,
        env = "KONGRADE_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// CA file for https Admin APIs
    #[arg(long, value_name = "FILE")]
    pub admin_ca: Option<String>,
    /// Do not verify https Admin API certificates
    #[arg(long)]
    pub admin_insecure: bool,
    /// Probe timeout in milliseconds
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub probe_timeout: u64,
    /// A data plane counts as serving when seen within this many seconds
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub dp_window: u64,
}

impl NodeArgs {
    pub fn probe_options(&self) -> crate::exec::probe::ProbeOptions {
        crate::exec::probe::ProbeOptions {
            timeout: std::time::Duration::from_millis(self.probe_timeout),
            admin_token: self.admin_token.clone(),
            verify_tls: !self.admin_insecure,
            ca_files: self.admin_ca.clone().into_iter().collect(),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum JournalAction {
    /// Every journal, newest first
    List,
    /// One journal's entries (ID: a file name prefix from `list`, or a path)
    Show { id: String },
}
