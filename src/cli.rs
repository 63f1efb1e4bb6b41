//! Command-line interface. Flags that mirror kong.conf keys are applied as the highest-priority
//! layer over the file and `KONG_*` variables, so they are validated the same way.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exec::standin::MigrationRef;
use crate::kong::version::Version;

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

    /// Dual-cluster in the wizard: the clone (--clone-database ...), the new cluster's Status
    /// APIs and smoke tests, as `auto --strategy dual-cluster` takes them
    #[command(flatten)]
    pub dual: DualClusterFlags,

    /// Dual-cluster: a new-cluster node's Admin API (repeatable), proven before the traffic shift
    #[arg(long = "new-admin-url", value_name = "URL")]
    pub new_admin_urls: Vec<String>,
    /// The Strategy step preselected (a refused --strategy stops at start, exit 21)
    #[command(flatten)]
    pub strategy: StrategyArgs,
}

impl WizardArgs {
    /// The flags as plain values, for the wizard.
    pub fn options(&self) -> crate::tui::WizardArgs {
        crate::tui::WizardArgs {
            read_only: self.read_only,
            refresh: self.refresh,
            lock_timeout: self.lock_timeout,
            db_timeout: self.db_timeout,
            nodes: self.nodes.options(),
            dual: Some(self.dual.options(&self.new_admin_urls)),
            strategy: self.strategy.options(),
        }
    }
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

    /// One kong per Kong version, for paths through several releases: a command line with
    /// {version} where each hop's version goes, e.g. 'docker run --rm --network host -e
    /// KONG_DATABASE -e KONG_PG_HOST -e KONG_PG_PASSWORD ... kong:{version} kong' (the connection
    /// is put in its environment; needs --target-version)
    #[arg(long, global = true, value_name = "CMD")]
    pub kong_cmd_template: Option<String>,

    /// Shortcut for --kong-cmd-template 'docker run --rm --network host -e KONG_DATABASE -e
    /// KONG_PG_HOST ... IMAGE:{version} kong' (IMAGE without a tag, e.g. kong or
    /// kong/kong-gateway; no password in argv: `-e NAME` passes it through)
    #[arg(
        long,
        global = true,
        value_name = "IMAGE",
        conflicts_with = "kong_cmd_template"
    )]
    pub kong_image: Option<String>,

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
            // KONGRADE_KONG_CMD is a default: a template given here replaces it (clap would call
            // the environment's value a conflict).
            kong_cmd: self.kong_cmd.clone().filter(|c| {
                let templated = self.kong_cmd_template.is_some() || self.kong_image.is_some();
                !(templated && std::env::var("KONGRADE_KONG_CMD").ok().as_ref() == Some(c))
            }),
            kong_cmd_template: self.kong_cmd_template.clone(),
            kong_image: self.kong_image.clone(),
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
pub struct MigrationArgs {
    /// The --db-timeout you will pass to kong migrations (seconds; Kong's default is 60)
    #[arg(long, value_name = "S")]
    pub db_timeout: Option<u64>,
    /// The --lock-timeout you will pass to kong migrations (seconds; Kong's default is 60)
    #[arg(long, value_name = "S")]
    pub lock_timeout: Option<u64>,
}

impl MigrationArgs {
    pub fn options(&self) -> crate::cmd::diagnose::MigrationFlags {
        crate::cmd::diagnose::MigrationFlags {
            db_timeout: self.db_timeout,
            lock_timeout: self.lock_timeout,
        }
    }
}

/// `--strategy`: Kong's four upgrade strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyFlag {
    /// A second cluster on a copy of the database; traffic shifts over (Kong's recommendation
    /// when a second cluster can be had)
    DualCluster,
    /// Stop every old node, then up and finish on the same database (downtime)
    InPlace,
    /// up while old nodes serve, new nodes started, old ones stopped, then finish (patch
    /// upgrades; to 3.x only from 2.8.2+ nodes; never for the LTS 2.8 -> 3.4 pair)
    BlueGreen,
    /// DB-less nodes and data planes replaced one by one: no migrations
    Rolling,
}

/// `--deployment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeploymentFlag {
    /// Nodes on a database (role = traditional)
    Traditional,
    /// A control plane on the database with data planes (role = control_plane)
    Hybrid,
    /// Nodes without a database (database = off)
    DbLess,
    /// Hybrid data planes (role = data_plane)
    DataPlane,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

/// How to choose the upgrade's strategy (`plan`, `auto`).
#[derive(Args, Debug, Clone, Default)]
pub struct StrategyArgs {
    /// The upgrade strategy to follow; refused with why when Kong's guide does not allow it here.
    /// Default: plan says Kong's recommendation; auto runs the shared-database procedure
    /// (blue-green) only where Kong allows it, else stops (21) with each allowed strategy's command
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub strategy: Option<StrategyFlag>,
    /// How the cluster is deployed, when no --admin-url shows it (its GET / configuration.role)
    #[arg(long, value_enum, value_name = "MODE")]
    pub deployment: Option<DeploymentFlag>,
    /// Whether a second cluster and database can be had (Kong: dual-cluster if yes, in-place if no)
    #[arg(long, value_enum, value_name = "yes|no")]
    pub second_cluster: Option<YesNo>,
}

impl StrategyArgs {
    /// The flags as plain values.
    pub fn options(&self) -> crate::kong::strategy::Asked {
        use crate::kong::strategy::{Asked, Deployment, Strategy};
        Asked {
            strategy: self.strategy.map(|s| match s {
                StrategyFlag::DualCluster => Strategy::DualCluster,
                StrategyFlag::InPlace => Strategy::InPlace,
                StrategyFlag::BlueGreen => Strategy::BlueGreen,
                StrategyFlag::Rolling => Strategy::Rolling,
            }),
            deployment: self.deployment.map(|d| match d {
                DeploymentFlag::Traditional => Deployment::Traditional,
                DeploymentFlag::Hybrid => Deployment::HybridControlPlane,
                DeploymentFlag::DbLess => Deployment::DbLess,
                DeploymentFlag::DataPlane => Deployment::DataPlane,
            }),
            second_cluster: self.second_cluster.map(|y| y == YesNo::Yes),
        }
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
    /// A pg_dump of Kong's database in custom format, verified with pg_restore --list, recorded
    /// in the upgrade journal (files 0600 in the data directory, KONGRADE_DATA_DIR overrides)
    Backup {
        /// Where to write the dump (default: the data directory's backups/)
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Replace an existing file at --out (never a symbolic link: that is always refused)
        #[arg(long)]
        force: bool,
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
        flags: MigrationArgs,
    },
    /// The steps from the database's state to up to date on the target, with exact commands
    #[command(
        after_help = "Exit codes: 0 a plan (or nothing to do), 1 no plan is possible (e.g. the database is newer than the target) or an error, 21 the --strategy given is refused here (the plan says why)."
    )]
    Plan {
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: MigrationArgs,
        #[command(flatten)]
        strategy: StrategyArgs,
        /// Admin APIs of the old nodes: their GET / gives exact versions and the deployment mode
        #[command(flatten)]
        nodes: NodeArgs,
    },
    // About texts live on the argument structs (cmd::auto, cmd::standin).
    Auto(AutoFlags),
    #[command(hide = true)]
    StandIn(StandInFlags),
    /// The wizard against the built-in training cluster: no database or Kong needed
    Demo(DemoArgs),
    Rehearse(RehearseFlags),
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
    /// The flags as plain values, for `nodes`, `auto` and the wizard.
    pub fn options(&self) -> crate::cmd::nodes::NodesArgs {
        crate::cmd::nodes::NodesArgs {
            admin_urls: self.admin_urls.clone(),
            nodes_file: self.nodes_file.clone(),
            probe: self.probe_options(),
            dp_window: self.dp_window as f64,
        }
    }

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

// ---------------------------------------------------------------------------------------------
// `auto`

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackupFlag {
    /// pg_dump the database first, proven with pg_restore --list (kongrade backup)
    #[value(name = "pg_dump")]
    PgDump,
    /// No backup: you took one yourself
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FinishFlag {
    /// Stop after `up` (exit 4) and say what remains
    Never,
    /// Run `finish` too: only when no old-version node is running
    Always,
    /// Run `finish` only when no old node is seen: Admin API probes (--admin-url, nodes file),
    /// recent data planes; otherwise stop with exit 4 naming them
    WhenNoOldNodes,
}

#[derive(Args, Debug, Clone)]
#[command(
    about = "The whole upgrade unattended, for CD pipelines: bootstrap, or up (and finish), with safety gates",
    after_help = crate::cmd::auto::EXIT_CODES_HELP
)]
pub struct AutoFlags {
    /// Back up first (pg_dump, proven and journaled) before the first migrating step, or skip
    #[arg(long, value_enum, default_value_t = BackupFlag::PgDump, value_name = "pg_dump|skip")]
    pub backup: BackupFlag,

    /// After `up`: `never` stops with exit 4; `always` runs `finish` (every old node must be gone)
    #[arg(long, value_enum, default_value_t = FinishFlag::Never)]
    pub finish: FinishFlag,

    /// Wait up to SECONDS for a live migrations lock to go (another run, or a killed one's row)
    #[arg(long, value_name = "SECONDS")]
    pub wait_lock: Option<u64>,

    /// Go on although an earlier upgrade skipped migrations (Kong will run them out of order)
    #[arg(long)]
    pub allow_gaps: bool,

    /// Go on although the database records migrations the target does not know
    #[arg(long)]
    pub allow_unknown: bool,

    /// Go on although Kong does not support this version jump
    #[arg(long)]
    pub allow_unsupported_jump: bool,

    /// Go on although the preflight says the target breaks something (exit 20 otherwise)
    #[arg(long)]
    pub allow_breaking: bool,

    /// Go on although a preflight read failed, so its checks did not run (exit 20 otherwise)
    #[arg(long)]
    pub allow_incomplete_preflight: bool,

    /// Print a JSON report on stdout at the end (progress goes to stderr)
    #[arg(long)]
    pub json: bool,

    /// Passed to kong: timeout in seconds for database operations (Kong's default 60)
    #[arg(long, value_name = "SECONDS")]
    pub db_timeout: Option<u64>,

    /// Passed to kong: the lock's ttl and how long `up` waits on another node (Kong's default 60)
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,

    /// Where --backup=pg_dump writes (default: kongrade's data directory)
    #[arg(long, value_name = "FILE")]
    pub backup_out: Option<std::path::PathBuf>,

    /// The nodes --finish=when-no-old-nodes checks
    #[command(flatten)]
    pub nodes: NodeArgs,

    #[command(flatten)]
    pub strategy: StrategyArgs,

    /// --strategy in-place: you have frozen configuration writes (Admin API, Kong Manager,
    /// decK) for the whole upgrade, as Kong's guide requires; in-place refuses without it
    #[arg(long)]
    pub writes_frozen: bool,

    /// A new node's Admin API (repeatable): --strategy in-place proves it after `finish`,
    /// --strategy dual-cluster before the traffic shift (GET / answers the target version)
    #[arg(long = "new-admin-url", value_name = "URL")]
    pub new_admin_urls: Vec<String>,

    /// How long to wait for the --new-admin-url nodes to answer the target version
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub new_nodes_wait: u64,

    /// --strategy dual-cluster: the clone and the new cluster
    #[command(flatten)]
    pub dual: Box<DualClusterFlags>,
}

impl AutoFlags {
    /// The flags as plain values, for `cmd::auto`.
    pub fn options(&self) -> crate::cmd::auto::AutoArgs {
        use crate::cmd::auto::{Backup, FinishMode};
        crate::cmd::auto::AutoArgs {
            backup: match self.backup {
                BackupFlag::PgDump => Backup::PgDump,
                BackupFlag::Skip => Backup::Skip,
            },
            finish: match self.finish {
                FinishFlag::Never => FinishMode::Never,
                FinishFlag::Always => FinishMode::Always,
                FinishFlag::WhenNoOldNodes => FinishMode::WhenNoOldNodes,
            },
            wait_lock: self.wait_lock,
            allow_gaps: self.allow_gaps,
            allow_unknown: self.allow_unknown,
            allow_unsupported_jump: self.allow_unsupported_jump,
            allow_breaking: self.allow_breaking,
            allow_incomplete_preflight: self.allow_incomplete_preflight,
            json: self.json,
            db_timeout: self.db_timeout,
            lock_timeout: self.lock_timeout,
            backup_out: self.backup_out.clone(),
            nodes: self.nodes.options(),
            strategy: self.strategy.options(),
            writes_frozen: self.writes_frozen,
            new_admin_urls: self.new_admin_urls.clone(),
            new_nodes_wait: self.new_nodes_wait,
            dual: self.dual.options(&self.new_admin_urls),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `stand-in`

const STANDIN_ABOUT: &str =
    "A stand-in for `kong` for tests and training. NOT Kong: it runs no migration DDL.";

const STANDIN_LONG_ABOUT: &str = "\
A stand-in for the `kong` command, for tests and training. It is NOT Kong.

It runs NO Kong DDL: no table, column or index of Kong's schema is created, changed or dropped.
Its only effect on the database is Kong's bookkeeping: the schema_meta and locks tables
(created by `bootstrap`, dropped by `reset`), the `migrations` lock taken and released as Kong
takes it, and one schema_meta record per migration, written right after the migration \"ran\".
Everything else it does is print what Kong 3.x prints and exit with Kong's exit codes.

It reads kong.conf (-c FILE, else /etc/kong/kong.conf, /etc/kong.conf) and KONG_* variables as
Kong does; kongrade's own connection flags do not apply to it. PostgreSQL only.

`database = off` is answered as Kong's DB-less connector answers: every migration executed,
nothing to do. A prefix (-p, KONG_PREFIX or kong.conf `prefix`) is prepared as Kong prepares it
(the directory, logs/, pids/ and the empty log files; no certificates); Kong's default prefix
/usr/local/kong is left alone when none is given.

Kong's commands, after the stand-in's own options (`--` before them is optional):
  migrations bootstrap|up|finish|list|status|reset
      [-c FILE] [-p PREFIX] [-y] [-q] [-f|--force] [--db-timeout S] [--lock-timeout S] [--v|--vv]
  version [-a]

Examples:
  kongrade stand-in --kong-version 3.4.2 migrations up -c /etc/kong/kong.conf
  kongrade auto --kong-cmd 'kongrade stand-in --kong-version 3.4.2 --delay-ms 200' --backup=skip";

#[derive(Args, Debug, Clone)]
#[command(about = STANDIN_ABOUT, long_about = STANDIN_LONG_ABOUT)]
pub struct StandInFlags {
    /// The Kong release to play (its migrations come from kongrade's catalog)
    #[arg(long, value_name = "X.Y.Z")]
    pub kong_version: Version,

    /// Milliseconds each migration takes (to watch progress)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,

    /// Make this migration fail (its up; its teardown in `finish`): Kong's error text, exit 1,
    /// the lock released, the earlier migrations recorded
    #[arg(long, value_name = "SUBSYSTEM/NAME")]
    pub fail_at: Option<MigrationRef>,

    /// Die here as a killed Kong would (SIGKILL on itself): the earlier migrations recorded, the
    /// lock row left until its ttl passes
    #[arg(long, value_name = "SUBSYSTEM/NAME")]
    pub die_at: Option<MigrationRef>,

    /// Kong's own arguments (`migrations up -c FILE ...`), with or without `--` before them:
    /// everything from the first of them on is Kong's, so `--kong-cmd 'kongrade stand-in
    /// --kong-version X'` takes kong's arguments as any kong does
    #[arg(
        value_name = "KONG ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub kong_args: Vec<String>,
}

impl StandInFlags {
    /// The flags as plain values, for `cmd::standin`.
    pub fn options(&self) -> crate::cmd::standin::StandInArgs {
        crate::cmd::standin::StandInArgs {
            kong_version: self.kong_version,
            delay_ms: self.delay_ms,
            fail_at: self.fail_at.clone(),
            die_at: self.die_at.clone(),
            kong_args: self.kong_args.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `demo`: its own surface. The database flags are global for every other command; demo has its
// own cluster, so it is parsed by a parser that does not know them, and refuses them by name.

/// `kongrade demo`'s flags: the scenario and the wizard's own, nothing of a real database.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The training scenario (see --list)
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Speed of the simulated kong and lock timers, 0.05 to 100 (2 = twice as fast)
    #[arg(long, value_name = "X", default_value = "1", value_parser = parse_speed)]
    pub speed: f64,
    /// List the scenarios and exit
    #[arg(long)]
    pub list: bool,
    /// Show the state and findings only: run nothing
    #[arg(long)]
    pub read_only: bool,
    /// How often the live pane reads the training database, in seconds
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_refresh)]
    pub refresh: std::time::Duration,
    /// Passed to the training kong as --lock-timeout (Kong's default: 60)
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
    /// Passed to the training kong as --db-timeout
    #[arg(long, value_name = "SECONDS")]
    pub db_timeout: Option<u64>,
    /// A data plane counts as serving when seen within this many seconds
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub dp_window: u64,
}

/// The slowest and fastest `--speed`.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.05..=100.0;

fn parse_speed(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(x.is_finite() && SPEED_RANGE.contains(&x)) {
        return Err(format!(
            "between {} and {} (1 is real time, 2 twice as fast)",
            SPEED_RANGE.start(),
            SPEED_RANGE.end()
        ));
    }
    Ok(x)
}

impl DemoArgs {
    /// The wizard's flags as plain values (the training cluster has its own nodes).
    pub fn options(&self) -> crate::tui::WizardArgs {
        let nodes = NodeArgs {
            dp_window: self.dp_window,
            probe_timeout: 3000,
            ..NodeArgs::default()
        };
        crate::tui::WizardArgs {
            read_only: self.read_only,
            refresh: self.refresh,
            lock_timeout: self.lock_timeout,
            db_timeout: self.db_timeout,
            nodes: nodes.options(),
            dual: None,
            // The scenario says the training cluster's deployment and resources.
            strategy: crate::kong::strategy::Asked::default(),
        }
    }
}

/// `kongrade demo ...` parsed alone, so its help and errors are demo's.
#[derive(Parser, Debug)]
#[command(
    name = "kongrade demo",
    about = "The wizard against the built-in training cluster: no database or Kong needed",
    after_help = "The training cluster is built in (an in-memory database, simulated nodes, and kongrade's kong stand-in), so demo takes no database, kong.conf, Kong version or Admin API flags."
)]
struct DemoCli {
    #[command(flatten)]
    args: DemoArgs,
}

/// Why a flag is refused after `demo`: it is for a real database.
fn not_for_demo(cmd: &mut clap::Command, flag: &str) -> clap::Error {
    cmd.error(
        clap::error::ErrorKind::ArgumentConflict,
        format!(
            "{flag} is not a demo flag: demo runs its own built-in training cluster (an in-memory database and a stand-in kong), so it takes no database, kong.conf, Kong version or Admin API flags. For a real database run `kongrade` without `demo`; `kongrade demo --help` lists demo's flags."
        ),
    )
}

/// The long and short names of the connection flags, as typed (`--pg-host`, `-c`).
fn conn_flag_names() -> Vec<String> {
    let c = ConnArgs::augment_args(clap::Command::new("conn"));
    let c = NodeArgs::augment_args(c);
    c.get_arguments()
        .flat_map(|a| {
            let mut names: Vec<String> = a
                .get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|l| format!("--{l}"))
                .collect();
            names.extend(a.get_short().map(|s| format!("-{s}")));
            names
        })
        .collect()
}

impl Cli {
    /// The command line of this process (exits on an error or `--help`, as clap does).
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses a command line. `demo` first is parsed by demo's own parser (its help, its
    /// errors); a database flag given with demo anywhere is refused by name.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        if args.get(1).is_some_and(|a| a == "demo") {
            let rest = std::iter::once(std::ffi::OsString::from("kongrade demo"))
                .chain(args.iter().skip(2).cloned());
            let demo = DemoCli::try_parse_from(rest).map_err(|e| {
                let bad = match e.get(clap::error::ContextKind::InvalidArg) {
                    Some(clap::error::ContextValue::String(s)) => Some(s.clone()),
                    _ => None,
                };
                match bad {
                    Some(flag)
                        if e.kind() == clap::error::ErrorKind::UnknownArgument
                            && conn_flag_names()
                                .contains(&flag.split('=').next().unwrap_or("").to_string()) =>
                    {
                        not_for_demo(&mut DemoCli::command(), &flag)
                    }
                    _ => e,
                }
            })?;
            let mut cli = Cli::try_parse_from(["kongrade"])?;
            cli.command = Some(Command::Demo(demo.args));
            return Ok(cli);
        }
        let mut cmd = Cli::command();
        let matches = cmd.try_get_matches_from_mut(&args)?;
        if let Some(("demo", sub)) = matches.subcommand() {
            // Flags before `demo` (kongrade -c FILE demo): the top level's and the globals.
            let ids: Vec<(String, bool)> = cmd
                .get_arguments()
                .map(|a| (a.get_id().to_string(), a.is_global_set()))
                .collect();
            let typed = |m: &clap::ArgMatches, id: &str| {
                m.try_get_raw(id).is_ok_and(|v| v.is_some())
                    && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            };
            for (id, global) in ids {
                // A global flag after `demo` lands in demo's matches too.
                let given = typed(&matches, &id) || (global && typed(sub, &id));
                if given {
                    let flag = cmd
                        .get_arguments()
                        .find(|a| a.get_id() == id.as_str())
                        .and_then(|a| a.get_long().map(|l| format!("--{l}")))
                        .unwrap_or(id);
                    return Err(not_for_demo(&mut DemoCli::command(), &flag));
                }
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
    }
}

// ---------------------------------------------------------------------------------------------
// The clone (`rehearse`, `auto --strategy dual-cluster`)

/// Where the clone of Kong's database goes: another database on the same server, or another
/// server (flags, or a second kong.conf).
#[derive(Args, Debug, Clone, Default)]
pub struct CloneArgs {
    /// The clone's database name (on the source's server unless --clone-pg-host/--clone-conf)
    #[arg(long, value_name = "NAME")]
    pub clone_database: Option<String>,
    /// A second kong.conf whose pg_* keys name the clone's server and database
    #[arg(long, value_name = "FILE")]
    pub clone_conf: Option<PathBuf>,
    /// The clone's server (default: the source's)
    #[arg(long, value_name = "HOST")]
    pub clone_pg_host: Option<String>,
    /// The clone's port
    #[arg(long, value_name = "PORT")]
    pub clone_pg_port: Option<u16>,
    /// The clone's role (it creates and owns the clone database)
    #[arg(long, value_name = "USER")]
    pub clone_pg_user: Option<String>,
    /// The clone's password (prefer the environment variable: argv is visible to other users)
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "KONGRADE_CLONE_PG_PASSWORD",
        hide_env_values = true
    )]
    pub clone_pg_password: Option<String>,
    /// The clone's database (same as --clone-database)
    #[arg(long, value_name = "NAME", conflicts_with = "clone_database")]
    pub clone_pg_database: Option<String>,
    /// Drop and re-create a clone database that exists and is not empty
    #[arg(long)]
    pub clone_replace: bool,
}

impl CloneArgs {
    pub fn spec(&self) -> crate::exec::clone::CloneSpec {
        crate::exec::clone::CloneSpec {
            conf: self.clone_conf.clone(),
            database: self
                .clone_database
                .clone()
                .or_else(|| self.clone_pg_database.clone()),
            host: self.clone_pg_host.clone(),
            port: self.clone_pg_port,
            user: self.clone_pg_user.clone(),
            password: self
                .clone_pg_password
                .as_deref()
                .map(crate::kong::conf::Secret::new),
            replace: self.clone_replace,
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(
    about = "The upgrade rehearsed on a clone: the database copied into a scratch database (proven), the target kong's up and finish run there and timed per migration; the scratch database dropped unless --keep",
    after_help = "The source database is only read. kong is pointed at the clone through its environment (KONG_PG_DATABASE, KONG_PG_PASSWORD...), never argv.\nExit codes: 0 the rehearsal passed, 15 kong failed on the clone (its output is shown), 1 error (the clone could not be made or proven).\n\nExamples:\n  kongrade rehearse --kong-cmd 'docker run --rm --network host -e KONG_PG_HOST -e KONG_PG_DATABASE -e KONG_PG_PASSWORD kong:3.4.2 kong'\n  kongrade rehearse --clone-database kong_try --keep --json"
)]
pub struct RehearseFlags {
    #[command(flatten)]
    pub clone: CloneArgs,
    /// Keep the scratch database afterwards (to look at it, or start a node on it)
    #[arg(long)]
    pub keep: bool,
    /// Print the rehearsal as JSON on stdout (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Passed to kong: timeout in seconds for database operations
    #[arg(long, value_name = "SECONDS")]
    pub db_timeout: Option<u64>,
    /// Passed to kong: the lock's ttl
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
}

impl RehearseFlags {
    pub fn options(&self) -> crate::cmd::rehearse::RehearseArgs {
        crate::cmd::rehearse::RehearseArgs {
            clone: self.clone.spec(),
            keep: self.keep,
            json: self.json,
            db_timeout: self.db_timeout,
            lock_timeout: self.lock_timeout,
        }
    }
}

/// `auto --strategy dual-cluster`'s own flags: where the clone goes, the new cluster's nodes and
/// its smoke tests.
#[derive(Args, Debug, Clone, Default)]
pub struct DualClusterFlags {
    #[command(flatten)]
    pub clone: CloneArgs,
    /// A new-cluster node's Status API (repeatable): /status/ready must answer 200 (Kong 3.3+)
    #[arg(long = "new-status-url", value_name = "URL")]
    pub new_status_urls: Vec<String>,
    /// A smoke test through the new nodes' proxy (repeatable; dual-cluster, and in-place once the
    /// --new-admin-url nodes answer), e.g. 'GET http://new:8000/health 200'
    #[arg(long = "smoke", value_name = "METHOD URL STATUS", value_parser = crate::cmd::auto::parse_smoke)]
    pub smoke: Vec<crate::cmd::auto::Smoke>,
}

impl DualClusterFlags {
    /// `new_admin_urls`: auto's --new-admin-url (shared with in-place).
    pub fn options(&self, new_admin_urls: &[String]) -> crate::cmd::auto::DualArgs {
        crate::cmd::auto::DualArgs {
            clone: self.clone.spec(),
            new_admin_urls: new_admin_urls.to_vec(),
            new_status_urls: self.new_status_urls.clone(),
            smoke: self.smoke.clone(),
        }
    }
}
