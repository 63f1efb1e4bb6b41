//! Findings: what is wrong with a Kong database before (or in the middle of) an upgrade, why it
//! matters, and the exact commands that fix it. Pure: the caller reads the database, the
//! configuration and the row counts; odd or contradictory rows become findings, never panics.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{Catalog, Db};
use super::plan::{
    self, database_version, floor_version, introduced_in, newer_than_target, plural, shell_word,
    supported_jump, BackupTarget, Plan, PlanOptions, StepKind,
};
use super::policy::{FindingId, History};
use super::rewrites::{self, Phase, Work};
use super::snapshot::{RewriteSeen, Snapshot};
use super::state::{describe_versions, Anomaly, MigState, SchemaState};
use super::target::Target;
use super::version::Version;

/// `kong migrations --db-timeout` and `--lock-timeout` defaults, in seconds.
pub const KONG_DEFAULT_TIMEOUT_S: u64 = 60;

/// A data plane counts as connected when it pinged this recently (they ping every 30 s).
pub const DP_CONNECTED_SECS: f64 = 60.0;

/// A data plane row still stands for a data plane: it pinged lately, or its `ttl` has not
/// passed (Kong's DAO returns no row past its ttl, `ttl >= CURRENT_TIMESTAMP`, and purges it).
pub fn dp_reporting(dp: &super::snapshot::DataPlaneRow) -> bool {
    dp.last_seen_secs_ago
        .is_some_and(|s| s <= DP_CONNECTED_SECS)
        || dp.ttl_secs_left.is_some_and(|s| s > 0.0)
}

/// Tables of this many rows are worth a word even when the defaults suffice.
pub const SIZABLE_ROWS: i64 = 100_000;

/// Estimates are rough: advised timeouts leave this much room.
const MARGIN: f64 = 3.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier (JSON shows it as e.g. `lock-stale`); its rule is in `policy::RULES`.
    pub id: FindingId,
    pub severity: Severity,
    pub title: String,
    /// The rows and values observed.
    pub seen: Vec<String>,
    pub why: String,
    /// Exact commands first, then what to check.
    pub remedy: Vec<String>,
}

/// The settings that change the advice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// The kong.conf read, for `-c` in commands; `None`: Kong's own lookup.
    pub conf_path: Option<String>,
    /// kong.conf `pg_timeout` (ms). Kong nodes use it; `kong migrations` replaces it with
    /// `--db-timeout`.
    pub pg_timeout_ms: u64,
    /// The `--db-timeout` that will be passed to `kong migrations` (s); `None`: Kong's 60.
    pub db_timeout_s: Option<u64>,
    /// The `--lock-timeout` that will be passed (s); `None`: Kong's 60.
    pub lock_timeout_s: Option<u64>,
    /// The raw `plugins` setting.
    pub plugins: Vec<String>,
    /// Where the database is (for backup commands and schema-qualified SQL); never a password.
    pub connection: BackupTarget,
    /// Words before `kong` in every kong command (`KONG_PG_DATABASE=clone `) where kong.conf
    /// names another database than this one (dual-cluster's clone without --clone-conf: kong
    /// reaches it through its environment). `None`: kong.conf says where.
    pub kong_env: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            conf_path: Some("/etc/kong/kong.conf".into()),
            pg_timeout_ms: 5000,
            db_timeout_s: None,
            lock_timeout_s: None,
            plugins: vec!["bundled".into()],
            connection: BackupTarget::default(),
            kong_env: None,
        }
    }
}

/// Everything the diagnosis looks at.
#[derive(Clone, Copy, Debug)]
pub struct DiagnoseInput<'a> {
    pub state: &'a SchemaState,
    pub snapshot: &'a Snapshot,
    pub target: &'a Target,
    pub catalog: &'a Catalog,
    /// Rows of Kong's big tables that exist (`None`: not counted: Cassandra, or counting failed).
    pub row_counts: Option<&'a [(String, i64)]>,
    pub settings: &'a Settings,
    /// Entity rows written since the journaled `up` ended (`None`: not known).
    pub writes_since_up: Option<&'a WritesSinceUp>,
    /// This upgrade's journal (`None`: none): who ran `up`, where the upgrade began.
    pub history: Option<&'a History>,
}

/// Admin API writes since `up`: rows created or updated per table, and when `up` ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WritesSinceUp {
    /// When `up` ended, as the journal wrote it (UTC).
    pub since: String,
    pub rows: Vec<(String, i64)>,
}

impl DiagnoseInput<'_> {
    fn db(&self) -> Db {
        self.state.db
    }

    fn conf(&self) -> String {
        match &self.settings.conf_path {
            Some(c) => format!(" -c {}", shell_word(c)),
            None => String::new(),
        }
    }

    /// What goes before `kong` (see [`Settings::kong_env`]).
    fn kong_env(&self) -> &str {
        self.settings.kong_env.as_deref().unwrap_or("")
    }

    fn kong(&self, sub: &str) -> String {
        format!("{}kong migrations {sub}{}", self.kong_env(), self.conf())
    }

    /// A Kong table's name as SQL, qualified when kong.conf sets pg_schema.
    pub(crate) fn table_sql(&self, name: &str) -> String {
        self.table(name)
    }

    /// `psql` on Kong's database (host, port, role, database from kong.conf; the password from
    /// PGPASSWORD or ~/.pgpass, never in the command), running `sql`, quoted for the shell.
    pub(crate) fn psql(&self, sql: &str) -> String {
        self.settings.connection.psql(sql)
    }

    /// `kong migrations SUB` with kong.conf's `-c`.
    pub(crate) fn kong_cmd(&self, sub: &str) -> String {
        self.kong(sub)
    }

    fn table(&self, name: &str) -> String {
        self.settings.connection.table_sql(name)
    }

    fn count(&self, table: &str) -> Option<i64> {
        self.row_counts?
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, n)| *n)
    }

    fn plan_options(&self, db_timeout: Option<u64>, lock_timeout: Option<u64>) -> PlanOptions {
        PlanOptions {
            conf_path: self.settings.conf_path.clone(),
            kong_env: self.settings.kong_env.clone(),
            db_timeout,
            lock_timeout,
            backup: self.settings.connection.clone(),
            legacy_apis: self.count("apis"),
            ran_up: self.history.and_then(|h| h.ran_up()),
            started_from: self.history.and_then(|h| h.started_from),
        }
    }
}

/// The exit code of `kongrade diagnose`: 1 with errors, 2 with warnings, else 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        1
    } else if findings.iter().any(|f| f.severity == Severity::Warning) {
        2
    } else {
        0
    }
}

/// One migration's estimated work on big tables in one step of the plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeavyWork {
    pub kong_version: Option<Version>,
    pub phase: Phase,
    pub subsystem: String,
    pub migration: String,
    pub work: Work,
    pub tables: Vec<(String, i64)>,
    pub est_secs: f64,
    /// What the rehearsal of this target measured for it (scaled by the tables' growth since):
    /// shown in place of the estimate; the advice takes the longer of the two.
    pub measured_secs: Option<f64>,
}

impl HeavyWork {
    /// The time the advice goes by: the longer of the estimate and the rehearsal's.
    pub fn secs(&self) -> f64 {
        advised_secs(self.est_secs, self.measured_secs)
    }
}

/// The time the advice goes by for work estimated at `est_secs` and rehearsed at
/// `measured_secs` (scaled by [`RehearsalScale`]): never below the estimate on a rehearsal's
/// word, since the clone may sit on a quieter server and a lock too short lets a second `up`
/// join. The wizard's Review says this same number.
pub fn advised_secs(est_secs: f64, measured_secs: Option<f64>) -> f64 {
    measured_secs.map_or(est_secs, |m| m.max(est_secs))
}

/// How a rehearsal's times stand for the tables as they are now: scaled by how much the tables
/// grew since its clone (`RehearsalRecord::growth`). The advice and the wizard's Review both
/// take its times through this, so they say the same.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RehearsalScale {
    /// The largest growth factor among the tables counted (1.0: none).
    pub growth: f64,
}

impl RehearsalScale {
    /// The scale for `r` on the tables counted now, or why its times say nothing of them: the
    /// tables were not counted (the growth cannot be told), or a table empty at the clone holds
    /// rows now (grown beyond any ratio).
    pub fn of(
        r: &crate::contract::clone::RehearsalRecord,
        row_counts: Option<&[(String, i64)]>,
    ) -> Result<RehearsalScale, &'static str> {
        let counts = row_counts.ok_or("the tables were not counted")?;
        let growth = r.growth(|t| counts.iter().find(|(n, _)| n == t).map(|(_, n)| *n));
        if growth.is_finite() {
            Ok(RehearsalScale { growth })
        } else {
            Err("a table empty at the clone holds rows now")
        }
    }

    /// A time measured on the clone, in seconds on the tables as they are now.
    pub fn secs(&self, ms: u64) -> f64 {
        ms as f64 / 1000.0 * self.growth
    }
}

/// What the row counts say about `--db-timeout` and `--lock-timeout`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimeoutAdvice {
    pub items: Vec<HeavyWork>,
    /// The longest single migration statement (meets `--db-timeout`).
    pub longest_statement_secs: f64,
    /// The longest `up` or `finish` run (meets the lock's ttl, `--lock-timeout`).
    pub longest_run_secs: f64,
    /// The rehearsal whose times replaced the estimates: when it ran, and the growth factor
    /// of the tables since (1.0: none).
    pub rehearsed: Option<(String, f64)>,
    /// Advised when above what will be passed (or Kong's default).
    pub db_timeout: Option<u64>,
    pub lock_timeout: Option<u64>,
}

fn round_up_minute(secs: f64) -> u64 {
    let s = (secs * MARGIN).ceil().max(0.0) as u64;
    s.div_ceil(60).max(1).saturating_mul(60)
}

/// Estimates each coming migration's work on the counted tables.
/// A rehearsal of this target (the journal's latest: `RehearsalRecord::latest_for`) weighs in
/// where it took longer than estimated: each migration it timed, and each run's length (the lock
/// covers the whole run), scaled by how much the tables grew since its clone. The advice never
/// goes below the estimate on a rehearsal's word: the clone may sit on a quieter server, and a
/// lock too short lets a second `up` join.
pub fn timeout_advice(input: &DiagnoseInput<'_>, plan: &Plan) -> TimeoutAdvice {
    let mut adv = TimeoutAdvice::default();
    let target = input.target.version.map(|v| v.to_string());
    let rehearsal = input.history.and_then(|h| {
        crate::contract::clone::RehearsalRecord::latest_for(h.rehearsals.iter(), target.as_deref())
    });
    if input.row_counts.is_none() && rehearsal.is_none() {
        return adv;
    }
    // Counts not read: how much the tables grew cannot be told, and a rehearsal's times are no
    // floor then; nor is a table filled since an empty clone.
    let scale = rehearsal.and_then(|r| RehearsalScale::of(r, input.row_counts).ok());
    let rehearsal = rehearsal.filter(|_| scale.is_some());
    let growth = scale.map_or(1.0, |s| s.growth);
    let measured = |ms: u64| scale.map_or(ms as f64 / 1000.0, |s| s.secs(ms));
    let mut used = false;
    for step in &plan.steps {
        let (phase, command) = match step.kind {
            StepKind::Up => (Phase::Up, "up"),
            StepKind::Finish | StepKind::FinishPrevious => (Phase::Teardown, "finish"),
            _ => continue,
        };
        let kong = step.kong_version.map(|v| v.to_string());
        let kong = kong.as_deref();
        // The table is PostgreSQL's work; on Cassandra only the routes are counted, for core
        // 016's row-by-row rewrite (its up_f sends one UPDATE per regex route there too).
        let cassandra = step.db == Db::Cassandra && input.db() == Db::Cassandra;
        if !cassandra && (step.db != Db::Postgres || input.db() != Db::Postgres) {
            continue;
        }
        let mut run = 0.0;
        for sub in &step.migrations {
            for m in &sub.migrations {
                let mut statement = 0.0;
                for r in rewrites::of(&sub.subsystem, &m.name)
                    .filter(|r| r.phase == phase)
                    .filter(|r| !cassandra || r.written == Some(rewrites::ROUTES_WITH_REGEX_PATHS))
                {
                    let Some((tables, secs)) = r.estimate(|t| input.count(t)) else {
                        continue;
                    };
                    let item = HeavyWork {
                        kong_version: step.kong_version,
                        phase,
                        subsystem: sub.subsystem.clone(),
                        migration: m.name.clone(),
                        work: r.work,
                        tables,
                        est_secs: secs,
                        measured_secs: rehearsal
                            .and_then(|h| h.migration_ms(command, kong, &sub.subsystem, &m.name))
                            .map(measured),
                    };
                    used |= item.measured_secs.is_some();
                    run += item.secs();
                    // A migration's whole time bounds each of its statements.
                    if r.work == Work::Statement {
                        statement += item.secs();
                    }
                    adv.items.push(item);
                }
                adv.longest_statement_secs = adv.longest_statement_secs.max(statement);
            }
        }
        // The run as rehearsed: every migration of it, not only the estimated ones.
        if let Some(ms) = rehearsal.and_then(|h| h.step_ms(command, kong)) {
            used = true;
            run = run.max(measured(ms));
        }
        adv.longest_run_secs = adv.longest_run_secs.max(run);
    }
    if used {
        adv.rehearsed = rehearsal.map(|r| (r.at.clone(), growth));
    }
    let db_now = input
        .settings
        .db_timeout_s
        .unwrap_or(KONG_DEFAULT_TIMEOUT_S);
    let lock_now = input
        .settings
        .lock_timeout_s
        .unwrap_or(KONG_DEFAULT_TIMEOUT_S);
    let db_need = round_up_minute(adv.longest_statement_secs);
    let lock_need = round_up_minute(adv.longest_run_secs);
    if adv.longest_statement_secs * MARGIN > db_now as f64 {
        adv.db_timeout = Some(db_need);
    }
    if adv.longest_run_secs * MARGIN > lock_now as f64 {
        adv.lock_timeout = Some(lock_need);
    }
    adv
}

/// The plan with the timeouts the row counts call for (or those the operator gave).
pub fn plan_for(input: &DiagnoseInput<'_>) -> Plan {
    let s = input.settings;
    let base = input.plan_options(s.db_timeout_s, s.lock_timeout_s);
    let first = plan::plan_with(input.state, input.target, input.catalog, input.db(), &base);
    let adv = timeout_advice(input, &first);
    if adv.db_timeout.is_none() && adv.lock_timeout.is_none() {
        return first;
    }
    let opts = input.plan_options(
        adv.db_timeout.or(s.db_timeout_s),
        adv.lock_timeout.or(s.lock_timeout_s),
    );
    plan::plan_with(input.state, input.target, input.catalog, input.db(), &opts)
}

/// Every finding, errors first.
pub fn diagnose(input: &DiagnoseInput<'_>) -> Vec<Finding> {
    diagnose_with(input, &plan_for(input))
}

/// Every finding, errors first, judged against a plan the caller already made with
/// [`plan_for`] (the policy needs both: one plan, not two, on the poller's every read).
pub fn diagnose_with(input: &DiagnoseInput<'_>, plan: &Plan) -> Vec<Finding> {
    let mut out = Vec::new();
    lock(input, &mut out);
    super::half_applied::finding(input, &mut out);
    bootstrap(input, &mut out);
    pending(input, plan, &mut out);
    gaps(input, &mut out);
    unknown(input, &mut out);
    plugins(input, &mut out);
    jump(input, plan, &mut out);
    cassandra(input, plan, &mut out);
    large_tables(input, plan, &mut out);
    data_planes(input, &mut out);
    writes_since_up(input, &mut out);
    anomalies(input, &mut out);
    out.sort_by_key(|f| f.severity);
    out
}

/// Entities written between up and finish can be missed by the teardowns finish runs.
fn writes_since_up(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let Some(w) = input.writes_since_up else {
        return;
    };
    if w.rows.is_empty() || !input.state.any(MigState::Pending) {
        return;
    }
    let total: i64 = w.rows.iter().map(|(_, n)| n).sum();
    out.push(Finding {
        id: FindingId::WritesSinceUp,
        severity: Severity::Warning,
        title: format!(
            "{total} entity change(s) through the Admin API since `up` finished ({})",
            w.since
        ),
        seen: w
            .rows
            .iter()
            .map(|(t, n)| format!("{t}: {n} row(s) created or updated"))
            .collect(),
        why: "Between up and finish, entities written by the old nodes can be missed by the teardowns that finish runs (they migrate the rows that existed at up). Freeze Admin API changes (decK, CI pushes, admins) until finish.".into(),
        remedy: vec![
            "freeze Admin API writes until `kong migrations finish` has run".into(),
            "after finish, re-check the entities listed here (or re-apply them from your declarative config: deck gateway sync)".into(),
        ],
    });
}

/// "45 s", "12 min", "3 h".
pub fn human_secs(secs: f64) -> String {
    let n = secs.abs().round() as u64;
    if n < 120 {
        format!("{n} s")
    } else if n < 7200 {
        format!("{} min", n / 60)
    } else if n < 172_800 {
        format!("{} h", n / 3600)
    } else {
        format!("{} days", n / 86_400)
    }
}

fn kong_v(v: Option<Version>) -> String {
    v.map(|v| format!("Kong {v}"))
        .unwrap_or_else(|| "the target Kong".into())
}

fn lock(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    // A rewrite still at work whose lock expired: a live run, whatever the row says. One we
    // cannot see is not "none": the row's expiry says nothing then either.
    if !input.state.lock.as_ref().is_some_and(|l| l.live) {
        match &input.state.rewrite {
            RewriteSeen::Running => return super::half_applied::running(input, out),
            RewriteSeen::CannotTell { .. } => return super::half_applied::cannot_tell(input, out),
            RewriteSeen::NotRunning => {}
        }
    }
    let Some(l) = &input.state.lock else {
        return;
    };
    let owner = l.owner.clone().unwrap_or_else(|| "(no owner)".into());
    let mut seen = vec![format!("locks row 'migrations', owner {owner}")];
    if let Some(t) = &l.ttl {
        seen.push(format!("ttl {t}"));
    }
    if l.without_ttl(input.state.db) {
        seen.push("ttl NULL: Kong never deletes such a row".into());
        out.push(Finding {
            id: FindingId::LockNoTtl,
            severity: Severity::Error,
            title: "A migrations lock row without a ttl blocks every run: Kong never removes it".into(),
            seen,
            why: "Kong always writes a ttl; a NULL one comes from a hand edit or a restore. Kong purges only rows whose ttl has passed and takes the lock with INSERT ... ON CONFLICT DO NOTHING, so with this row every bootstrap, up and finish prints 'aborted: another node is performing database changes' and exits 0 without doing anything. No run can be holding it: deleting it is safe.".into(),
            remedy: vec![
                input.psql(&format!(
                    "DELETE FROM {} WHERE key = 'migrations' AND ttl IS NULL",
                    input.table("locks")
                )),
                "kongrade status   # then the lock is gone and the next step can run".into(),
            ],
        });
        return;
    }
    if l.live {
        let left = l
            .seconds_left
            .map(|s| format!("expires in {}", human_secs(s.max(0.0))))
            .or_else(|| {
                (l.ttl.as_deref() == Some("infinity"))
                    .then(|| "never expires: its ttl is 'infinity'".to_string())
            })
            .unwrap_or_else(|| {
                "expires within --lock-timeout (Cassandra drops the row itself)".into()
            });
        seen.push(left.clone());
        out.push(Finding {
            id: FindingId::LockLive,
            severity: Severity::Error,
            title: format!("Migrations are running now, or a killed run left the lock ({left})"),
            seen,
            why: "Every bootstrap/up/finish holds the `migrations` lock for --lock-timeout seconds from its start and never renews it. While it is live, bootstrap and finish print 'aborted: another node is performing database changes' and exit 0 without doing anything; up waits, then fails. Deleting a live lock while a run is going lets a second run migrate at the same time.".into(),
            remedy: vec![
                "ps -ef | grep '[k]ong migrations'   # on every host that may run migrations: CI runners, containers, Kubernetes jobs".into(),
                "kongrade status   # exit code 6 while the lock is live; if no run is found, wait for it to expire".into(),
                "Once it has expired, re-read the state before anything else: a killed run may have left migrations half recorded.".into(),
            ],
        });
    } else {
        let ago = l
            .seconds_left
            .map(|s| format!("expired {} ago", human_secs(s)))
            .unwrap_or_else(|| "expired".into());
        seen.push(ago.clone());
        // Information, not a warning: an expired row blocks nothing and Kong removes it itself.
        // Only a LIVE lock with no run behind it needs waiting (see lock-live).
        out.push(Finding {
            id: FindingId::LockStale,
            severity: Severity::Info,
            title: format!("A killed migration run left a stale lock ({ago}): it blocks nothing, no action needed"),
            seen,
            why: "A run that ends, even with an error, deletes its lock row; this one was killed or lost its connection, so its last migration may be half applied. PostgreSQL keeps the expired row, and it blocks nothing: the next bootstrap/up/finish deletes it itself when it takes the lock. Do not delete it by hand.".into(),
            remedy: vec![
                "Nothing to do for the row: Kong deletes an expired lock itself on the next run.".into(),
                "kongrade status   # what the killed run left: pending migrations, or a 'relation ... already exists' on the next up".into(),
            ],
        });
    }
}

fn bootstrap(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let st = input.state;
    let conf = input.conf();
    let k = input.kong_env();
    if st.needs_bootstrap && st.legacy_table {
        let via = input
            .target
            .version
            .filter(|t| t.major == 1)
            .or_else(|| input.catalog.latest_patch(1, 5))
            .unwrap_or(Version::new(1, 5, 1));
        let mut seen = vec!["no schema_meta table".to_string()];
        if let Some(rows) = &input.snapshot.legacy_migrations {
            let ids: Vec<String> = rows
                .iter()
                .map(|(id, m)| {
                    format!(
                        "{id} ({})",
                        plural(m.len() as u64, "migration", "migrations")
                    )
                })
                .collect();
            seen.push(format!("schema_migrations: {}", ids.join(", ")));
        }
        let apis = input.count("apis");
        if let Some(n) = apis {
            seen.push(format!("apis: {}", plural(n, "row", "rows")));
        }
        let mut remedy = vec![format!(
            "{k}kong migrations up{conf}   # with Kong {via}: imports the 0.14 schema"
        )];
        if apis != Some(0) {
            remedy.push(format!(
                "{k}kong migrations migrate-apis{conf}   # with Kong {via}, if `apis` has rows: before finish, which drops schema_migrations"
            ));
        }
        remedy.push(format!(
            "{k}kong migrations finish{conf}   # with Kong {via}, once the 0.x nodes are stopped"
        ));
        remedy.push("kongrade plan   # the rest of the way, step by step".into());
        out.push(Finding {
            id: FindingId::LegacyDatabase,
            severity: Severity::Error,
            title: format!("Kong 0.x database: never bootstrap it; import it with Kong {via}"),
            seen,
            why: "It has the pre-1.0 schema_migrations table and no schema_meta. Kong 2.0 and later take it for an empty database and say it needs bootstrapping: bootstrap would then fail on the existing tables, or leave a second schema beside your data. Only Kong 1.0 to 1.5 import a 0.14.1 database (an older 0.x goes to 0.14.1 first); 1.5 also converts the `apis` to services and routes.".into(),
            remedy,
        });
        return;
    }
    if st.needs_bootstrap {
        let present: Vec<String> = input
            .row_counts
            .unwrap_or(&[])
            .iter()
            .filter(|(t, _)| t != "apis" && t != rewrites::ROUTES_WITH_REGEX_PATHS)
            .map(|(t, n)| format!("{t}: {}", plural(*n, "row", "rows")))
            .collect();
        if !present.is_empty() {
            let mut seen = vec!["no schema_meta table".to_string()];
            seen.extend(present);
            out.push(Finding {
                id: FindingId::TablesWithoutSchemaMeta,
                severity: Severity::Error,
                title: "Kong's tables are here but schema_meta is not: do not bootstrap".into(),
                seen,
                why: "Without schema_meta Kong cannot tell which migrations ran, and bootstrap would run them all over existing tables. schema_meta was dropped, or the tables were restored without it, or kong.conf points at the wrong pg_schema.".into(),
                remedy: vec![
                    format!("{}   # is it in another schema? then set pg_schema", input.psql("\\dt *.schema_meta")),
                    "Restore schema_meta from the backup taken with these tables (pg_restore -t schema_meta).".into(),
                ],
            });
            return;
        }
        out.push(Finding {
            id: FindingId::NeedsBootstrap,
            severity: Severity::Info,
            title: "Empty database: bootstrap it".into(),
            seen: vec![format!(
                "no schema_meta table in {}",
                if input.snapshot.namespace.is_empty() {
                    input.settings.connection.database.clone()
                } else {
                    format!(
                        "{} ({})",
                        input.settings.connection.database, input.snapshot.namespace
                    )
                }
            )],
            why: "Kong has never run on this database. If you expected an existing installation here, check pg_database and pg_schema: this may be the wrong database.".into(),
            remedy: vec![format!(
                "{}   # with {}",
                input.kong("bootstrap"),
                kong_v(input.target.version)
            )],
        });
        return;
    }
    if input
        .snapshot
        .schema_meta
        .as_ref()
        .is_some_and(|r| r.iter().all(|r| r.key != "schema_meta"))
    {
        out.push(Finding {
            id: FindingId::InterruptedBootstrap,
            severity: Severity::Warning,
            title: "schema_meta records nothing: a bootstrap was interrupted".into(),
            seen: vec!["schema_meta exists with no 'schema_meta' row".into()],
            why: "Bootstrap creates schema_meta before its first migration. Kong now counts every migration as new: up runs them all, and their IF NOT EXISTS guards let it go over what the interrupted bootstrap created.".into(),
            remedy: vec![input.kong("up"), input.kong("finish")],
        });
    }
    if st.legacy_table {
        out.push(Finding {
            id: FindingId::LegacyTableLeft,
            severity: Severity::Info,
            title: "A pre-1.0 schema_migrations table is still here".into(),
            seen: vec!["schema_migrations beside schema_meta".into()],
            why: "The teardown of core 001_14_to_15 drops it when the 0.x import is finished; Kong 1.0 and later ignore it otherwise.".into(),
            remedy: vec!["kongrade status   # pending migrations here mean the 0.x import was never finished".into()],
        });
    }
}

fn subsystem_lines(st: &SchemaState, which: MigState) -> Vec<String> {
    st.subsystems
        .iter()
        .filter(|s| s.count(which) > 0)
        .map(|s| format!("{}: {}", s.name, s.names(which).join(", ")))
        .collect()
}

fn pending(input: &DiagnoseInput<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    let st = input.state;
    if st.needs_bootstrap || !st.any(MigState::Pending) {
        return;
    }
    // The plan's finish step carries the kong version that must run it: the journal's, else the
    // release the recorded schema matches.
    let ran_up = plan
        .steps
        .iter()
        .find(|s| matches!(s.kind, StepKind::FinishPrevious))
        .and_then(|s| s.kong_version)
        .or_else(|| input.history.and_then(|h| h.ran_up()))
        .or_else(|| database_version(st));
    let mut seen = vec![format!(
        "pending: {}",
        subsystem_lines(st, MigState::Pending).join("; ")
    )];
    if st.any(MigState::New) {
        seen.push(format!(
            "new for {}: {}",
            kong_v(input.target.version),
            subsystem_lines(st, MigState::New).join("; ")
        ));
        let with = ran_up
            .map(|v| format!("Kong {v}, the version that ran up"))
            .unwrap_or_else(|| "the Kong version that ran up".into());
        // The plan's command carries the advised timeouts.
        let finish = plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::FinishPrevious)
            .and_then(|s| s.commands.first().cloned())
            .unwrap_or_else(|| input.kong("finish"));
        let mut remedy = vec![format!("{finish}   # with {with}, once no older node runs")];
        if let Some(up) = plan.steps.iter().find(|s| s.kind == StepKind::Up) {
            if let Some(c) = up.commands.first() {
                remedy.push(format!("{c}   # then, with {}", kong_v(up.kong_version)));
            }
        }
        out.push(Finding {
            id: FindingId::UnfinishedUpgrade,
            severity: Severity::Error,
            title: format!("An earlier upgrade never finished: run `kong migrations finish` with {} first", ran_up.map(|v| format!("Kong {v}")).unwrap_or_else(|| "the version that ran up".into())),
            seen,
            why: "`kong migrations up` refuses to run while migrations are pending ('Database has pending migrations; run kong migrations finish'). Finish them with the version that ran up: a newer Kong may no longer list them, or carry other teardowns.".into(),
            remedy,
        });
    } else {
        out.push(Finding {
            id: FindingId::PendingFinish,
            severity: Severity::Warning,
            title: "Upgrade half way: `kong migrations finish` is still to run".into(),
            seen,
            why: "up ran: old and new nodes both work on this database until finish. Make no Admin API changes meanwhile: entities created now can be missed by the teardowns. After finish, older nodes cannot run here; rollback means restoring the backup.".into(),
            remedy: vec![format!(
                "{}   # with {}, once every older node (data planes included) is stopped",
                input.kong("finish"),
                kong_v(input.target.version.or(ran_up))
            )],
        });
    }
}

fn released(catalog: &Catalog, sub: &str, name: &str) -> String {
    match introduced_in(catalog, sub, name) {
        Some(v) => format!("{name} (Kong {v})"),
        None => format!("{name} (in no Kong release 1.0-3.9)"),
    }
}

fn gaps(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let st = input.state;
    if st.gaps.is_empty() {
        return;
    }
    let seen: Vec<String> = st
        .gaps
        .iter()
        .map(|g| {
            format!(
                "{}: {} never recorded, yet {} is",
                g.subsystem,
                g.migrations
                    .iter()
                    .map(|m| released(input.catalog, &g.subsystem, m))
                    .collect::<Vec<_>>()
                    .join(", "),
                g.before
            )
        })
        .collect();
    let mut remedy = vec![format!(
        "{}   # after a backup: Kong runs the skipped ones as new, in list order",
        input.kong("up")
    )];
    if let Some(g) = st.gaps.first() {
        if let Some(m) = g.migrations.first() {
            remedy.push(format!(
                "If one fails with 'already exists', its change is in place: record it by hand: UPDATE {} SET executed = array_append(executed, '{}') WHERE key = 'schema_meta' AND subsystem = '{}';",
                input.table("schema_meta"),
                m.replace('\'', "''"),
                g.subsystem.replace('\'', "''")
            ));
        }
    }
    out.push(Finding {
        id: FindingId::SkippedMigrations,
        severity: Severity::Warning,
        title: format!(
            "Migrations were skipped: {} never recorded before later ones",
            st.gaps.iter().map(|g| g.migrations.len()).sum::<usize>()
        ),
        seen,
        why: "Kong walks each subsystem's list in order and counts an unrecorded migration before a recorded one as new: the next up runs it now, after the migrations that were written to follow it. Usually an earlier run was interrupted and rows were edited by hand, or a restore mixed backups.".into(),
        remedy,
    });
}

/// How many names a finding lists before it says how many more there are.
const SEEN_CAP: usize = 20;

fn unknown(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let to = input.target.version;
    let newer = newer_than_target(input.state, input.catalog, to);
    if let (Some(to), Some(max)) = (to, newer.iter().map(|n| n.2).max()) {
        let mut by: BTreeMap<Version, Vec<String>> = BTreeMap::new();
        for (sub, m, v) in &newer {
            by.entry(*v).or_default().push(format!("{sub} {m}"));
        }
        let seen = by
            .iter()
            .map(|(v, names)| format!("Kong {v}: {}", names.join(", ")))
            .collect();
        out.push(Finding {
            id: FindingId::DatabaseNewer,
            severity: Severity::Error,
            title: format!("The database is newer than Kong {to}: Kong {max} or later migrated it"),
            seen,
            why: format!("Kong ignores migrations it does not know, so Kong {to} calls this database up to date while its schema belongs to Kong {max}: a downgrade attempt, or a node still on an old binary. Kong has no down migrations."),
            remedy: vec![
                format!("kong version   # on every node and where migrations run: Kong {max} or later belongs here"),
                format!("To go back to Kong {to}: pg_restore --clean --if-exists -d {} <backup taken before the upgrade to {max}>", shell_word(&input.settings.connection.database)),
            ],
        });
    }
    // Names on loaded subsystems that no release lists: a build kongrade does not know.
    let index = super::plan::introduced_index(input.catalog);
    let mut foreign = input
        .state
        .unknown
        .iter()
        .filter(|u| u.subsystem_loaded)
        .flat_map(|u| {
            u.migrations
                .iter()
                .filter(|m| !index.contains_key(&(u.subsystem.as_str(), m.as_str())))
                .map(move |m| (u.subsystem.as_str(), m.as_str()))
        });
    // A database can record 100k such names: a screenful says what they are, and the count
    // says the rest (formatting every one was most of `status`'s time).
    let mut seen: Vec<String> = foreign
        .by_ref()
        .take(SEEN_CAP)
        .map(|(sub, m)| format!("{sub} {m}"))
        .collect();
    let more = foreign.count();
    let total = seen.len() + more;
    if total > 0 {
        if more > 0 {
            seen.push(format!(
                "... and {more} more (kongrade status --json lists every one)"
            ));
        }
        out.push(Finding {
            id: FindingId::UnknownMigrations,
            severity: Severity::Warning,
            title: format!("{total} recorded migration(s) that no Kong release lists"),
            seen,
            why: "No open-source release from 1.0.0 to 3.9.3 has them: an Enterprise or patched build wrote them, or a newer version of a custom plugin. Kong ignores them, so the target may lack what they created.".into(),
            remedy: vec![
                "kongrade diagnose --kong-lua-path /usr/local/share/lua/5.1   # read the installed Kong's own lists".into(),
                "kong version   # on the node that ran the last migrations".into(),
            ],
        });
    }
}

fn plugins(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let st = input.state;
    let target = input.target;
    let release = target.version.and_then(|v| input.catalog.release(v));
    let any_release_has = |name: &str, pred: &dyn Fn(Version) -> bool| {
        input
            .catalog
            .releases
            .iter()
            .any(|r| pred(r.version) && r.subsystem(name).is_some())
    };
    let mut not_loaded = Vec::new();
    let mut not_loaded_names: Vec<String> = Vec::new();
    let mut retired = Vec::new();
    for u in st.unknown.iter().filter(|u| !u.subsystem_loaded) {
        if target.unresolved_plugins.contains(&u.subsystem) {
            continue;
        }
        let line = format!(
            "{}: {} recorded ({})",
            u.subsystem,
            u.migrations.len(),
            u.migrations.join(", ")
        );
        let bundled_now = release.is_some_and(|r| r.subsystem(&u.subsystem).is_some());
        let known = any_release_has(&u.subsystem, &|_| true);
        let newer_only = target.version.is_some_and(|to| {
            !any_release_has(&u.subsystem, &|v| v <= to)
                && any_release_has(&u.subsystem, &|v| v > to)
        });
        if bundled_now || !known {
            not_loaded.push(line);
            not_loaded_names.push(u.subsystem.clone());
        } else if newer_only {
            // database-newer says it.
        } else {
            retired.push(line);
        }
    }
    if !not_loaded.is_empty() {
        out.push(Finding {
            id: FindingId::PluginNotLoaded,
            severity: Severity::Warning,
            title: "Plugins with recorded migrations are not in `plugins`".into(),
            seen: not_loaded,
            why: format!(
                "With plugins = {}, Kong does not load them: their future migrations will not run, and nodes do not serve them. A node that runs migrations without a custom plugin leaves its tables behind; one that loads it later finds them out of date.",
                input.settings.plugins.join(",")
            ),
            remedy: vec![
                {
                    // What loads them: the setting as it is, and the plugins not in it.
                    let list = super::preflight::plugins_loading(&input.settings.plugins, &not_loaded_names);
                    format!(
                        "plugins = {}   # in kong.conf of every node, first the one that runs migrations (leave out those no longer used)",
                        list.join(",")
                    )
                },
                input.kong("up"),
                "If a plugin is no longer used, nothing is needed: its tables stay untouched.".into(),
            ],
        });
    }
    if !retired.is_empty() {
        out.push(Finding {
            id: FindingId::PluginRetired,
            severity: Severity::Info,
            title: format!(
                "Plugins an older Kong bundled, gone from {}",
                kong_v(target.version)
            ),
            seen: retired,
            why: "Their rows and tables stay; the target neither reads nor migrates them.".into(),
            remedy: vec!["Nothing to do unless you still configure these plugins.".into()],
        });
    }
    if !target.unresolved_plugins.is_empty() {
        let seen = target
            .unresolved_plugins
            .iter()
            .map(|p| {
                let recorded = input.snapshot.schema_meta.as_ref().and_then(|rows| {
                    rows.iter()
                        .find(|r| r.key == "schema_meta" && &r.subsystem == p)
                });
                match recorded {
                    Some(r) => format!(
                        "{p}: recorded ({} executed, {} pending), its migration files not found",
                        r.executed.as_ref().map_or(0, Vec::len),
                        r.pending.as_ref().map_or(0, Vec::len)
                    ),
                    None => format!("{p}: no schema_meta row: its migrations never ran"),
                }
            })
            .collect();
        out.push(Finding {
            id: FindingId::PluginUnresolved,
            severity: Severity::Warning,
            title: "Custom plugins in `plugins` whose migrations kongrade cannot find".into(),
            seen,
            why: "Every node loads them, and the node that runs kong migrations runs their migrations only if it has their files. Without the files kongrade cannot tell whether their tables are current.".into(),
            remedy: vec![
                "kongrade diagnose --kong-lua-path /usr/local/share/lua/5.1   # the installed tree that holds the plugins".into(),
                "luarocks list   # on the node that runs migrations: the plugin's rock must be installed there too".into(),
            ],
        });
    }
    if !st.needs_bootstrap {
        let never: Vec<String> = target
            .subsystems
            .iter()
            .filter(|s| s.name != "core" && !s.migrations.is_empty())
            .filter(|s| {
                release.map_or(s.origin.starts_with("lua:"), |r| {
                    r.subsystem(&s.name).is_none()
                })
            })
            .filter(|s| st.subsystem(&s.name).is_some_and(|x| !x.recorded))
            .map(|s| {
                format!(
                    "{}: {}, no schema_meta row",
                    s.name,
                    plural(s.migrations.len() as u64, "migration", "migrations")
                )
            })
            .collect();
        if !never.is_empty() {
            out.push(Finding {
                id: FindingId::PluginNeverMigrated,
                severity: Severity::Warning,
                title: "Custom plugins whose migrations never ran".into(),
                seen: never,
                why: "Their tables do not exist yet: nodes fail on their entities. The node that ran migrations so far did not load them (missing from its `plugins`, or not installed there).".into(),
                remedy: vec![format!(
                    "{}   # on a node whose `plugins` includes them and has them installed",
                    input.kong("up")
                )],
            });
        }
    }
}

fn jump(input: &DiagnoseInput<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    let st = input.state;
    if st.needs_bootstrap {
        return;
    }
    if database_version(st).is_none() && st.subsystems.iter().any(|s| s.recorded) {
        let floor = floor_version(st, input.catalog);
        out.push(Finding {
            id: FindingId::SchemaUnrecognized,
            severity: Severity::Info,
            title: "The recorded schema matches no Kong release".into(),
            seen: vec![match floor {
                Some(f) => format!("every core migration of Kong {f} is recorded, and more"),
                None => "not even a complete core list of any release".into(),
            }],
            why: "An interrupted up, a hand edit, or a build kongrade does not know; the plan starts from the newest release wholly recorded.".into(),
            remedy: vec!["kongrade status   # the migrations Kong sees as pending or new".into()],
        });
    }
    // One rule for every command: the jump is judged from the plan's origin.
    let (Some(from), Some(to)) = (plan.origin, input.target.version) else {
        return;
    };
    if to <= from || supported_jump(input.catalog, from, to) {
        return;
    }
    let via: Vec<Version> = plan.path.iter().copied().filter(|v| *v > from).collect();
    let mut why = String::from(
        "Kong supports upgrades between patch releases, adjacent minor releases, the LTS pairs 2.8 -> 3.4 -> 3.10, and to 3.0 from 2.1 on. Each release's migrations assume the previous release's data; skipping releases fails mid-way or leaves data the new code misreads.",
    );
    if to.major >= 3 && from < Version::new(2, 1, 0) {
        why.push_str(" Kong 3.x accepts databases from 2.1 on only.");
    }
    let mut remedy = vec![
        "kongrade plan   # each release's up, node change and finish, as exact commands"
            .to_string(),
    ];
    for v in &via {
        let first = |k: StepKind| {
            plan.steps
                .iter()
                .find(|s| s.kong_version == Some(*v) && s.kind == k)
                .and_then(|s| s.commands.first().cloned())
        };
        // Every hop changes the nodes, whether or not it has teardowns to finish.
        let mut line = format!("Kong {v}: ");
        if let Some(up) = first(StepKind::Up) {
            line.push_str(&format!("{up}, "));
        }
        line.push_str("new nodes");
        if let Some(fin) = first(StepKind::Finish) {
            line.push_str(&format!(", then {fin}"));
        }
        remedy.push(line);
    }
    out.push(Finding {
        id: FindingId::UnsupportedJump,
        severity: Severity::Error,
        title: format!(
            "Kong does not support {from} -> {to} in one step: go through {}",
            via.iter()
                .filter(|v| **v != to)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        seen: vec![
            format!(
                "upgrade from Kong {} (recorded schema matches {})",
                from,
                describe_versions(
                    input.catalog,
                    if st.schema_matches.is_empty() {
                        &st.core_matches
                    } else {
                        &st.schema_matches
                    }
                )
            ),
            format!("target: Kong {to}"),
        ],
        why,
        remedy,
    });
}

fn cassandra(input: &DiagnoseInput<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    if input.db() != Db::Cassandra {
        return;
    }
    let Some(to) = input.target.version else {
        return;
    };
    let ends = input
        .catalog
        .release(to)
        .map(|r| !r.supports(Db::Cassandra))
        .unwrap_or(to >= Version::new(3, 4, 0));
    if ends {
        let pivot = plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::MoveToPostgres)
            .and_then(|s| s.kong_version);
        let p = pivot
            .map(|v| v.to_string())
            .unwrap_or_else(|| "2.8.x".into());
        let conf = input.conf();
        out.push(Finding {
            id: FindingId::CassandraUnsupported,
            severity: Severity::Error,
            title: format!("Kong {to} cannot use Cassandra: move to PostgreSQL at Kong {p} first"),
            seen: vec![format!("database = cassandra, keyspace {}", input.settings.connection.keyspace), format!("target: Kong {to}")],
            why: "Cassandra support was deprecated in 2.7 and removed in 3.4.0: no later release has Cassandra migrations. The 2.8 LTS is the usual place to move: it pairs with 3.4. db_export carries configuration entities, not rate-limiting counters, OAuth2 tokens or sessions.".into(),
            remedy: vec![
                format!("nodetool snapshot -t kong-before-postgres {}   # on every Cassandra node", shell_word(&input.settings.connection.keyspace)),
                format!("kong config db_export kong-{p}.yaml{conf}   # with Kong {p}, still on Cassandra"),
                format!("KONG_DATABASE=postgres kong migrations bootstrap{conf}   # with Kong {p}, pg_* set in kong.conf"),
                format!("KONG_DATABASE=postgres kong config db_import kong-{p}.yaml{conf}"),
                "kongrade plan   # the whole way, including the steps on PostgreSQL".into(),
            ],
        });
    } else {
        out.push(Finding {
            id: FindingId::CassandraDeprecated,
            severity: Severity::Info,
            title: "Cassandra ends with Kong 3.3: plan the move to PostgreSQL".into(),
            seen: vec![format!("database = cassandra, target Kong {to}")],
            why: "Kong deprecated Cassandra in 2.7 and dropped it in 3.4.0. Schema changes on Cassandra wait for schema consensus: raise --db-timeout if migrations time out there.".into(),
            remedy: vec!["kongrade plan --target-version 3.4.2   # shows the move to PostgreSQL at the 2.8 LTS, step by step".into()],
        });
        if input.state.any(MigState::New) || input.state.any(MigState::Pending) {
            out.push(Finding {
                id: FindingId::CassandraSchemaConsensus,
                severity: Severity::Info,
                title: "On Cassandra every schema change waits for the ring to agree: give it time".into(),
                seen: vec![format!(
                    "database = cassandra, {} migration(s) still to run",
                    input.state.total(MigState::New) + input.state.total(MigState::Pending)
                )],
                why: "After each DDL statement Kong waits until every node reports the same schema version, for at most cassandra_schema_consensus_timeout (Kong's default 10000 ms). A large or busy ring misses that and the migration fails with a schema consensus timeout, part-way.".into(),
                remedy: vec![
                    "nodetool describecluster   # before up: one schema version across the ring, every node up".into(),
                    "KONG_CASSANDRA_SCHEMA_CONSENSUS_TIMEOUT=120000 kong migrations up --db-timeout 600   # or cassandra_schema_consensus_timeout in kong.conf".into(),
                    "after a consensus timeout: nodetool describecluster until the versions agree, kongrade status, then run up again (Kong records each migration as it finishes)".into(),
                ],
            });
        }
    }
}

fn work_words(w: Work) -> &'static str {
    match w {
        Work::Statement => "one statement over the table",
        Work::Scan => "reads every row",
        Work::PerRow => "updates row by row",
    }
}

fn large_tables(input: &DiagnoseInput<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    // The advised plan runs the same migrations as the operator's; only its flags differ.
    let s = input.settings;
    let adv = timeout_advice(input, plan);
    let advised = adv.db_timeout.is_some() || adv.lock_timeout.is_some();
    if adv.items.is_empty() && !advised {
        return;
    }
    let sizable = adv
        .items
        .iter()
        .any(|i| i.tables.iter().any(|(_, n)| *n >= SIZABLE_ROWS));
    if !advised && !sizable {
        return;
    }
    let mut seen: Vec<String> = adv
        .items
        .iter()
        .map(|i| {
            format!(
                "{} ({}): {} {} at {} with {}: {}",
                i.tables
                    .iter()
                    .map(|(t, n)| format!("{t} {}", super::plan::plural(*n, "row", "rows")))
                    .collect::<Vec<_>>()
                    .join(", "),
                work_words(i.work),
                i.subsystem,
                i.migration,
                match i.phase {
                    Phase::Up => "up",
                    Phase::Teardown => "finish",
                },
                kong_v(i.kong_version),
                match i.measured_secs {
                    Some(m) => format!(
                        "rehearsed {} (estimate ~{})",
                        human_secs(m),
                        human_secs(i.est_secs)
                    ),
                    None => format!("~{}", human_secs(i.est_secs)),
                }
            )
        })
        .collect();
    if let Some((at, growth)) = &adv.rehearsed {
        let grown = if *growth > 1.0 {
            format!(", scaled by {growth:.2} for the tables' growth since its clone")
        } else {
            String::new()
        };
        seen.push(format!(
            "the rehearsal of {} ({at}) weighs in where it ran longer than estimated: longest run {}{grown}",
            kong_v(input.target.version),
            human_secs(adv.longest_run_secs)
        ));
    }
    let mut flags = String::new();
    if let Some(t) = adv.db_timeout.or(s.db_timeout_s) {
        flags.push_str(&format!(" --db-timeout {t}"));
    }
    if let Some(t) = adv.lock_timeout.or(s.lock_timeout_s) {
        flags.push_str(&format!(" --lock-timeout {t}"));
    }
    let timeout_note = "If a run times out, do not re-run it blindly: the statement may still be running on the server and the lock may be gone. Look first: SELECT pid, now() - query_start AS running, left(query, 60) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid(); then kongrade status.".to_string();
    let why = format!(
        "kong migrations sends each migration's SQL as one statement and waits --db-timeout seconds for it (default 60; kong.conf's pg_timeout, {} ms here, does not apply). The lock a run holds lasts --lock-timeout seconds (default 60) and is not renewed: a longer run loses it silently and another node may start migrating too. Estimates assume {} rows/s for a statement, {} for a scan, {} row by row, with a 3x margin.",
        s.pg_timeout_ms,
        Work::Statement.rows_per_sec(),
        Work::Scan.rows_per_sec(),
        Work::PerRow.rows_per_sec()
    );
    if advised {
        let mut remedy = vec![
            format!("{}{flags}", input.kong("up")),
            format!("{}{flags}", input.kong("finish")),
            "kongrade plan   # every step already carries these flags".into(),
        ];
        remedy.push(timeout_note);
        out.push(Finding {
            id: FindingId::LargeTables,
            severity: Severity::Warning,
            title: format!("Big tables: pass{flags} to kong migrations"),
            seen,
            why,
            remedy,
        });
    } else {
        out.push(Finding {
            id: FindingId::LargeTables,
            severity: Severity::Info,
            title: "Big tables the coming migrations rewrite: the default timeouts should do"
                .into(),
            seen,
            why,
            remedy: vec![timeout_note],
        });
    }
}

fn data_planes(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let (Some(dps), Some(to)) = (input.snapshot.data_planes.as_ref(), input.target.version) else {
        return;
    };
    let mut connected = Vec::new();
    let mut recent = Vec::new();
    let mut other_major = false;
    for dp in dps {
        let Some(v) = dp.version.as_deref().and_then(Version::find_in) else {
            continue;
        };
        if v >= to {
            continue;
        }
        let now = dp
            .last_seen_secs_ago
            .is_some_and(|s| s <= DP_CONNECTED_SECS);
        if !dp_reporting(dp) {
            continue;
        }
        other_major |= v.major != to.major;
        let line = format!(
            "{} ({}) on {}, last seen {}",
            dp.hostname.as_deref().unwrap_or(&dp.id),
            dp.ip.as_deref().unwrap_or("?"),
            dp.version.as_deref().unwrap_or("?"),
            dp.last_seen_secs_ago
                .map(|s| format!("{} ago", human_secs(s)))
                .unwrap_or_else(|| "at an unknown time".into())
        );
        if now {
            connected.push(line);
        } else {
            recent.push(line);
        }
    }
    if connected.is_empty() && recent.is_empty() {
        return;
    }
    let severity = if connected.is_empty() {
        Severity::Info
    } else {
        Severity::Warning
    };
    let mut seen = connected;
    seen.extend(recent);
    let mut why = format!("Hybrid mode: the control plane goes first, then every data plane moves to Kong {to}. A control plane syncs only data planes of its own major version that are not newer than itself; old data planes must be replaced before `finish`.");
    if other_major {
        why.push_str(" Data planes on another major version are refused by the new control plane: replace them as soon as it runs.");
    }
    out.push(Finding {
        id: FindingId::DataPlanesOld,
        severity,
        title: format!("Data planes older than Kong {to} are still reporting"),
        seen,
        why,
        remedy: vec![
            format!(
                "SELECT hostname, ip, version, last_seen FROM {} ORDER BY last_seen DESC;",
                input.table("clustering_data_planes")
            ),
            format!("Start Kong {to} data planes, move traffic to them, stop the old ones; then run finish."),
        ],
    });
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn anomalies(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let mut both = Vec::new();
    let mut last = Vec::new();
    let mut dup = Vec::new();
    let mut foreign = Vec::new();
    for a in &input.state.anomalies {
        match a {
            Anomaly::ExecutedAndPending {
                subsystem,
                migration,
            } => both.push((subsystem.clone(), migration.clone())),
            Anomaly::LastExecutedUnrecorded {
                subsystem,
                migration,
            } => last.push((subsystem.clone(), migration.clone())),
            Anomaly::Duplicate {
                subsystem,
                column,
                migration,
            } => dup.push((subsystem.clone(), column.clone(), migration.clone())),
            Anomaly::ForeignKey { key, subsystem } => {
                foreign.push(format!("key '{key}', subsystem '{subsystem}'"))
            }
        }
    }
    let sm = input.table("schema_meta");
    if !both.is_empty() {
        out.push(Finding {
            id: FindingId::ExecutedAndPending,
            severity: Severity::Warning,
            title: "Migrations recorded both executed and pending".into(),
            seen: both.iter().map(|(s, m)| format!("{s}: {m}")).collect(),
            why: "Kong's finish moves a name from pending to executed in one statement, so this is a hand edit or another tool. Kong counts them executed and will never run their teardown.".into(),
            remedy: both
                .iter()
                .map(|(s, m)| format!(
                    "UPDATE {sm} SET pending = array_remove(pending, {}) WHERE key = 'schema_meta' AND subsystem = {};   # only if its teardown did run",
                    sql_str(m),
                    sql_str(s)
                ))
                .collect(),
        });
    }
    if !last.is_empty() {
        out.push(Finding {
            id: FindingId::LastExecutedUnrecorded,
            severity: Severity::Warning,
            title: "last_executed names a migration recorded nowhere".into(),
            seen: last.iter().map(|(s, m)| format!("{s}: last_executed = {m}")).collect(),
            why: "Kong calls such a migration 'missing' and never runs it, yet `kong migrations list` does not show it. Its change may be absent from the schema.".into(),
            remedy: last
                .iter()
                .map(|(s, m)| format!(
                    "UPDATE {sm} SET executed = array_append(executed, {}) WHERE key = 'schema_meta' AND subsystem = {};   # only once its change is verified in place",
                    sql_str(m),
                    sql_str(s)
                ))
                .collect(),
        });
    }
    if !dup.is_empty() {
        out.push(Finding {
            id: FindingId::DuplicateMigrations,
            severity: Severity::Info,
            title: "The same migration recorded twice".into(),
            seen: dup
                .iter()
                .map(|(s, c, m)| format!("{s}.{c}: {m}"))
                .collect(),
            why: "Kong reads the columns as sets, so it does no harm; it shows the rows were edited or written twice.".into(),
            remedy: dup
                .iter()
                .map(|(s, c, _)| format!(
                    "UPDATE {sm} SET {c} = (SELECT array_agg(m ORDER BY i) FROM (SELECT m, min(i) AS i FROM unnest({c}) WITH ORDINALITY AS t(m, i) GROUP BY m) d) WHERE key = 'schema_meta' AND subsystem = {};",
                    sql_str(s)
                ))
                .collect(),
        });
    }
    if !foreign.is_empty() {
        out.push(Finding {
            id: FindingId::ForeignSchemaMetaRows,
            severity: Severity::Info,
            title: "schema_meta rows that are not Kong's".into(),
            seen: foreign,
            why: "Kong reads only rows whose key is 'schema_meta' and ignores these.".into(),
            remedy: vec![
                "Nothing to do; remove them only if you know which tool wrote them.".into(),
            ],
        });
    }
}

/// The note when the big tables' sizes could not be read (the wizard adds it too).
pub fn counts_unavailable(error: &str) -> Finding {
    Finding {
        id: FindingId::RowCountsUnavailable,
        severity: Severity::Info,
        title: "Table sizes could not be read: no advice on timeouts".into(),
        seen: vec![error.to_string()],
        why: "kongrade reads the planner's estimates of Kong's big tables, and counts those never analyzed; that failed.".into(),
        remedy: vec!["kongrade diagnose --pg-timeout 60000   # more time for the counts".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::{MigrationSpec, Phases, SubsystemSpec};
    use crate::kong::snapshot::{DataPlaneRow, LockRow, SchemaMetaRow};
    use crate::kong::state::compute;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn cat() -> &'static Catalog {
        Catalog::embedded()
    }

    fn target_with(version: &str, db: Db, plugins: &[&str], scanned: &[SubsystemSpec]) -> Target {
        let rel = cat().release(v(version)).unwrap();
        let plugins: Vec<String> = plugins.iter().map(|s| s.to_string()).collect();
        Target::from_release(rel, db, &plugins, scanned, "catalog")
    }

    fn target(version: &str) -> Target {
        target_with(version, Db::Postgres, &["bundled"], &[])
    }

    fn rows_at(version: &str) -> Vec<SchemaMetaRow> {
        cat()
            .release(v(version))
            .unwrap()
            .subsystems
            .iter()
            .map(|s| SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: s.name.clone(),
                last_executed: s.migrations.last().map(|m| m.name.clone()),
                executed: Some(s.migrations.iter().map(|m| m.name.clone()).collect()),
                pending: Some(vec![]),
            })
            .collect()
    }

    fn snap(db: Db, rows: Option<Vec<SchemaMetaRow>>) -> Snapshot {
        let mut s = Snapshot::empty(db, "public");
        s.schema_meta = rows;
        s
    }

    /// Runs the diagnosis on a snapshot, with optional counts and settings.
    fn run_with(
        t: &Target,
        s: &Snapshot,
        counts: Option<&[(String, i64)]>,
        settings: &Settings,
    ) -> Vec<Finding> {
        let state = compute(t, s, cat());
        let input = DiagnoseInput {
            state: &state,
            snapshot: s,
            target: t,
            catalog: cat(),
            row_counts: counts,
            settings,
            writes_since_up: None,
            history: None,
        };
        diagnose(&input)
    }

    fn run(t: &Target, s: &Snapshot) -> Vec<Finding> {
        run_with(t, s, None, &Settings::default())
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    fn get<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
        f.iter()
            .find(|x| x.id.as_str() == id)
            .unwrap_or_else(|| panic!("no {id} in {:?}", ids(f)))
    }

    fn row(sub: &str, last: Option<&str>, exec: &[&str], pend: &[&str]) -> SchemaMetaRow {
        SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: sub.into(),
            last_executed: last.map(str::to_string),
            executed: Some(exec.iter().map(|s| s.to_string()).collect()),
            pending: Some(pend.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// 2.8.5 plus `up` with 3.4.2: two-phase ones pending, the rest executed.
    fn rows_up_285_to_342() -> Vec<SchemaMetaRow> {
        let old = cat().release(v("2.8.5")).unwrap();
        let new = cat().release(v("3.4.2")).unwrap();
        new.subsystems
            .iter()
            .map(|s| {
                let had: Vec<String> = old
                    .subsystem(&s.name)
                    .map(|o| o.migrations.iter().map(|m| m.name.clone()).collect())
                    .unwrap_or_default();
                let mut exec = had.clone();
                let mut pend = Vec::new();
                for m in &s.migrations {
                    if had.contains(&m.name) {
                        continue;
                    }
                    if m.two_phase(Db::Postgres) {
                        pend.push(m.name.clone());
                    } else {
                        exec.push(m.name.clone());
                    }
                }
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: s.name.clone(),
                    last_executed: exec.last().cloned(),
                    executed: Some(exec),
                    pending: Some(pend),
                }
            })
            .collect()
    }

    #[test]
    fn a_clean_up_to_date_database_has_nothing_above_info() {
        let t = target("3.4.2");
        let f = run(&t, &snap(Db::Postgres, Some(rows_at("3.4.2"))));
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(exit_code(&f), 0);
        // Also with counts of small tables.
        let counts = vec![("plugins".to_string(), 12), ("routes".to_string(), 40)];
        let f = run_with(
            &t,
            &snap(Db::Postgres, Some(rows_at("2.8.5"))),
            Some(&counts),
            &Settings::default(),
        );
        assert!(f.iter().all(|f| f.severity == Severity::Info), "{f:?}");
        assert!(!ids(&f).contains(&"large-tables"));
    }

    #[test]
    fn a_live_lock_is_an_error_and_never_told_to_be_deleted() {
        let t = target("3.4.2");
        let mut s = snap(Db::Postgres, Some(rows_at("3.4.2")));
        s.lock = Some(LockRow {
            owner: Some("b5f0".into()),
            ttl: Some("2026-01-01T00:01:00Z".into()),
            live: true,
            seconds_left: Some(42.0),
        });
        let f = run(&t, &s);
        let l = get(&f, "lock-live");
        assert_eq!(l.severity, Severity::Error);
        assert!(l.title.contains("expires in 42 s"), "{}", l.title);
        assert!(l.remedy[0].starts_with("ps -ef"));
        assert!(l.remedy.iter().all(|r| !r.contains("DELETE")));
        assert!(!ids(&f).contains(&"lock-stale"));
        assert_eq!(exit_code(&f), 1);
    }

    #[test]
    fn a_stale_lock_is_information_and_never_told_to_be_deleted() {
        let t = target("3.4.2");
        let mut s = snap(Db::Postgres, Some(rows_at("3.4.2")));
        s.lock = Some(LockRow {
            owner: Some("b5f0".into()),
            ttl: Some("2026-01-01T00:01:00Z".into()),
            live: false,
            seconds_left: Some(-600.0),
        });
        let f = run(&t, &s);
        let l = get(&f, "lock-stale");
        assert_eq!(l.severity, Severity::Info);
        assert!(l.title.contains("expired 10 min ago"));
        assert!(l.title.contains("blocks nothing"), "{}", l.title);
        assert!(l.remedy[0].starts_with("Nothing to do"), "{:?}", l.remedy);
        assert!(l.remedy.iter().all(|r| !r.contains("DELETE")));
        assert_eq!(exit_code(&f), 0);
        // No lock row: no lock finding.
        let f = run(&t, &snap(Db::Postgres, Some(rows_at("3.4.2"))));
        assert!(!ids(&f).iter().any(|i| i.starts_with("lock")));
    }

    #[test]
    fn a_lock_row_without_ttl_blocks_and_is_safe_to_delete() {
        let t = target("3.4.2");
        let mut s = snap(Db::Postgres, Some(rows_at("2.8.5")));
        s.lock = Some(LockRow {
            owner: Some("b5f0".into()),
            ttl: None,
            live: false,
            seconds_left: None,
        });
        let f = run(&t, &s);
        let l = get(&f, "lock-no-ttl");
        assert_eq!(l.severity, Severity::Error);
        assert!(l.remedy[0].contains("ttl IS NULL"), "{:?}", l.remedy);
        assert!(!ids(&f).contains(&"lock-stale"));
        // Cassandra's rows have no ttl column: never this finding.
        let mut c = snap(Db::Cassandra, Some(rows_at("2.8.5")));
        c.lock = s.lock.clone();
        assert!(!ids(&run(
            &target_with("3.3.1", Db::Cassandra, &["bundled"], &[]),
            &c
        ))
        .contains(&"lock-no-ttl"));
    }

    #[test]
    fn a_kong_command_for_another_database_carries_its_place() {
        // Dual-cluster's clone without --clone-conf: kong.conf names the source, so a command
        // copied from a finding on the clone must point kong at the clone itself.
        let settings = Settings {
            kong_env: Some("KONG_PG_DATABASE=kong_clone ".into()),
            ..Settings::default()
        };
        let f = run_with(
            &target("3.4.2"),
            &snap(Db::Postgres, Some(rows_up_285_to_342())),
            None,
            &settings,
        );
        let p = get(&f, "pending-finish");
        assert!(
            p.remedy[0].starts_with(
                "KONG_PG_DATABASE=kong_clone kong migrations finish -c /etc/kong/kong.conf"
            ),
            "{:?}",
            p.remedy
        );
    }

    #[test]
    fn pending_alone_is_an_upgrade_half_way() {
        let t = target("3.4.2");
        let f = run(&t, &snap(Db::Postgres, Some(rows_up_285_to_342())));
        let p = get(&f, "pending-finish");
        assert_eq!(p.severity, Severity::Warning);
        assert!(p.seen[0].contains("016_280_to_300"), "{:?}", p.seen);
        assert!(p.remedy[0].starts_with("kong migrations finish -c /etc/kong/kong.conf"));
        assert!(p.remedy[0].contains("Kong 3.4.2"));
        assert!(!ids(&f).contains(&"unfinished-upgrade"));
        assert!(!ids(&f).contains(&"unsupported-jump"));
    }

    #[test]
    fn pending_and_new_means_finish_first_with_the_version_that_ran_up() {
        let t = target("3.5.0");
        let f = run(&t, &snap(Db::Postgres, Some(rows_up_285_to_342())));
        let p = get(&f, "unfinished-upgrade");
        assert_eq!(p.severity, Severity::Error);
        assert!(p.title.contains("Kong 3.4.2"), "{}", p.title);
        assert!(p.why.contains("refuses"));
        assert!(p.remedy[0].contains("finish") && p.remedy[0].contains("3.4.2"));
        assert!(p.remedy[1].contains("kong migrations up") && p.remedy[1].contains("3.5.0"));
        assert!(p.seen[1].contains("021_340_to_350"), "{:?}", p.seen);
        assert!(!ids(&f).contains(&"pending-finish"));
    }

    #[test]
    fn gaps_name_the_release_that_introduced_them() {
        let t = target("3.4.2");
        let mut rows = rows_at("3.4.2");
        for r in rows.iter_mut().filter(|r| r.subsystem == "core") {
            r.executed
                .as_mut()
                .unwrap()
                .retain(|m| m != "016_280_to_300" && m != "017_300_to_310");
        }
        let f = run(&t, &snap(Db::Postgres, Some(rows)));
        let g = get(&f, "skipped-migrations");
        assert_eq!(g.severity, Severity::Warning);
        assert!(g.title.contains(": 2 never recorded"));
        assert!(
            g.seen[0].contains("016_280_to_300 (Kong 3.0.0)"),
            "{:?}",
            g.seen
        );
        assert!(g.seen[0].contains("017_300_to_310 (Kong 3.1.0)"));
        assert!(g.remedy[0].starts_with("kong migrations up"));
        assert!(g.remedy[1].contains("array_append(executed, '016_280_to_300')"));
    }

    #[test]
    fn a_database_newer_than_the_target_is_an_error_naming_the_release() {
        let t = target("3.4.2");
        let f = run(&t, &snap(Db::Postgres, Some(rows_at("3.9.3"))));
        let n = get(&f, "database-newer");
        assert_eq!(n.severity, Severity::Error);
        assert!(n.title.contains("Kong 3.9.0 or later"), "{}", n.title);
        assert!(n
            .seen
            .iter()
            .any(|s| s.starts_with("Kong 3.5.0: core 021_340_to_350")));
        // A downgrade is not an "unsupported jump" and not a plugin problem: the newer plugin
        // subsystems (ai-proxy) belong to this finding.
        assert!(!ids(&f).contains(&"unsupported-jump"));
        assert!(!ids(&f).contains(&"plugin-not-loaded"));
        assert!(
            n.seen.iter().any(|s| s.contains("ai-proxy")),
            "{:?}",
            n.seen
        );
    }

    #[test]
    fn names_no_release_lists_are_unknown_but_retired_ones_are_quiet() {
        let t = target("3.4.2");
        let mut rows = rows_at("3.4.2");
        for r in rows.iter_mut().filter(|r| r.subsystem == "core") {
            r.executed
                .as_mut()
                .unwrap()
                .push("099_enterprise_only".into());
            // A 1.x migration Kong 2.0 dropped from its list: harmless.
            r.executed
                .as_mut()
                .unwrap()
                .insert(1, "001_14_to_15".into());
        }
        let f = run(&t, &snap(Db::Postgres, Some(rows)));
        let u = get(&f, "unknown-migrations");
        assert_eq!(u.seen, ["core 099_enterprise_only"]);
        assert!(!ids(&f).contains(&"database-newer"));
    }

    #[test]
    fn recorded_plugins_missing_from_plugins() {
        // plugins = key-auth only: acl and the others are bundled yet not loaded; my-plugin is
        // a custom plugin nobody loads any more.
        let t = target_with("3.4.2", Db::Postgres, &["key-auth"], &[]);
        let mut rows = rows_at("3.4.2");
        rows.push(row("my-plugin", Some("000_base"), &["000_base"], &[]));
        let f = run(&t, &snap(Db::Postgres, Some(rows)));
        let p = get(&f, "plugin-not-loaded");
        assert!(
            p.seen.iter().any(|s| s.starts_with("acl: 4 recorded")),
            "{:?}",
            p.seen
        );
        assert!(p
            .seen
            .iter()
            .any(|s| s.starts_with("my-plugin: 1 recorded")));
        assert!(!p.seen.iter().any(|s| s.starts_with("key-auth")));
        assert!(p.why.contains("plugins = bundled"));
        // With bundled plugins loaded, none of this.
        let f = run(
            &target("3.4.2"),
            &snap(Db::Postgres, Some(rows_at("3.4.2"))),
        );
        assert!(!ids(&f).contains(&"plugin-not-loaded"));
    }

    #[test]
    fn unresolved_and_never_migrated_custom_plugins() {
        let mut t = target_with("3.4.2", Db::Postgres, &["bundled", "my-auth"], &[]);
        assert_eq!(t.unresolved_plugins, ["my-auth"]);
        let f = run(&t, &snap(Db::Postgres, Some(rows_at("3.4.2"))));
        let u = get(&f, "plugin-unresolved");
        assert_eq!(
            u.seen,
            ["my-auth: no schema_meta row: its migrations never ran"]
        );
        let mut rows = rows_at("3.4.2");
        rows.push(row("my-auth", Some("000_base"), &["000_base"], &[]));
        let f = run(&t, &snap(Db::Postgres, Some(rows)));
        let u = get(&f, "plugin-unresolved");
        assert!(u.seen[0].contains("recorded (1 executed, 0 pending)"));
        // Recorded but unresolved is reported once, not also as "not loaded".
        assert!(!ids(&f).contains(&"plugin-not-loaded"));

        // Scanned from a Lua tree: resolved, with migrations never run.
        let spec = SubsystemSpec {
            name: "my-auth".into(),
            origin: "lua:/opt/plugins".into(),
            migrations: vec![MigrationSpec {
                name: "000_base_my_auth".into(),
                postgres: Some(Phases {
                    up: true,
                    ..Phases::default()
                }),
                cassandra: None,
            }],
        };
        t = target_with("3.4.2", Db::Postgres, &["bundled", "my-auth"], &[spec]);
        assert!(t.unresolved_plugins.is_empty());
        let f = run(&t, &snap(Db::Postgres, Some(rows_at("3.4.2"))));
        let n = get(&f, "plugin-never-migrated");
        assert_eq!(n.seen, ["my-auth: 1 migration, no schema_meta row"]);
        assert!(n.remedy[0].starts_with("kong migrations up"));
    }

    #[test]
    fn a_legacy_database_is_never_bootstrapped() {
        let t = target("3.4.2");
        let mut s = snap(Db::Postgres, None);
        s.legacy_migrations = Some(vec![(
            "core".into(),
            vec!["2015-01-12-175310_skeleton".into()],
        )]);
        let counts = vec![("apis".to_string(), 3)];
        let f = run_with(&t, &s, Some(&counts), &Settings::default());
        let l = get(&f, "legacy-database");
        assert_eq!(l.severity, Severity::Error);
        assert!(l.title.contains("Kong 1.5.1"));
        assert!(l.remedy[0].starts_with("kong migrations up") && l.remedy[0].contains("1.5.1"));
        assert!(l.remedy[1].starts_with("kong migrations migrate-apis"));
        assert!(l.remedy[2].starts_with("kong migrations finish"));
        assert!(l.remedy.iter().all(|r| !r.contains("bootstrap")));
        assert!(l.seen.contains(&"apis: 3 rows".to_string()));
        assert!(!ids(&f).contains(&"needs-bootstrap"));
        // No apis: no migrate-apis.
        let counts = vec![("apis".to_string(), 0)];
        let f = run_with(&t, &s, Some(&counts), &Settings::default());
        assert!(get(&f, "legacy-database")
            .remedy
            .iter()
            .all(|r| !r.contains("migrate-apis")));
    }

    #[test]
    fn an_empty_database_is_bootstrapped_unless_kong_tables_are_there() {
        let t = target("3.4.2");
        let f = run(&t, &snap(Db::Postgres, None));
        let b = get(&f, "needs-bootstrap");
        assert_eq!(b.severity, Severity::Info);
        assert!(b.remedy[0].starts_with("kong migrations bootstrap -c /etc/kong/kong.conf"));
        assert_eq!(exit_code(&f), 0);
        let counts = vec![("services".to_string(), 5)];
        let f = run_with(
            &t,
            &snap(Db::Postgres, None),
            Some(&counts),
            &Settings::default(),
        );
        let e = get(&f, "tables-without-schema-meta");
        assert_eq!(e.severity, Severity::Error);
        assert!(!ids(&f).contains(&"needs-bootstrap"));
    }

    #[test]
    fn an_interrupted_bootstrap_leaves_an_empty_schema_meta() {
        let t = target("3.4.2");
        let f = run(&t, &snap(Db::Postgres, Some(vec![])));
        assert_eq!(get(&f, "interrupted-bootstrap").severity, Severity::Warning);
        assert!(!ids(&f).contains(&"schema-unrecognized"));
    }

    #[test]
    fn unsupported_jumps_list_the_releases_between() {
        let f = run(
            &target("3.4.2"),
            &snap(Db::Postgres, Some(rows_at("2.0.5"))),
        );
        let j = get(&f, "unsupported-jump");
        assert_eq!(j.severity, Severity::Error);
        assert!(j.title.starts_with("Kong does not support 2.0.5 -> 3.4.2 in one step: go through 2.1.4, 3.0.2, 3.1.1, 3.2.2, 3.3.1"), "{}", j.title);
        assert!(j.why.contains("from 2.1 on only"));
        assert!(j.remedy[0].starts_with("kongrade plan"));
        assert_eq!(
            j.remedy[1],
            "Kong 2.1.4: kong migrations up -c /etc/kong/kong.conf, new nodes, then kong migrations finish -c /etc/kong/kong.conf"
        );
        assert_eq!(
            j.remedy[4], "Kong 3.2.2: kong migrations up -c /etc/kong/kong.conf, new nodes",
            "every hop changes the nodes, teardowns or not"
        );
        let f = run(
            &target("3.9.3"),
            &snap(Db::Postgres, Some(rows_at("3.4.2"))),
        );
        let j = get(&f, "unsupported-jump");
        assert!(
            j.title.ends_with("go through 3.5.0, 3.6.1, 3.7.1"),
            "{}",
            j.title
        );
        assert!(!j.why.contains("2.1 on only"));
        // Supported: the LTS pair, a patch, an adjacent minor.
        for (a, b) in [("2.8.5", "3.4.2"), ("3.4.0", "3.4.2"), ("3.4.2", "3.5.0")] {
            let f = run(&target(b), &snap(Db::Postgres, Some(rows_at(a))));
            assert!(!ids(&f).contains(&"unsupported-jump"), "{a} -> {b}");
        }
    }

    #[test]
    fn cassandra_and_34() {
        let t = target_with("3.4.2", Db::Cassandra, &["bundled"], &[]);
        let f = run(&t, &snap(Db::Cassandra, Some(rows_at("2.8.5"))));
        let c = get(&f, "cassandra-unsupported");
        assert_eq!(c.severity, Severity::Error);
        assert!(c.title.contains("Kong 2.8.5"), "{}", c.title);
        assert!(c.remedy[1].starts_with("kong config db_export"));
        assert!(c.remedy[2].starts_with("KONG_DATABASE=postgres kong migrations bootstrap"));
        let t = target_with("3.3.1", Db::Cassandra, &["bundled"], &[]);
        let f = run(&t, &snap(Db::Cassandra, Some(rows_at("3.2.2"))));
        assert_eq!(get(&f, "cassandra-deprecated").severity, Severity::Info);
        assert!(!ids(&f).contains(&"cassandra-unsupported"));
        // Migrations still to run on Cassandra: the schema consensus advice, with Kong's setting.
        let sc = get(&f, "cassandra-schema-consensus");
        assert!(
            sc.why.contains("cassandra_schema_consensus_timeout"),
            "{}",
            sc.why
        );
        assert!(sc.remedy[0].starts_with("nodetool describecluster"));
        // Up to date on Cassandra: nothing to wait for.
        let f = run(&t, &snap(Db::Cassandra, Some(rows_at("3.3.1"))));
        assert!(!ids(&f).contains(&"cassandra-schema-consensus"));
        // PostgreSQL: neither.
        let f = run(
            &target("3.4.2"),
            &snap(Db::Postgres, Some(rows_at("3.3.1"))),
        );
        assert!(!ids(&f).iter().any(|i| i.starts_with("cassandra")));
    }

    #[test]
    fn big_tables_get_timeouts_and_the_plan_carries_them() {
        let t = target("3.4.2");
        let s = snap(Db::Postgres, Some(rows_at("2.8.5")));
        // 3.2's UNIQUE (ws_id, instance_name) is one statement over plugins: 2M rows ~100 s.
        let counts = vec![
            ("plugins".to_string(), 2_000_000),
            ("routes".to_string(), 10),
        ];
        let settings = Settings::default();
        let f = run_with(&t, &s, Some(&counts), &settings);
        let l = get(&f, "large-tables");
        assert_eq!(l.severity, Severity::Warning);
        assert!(l.title.contains("--db-timeout 300"), "{}", l.title);
        assert!(
            l.remedy[0].starts_with("kong migrations up -c /etc/kong/kong.conf --db-timeout 300")
        );
        assert!(
            l.seen
                .iter()
                .any(|x| x.contains("core 018_310_to_320 at up with Kong 3.4.2")),
            "{:?}",
            l.seen
        );
        assert!(l
            .remedy
            .iter()
            .any(|r| r.contains("do not re-run it blindly")));
        assert!(l.why.contains("5000 ms"));
        let state = compute(&t, &s, cat());
        let input = DiagnoseInput {
            state: &state,
            snapshot: &s,
            target: &t,
            catalog: cat(),
            row_counts: Some(&counts),
            settings: &settings,
            writes_since_up: None,
            history: None,
        };
        let p = plan_for(&input);
        let up = p.steps.iter().find(|s| s.kind == StepKind::Up).unwrap();
        assert!(
            up.commands[0].contains("--db-timeout 300"),
            "{:?}",
            up.commands
        );
        // The operator already passes enough: sizable, but only information.
        let settings = Settings {
            db_timeout_s: Some(600),
            lock_timeout_s: Some(7200),
            ..Settings::default()
        };
        let f = run_with(&t, &s, Some(&counts), &settings);
        assert_eq!(get(&f, "large-tables").severity, Severity::Info);
        // Nothing to migrate: nothing to say, however big.
        let f = run_with(
            &t,
            &snap(Db::Postgres, Some(rows_at("3.4.2"))),
            Some(&counts),
            &Settings::default(),
        );
        assert!(!ids(&f).contains(&"large-tables"));
    }

    #[test]
    fn row_by_row_work_meets_the_lock_not_the_statement_timeout() {
        // 3.0's route regex rewrite sends one UPDATE per regex route: many short queries, one
        // long run. Without the regex count every route is taken as rewritten.
        let t = target("3.4.2");
        let counts = vec![("routes".to_string(), 400_000)];
        let f = run_with(
            &t,
            &snap(Db::Postgres, Some(rows_at("2.8.5"))),
            Some(&counts),
            &Settings::default(),
        );
        let l = get(&f, "large-tables");
        // 400,000 / 2,900 rows/s = 138 s, x3 margin, to the minute.
        assert!(l.title.contains("--lock-timeout 420"), "{}", l.title);
        assert!(!l.title.contains("--db-timeout"), "{}", l.title);
    }

    /// On Cassandra (Kong <= 3.3) only the routes are counted: core 016's row-by-row rewrite is
    /// estimated from its regex routes as on PostgreSQL, and nothing else is.
    #[test]
    fn cassandra_gets_the_016_estimate_from_its_regex_routes() {
        let t = target("3.0.1");
        let counts = vec![
            ("routes".to_string(), 400_000),
            (rewrites::ROUTES_WITH_REGEX_PATHS.to_string(), 400_000),
        ];
        let f = run_with(
            &t,
            &snap(Db::Cassandra, Some(rows_at("2.8.5"))),
            Some(&counts),
            &Settings::default(),
        );
        let l = get(&f, "large-tables");
        assert!(l.title.contains("--lock-timeout 420"), "{}", l.title);
        assert!(
            l.seen.iter().all(|s| s.contains("016_280_to_300")),
            "{:?}",
            l.seen
        );
    }

    /// A rehearsal of the target weighs in the timeout advice where it ran longer than
    /// estimated (raising `--lock-timeout`), never lowering it below the estimate; scaled up when
    /// the tables grew since its clone (a table empty then: the estimate alone); another target's
    /// rehearsal is not taken; a failed step's time is a floor; a walked path's `up (Kong X)`
    /// counts for that hop.
    #[test]
    fn a_rehearsals_times_replace_the_estimates_in_the_timeout_advice() {
        use crate::contract::clone::{
            CloneRecord, MigrationTiming, RehearsalRecord, RehearsedStep, TableMark,
        };
        let t = target("3.4.2");
        let s = snap(Db::Postgres, Some(rows_at("2.8.5")));
        let state = compute(&t, &s, cat());
        // 100,000 regex routes: ~34 s estimated, x3 -> 120 s advised.
        let counts = vec![
            ("routes".to_string(), 100_000),
            (rewrites::ROUTES_WITH_REGEX_PATHS.to_string(), 100_000),
        ];
        let rehearsal = |target: &str, up_ms: u64, ok: bool, rows_then: i64| RehearsalRecord {
            at: "2026-12-01T10:00:00Z".into(),
            target: Some(target.into()),
            kong_cmd: "kong".into(),
            clone: CloneRecord {
                source: "kong@h:5432/kong".into(),
                clone: "kong@h:5432/kong_rehearsal".into(),
                clone_host: "h".into(),
                clone_port: 5432,
                clone_database: "kong_rehearsal".into(),
                created: true,
                replaced: false,
                server_major: "15".into(),
                snapshot: "00000003-1".into(),
                tables: vec![TableMark {
                    table: "routes".into(),
                    rows: rows_then,
                    newest: None,
                    digest: None,
                }],
                schema_meta_rows: 3,
                elapsed_ms: 1000,
                created_at: "2026-12-01T10:00:00Z".into(),
            },
            steps: vec![RehearsedStep {
                command: "up".into(),
                ms: up_ms,
                ok,
                outcome: "exit code 0".into(),
                migrations: vec![MigrationTiming {
                    subsystem: "core".into(),
                    migration: "016_280_to_300".into(),
                    ms: up_ms - 1000,
                }],
                output: Vec::new(),
            }],
            ok,
            kept: false,
        };
        let advice = |recs: Vec<RehearsalRecord>| {
            let settings = Settings::default();
            let h = History {
                rehearsals: recs,
                ..History::default()
            };
            let input = DiagnoseInput {
                state: &state,
                snapshot: &s,
                target: &t,
                catalog: cat(),
                row_counts: Some(&counts),
                settings: &settings,
                writes_since_up: None,
                history: Some(&h),
            };
            timeout_advice(&input, &plan_for(&input))
        };
        let estimated = advice(Vec::new());
        assert_eq!(estimated.lock_timeout, Some(120));
        assert!(estimated.rehearsed.is_none());
        // Rehearsed at 10 min on as many routes: 30 min x3 -> --lock-timeout 1800.
        let slow = advice(vec![rehearsal("3.4.2", 600_000, true, 100_000)]);
        assert_eq!(slow.lock_timeout, Some(1800), "{slow:?}");
        let item = slow
            .items
            .iter()
            .find(|i| i.migration == "016_280_to_300")
            .unwrap();
        assert_eq!(item.measured_secs, Some(599.0));
        // Rehearsed at 5 s: the estimate stands (the clone's server may be quieter).
        let fast = advice(vec![rehearsal("3.4.2", 5_000, true, 100_000)]);
        assert_eq!(fast.lock_timeout, Some(120), "{fast:?}");
        assert!(fast.rehearsed.is_some());
        // The routes doubled since the clone: 10 min is taken as 20 min -> x3 = 3600.
        let grown = advice(vec![rehearsal("3.4.2", 600_000, true, 50_000)]);
        assert_eq!(grown.lock_timeout, Some(3600), "{grown:?}");
        // Another target's rehearsal, later in the journal, does not hide this one's; alone it
        // says nothing of this target.
        let mixed = advice(vec![
            rehearsal("3.4.2", 600_000, true, 100_000),
            rehearsal("3.9.1", 5_000, true, 100_000),
        ]);
        assert_eq!(mixed.lock_timeout, Some(1800));
        let other = advice(vec![rehearsal("3.9.1", 600_000, true, 100_000)]);
        assert_eq!(other.lock_timeout, Some(120));
        // A failed step's time is a floor: the run it cut short would have taken longer.
        let failed = advice(vec![rehearsal("3.4.2", 600_000, false, 100_000)]);
        assert_eq!(failed.lock_timeout, Some(1800));
        // Routes empty at the clone, 100,000 now: its times say nothing of them.
        let empty = advice(vec![rehearsal("3.4.2", 600_000, true, 0)]);
        assert_eq!(empty.lock_timeout, Some(120));
        assert!(empty.rehearsed.is_none());
        // A walked path's step for this hop counts; another hop's does not.
        let mut hop = rehearsal("3.4.2", 600_000, true, 100_000);
        hop.steps[0].command = "up (Kong 3.4.2)".into();
        assert_eq!(advice(vec![hop.clone()]).lock_timeout, Some(1800));
        hop.steps[0].command = "up (Kong 3.0.2)".into();
        assert_eq!(advice(vec![hop]).lock_timeout, Some(120));
        // The finding says whose times it went by.
        let settings = Settings::default();
        let h = History {
            rehearsals: vec![rehearsal("3.4.2", 600_000, true, 100_000)],
            ..History::default()
        };
        let input = DiagnoseInput {
            state: &state,
            snapshot: &s,
            target: &t,
            catalog: cat(),
            row_counts: Some(&counts),
            settings: &settings,
            writes_since_up: None,
            history: Some(&h),
        };
        let f = diagnose(&input);
        let l = get(&f, "large-tables");
        assert!(l.title.contains("--lock-timeout 1800"), "{}", l.title);
        assert!(
            l.seen.iter().any(
                |x| x.contains("016_280_to_300 at up with Kong 3.4.2: rehearsed ")
                    && x.contains("estimate ~")
            ) && l
                .seen
                .iter()
                .any(|x| x.contains("weighs in where it ran longer")),
            "{:?}",
            l.seen
        );
    }

    /// The measured run (kong-migrations.md 5b): 1,000,000 routes with a regex path each took
    /// real Kong 3.4.2's `up` 345 s; the estimate is within 1.5x and the lock advice follows it.
    /// Routes without a regex are only read.
    #[test]
    fn route_regex_rewrite_is_estimated_from_the_routes_it_rewrites() {
        let t = target("3.4.2");
        let s = snap(Db::Postgres, Some(rows_at("2.8.5")));
        let state = compute(&t, &s, cat());
        let advice = |counts: &[(String, i64)]| {
            let settings = Settings::default();
            let input = DiagnoseInput {
                state: &state,
                snapshot: &s,
                target: &t,
                catalog: cat(),
                row_counts: Some(counts),
                settings: &settings,
                writes_since_up: None,
                history: None,
            };
            timeout_advice(&input, &plan_for(&input))
        };
        let measured = [
            ("routes".to_string(), 1_000_000),
            (rewrites::ROUTES_WITH_REGEX_PATHS.to_string(), 1_000_000),
        ];
        let adv = advice(&measured);
        let item = adv
            .items
            .iter()
            .find(|i| i.migration == "016_280_to_300" && i.phase == Phase::Up)
            .unwrap();
        assert!(
            (230.0..=517.5).contains(&item.est_secs),
            "{}",
            item.est_secs
        );
        assert_eq!(item.work, Work::PerRow);
        assert_eq!(adv.lock_timeout, Some(1080));
        assert_eq!(adv.db_timeout, None);
        // The same routes without a regex: read only, Kong's default lock suffices.
        let plain = [
            ("routes".to_string(), 1_000_000),
            (rewrites::ROUTES_WITH_REGEX_PATHS.to_string(), 0),
        ];
        let adv = advice(&plain);
        assert!(adv.longest_run_secs < 30.0, "{}", adv.longest_run_secs);
        assert_eq!(adv.lock_timeout, None);
        // A million routes: the regex count is exact (every route is judged), said as rows.
        let settings = Settings::default();
        let input = DiagnoseInput {
            state: &state,
            snapshot: &s,
            target: &t,
            catalog: cat(),
            row_counts: Some(&plain),
            settings: &settings,
            writes_since_up: None,
            history: None,
        };
        let f = diagnose(&input);
        let big = f
            .iter()
            .find(|f| f.id == FindingId::LargeTables)
            .expect("a million routes is sizable");
        assert!(
            big.seen
                .iter()
                .any(|l| l.contains("routes_with_regex_paths 0 rows")),
            "{:?}",
            big.seen
        );
    }

    fn dp(host: &str, version: &str, ago: f64, ttl_left: Option<f64>) -> DataPlaneRow {
        DataPlaneRow {
            id: format!("id-{host}"),
            hostname: Some(host.into()),
            ip: Some("10.0.0.7".into()),
            version: Some(version.into()),
            sync_status: Some("normal".into()),
            config_hash: None,
            last_seen_secs_ago: Some(ago),
            last_seen: None,
            ttl_secs_left: ttl_left,
        }
    }

    #[test]
    fn old_data_planes_seen_recently() {
        let t = target("3.4.2");
        let mut s = snap(Db::Postgres, Some(rows_up_285_to_342()));
        s.data_planes = Some(vec![
            dp("dp-old", "2.8.5", 12.0, Some(1_000_000.0)),
            dp("dp-new", "3.4.2", 5.0, Some(1_000_000.0)),
            dp("dp-gone", "2.8.5", 90_000.0, Some(-5.0)),
        ]);
        let f = run(&t, &s);
        let d = get(&f, "data-planes-old");
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.seen, ["dp-old (10.0.0.7) on 2.8.5, last seen 12 s ago"]);
        assert!(d.why.contains("another major"));
        // Only within the row's ttl, not connected now: information.
        s.data_planes = Some(vec![dp("dp-idle", "3.4.0.1", 7200.0, Some(3600.0))]);
        let f = run(&t, &s);
        let d = get(&f, "data-planes-old");
        assert_eq!(d.severity, Severity::Info);
        assert!(!d.why.contains("another major"));
        // Same version, or gone: nothing.
        s.data_planes = Some(vec![
            dp("dp-new", "3.4.2", 5.0, None),
            dp("dp-gone", "2.8.5", 600.0, None),
        ]);
        assert!(!ids(&run(&t, &s)).contains(&"data-planes-old"));
    }

    #[test]
    fn malformed_rows_become_findings() {
        let t = target("3.4.2");
        let mut rows = rows_at("3.4.2");
        for r in rows.iter_mut() {
            if r.subsystem == "core" {
                r.pending = Some(vec!["020_330_to_340".into()]);
                r.executed.as_mut().unwrap().push("000_base".into());
            }
            if r.subsystem == "acl" {
                r.last_executed = Some("005_not_recorded".into());
            }
        }
        let mut other = row("core", None, &[], &[]);
        other.key = "not_kong".into();
        rows.push(other);
        let f = run(&t, &snap(Db::Postgres, Some(rows)));
        let both = get(&f, "executed-and-pending");
        assert_eq!(both.seen, ["core: 020_330_to_340"]);
        assert!(both.remedy[0].contains("array_remove(pending, '020_330_to_340')"));
        let last = get(&f, "last-executed-unrecorded");
        assert_eq!(last.seen, ["acl: last_executed = 005_not_recorded"]);
        let dup = get(&f, "duplicate-migrations");
        assert_eq!(dup.seen, ["core.executed: 000_base"]);
        assert!(dup.remedy[0].contains("WITH ORDINALITY"));
        let foreign = get(&f, "foreign-schema-meta-rows");
        assert_eq!(foreign.seen, ["key 'not_kong', subsystem 'core'"]);
    }

    #[test]
    fn contradictory_rows_never_panic_and_come_out_ordered() {
        let t = target("3.4.2");
        let weird = vec![
            SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: "".into(),
                last_executed: Some("".into()),
                executed: None,
                pending: Some(vec!["".into(), "".into()]),
            },
            SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: "core".into(),
                last_executed: Some("9999_from_the_future".into()),
                executed: Some(vec!["020_330_to_340".into(), "000_base".into()]),
                pending: Some(vec!["000_base".into(), "020_330_to_340".into()]),
            },
            SchemaMetaRow::default(),
        ];
        let mut s = snap(Db::Postgres, Some(weird));
        s.lock = Some(LockRow::default());
        s.legacy_migrations = Some(vec![]);
        s.data_planes = Some(vec![DataPlaneRow {
            version: Some("not a version".into()),
            ..DataPlaneRow::default()
        }]);
        let counts = vec![
            ("plugins".to_string(), -1),
            ("routes".to_string(), i64::MAX),
        ];
        let f = run_with(&t, &s, Some(&counts), &Settings::default());
        assert!(!f.is_empty());
        let sev: Vec<Severity> = f.iter().map(|f| f.severity).collect();
        let mut sorted = sev.clone();
        sorted.sort();
        assert_eq!(sev, sorted);
        // Every finding is complete.
        for x in &f {
            assert!(
                !x.title.is_empty() && !x.why.is_empty() && !x.remedy.is_empty(),
                "{x:?}"
            );
        }
        // And the same with no target version (a Lua tree) and an empty catalog.
        let mut t2 = t.clone();
        t2.version = None;
        let empty = Catalog {
            format: 1,
            source: "t".into(),
            releases: vec![],
        };
        let state = compute(&t2, &s, &empty);
        let settings = Settings::default();
        let input = DiagnoseInput {
            state: &state,
            snapshot: &s,
            target: &t2,
            catalog: &empty,
            row_counts: Some(&counts),
            settings: &settings,
            writes_since_up: None,
            history: None,
        };
        let _ = diagnose(&input);
        let _ = plan_for(&input);
    }

    #[test]
    fn absurd_counts_saturate() {
        let t = target("3.4.2");
        let counts: Vec<(String, i64)> = crate::kong::rewrites::BIG_TABLES
            .iter()
            .map(|t| (t.to_string(), i64::MAX))
            .collect();
        let f = run_with(
            &t,
            &snap(Db::Postgres, Some(rows_at("2.0.5"))),
            Some(&counts),
            &Settings::default(),
        );
        assert_eq!(get(&f, "large-tables").severity, Severity::Warning);
    }

    #[test]
    fn exit_codes() {
        let f = |s| Finding {
            id: FindingId::LockLive,
            severity: s,
            title: String::new(),
            seen: vec![],
            why: String::new(),
            remedy: vec![],
        };
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(&[f(Severity::Info)]), 0);
        assert_eq!(exit_code(&[f(Severity::Info), f(Severity::Warning)]), 2);
        assert_eq!(exit_code(&[f(Severity::Warning), f(Severity::Error)]), 1);
        assert_eq!(
            serde_json::to_value(f(Severity::Warning)).unwrap()["severity"],
            "warning"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_secs(42.4), "42 s");
        assert_eq!(human_secs(-600.0), "10 min");
        assert_eq!(human_secs(90_000.0), "25 h");
        assert_eq!(human_secs(400_000.0), "4 days");
    }

    #[test]
    fn writes_since_up_warn_only_while_migrations_are_pending() {
        let t = target("3.4.2");
        let pending = {
            let mut rows = rows_at("2.8.5");
            rows[0].pending = Some(vec!["016_280_to_300".into()]);
            rows
        };
        let w = WritesSinceUp {
            since: "2026-11-22T04:00:00Z".into(),
            rows: vec![("routes".into(), 2), ("services".into(), 1)],
        };
        let go = |rows: Vec<SchemaMetaRow>, w: Option<&WritesSinceUp>| {
            let s = snap(Db::Postgres, Some(rows));
            let state = compute(&t, &s, cat());
            diagnose(&DiagnoseInput {
                state: &state,
                snapshot: &s,
                target: &t,
                catalog: cat(),
                row_counts: None,
                settings: &Settings::default(),
                writes_since_up: w,
                history: None,
            })
        };
        let f = go(pending.clone(), Some(&w));
        let x = get(&f, "writes-since-up");
        assert_eq!(x.severity, Severity::Warning);
        assert!(x.title.starts_with("3 entity change(s)"), "{}", x.title);
        assert!(x.title.contains("2026-11-22T04:00:00Z"));
        assert_eq!(x.seen[0], "routes: 2 row(s) created or updated");
        // Nothing pending: finish ran (or up did not), so nothing can be missed.
        assert!(!ids(&go(rows_at("2.8.5"), Some(&w))).contains(&"writes-since-up"));
        // No writes, or not known: no finding.
        let none = WritesSinceUp {
            since: w.since.clone(),
            rows: vec![],
        };
        assert!(!ids(&go(pending.clone(), Some(&none))).contains(&"writes-since-up"));
        assert!(!ids(&go(pending, None)).contains(&"writes-since-up"));
    }
}
