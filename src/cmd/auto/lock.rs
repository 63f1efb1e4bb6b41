//! A live migrations lock: stop (exit 14), or with `--wait-lock` poll until it goes, saying what
//! another run changed meanwhile.

use std::time::{Duration, Instant};

use color_eyre::eyre::Result;

use super::report::{moves, print_moves, Reporter};
use super::{exit, stop, AutoArgs, Interrupts, Phase, Session};
use crate::cmd::context::Context;
use crate::kong::report;
use crate::kong::state::SchemaState;

/// The state's lock is live: waits it out (`--wait-lock`) and goes on with the state read after
/// it, or stops.
pub(super) async fn wait_out(
    s: &mut Session,
    args: &AutoArgs,
    rep: &mut Reporter,
    interrupts: &mut Interrupts,
) -> Phase<()> {
    let Some(secs) = args.wait_lock else {
        return Err(stop(
            exit::LOCK_HELD,
            "lock_held",
            format!(
                "The migrations lock is held: {}.\nAnother node may be migrating now; if a killed run left it, it expires by itself. Pass --wait-lock SECONDS to wait it out.",
                report::lock_line(&s.state).unwrap_or_default()
            ),
        ));
    };
    match wait_lock(&s.ctx, rep, &s.state, Duration::from_secs(secs), interrupts).await {
        Ok(after) => {
            let moved = moves(&s.state, &after);
            if !moved.is_empty() {
                rep.say(&format!(
                    "While the lock was held, {} migration(s) changed state (another run):",
                    moved.len()
                ));
                print_moves(rep, &moved);
            }
            s.state = after;
            rep.final_state = Some(s.state.clone());
            if *interrupts.borrow() > 0 {
                return Err(stop(
                    exit::INTERRUPTED,
                    "interrupted",
                    "Interrupted while waiting for the migrations lock; no step started.",
                ));
            }
            if s.state.lock_live() {
                return Err(stop(
                    exit::LOCK_HELD,
                    "lock_held",
                    format!(
                        "The migrations lock is still held after {secs} s: {}",
                        report::lock_line(&s.state).unwrap_or_default()
                    ),
                ));
            }
            Ok(())
        }
        Err(e) => Err(stop(
            exit::DB_UNREADABLE,
            "database_unreadable",
            format!("cannot read the database while waiting for the lock: {e:#}"),
        )),
    }
}

/// Polls the state until the lock is no longer live or `limit` has passed.
async fn wait_lock(
    ctx: &Context,
    rep: &Reporter,
    state: &SchemaState,
    limit: Duration,
    interrupts: &mut Interrupts,
) -> Result<SchemaState> {
    rep.say(&format!(
        "Waiting up to {} s for the migrations lock: {}",
        limit.as_secs(),
        report::lock_line(state).unwrap_or_default()
    ));
    let start = Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(left.min(Duration::from_millis(500))) => false,
            r = interrupts.changed() => r.is_ok(),
        };
        let s = ctx.read_state().await?;
        if interrupted {
            return Ok(s);
        }
        if !s.lock_live() {
            rep.say(&format!(
                "The lock is gone after {:.1} s.",
                start.elapsed().as_secs_f64()
            ));
            return Ok(s);
        }
        if start.elapsed() >= limit {
            return Ok(s);
        }
    }
}
