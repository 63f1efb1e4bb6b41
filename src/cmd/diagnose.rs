//! `kongrade diagnose [--json]`: findings grouped by severity, the commands first.
//! Exit codes: 0 nothing above information, 2 warnings, 1 errors.

use color_eyre::eyre::Result;
use serde_json::json;

use super::context::Context;
use super::Code;
use crate::contract::DbIdentity;
use crate::kong::catalog::Catalog;
use crate::kong::diagnose::{self, DiagnoseInput, Finding, Settings, Severity, WritesSinceUp};
use crate::kong::plan::database_version;
use crate::kong::policy::{self, Assessment, History, PolicyInput};
use crate::kong::snapshot::Snapshot;
use crate::kong::state::{self, describe_versions, SchemaState};
use crate::store::Store;

/// The flags `kong migrations` will be given, so that advice accounts for them.
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrationFlags {
    /// `--db-timeout` (seconds).
    pub db_timeout: Option<u64>,
    /// `--lock-timeout` (seconds).
    pub lock_timeout: Option<u64>,
}

/// Everything read from the database for a diagnosis or a plan.
pub struct Gathered {
    pub snapshot: Snapshot,
    pub state: SchemaState,
    pub row_counts: Option<Vec<(String, i64)>>,
    /// Why the counts are missing, when reading them failed.
    pub count_error: Option<String>,
    pub settings: Settings,
    /// Entity writes since the journaled `up` finished (when migrations are pending): when, and
    /// rows per table.
    pub writes_since_up: Option<WritesSinceUp>,
    /// This database's open upgrade, from its journal.
    pub history: Option<History>,
}

/// The history of this database's open upgrade, from its journal (None: no open journal, or it
/// cannot be read: the policy then judges from the database alone).
pub fn history(ctx: &Context) -> Option<History> {
    crate::exec::journal::open_history(&ctx.conn.endpoint.identity())
}

/// Admin API writes since the journaled `up` ended, read only while migrations are pending and
/// the journal knows when `up` ended, on an open store (the wizard's poller keeps one). Any
/// failure just leaves the check out: it is advice, not a gate.
pub async fn writes_since_up(store: &dyn Store, id: &DbIdentity) -> Option<WritesSinceUp> {
    let dir = crate::exec::datadir::sub_dir("journal").ok()?;
    let since = crate::exec::journal::last_up_finished(&dir, id).ok()??;
    let rows = store.writes_since(since).await.ok()??;
    Some(WritesSinceUp {
        since: crate::exec::datadir::utc_stamp(since).0,
        rows,
    })
}

impl Gathered {
    pub fn input<'a>(&'a self, ctx: &'a Context) -> DiagnoseInput<'a> {
        DiagnoseInput {
            state: &self.state,
            snapshot: &self.snapshot,
            target: &ctx.target,
            catalog: ctx.catalog,
            row_counts: self.row_counts.as_deref(),
            settings: &self.settings,
            writes_since_up: self.writes_since_up.as_ref(),
            history: self.history.as_ref(),
        }
    }
}

/// Reads the state and the big tables' sizes. A failure to count is not fatal: the diagnosis
/// goes on without the large-table advice and says so.
pub async fn gather(ctx: &Context, flags: &MigrationFlags) -> Result<Gathered> {
    Ok(gather_keeping(ctx, flags).await?.0)
}

/// [`gather`], and the session it read on (for the preflight's one query).
pub async fn gather_keeping(
    ctx: &Context,
    flags: &MigrationFlags,
) -> Result<(Gathered, Box<dyn Store>)> {
    let store = ctx.store().await?;
    let snapshot = store.snapshot().await?;
    let state = state::compute(&ctx.target, &snapshot, ctx.catalog);
    // The same count as the wizard's poller (core 016_280_to_300's estimate included when the
    // jump crosses into 3.x).
    let routes = crate::kong::preflight::reads_routes(&state, &ctx.target);
    let (row_counts, count_error) =
        match crate::store::big_table_counts(store.as_ref(), &snapshot, routes).await {
            Ok(c) => (c, None),
            Err(e) => (None, Some(e.to_string())),
        };
    let writes = if state.any(crate::kong::state::MigState::Pending) {
        writes_since_up(store.as_ref(), &ctx.conn.endpoint.identity()).await
    } else {
        None
    };
    Ok((
        Gathered {
            writes_since_up: writes,
            history: history(ctx),
            snapshot,
            state,
            row_counts,
            count_error,
            settings: ctx.settings(flags.db_timeout, flags.lock_timeout),
        },
        store,
    ))
}

/// The policy's answer for what was read (the nodes are not probed here), with a note when the
/// row counts could not be read.
pub fn assess(g: &Gathered, ctx: &Context) -> Assessment {
    assess_as(g, ctx, None)
}

/// [`assess`] under a strategy given on the command line (`None`: the journal's, if any).
pub fn assess_as(
    g: &Gathered,
    ctx: &Context,
    strategy: Option<crate::kong::strategy::Strategy>,
) -> Assessment {
    let mut a = policy::assess(&PolicyInput {
        diagnose: g.input(ctx),
        nodes: None,
        running: false,
        strategy,
    });
    if let Some(e) = &g.count_error {
        a.findings.push(diagnose::counts_unavailable(e));
    }
    a
}

/// Where the upgrade stands and what is next, as the header lines of every report.
pub fn position_text(a: &Assessment) -> String {
    let mut s = format!(
        "Position: {}
",
        a.position.describe()
    );
    s.push_str(&format!("Next:     {}", a.next.title));
    if let Some(v) = a.next.kong_version {
        s.push_str(&format!("   [with Kong {v}]"));
    }
    s.push('\n');
    if let Some(c) = &a.next.command {
        s.push_str(&format!("          $ {c}\n"));
    }
    s
}

/// The policy's answer as JSON keys (added to each command's report).
pub fn policy_json(a: &Assessment) -> serde_json::Value {
    json!({
        "position": a.position,
        "next": a.next,
        "rollback": a.rollback,
    })
}

/// What the preflight read, so that "no preflight findings" can be told from "nothing read":
/// `null` where a read was not made (no kong.conf, routes not judged, no Lua tree...), and the
/// reads that failed. Names and counts only, never a value (kong.conf and the environment hold
/// passwords).
pub fn preflight_read_json(d: &crate::kong::preflight::PreflightData) -> serde_json::Value {
    json!({
        "kong_conf": d.conf_path,
        "kong_conf_keys": d.conf_path.as_ref().map(|_| d.conf_keys.len()),
        "env_names": d.env_names,
        "plugins_setting": d.plugins_setting,
        "server_version_num": d.server_version_num,
        "plugins_in_database": d.db_plugins,
        "regex_routes": d.regex_route_count,
        "custom_plugins": d.lua_path.as_ref().map(|_| d.custom_plugins.len()),
        "scram_asked": d.scram,
        "data_planes": d.data_planes.as_ref().map(Vec::len),
        "incomplete": d.incomplete,
        "scram_unread": d.scram_unread,
    })
}

/// Word-wraps `text` at `width` columns with every line indented by `indent`.
pub fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human report: the header, then errors, warnings and information, each finding with its
/// commands first, then what was seen and why.
pub fn render_text(
    findings: &[Finding],
    state: &SchemaState,
    catalog: &Catalog,
    header: &str,
) -> String {
    let mut out = format!("{header}\n");
    if !state.needs_bootstrap {
        match database_version(state) {
            Some(v) => out.push_str(&format!(
                "Schema:   Kong {v} (the recorded migrations match {})\n",
                describe_versions(
                    catalog,
                    if state.schema_matches.is_empty() {
                        &state.core_matches
                    } else {
                        &state.schema_matches
                    }
                )
            )),
            None => out.push_str("Schema:   matches no Kong release\n"),
        }
    }
    out.push('\n');
    if findings.is_empty() {
        out.push_str("No findings: nothing stands in the way.\n");
        return out;
    }
    for (sev, heading) in [
        (Severity::Error, "ERRORS"),
        (Severity::Warning, "WARNINGS"),
        (Severity::Info, "INFORMATION"),
    ] {
        let group: Vec<&Finding> = findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        out.push_str(&format!("{heading}\n"));
        for f in group {
            out.push_str(&format!("  [{}] {}\n", f.id, f.title));
            // Commands are never wrapped: they are meant to be copied.
            for r in &f.remedy {
                out.push_str(&format!("      {r}\n"));
            }
            for s in &f.seen {
                out.push_str(&wrap(&format!("seen: {s}"), "      ", 100));
            }
            out.push_str(&wrap(&format!("why:  {}", f.why), "      ", 100));
            out.push('\n');
        }
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    out.push_str(&format!(
        "{}, {}, {}.\n",
        plural(count(Severity::Error), "error", "errors"),
        plural(count(Severity::Warning), "warning", "warnings"),
        plural(count(Severity::Info), "note", "notes"),
    ));
    out
}

pub async fn run(ctx: &Context, json: bool, flags: &MigrationFlags) -> Result<Code> {
    let (g, store) = gather_keeping(ctx, flags).await?;
    let mut a = assess(&g, ctx);
    let pre =
        super::preflight::gather_on(ctx, &g, &super::preflight::env_names(), store.as_ref()).await;
    a.findings.extend(super::preflight::findings(ctx, &g, &pre));
    a.findings.sort_by_key(|x| x.severity);
    let f = &a.findings;
    let code = diagnose::exit_code(f);
    let out = if json {
        let v = json!({
            "target_version": ctx.target.version.map(|v| v.to_string()),
            "target_source": ctx.target.source,
            "database": g.state.db,
            "database_version": database_version(&g.state).map(|v| v.to_string()),
            "row_counts": g.row_counts,
            "exit_code": code,
            "findings": f,
            "preflight_read": preflight_read_json(&pre),
            "upgrade": policy_json(&a),
        });
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        crate::text::terminal_safe(&render_text(
            f,
            &g.state,
            ctx.catalog,
            &format!("{}\n{}", ctx.header(), position_text(&a).trim_end()),
        ))
        .into_owned()
    };
    print!("{out}");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_indent() {
        let w = wrap("why: one two three four five", "  ", 14);
        assert_eq!(w, "  why: one two\n  three four\n  five\n");
        assert_eq!(wrap("", "  ", 10), "");
        // A word longer than the width stands alone rather than being cut.
        assert_eq!(
            wrap("a verylongwordindeed b", "", 5),
            "a\nverylongwordindeed\nb\n"
        );
    }
}
