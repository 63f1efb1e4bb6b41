//! `--strategy`: Kong's choice for this upgrade said before the first step, and the strategy
//! asked for checked against it. A refused one stops the run (exit 21) before anything ran; an
//! allowed one is journaled and shapes the run (in-place stops the old nodes first, blue-green
//! is the shared-database procedure with Kong's caveats said).

use color_eyre::eyre::Result;

use super::report::Reporter;
use super::{exit, stop, AutoArgs, Phase, Session};
use crate::kong::policy::History;
use crate::kong::strategy::{self, CommandHints, Strategy, StrategyInput, Unasked, Work};
use crate::kong::version::Version;

/// The strategy the run follows (`None`: none asked; auto runs its shared-database procedure
/// where Kong allows blue-green, see [`unasked`]), and Kong's choice it was judged by.
pub(super) async fn decide(
    s: &mut Session,
    args: &AutoArgs,
    history: &History,
    rep: &mut Reporter,
) -> Result<Phase<Decided>> {
    let asked = &args.strategy;
    let snapshot = s.ctx.snapshot().await.ok();
    let seen =
        crate::cmd::strategy::see(asked, s.ctx.target.version, snapshot.as_ref(), &args.nodes)
            .await;
    let facts = Facts {
        from: crate::kong::plan::origin(&s.state, s.ctx.catalog, history.started_from),
        to: s.ctx.target.version,
        second_cluster: asked.second_cluster,
        seen,
    };
    let choice = strategy::choose(&facts.input());
    let seen = &facts.seen;
    rep.header["strategy"] = crate::cmd::strategy::json(&choice, seen, asked.strategy);
    for n in &seen.notes {
        rep.say(&format!("Strategy note: {n}"));
    }
    let Some(chosen) = asked.strategy else {
        rep.say(&format!(
            "Strategy: none given (--strategy); Kong recommends {} here: {}",
            choice.recommended, choice.reason
        ));
        return Ok(Ok(Decided {
            chosen: None,
            choice,
            facts,
        }));
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
        Strategy::DualCluster | Strategy::InPlace | Strategy::BlueGreen => Ok(Ok(Decided {
            chosen: Some(chosen),
            choice,
            facts,
        })),
    }
}

/// What Kong's choice for the run is made from, read once (the deployment, the old nodes, the
/// jump, the second cluster as asked).
pub(super) struct Facts {
    pub seen: crate::cmd::strategy::Seen,
    /// Where the upgrade is judged from.
    pub from: Option<Version>,
    /// The target the choice was made for.
    pub to: Option<Version>,
    pub second_cluster: Option<bool>,
}

impl Facts {
    /// The one input: the choice is made from it, and `unasked` judges by it.
    fn input(&self) -> StrategyInput<'_> {
        crate::cmd::strategy::input(&self.seen, self.second_cluster, self.from, self.to)
    }
}

/// The strategy decided, and what it was judged from (the same facts decide `unasked`).
pub(super) struct Decided {
    /// `None`: none asked.
    pub chosen: Option<Strategy>,
    /// Kong's choice for this upgrade, computed once for the run (`kong::strategy::choose`).
    pub choice: strategy::Choice,
    pub facts: Facts,
}

/// Without `--strategy`, once the gates passed: the shared-database procedure runs only where
/// Kong's guide allows blue-green (the rule is `kong::strategy::unasked`); otherwise the run
/// stops (exit 21) before its first step, with the command line of each allowed strategy.
pub(super) fn unasked(
    s: &mut Session,
    args: &AutoArgs,
    d: &Decided,
    rep: &mut Reporter,
) -> Result<Phase<()>> {
    let work = Work::of(&s.state);
    let hints = CommandHints {
        base: crate::cmd::strategy::given_command_line(),
        admin_urls_given: !args.nodes.admin_urls.is_empty() || args.nodes.nodes_file.is_some(),
        postgres: s.ctx.conn.pg().is_some(),
    };
    match strategy::unasked(&d.facts.input(), &d.choice, work, &hints) {
        Unasked::NoUpgrade => Ok(Ok(())),
        Unasked::SharedDatabase => {
            rep.say("  auto runs `up` on the shared database while old nodes serve (then `finish` with --finish): blue-green, which Kong's guide allows here.");
            if let Some(o) = d.choice.offer(Strategy::BlueGreen) {
                for c in &o.caveats {
                    rep.say(&format!("  caution: {c}"));
                }
            }
            Ok(Ok(()))
        }
        Unasked::Refused { message, commands } => {
            rep.header["strategy"]["refused_without_strategy"] = serde_json::json!(true);
            rep.header["strategy"]["commands"] = commands
                .iter()
                .map(|(st, c)| serde_json::json!({"strategy": st, "command": c}))
                .collect();
            s.journal.append(crate::contract::journal::Event::Note {
                text: format!(
                    "kongrade auto refused (exit {}): no --strategy, and Kong's guide refuses blue-green here; nothing was run",
                    exit::STRATEGY_REFUSED
                ),
            })?;
            Ok(Err(stop(
                exit::STRATEGY_REFUSED,
                "refused_strategy",
                message,
            )))
        }
    }
}
