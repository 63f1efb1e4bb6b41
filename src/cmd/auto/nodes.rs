//! The nodes `--finish=when-no-old-nodes` checks: the same gate as `kongrade nodes`.

use color_eyre::eyre::Result;

use super::AutoArgs;
use crate::cmd::context::Context;

/// What keeps `--finish=when-no-old-nodes` from finishing: the same gate as `kongrade nodes`.
pub(super) async fn old_nodes(ctx: &Context, args: &AutoArgs) -> Result<Vec<String>> {
    let inv = crate::cmd::nodes::inventory(ctx, &args.nodes).await?;
    Ok(inv.gate.blockers)
}
