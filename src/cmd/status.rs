//! `kongrade status [--json]`.

use color_eyre::eyre::Result;

use super::context::Context;
use super::Code;
use crate::kong::report;

pub async fn run(ctx: &Context, json: bool) -> Result<Code> {
    ctx.ensure_supported()?;
    let state = ctx.read_state().await?;
    let code = state.status_code() as Code;
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
        }
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        let mut text = report::status_text(&state, ctx.catalog, &ctx.header());
        for p in &ctx.target.unresolved_plugins {
            text.push_str(&format!(
                "Plugin '{p}' is in `plugins` but its migrations were not found: pass --kong-lua-path to the installed Kong's Lua tree\n"
            ));
        }
        // Database contents (subsystem names, the lock owner) must not drive the terminal.
        crate::text::terminal_safe(&text).into_owned()
    };
    print!("{out}");
    Ok(code)
}
