//! `--strategy`: Kong's choice for this upgrade said before the first step, and the strategy
//! asked for checked against it. A refused one stops the run (exit 21) before anything ran; an
//! allowed one is journaled and shapes the run (in-place stops the old nodes first, blue-green
//! is the shared-database procedure with Kong's caveats said).

use color_eyre::eyre::Result;

use super::report::Reporter;
use super::{exit, stop, AutoArgs, Phase, Session};
use crate::kong::policy::History;
use crate::kong::strategy::Strategy;

/// The strategy the run follows (`None`: none asked; auto runs its shared-database procedure).
pub(super) async fn decide(
    s: &mut Session,
    args: &AutoArgs,
    history: &History,
    rep: &mut Reporter,
) -> Result<Phase<Option<Strategy>>> {
    let asked = &args.strategy;
    let snapshot = s.ctx.snapshot().await.ok();
    let seen =
        crate::cmd::strategy::see(asked, s.ctx.target.version, snapshot.as_ref(), &args.nodes)
            .await;
    let from = crate::kong::plan::origin(&s.state, s.ctx.catalog, history.started_from);
    let choice = crate::cmd::strategy::choose(&seen, asked, from, s.ctx.target.version);
    rep.header["strategy"] = crate::cmd::strategy::json(&choice, &seen, asked.strategy);
    for n in &seen.notes {
        rep.say(&format!("Strategy note: {n}"));
    }
    let Some(chosen) = asked.strategy else {
        rep.say(&format!(
            "Strategy: none given (--strategy); Kong recommends {} here: {}\n  auto runs `up` on the shared database (then `finish` with --finish), as blue-green does.",
            choice.recommended, choice.reason
        ));
        return Ok(Ok(None));
    };
    if let Some(m) = choice.refusal_message(chosen) {
        return Ok(Err(stop(exit::STRATEGY_REFUSED, "refused_strategy", m)));
    }
    s.journal
        .append(crate::cmd::strategy::chosen_event(&choice, chosen, "auto"))?;
    rep.say(&format!(
        "Strategy: {chosen}{}",
        if chosen == choice.recommended {
            " (Kong's recommendation)".to_string()
        } else {
            format!(" (Kong recommends {} here)", choice.recommended)
        }
    ));
    if let Some(o) = choice.offer(chosen) {
        for c in &o.caveats {
            rep.say(&format!("  caution: {c}"));
        }
    }
    match chosen {
        Strategy::Rolling => Ok(Err(stop(
            exit::STRATEGY_REFUSED,
            "rolling_no_migrations",
            crate::cmd::strategy::rolling_message(snapshot.as_ref(), s.ctx.target.version),
        ))),
        // DualCluster is run by `dual_cluster` on the clone.
        Strategy::DualCluster | Strategy::InPlace | Strategy::BlueGreen => Ok(Ok(Some(chosen))),
    }
}
