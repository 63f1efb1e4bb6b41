//! What runs next, as the state calls for: `bootstrap` on an empty database, `finish` when
//! migrations are pending (if `--finish` and the nodes allow it), `up` when new ones wait, and
//! nothing once the database is up to date for the session's target (a hop's, or the last).

use color_eyre::eyre::Result;

use super::report::names_of;
use super::{exit, nodes, stop, AutoArgs, FinishMode, Phase, Session};
use crate::contract::KongCommand;
use crate::kong::state::MigState;

/// The next kong command for the session's target, or `None` once the database is up to date
/// for it.
pub(super) async fn command(
    s: &mut Session,
    args: &AutoArgs,
) -> Result<Phase<Option<KongCommand>>> {
    let state = &s.state;
    if state.needs_bootstrap {
        return Ok(Ok(Some(KongCommand::Bootstrap)));
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
            FinishMode::Always | FinishMode::WhenNoOldNodes => Ok(Some(KongCommand::Finish)),
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
        return Ok(Ok(Some(KongCommand::Up)));
    }
    Ok(Ok(None))
}
