//! The one upgrade policy: from the database's state, this upgrade's history (the journal), the
//! nodes and the target, where the upgrade stands, what comes next (with its exact command and
//! the kong version that must run it), what each finding does to the wizard and to `auto`, and
//! how to roll back from here. Pure: every command and screen reads its answers from here, so
//! none keeps a rule of its own.

use serde::Serialize;

use super::diagnose::{self, DiagnoseInput, Finding, Severity};
use super::nodes::FinishGate;
use super::plan::{Plan, StepKind};
use super::state::MigState;
use super::strategy::Strategy;
use super::version::Version;

/// Every kind of finding, by a stable id (its kebab-case name is what JSON and the journal show).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingId {
    LockLive,
    LockNoTtl,
    LockStale,
    LegacyDatabase,
    TablesWithoutSchemaMeta,
    NeedsBootstrap,
    InterruptedBootstrap,
    LegacyTableLeft,
    UnfinishedUpgrade,
    PendingFinish,
    SkippedMigrations,
    DatabaseNewer,
    UnknownMigrations,
    PluginNotLoaded,
    PluginRetired,
    PluginUnresolved,
    PluginNeverMigrated,
    SchemaUnrecognized,
    UnsupportedJump,
    CassandraUnsupported,
    CassandraDeprecated,
    CassandraSchemaConsensus,
    LargeTables,
    DataPlanesOld,
    WritesSinceUp,
    ExecutedAndPending,
    LastExecutedUnrecorded,
    DuplicateMigrations,
    ForeignSchemaMetaRows,
    RowCountsUnavailable,
    PathsHalfRewritten,
    RewriteUnseen,
    // What the target will break (kong::preflight).
    ConfKeyRemoved,
    ConfKeyDeprecated,
    ConfKeyUnknown,
    ConfDefaultsChanged,
    RoutesRegexUnprefixed,
    RoutesRegexIncompatible,
    PluginsNotShipped,
    PluginsNotLoaded,
    CustomPluginRemovedModule,
    PostgresTooOld,
    PostgresUntested,
    ScramOldKong,
    HybridDpMajor,
    PreflightIncomplete,
}

impl FindingId {
    pub const ALL: &'static [FindingId] = &[
        FindingId::LockLive,
        FindingId::LockNoTtl,
        FindingId::LockStale,
        FindingId::LegacyDatabase,
        FindingId::TablesWithoutSchemaMeta,
        FindingId::NeedsBootstrap,
        FindingId::InterruptedBootstrap,
        FindingId::LegacyTableLeft,
        FindingId::UnfinishedUpgrade,
        FindingId::PendingFinish,
        FindingId::SkippedMigrations,
        FindingId::DatabaseNewer,
        FindingId::UnknownMigrations,
        FindingId::PluginNotLoaded,
        FindingId::PluginRetired,
        FindingId::PluginUnresolved,
        FindingId::PluginNeverMigrated,
        FindingId::SchemaUnrecognized,
        FindingId::UnsupportedJump,
        FindingId::CassandraUnsupported,
        FindingId::CassandraDeprecated,
        FindingId::CassandraSchemaConsensus,
        FindingId::LargeTables,
        FindingId::DataPlanesOld,
        FindingId::WritesSinceUp,
        FindingId::ExecutedAndPending,
        FindingId::LastExecutedUnrecorded,
        FindingId::DuplicateMigrations,
        FindingId::ForeignSchemaMetaRows,
        FindingId::RowCountsUnavailable,
        FindingId::ConfKeyRemoved,
        FindingId::ConfKeyDeprecated,
        FindingId::ConfKeyUnknown,
        FindingId::ConfDefaultsChanged,
        FindingId::RoutesRegexUnprefixed,
        FindingId::RoutesRegexIncompatible,
        FindingId::PluginsNotShipped,
        FindingId::PluginsNotLoaded,
        FindingId::CustomPluginRemovedModule,
        FindingId::PostgresTooOld,
        FindingId::PostgresUntested,
        FindingId::ScramOldKong,
        FindingId::HybridDpMajor,
        FindingId::PreflightIncomplete,
        FindingId::PathsHalfRewritten,
        FindingId::RewriteUnseen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::LockLive => "lock-live",
            FindingId::LockNoTtl => "lock-no-ttl",
            FindingId::LockStale => "lock-stale",
            FindingId::LegacyDatabase => "legacy-database",
            FindingId::TablesWithoutSchemaMeta => "tables-without-schema-meta",
            FindingId::NeedsBootstrap => "needs-bootstrap",
            FindingId::InterruptedBootstrap => "interrupted-bootstrap",
            FindingId::LegacyTableLeft => "legacy-table-left",
            FindingId::UnfinishedUpgrade => "unfinished-upgrade",
            FindingId::PendingFinish => "pending-finish",
            FindingId::SkippedMigrations => "skipped-migrations",
            FindingId::DatabaseNewer => "database-newer",
            FindingId::UnknownMigrations => "unknown-migrations",
            FindingId::PluginNotLoaded => "plugin-not-loaded",
            FindingId::PluginRetired => "plugin-retired",
            FindingId::PluginUnresolved => "plugin-unresolved",
            FindingId::PluginNeverMigrated => "plugin-never-migrated",
            FindingId::SchemaUnrecognized => "schema-unrecognized",
            FindingId::UnsupportedJump => "unsupported-jump",
            FindingId::CassandraUnsupported => "cassandra-unsupported",
            FindingId::CassandraDeprecated => "cassandra-deprecated",
            FindingId::CassandraSchemaConsensus => "cassandra-schema-consensus",
            FindingId::LargeTables => "large-tables",
            FindingId::DataPlanesOld => "data-planes-old",
            FindingId::WritesSinceUp => "writes-since-up",
            FindingId::ExecutedAndPending => "executed-and-pending",
            FindingId::LastExecutedUnrecorded => "last-executed-unrecorded",
            FindingId::DuplicateMigrations => "duplicate-migrations",
            FindingId::ForeignSchemaMetaRows => "foreign-schema-meta-rows",
            FindingId::RowCountsUnavailable => "row-counts-unavailable",
            FindingId::ConfKeyRemoved => "conf-key-removed",
            FindingId::ConfKeyDeprecated => "conf-key-deprecated",
            FindingId::ConfKeyUnknown => "conf-key-unknown",
            FindingId::ConfDefaultsChanged => "conf-defaults-changed",
            FindingId::RoutesRegexUnprefixed => "routes-regex-unprefixed",
            FindingId::RoutesRegexIncompatible => "routes-regex-incompatible",
            FindingId::PluginsNotShipped => "plugins-not-shipped",
            FindingId::PluginsNotLoaded => "plugins-not-loaded",
            FindingId::CustomPluginRemovedModule => "custom-plugin-removed-module",
            FindingId::PostgresTooOld => "postgres-too-old",
            FindingId::PostgresUntested => "postgres-untested",
            FindingId::ScramOldKong => "scram-old-kong",
            FindingId::HybridDpMajor => "hybrid-dp-major",
            FindingId::PreflightIncomplete => "preflight-incomplete",
            FindingId::PathsHalfRewritten => "paths-half-rewritten",
            FindingId::RewriteUnseen => "rewrite-unseen",
        }
    }

    pub fn parse(s: &str) -> Option<FindingId> {
        FindingId::ALL.iter().copied().find(|id| id.as_str() == s)
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What the wizard does with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WizardGate {
    /// No step may run: only the finding's remedy (outside the wizard) moves on.
    Block,
    /// Wait until it clears (the wizard watches it).
    Wait,
    /// Blocks until the operator overrides it with a typed reason, which is journaled.
    Override,
    /// The wizard's own steps are the fix: it leads the operator through them.
    Path,
    /// Shown as a warning; nothing stops.
    Warn,
    /// Shown for information.
    Inform,
}

/// What `auto` does with a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoGate {
    /// Refuses before any step with `exit`; `lifted_by` names the flag that goes on anyway
    /// (`None`: nothing lifts it).
    Refuse {
        exit: i32,
        lifted_by: Option<&'static str>,
    },
    /// auto's own steps handle it (finish first, bootstrap...).
    Path,
    /// Reported; auto goes on.
    Report,
}

/// One row of the rule table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: FindingId,
    pub wizard: WizardGate,
    pub auto: AutoGate,
}

/// `kongrade auto`'s exit codes: the ones a refusal carries live here with the rules.
pub mod exit {
    /// The database is up to date for the target.
    pub const UP_TO_DATE: i32 = 0;
    /// An error before anything ran (configuration, target).
    pub const ERROR: i32 = 1;
    /// An option that cannot work here (`--backup=pg_dump` on Cassandra).
    pub const NOT_AVAILABLE: i32 = 2;
    /// Stopped with pending migrations: `finish` remains (as `kong migrations list`'s 4).
    pub const PENDING: i32 = 4;
    /// A pre-1.0 database (schema_migrations, no schema_meta).
    pub const PRE_1_0: i32 = 10;
    /// Gaps: migrations skipped by an earlier upgrade (`--allow-gaps`).
    pub const GAPS: i32 = 11;
    /// Migrations recorded that the target does not know (`--allow-unknown`).
    pub const UNKNOWN: i32 = 12;
    /// A version jump Kong does not support (`--allow-unsupported-jump`).
    pub const UNSUPPORTED_JUMP: i32 = 13;
    /// The migrations lock is live (and `--wait-lock` did not outlast it), or kong aborted on it.
    pub const LOCK_HELD: i32 = 14;
    /// kong could not run, failed, was killed, or changed nothing it should have.
    pub const KONG_FAILED: i32 = 15;
    /// The database could not be read (during the run: the state after a step is unknown).
    pub const DB_UNREADABLE: i32 = 16;
    /// The backup failed or could not be proven: nothing was migrated.
    pub const BACKUP_FAILED: i32 = 17;
    /// The journal could not be written, or was deleted or lost its lock, once the run had
    /// begun: a step may have run (the message says which); the database says what it did.
    pub const JOURNAL_FAILED: i32 = 18;
    /// What the target will break (kong::preflight: a removed kong.conf key, regex routes 3.x
    /// refuses, a plugin it does not ship, SCRAM with an old Kong...): `--allow-breaking`.
    pub const BREAKING: i32 = 20;
    /// The database's state forbids every step: Kong's tables without schema_meta (bootstrap
    /// would run over them), or a target Kong that cannot use this database.
    pub const STATE_FORBIDS: i32 = 19;
    /// The strategy asked for (`--strategy`) is refused here (Kong's guide does not allow it
    /// for this deployment and jump), or has nothing for auto to run (rolling: no migrations).
    pub const STRATEGY_REFUSED: i32 = 21;
    /// In-place: a precondition is not met (writes not confirmed frozen, or an old node still
    /// answers): nothing was migrated.
    pub const IN_PLACE_PRECONDITION: i32 = 22;
    /// In-place: the database is up to date, but a new node did not answer the target version,
    /// or a smoke test through the new nodes' proxy failed.
    pub const NEW_NODES_UNPROVEN: i32 = 23;
    /// Dual-cluster: the clone could not be made or proven; nothing was migrated.
    pub const CLONE_FAILED: i32 = 24;
    /// Dual-cluster, the write guard: the source's configuration changed after the clone.
    pub const CLONE_STALE: i32 = 25;
    /// Dual-cluster: the clone is migrated; the new cluster is not (yet) proven: its nodes are
    /// not given, do not answer as the target, or a smoke test failed.
    pub const NEW_CLUSTER_NOT_READY: i32 = 26;
    /// Interrupted (Ctrl-C or SIGTERM): the running step was let end, no further one started.
    pub const INTERRUPTED: i32 = 130;

    /// The `result` key of auto's JSON report for a refusal with this exit code (stable names
    /// scripts match on).
    pub fn refusal_result(code: i32) -> &'static str {
        match code {
            PRE_1_0 => "refused_pre_1_0",
            GAPS => "refused_gaps",
            UNKNOWN => "refused_unknown",
            UNSUPPORTED_JUMP => "refused_unsupported_jump",
            LOCK_HELD => "lock_held",
            STATE_FORBIDS => "refused_state",
            BREAKING => "refused_breaking",
            STRATEGY_REFUSED => "refused_strategy",
            IN_PLACE_PRECONDITION => "refused_in_place",
            NEW_NODES_UNPROVEN => "new_nodes_unproven",
            CLONE_FAILED => "clone_failed",
            CLONE_STALE => "clone_stale",
            NEW_CLUSTER_NOT_READY => "new_cluster_not_ready",
            _ => "error",
        }
    }
}

const fn refuse(exit: i32, lifted_by: Option<&'static str>) -> AutoGate {
    AutoGate::Refuse { exit, lifted_by }
}

/// The rule table. Its order is the order of what must be fixed first: auto refuses with the
/// first refusing finding in it. Whatever auto refuses without a flag, the wizard blocks;
/// whatever a flag lifts, the wizard lets through only after a typed reason.
pub const RULES: &[Rule] = &[
    Rule {
        id: FindingId::LegacyDatabase,
        wizard: WizardGate::Block,
        auto: refuse(exit::PRE_1_0, None),
    },
    Rule {
        id: FindingId::TablesWithoutSchemaMeta,
        wizard: WizardGate::Block,
        auto: refuse(exit::STATE_FORBIDS, None),
    },
    // A rerun of `up` would damage routes (kong::half_applied): only the repair (or the restore)
    // moves on, and no flag lifts it.
    Rule {
        id: FindingId::PathsHalfRewritten,
        wizard: WizardGate::Block,
        auto: refuse(exit::STATE_FORBIDS, None),
    },
    // Whether 016's rewrite still runs is hidden from this role: the repair and a rerun of `up`
    // are each harmful in one of the two cases. Only seeing (another role, a grant) moves on.
    Rule {
        id: FindingId::RewriteUnseen,
        wizard: WizardGate::Block,
        auto: refuse(exit::STATE_FORBIDS, None),
    },
    Rule {
        id: FindingId::CassandraUnsupported,
        wizard: WizardGate::Block,
        // Refused with the configuration errors, before the journal opens.
        auto: refuse(exit::ERROR, None),
    },
    Rule {
        id: FindingId::DatabaseNewer,
        wizard: WizardGate::Block,
        auto: refuse(exit::UNKNOWN, Some("--allow-unknown")),
    },
    Rule {
        id: FindingId::SkippedMigrations,
        wizard: WizardGate::Override,
        auto: refuse(exit::GAPS, Some("--allow-gaps")),
    },
    Rule {
        id: FindingId::UnknownMigrations,
        wizard: WizardGate::Override,
        auto: refuse(exit::UNKNOWN, Some("--allow-unknown")),
    },
    Rule {
        id: FindingId::PluginNotLoaded,
        wizard: WizardGate::Override,
        auto: refuse(exit::UNKNOWN, Some("--allow-unknown")),
    },
    Rule {
        id: FindingId::UnsupportedJump,
        wizard: WizardGate::Override,
        auto: refuse(exit::UNSUPPORTED_JUMP, Some("--allow-unsupported-jump")),
    },
    Rule {
        id: FindingId::ConfKeyRemoved,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::RoutesRegexIncompatible,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::PluginsNotShipped,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::PluginsNotLoaded,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::CustomPluginRemovedModule,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::PostgresTooOld,
        wizard: WizardGate::Block,
        auto: refuse(exit::BREAKING, None),
    },
    Rule {
        id: FindingId::ScramOldKong,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-breaking")),
    },
    Rule {
        id: FindingId::LockLive,
        wizard: WizardGate::Wait,
        auto: refuse(exit::LOCK_HELD, Some("--wait-lock SECONDS")),
    },
    // Waiting never ends it: the row must go (the finding's remedy).
    Rule {
        id: FindingId::LockNoTtl,
        wizard: WizardGate::Block,
        auto: refuse(exit::LOCK_HELD, None),
    },
    Rule {
        id: FindingId::UnfinishedUpgrade,
        wizard: WizardGate::Path,
        auto: AutoGate::Path,
    },
    Rule {
        id: FindingId::PendingFinish,
        wizard: WizardGate::Path,
        auto: AutoGate::Path,
    },
    Rule {
        id: FindingId::NeedsBootstrap,
        wizard: WizardGate::Path,
        auto: AutoGate::Path,
    },
    Rule {
        id: FindingId::InterruptedBootstrap,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::WritesSinceUp,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::DataPlanesOld,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::LargeTables,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::PluginUnresolved,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::PluginNeverMigrated,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::ExecutedAndPending,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::LastExecutedUnrecorded,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::ConfKeyDeprecated,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::ConfKeyUnknown,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::ConfDefaultsChanged,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::RoutesRegexUnprefixed,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::PostgresUntested,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::HybridDpMajor,
        wizard: WizardGate::Warn,
        auto: AutoGate::Report,
    },
    // A check that did not run may hide an error it looks for (a refused regex, a SCRAM login
    // old Kong cannot answer): fail closed, as the errors do, lifted by a flag of its own.
    Rule {
        id: FindingId::PreflightIncomplete,
        wizard: WizardGate::Override,
        auto: refuse(exit::BREAKING, Some("--allow-incomplete-preflight")),
    },
    Rule {
        id: FindingId::LockStale,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::LegacyTableLeft,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::PluginRetired,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::SchemaUnrecognized,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::CassandraDeprecated,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::CassandraSchemaConsensus,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::DuplicateMigrations,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::ForeignSchemaMetaRows,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
    Rule {
        id: FindingId::RowCountsUnavailable,
        wizard: WizardGate::Inform,
        auto: AutoGate::Report,
    },
];

/// The rule of a finding id.
pub fn rule(id: FindingId) -> Rule {
    RULES
        .iter()
        .copied()
        .find(|r| r.id == id)
        // The table lists every id (a test holds it to that); a new id refuses in auto and
        // needs an override in the wizard until it has a row.
        .unwrap_or(Rule {
            id,
            wizard: WizardGate::Override,
            auto: refuse(exit::ERROR, None),
        })
}

/// The wizard's gate for one finding: an error finding never passes on a warning's terms, even
/// where its id is usually milder.
pub fn wizard_gate(f: &Finding) -> WizardGate {
    let g = rule(f.id).wizard;
    match (f.severity, g) {
        (Severity::Error, WizardGate::Warn | WizardGate::Inform) => WizardGate::Override,
        _ => g,
    }
}

/// Why kong may not run on a dual-cluster clone: the first finding (in the table's order) of the clone's reading the
/// wizard blocks on ([`WizardGate::Block`]: nothing lifts it), with auto's exit for it. The
/// wizard's clone gate and `auto --strategy dual-cluster` both ask this, so one rule stops kong
/// on the clone, as [`wizard_gate`] stops it on the shared database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloneRefusal<'a> {
    pub exit: i32,
    pub finding: &'a Finding,
    /// The clone's way where the finding's own remedy is not it: an interrupted 016 on a clone
    /// is not repaired, a new clone is taken (the source was never written).
    pub instead: Option<String>,
}

/// See [`CloneRefusal`]. `clone`: the clone's database name; `rewritten`: how many routes an
/// interrupted 016 left rewritten, when known; `allow`: auto's `--allow-...` flags (`None`: the
/// wizard's gate), which lift on the clone what they lift on the source (the clone is its copy).
pub fn clone_refusal<'a>(
    findings: &'a [Finding],
    clone: &str,
    rewritten: Option<i64>,
    allow: Option<&Allowances>,
) -> Option<CloneRefusal<'a>> {
    let lifted = |f: &Finding| match (rule(f.id).auto, allow) {
        (
            AutoGate::Refuse {
                lifted_by: Some(flag),
                ..
            },
            Some(a),
        ) => a.lifts(flag),
        _ => false,
    };
    // In the table's order, as auto's refusals: what must be fixed first.
    let finding = findings
        .iter()
        .filter(|f| wizard_gate(f) == WizardGate::Block && !lifted(f))
        .min_by_key(|f| RULES.iter().position(|r| r.id == f.id))?;
    let exit = match rule(finding.id).auto {
        AutoGate::Refuse { exit, .. } => exit,
        _ => exit::STATE_FORBIDS,
    };
    let instead = (finding.id == FindingId::PathsHalfRewritten)
        .then(|| super::half_applied::on_clone(rewritten, clone));
    Some(CloneRefusal {
        exit,
        finding,
        instead,
    })
}

/// The flags of `auto` that lift refusals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowances {
    pub gaps: bool,
    pub unknown: bool,
    pub unsupported_jump: bool,
    /// `--wait-lock` was given: a live lock is waited out, not refused.
    pub wait_lock: bool,
    /// `--allow-breaking`: go on though the preflight says the target breaks something.
    pub breaking: bool,
    /// `--allow-incomplete-preflight`: go on though a preflight read failed (its checks did
    /// not run): its own flag, so lifting it never lifts the errors the checks that ran found.
    pub incomplete_preflight: bool,
}

impl Allowances {
    fn lifts(&self, flag: &str) -> bool {
        match flag {
            "--allow-gaps" => self.gaps,
            "--allow-unknown" => self.unknown,
            "--allow-unsupported-jump" => self.unsupported_jump,
            "--wait-lock SECONDS" => self.wait_lock,
            "--allow-breaking" => self.breaking,
            "--allow-incomplete-preflight" => self.incomplete_preflight,
            _ => false,
        }
    }
}

/// Why auto refuses to start: the first finding, in the table's order, that refuses and that no
/// given flag lifts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub exit: i32,
    pub lifted_by: Option<&'static str>,
    pub finding: Finding,
}

impl Refusal {
    /// auto's `result` key.
    pub fn result(&self) -> &'static str {
        exit::refusal_result(self.exit)
    }

    /// The message auto prints: the finding whole, then what lifts it.
    pub fn message(&self) -> String {
        let f = &self.finding;
        let mut s = format!("Refused: {}\n", f.title);
        for l in &f.seen {
            s.push_str(&format!("  seen: {l}\n"));
        }
        s.push_str(&format!("  why: {}\n", f.why));
        for r in &f.remedy {
            s.push_str(&format!("  do: {r}\n"));
        }
        match self.lifted_by {
            Some(flag) => s.push_str(&format!("{flag} goes on anyway.")),
            None => s.push_str("No flag lifts this: fix it first."),
        }
        s
    }
}

/// Refusing findings that a given flag lifted: (finding id, flag), for the journal.
pub fn lifted(findings: &[Finding], allow: &Allowances) -> Vec<(FindingId, &'static str)> {
    RULES
        .iter()
        .filter_map(|r| match r.auto {
            AutoGate::Refuse {
                lifted_by: Some(flag),
                ..
            } if allow.lifts(flag) && findings.iter().any(|f| f.id == r.id) => Some((r.id, flag)),
            _ => None,
        })
        .collect()
}

pub fn auto_refusal(findings: &[Finding], allow: &Allowances) -> Option<Refusal> {
    RULES.iter().find_map(|r| {
        let AutoGate::Refuse { exit, lifted_by } = r.auto else {
            return None;
        };
        if lifted_by.is_some_and(|f| allow.lifts(f)) {
            return None;
        }
        findings.iter().find(|f| f.id == r.id).map(|f| Refusal {
            exit,
            lifted_by,
            finding: f.clone(),
        })
    })
}

/// A kong command this upgrade ran, as the journal recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCommand {
    Bootstrap,
    Up,
    Finish,
    Reset,
    Other,
}

/// How a recorded run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// No end recorded: still running, or killed with kongrade.
    Unknown,
    Succeeded,
    Failed,
    /// Ended by a signal (interrupted or killed).
    Signalled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub command: RunCommand,
    pub kong_version: Option<Version>,
    pub end: RunEnd,
}

/// The verified backup this upgrade recorded (never a password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupRef {
    pub file: String,
    pub sha256: String,
    pub created_at: String,
    /// The exact restore command, when known.
    pub restore: Option<String>,
    /// Checked again just now: the file is there and matches the record. `false`: the caller
    /// found it gone or changed (it must not count).
    pub verified: bool,
}

/// This upgrade's history, from its journal (empty when there is none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct History {
    pub runs: Vec<Run>,
    pub backup: Option<BackupRef>,
    /// "I have my own backup", with the operator's reference.
    pub own_backup: Option<String>,
    /// Gates opened anyway: (gate, typed reason).
    pub overrides: Vec<(String, String)>,
    /// The database's version when the upgrade began (its first recorded state).
    pub started_from: Option<Version>,
    /// The strategy the operator chose (the last one journaled).
    pub strategy: Option<Strategy>,
    /// The rehearsals journaled, in order (their times replace the timeout estimates:
    /// `kong::diagnose::timeout_advice`).
    #[serde(skip)]
    pub rehearsals: Vec<crate::contract::clone::RehearsalRecord>,
}

impl History {
    fn last(&self, c: RunCommand) -> Option<(usize, &Run)> {
        self.runs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, r)| r.command == c)
    }

    /// The kong version that last ran `up` in this upgrade.
    pub fn ran_up(&self) -> Option<Version> {
        self.last(RunCommand::Up).and_then(|(_, r)| r.kong_version)
    }

    pub fn ran_anything(&self) -> bool {
        self.runs.iter().any(|r| {
            matches!(
                r.command,
                RunCommand::Up | RunCommand::Finish | RunCommand::Bootstrap
            )
        })
    }

    fn has_backup(&self) -> bool {
        self.backup.as_ref().is_some_and(|b| b.verified) || self.own_backup.is_some()
    }
}

/// Where the upgrade stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "position", rename_all = "snake_case")]
pub enum Position {
    /// Nothing of this upgrade has changed the database yet (an empty database included).
    NothingChanged,
    /// A run is in progress: ours (kongrade's kong child), or a live lock of another run; or
    /// the lock our own interrupted run left, still live.
    InProgress {
        ours: bool,
        left_by_our_interrupted_run: bool,
        seconds_left: Option<f64>,
    },
    /// `up` ran part way: interrupted or failed, migrations of the target still new.
    UpPartial { kong_version: Option<Version> },
    /// `up` is done: only `finish` remains; old nodes may still serve. `earlier_upgrade`: the
    /// pending migrations were left by an upgrade this journal did not run.
    UpDone {
        kong_version: Option<Version>,
        earlier_upgrade: bool,
    },
    /// `finish` ran part way: some teardowns ran, old nodes may already be broken.
    FinishPartial { kong_version: Option<Version> },
    /// The database is up to date for the target.
    Done,
    /// Nothing may run until these are fixed.
    Blocked { by: Vec<FindingId> },
}

impl Position {
    pub fn describe(&self) -> String {
        match self {
            Position::NothingChanged => "nothing changed yet".into(),
            Position::InProgress { ours: true, .. } => {
                "a kong run of this upgrade is in progress".into()
            }
            Position::InProgress {
                left_by_our_interrupted_run: true,
                seconds_left,
                ..
            } => format!(
                "the lock left by this upgrade's interrupted run is still live{}",
                secs_left(*seconds_left)
            ),
            Position::InProgress { seconds_left, .. } => format!(
                "a run is in progress: the migrations lock is live{}",
                secs_left(*seconds_left)
            ),
            Position::UpPartial { kong_version } => format!(
                "`up`{} stopped part way: some of its migrations ran, the rest are still new",
                with_v(*kong_version)
            ),
            Position::UpDone {
                earlier_upgrade: true,
                kong_version,
            } => format!(
                "an earlier upgrade ran `up`{} and never finished: old nodes may still serve",
                with_v(*kong_version)
            ),
            Position::UpDone { kong_version, .. } => format!(
                "`up`{} is done: old nodes may still serve until `finish`",
                with_v(*kong_version)
            ),
            Position::FinishPartial { kong_version } => format!(
                "`finish`{} stopped part way: some teardowns ran",
                with_v(*kong_version)
            ),
            Position::Done => "done: the database is up to date for the target".into(),
            Position::Blocked { by } => format!(
                "blocked by {}",
                by.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

fn secs_left(s: Option<f64>) -> String {
    s.map(|s| format!(" ({} left)", diagnose::human_secs(s.max(0.0))))
        .unwrap_or_default()
}

fn with_v(v: Option<Version>) -> String {
    v.map(|v| format!(" (Kong {v})")).unwrap_or_default()
}

/// What comes next.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NextStep {
    pub kind: NextKind,
    pub title: String,
    /// The exact command (None: a manual step, or nothing to run).
    pub command: Option<String>,
    /// The kong version that must run it.
    pub kong_version: Option<Version>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextKind {
    /// Wait for the running step or the live lock.
    Wait,
    /// Fix what blocks (the first blocking finding's remedy).
    Fix,
    Backup,
    Bootstrap,
    /// Finish an earlier (or interrupted) `up` before the next `up`.
    FinishPrevious,
    Up,
    MigrateApis,
    /// Start new nodes, move traffic, stop every old node.
    Nodes,
    Finish,
    MoveToPostgres,
    /// Nothing left.
    Nothing,
}

/// How to go back from here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rollback", rename_all = "snake_case")]
pub enum Rollback {
    /// Nothing of this upgrade changed the database.
    NothingToUndo,
    /// Before `finish`: the old nodes still work; stop the new ones and do not finish.
    StopNewNodes,
    /// A run is going: let it end (or interrupt it); until finish runs, old nodes still work.
    WaitThenStopNewNodes,
    /// After (part of) `finish`: only the backup brings the old nodes back.
    RestoreBackup {
        backup: Option<BackupRef>,
        /// This journal recorded the finish (false: the database is up to date, but the journal
        /// saw no step of it).
        ran_here: bool,
    },
    /// In-place, before anything changed the database: start the old nodes again.
    InPlaceStartOldNodes,
    /// In-place, once `up` began with the old nodes stopped: the backup is the way back (Kong's
    /// in-place guide: restore from the backup, database-level first).
    InPlaceRestore { backup: Option<BackupRef> },
    /// Dual-cluster: this database (the old cluster's) is never written, so rolling back is
    /// sending all traffic back to the old cluster.
    SendTrafficBack,
}

/// Restoring `backup`, as numbered steps from 2 on (1 is stopping every node).
fn restore_steps(backup: &Option<BackupRef>) -> String {
    match backup {
        Some(b) if b.verified => {
            let mut s = format!(
                "  2. Check the file is the one recorded: sha256sum {}  (expect {})\n",
                b.file, b.sha256
            );
            match &b.restore {
                Some(cmd) => s.push_str(&format!("  3. {cmd}\n")),
                None => s.push_str(&format!(
                    "  3. pg_restore --clean --if-exists -d <database> {}\n",
                    b.file
                )),
            }
            s.push_str(&format!(
                "  4. Start the old-version nodes.\n\nWhat it loses: every write to Kong's database since {} (the backup's time).\n",
                b.created_at
            ));
            s
        }
        Some(b) => format!(
            "  2. The recorded backup {} is gone or no longer matches its record (sha256 {}): restore your own backup (pg_restore --clean --if-exists -d <database> <file>).\n  3. Start the old-version nodes.\n\nWhat it loses: every write since that backup.\n",
            b.file, b.sha256
        ),
        None => "  2. No kongrade backup is recorded for this database: restore your own backup (pg_restore --clean --if-exists -d <database> <file>).\n  3. Start the old-version nodes.\n\nWhat it loses: every write since that backup.\n".into(),
    }
}

impl Rollback {
    /// The backup a restore would use, for callers that found (and checked) it.
    pub fn backup_mut(&mut self) -> Option<&mut Option<BackupRef>> {
        match self {
            Rollback::RestoreBackup { backup, .. } | Rollback::InPlaceRestore { backup } => {
                Some(backup)
            }
            _ => None,
        }
    }

    /// The guidance as text, with the exact commands.
    pub fn guidance(&self) -> String {
        match self {
            Rollback::InPlaceStartOldNodes => "Nothing of this in-place upgrade has changed the database yet. To roll back: start the old-version nodes again (if you stopped them) and unfreeze configuration writes; do not run `up`.\n".into(),
            Rollback::InPlaceRestore { backup } => {
                let mut s = String::from("In-place: `up` ran (in whole or in part) on this database with the old nodes stopped. Rolling back means restoring the backup taken before `up` (Kong's in-place guide: prefer a database-level restore):\n  1. Stop every Kong node (writes now would be lost anyway).\n");
                s.push_str(&restore_steps(backup));
                s.push_str("Then unfreeze configuration writes.\n");
                s
            }
            Rollback::SendTrafficBack => "Dual-cluster: this database (the old cluster's) is never written by the upgrade. To roll back: send all traffic back to the old cluster, then stop (or drop) the new one. Nothing to restore.\n".into(),
            Rollback::NothingToUndo => "Nothing to undo: no step of this upgrade has changed the database. Old nodes keep working as they are; to abandon the upgrade, simply do not run `up`.\n".into(),
            Rollback::WaitThenStopNewNodes => "A migration run is in progress. Let it end (or interrupt it); `finish` has NOT run, so the old nodes still work.\nThen, to roll back:\n  1. Move traffic back to the old-version nodes (start them again if you stopped them).\n  2. Stop every new-version node.\n  3. Do not run `kong migrations finish`. What `up` added is additive: the old version keeps working on it.\nNo restore is needed, and none is advised: it would lose every write since the backup.\n".into(),
            Rollback::StopNewNodes => "The database has migrations `up` ran, and `finish` has NOT run: the old nodes still work.\n\nTo roll back now:\n  1. Move traffic back to the old-version nodes (start them again if you stopped them).\n  2. Stop every new-version node.\n  3. Do not run `kong migrations finish`. The migrations `up` ran are additive and the old version keeps working on them; run `up` and `finish` again when you retry.\nNo restore is needed, and none is advised: it would lose every write since the backup.\n".into(),
            Rollback::RestoreBackup { backup, ran_here } => {
                let mut s = if *ran_here {
                    String::from("`finish` has run (in whole or in part) in this upgrade: old nodes can no longer run on this database.\n\nRolling back means restoring the backup taken before `up`:\n")
                } else {
                    String::from("The database is up to date for the target and this upgrade's journal recorded no step of it: if `finish` ran, old nodes can no longer run here.\n\nRolling back means restoring a backup taken before `up`:\n")
                };
                s.push_str("  1. Stop every Kong node (writes now would be lost anyway).\n");
                s.push_str(&restore_steps(backup));
                s
            }
        }
    }
}

/// Everything the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// The database and the target, as the diagnosis sees them (its `history` is this upgrade's).
    pub diagnose: DiagnoseInput<'a>,
    /// The finish gate from the nodes, when they were checked.
    pub nodes: Option<&'a FinishGate>,
    /// A kong child of this process is running now.
    pub running: bool,
    /// The strategy chosen for this upgrade (`None`: the one the journal recorded, if any).
    pub strategy: Option<Strategy>,
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub position: Position,
    pub next: NextStep,
    pub findings: Vec<Finding>,
    pub rollback: Rollback,
    #[serde(skip)]
    pub plan: Plan,
}

impl Assessment {
    /// Findings the wizard must not pass without a typed reason.
    pub fn needing_override(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| wizard_gate(f) == WizardGate::Override)
            .collect()
    }

    pub fn blocking(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| wizard_gate(f) == WizardGate::Block)
            .collect()
    }
}

/// Where the upgrade stands, what is next, and how to go back.
pub fn assess(input: &PolicyInput<'_>) -> Assessment {
    let d = &input.diagnose;
    let empty = History::default();
    let history = d.history.unwrap_or(&empty);
    let plan = diagnose::plan_for(d);
    let findings = diagnose::diagnose_with(d, &plan);
    let position = position(input, history, &findings, &plan);
    let strategy = input.strategy.or(history.strategy);
    let next = strategy_next(
        strategy,
        &position,
        input.nodes.is_some_and(|g| g.open),
        next_step(input, history, &position, &findings, &plan),
    );
    let rollback = strategy_rollback(strategy, &position, history, rollback(&position, history));
    Assessment {
        position,
        next,
        findings,
        rollback,
        plan,
    }
}

fn position(
    input: &PolicyInput<'_>,
    history: &History,
    findings: &[Finding],
    plan: &Plan,
) -> Position {
    let st = input.diagnose.state;
    let last_run = history.runs.last();
    if input.running {
        return Position::InProgress {
            ours: true,
            left_by_our_interrupted_run: false,
            seconds_left: None,
        };
    }
    if let Some(l) = st.lock.as_ref().filter(|l| l.live) {
        // Our last run ended without a clean exit while holding the lock: the row is its own.
        let ours_left = last_run.is_some_and(|r| {
            matches!(r.end, RunEnd::Signalled | RunEnd::Unknown | RunEnd::Failed)
                && matches!(
                    r.command,
                    RunCommand::Up | RunCommand::Finish | RunCommand::Bootstrap
                )
        });
        return Position::InProgress {
            ours: false,
            left_by_our_interrupted_run: ours_left,
            seconds_left: l.seconds_left,
        };
    }
    let blockers: Vec<FindingId> = findings
        .iter()
        .filter(|f| wizard_gate(f) == WizardGate::Block)
        .map(|f| f.id)
        .collect();
    if !blockers.is_empty() {
        return Position::Blocked { by: blockers };
    }
    if st.needs_bootstrap {
        return Position::NothingChanged;
    }
    if st.up_to_date() {
        return Position::Done;
    }
    let pending = st.any(MigState::Pending);
    let new = st.any(MigState::New);
    let up = history.last(RunCommand::Up);
    let finish = history.last(RunCommand::Finish);
    let up_failed = up.is_some_and(|(_, r)| r.end != RunEnd::Succeeded);
    // A finish after the last up that did not end cleanly.
    let finish_failed = finish
        .is_some_and(|(fi, r)| r.end != RunEnd::Succeeded && up.is_none_or(|(ui, _)| fi > ui));
    let ran_up = history.ran_up();
    if pending && finish_failed {
        return Position::FinishPartial {
            kong_version: finish.and_then(|(_, r)| r.kong_version).or(ran_up),
        };
    }
    if new && up_failed {
        return Position::UpPartial {
            kong_version: ran_up,
        };
    }
    if pending {
        let earlier = up.is_none();
        return Position::UpDone {
            kong_version: if earlier {
                first_finish_version(plan)
            } else {
                ran_up
            },
            earlier_upgrade: earlier,
        };
    }
    Position::NothingChanged
}

/// The kong version the plan gives the first finish (when no journal says who ran up).
fn first_finish_version(plan: &Plan) -> Option<Version> {
    plan.steps
        .iter()
        .find(|s| matches!(s.kind, StepKind::FinishPrevious | StepKind::Finish))
        .and_then(|s| s.kong_version)
}

fn next_kind(k: StepKind) -> NextKind {
    match k {
        StepKind::Wait => NextKind::Wait,
        StepKind::Backup => NextKind::Backup,
        StepKind::Bootstrap => NextKind::Bootstrap,
        StepKind::FinishPrevious => NextKind::FinishPrevious,
        StepKind::Up => NextKind::Up,
        StepKind::MigrateApis => NextKind::MigrateApis,
        StepKind::Nodes => NextKind::Nodes,
        StepKind::Finish => NextKind::Finish,
        StepKind::MoveToPostgres => NextKind::MoveToPostgres,
    }
}

fn next_step(
    input: &PolicyInput<'_>,
    history: &History,
    position: &Position,
    findings: &[Finding],
    plan: &Plan,
) -> NextStep {
    match position {
        Position::InProgress { ours: true, .. } => {
            return NextStep {
                kind: NextKind::Wait,
                title: "Wait for the running kong to end (or interrupt it)".into(),
                command: None,
                kong_version: None,
            }
        }
        Position::InProgress { seconds_left, .. } => {
            return NextStep {
                kind: NextKind::Wait,
                title: format!(
                    "Wait until the migrations lock is released or expires{}",
                    secs_left(*seconds_left)
                ),
                command: Some("kongrade status   # exit code 6 while the lock is live".into()),
                kong_version: None,
            }
        }
        Position::Blocked { by } => {
            let f = by
                .first()
                .and_then(|id| findings.iter().find(|f| f.id == *id));
            return NextStep {
                kind: NextKind::Fix,
                title: f
                    .map(|f| f.title.clone())
                    .unwrap_or_else(|| "Fix what blocks the upgrade".into()),
                command: f.and_then(|f| f.remedy.first().cloned()),
                kong_version: None,
            };
        }
        Position::Done => {
            return NextStep {
                kind: NextKind::Nothing,
                title: "Nothing: the database is up to date for the target".into(),
                command: None,
                kong_version: None,
            }
        }
        _ => {}
    }
    let gate_open = input.nodes.is_some_and(|g| g.open);
    let step = plan.steps.iter().find(|s| match s.kind {
        StepKind::Wait => false,
        StepKind::Backup => !history.has_backup(),
        // The nodes step is done once the gate shows no old node.
        StepKind::Nodes => !gate_open,
        _ => true,
    });
    match step {
        Some(s) => NextStep {
            kind: next_kind(s.kind),
            title: s.title.clone(),
            command: s.commands.first().cloned(),
            kong_version: s.kong_version,
        },
        None => NextStep {
            kind: NextKind::Nothing,
            title: plan
                .blocked
                .clone()
                .unwrap_or_else(|| "Nothing to run".into()),
            command: None,
            kong_version: None,
        },
    }
}

/// What the chosen strategy changes in the next step: in-place stops every old node before
/// `up`; rolling has no migrations (once the control plane's database is done, the data planes
/// are replaced).
fn strategy_next(
    strategy: Option<Strategy>,
    position: &Position,
    gate_open: bool,
    next: NextStep,
) -> NextStep {
    match (strategy, next.kind) {
        (Some(Strategy::InPlace), NextKind::Up)
            if *position == Position::NothingChanged && !gate_open =>
        {
            NextStep {
                kind: NextKind::Nodes,
                title: "In-place: freeze configuration writes, then stop every old node (downtime starts); `up` runs once none answers".into(),
                command: Some("kongrade nodes --admin-url URL ...   # exit 0 once no old node answers".into()),
                kong_version: None,
            }
        }
        (Some(Strategy::Rolling), NextKind::Nothing) if *position == Position::Done => NextStep {
            kind: NextKind::Nodes,
            title: "Rolling: replace each data plane (or DB-less node) with one of the new version, the control plane first".into(),
            command: Some("kongrade plan --strategy rolling".into()),
            kong_version: None,
        },
        _ => next,
    }
}

/// The rollback under the chosen strategy: in-place's way back is the backup as soon as `up`
/// began (the old nodes are stopped, and Kong's guide restores); dual-cluster never writes this
/// database. Blue-green (and no strategy) is the shared-database rollback.
fn strategy_rollback(
    strategy: Option<Strategy>,
    position: &Position,
    history: &History,
    shared: Rollback,
) -> Rollback {
    match strategy {
        Some(Strategy::InPlace) => match (position, &shared) {
            (Position::NothingChanged, Rollback::NothingToUndo) => Rollback::InPlaceStartOldNodes,
            (Position::Blocked { .. }, _) | (Position::NothingChanged, _) => shared,
            _ => Rollback::InPlaceRestore {
                backup: history.backup.clone(),
            },
        },
        Some(Strategy::DualCluster)
            if matches!(shared, Rollback::NothingToUndo) && !history.ran_anything() =>
        {
            Rollback::SendTrafficBack
        }
        _ => shared,
    }
}

fn rollback(position: &Position, history: &History) -> Rollback {
    match position {
        Position::NothingChanged | Position::Blocked { .. } => {
            // A finish recorded here means the old nodes are gone even if the state looks new
            // (a later `up` of another hop).
            if history
                .runs
                .iter()
                .any(|r| r.command == RunCommand::Finish && r.end != RunEnd::Unknown)
            {
                Rollback::RestoreBackup {
                    backup: history.backup.clone(),
                    ran_here: true,
                }
            } else {
                Rollback::NothingToUndo
            }
        }
        Position::InProgress { .. } => {
            if history.last(RunCommand::Finish).is_some() {
                Rollback::RestoreBackup {
                    backup: history.backup.clone(),
                    ran_here: true,
                }
            } else {
                Rollback::WaitThenStopNewNodes
            }
        }
        Position::UpPartial { .. } | Position::UpDone { .. } => {
            if history
                .runs
                .iter()
                .any(|r| r.command == RunCommand::Finish && r.end != RunEnd::Unknown)
            {
                // A finish ran in this upgrade (an earlier hop): its teardowns are not undone.
                Rollback::RestoreBackup {
                    backup: history.backup.clone(),
                    ran_here: true,
                }
            } else {
                Rollback::StopNewNodes
            }
        }
        Position::FinishPartial { .. } => Rollback::RestoreBackup {
            backup: history.backup.clone(),
            ran_here: true,
        },
        Position::Done => Rollback::RestoreBackup {
            backup: history.backup.clone(),
            ran_here: history.ran_anything(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::{Catalog, Db};
    use crate::kong::diagnose::Settings;
    use crate::kong::nodes::FinishGate;
    use crate::kong::snapshot::{LockRow, SchemaMetaRow, Snapshot};
    use crate::kong::state::{compute, SchemaState};
    use crate::kong::target::Target;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn cat() -> &'static Catalog {
        Catalog::embedded()
    }

    fn target(version: &str) -> Target {
        let rel = cat().release(v(version)).unwrap();
        Target::from_release(rel, Db::Postgres, &["bundled".to_string()], &[], "catalog")
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

    /// What Kong `to`'s `up` records on a database at `from`, walking subsystems in order, until
    /// it fails at `fail_at` (`subsystem/name`; that one is not recorded, nothing after it runs).
    fn up_rows(from: &str, to: &str, fail_at: Option<&str>) -> Vec<SchemaMetaRow> {
        let mut rows = rows_at(from);
        let rel = cat().release(v(to)).unwrap();
        for s in &rel.subsystems {
            let idx = match rows.iter().position(|r| r.subsystem == s.name) {
                Some(i) => i,
                None => {
                    rows.push(SchemaMetaRow {
                        key: "schema_meta".into(),
                        subsystem: s.name.clone(),
                        last_executed: None,
                        executed: Some(vec![]),
                        pending: Some(vec![]),
                    });
                    rows.len() - 1
                }
            };
            for m in &s.migrations {
                let r = &mut rows[idx];
                if r.executed.as_ref().unwrap().contains(&m.name) {
                    continue;
                }
                if fail_at == Some(format!("{}/{}", s.name, m.name).as_str()) {
                    return rows;
                }
                if m.two_phase(Db::Postgres) {
                    r.pending.as_mut().unwrap().push(m.name.clone());
                } else {
                    r.executed.as_mut().unwrap().push(m.name.clone());
                    r.last_executed = Some(m.name.clone());
                }
            }
        }
        rows
    }

    fn snap(rows: Option<Vec<SchemaMetaRow>>) -> Snapshot {
        let mut s = Snapshot::empty(Db::Postgres, "public");
        s.schema_meta = rows;
        s
    }

    fn history_up(kong: &str, end: RunEnd, from: &str) -> History {
        History {
            runs: vec![Run {
                command: RunCommand::Up,
                kong_version: Some(v(kong)),
                end,
            }],
            started_from: Some(v(from)),
            ..History::default()
        }
    }

    struct Case {
        target: Target,
        snap: Snapshot,
        state: SchemaState,
        settings: Settings,
    }

    impl Case {
        fn new(to: &str, snap: Snapshot) -> Case {
            let target = target(to);
            let state = compute(&target, &snap, cat());
            Case {
                target,
                snap,
                state,
                settings: Settings::default(),
            }
        }

        fn assess(&self, history: Option<&History>, nodes: Option<&FinishGate>) -> Assessment {
            self.assess_as(history, nodes, None)
        }

        fn assess_as(
            &self,
            history: Option<&History>,
            nodes: Option<&FinishGate>,
            strategy: Option<Strategy>,
        ) -> Assessment {
            assess(&PolicyInput {
                diagnose: DiagnoseInput {
                    state: &self.state,
                    snapshot: &self.snap,
                    target: &self.target,
                    catalog: cat(),
                    row_counts: None,
                    settings: &self.settings,
                    writes_since_up: None,
                    history,
                },
                nodes,
                running: false,
                strategy,
            })
        }
    }

    fn ids(a: &Assessment) -> Vec<FindingId> {
        a.findings.iter().map(|f| f.id).collect()
    }

    #[test]
    fn every_id_has_exactly_one_rule_and_a_stable_name() {
        for id in FindingId::ALL {
            assert_eq!(RULES.iter().filter(|r| r.id == *id).count(), 1, "{id}");
            assert_eq!(FindingId::parse(id.as_str()), Some(*id));
        }
        assert_eq!(RULES.len(), FindingId::ALL.len());
    }

    #[test]
    fn what_auto_refuses_the_wizard_never_lets_pass_unasked() {
        for r in RULES {
            match r.auto {
                AutoGate::Refuse {
                    lifted_by: None, ..
                } => assert_eq!(r.wizard, WizardGate::Block, "{}", r.id),
                AutoGate::Refuse {
                    lifted_by: Some(_), ..
                } => assert!(
                    matches!(
                        r.wizard,
                        WizardGate::Block | WizardGate::Override | WizardGate::Wait
                    ),
                    "{}",
                    r.id
                ),
                _ => {}
            }
        }
    }

    /// The clone is the source's copy: auto's `--allow-...` flags lift on the clone what they
    /// lift on the source (`database-newer` by `--allow-unknown`), never a finding no flag lifts;
    /// the wizard's gate (no allowances) refuses both.
    #[test]
    fn the_clone_gate_lifts_what_autos_flags_lift_on_the_source() {
        let f = |id| Finding {
            id,
            severity: Severity::Error,
            title: String::new(),
            seen: vec![],
            why: String::new(),
            remedy: vec![],
        };
        let newer = [f(FindingId::DatabaseNewer)];
        let unknown = Allowances {
            unknown: true,
            ..Allowances::default()
        };
        assert!(clone_refusal(&newer, "kong_new", None, None).is_some());
        assert!(clone_refusal(&newer, "kong_new", None, Some(&Allowances::default())).is_some());
        assert!(clone_refusal(&newer, "kong_new", None, Some(&unknown)).is_none());
        let half = [
            f(FindingId::PathsHalfRewritten),
            f(FindingId::DatabaseNewer),
        ];
        let all = Allowances {
            gaps: true,
            unknown: true,
            unsupported_jump: true,
            wait_lock: true,
            breaking: true,
            incomplete_preflight: true,
        };
        let r = clone_refusal(&half, "kong_new", Some(3), Some(&all)).expect("no flag lifts it");
        assert_eq!(r.finding.id, FindingId::PathsHalfRewritten);
    }

    #[test]
    fn an_error_finding_never_passes_as_a_warning() {
        let f = Finding {
            id: FindingId::DataPlanesOld,
            severity: Severity::Error,
            title: String::new(),
            seen: vec![],
            why: String::new(),
            remedy: vec![],
        };
        assert_eq!(wizard_gate(&f), WizardGate::Override);
    }

    /// Issue 11, first case: a 2.8.5 database, auto to 3.4.2 with a kong that failed at
    /// core/018_310_to_320. The journal says 3.4.2 ran up: finish with 3.4.2, no unsupported
    /// jump, the old nodes still work.
    #[test]
    fn an_interrupted_up_is_finished_by_the_kong_that_ran_it() {
        let c = Case::new(
            "3.4.2",
            snap(Some(up_rows("2.8.5", "3.4.2", Some("core/018_310_to_320")))),
        );
        assert!(c.state.any(MigState::Pending) && c.state.any(MigState::New));
        let h = history_up("3.4.2", RunEnd::Failed, "2.8.5");
        let a = c.assess(Some(&h), None);
        assert_eq!(
            a.position,
            Position::UpPartial {
                kong_version: Some(v("3.4.2"))
            }
        );
        assert!(
            !ids(&a).contains(&FindingId::UnsupportedJump),
            "{:?}",
            ids(&a)
        );
        let fin = a
            .findings
            .iter()
            .find(|f| f.id == FindingId::UnfinishedUpgrade)
            .unwrap();
        assert!(fin.title.contains("Kong 3.4.2"), "{}", fin.title);
        assert!(!fin.title.contains("3.1.1"), "{}", fin.title);
        // The plan: the old nodes go, finish with 3.4.2, then up and finish with 3.4.2; no hops.
        assert_eq!(a.plan.path, vec![v("3.4.2")]);
        let finish_prev = a
            .plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::FinishPrevious)
            .unwrap();
        assert_eq!(finish_prev.kong_version, Some(v("3.4.2")));
        assert_eq!(a.next.kind, NextKind::Backup);
        assert_eq!(a.rollback, Rollback::StopNewNodes);
        // With a backup recorded, the next step is the finish, run by 3.4.2.
        let mut h2 = h.clone();
        h2.own_backup = Some("snapshot-42".into());
        let a = c.assess(Some(&h2), None);
        assert_eq!(a.next.kind, NextKind::FinishPrevious);
        assert_eq!(a.next.kong_version, Some(v("3.4.2")));
        assert!(a
            .next
            .command
            .as_deref()
            .unwrap()
            .contains("kong migrations finish"));
        // And auto does not refuse it.
        assert_eq!(auto_refusal(&a.findings, &Allowances::default()), None);
    }

    /// The same database without a journal: judged from the release every subsystem has
    /// reached (2.8.5), as auto does, so no unsupported jump either.
    #[test]
    fn a_mixed_schema_is_judged_from_its_floor_by_every_command() {
        let c = Case::new(
            "3.4.2",
            snap(Some(up_rows("2.8.5", "3.4.2", Some("core/018_310_to_320")))),
        );
        let a = c.assess(None, None);
        assert_eq!(a.plan.origin, Some(v("2.8.5")));
        assert!(
            !ids(&a).contains(&FindingId::UnsupportedJump),
            "{:?}",
            ids(&a)
        );
        assert_eq!(auto_refusal(&a.findings, &Allowances::default()), None);
        // And when the floor's jump is unsupported, both say so.
        let c = Case::new(
            "3.4.2",
            snap(Some(up_rows("2.0.5", "2.1.4", Some("core/011_212_to_213")))),
        );
        let a = c.assess(None, None);
        assert!(
            ids(&a).contains(&FindingId::UnsupportedJump),
            "{:?}",
            ids(&a)
        );
        let r = auto_refusal(&a.findings, &Allowances::default()).unwrap();
        assert_eq!(r.exit, exit::UNSUPPORTED_JUMP);
        assert_eq!(r.lifted_by, Some("--allow-unsupported-jump"));
        assert_eq!(r.result(), "refused_unsupported_jump");
        let allow = Allowances {
            unsupported_jump: true,
            ..Allowances::default()
        };
        assert_eq!(auto_refusal(&a.findings, &allow), None);
        assert_eq!(
            lifted(&a.findings, &allow),
            vec![(FindingId::UnsupportedJump, "--allow-unsupported-jump")]
        );
    }

    /// `b` before anything ran: nothing to undo, no restore.
    #[test]
    fn before_anything_ran_there_is_nothing_to_undo() {
        let c = Case::new("3.4.2", snap(Some(rows_at("2.8.5"))));
        let a = c.assess(Some(&History::default()), None);
        assert_eq!(a.position, Position::NothingChanged);
        assert_eq!(a.rollback, Rollback::NothingToUndo);
        assert!(
            !a.rollback.guidance().contains("restore"),
            "{}",
            a.rollback.guidance()
        );
        assert_eq!(a.next.kind, NextKind::Backup);
        let h = History {
            own_backup: Some("mine".into()),
            ..History::default()
        };
        let a = c.assess(Some(&h), None);
        assert_eq!(a.next.kind, NextKind::Up);
        assert_eq!(a.next.kong_version, Some(v("3.4.2")));
    }

    /// After the operator's own interrupted `up`: finish never ran, the old nodes still work.
    #[test]
    fn after_an_interrupted_up_the_rollback_is_to_stop_the_new_nodes() {
        let c = Case::new(
            "3.4.2",
            snap(Some(up_rows("2.8.5", "3.4.2", Some("core/017_300_to_310")))),
        );
        let h = history_up("3.4.2", RunEnd::Signalled, "2.8.5");
        let a = c.assess(Some(&h), None);
        assert!(
            matches!(a.position, Position::UpPartial { .. }),
            "{:?}",
            a.position
        );
        assert_eq!(a.rollback, Rollback::StopNewNodes);
        let g = a.rollback.guidance();
        assert!(g.contains("old nodes still work"), "{g}");
        assert!(!g.contains("Stop every Kong node"), "{g}");
    }

    #[test]
    fn up_done_waits_for_the_nodes_then_finishes() {
        let c = Case::new("3.4.2", snap(Some(up_rows("2.8.5", "3.4.2", None))));
        let mut h = history_up("3.4.2", RunEnd::Succeeded, "2.8.5");
        h.own_backup = Some("mine".into());
        let closed = FinishGate {
            open: false,
            blockers: vec!["kong-old-1: Kong 2.8.5".into()],
        };
        let a = c.assess(Some(&h), Some(&closed));
        assert_eq!(
            a.position,
            Position::UpDone {
                kong_version: Some(v("3.4.2")),
                earlier_upgrade: false
            }
        );
        assert_eq!(a.next.kind, NextKind::Nodes);
        assert_eq!(a.rollback, Rollback::StopNewNodes);
        let open = FinishGate {
            open: true,
            blockers: vec![],
        };
        let a = c.assess(Some(&h), Some(&open));
        assert_eq!(a.next.kind, NextKind::Finish);
        assert_eq!(a.next.kong_version, Some(v("3.4.2")));
    }

    #[test]
    fn a_partial_finish_and_a_done_upgrade_roll_back_by_restore() {
        let c = Case::new("3.4.2", snap(Some(up_rows("2.8.5", "3.4.2", None))));
        let mut h = history_up("3.4.2", RunEnd::Succeeded, "2.8.5");
        h.runs.push(Run {
            command: RunCommand::Finish,
            kong_version: Some(v("3.4.2")),
            end: RunEnd::Signalled,
        });
        h.backup = Some(BackupRef {
            file: "/b/kong.dump".into(),
            sha256: "abc".into(),
            created_at: "2026-12-01T09:00:00Z".into(),
            restore: Some("pg_restore --clean --if-exists -d kong /b/kong.dump".into()),
            verified: true,
        });
        let a = c.assess(Some(&h), None);
        assert!(matches!(a.position, Position::FinishPartial { .. }));
        let Rollback::RestoreBackup { backup, ran_here } = &a.rollback else {
            panic!("{:?}", a.rollback)
        };
        assert!(ran_here);
        assert_eq!(backup.as_ref().unwrap().file, "/b/kong.dump");
        assert!(a.rollback.guidance().contains("pg_restore --clean"));
        // A backup found gone does not count.
        let mut gone = h.clone();
        gone.backup.as_mut().unwrap().verified = false;
        let a = c.assess(Some(&gone), None);
        assert!(a.rollback.guidance().contains("gone or no longer matches"));

        let done = Case::new("3.4.2", snap(Some(rows_at("3.4.2"))));
        let a = done.assess(Some(&h), None);
        assert_eq!(a.position, Position::Done);
        assert_eq!(a.next.kind, NextKind::Nothing);
        assert!(matches!(
            a.rollback,
            Rollback::RestoreBackup { ran_here: true, .. }
        ));
    }

    #[test]
    fn an_earlier_unfinished_upgrade_is_finished_by_the_release_it_matches() {
        // 3.0.2's up ran on a 2.8.5 database and never finished; the target is 3.4.2.
        let c = Case::new("3.4.2", snap(Some(up_rows("2.8.5", "3.0.2", None))));
        let a = c.assess(None, None);
        assert!(
            matches!(
                a.position,
                Position::UpDone {
                    earlier_upgrade: true,
                    ..
                }
            ),
            "{:?}",
            a.position
        );
        let step = a
            .plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::FinishPrevious)
            .unwrap();
        assert_eq!(step.kong_version, Some(v("3.0.2")));
        // A journal that says who ran it wins over the database's guess.
        let h = history_up("3.0.1", RunEnd::Succeeded, "2.8.5");
        let a = c.assess(Some(&h), None);
        let step = a
            .plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::FinishPrevious)
            .unwrap();
        assert_eq!(step.kong_version, Some(v("3.0.1")));
    }

    #[test]
    fn a_live_lock_left_by_our_interrupted_run_is_named_as_ours() {
        let mut s = snap(Some(up_rows("2.8.5", "3.4.2", Some("core/017_300_to_310"))));
        s.lock = Some(LockRow {
            owner: Some("x".into()),
            ttl: None,
            live: true,
            seconds_left: Some(42.0),
        });
        let c = Case::new("3.4.2", s);
        let h = history_up("3.4.2", RunEnd::Signalled, "2.8.5");
        let a = c.assess(Some(&h), None);
        assert_eq!(
            a.position,
            Position::InProgress {
                ours: false,
                left_by_our_interrupted_run: true,
                seconds_left: Some(42.0)
            }
        );
        assert!(a.position.describe().contains("interrupted run"));
        assert_eq!(a.next.kind, NextKind::Wait);
        assert_eq!(a.rollback, Rollback::WaitThenStopNewNodes);
        // Nobody's history: another run.
        let a = c.assess(None, None);
        assert!(matches!(
            a.position,
            Position::InProgress {
                left_by_our_interrupted_run: false,
                ..
            }
        ));
    }

    /// In-place: the old nodes are stopped before `up`, and once `up` began the way back is the
    /// verified backup with its exact command; before it, starting the old nodes again.
    #[test]
    fn in_place_rolls_back_by_restore_and_stops_the_old_nodes_before_up() {
        let fresh = Case::new("3.4.2", snap(Some(rows_at("2.8.5"))));
        let h = History {
            own_backup: Some("mine".into()),
            ..History::default()
        };
        let a = fresh.assess_as(Some(&h), None, Some(Strategy::InPlace));
        assert_eq!(a.next.kind, NextKind::Nodes);
        assert!(
            a.next.title.contains("stop every old node"),
            "{}",
            a.next.title
        );
        assert_eq!(a.rollback, Rollback::InPlaceStartOldNodes);
        // Blue-green (and no strategy) is today's: `up` next, nothing to undo.
        let a = fresh.assess_as(Some(&h), None, Some(Strategy::BlueGreen));
        assert_eq!(
            (a.next.kind, a.rollback),
            (NextKind::Up, Rollback::NothingToUndo)
        );
        // The gate open (no old node answers): `up` is next.
        let open = FinishGate {
            open: true,
            blockers: vec![],
        };
        let a = fresh.assess_as(Some(&h), Some(&open), Some(Strategy::InPlace));
        assert_eq!(a.next.kind, NextKind::Up);

        let after_up = Case::new("3.4.2", snap(Some(up_rows("2.8.5", "3.4.2", None))));
        let mut h = history_up("3.4.2", RunEnd::Succeeded, "2.8.5");
        h.backup = Some(BackupRef {
            file: "/b/kong.dump".into(),
            sha256: "abc".into(),
            created_at: "2026-12-01T09:00:00Z".into(),
            restore: Some("PGPASSWORD=... pg_restore --clean --if-exists --no-owner -h db -p 5432 -U kong -d kong /b/kong.dump".into()),
            verified: true,
        });
        let a = after_up.assess_as(Some(&h), None, Some(Strategy::InPlace));
        assert!(
            matches!(a.rollback, Rollback::InPlaceRestore { .. }),
            "{:?}",
            a.rollback
        );
        let g = a.rollback.guidance();
        assert!(
            g.contains("pg_restore --clean --if-exists --no-owner -h db"),
            "{g}"
        );
        assert!(g.contains("sha256sum /b/kong.dump"), "{g}");
        // The journal's strategy counts when none is given.
        h.strategy = Some(Strategy::InPlace);
        let a = after_up.assess(Some(&h), None);
        assert!(matches!(a.rollback, Rollback::InPlaceRestore { .. }));
        // Blue-green at the same point: stop the new nodes, no restore.
        h.strategy = Some(Strategy::BlueGreen);
        assert_eq!(
            after_up.assess(Some(&h), None).rollback,
            Rollback::StopNewNodes
        );
    }

    #[test]
    fn a_legacy_database_is_blocked_everywhere() {
        let mut s = Snapshot::empty(Db::Postgres, "public");
        s.legacy_migrations = Some(vec![(
            "core".into(),
            vec!["2015-01-12-175310_init_schema".into()],
        )]);
        let c = Case::new("3.4.2", s);
        let a = c.assess(None, None);
        assert_eq!(
            a.position,
            Position::Blocked {
                by: vec![FindingId::LegacyDatabase]
            }
        );
        assert_eq!(a.next.kind, NextKind::Fix);
        assert_eq!(a.rollback, Rollback::NothingToUndo);
        let r = auto_refusal(&a.findings, &Allowances::default()).unwrap();
        assert_eq!((r.exit, r.lifted_by), (exit::PRE_1_0, None));
        assert!(r.message().contains("No flag lifts this"));
    }
}
