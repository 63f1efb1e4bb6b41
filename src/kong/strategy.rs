//! The upgrade strategy, chosen as Kong's upgrade guide chooses it (kong-upgrades.md 1.1, 1.6):
//! from the deployment mode, the version jump, the old nodes' exact versions and whether a second
//! cluster and database can be had. Kong's recommendation with its reason, the other strategies
//! that are allowed here, and the refused ones with why. Pure: the wizard, `plan` and `auto` all
//! read their answer from [`choose`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::plan::LTS_PAIRS;
use super::version::Version;

/// The four ways Kong's guide upgrades a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A second cluster on a copy of the database: the copy is migrated, traffic shifts over.
    DualCluster,
    /// Every old node stopped, then `up` and `finish` on the same database: downtime.
    InPlace,
    /// New nodes on the same database after `up`, old ones stopped before `finish`.
    BlueGreen,
    /// DB-less nodes and data planes replaced one by one: no migrations.
    Rolling,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::DualCluster,
        Strategy::InPlace,
        Strategy::BlueGreen,
        Strategy::Rolling,
    ];

    /// The name on the command line, in JSON and in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::DualCluster => "dual-cluster",
            Strategy::InPlace => "in-place",
            Strategy::BlueGreen => "blue-green",
            Strategy::Rolling => "rolling",
        }
    }

    /// A one-line description for menus.
    pub fn summary(self) -> &'static str {
        match self {
            Strategy::DualCluster => "a second cluster on a copy of the database; traffic shifts to it, the old database is never written",
            Strategy::InPlace => "stop every old node, then `up` and `finish` on the same database; downtime until the new nodes serve",
            Strategy::BlueGreen => "new nodes on the same database after `up`; old nodes stopped before `finish`",
            Strategy::Rolling => "replace DB-less nodes or data planes one by one; no migrations",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| {
                format!("'{s}' is not a strategy: dual-cluster, in-place, blue-green or rolling")
            })
    }
}

/// How the Kong cluster being upgraded is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployment {
    /// Nodes on a database, each serving traffic and the Admin API (`role = traditional`).
    Traditional,
    /// A control plane on the database, with data planes (`role = control_plane`, or rows in
    /// `clustering_data_planes`).
    HybridControlPlane,
    /// Nodes without a database (`database = off`).
    DbLess,
    /// A hybrid data plane (`role = data_plane`): no database of its own.
    DataPlane,
    /// Not known: kongrade was not told and could not see it.
    Unknown,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Traditional => "traditional",
            Deployment::HybridControlPlane => "hybrid",
            Deployment::DbLess => "db-less",
            Deployment::DataPlane => "data-plane",
            Deployment::Unknown => "unknown",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Deployment::Traditional => "traditional mode",
            Deployment::HybridControlPlane => "hybrid mode (a control plane with data planes)",
            Deployment::DbLess => "DB-less nodes",
            Deployment::DataPlane => "hybrid data planes",
            Deployment::Unknown => "a deployment mode kongrade does not know",
        }
    }

    /// Whether the nodes keep their configuration in a database that migrations change.
    pub fn has_database(self) -> bool {
        !matches!(self, Deployment::DbLess | Deployment::DataPlane)
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The deployment as one node's Admin API `GET /` describes it: `configuration.role`
/// (`traditional`, `control_plane`, `data_plane`) and `configuration.database` (`off` is
/// DB-less). `None` when the answer says neither.
pub fn deployment_from_root(body: &serde_json::Value) -> Option<Deployment> {
    let conf = body.get("configuration")?;
    let role = conf.get("role").and_then(|v| v.as_str());
    let database = conf.get("database").and_then(|v| v.as_str());
    match (role, database) {
        (Some("control_plane"), _) => Some(Deployment::HybridControlPlane),
        (Some("data_plane"), _) => Some(Deployment::DataPlane),
        (_, Some("off")) => Some(Deployment::DbLess),
        (Some("traditional"), _) => Some(Deployment::Traditional),
        // Before hybrid mode (2.0) there was no role: a node on a database is traditional.
        (None, Some(_)) => Some(Deployment::Traditional),
        _ => None,
    }
}

/// The size of the version jump, as Kong's guide tells jumps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jump {
    /// Within one minor series (3.4.1 -> 3.4.2).
    Patch,
    /// To the next minor of the same major (3.3 -> 3.4).
    AdjacentMinor,
    /// Over more than one minor of the same major (3.4 -> 3.9).
    SeveralMinors,
    /// To another major (2.8 -> 3.0, 2.x -> 3.y).
    Major,
    /// One of Kong's LTS pairs (2.8 -> 3.4, 3.4 -> 3.10): its own guide applies.
    LtsPair,
    /// The database's or the target's version is not known.
    Unknown,
}

impl Jump {
    pub fn as_str(self) -> &'static str {
        match self {
            Jump::Patch => "patch",
            Jump::AdjacentMinor => "adjacent-minor",
            Jump::SeveralMinors => "several-minors",
            Jump::Major => "major",
            Jump::LtsPair => "lts-pair",
            Jump::Unknown => "unknown",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Jump::Patch => "a patch upgrade",
            Jump::AdjacentMinor => "an upgrade to the next minor release",
            Jump::SeveralMinors => "an upgrade over several minor releases",
            Jump::Major => "a major upgrade",
            Jump::LtsPair => "an LTS-to-LTS upgrade",
            Jump::Unknown => "an upgrade of unknown size",
        }
    }
}

/// The jump from the database's version to the target.
pub fn classify_jump(from: Option<Version>, to: Option<Version>) -> Jump {
    let (Some(f), Some(t)) = (from, to) else {
        return Jump::Unknown;
    };
    if f.series() == t.series() || t < f {
        Jump::Patch
    } else if LTS_PAIRS.contains(&(f.series(), t.series())) {
        Jump::LtsPair
    } else if f.major != t.major {
        Jump::Major
    } else if t.minor == f.minor + 1 {
        Jump::AdjacentMinor
    } else {
        Jump::SeveralMinors
    }
}

/// What the operator said on the command line (or in the wizard): each `None` is not said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    /// `--strategy`: the strategy to follow (refused with why when Kong's guide does not allow
    /// it here).
    pub strategy: Option<Strategy>,
    /// `--deployment`: how the cluster is deployed, when kongrade cannot see it.
    pub deployment: Option<Deployment>,
    /// `--second-cluster yes|no`: whether a second cluster and database can be had.
    pub second_cluster: Option<bool>,
}

/// One old node as its Admin API answered: its exact version, or `None` when it answered as
/// Kong but its version could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldNode {
    pub name: String,
    pub version: Option<Version>,
}

/// Everything the choice depends on.
#[derive(Clone, Copy, Debug)]
pub struct StrategyInput<'a> {
    pub deployment: Deployment,
    /// Where the upgrade is judged from (the database's version).
    pub from: Option<Version>,
    pub to: Option<Version>,
    /// The old nodes that answered (empty: none was probed, so their versions are unknown).
    pub old_nodes: &'a [OldNode],
    /// Whether a second cluster and database can be had (`None`: not asked).
    pub second_cluster: Option<bool>,
}

/// A strategy allowed here, with why (and what to know before choosing it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub strategy: Strategy,
    pub why: String,
    /// Kong's cautions for this strategy on this upgrade.
    pub caveats: Vec<String>,
}

/// A strategy refused here, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub strategy: Strategy,
    pub why: String,
}

/// The answer: Kong's recommendation, the alternatives, the refusals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub deployment: Deployment,
    pub jump: Jump,
    pub recommended: Strategy,
    /// Why Kong's guide recommends it here.
    pub reason: String,
    /// Every allowed strategy, the recommended one first.
    pub allowed: Vec<Offer>,
    pub refused: Vec<Refused>,
    /// What comes after the recommended strategy (hybrid: roll the data planes).
    pub then: Option<String>,
    /// What kongrade does not know and how to tell it (each changes the answer).
    pub unknowns: Vec<String>,
}

impl Choice {
    /// The offer for `s`, or why it is refused.
    pub fn check(&self, s: Strategy) -> Result<&Offer, &Refused> {
        if let Some(o) = self.allowed.iter().find(|o| o.strategy == s) {
            return Ok(o);
        }
        match self.refused.iter().find(|r| r.strategy == s) {
            Some(r) => Err(r),
            // Every strategy is either allowed or refused (a test holds [`choose`] to it).
            None => unreachable!("{s} is neither allowed nor refused"),
        }
    }

    pub fn offer(&self, s: Strategy) -> Option<&Offer> {
        self.allowed.iter().find(|o| o.strategy == s)
    }

    /// The message for an explicitly asked strategy that is refused: why, and what is allowed.
    pub fn refusal_message(&self, s: Strategy) -> Option<String> {
        let r = self.check(s).err()?;
        let mut m = format!("Refused: --strategy {s}: {}\n", r.why);
        m.push_str(&format!(
            "Kong's guide recommends {} here: {}\n",
            self.recommended, self.reason
        ));
        let others: Vec<&str> = self.allowed.iter().map(|o| o.strategy.as_str()).collect();
        m.push_str(&format!("Allowed here: {}.", others.join(", ")));
        for u in &self.unknowns {
            m.push_str(&format!("\n  {u}"));
        }
        Some(m)
    }

    /// The human rendering, as `plan` prints it.
    pub fn render(&self, chosen: Option<Strategy>) -> String {
        let mut s = format!(
            "Strategy: {} ({}; {})\n",
            match chosen {
                Some(c) => format!("{c} (chosen)"),
                None => format!("{} (Kong's recommendation)", self.recommended),
            },
            self.deployment.describe(),
            self.jump.describe()
        );
        s.push_str(&format!(
            "  Kong recommends {}: {}\n",
            self.recommended, self.reason
        ));
        if let Some(t) = &self.then {
            s.push_str(&format!("  Then: {t}\n"));
        }
        for o in &self.allowed {
            let mark = if Some(o.strategy) == chosen { "*" } else { " " };
            s.push_str(&format!(
                "  {mark} allowed  {:<13} {}\n",
                o.strategy.as_str(),
                o.why
            ));
            for c in &o.caveats {
                s.push_str(&format!("                         caution: {c}\n"));
            }
        }
        for r in &self.refused {
            s.push_str(&format!(
                "    refused  {:<13} {}\n",
                r.strategy.as_str(),
                r.why
            ));
        }
        for u in &self.unknowns {
            s.push_str(&format!("  ? {u}\n"));
        }
        s
    }
}

/// What `auto` may run when no `--strategy` is given. auto's own procedure is the shared
/// database's (`up` while old nodes serve, `finish` later): blue-green's. It never runs a
/// procedure Kong's guide refuses, so where blue-green is refused it runs nothing and says how
/// to run each strategy that is allowed (the lead's rule, issue 14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unasked {
    /// Blue-green is allowed here: the shared-database procedure runs (Kong's recommendation is
    /// said, and its caveats).
    SharedDatabase,
    /// Nothing is upgraded (a fresh database is bootstrapped, or it is up to date): no strategy
    /// applies.
    NoUpgrade,
    /// Blue-green is refused: the whole message (why, Kong's recommendation, one command line
    /// per allowed strategy), and those command lines.
    Refused {
        message: String,
        commands: Vec<(Strategy, String)>,
    },
}

/// What is left of the upgrade for auto to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A fresh database (bootstrap) or one up to date: no upgrade.
    Nothing,
    /// `up` has migrations to run (then `finish`).
    Up,
    /// Only `finish` remains: an `up` already ran.
    FinishOnly,
}

impl Work {
    /// What is left of the upgrade in `state`: a database to bootstrap or one up to date is no
    /// upgrade; new migrations mean `up` is due (pending ones besides are finished with it);
    /// pending ones alone mean an `up` already ran.
    pub fn of(state: &super::state::SchemaState) -> Work {
        use super::state::MigState;
        if state.needs_bootstrap {
            Work::Nothing
        } else if state.total(MigState::New) > 0 {
            Work::Up
        } else if state.total(MigState::Pending) > 0 {
            Work::FinishOnly
        } else {
            Work::Nothing
        }
    }
}

/// What the command lines offered by [`unasked`] start from.
#[derive(Clone, Debug, Default)]
pub struct CommandHints {
    /// The command line as given (secrets redacted), `kongrade auto ...`.
    pub base: String,
    /// Whether old nodes' Admin APIs were given (`--admin-url`, `--nodes-file`).
    pub admin_urls_given: bool,
    /// Whether the database is PostgreSQL (dual-cluster clones it with pg_dump).
    pub postgres: bool,
}

/// The command line that runs `s` from `hints.base` (placeholders in capitals for what only the
/// operator knows).
pub fn command_for(s: Strategy, hints: &CommandHints) -> String {
    let base = hints.base.trim_end();
    match s {
        Strategy::InPlace => format!(
            "{base} --strategy in-place --writes-frozen{} --new-admin-url NEW_ADMIN_URL",
            if hints.admin_urls_given {
                ""
            } else {
                " --admin-url OLD_ADMIN_URL"
            }
        ),
        Strategy::DualCluster if !hints.postgres => {
            "dual-cluster clones a PostgreSQL database (pg_dump | pg_restore): not available on Cassandra".into()
        }
        Strategy::DualCluster => format!(
            "{base} --strategy dual-cluster --clone-database CLONE_NAME --new-admin-url NEW_ADMIN_URL --smoke 'GET http://NEW_PROXY:8000/ 200'"
        ),
        Strategy::BlueGreen => format!("{base} --strategy blue-green"),
        // auto runs nothing for rolling: plan lists the data planes in the order to replace them.
        Strategy::Rolling => "kongrade plan --strategy rolling".into(),
    }
}

/// auto's decision without `--strategy`, for the upgrade `i` with `work` left to run, judged
/// by `choice`: Kong's choice for `i` ([`choose`]), which the caller computed once for the run.
///
/// The old nodes' versions count only while `up` is due: the 2.8.2 floor protects old nodes
/// reading the rows `up` rewrites while they serve. Once `up` ran, they are stopped before
/// `finish` (`--finish=when-no-old-nodes` checks it), so a node no longer answering does not
/// refuse the finish; the LTS pair and a database from before 2.8 still do.
pub fn unasked(
    i: &StrategyInput<'_>,
    choice: &Choice,
    work: Work,
    hints: &CommandHints,
) -> Unasked {
    let why = match work {
        Work::Nothing => return Unasked::NoUpgrade,
        Work::Up => choice
            .check(Strategy::BlueGreen)
            .err()
            .map(|r| r.why.clone()),
        Work::FinishOnly => blue_green_refusal(i, choice.jump, false),
    };
    let Some(why) = why else {
        return Unasked::SharedDatabase;
    };
    let commands: Vec<(Strategy, String)> = choice
        .allowed
        .iter()
        .filter(|o| o.strategy != Strategy::BlueGreen)
        .map(|o| (o.strategy, command_for(o.strategy, hints)))
        .collect();
    let mut m = format!(
        "Refused: no --strategy was given, and auto's own procedure (`up` on the shared database while old nodes serve: blue-green) is refused here: {why}\nKong's guide recommends {} here: {}\nRun one of the strategies allowed here:",
        choice.recommended, choice.reason
    );
    for (s, c) in &commands {
        m.push_str(&format!("\n  {s}: {c}"));
    }
    for u in &choice.unknowns {
        m.push_str(&format!("\n  note: {u}"));
    }
    m.push_str("\nNothing was run.");
    Unasked::Refused {
        message: m,
        commands,
    }
}

/// A running clock for in-place's downtime: `45 s`, `1 min 20 s`, `2 h 5 min`.
pub fn clock(secs: u64) -> String {
    // The project's one duration wording (rehearse's times); only zero reads in seconds here.
    match secs {
        0 => "0 s".into(),
        _ => crate::contract::clone::human_ms(secs.saturating_mul(1000)),
    }
}

/// The line in-place prints every few seconds while the proxy is down.
pub fn downtime_line(secs: u64) -> String {
    format!("downtime {} (since the old nodes stopped)", clock(secs))
}

/// The oldest source from which a shared-database (blue-green) upgrade to 3.x works: 3.0's `up`
/// prefixes regex `routes.paths` with `~`, which only 2.8.2+ routers read (kong-upgrades.md 1.4).
pub const BLUE_GREEN_3X_FLOOR: Version = Version::new(2, 8, 2);

const GUIDE: &str = "Kong's upgrade guide (developer.konghq.com/gateway/upgrade/)";

/// Kong's cautions for a strategy on the jump `from` -> `to`.
pub fn caveats(s: Strategy, from: Option<Version>, to: Option<Version>) -> Vec<String> {
    let crosses = |v: Version| from.is_none_or(|f| f < v) && to.is_some_and(|t| t >= v);
    let mut out = Vec::new();
    match s {
        Strategy::BlueGreen => {
            if crosses(Version::new(3, 2, 0)) {
                out.push("Sessions: from 3.2 the session plugin invalidates every existing session, and old and new nodes invalidate each other's sessions while both serve; keep the mixed window short (CL 3.2.0).".into());
            }
            out.push("Rows written by traffic during the window (rate-limiting counters, OAuth2 tokens and codes, sessions, ACME) stay in the shared database in the new format if you roll back.".into());
            out.push("Kong supports blue-green only in a limited way and advises it only between patch versions.".into());
        }
        Strategy::DualCluster => {
            out.push("Rows written by traffic split between the two databases (ratelimiting_metrics, response_ratelimiting_metrics, oauth2_tokens, oauth2_authorization_codes, sessions, acme_storage): tokens or sessions the old cluster issues after the copy do not exist on the new one.".into());
            out.push("The new cluster needs the same capacity as the old one, and configuration writes stay frozen until the old cluster is retired.".into());
        }
        Strategy::InPlace => {
            out.push("Downtime: the proxy is down from the moment the old nodes stop until the new nodes serve (a hybrid control plane's data planes keep serving their cached configuration).".into());
            out.push(
                "Rolling back after `up` means restoring the backup: every write since it is lost."
                    .into(),
            );
        }
        Strategy::Rolling => {
            out.push("Data planes: same major as the control plane, minor not newer; OSS 3.1.x data planes cannot reach a 3.2+ control plane. Upgrade the control plane first.".into());
        }
    }
    out
}

/// Why blue-green is refused on this upgrade, if it is. `nodes_matter`: the old nodes' versions
/// count (false once `up` ran, see [`unasked`]).
fn blue_green_refusal(i: &StrategyInput<'_>, jump: Jump, nodes_matter: bool) -> Option<String> {
    if jump == Jump::LtsPair {
        return Some(
            "Kong's LTS upgrade guides (2.8 -> 3.4, 3.4 -> 3.10) offer no blue-green: only dual-cluster, in-place and rolling.".into(),
        );
    }
    let to_3x = i.to.is_some_and(|t| t.major >= 3) && i.from.is_none_or(|f| f.major < 3);
    if !to_3x {
        return None;
    }
    if let Some(f) = i.from.filter(|f| *f < Version::new(2, 1, 0)) {
        return Some(format!(
            "blue-green to 3.x is not supported from before 2.1.0 (the database is at {f}; CL 3.0.0)."
        ));
    }
    if let Some(f) = i.from.filter(|f| f.series() < (2, 8)) {
        return Some(format!(
            "blue-green to 3.x needs every old node at {BLUE_GREEN_3X_FLOOR} or later, and the database is at {f}: 3.0's `up` rewrites routes.paths with the `~` prefix that older routers cannot read. Move to {BLUE_GREEN_3X_FLOOR}+ first."
        ));
    }
    if !nodes_matter {
        return None;
    }
    if i.old_nodes.is_empty() {
        return Some(format!(
            "blue-green to 3.x needs every old node at {BLUE_GREEN_3X_FLOOR} or later (3.0's `up` rewrites routes.paths with the `~` prefix older routers cannot read), and the database cannot tell 2.8.1 from 2.8.2: give each old node's Admin API with --admin-url so kongrade reads its exact version."
        ));
    }
    let bad: Vec<String> = i
        .old_nodes
        .iter()
        .filter(|n| n.version.is_none_or(|v| v < BLUE_GREEN_3X_FLOOR))
        .map(|n| match n.version {
            Some(v) => format!("{} is {v}", n.name),
            None => format!("{}'s version is unreadable", n.name),
        })
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some(format!(
        "blue-green to 3.x needs every old node at {BLUE_GREEN_3X_FLOOR} or later (3.0's `up` rewrites routes.paths with the `~` prefix older routers cannot read): {}.",
        bad.join(", ")
    ))
}

/// Kong's choice for this upgrade.
pub fn choose(i: &StrategyInput<'_>) -> Choice {
    let jump = classify_jump(i.from, i.to);
    let offer = |s: Strategy, why: String| Offer {
        strategy: s,
        why,
        caveats: caveats(s, i.from, i.to),
    };
    let refuse = |s: Strategy, why: String| Refused { strategy: s, why };
    let mut unknowns = Vec::new();
    if i.deployment == Deployment::Unknown {
        unknowns.push("The deployment mode is not known, so it is taken as one on a database (traditional or a hybrid control plane): pass --admin-url (its `GET /` says the role) or --deployment traditional|hybrid|db-less|data-plane.".to_string());
    }

    if !i.deployment.has_database() {
        let no_db = format!(
            "{} have no database to migrate; Kong's guide upgrades them only by rolling.",
            match i.deployment {
                Deployment::DbLess => "DB-less nodes",
                _ => "Data planes",
            }
        );
        return Choice {
            deployment: i.deployment,
            jump,
            recommended: Strategy::Rolling,
            reason: format!("{GUIDE}: rolling is the only strategy for {}: add new nodes, shift traffic, retire the old ones; no migrations run.", i.deployment.describe()),
            allowed: vec![offer(Strategy::Rolling, "the only strategy here: no migrations; replace the nodes one by one".into())],
            refused: [Strategy::DualCluster, Strategy::InPlace, Strategy::BlueGreen]
                .into_iter()
                .map(|s| refuse(s, no_db.clone()))
                .collect(),
            then: None,
            unknowns,
        };
    }

    // Traditional mode, a hybrid control plane, or not known (then a database is in use: it is
    // judged as traditional).
    let hybrid = i.deployment == Deployment::HybridControlPlane;
    let mode = if hybrid {
        "a hybrid control plane"
    } else {
        "traditional mode"
    };
    let (recommended, reason) = match i.second_cluster {
        Some(false) => (
            Strategy::InPlace,
            format!("{GUIDE}: for {mode} without the resources for a second cluster, in-place (Kong advises it only then: it means downtime{}).", if hybrid { " for the control plane; data planes keep serving" } else { "" }),
        ),
        Some(true) => (
            Strategy::DualCluster,
            format!("{GUIDE}: for {mode} with the resources for a second cluster, dual-cluster: no downtime, and the old database is never touched, so rolling back is sending traffic back."),
        ),
        None => {
            unknowns.push("Whether a second cluster and database can be had was not asked: Kong recommends dual-cluster if yes, in-place if not (--second-cluster yes|no).".to_string());
            (
                Strategy::DualCluster,
                format!("{GUIDE}: for {mode}, dual-cluster when a second cluster can be run (no downtime, the old database untouched), else in-place."),
            )
        }
    };
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    let dual_why = "a copy of the database migrated by the new cluster; traffic shifts over, rollback is sending it back".to_string();
    let in_place_why =
        "every old node stopped, then `up` and `finish` on this database; rollback is the backup"
            .to_string();
    match i.second_cluster {
        Some(false) => {
            allowed.push(offer(Strategy::InPlace, in_place_why));
            refused.push(refuse(
                Strategy::DualCluster,
                "no second cluster and database can be had (as you said).".into(),
            ));
        }
        _ => {
            allowed.push(offer(Strategy::DualCluster, dual_why));
            allowed.push(offer(Strategy::InPlace, in_place_why));
        }
    }
    if recommended == Strategy::InPlace {
        allowed.sort_by_key(|o| o.strategy != Strategy::InPlace);
    }
    match blue_green_refusal(i, jump, true) {
        Some(why) => refused.push(refuse(Strategy::BlueGreen, why)),
        None => allowed.push(offer(
            Strategy::BlueGreen,
            if jump == Jump::Patch {
                "Kong allows it between patch versions: `up` while old nodes serve, new nodes started, old ones stopped, then `finish`".into()
            } else {
                format!("not recommended for {}: Kong advises blue-green only between patch versions and supports it in a limited way", jump.describe())
            },
        )),
    }
    if hybrid {
        allowed.push(offer(
            Strategy::Rolling,
            "for the data planes only, once the control plane is upgraded: no migrations".into(),
        ));
    } else {
        refused.push(refuse(
            Strategy::Rolling,
            "rolling is for DB-less nodes and hybrid data planes: nodes on a database need its migrations run (if these are DB-less nodes or data planes, say so with --deployment).".into(),
        ));
    }
    Choice {
        deployment: i.deployment,
        jump,
        recommended,
        reason,
        allowed,
        refused,
        then: hybrid.then(|| "roll the data planes (rolling): the control plane first, then each data plane replaced by one of the new version (kongrade plan --strategy rolling).".to_string()),
        unknowns,
    }
}

/// Kong's data plane rules (kong-upgrades.md 1.0-6, 1.5), as rolling states them.
pub const ROLLING_RULES: &[&str] = &[
    "Upgrade the control plane first (its database with dual-cluster or in-place), then replace the data planes one by one.",
    "A data plane must have the control plane's major version, and a minor not newer than the control plane's (a newer patch is accepted).",
    "OSS 3.1.x data planes (wRPC only) cannot connect to a 3.2+ control plane.",
    "Data planes the new control plane rejects keep serving their last configuration but get no updates (sync_status kong_version_incompatible) until replaced.",
];

/// Why a data plane of version `dp` cannot get configuration from a control plane of version
/// `cp` (Kong's compatibility check), or `None` when it can.
pub fn dp_incompatible(cp: Version, dp: Version) -> Option<String> {
    if dp.major != cp.major {
        return Some(format!(
            "major {} differs from the control plane's {cp}",
            dp.major
        ));
    }
    if dp.minor > cp.minor {
        return Some(format!("minor newer than the control plane's {cp}"));
    }
    if dp.series() == (3, 1) && cp >= Version::new(3, 2, 0) {
        return Some(format!(
            "OSS 3.1.x data planes cannot reach a {cp} control plane (3.2 dropped wRPC)"
        ));
    }
    None
}

/// One data plane to replace, in the order to replace it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataPlaneStep {
    pub order: usize,
    pub id: String,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub sync_status: Option<String>,
    pub config_hash: Option<String>,
    pub last_seen_secs_ago: Option<f64>,
    /// Why the upgraded control plane cannot serve it as it is (replace it early).
    pub cut_off: Option<String>,
}

/// The data planes from `clustering_data_planes` in the order to replace them once the control
/// plane runs `cp`: first those it cannot serve (they run stale configuration), then those not
/// in sync, then the oldest versions; hostname breaks ties. kongrade's order: Kong's guide says
/// only "control plane first, then the data planes".
pub fn rolling_order(
    rows: &[super::snapshot::DataPlaneRow],
    cp: Option<Version>,
) -> Vec<DataPlaneStep> {
    let mut steps: Vec<DataPlaneStep> = rows
        .iter()
        .map(|r| {
            let v = r.version.as_deref().and_then(Version::find_in);
            let cut_off = match (cp, v) {
                (Some(cp), Some(v)) => dp_incompatible(cp, v),
                (Some(_), None) => Some("its version is unknown".into()),
                _ => None,
            };
            DataPlaneStep {
                order: 0,
                id: r.id.clone(),
                hostname: r.hostname.clone(),
                ip: r.ip.clone(),
                version: r.version.clone(),
                sync_status: r.sync_status.clone(),
                config_hash: r.config_hash.clone(),
                last_seen_secs_ago: r.last_seen_secs_ago,
                cut_off,
            }
        })
        .collect();
    steps.sort_by(|a, b| {
        let key = |d: &DataPlaneStep| {
            (
                d.cut_off.is_none(),
                d.sync_status.as_deref() == Some("normal"),
                d.version.as_deref().and_then(Version::find_in),
                d.hostname.clone().unwrap_or_else(|| d.id.clone()),
            )
        };
        key(a).cmp(&key(b))
    });
    for (i, d) in steps.iter_mut().enumerate() {
        d.order = i + 1;
    }
    steps
}

/// The rolling plan as text: the rules, then each data plane in order.
pub fn render_rolling(steps: &[DataPlaneStep], cp: Option<Version>) -> String {
    let mut s = String::from("Rolling (no migrations):\n");
    for r in ROLLING_RULES {
        s.push_str(&format!("  - {r}\n"));
    }
    if steps.is_empty() {
        s.push_str("  No data planes are recorded in clustering_data_planes (DB-less nodes are recorded nowhere): replace each node, validating the declarative configuration with the new version's `kong config parse` first.\n");
        return s;
    }
    s.push_str(&format!(
        "  Data planes, in the order to replace them{}:\n",
        cp.map(|v| format!(" with Kong {v} ones"))
            .unwrap_or_default()
    ));
    for d in steps {
        s.push_str(&format!(
            "  {:>2}. {} ({}) Kong {}, sync_status {}, config_hash {}{}\n",
            d.order,
            d.hostname.clone().unwrap_or_else(|| d.id.clone()),
            d.ip.clone().unwrap_or_default(),
            d.version.as_deref().unwrap_or("?"),
            d.sync_status.as_deref().unwrap_or("?"),
            d.config_hash.as_deref().unwrap_or("?"),
            d.last_seen_secs_ago
                .map(|a| format!(", seen {a:.0} s ago"))
                .unwrap_or_default(),
        ));
        if let Some(c) = &d.cut_off {
            s.push_str(&format!("      cut off by the new control plane: {c}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn nodes(vs: &[Option<&str>]) -> Vec<OldNode> {
        vs.iter()
            .enumerate()
            .map(|(i, s)| OldNode {
                name: format!("http://node-{i}:8001"),
                version: s.map(v),
            })
            .collect()
    }

    #[test]
    fn jumps_are_told_apart() {
        let j = |a: &str, b: &str| classify_jump(Some(v(a)), Some(v(b)));
        assert_eq!(j("3.4.1", "3.4.2"), Jump::Patch);
        assert_eq!(j("3.3.1", "3.4.2"), Jump::AdjacentMinor);
        assert_eq!(j("3.4.2", "3.9.3"), Jump::SeveralMinors);
        assert_eq!(j("2.8.5", "3.0.2"), Jump::Major);
        assert_eq!(j("2.7.1", "3.4.2"), Jump::Major);
        assert_eq!(j("2.8.5", "3.4.2"), Jump::LtsPair);
        assert_eq!(classify_jump(None, Some(v("3.4.2"))), Jump::Unknown);
    }

    #[test]
    fn names_round_trip_on_the_command_line_and_in_json() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("blue_green".parse::<Strategy>().is_err());
        assert_eq!(
            serde_json::to_value(Deployment::HybridControlPlane).unwrap(),
            serde_json::json!("hybrid-control-plane")
        );
    }

    #[test]
    fn the_role_and_database_of_get_root_say_the_deployment() {
        let d = |j: serde_json::Value| deployment_from_root(&j);
        use serde_json::json;
        assert_eq!(
            d(json!({"configuration": {"role": "traditional", "database": "postgres"}})),
            Some(Deployment::Traditional)
        );
        assert_eq!(
            d(json!({"configuration": {"role": "control_plane", "database": "postgres"}})),
            Some(Deployment::HybridControlPlane)
        );
        assert_eq!(
            d(json!({"configuration": {"role": "data_plane", "database": "off"}})),
            Some(Deployment::DataPlane)
        );
        assert_eq!(
            d(json!({"configuration": {"role": "traditional", "database": "off"}})),
            Some(Deployment::DbLess)
        );
        assert_eq!(
            d(json!({"configuration": {"database": "cassandra"}})),
            Some(Deployment::Traditional)
        );
        assert_eq!(d(json!({"version": "3.4.2"})), None);
    }

    /// One row of the table: the input, then what is recommended, allowed and refused.
    struct Row {
        deployment: Deployment,
        from: &'static str,
        to: &'static str,
        old: &'static [Option<&'static str>],
        second: Option<bool>,
        recommended: Strategy,
        allowed: &'static [Strategy],
        refused: &'static [Strategy],
        /// A word the refusal of each refused strategy (in order) must contain.
        refused_because: &'static [&'static str],
    }

    use Deployment as D;
    use Strategy as S;

    const TABLE: &[Row] = &[
        // Traditional, patch, nodes known: blue-green allowed as Kong allows it.
        Row {
            deployment: D::Traditional,
            from: "3.4.1",
            to: "3.4.2",
            old: &[Some("3.4.1")],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace, S::BlueGreen],
            refused: &[S::Rolling],
            refused_because: &["DB-less"],
        },
        // No second cluster: in-place recommended, dual-cluster refused.
        Row {
            deployment: D::Traditional,
            from: "3.3.2",
            to: "3.4.2",
            old: &[],
            second: Some(false),
            recommended: S::InPlace,
            allowed: &[S::InPlace, S::BlueGreen],
            refused: &[S::DualCluster, S::Rolling],
            refused_because: &["no second cluster", "data planes"],
        },
        // The LTS pair: no blue-green at all, whatever the nodes.
        Row {
            deployment: D::Traditional,
            from: "2.8.5",
            to: "3.4.2",
            old: &[Some("2.8.5")],
            second: Some(true),
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace],
            refused: &[S::BlueGreen, S::Rolling],
            refused_because: &["LTS", "DB-less"],
        },
        // 2.8 -> 3.0 with a 2.8.1 node: blue-green refused, named.
        Row {
            deployment: D::Traditional,
            from: "2.8.1",
            to: "3.0.2",
            old: &[Some("2.8.2"), Some("2.8.1")],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace],
            refused: &[S::BlueGreen, S::Rolling],
            refused_because: &["node-1:8001 is 2.8.1", "DB-less"],
        },
        // 2.8 -> 3.0, no node probed: the database cannot tell 2.8.1 from 2.8.2.
        Row {
            deployment: D::Unknown,
            from: "2.8.2",
            to: "3.0.2",
            old: &[],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace],
            refused: &[S::BlueGreen, S::Rolling],
            refused_because: &["--admin-url", "DB-less"],
        },
        // 2.8 -> 3.0, a node whose version is unreadable: refused too.
        Row {
            deployment: D::Traditional,
            from: "2.8.5",
            to: "3.0.2",
            old: &[None],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace],
            refused: &[S::BlueGreen, S::Rolling],
            refused_because: &["unreadable", "DB-less"],
        },
        // 2.8.5 nodes -> 3.0: blue-green allowed (not recommended: a major).
        Row {
            deployment: D::Traditional,
            from: "2.8.5",
            to: "3.0.2",
            old: &[Some("2.8.5"), Some("2.8.2")],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace, S::BlueGreen],
            refused: &[S::Rolling],
            refused_because: &["DB-less"],
        },
        // A 2.7 database to 3.0 (Kong's 3.0 accepts it): blue-green refused by the database.
        Row {
            deployment: D::Traditional,
            from: "2.7.2",
            to: "3.0.2",
            old: &[Some("2.8.5")],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace],
            refused: &[S::BlueGreen, S::Rolling],
            refused_because: &["database is at 2.7.2", "DB-less"],
        },
        // Several minors within 3.x: blue-green allowed (not recommended).
        Row {
            deployment: D::Traditional,
            from: "3.4.2",
            to: "3.9.3",
            old: &[],
            second: Some(true),
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace, S::BlueGreen],
            refused: &[S::Rolling],
            refused_because: &["DB-less"],
        },
        // Hybrid control plane: traditional choice for the CP, rolling for the DPs.
        Row {
            deployment: D::HybridControlPlane,
            from: "3.3.2",
            to: "3.4.2",
            old: &[],
            second: Some(false),
            recommended: S::InPlace,
            allowed: &[S::InPlace, S::BlueGreen, S::Rolling],
            refused: &[S::DualCluster],
            refused_because: &["no second cluster"],
        },
        Row {
            deployment: D::HybridControlPlane,
            from: "2.8.5",
            to: "3.4.2",
            old: &[],
            second: None,
            recommended: S::DualCluster,
            allowed: &[S::DualCluster, S::InPlace, S::Rolling],
            refused: &[S::BlueGreen],
            refused_because: &["LTS"],
        },
        // DB-less and data planes: rolling only.
        Row {
            deployment: D::DbLess,
            from: "2.8.5",
            to: "3.4.2",
            old: &[],
            second: Some(true),
            recommended: S::Rolling,
            allowed: &[S::Rolling],
            refused: &[S::DualCluster, S::InPlace, S::BlueGreen],
            refused_because: &["no database", "no database", "no database"],
        },
        Row {
            deployment: D::DataPlane,
            from: "3.4.1",
            to: "3.4.2",
            old: &[Some("3.4.1")],
            second: None,
            recommended: S::Rolling,
            allowed: &[S::Rolling],
            refused: &[S::DualCluster, S::InPlace, S::BlueGreen],
            refused_because: &["no database", "no database", "no database"],
        },
    ];

    #[test]
    fn the_choice_table() {
        for (n, r) in TABLE.iter().enumerate() {
            let old = nodes(r.old);
            let c = choose(&StrategyInput {
                deployment: r.deployment,
                from: Some(v(r.from)),
                to: Some(v(r.to)),
                old_nodes: &old,
                second_cluster: r.second,
            });
            let ctx = format!(
                "row {n}: {:?} {} -> {}\n{}",
                r.deployment,
                r.from,
                r.to,
                c.render(None)
            );
            assert_eq!(c.recommended, r.recommended, "{ctx}");
            let allowed: Vec<Strategy> = c.allowed.iter().map(|o| o.strategy).collect();
            assert_eq!(allowed, r.allowed, "{ctx}");
            assert_eq!(allowed[0], c.recommended, "recommended first: {ctx}");
            let refused: Vec<Strategy> = c.refused.iter().map(|x| x.strategy).collect();
            assert_eq!(refused, r.refused, "{ctx}");
            for (x, word) in c.refused.iter().zip(r.refused_because) {
                assert!(x.why.contains(word), "{ctx}\n{} lacks {word:?}", x.why);
            }
            // Every strategy is allowed or refused, never both.
            for s in Strategy::ALL {
                assert_eq!(
                    allowed.contains(&s) as u8 + refused.contains(&s) as u8,
                    1,
                    "{s}: {ctx}"
                );
                let _ = c.check(s);
            }
            assert!(c.reason.contains("Kong's upgrade guide"), "{ctx}");
            assert_eq!(
                c.then.is_some(),
                r.deployment == D::HybridControlPlane,
                "{ctx}"
            );
            assert_eq!(
                c.unknowns.iter().any(|u| u.contains("--deployment")),
                r.deployment == D::Unknown,
                "{ctx}"
            );
        }
    }

    #[test]
    fn a_refused_strategy_says_why_and_what_is_allowed() {
        let c = choose(&StrategyInput {
            deployment: D::Traditional,
            from: Some(v("2.8.5")),
            to: Some(v("3.4.2")),
            old_nodes: &[],
            second_cluster: None,
        });
        let m = c.refusal_message(S::BlueGreen).unwrap();
        assert!(m.contains("LTS"), "{m}");
        assert!(m.contains("Allowed here: dual-cluster, in-place."), "{m}");
        assert!(m.contains("--second-cluster"), "{m}");
        assert_eq!(c.refusal_message(S::InPlace), None);
    }

    #[test]
    fn the_work_left_is_read_from_the_state() {
        use crate::kong::catalog::{Catalog, Db};
        use crate::kong::snapshot::{recorded_at, Snapshot};
        use crate::kong::state::{compute, MigState};
        use crate::kong::target::Target;
        let cat = Catalog::embedded();
        let rel = cat.release(v("3.4.2")).unwrap();
        let target = Target::from_release(rel, Db::Postgres, &["bundled".into()], &[], "catalog");
        // Every migration of the target executed: up to date.
        let snap = recorded_at(rel, &[]);
        let done = compute(&target, &snap, cat);
        assert_eq!(Work::of(&done), Work::Nothing);
        let with = |first: MigState, second: Option<MigState>| {
            let mut st = done.clone();
            let migs = &mut st.subsystems[0].migrations;
            migs[0].state = first;
            if let Some(s2) = second {
                migs[1].state = s2;
            }
            st
        };
        assert_eq!(Work::of(&with(MigState::New, None)), Work::Up);
        assert_eq!(Work::of(&with(MigState::Pending, None)), Work::FinishOnly);
        // New and pending together: `up` is still due (the old nodes still count).
        assert_eq!(
            Work::of(&with(MigState::Pending, Some(MigState::New))),
            Work::Up
        );
        // No schema_meta: bootstrap, which is no upgrade.
        let empty = compute(&target, &Snapshot::empty(Db::Postgres, "public"), cat);
        assert!(empty.needs_bootstrap);
        assert_eq!(Work::of(&empty), Work::Nothing);
    }

    #[test]
    fn without_a_strategy_auto_runs_only_where_blue_green_is_allowed() {
        let hints = CommandHints {
            base: "kongrade auto --kong-cmd kong".into(),
            admin_urls_given: false,
            postgres: true,
        };
        let decide = |from: &str, to: &str, old: &[Option<&str>], work: Work| {
            let old = nodes(old);
            let input = StrategyInput {
                deployment: D::Traditional,
                from: Some(v(from)),
                to: Some(v(to)),
                old_nodes: &old,
                second_cluster: None,
            };
            unasked(&input, &choose(&input), work, &hints)
        };
        let refused = |u: &Unasked| matches!(u, Unasked::Refused { .. });
        // The LTS pair: refused, with a command per allowed strategy.
        let u = decide("2.8.5", "3.4.2", &[Some("2.8.5")], Work::Up);
        let Unasked::Refused { message, commands } = &u else {
            panic!("{u:?}")
        };
        assert!(message.contains("LTS"), "{message}");
        assert!(
            message.contains("Kong's guide recommends dual-cluster here"),
            "{message}"
        );
        assert!(message.ends_with("Nothing was run."), "{message}");
        let strategies: Vec<Strategy> = commands.iter().map(|(s, _)| *s).collect();
        assert_eq!(strategies, [S::DualCluster, S::InPlace]);
        assert_eq!(
            commands[1].1,
            "kongrade auto --kong-cmd kong --strategy in-place --writes-frozen --admin-url OLD_ADMIN_URL --new-admin-url NEW_ADMIN_URL"
        );
        assert!(commands[0]
            .1
            .contains("--strategy dual-cluster --clone-database"));
        assert!(message.contains(&commands[1].1), "{message}");
        // The choice is the caller's, computed once for the run: its words are the message's.
        let old = nodes(&[Some("2.8.5")]);
        let input = StrategyInput {
            deployment: D::Traditional,
            from: Some(v("2.8.5")),
            to: Some(v("3.4.2")),
            old_nodes: &old,
            second_cluster: None,
        };
        let mut given = choose(&input);
        given.reason = "the reason as the run computed it".into();
        let Unasked::Refused { message, .. } = unasked(&input, &given, Work::Up, &hints) else {
            panic!("refused")
        };
        assert!(
            message.contains("recommends dual-cluster here: the reason as the run computed it"),
            "{message}"
        );
        // The LTS pair stays refused once `up` ran.
        assert!(refused(&decide("2.8.5", "3.4.2", &[], Work::FinishOnly)));
        // Old nodes below 2.8.2, or none known, on a 2.8 -> 3.0 jump: refused while `up` is
        // due; once it ran, the nodes are stopped before `finish` and do not count.
        for old in [&[Some("2.8.1")][..], &[], &[None]] {
            assert!(refused(&decide("2.8.5", "3.0.2", old, Work::Up)), "{old:?}");
            assert_eq!(
                decide("2.8.5", "3.0.2", old, Work::FinishOnly),
                Unasked::SharedDatabase,
                "{old:?}"
            );
        }
        // From before 2.1.0 (or 2.8) to 3.x: refused, nodes or not.
        assert!(refused(&decide(
            "2.0.5",
            "3.0.2",
            &[Some("2.8.5")],
            Work::Up
        )));
        assert!(refused(&decide("2.7.2", "3.0.2", &[], Work::FinishOnly)));
        // Every old node 2.8.2+, and a jump within 3.x: the shared-database procedure.
        assert_eq!(
            decide("2.8.5", "3.0.2", &[Some("2.8.5")], Work::Up),
            Unasked::SharedDatabase
        );
        assert_eq!(
            decide("3.3.1", "3.4.2", &[], Work::Up),
            Unasked::SharedDatabase
        );
        // Nothing to upgrade: no strategy applies.
        assert_eq!(
            decide("2.8.5", "3.4.2", &[], Work::Nothing),
            Unasked::NoUpgrade
        );
        // Old nodes given: no placeholder for them; Cassandra: no clone offered.
        let given = CommandHints {
            admin_urls_given: true,
            postgres: false,
            ..hints.clone()
        };
        assert!(!command_for(S::InPlace, &given).contains("OLD_ADMIN_URL"));
        assert!(command_for(S::DualCluster, &given).contains("Cassandra"));
    }

    #[test]
    fn the_downtime_clock_reads_as_minutes_and_seconds() {
        assert_eq!(clock(0), "0 s");
        assert_eq!(clock(59), "59 s");
        assert_eq!(clock(80), "1 min 20 s");
        assert_eq!(clock(7500), "2 h 5 min");
        assert_eq!(
            downtime_line(80),
            "downtime 1 min 20 s (since the old nodes stopped)"
        );
    }

    #[test]
    fn data_plane_rules_and_the_order_to_replace_them() {
        assert_eq!(dp_incompatible(v("3.4.2"), v("3.4.3")), None);
        assert_eq!(dp_incompatible(v("3.4.2"), v("3.3.1")), None);
        assert!(dp_incompatible(v("3.4.2"), v("3.5.0"))
            .unwrap()
            .contains("newer"));
        assert!(dp_incompatible(v("3.4.2"), v("2.8.5"))
            .unwrap()
            .contains("major"));
        assert!(dp_incompatible(v("3.2.2"), v("3.1.1"))
            .unwrap()
            .contains("3.1.x"));
        assert_eq!(dp_incompatible(v("3.1.1"), v("3.1.0")), None);
        let row = |host: &str, version: &str, sync: &str| super::super::snapshot::DataPlaneRow {
            id: format!("id-{host}"),
            hostname: Some(host.into()),
            version: Some(version.into()),
            sync_status: Some(sync.into()),
            config_hash: Some("c0ffee".into()),
            ..Default::default()
        };
        let rows = [
            row("dp-a", "3.4.1", "normal"),
            row("dp-b", "3.3.1", "normal"),
            row("dp-c", "3.4.1", "unknown"),
            row("dp-d", "2.8.5", "kong_version_incompatible"),
        ];
        let steps = rolling_order(&rows, Some(v("3.4.2")));
        let order: Vec<&str> = steps
            .iter()
            .map(|d| d.hostname.as_deref().unwrap())
            .collect();
        assert_eq!(order, ["dp-d", "dp-c", "dp-b", "dp-a"]);
        assert_eq!(steps[0].order, 1);
        assert!(steps[0].cut_off.is_some() && steps[1].cut_off.is_none());
        let text = render_rolling(&steps, Some(v("3.4.2")));
        assert!(
            text.contains(
                " 1. dp-d () Kong 2.8.5, sync_status kong_version_incompatible, config_hash c0ffee"
            ),
            "{text}"
        );
        assert!(text.contains("control plane first"), "{text}");
        assert!(render_rolling(&[], None).contains("No data planes"));
    }

    #[test]
    fn blue_green_caveats_name_sessions_only_across_3_2() {
        let bg = |a: &str, b: &str| caveats(S::BlueGreen, Some(v(a)), Some(v(b))).join("\n");
        assert!(bg("3.1.1", "3.2.2").contains("session"));
        assert!(bg("3.1.1", "3.2.2").contains("Rows written by traffic"));
        assert!(!bg("3.4.1", "3.4.2").contains("Sessions"));
        assert!(caveats(S::DualCluster, None, None)
            .join(" ")
            .contains("oauth2_tokens"));
    }
}
