//! The nodes `--finish=when-no-old-nodes` checks: the same gate as `kongrade nodes`.

use color_eyre::eyre::Result;

use super::AutoArgs;
use crate::cmd::context::Context;

/// What keeps `--finish=when-no-old-nodes` from finishing: the same gate as `kongrade nodes`.
pub(super) async fn old_nodes(ctx: &Context, args: &AutoArgs) -> Result<Vec<String>> {
    let n = &args.nodes;
    let nargs = crate::cmd::nodes::NodesArgs {
        admin_urls: n.admin_urls.clone(),
        nodes_file: n.nodes_file.clone(),
        probe: n.probe_options(),
        dp_window: n.dp_window as f64,
    };
    let inv = crate::cmd::nodes::inventory(ctx, &nargs).await?;
    Ok(inv.gate.blockers)
}
