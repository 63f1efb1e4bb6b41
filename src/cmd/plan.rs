//! `kongrade plan [--json]`: the steps from the database's state to up to date on the target,
//! each with the Kong version to run it with and its exact commands (with the timeouts the
//! table sizes call for), and the strategy as Kong's guide chooses it (`--strategy` to follow one).
//! Exit codes: 0 a plan or nothing to do, 1 no plan possible, 21 the strategy asked is refused.

use color_eyre::eyre::Result;

use super::context::Context;
use super::diagnose::{assess, assess_as, gather_keeping, policy_json, position_text, wrap};
use super::strategy::{self, Seen};
use super::Code;
use crate::cmd::diagnose::MigrationFlags;
use crate::cmd::nodes::NodesArgs;
use crate::kong::diagnose::{Finding, Severity};
use crate::kong::plan::{Plan, Step};
use crate::kong::policy::exit;
use crate::kong::strategy::{
    render_rolling, rolling_order, Asked, Choice, Deployment, Strategy, ROLLING_RULES,
};
use crate::kong::version::Version;

fn step_text(i: usize, s: &Step) -> String {
    let mut out = format!("{:>2}. {}", i + 1, s.title);
    if let Some(v) = s.kong_version {
        out.push_str(&format!("   [Kong {v}]"));
    }
    out.push('\n');
    for c in &s.commands {
        out.push_str(&format!("      $ {c}\n"));
    }
    out.push_str(&wrap(&s.why, "      ", 100));
    for sub in &s.migrations {
        let names: Vec<String> = sub
            .migrations
            .iter()
            .map(|m| {
                if m.two_phase {
                    format!("{}*", m.name)
                } else {
                    m.name.clone()
                }
            })
            .collect();
        out.push_str(&wrap(
            &format!("{}: {}", sub.subsystem, names.join(", ")),
            "        ",
            100,
        ));
    }
    out
}

/// The human rendering of a plan.
pub fn render_text(plan: &Plan, header: &str) -> String {
    let mut out = format!("{header}\n");
    match (plan.from, plan.origin) {
        (Some(f), Some(o)) if f != o => out.push_str(&format!(
            "Schema:   Kong {f} (core); the upgrade is judged from Kong {o}\n"
        )),
        (Some(f), _) => out.push_str(&format!("Schema:   Kong {f}\n")),
        _ => {}
    }
    out.push('\n');
    if let Some(b) = &plan.blocked {
        out.push_str(&wrap(&format!("No plan: {b}"), "", 100));
    }
    if plan.steps.is_empty() && plan.blocked.is_none() {
        out.push_str(&format!(
            "Nothing to do: the database is up to date for {}.\n",
            plan.target
                .map(|v| format!("Kong {v}"))
                .unwrap_or_else(|| "the target".into())
        ));
    }
    if !plan.path.is_empty() {
        out.push_str(&format!(
            "Releases to run, in order: {}\n",
            plan.path
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" -> ")
        ));
    }
    for n in &plan.notes {
        out.push_str(&wrap(n, "", 100));
    }
    if !plan.steps.is_empty() {
        out.push('\n');
    }
    for (i, s) in plan.steps.iter().enumerate() {
        out.push_str(&step_text(i, s));
        out.push('\n');
    }
    if plan.steps.iter().any(|s| !s.migrations.is_empty()) {
        out.push_str("* two-phase: `up` leaves it pending, `finish` runs its teardown.\n");
    }
    out
}

/// The strategy part of the human plan.
fn strategy_text(choice: &Choice, seen: &Seen, chosen: Option<Strategy>) -> String {
    let mut s = choice.render(chosen);
    s.push_str(&format!("  Deployment from: {}\n", seen.deployment_from));
    for n in &seen.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    s
}

/// The journal's last rehearsal of this database for this target, as the wizard's Review and Up
/// read it (the same rule, `tui::rehearsal_for`, and the same staleness check), read-only: the
/// open journal is read, not taken.
async fn rehearsal(ctx: &Context) -> Option<crate::wizard::review::Rehearsal> {
    let dir = crate::exec::datadir::sub_dir("journal").ok()?;
    let path = crate::exec::journal::unfinished(&dir, &ctx.conn.endpoint.identity()).ok()??;
    let rb = crate::exec::journal::read(&path).ok()?;
    let mut r = crate::tui::rehearsal_for(&rb, ctx)?;
    r.staleness = match ctx.conn.pg() {
        Some(opts) => crate::tui::rehearsal_staleness(opts, &r.record).await,
        None => crate::wizard::review::Staleness::not_postgres(),
    };
    Some(r)
}

/// The preflight's findings under the plan: what the target (and each hop's Kong) will break,
/// the commands first. Errors are what `auto` refuses (exit 20) unless `--allow-breaking`.
pub fn render_preflight(findings: &[Finding], target: Option<Version>) -> String {
    let to = target
        .map(|v| format!("Kong {v}"))
        .unwrap_or_else(|| "the target".into());
    if findings.is_empty() {
        return format!("Preflight: nothing found that {to} will break.\n");
    }
    let mut out = format!("Preflight: what {to} will break, fix before `up`:\n");
    for f in findings {
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "NOTE",
        };
        out.push_str(&format!("  {sev} [{}] {}\n", f.id, f.title));
        for r in &f.remedy {
            out.push_str(&format!("      {r}\n"));
        }
        for seen in &f.seen {
            out.push_str(&wrap(&format!("seen: {seen}"), "      ", 100));
        }
        out.push_str(&wrap(&format!("why:  {}", f.why), "      ", 100));
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        out.push_str("kongrade auto refuses the errors above (exit 20) unless --allow-breaking.\n");
    }
    out
}

pub async fn run(
    ctx: &Context,
    json: bool,
    flags: &MigrationFlags,
    asked: &Asked,
    nodes: &NodesArgs,
) -> Result<Code> {
    let (g, store) = gather_keeping(ctx, flags).await?;
    let seen = strategy::see(asked, ctx.target.version, Some(&g.snapshot), nodes).await;
    // The strategy asked for shapes the next step and the rollback only where it is allowed.
    let a0 = assess(&g, ctx);
    let choice = strategy::choose(
        &seen,
        asked,
        a0.plan.origin.or(a0.plan.from),
        ctx.target.version,
    );
    let refusal = asked.strategy.and_then(|s| choice.refusal_message(s));
    let a = match asked.strategy {
        Some(s) if refusal.is_none() => assess_as(&g, ctx, Some(s)),
        _ => a0,
    };
    // The data planes to replace: when rolling is asked, or the cluster is hybrid.
    let rolling = (asked.strategy == Some(Strategy::Rolling)
        || choice.deployment == Deployment::HybridControlPlane)
        .then(|| {
            rolling_order(
                g.snapshot.data_planes.as_deref().unwrap_or(&[]),
                ctx.target.version,
            )
        });
    let plan = &a.plan;
    // On the session that counted: the routes' read is shared, not made again.
    let pre = super::preflight::PreflightSource::of(ctx, &super::preflight::env_names())
        .gather(
            Some(store.as_ref()),
            &g.snapshot,
            g.row_counts.as_deref(),
            Some(&crate::kong::preflight::plan_hops(plan)),
            crate::kong::preflight::reads_routes(&g.state, &ctx.target),
        )
        .await;
    let rehearsed = rehearsal(ctx).await;
    let mut preflight = super::preflight::findings_for(ctx, plan, &pre);
    preflight.sort_by_key(|f| f.severity);
    let code = if refusal.is_some() {
        exit::STRATEGY_REFUSED
    } else if plan.blocked.is_some() {
        1
    } else {
        0
    };
    let out = if json {
        let mut v = serde_json::to_value(plan)?;
        if let (Some(o), serde_json::Value::Object(p)) = (v.as_object_mut(), policy_json(&a)) {
            o.extend(p);
            let mut sj = strategy::json(&choice, &seen, asked.strategy);
            if let Some(m) = &refusal {
                sj["refusal"] = serde_json::json!(m);
            }
            if let Some(r) = &rolling {
                sj["rolling"] = serde_json::json!({"rules": ROLLING_RULES, "data_planes": r});
            }
            o.insert("strategy".into(), sj);
            o.insert("preflight".into(), serde_json::to_value(&preflight)?);
            o.insert(
                "rehearsal".into(),
                match &rehearsed {
                    Some(r) => {
                        use crate::wizard::review::Staleness;
                        serde_json::json!({
                            "line": r.line(),
                            "at": r.record.at,
                            "target": r.record.target,
                            "ok": r.record.ok,
                            // fresh, changed or not_checked: a check without an answer is
                            // neither "changed" nor "fresh".
                            "staleness": r.staleness.as_str(),
                            "stale": match &r.staleness {
                                Staleness::Changed(why) => Some(why),
                                _ => None,
                            },
                            "not_checked": match &r.staleness {
                                Staleness::NotChecked(why) => Some(why),
                                _ => None,
                            },
                        })
                    }
                    None => serde_json::Value::Null,
                },
            );
        }
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        let mut text = render_text(
            plan,
            &format!("{}\n{}", ctx.header(), position_text(&a).trim_end()),
        );
        if let Some(r) = &rehearsed {
            text.push_str(&wrap(&format!("Rehearsal: {}", r.line()), "", 100));
        }
        text.push('\n');
        text.push_str(&strategy_text(&choice, &seen, asked.strategy));
        if let Some(r) = &rolling {
            text.push('\n');
            text.push_str(&render_rolling(r, ctx.target.version));
        }
        if let Some(m) = &refusal {
            text.push_str(&format!("\n{m}\n"));
        }
        if plan.blocked.is_none() && !plan.up_to_date {
            text.push('\n');
            text.push_str(&render_preflight(&preflight, plan.target));
        }
        crate::text::terminal_safe(&text).into_owned()
    };
    print!("{out}");
    Ok(code)
}
