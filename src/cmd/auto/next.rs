//! What runs next, as the state calls for: `bootstrap` on an empty database, `finish` when
//! migrations are pending (if `--finish` and the nodes allow it), `up` when new ones wait, and
//! nothing once the database is up to date (the journal is closed then).

use color_eyre::eyre::Result;

use super::report::names_of;
use super::{exit, nodes, stop, AutoArgs, FinishMode, Phase, Session};
use crate::contract::journal::Event;
use crate::contract::KongCommand;
use crate::kong::state::MigState;

pub(super) async fn command(s: &mut Session, args: &AutoArgs) -> Result<Phase<KongCommand>> {
    let state = &s.state;
    let to = s.ctx.target.version;
    if state.needs_bootstrap {
        return Ok(Ok(KongCommand::Bootstrap));
    }
    if state.any(MigState::Pending) {
        let gate_closed = match args.finish {
            FinishMode::WhenNoOldNodes => match nodes::old_nodes(&s.ctx, args).await {
                Ok(blockers) if blockers.is_empty() => None,
                Ok(blockers) => Some(format!(
                    "Old nodes are still seen, so `finish` would break them:\n  - {}",
                    blockers.join("\n  - ")
                )),
                Err(e) => Some(format!("The nodes could not be checked: {e:#}")),
            },
            _ => None,
        };
        if let Some(why) = &gate_closed {
            return Ok(Err(stop(
                exit::PENDING,
                "pending_finish",
                format!(
                    "Stopped before finish: {} migration(s) pending.\n{why}\nStop them (data planes too), then run kongrade auto again.",
                    state.total(MigState::Pending)
                ),
            )));
        }
        return Ok(match args.finish {
            FinishMode::Always | FinishMode::WhenNoOldNodes => Ok(KongCommand::Finish),
            _ => {
                let new_too = state.any(MigState::New);
                Err(stop(
                    exit::PENDING,
                    "pending_finish",
                    format!(
                        "Stopped: {} migration(s) pending: {}.\n{}Next: stop every node of the old version (data planes too), then run 'kong migrations finish' with the new version (or kongrade auto --finish=always).",
                        state.total(MigState::Pending),
                        names_of(state, MigState::Pending),
                        if new_too {
                            "New migrations wait behind them: Kong's 'up' refuses while migrations are pending (left by an earlier upgrade, or by an 'up' that stopped part way), so 'finish' comes first, then 'up'.\n"
                        } else {
                            ""
                        }
                    ),
                ))
            }
        });
    }
    if state.any(MigState::New) {
        return Ok(Ok(KongCommand::Up));
    }
    s.journal.append(Event::Closed {
        outcome: format!(
            "up to date for Kong {}",
            to.map(|v| v.to_string())
                .unwrap_or_else(|| "(Lua tree)".into())
        ),
    })?;
    Ok(Err(stop(
        exit::UP_TO_DATE,
        "up_to_date",
        format!(
            "Database is up to date for Kong {}.",
            to.map(|v| v.to_string())
                .unwrap_or_else(|| "(Lua tree)".into())
        ),
    )))
}
