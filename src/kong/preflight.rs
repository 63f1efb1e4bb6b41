//! Preflight for the target: what the target Kong will break that the database, kong.conf and the
//! custom plugins show before the upgrade (issue 15 point 2). Pure: the caller reads kong.conf, the
//! `KONG_*` names, the routes, the configured plugins, the custom plugins' `require`s, the server
//! and the data planes; the per-version facts come from `kong_facts` and the catalog.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::Catalog;
use super::diagnose::{Finding, Severity};
use super::kong_facts::{ConfBook, HandFacts, ModuleBook};
use super::plan::{plural, shell_word};
use super::policy::FindingId;
use super::version::Version;

/// The first words a remedy's first line opens with: a command to run (issue 15's "the remedy,
/// command first"), for the tests that hold every finding to it (unit and real-database).
pub const REMEDY_COMMANDS: &[&str] = &[
    "sed ",
    "cp -n ",
    "unset ",
    "export ",
    "grep ",
    "psql ",
    "pg_dump ",
    "kongrade ",
    "kong ",
    "curl ",
    "deck ",
    "luarocks ",
    "echo ",
    "printf ",
];

/// Paths and routes listed in a finding; the rest are counted.
pub const LIST_MAX: usize = 20;

/// A route's paths, as read from `routes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutePaths {
    pub id: String,
    pub name: Option<String>,
    pub paths: Vec<String>,
}

/// A custom plugin's Lua, as found under `--kong-lua-path`: the modules it requires, by file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomPlugin {
    pub name: String,
    /// (file, module required).
    pub requires: Vec<(String, String)>,
}

/// A hybrid data plane seen by the control plane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataPlane {
    pub hostname: String,
    pub version: Option<Version>,
}

/// Everything the preflight looks at. `None` (or empty) inputs leave their checks out.
#[derive(Clone, Copy, Debug)]
pub struct PreflightInput<'a> {
    /// The Kong version the database is at (`None`: unknown, e.g. not bootstrapped).
    pub from: Option<Version>,
    pub target: Version,
    /// The Kong versions the plan runs, in order (the target last).
    pub hops: &'a [Version],
    /// kong.conf's file, for the remedies.
    pub conf_path: Option<&'a str>,
    /// Keys set in kong.conf, with their values.
    pub conf_keys: &'a [(String, String)],
    /// Names of `KONG_*` environment variables set for Kong.
    pub env_names: &'a [String],
    /// The raw `plugins` setting.
    pub plugins_setting: &'a [String],
    /// Routes whose paths carry regex characters and no `~` (or every route: the rest are
    /// ignored), at most as many as the store lists.
    pub regex_routes: Option<&'a [RoutePaths]>,
    /// How many routes have such a path (the list may be cut short); `None`: the list's length.
    pub regex_route_count: Option<i64>,
    /// How many of those paths 3.x's default router refuses, in all routes (the list may be
    /// cut short); `None`: those in the list.
    pub regex_refused_paths: Option<i64>,
    /// Distinct plugin names in the `plugins` table.
    pub db_plugins: Option<&'a [String]>,
    pub custom_plugins: &'a [CustomPlugin],
    /// `--kong-lua-path`, for the remedies.
    pub lua_path: Option<&'a str>,
    /// `server_version_num` (e.g. 150004).
    pub server_version_num: Option<u32>,
    /// The server asks this role for SCRAM-SHA-256.
    pub scram: Option<bool>,
    pub data_planes: Option<&'a [DataPlane]>,
    /// Reads that failed, each with why: their checks did not run.
    pub incomplete: &'a [String],
    /// The PostgreSQL database's place, for the remedies' commands (`None`: Kong's defaults).
    pub connection: Option<&'a super::plan::BackupTarget>,
    pub catalog: &'a Catalog,
    pub conf: &'a ConfBook,
    pub facts: &'a HandFacts,
    pub modules: &'a ModuleBook,
}

/// The inputs the caller read, owned (the store, kong.conf, the environment, the Lua tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreflightData {
    pub conf_path: Option<String>,
    pub conf_keys: Vec<(String, String)>,
    pub env_names: Vec<String>,
    pub plugins_setting: Vec<String>,
    pub regex_routes: Option<Vec<RoutePaths>>,
    pub regex_route_count: Option<i64>,
    pub regex_refused_paths: Option<i64>,
    pub db_plugins: Option<Vec<String>>,
    pub custom_plugins: Vec<CustomPlugin>,
    pub lua_path: Option<String>,
    pub server_version_num: Option<u32>,
    pub scram: Option<bool>,
    pub data_planes: Option<Vec<DataPlane>>,
    /// Reads that failed, each with why (their checks did not run).
    pub incomplete: Vec<String>,
    /// Why the server's login method could not be read (the SCRAM check): a failed read only
    /// where a Kong of the plan cannot answer SCRAM (`findings` decides, knowing the hops).
    pub scram_unread: Option<String>,
    /// Where the PostgreSQL database is (host, port, role, database; never a password), for the
    /// remedies' commands. `None`: not PostgreSQL.
    pub connection: Option<super::plan::BackupTarget>,
}

impl PreflightData {
    /// The findings for `plan` (diagnose's, with its timeouts): from its origin to `target`,
    /// through the Kong versions that run its `up`s and `finish`es.
    pub fn findings_for_plan(
        &self,
        plan: &super::plan::Plan,
        target: Version,
        catalog: &Catalog,
    ) -> Vec<Finding> {
        self.findings(plan.from, target, &plan_hops(plan), catalog)
    }

    /// The findings for an upgrade from `from` to `target` through the Kong versions `hops`.
    pub fn findings(
        &self,
        from: Option<Version>,
        target: Version,
        hops: &[Version],
        catalog: &Catalog,
    ) -> Vec<Finding> {
        let mut incomplete = self.incomplete.clone();
        if let Some(why) = self.scram_unread.as_ref().filter(|_| scram_matters(hops)) {
            incomplete.push(why.clone());
        }
        preflight(&PreflightInput {
            from,
            target,
            hops,
            conf_path: self.conf_path.as_deref(),
            conf_keys: &self.conf_keys,
            env_names: &self.env_names,
            plugins_setting: &self.plugins_setting,
            regex_routes: self.regex_routes.as_deref(),
            regex_route_count: self.regex_route_count,
            regex_refused_paths: self.regex_refused_paths,
            db_plugins: self.db_plugins.as_deref(),
            custom_plugins: &self.custom_plugins,
            lua_path: self.lua_path.as_deref(),
            server_version_num: self.server_version_num,
            scram: self.scram,
            data_planes: self.data_planes.as_deref(),
            incomplete: &incomplete,
            connection: self.connection.as_ref(),
            catalog,
            conf: ConfBook::embedded(),
            facts: HandFacts::embedded(),
            modules: ModuleBook::embedded(),
        })
    }
}

/// The Kong versions that run the plan's `up`s and `finish`es, in order.
pub fn plan_hops(plan: &super::plan::Plan) -> Vec<Version> {
    use super::plan::StepKind;
    let mut hops = Vec::new();
    for s in &plan.steps {
        if matches!(s.kind, StepKind::Up | StepKind::Finish) {
            if let Some(v) = s.kong_version.filter(|v| !hops.contains(v)) {
                hops.push(v);
            }
        }
    }
    hops
}

/// Whether the server's SCRAM question matters: a Kong of the plan cannot answer it. When no
/// hop is such a Kong the login handshake is not even made (one round trip fewer).
pub fn scram_matters(hops: &[Version]) -> bool {
    let facts = HandFacts::embedded();
    hops.iter()
        .any(|v| facts.scram(*v).is_some_and(|r| !r.works))
}

/// Every preflight finding, errors first.
pub fn preflight(input: &PreflightInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    conf_keys(input, &mut out);
    changed_defaults(input, &mut out);
    regex_routes(input, &mut out);
    plugins(input, &mut out);
    custom_modules(input, &mut out);
    postgres(input, &mut out);
    scram(input, &mut out);
    data_planes(input, &mut out);
    incomplete(input, &mut out);
    out.sort_by_key(|f| f.severity);
    out
}

/// A read the preflight needed failed: its checks did not run, and "nothing found" would be a
/// lie (the gate on what the target breaks would pass by default).
fn incomplete(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    if input.incomplete.is_empty() {
        return;
    }
    out.push(Finding {
        id: FindingId::PreflightIncomplete,
        severity: Severity::Warning,
        title: format!(
            "The preflight is incomplete: {} failed, so what it checks was not checked",
            plural(input.incomplete.len() as i64, "read", "reads")
        ),
        seen: input.incomplete.to_vec(),
        why: "The preflight reads kong.conf, the routes and plugins tables, the server's version and login, and the Lua tree. A read that fails leaves its checks out: the target may still break what they look for.".into(),
        remedy: vec![
            "kongrade diagnose --pg-timeout 60   # again, with more time for the reads".into(),
            "Fix what the lines above name, or check those points by hand before `up`.".into(),
        ],
    });
}

fn conf_arg(input: &PreflightInput<'_>) -> String {
    input
        .conf_path
        .map(|c| format!(" {}", super::plan::shell_word(c)))
        .unwrap_or_else(|| " /etc/kong/kong.conf".into())
}

/// `pg_dump` of Kong's database to `LABEL.dump` (custom format), the password from PGPASSWORD
/// or ~/.pgpass.
fn pg_dump(input: &PreflightInput<'_>, label: &str) -> String {
    input.connection.cloned().unwrap_or_default().pg_dump(label)
}

fn env_key(name: &str) -> Option<String> {
    name.strip_prefix("KONG_")
        .filter(|k| !k.is_empty())
        .map(str::to_ascii_lowercase)
}

/// Keys Kong reads by prefix (injected Nginx directives, plugin servers): never "unknown".
fn dynamic_key(key: &str) -> bool {
    key.starts_with("nginx_") || key.starts_with("pluginserver_") || key.starts_with("vault_")
}

fn conf_keys(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let Some(target_keys) = input.conf.defaults_at(input.target) else {
        return;
    };
    let from_keys = input.from.and_then(|f| input.conf.defaults_at(f));
    // Every key the operator sets, with where.
    let mut set: Vec<(String, String)> = input
        .conf_keys
        .iter()
        .map(|(k, _)| (k.to_ascii_lowercase(), format!("kong.conf: {k}")))
        .collect();
    set.extend(
        input
            .env_names
            .iter()
            .filter_map(|n| env_key(n).map(|k| (k, format!("environment: {n}")))),
    );
    let mut removed = Vec::new();
    let mut remedy = Vec::new();
    let mut deprecated = Vec::new();
    let mut deprecated_remedy = Vec::new();
    let mut unknown = Vec::new();
    let mut unknown_keys = Vec::new();
    for (key, whence) in &set {
        let renamed = input.facts.renamed(key);
        if target_keys.contains_key(key) {
            // Still among the target's defaults under its old name: read, mapped to the new
            // one by the target's conf_loader, with a deprecation warning at every start.
            if let Some(r) =
                renamed.filter(|r| !r.use_instead.is_empty() && r.renamed_in <= input.target)
            {
                deprecated.push(format!(
                    "{whence}: renamed in {}, still read as {} with a deprecation warning",
                    r.renamed_in,
                    r.use_instead.join(" / ")
                ));
                deprecated_remedy.push(rename_remedy(
                    key,
                    whence,
                    &r.use_instead,
                    &conf_arg(input),
                ));
            }
            continue;
        }
        // Not among the target's defaults: Kong's conf_loader keeps only the keys its defaults
        // know (its aliases of a key gone from them never run), so the key is dropped.
        if let Some(r) = renamed {
            let instead = if r.use_instead.is_empty() {
                "delete it".to_string()
            } else {
                format!("use {}", r.use_instead.join(" / "))
            };
            let note = if r.note.is_empty() {
                String::new()
            } else {
                format!("; {}", r.note)
            };
            let since = match r.dropped_in {
                Some(d) => format!("dropped in {d}"),
                None => format!("renamed in {}", r.renamed_in),
            };
            removed.push(format!(
                "{whence}: Kong {} silently ignores it ({since}): {instead}{note}",
                input.target
            ));
            remedy.push(rename_remedy(key, whence, &r.use_instead, &conf_arg(input)));
            continue;
        }
        if from_keys.as_ref().is_some_and(|f| f.contains_key(key)) {
            removed.push(format!(
                "{whence}: known to Kong {}, silently ignored by Kong {}",
                input.from.map(|v| v.to_string()).unwrap_or_default(),
                input.target
            ));
            remedy.push(rename_remedy(key, whence, &[], &conf_arg(input)));
            continue;
        }
        // An environment name that was never a key is likely not meant for kong.conf.
        if !dynamic_key(key) && whence.starts_with("kong.conf") {
            unknown_keys.push(key.clone());
            unknown.push(format!(
                "{whence}: no Kong release from {} on knows it",
                input
                    .from
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "the oldest".into())
            ));
        }
    }
    let check = format!(
        "kong check{}   # with the Kong {} binary, after editing",
        conf_arg(input),
        input.target
    );
    if !removed.is_empty() {
        let mut r = keep_first(input, remedy);
        r.dedup();
        r.push(check.clone());
        out.push(Finding {
            id: FindingId::ConfKeyRemoved,
            severity: Severity::Error,
            title: format!(
                "{} the target Kong {} no longer knows",
                plural(removed.len() as i64, "kong.conf setting", "kong.conf settings"),
                input.target
            ),
            seen: removed,
            why: "Kong merges kong.conf, the KONG_* environment and its defaults, then keeps only the keys its defaults know: a removed or renamed key is dropped without an error, and the setting silently falls back to the default (kong check does not catch it).".into(),
            remedy: r,
        });
    }
    if !deprecated.is_empty() {
        out.push(Finding {
            id: FindingId::ConfKeyDeprecated,
            severity: Severity::Warning,
            title: format!("{} under an old name", plural(deprecated.len() as i64, "kong.conf setting", "kong.conf settings")),
            seen: deprecated,
            why: "The target still maps the old name to the new one, with a warning at every start; a later release drops it silently.".into(),
            remedy: {
                let mut r = keep_first(input, deprecated_remedy);
                r.dedup();
                r.push(check.clone());
                r
            },
        });
    }
    if !unknown.is_empty() {
        out.push(Finding {
            id: FindingId::ConfKeyUnknown,
            severity: Severity::Warning,
            title: format!("{} no Kong release knows", plural(unknown.len() as i64, "kong.conf key", "kong.conf keys")),
            seen: unknown,
            why: "Kong drops keys it does not know without a word: a misspelt key never takes effect.".into(),
            remedy: vec![
                format!(
                    "grep -nE {}{}   # fix each spelling against the target's kong.conf.default, or delete the line",
                    // Keys come from the file: any character but a word one matches itself
                    // loosely (.), and the whole pattern is one shell word.
                    shell_word(&format!(
                        "^\\s*({})\\s*=",
                        unknown_keys
                            .iter()
                            .map(|k| k
                                .chars()
                                .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '.' })
                                .collect::<String>())
                            .collect::<Vec<_>>()
                            .join("|")
                    )),
                    conf_arg(input)
                ),
                check,
            ],
        });
    }
}

/// Where the remedy edits kong.conf in place (`sed -i`), a copy of the file as it is first: the
/// old nodes' settings, for them and for a rollback (`cp -n` keeps the first copy when both
/// findings' lines are run).
fn keep_first(input: &PreflightInput<'_>, lines: Vec<String>) -> Vec<String> {
    if !lines.iter().any(|l| l.starts_with("sed -i")) {
        return lines;
    }
    let conf = input.conf_path.unwrap_or("/etc/kong/kong.conf");
    let mut r = vec![format!(
        "cp -n {} {}   # the old nodes' kong.conf, kept for them and for a rollback",
        shell_word(conf),
        shell_word(&format!("{conf}.before-{}", input.target))
    )];
    r.extend(lines);
    r
}

fn rename_remedy(key: &str, whence: &str, instead: &[String], conf: &str) -> String {
    let upper = key.to_ascii_uppercase();
    match (whence.starts_with("environment"), instead.first()) {
        (false, Some(new)) => {
            format!("sed -i 's/^\\s*{key}\\s*=/{new} =/'{conf}   # {key} -> {new}")
        }
        (false, None) => format!("sed -i '/^\\s*{key}\\s*=/d'{conf}   # no replacement"),
        // This shell only: Kong's own environment (a systemd unit, a container's spec) is
        // where it must change, and the line says so.
        (true, Some(new)) => format!(
            "export KONG_{}=\"$KONG_{upper}\"; unset KONG_{upper}   # and the same in Kong's service environment (systemd unit, container spec)",
            new.to_ascii_uppercase()
        ),
        (true, None) => format!(
            "unset KONG_{upper}   # and remove it from Kong's service environment (systemd unit, container spec)"
        ),
    }
}

/// Defaults that change between the database's version and the target, for keys the operator
/// does not set.
fn changed_defaults(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let Some(from) = input.from.filter(|f| *f < input.target) else {
        return;
    };
    let (Some(old), Some(new)) = (
        input.conf.defaults_at(from),
        input.conf.defaults_at(input.target),
    ) else {
        return;
    };
    let set: BTreeSet<String> = input
        .conf_keys
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .chain(input.env_names.iter().filter_map(|n| env_key(n)))
        .collect();
    // A key set under its old name (upstream_keepalive for upstream_keepalive_pool_size) is
    // the operator's, not a default: conf-key-removed speaks of it.
    let set: BTreeSet<String> = set
        .iter()
        .flat_map(|k| {
            let renamed = input.facts.renamed(k).map(|r| r.use_instead.clone());
            std::iter::once(k.clone()).chain(renamed.into_iter().flatten())
        })
        .collect();
    let shown = |v: &str| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.to_string()
        }
    };
    let mut seen = Vec::new();
    // The old values as kong.conf lines (an empty default, or one with kong.conf's comment
    // sign, cannot be written back as a plain line: left out of the pin).
    let mut pins = Vec::new();
    let mut not_pinned: Vec<String> = Vec::new();
    for (k, nv) in &new {
        if set.contains(k) {
            continue;
        }
        if let Some(ov) = old.get(k) {
            if ov != nv {
                // Kong reads NONE as "unset" only in its defaults: in kong.conf it is a value.
                // TLS and listener defaults are not pinned blindly (an old protocol list is a
                // weaker one): said apart.
                let security = ["ssl", "tls", "cipher", "listen"]
                    .iter()
                    .any(|w| k.contains(w));
                if security {
                    not_pinned.push(k.clone());
                } else if !ov.is_empty() && ov != "NONE" && !ov.contains('#') {
                    pins.push(shell_word(&format!("{k} = {ov}")));
                }
                let when = input
                    .conf
                    .changed_in(k, from, input.target)
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                seen.push(format!("{k}: {} -> {}{when}", shown(ov), shown(nv)));
            }
        }
    }
    if seen.is_empty() {
        return;
    }
    let n = seen.len();
    out.push(Finding {
        id: FindingId::ConfDefaultsChanged,
        severity: Severity::Info,
        title: format!("{} change between Kong {from} and {}", plural(n as i64, "kong.conf default", "kong.conf defaults"), input.target),
        seen,
        why: "These keys are not set in kong.conf or the environment, so the target runs with its new defaults; some change behaviour (listeners, keepalive pools, TLS protocols), even in patch releases.".into(),
        remedy: {
            let mut r = Vec::new();
            if !pins.is_empty() {
                r.push(format!(
                    "printf '%s\\n' {} >> {}   # pins the old defaults: keep only the lines you rely on",
                    pins.join(" "),
                    conf_arg(input).trim()
                ));
            }
            if !not_pinned.is_empty() {
                r.push(format!(
                    "Not pinned (an old TLS or listener value is a weaker or other one): {}; set one by hand only if a client needs its old value.",
                    not_pinned.join(", ")
                ));
            }
            r.push(format!("kong check{}   # with the Kong {} binary", conf_arg(input), input.target));
            r
        },
    });
}

/// `curl` on a node's Admin API: kong.conf's `admin_listen`, a plain listener preferred (Kong's
/// default certificate is self-signed: over `ssl` only, `-k`), 0.0.0.0 and [::] reached on the
/// loopback; else Kong's default, 127.0.0.1:8001. Returns (the curl with its flags, the URL).
fn admin_curl(input: &PreflightInput<'_>) -> (String, String) {
    let entries: Vec<(String, bool)> = input
        .conf_keys
        .iter()
        .rev()
        .find(|(k, _)| k == "admin_listen")
        .map(|(_, v)| {
            v.split(',')
                .filter_map(|e| {
                    let mut words = e.split_whitespace();
                    let addr = words.next()?;
                    (addr != "off").then(|| (addr.to_string(), words.any(|w| w == "ssl")))
                })
                .collect()
        })
        .unwrap_or_default();
    let chosen = entries
        .iter()
        .find(|(_, ssl)| !ssl)
        .or_else(|| entries.first())
        .cloned()
        .unwrap_or_else(|| ("127.0.0.1:8001".into(), false));
    let (addr, ssl) = chosen;
    let addr = match addr.rsplit_once(':') {
        Some(("0.0.0.0", port)) | Some(("*", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => addr,
    };
    if ssl {
        ("curl -sS -k".into(), format!("https://{addr}"))
    } else {
        ("curl -sS".into(), format!("http://{addr}"))
    }
}

/// `psql` on Kong's database running `sql` (the password from PGPASSWORD or ~/.pgpass).
fn psql(input: &PreflightInput<'_>, sql: &str) -> String {
    input.connection.cloned().unwrap_or_default().psql(sql)
}

/// A Kong table's name in SQL, qualified by pg_schema when kong.conf sets one.
fn table_sql(input: &PreflightInput<'_>, table: &str) -> String {
    input
        .connection
        .cloned()
        .unwrap_or_default()
        .table_sql(table)
}

/// A `curl` that sets a route's paths (the Admin API replaces the whole list), each path
/// form-encoded.
fn patch_route_paths(input: &PreflightInput<'_>, id: &str, paths: &[String]) -> String {
    let (curl, url) = admin_curl(input);
    let mut c = format!("{curl} -X PATCH {url}/routes/{}", shell_word(id));
    for p in paths {
        c.push_str(&format!(
            " --data-urlencode {}",
            shell_word(&format!("paths[]={p}"))
        ));
    }
    c
}

/// Besides ASCII letters and digits, the characters of a path 2.x takes as a plain prefix: any
/// other character makes it a regex (3.x: only a leading `~` does). The one form of the rule:
/// [`is_regex_path`] and the SQL below are made from it.
pub const PLAIN_PATH_PUNCTUATION: &str = "-._~/%";

/// 2.x treats a path with any character but [`PLAIN_PATH_PUNCTUATION`], letters and digits as a
/// regex; 3.x only paths starting with `~`.
pub fn is_regex_path(p: &str) -> bool {
    !p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || PLAIN_PATH_PUNCTUATION.as_bytes().contains(&b))
}

/// A path 3.0's `up` rewrites (core 016_280_to_300) and 3.x reads differently: a regex to 2.x,
/// without the leading `~`.
pub fn is_unprefixed_regex_path(p: &str) -> bool {
    is_regex_path(p) && !p.starts_with('~')
}

/// What 3.x's default router (traditional_compatible, Rust's regex crate) refuses, as
/// substrings; besides these, a backslash followed by 1-9 (a backreference).
pub const REFUSED_CONSTRUCTS: &[(&str, &str)] = &[
    ("(?<=", "look-behind"),
    ("(?<!", "negative look-behind"),
    ("(?=", "look-ahead"),
    ("(?!", "negative look-ahead"),
    ("(?>", "atomic group"),
    ("\\k<", "named backreference"),
    ("\\K", "\\K"),
    ("*+", "possessive quantifier"),
    ("++", "possessive quantifier"),
    ("?+", "possessive quantifier"),
];

/// What 3.x's default router (traditional_compatible, Rust's regex crate) refuses: look-around,
/// backreferences and other PCRE-only syntax. Returns the construct found.
pub fn incompatible_regex(p: &str) -> Option<&'static str> {
    if let Some((_, what)) = REFUSED_CONSTRUCTS.iter().find(|(pat, _)| p.contains(pat)) {
        return Some(what);
    }
    let b = p.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'\\' && (b'1'..=b'9').contains(&w[1]))
        .then_some("backreference")
}

/// The plain characters as the inside of a POSIX bracket expression (`-` first, so literal).
fn sql_plain_class() -> String {
    format!("-a-zA-Z0-9{}", PLAIN_PATH_PUNCTUATION.replace('-', ""))
}

/// [`is_unprefixed_regex_path`] in PostgreSQL's SQL, for the path expression `p` (the remedy's
/// query, and the tests that hold it to the Rust rule).
pub fn sql_unprefixed_regex_path(p: &str) -> String {
    format!(
        "{p} !~ '^[{}]*$' AND left({p}, 1) <> '~'",
        sql_plain_class()
    )
}

/// A superset, in one expression per row (no subquery: the scan stays parallel), of the routes
/// whose `paths` (`text[]`, the SQL expression `paths`) hold an unprefixed regex path: some path
/// has a character outside the plain ones. The store sends only these rows; [`RoutesScan`] then
/// judges each path with the rule itself.
pub fn sql_maybe_regex_route(paths: &str) -> String {
    // '/' joins the paths: a plain character, so the joining adds none that is not.
    format!("array_to_string({paths}, '/') ~ '[^{}]'", sql_plain_class())
}

/// Routes with a refused path kept to be listed (the lowest ids); every one is counted.
pub const REFUSED_LIST_MAX: usize = 200;

/// What a read of the routes found, judged here whatever the store (PostgreSQL sends the rows
/// its prefilter keeps, Cassandra every row): the routes with an unprefixed regex path, counted
/// exactly, the [`LIST_MAX`] with the lowest ids, and every refused path counted, the
/// [`REFUSED_LIST_MAX`] lowest routes holding one kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutesScan {
    /// Rows read (PostgreSQL: only the prefilter's candidates).
    pub rows: i64,
    /// Routes with an unprefixed regex path.
    pub regex: i64,
    /// Unprefixed regex paths that 3.x's default router refuses, in all routes.
    pub refused_paths: i64,
    listed: Vec<RoutePaths>,
    refused: Vec<RoutePaths>,
}

impl RoutesScan {
    /// Judges one route.
    pub fn add(&mut self, route: RoutePaths) {
        self.rows += 1;
        let regex: Vec<&String> = route
            .paths
            .iter()
            .filter(|p| is_unprefixed_regex_path(p))
            .collect();
        if regex.is_empty() {
            return;
        }
        self.regex += 1;
        let refused = regex
            .iter()
            .filter(|p| incompatible_regex(p).is_some())
            .count();
        if refused > 0 {
            self.refused_paths += refused as i64;
            keep_lowest(&mut self.refused, route.clone(), REFUSED_LIST_MAX);
        }
        keep_lowest(&mut self.listed, route, LIST_MAX);
    }

    /// The routes to list: the regex ones with the lowest ids, then those with a refused path
    /// not already among them.
    pub fn routes(&self) -> Vec<RoutePaths> {
        let mut listed = self.listed.clone();
        lowest(&mut listed, LIST_MAX);
        let mut refused = self.refused.clone();
        lowest(&mut refused, REFUSED_LIST_MAX);
        let mut seen = BTreeSet::new();
        listed
            .into_iter()
            .chain(refused)
            .filter(|r| seen.insert(r.id.clone()))
            .collect()
    }

    /// Applies `f` to every kept route's id, name and paths (the store's escaping for terminals).
    pub fn map_text(&mut self, f: impl Fn(&str) -> String) {
        for r in self.listed.iter_mut().chain(self.refused.iter_mut()) {
            r.id = f(&r.id);
            r.name = r.name.as_deref().map(&f);
            r.paths = r.paths.iter().map(|p| f(p)).collect();
        }
    }
}

/// Sorts by id and keeps the first `max`.
fn lowest(v: &mut Vec<RoutePaths>, max: usize) {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v.truncate(max);
}

/// Keeps `r` among the `max` lowest ids of `v` (trimmed now and then: a scan of a million routes
/// holds a few hundred at most).
fn keep_lowest(v: &mut Vec<RoutePaths>, r: RoutePaths, max: usize) {
    v.push(r);
    if v.len() >= 4 * max {
        lowest(v, max);
    }
}

/// An upgrade from `from` (`None`: not known) to `target` crosses into 3.x, where core
/// `016_280_to_300` rewrites the regex paths and 3.x's router judges them: the one case the
/// routes are read for (the preflight's finding and that migration's estimate).
pub fn crosses_into_3(from: Option<Version>, target: Version) -> bool {
    target.major >= 3 && from.is_none_or(|f| f.major < 3)
}

/// Whether this database's upgrade to `target` needs its routes read ([`crosses_into_3`] from
/// the version its schema matches). A target of unknown version (a Lua tree) reads them: a
/// check left out for want of a version would be a "no" that was never asked.
pub fn reads_routes(state: &super::state::SchemaState, target: &super::target::Target) -> bool {
    target
        .version
        .is_none_or(|t| crosses_into_3(super::plan::database_version(state), t))
}

fn regex_routes(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let crossing = crosses_into_3(input.from, input.target);
    let Some(routes) = input.regex_routes.filter(|_| crossing) else {
        return;
    };
    let flavor = input
        .conf_keys
        .iter()
        .find(|(k, _)| k == "router_flavor")
        .map(|(_, v)| v.trim().to_string());
    let mut listed = Vec::new();
    let mut bad = Vec::new();
    // The first routes with a refused path, for the remedy's PATCH (their every path).
    let mut bad_routes: Vec<&RoutePaths> = Vec::new();
    let mut encoded = 0usize;
    let mut n_routes = 0i64;
    for r in routes {
        let who = match &r.name {
            Some(n) => format!("route {n} ({})", r.id),
            None => format!("route {}", r.id),
        };
        let mut any = false;
        for p in r.paths.iter().filter(|p| is_unprefixed_regex_path(p)) {
            any = true;
            if listed.len() < LIST_MAX {
                listed.push(format!("{who}: {p}"));
            }
            if let Some(what) = incompatible_regex(p) {
                bad.push(format!("{who}: {p}   ({what})"));
                if bad_routes.len() < 3 && !bad_routes.iter().any(|b| b.id == r.id) {
                    bad_routes.push(r);
                }
            }
            if p.as_bytes()
                .windows(3)
                .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
            {
                encoded += 1;
            }
        }
        n_routes += i64::from(any);
    }
    let total = input.regex_route_count.unwrap_or(n_routes).max(n_routes);
    if total == 0 {
        return;
    }
    let routes_text = plural(total, "route", "routes");
    if (listed.len() as i64) < total {
        listed.push(format!("... {routes_text} in all"));
    }
    if encoded > 0 {
        listed.push(format!(
            "{} with percent-encoding: 3.0's up decodes it once (unreserved characters become literal)",
            plural(encoded as i64, "path", "paths")
        ));
    }
    out.push(Finding {
        id: FindingId::RoutesRegexUnprefixed,
        severity: Severity::Warning,
        title: format!("{routes_text} with regex paths written the 2.x way (no leading ~)"),
        seen: listed,
        why: format!(
            "Kong {} treats a path as a regex only when it starts with ~. The database's paths are converted by 3.0's `up` (core 016_280_to_300, one UPDATE per route), but decK files, scripts and CI that keep writing 2.x-style paths store them as plain prefixes and break regex routing.",
            input.target
        ),
        remedy: vec![
            "deck file convert --from kong-gateway-2.x --to kong-gateway-3.x --input-file kong.yaml --output-file kong3.yaml".into(),
            format!(
                "{}   # the full list",
                psql(input, &format!(
                    "SELECT r.id, r.name, p FROM {} r, unnest(r.paths) p WHERE {} ORDER BY r.id",
                    table_sql(input, "routes"),
                    sql_unprefixed_regex_path("p")
                ))
            ),
            "after up: re-check the routes with a request per regex route".into(),
        ],
    });
    if !bad.is_empty() && flavor.as_deref() != Some("traditional") {
        let n = input.regex_refused_paths.unwrap_or(0).max(bad.len() as i64);
        if (bad.len() as i64) < n {
            bad.push(format!(
                "... {} in all",
                plural(n, "refused path", "refused paths")
            ));
        }
        out.push(Finding {
            id: FindingId::RoutesRegexIncompatible,
            severity: Severity::Error,
            title: format!(
                "{} that Kong {}'s default router refuses (look-around, backreferences)",
                plural(n, "regex path", "regex paths"),
                input.target
            ),
            seen: bad,
            why: "3.x's default router_flavor (traditional_compatible) compiles route regexes with Rust's regex crate, which has no look-around, backreferences, atomic groups or possessive quantifiers: the router fails to build these routes.".into(),
            remedy: {
                let mut r = vec![format!(
                    "echo 'router_flavor = traditional' >> {}   # keeps PCRE on Kong {} (look-around included); Kong {} ignores the key",
                    conf_arg(input).trim(),
                    input.target,
                    input.from.map(|v| v.to_string()).unwrap_or_else(|| "2.x".into())
                )];
                for b in &bad_routes {
                    r.push(format!(
                        "{}   # or rewrite it: edit the refused path first, before up and without a leading ~ (2.x refuses it; 3.0's up adds it)",
                        patch_route_paths(input, &b.id, &b.paths)
                    ));
                }
                r
            },
        });
    }
}

/// The `plugins` setting that also loads `missing`: the operator's list as it is (a short list
/// may be on purpose: `bundled` would load every plugin), then the missing ones. `off` loads
/// nothing (Kong checks only the first entry): the list is then the missing; an empty setting
/// is Kong's default, `bundled`. The one rule for diagnose's and the preflight's remedies.
pub fn plugins_loading(setting: &[String], missing: &[String]) -> Vec<String> {
    let off = setting.first().is_some_and(|p| p == "off");
    let mut wanted: Vec<String> = setting
        .iter()
        .filter(|p| p.as_str() != "off")
        .cloned()
        .collect();
    if wanted.is_empty() && !off {
        wanted.push("bundled".into());
    }
    for p in missing {
        if !wanted.contains(p) {
            wanted.push(p.clone());
        }
    }
    wanted
}

/// The plugins a node loads with `plugins` at `version`: (bundled by Kong, named custom ones).
fn loaded(input: &PreflightInput<'_>, version: Version) -> (BTreeSet<String>, BTreeSet<String>) {
    let bundled: BTreeSet<String> = input
        .catalog
        .release(version)
        .map(|r| r.bundled_plugins.iter().cloned().collect())
        .unwrap_or_default();
    if input.plugins_setting.first().is_some_and(|p| p == "off") {
        return (BTreeSet::new(), BTreeSet::new());
    }
    let mut b = BTreeSet::new();
    let mut named = BTreeSet::new();
    for p in input.plugins_setting {
        if p == "bundled" {
            b.extend(bundled.iter().cloned());
        } else {
            named.insert(p.clone());
        }
    }
    (b, named)
}

fn plugins(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let Some(db) = input.db_plugins else {
        return;
    };
    let Some(rel) = input.catalog.release(input.target) else {
        return;
    };
    let bundled: BTreeSet<&str> = rel.bundled_plugins.iter().map(String::as_str).collect();
    let (loaded_bundled, named) = loaded(input, input.target);
    let custom: BTreeSet<&str> = input
        .custom_plugins
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut not_shipped = Vec::new();
    let mut not_shipped_names: Vec<String> = Vec::new();
    let mut not_loaded = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for p in db {
        let shipped = bundled.contains(p.as_str());
        let is_loaded = loaded_bundled.contains(p) || named.contains(p);
        if !shipped && !named.contains(p) && !custom.contains(p.as_str()) {
            not_shipped.push(format!(
                "plugins rows named {p}: Kong {} does not bundle it",
                input.target
            ));
            not_shipped_names.push(p.clone());
        } else if !is_loaded {
            not_loaded.push(format!(
                "plugins rows named {p}: not in plugins = {}",
                input.plugins_setting.join(",")
            ));
            missing.push(p.clone());
        }
    }
    if !not_shipped.is_empty() {
        out.push(Finding {
            id: FindingId::PluginsNotShipped,
            severity: Severity::Error,
            title: format!("{} configured in the database that Kong {} does not ship", plural(not_shipped.len() as i64, "plugin", "plugins"), input.target),
            seen: not_shipped,
            why: "Kong refuses to start when a plugin configured in the database is not installed and enabled; its migrations never run either.".into(),
            remedy: {
                let names: Vec<String> = not_shipped_names.iter().map(|n| format!("'{}'", n.replace('\'', "''"))).collect();
                let mut r = vec![format!(
                    "{}   # the rows: each plugin must be installed on the Kong {} nodes, or its rows deleted",
                    psql(input, &format!(
                        "SELECT id, name, service_id, route_id, consumer_id, enabled FROM {} WHERE name IN ({}) ORDER BY name, id",
                        table_sql(input, "plugins"),
                        names.join(", ")
                    )),
                    input.target
                )];
                for n in &not_shipped_names {
                    r.push(format!(
                        "luarocks install {}   # on every Kong {} node, if that is the rock of {n} (custom plugins' rocks are often named so); then add {n} to plugins",
                        shell_word(&format!("kong-plugin-{n}")),
                        input.target
                    ));
                }
                let (curl, url) = admin_curl(input);
                let c = input.connection.cloned().unwrap_or_default();
                r.push(format!(
                    "{} -At -c {} | xargs -I{{}} {curl} -X DELETE {url}/plugins/{{}}   # or delete every row of these plugins through the Admin API, once nothing uses them (after the backup)",
                    c.psql_prefix(),
                    shell_word(&format!(
                        "SELECT id FROM {} WHERE name IN ({})",
                        table_sql(input, "plugins"),
                        names.join(", ")
                    ))
                ));
                r
            },
        });
    }
    if !not_loaded.is_empty() {
        let wanted = plugins_loading(input.plugins_setting, &missing);
        out.push(Finding {
            id: FindingId::PluginsNotLoaded,
            severity: Severity::Error,
            title: format!("{} configured in the database that the plugins setting does not load", plural(not_loaded.len() as i64, "plugin", "plugins")),
            seen: not_loaded,
            why: "Kong refuses to start when a plugin in use is not enabled, and `kong migrations` skips the migrations of plugins it does not load.".into(),
            remedy: {
                let list = wanted.join(",");
                let conf = conf_arg(input);
                let mut r = Vec::new();
                if input.env_names.iter().any(|n| n == "KONG_PLUGINS") {
                    // The environment wins over kong.conf.
                    r.push(format!("export KONG_PLUGINS={}   # where Kong's service gets its environment", shell_word(&list)));
                } else if input.conf_keys.iter().any(|(k, _)| k == "plugins") {
                    r.extend(keep_first(input, vec![format!(
                        "sed -i {}{conf}",
                        // The names go into sed's replacement: its own specials escaped.
                        shell_word(&format!(
                            "s/^\\s*plugins\\s*=.*/plugins = {}/",
                            list.replace('\\', "\\\\").replace('/', "\\/").replace('&', "\\&")
                        ))
                    )]));
                } else {
                    r.push(format!("echo {} >>{conf}", shell_word(&format!("plugins = {list}"))));
                }
                r.push(format!("kong check{conf}   # with the Kong {} binary", input.target));
                r
            },
        });
    }
}

/// A `require "kong.…"` of a module the database's Kong (or a release on the way) ships and the
/// target does not (the tags' facts, `ModuleBook`): the plugin fails to load. Modules the target
/// ships and names no release shipped (the plugin's own, third-party) are not findings.
fn custom_modules(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let mut seen = Vec::new();
    // One remedy line per module: the hand-kept advice, else what the tags say.
    let mut remedy: BTreeMap<String, String> = BTreeMap::new();
    for p in input.custom_plugins {
        for (file, module) in &p.requires {
            let Some(gone) = input
                .modules
                .removed_on_the_way(module, input.from, input.target)
            else {
                continue;
            };
            if from_a_rock(input, module) {
                continue;
            }
            seen.push(format!(
                "{} ({file}): require \"{module}\", removed in Kong {}",
                p.name, gone.removed_in
            ));
            let line = match input.facts.module_advice(module) {
                Some(h) => format!("{module}: {}", h.instead),
                None => format!(
                    "{module}: last shipped in Kong {}, not in {}: require what Kong {} ships in its place (its CHANGELOG for {} says what replaced it), or carry the code in the plugin",
                    gone.last, gone.removed_in, input.target, gone.removed_in
                ),
            };
            remedy.entry(module.clone()).or_insert(line);
        }
    }
    if seen.is_empty() {
        return;
    }
    // Module names come from Kong's tree ([a-z0-9_.-]): safe in single quotes once dots are
    // escaped.
    let pattern: Vec<String> = remedy.keys().map(|m| m.replace('.', "\\.")).collect();
    let mut r = vec![format!(
        "grep -rnE '{}' {}   # every line to change",
        pattern.join("|"),
        input
            .lua_path
            .map(shell_word)
            .unwrap_or_else(|| "<--kong-lua-path>".into())
    )];
    r.extend(remedy.into_values());
    out.push(Finding {
        id: FindingId::CustomPluginRemovedModule,
        severity: Severity::Error,
        title: format!("Custom plugins require {} Kong {} removed", plural(seen.len() as i64, "module", "modules"), input.target),
        seen,
        why: "A require of a module that is gone fails when the plugin loads, and Kong does not start. Which modules each release ships comes from Kong's tags (assets/kong-modules.json).".into(),
        remedy: r,
    });
}

/// A module of a plugin the target bundles from its own rock (2.0 to 2.5: aws-lambda, session,
/// request-transformer...): it is not in Kong's tree, so the tags cannot say it is gone.
fn from_a_rock(input: &PreflightInput<'_>, module: &str) -> bool {
    let Some(plugin) = module
        .strip_prefix("kong.plugins.")
        .and_then(|rest| rest.split('.').next())
    else {
        return false;
    };
    let Some(release) = input
        .catalog
        .releases
        .iter()
        .rev()
        .find(|r| r.version <= input.target)
    else {
        return false;
    };
    release.bundled_plugins.iter().any(|b| b == plugin)
        && input
            .modules
            .ships(&format!("kong.plugins.{plugin}.handler"), release.version)
            == Some(false)
}

fn postgres(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let Some(num) = input.server_version_num else {
        return;
    };
    let shown = if num >= 100_000 {
        format!("{}.{}", num / 10_000, num % 10_000)
    } else {
        format!("{}.{}.{}", num / 10_000, num / 100 % 100, num % 100)
    };
    // 9.6 is 90600, 15.4 is 150004: the major is the ten-thousands either way.
    let major = num / 10_000;
    if num < input.facts.postgres_minimum_num {
        out.push(Finding {
            id: FindingId::PostgresTooOld,
            severity: Severity::Error,
            title: format!("PostgreSQL {shown}: every Kong release needs 9.5 or newer"),
            seen: vec![format!("server_version_num = {num}")],
            why: format!("Kong refuses to start: \"Kong requires PostgreSQL 9.5 or greater\" ({}).", input.facts.postgres_minimum_source),
            remedy: vec![
                format!("{}   # first; then upgrade PostgreSQL (pg_upgrade, or a new 13+ server and pg_restore)", pg_dump(input, "kong-before-postgres-upgrade")),
                "kongrade diagnose   # again, pointed at the new server".into(),
            ],
        });
        return;
    }
    let Some(t) = input.facts.tested_postgres(input.target) else {
        return;
    };
    let outside = major < t.min_major || t.max_major.is_some_and(|m| major > m);
    if outside {
        let range = match t.max_major {
            Some(m) => format!("{}-{m}", t.min_major),
            None => format!("{}+", t.min_major),
        };
        out.push(Finding {
            id: FindingId::PostgresUntested,
            severity: Severity::Warning,
            title: format!("PostgreSQL {shown} is outside what Kong tested {} with ({range})", input.target),
            seen: vec![format!("server_version_num = {num}")],
            why: format!("Kong supports the PostgreSQL versions its support table lists; others may work but are not tested ({}).", t.source),
            remedy: vec![format!(
                "{}   # then plan a PostgreSQL upgrade to {range} (pg_upgrade), before or after this Kong upgrade",
                pg_dump(input, "kong-before-postgres-upgrade")
            )],
        });
    }
}

fn scram(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    if input.scram != Some(true) {
        return;
    }
    let bad: Vec<String> = input
        .hops
        .iter()
        .filter_map(|v| {
            let r = input.facts.scram(*v)?;
            (!r.works).then(|| format!("Kong {v} in the plan: {}", r.failure))
        })
        .collect();
    if bad.is_empty() {
        return;
    }
    out.push(Finding {
        id: FindingId::ScramOldKong,
        severity: Severity::Error,
        title: "The server asks this role for SCRAM-SHA-256, which a Kong of the plan cannot answer".into(),
        seen: bad,
        why: "PostgreSQL 14+ stores new passwords as SCRAM by default and then asks for SCRAM whatever pg_hba.conf says; Kong 2.6 and older have no SCRAM, and packaged 2.7.0 to 2.8.3 fail on it for lack of luaossl.".into(),
        remedy: vec![
            {
                let c = input.connection.cloned().unwrap_or_default();
                format!(
                    "{} -c \"SET password_encryption = 'md5'\" -c {}   # store an md5 password for the Kong role (and md5 in pg_hba.conf)",
                    c.psql_prefix(),
                    shell_word(&format!("\\password {}", c.user))
                )
            },
            "or go through Kong 2.8.4+ first (--target-version 2.8.5), whose driver speaks SCRAM".into(),
        ],
    });
}

fn data_planes(input: &PreflightInput<'_>, out: &mut Vec<Finding>) {
    let Some(dps) = input.data_planes else {
        return;
    };
    // A version the row does not tell is said, not taken as the right one.
    let other: Vec<String> = dps
        .iter()
        .filter_map(|d| match d.version {
            Some(v) => (v.major != input.target.major)
                .then(|| format!("data plane {}: Kong {v}", d.hostname)),
            None => Some(format!(
                "data plane {}: its version is not known (clustering_data_planes.version is empty or unreadable): check it on the node",
                d.hostname
            )),
        })
        .collect();
    if other.is_empty() {
        return;
    }
    out.push(Finding {
        id: FindingId::HybridDpMajor,
        severity: Severity::Warning,
        title: format!(
            "{} on another major than the target control plane {}{}",
            plural(other.len() as i64, "data plane", "data planes"),
            input.target,
            if dps.iter().any(|d| d.version.is_none()) { ", or of a version not known" } else { "" }
        ),
        seen: other,
        why: "A control plane serves data planes of its own major only: after the upgrade these keep running their last configuration and receive no changes until they are upgraded.".into(),
        remedy: vec![
            format!("kongrade plan --target-version {} --deployment hybrid   # the control plane first, then the data planes one by one (rolling)", input.target),
            {
                let (curl, url) = admin_curl(input);
                format!("{curl} {url}/clustering/data-planes   # on the control plane's Admin API, after each: the new data plane in sync")
            },
        ],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    struct Case {
        from: Option<Version>,
        target: Version,
        hops: Vec<Version>,
        conf_keys: Vec<(String, String)>,
        env: Vec<String>,
        plugins_setting: Vec<String>,
        routes: Option<Vec<RoutePaths>>,
        count: Option<i64>,
        refused: Option<i64>,
        db_plugins: Option<Vec<String>>,
        custom: Vec<CustomPlugin>,
        server: Option<u32>,
        scram: Option<bool>,
        dps: Option<Vec<DataPlane>>,
        incomplete: Vec<String>,
    }

    /// A clean 2.8.5 -> 3.4.2 upgrade: everything read, nothing wrong.
    fn clean() -> Case {
        Case {
            from: Some(v("2.8.5")),
            target: v("3.4.2"),
            hops: vec![v("3.4.2")],
            conf_keys: vec![
                ("pg_host".into(), "db".into()),
                ("upstream_keepalive_pool_size".into(), "60".into()),
            ],
            env: vec!["KONG_PG_PASSWORD".into()],
            plugins_setting: vec!["bundled".into()],
            routes: Some(vec![RoutePaths {
                id: "r1".into(),
                name: Some("plain".into()),
                paths: vec!["/api/v1".into(), "~/already/\\d+".into()],
            }]),
            count: None,
            refused: None,
            db_plugins: Some(vec!["key-auth".into(), "rate-limiting".into()]),
            custom: vec![CustomPlugin {
                name: "my-auth".into(),
                requires: vec![("handler.lua".into(), "kong.plugins.my-auth.access".into())],
            }],
            server: Some(150004),
            scram: Some(false),
            dps: Some(vec![DataPlane {
                hostname: "dp1".into(),
                version: Some(v("3.4.1")),
            }]),
            incomplete: vec![],
        }
    }

    #[test]
    fn a_failed_read_is_said_never_a_silent_clean_result() {
        let mut c = clean();
        assert!(run(&c)
            .iter()
            .all(|f| f.id.as_str() != "preflight-incomplete"));
        c.incomplete = vec!["routes, plugins and server version: timeout".into()];
        let f = run(&c);
        let i = get(&f, "preflight-incomplete");
        assert_eq!(i.severity, Severity::Warning);
        assert_eq!(i.seen, c.incomplete);
    }

    /// A login method not read is a failed read only where a Kong of the plan cannot answer
    /// SCRAM: a 3.4 -> 3.9 upgrade (the wizard's, too) is not stopped by it.
    #[test]
    fn an_unread_login_is_incomplete_only_where_scram_matters() {
        let d = PreflightData {
            scram_unread: Some(
                "the login the server asks of role kong (the SCRAM check): refused".into(),
            ),
            ..PreflightData::default()
        };
        let cat = Catalog::embedded();
        let modern = d.findings(Some(v("3.4.2")), v("3.9.1"), &[v("3.9.1")], cat);
        assert!(
            !ids(&modern).contains(&"preflight-incomplete"),
            "{:?}",
            ids(&modern)
        );
        let old = d.findings(Some(v("2.5.0")), v("3.4.2"), &[v("2.6.0"), v("3.4.2")], cat);
        assert_eq!(
            get(&old, "preflight-incomplete").seen,
            ["the login the server asks of role kong (the SCRAM check): refused"]
        );
    }

    /// The remedies' Admin API: a plain listener first, `-k` over a self-signed `ssl` one, the
    /// wildcard addresses on the loopback, any other address as written.
    #[test]
    fn the_admin_api_of_the_remedies_is_kong_confs() {
        let with = |listen: &str| {
            let keys = vec![("admin_listen".to_string(), listen.to_string())];
            let input = PreflightInput {
                conf_keys: &keys,
                ..base_input()
            };
            admin_curl(&input)
        };
        let plain = |u: &str| ("curl -sS".to_string(), u.to_string());
        assert_eq!(
            with("0.0.0.0:8444 http2 ssl, 127.0.0.1:8001"),
            plain("http://127.0.0.1:8001")
        );
        assert_eq!(
            with("10.0.0.0:8001 reuseport backlog=16384"),
            plain("http://10.0.0.0:8001")
        );
        assert_eq!(with("[::]:8001"), plain("http://[::1]:8001"));
        assert_eq!(
            with("0.0.0.0:8444 http2 ssl"),
            (
                "curl -sS -k".to_string(),
                "https://127.0.0.1:8444".to_string()
            )
        );
        assert_eq!(with("off"), plain("http://127.0.0.1:8001"));
    }

    fn base_input() -> PreflightInput<'static> {
        PreflightInput {
            from: None,
            target: v("3.4.2"),
            hops: &[],
            conf_path: None,
            conf_keys: &[],
            env_names: &[],
            plugins_setting: &[],
            regex_routes: None,
            regex_route_count: None,
            regex_refused_paths: None,
            db_plugins: None,
            custom_plugins: &[],
            lua_path: None,
            server_version_num: None,
            scram: None,
            data_planes: None,
            incomplete: &[],
            connection: None,
            catalog: Catalog::embedded(),
            conf: ConfBook::embedded(),
            facts: HandFacts::embedded(),
            modules: ModuleBook::embedded(),
        }
    }

    fn run(c: &Case) -> Vec<Finding> {
        let conn = crate::kong::plan::BackupTarget {
            host: "db.internal".into(),
            port: 6432,
            user: "kong_app".into(),
            database: "kong_prod".into(),
            ..Default::default()
        };
        preflight(&PreflightInput {
            from: c.from,
            target: c.target,
            hops: &c.hops,
            conf_path: Some("/etc/kong/kong.conf"),
            conf_keys: &c.conf_keys,
            env_names: &c.env,
            plugins_setting: &c.plugins_setting,
            regex_routes: c.routes.as_deref(),
            regex_route_count: c.count,
            regex_refused_paths: c.refused,
            db_plugins: c.db_plugins.as_deref(),
            custom_plugins: &c.custom,
            lua_path: Some("/usr/local/share/lua/5.1"),
            server_version_num: c.server,
            scram: c.scram,
            data_planes: c.dps.as_deref(),
            incomplete: &c.incomplete,
            connection: Some(&conn),
            catalog: Catalog::embedded(),
            conf: ConfBook::embedded(),
            facts: HandFacts::embedded(),
            modules: ModuleBook::embedded(),
        })
    }

    fn get<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
        f.iter().find(|x| x.id.as_str() == id).unwrap_or_else(|| {
            panic!(
                "no {id} in {:?}",
                f.iter().map(|x| x.id.as_str()).collect::<Vec<_>>()
            )
        })
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|x| x.id.as_str()).collect()
    }

    #[test]
    fn clean_input_has_only_the_changed_defaults() {
        let f = run(&clean());
        assert_eq!(ids(&f), ["conf-defaults-changed"]);
        let d = get(&f, "conf-defaults-changed");
        assert_eq!(d.severity, Severity::Info);
        assert!(
            d.seen
                .iter()
                .any(|s| s == "worker_consistency: strict -> eventual (3.0.0)"),
            "{:?}",
            d.seen
        );
        assert!(
            d.seen
                .iter()
                .any(|s| s.starts_with("lua_ssl_trusted_certificate: NONE -> system")),
            "{:?}",
            d.seen
        );
        // Set by the operator: not a changed default.
        assert!(
            !d.seen
                .iter()
                .any(|s| s.starts_with("upstream_keepalive_pool_size")),
            "{:?}",
            d.seen
        );
        // A patch upgrade with nothing changed says nothing.
        let mut c = clean();
        c.from = Some(v("3.4.2"));
        assert!(run(&c).is_empty(), "{:?}", ids(&run(&c)));
    }

    #[test]
    fn removed_renamed_deprecated_and_unknown_keys() {
        let mut c = clean();
        c.conf_keys.push(("upstream_keepalive".into(), "60".into()));
        c.conf_keys
            .push(("router_consistency".into(), "strict".into()));
        c.conf_keys
            .push(("opentelemetry_tracing".into(), "all".into()));
        c.conf_keys.push(("pg_hots".into(), "x".into()));
        c.conf_keys.push(("nginx_http_gzip".into(), "on".into()));
        c.env.push("KONG_CLIENT_MAX_BODY_SIZE".into());
        c.env.push("KONG_DOCKER_THING".into());
        let f = run(&c);
        let r = get(&f, "conf-key-removed");
        assert_eq!(r.severity, Severity::Error);
        assert!(
            r.seen[0].contains("kong.conf: upstream_keepalive")
                && r.seen[0].contains("use upstream_keepalive_pool_size"),
            "{:?}",
            r.seen
        );
        assert!(
            r.seen[2].contains("environment: KONG_CLIENT_MAX_BODY_SIZE")
                && r.seen[2].contains("nginx_http_client_max_body_size"),
            "{:?}",
            r.seen
        );
        assert!(
            r.remedy[0].starts_with("cp -n /etc/kong/kong.conf /etc/kong/kong.conf.before-3.4.2"),
            "{:?}",
            r.remedy
        );
        assert!(
            r.remedy[1].starts_with("sed -i")
                && r.remedy[1].contains("upstream_keepalive_pool_size ="),
            "{:?}",
            r.remedy
        );
        assert!(
            r.remedy
                .iter()
                .any(|x| x.starts_with("export KONG_NGINX_HTTP_CLIENT_MAX_BODY_SIZE=")),
            "{:?}",
            r.remedy
        );
        assert!(r
            .remedy
            .last()
            .unwrap()
            .starts_with("kong check /etc/kong/kong.conf"));
        // Renamed and gone from the target's defaults: dropped, its alias never runs.
        assert!(
            r.seen
                .iter()
                .any(|s| s.contains("kong.conf: router_consistency")
                    && s.contains("use worker_consistency")),
            "{:?}",
            r.seen
        );
        // Renamed, still a key of the target: read with a warning.
        let d = get(&f, "conf-key-deprecated");
        assert_eq!(d.seen.len(), 1, "{:?}", d.seen);
        assert!(
            d.seen[0].contains("opentelemetry_tracing")
                && d.seen[0].contains("tracing_instrumentations"),
            "{:?}",
            d.seen
        );
        assert!(d.remedy[0].starts_with("cp -n "), "{:?}", d.remedy);
        let u = get(&f, "conf-key-unknown");
        assert_eq!(u.seen.len(), 1, "{:?}", u.seen);
        assert!(u.seen[0].contains("pg_hots"));
        // privileged_agent at 3.5.
        let mut c = clean();
        c.from = Some(v("3.4.2"));
        c.target = v("3.5.0");
        c.conf_keys.push(("privileged_agent".into(), "on".into()));
        let f = run(&c);
        assert!(get(&f, "conf-key-removed").seen[0].contains("dedicated_config_processing"));
    }

    #[test]
    fn regex_routes_counted_listed_and_incompatible_ones_flagged() {
        let mut c = clean();
        c.routes = Some(vec![
            RoutePaths {
                id: "r1".into(),
                name: Some("users".into()),
                paths: vec!["/users/\\d+".into(), "/plain".into()],
            },
            RoutePaths {
                id: "r2".into(),
                name: None,
                paths: vec!["/(?!admin).*".into()],
            },
            RoutePaths {
                id: "r3".into(),
                name: None,
                paths: vec!["/a%2Fb(x)".into()],
            },
        ]);
        c.count = Some(1500);
        let f = run(&c);
        let r = get(&f, "routes-regex-unprefixed");
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.title.starts_with("1500 routes"), "{}", r.title);
        // More refused paths than the routes listed hold: counted, said so.
        c.refused = Some(7);
        let s = run(&c);
        c.refused = None;
        let b = get(&s, "routes-regex-incompatible");
        assert!(b.title.starts_with("7 regex paths"), "{}", b.title);
        assert_eq!(b.seen.last().unwrap(), "... 7 refused paths in all");
        assert_eq!(r.seen[0], "route users (r1): /users/\\d+");
        assert!(
            r.seen.iter().any(|s| s == "... 1500 routes in all"),
            "{:?}",
            r.seen
        );
        assert!(
            r.seen.iter().any(|s| s.contains("percent-encoding")),
            "{:?}",
            r.seen
        );
        assert!(r.remedy[0].starts_with("deck file convert"));
        let bad = get(&f, "routes-regex-incompatible");
        assert_eq!(bad.severity, Severity::Error);
        assert_eq!(bad.seen, ["route r2: /(?!admin).*   (negative look-ahead)"]);
        // router_flavor = traditional keeps PCRE: no error.
        c.conf_keys
            .push(("router_flavor".into(), "traditional".into()));
        assert!(!ids(&run(&c)).contains(&"routes-regex-incompatible"));
        // Not crossing into 3.x: nothing.
        let mut c2 = c;
        c2.from = Some(v("3.0.0"));
        assert!(!ids(&run(&c2)).contains(&"routes-regex-unprefixed"));
        assert_eq!(incompatible_regex("/x/(\\w+)/\\1"), Some("backreference"));
        assert_eq!(incompatible_regex("/(?<name>\\w+)"), None);
        assert!(is_regex_path("/a(b)") && !is_regex_path("/a-b_c.d~/%20"));
    }

    /// Every route is judged by the one rule, whatever order the store sends them in: the count
    /// is exact, the listed ones are the lowest ids, every refused path is counted (past the
    /// routes kept to be listed) and plain or `~` routes are ignored.
    #[test]
    fn a_routes_scan_counts_every_route_and_keeps_the_lowest_ids() {
        let mut scan = RoutesScan::default();
        let route = |i: usize, paths: &[&str]| RoutePaths {
            id: format!("{i:08}"),
            name: None,
            paths: paths.iter().map(|p| p.to_string()).collect(),
        };
        // 3,000 routes, sent from the highest id down: 1,000 regex, 300 of those refused.
        for i in (0..3000).rev() {
            let r = match i % 3 {
                0 if i % 10 == 0 => route(i, &["/plain", "/(?=x)y"]),
                0 => route(i, &["/users/\\d+"]),
                1 => route(i, &["/plain", "~/already/(?=x)"]),
                _ => route(i, &["/a-b_c.d~/%20"]),
            };
            scan.add(r);
        }
        assert_eq!(
            (scan.rows, scan.regex, scan.refused_paths),
            (3000, 1000, 100)
        );
        let routes = scan.routes();
        assert_eq!(routes[0].id, "00000000");
        assert_eq!(
            routes[LIST_MAX - 1].id,
            format!("{:08}", 3 * (LIST_MAX - 1))
        );
        // The refused ones past the listed: the lowest, each once.
        let refused: Vec<&RoutePaths> = routes
            .iter()
            .filter(|r| {
                r.paths
                    .iter()
                    .any(|p| incompatible_regex(p).is_some() && !p.starts_with('~'))
            })
            .collect();
        assert_eq!(refused.len(), 100);
        let mut ids: Vec<&str> = routes.iter().map(|r| r.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), routes.len());
    }

    #[test]
    fn plugins_not_shipped_and_not_loaded() {
        let mut c = clean();
        c.db_plugins = Some(vec![
            "key-auth".into(),
            "my-auth".into(),
            "gone-plugin".into(),
        ]);
        c.plugins_setting = vec!["bundled".into()];
        let f = run(&c);
        let s = get(&f, "plugins-not-shipped");
        assert_eq!(
            s.seen,
            ["plugins rows named gone-plugin: Kong 3.4.2 does not bundle it"]
        );
        let l = get(&f, "plugins-not-loaded");
        assert_eq!(
            l.seen,
            ["plugins rows named my-auth: not in plugins = bundled"]
        );
        // Listed: loaded; `off` loads nothing.
        c.plugins_setting = vec!["bundled".into(), "my-auth".into(), "gone-plugin".into()];
        assert!(!ids(&run(&c)).iter().any(|i| i.starts_with("plugins-")));
        c.plugins_setting = vec!["off".into()];
        c.db_plugins = Some(vec!["key-auth".into()]);
        assert!(get(&run(&c), "plugins-not-loaded").seen[0].contains("key-auth"));
    }

    #[test]
    fn custom_plugins_requiring_removed_modules() {
        let mut c = clean();
        c.custom[0]
            .requires
            .push(("handler.lua".into(), "kong.plugins.base_plugin".into()));
        let f = run(&c);
        let m = get(&f, "custom-plugin-removed-module");
        assert_eq!(m.seen, ["my-auth (handler.lua): require \"kong.plugins.base_plugin\", removed in Kong 3.0.0"]);
        assert_eq!(
            m.remedy[0],
            "grep -rnE 'kong\\.plugins\\.base_plugin' /usr/local/share/lua/5.1   # every line to change"
        );
        assert!(m.remedy[1].starts_with("kong.plugins.base_plugin: drop the require"));
        assert!(m.remedy[1].contains("PRIORITY and VERSION"));
        // Already on 3.x: the module was gone before; not this upgrade's doing.
        c.from = Some(v("3.0.0"));
        assert!(!ids(&run(&c)).contains(&"custom-plugin-removed-module"));
    }

    /// Modules the hand-kept list has no advice for come from the tags' facts, with a generic
    /// remedy naming the releases; modules the target ships, and names no release shipped, are
    /// not findings.
    #[test]
    fn removed_modules_come_from_the_tags_facts() {
        let mut c = clean();
        c.custom[0].requires = vec![
            ("handler.lua:3".into(), "kong.cache.marshall".into()),
            ("handler.lua:4".into(), "kong.vendor.classic".into()),
            ("handler.lua:5".into(), "kong.tools.utils".into()),
            ("handler.lua:6".into(), "kong.router".into()),
            ("handler.lua:7".into(), "kong.plugins.my-auth.access".into()),
            ("handler.lua:8".into(), "resty.http".into()),
            ("lib/a.lua:1".into(), "kong.vendor.classic".into()),
        ];
        assert!(HandFacts::embedded()
            .module_advice("kong.cache.marshall")
            .is_none());
        let f = run(&c);
        let m = get(&f, "custom-plugin-removed-module");
        assert_eq!(
            m.seen,
            [
                "my-auth (handler.lua:3): require \"kong.cache.marshall\", removed in Kong 3.4.0",
                "my-auth (handler.lua:4): require \"kong.vendor.classic\", removed in Kong 3.0.0",
                "my-auth (lib/a.lua:1): require \"kong.vendor.classic\", removed in Kong 3.0.0",
            ]
        );
        assert_eq!(
            m.remedy,
            [
                "grep -rnE 'kong\\.cache\\.marshall|kong\\.vendor\\.classic' /usr/local/share/lua/5.1   # every line to change",
                "kong.cache.marshall: last shipped in Kong 3.3.1, not in 3.4.0: require what Kong 3.4.2 ships in its place (its CHANGELOG for 3.4.0 says what replaced it), or carry the code in the plugin",
                "kong.vendor.classic: last shipped in Kong 2.8.5, not in 3.0.0: require what Kong 3.4.2 ships in its place (its CHANGELOG for 3.0.0 says what replaced it), or carry the code in the plugin",
            ]
        );
        // The same release: nothing is lost.
        c.target = v("2.8.5");
        c.hops = vec![v("2.8.5")];
        assert!(!ids(&run(&c)).contains(&"custom-plugin-removed-module"));
        // 3.0 -> 3.4: marshall goes (3.4.0), classic was gone already.
        c.from = Some(v("3.0.0"));
        c.target = v("3.4.2");
        c.hops = vec![v("3.4.2")];
        let f = run(&c);
        assert_eq!(get(&f, "custom-plugin-removed-module").seen.len(), 1);
    }

    /// 2.0 to 2.5 bundle aws-lambda from its own rock: the tree lacks its modules, the tags
    /// cannot say they are gone.
    #[test]
    fn modules_of_a_plugin_bundled_from_a_rock_are_not_called_removed() {
        let book = ModuleBook::embedded();
        assert_eq!(
            book.ships("kong.plugins.aws-lambda.v4", v("2.3.0")),
            Some(false)
        );
        let mut c = clean();
        c.from = Some(v("1.5.1"));
        c.target = v("2.3.0");
        c.hops = vec![v("2.3.0")];
        c.custom[0].requires = vec![
            ("handler.lua:1".into(), "kong.plugins.aws-lambda.v4".into()),
            ("handler.lua:2".into(), "kong.plugins.base_plugin".into()),
        ];
        assert!(!ids(&run(&c)).contains(&"custom-plugin-removed-module"));
        // 3.5 drops v4 from aws-lambda, which is in the tree again.
        c.from = Some(v("3.4.2"));
        c.target = v("3.5.0");
        c.hops = vec![v("3.5.0")];
        let f = run(&c);
        let m = get(&f, "custom-plugin-removed-module");
        assert_eq!(m.seen.len(), 1, "{:?}", m.seen);
        assert!(m.remedy[1].contains("resty.aws"), "{:?}", m.remedy);
    }

    #[test]
    fn postgres_versions() {
        let mut c = clean();
        c.server = Some(90_424);
        let f = run(&c);
        assert_eq!(get(&f, "postgres-too-old").severity, Severity::Error);
        assert!(get(&f, "postgres-too-old").title.contains("9.4.24"));
        assert!(!ids(&f).contains(&"postgres-untested"));
        c.server = Some(110_005);
        let u = run(&c);
        let u = get(&u, "postgres-untested");
        assert!(
            u.title.contains("PostgreSQL 11.5") && u.title.contains("12-16"),
            "{}",
            u.title
        );
        c.server = Some(170_000);
        assert!(ids(&run(&c)).contains(&"postgres-untested"));
        c.target = v("3.9.3");
        c.hops = vec![v("3.4.2"), v("3.9.3")];
        assert!(!ids(&run(&c)).contains(&"postgres-untested"));
    }

    /// Each finding's remedy opens with a command to run (the issue's "remedy, command first"),
    /// on this database where it names one.
    #[test]
    fn every_preflight_remedy_opens_with_a_command() {
        let mut c = clean();
        c.conf_keys = vec![
            // renamed, dropped by 3.0 (replacement), removed with no replacement, still
            // deprecated at the target, and misspelt.
            ("upstream_keepalive".into(), "60".into()),
            ("cassandra_contact_points".into(), "c1".into()),
            ("router_consistency".into(), "strict".into()),
            ("opentelemetry_tracing".into(), "all".into()),
            ("proxy_listn".into(), "0.0.0.0:8000".into()),
        ];
        c.from = Some(v("2.8.5"));
        c.target = v("3.9.1");
        c.hops = vec![v("2.8.1"), v("3.4.2"), v("3.9.1")];
        c.scram = Some(true);
        c.server = Some(90400);
        c.dps = Some(vec![DataPlane {
            hostname: "dp1".into(),
            version: Some(v("2.8.5")),
        }]);
        c.routes = Some(vec![RoutePaths {
            id: "3f6c2a9e-0000-4000-8000-000000000001".into(),
            name: Some("admin's".into()),
            paths: vec!["/(?!admin).*".into(), "/users/\\d+".into()],
        }]);
        // Not bundled by 3.9.1; bundled but not loaded by `plugins`.
        c.db_plugins = Some(vec![
            "my-auth".into(),
            "rate-limiting".into(),
            "key-auth".into(),
        ]);
        c.custom = vec![];
        c.plugins_setting = vec!["key-auth".into()];
        c.conf_keys.push(("plugins".into(), "key-auth".into()));
        c.conf_keys.push((
            "admin_listen".into(),
            "0.0.0.0:8444 http2 ssl, 127.0.0.1:8001".into(),
        ));
        let mut f = run(&c);
        c.server = Some(90600);
        f.extend(
            run(&c)
                .into_iter()
                .filter(|x| x.id.as_str() == "postgres-untested"),
        );
        let commands = REMEDY_COMMANDS;
        let want = [
            "conf-key-removed",
            "conf-key-deprecated",
            "conf-key-unknown",
            "conf-defaults-changed",
            "routes-regex-unprefixed",
            "routes-regex-incompatible",
            "plugins-not-shipped",
            "plugins-not-loaded",
            "postgres-too-old",
            "postgres-untested",
            "scram-old-kong",
            "hybrid-dp-major",
        ];
        for id in want {
            let x = get(&f, id);
            assert!(
                commands.iter().any(|c| x.remedy[0].starts_with(c)),
                "{id}: {:?}",
                x.remedy
            );
        }
        // No line holds a <placeholder>: pasted into a shell, `<id>` reads a file named id.
        for x in &f {
            for r in &x.remedy {
                let b = r.as_bytes();
                assert!(
                    !b.windows(2)
                        .any(|w| w[0] == b'<' && w[1].is_ascii_alphabetic()),
                    "{}: {r}",
                    x.id.as_str()
                );
            }
        }
        // The routes' and plugins' commands name the rows seen, on kong.conf's Admin API.
        let bad = get(&f, "routes-regex-incompatible");
        assert!(
            bad.remedy[0].starts_with("echo 'router_flavor = traditional' >> /etc/kong/kong.conf"),
            "{:?}",
            bad.remedy
        );
        assert_eq!(
            bad.remedy[1].split("   #").next().unwrap(),
            "curl -sS -X PATCH http://127.0.0.1:8001/routes/3f6c2a9e-0000-4000-8000-000000000001 \
             --data-urlencode 'paths[]=/(?!admin).*' --data-urlencode 'paths[]=/users/\\d+'"
        );
        let unprefixed = get(&f, "routes-regex-unprefixed");
        assert!(
            unprefixed.remedy[1].starts_with("psql -h db.internal"),
            "{:?}",
            unprefixed.remedy
        );
        let shipped = get(&f, "plugins-not-shipped");
        assert!(
            shipped.remedy[0].contains(r"WHERE name IN ('\''my-auth'\'')"),
            "{:?}",
            shipped.remedy
        );
        assert!(
            shipped.remedy[1].starts_with("luarocks install kong-plugin-my-auth"),
            "{:?}",
            shipped.remedy
        );
        assert!(
            shipped.remedy[2]
                .contains("| xargs -I{} curl -sS -X DELETE http://127.0.0.1:8001/plugins/{}"),
            "{:?}",
            shipped.remedy
        );
        let loaded = get(&f, "plugins-not-loaded");
        assert_eq!(
            loaded.remedy[1],
            "sed -i 's/^\\s*plugins\\s*=.*/plugins = key-auth,rate-limiting/' /etc/kong/kong.conf"
        );
        let pins = get(&f, "conf-defaults-changed");
        assert!(
            pins.remedy[0].starts_with("printf '%s\\n' "),
            "{:?}",
            pins.remedy
        );
        assert!(
            pins.remedy[0].contains(" 'dns_stale_ttl = 4' "),
            "{:?}",
            pins.remedy
        );
        // lua_ssl_trusted_certificate's old NONE is no value to write back.
        assert!(
            pins.seen
                .iter()
                .any(|x| x.starts_with("lua_ssl_trusted_certificate: NONE")),
            "{:?}",
            pins.seen
        );
        assert!(
            !pins.remedy[0].contains("lua_ssl_trusted_certificate"),
            "{:?}",
            pins.remedy
        );
        // Set under its old name (router_consistency): not a default to pin.
        assert!(
            !pins
                .seen
                .iter()
                .any(|x| x.starts_with("worker_consistency")),
            "{:?}",
            pins.seen
        );
        for x in &f {
            if x.remedy
                .iter()
                .any(|r| r.starts_with("psql ") || r.starts_with("pg_dump "))
            {
                assert!(
                    x.remedy
                        .iter()
                        .filter(|r| r.starts_with("psql ") || r.starts_with("pg_dump "))
                        .all(|r| r.contains("-h db.internal -p 6432 -U kong_app -d kong_prod")),
                    "{}: {:?}",
                    x.id.as_str(),
                    x.remedy
                );
            }
        }
    }

    #[test]
    fn scram_with_old_kong_hops() {
        let mut c = clean();
        c.from = Some(v("2.5.0"));
        c.hops = vec![v("2.8.1"), v("3.0.2"), v("3.4.2")];
        c.scram = Some(true);
        let f = run(&c);
        let s = get(&f, "scram-old-kong");
        assert_eq!(s.severity, Severity::Error);
        assert_eq!(s.seen.len(), 1);
        assert!(
            s.seen[0].starts_with("Kong 2.8.1 in the plan") && s.seen[0].contains("luaossl"),
            "{:?}",
            s.seen
        );
        // On this database, for this role.
        assert!(
            s.remedy[0].starts_with("psql -h db.internal -p 6432 -U kong_app -d kong_prod -c \"SET password_encryption = 'md5'\" -c '\\password kong_app'"),
            "{:?}",
            s.remedy
        );
        c.hops = vec![v("2.8.5"), v("3.4.2")];
        assert!(!ids(&run(&c)).contains(&"scram-old-kong"));
        c.hops = vec![v("2.6.1")];
        c.scram = Some(false);
        assert!(!ids(&run(&c)).contains(&"scram-old-kong"));
    }

    #[test]
    fn data_planes_of_another_major() {
        let mut c = clean();
        c.dps = Some(vec![
            DataPlane {
                hostname: "dp-old".into(),
                version: Some(v("2.8.5")),
            },
            DataPlane {
                hostname: "dp-new".into(),
                version: Some(v("3.4.2")),
            },
            DataPlane {
                hostname: "dp-unknown".into(),
                version: None,
            },
        ]);
        let f = run(&c);
        let h = get(&f, "hybrid-dp-major");
        assert_eq!(h.seen.len(), 2, "{:?}", h.seen);
        assert_eq!(h.seen[0], "data plane dp-old: Kong 2.8.5");
        // Not known is said, never taken as the target's major.
        assert!(
            h.seen[1].starts_with("data plane dp-unknown: its version is not known"),
            "{:?}",
            h.seen
        );
        // Only unknown: still said.
        c.dps = Some(vec![DataPlane {
            hostname: "dp-unknown".into(),
            version: None,
        }]);
        assert_eq!(get(&run(&c), "hybrid-dp-major").seen.len(), 1);
    }
}
