//! `kongrade status [--json]`: the state with Kong's exit codes, and where the upgrade stands
//! and what is next, as the policy says.

use color_eyre::eyre::Result;

use super::context::Context;
use super::diagnose::{history, policy_json, position_text};
use super::Code;
use crate::kong::diagnose::DiagnoseInput;
use crate::kong::policy::{self, PolicyInput};
use crate::kong::{report, state};

pub async fn run(ctx: &Context, json: bool) -> Result<Code> {
    ctx.ensure_supported()?;
    let snapshot = ctx.snapshot().await?;
    let state = state::compute(&ctx.target, &snapshot, ctx.catalog);
    let code = state.status_code() as Code;
    // The position needs no row counts: status stays one round trip.
    let settings = ctx.settings(None, None);
    let history = history(ctx);
    let a = policy::assess(&PolicyInput {
        diagnose: DiagnoseInput {
            state: &state,
            snapshot: &snapshot,
            target: &ctx.target,
            catalog: ctx.catalog,
            row_counts: None,
            settings: &settings,
            writes_since_up: None,
            history: history.as_ref(),
        },
        nodes: None,
        running: false,
        strategy: None,
    });
    // Everything is rendered before anything is printed: an error never leaves half a report.
    let out = if json {
        let mut v = report::status_json(&state, ctx.catalog);
        if let Some(o) = v.as_object_mut() {
            o.insert("target_source".into(), serde_json::json!(ctx.target.source));
            if !ctx.target.unresolved_plugins.is_empty() {
                o.insert(
                    "unresolved_plugins".into(),
                    serde_json::json!(ctx.target.unresolved_plugins),
                );
            }
            o.insert("upgrade".into(), policy_json(&a));
        }
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        let mut text = report::status_text(&state, ctx.catalog, &ctx.header());
        for p in &ctx.target.unresolved_plugins {
            text.push_str(&format!(
                "Plugin '{p}' is in `plugins` but its migrations were not found: pass --kong-lua-path to the installed Kong's Lua tree\n"
            ));
        }
        text.push_str(&position_text(&a));
        // Database contents (subsystem names, the lock owner) must not drive the terminal.
        crate::text::terminal_safe(&text).into_owned()
    };
    print!("{out}");
    Ok(code)
}
