//! What the strategy choice needs from the world: the deployment mode (as said, else each Admin
//! API's `GET /` `configuration.role`/`database`, else rows in `clustering_data_planes`) and the
//! old nodes' exact versions (`GET /` `version`). The choice itself is `kong::strategy::choose`.

use serde::Serialize;

use crate::cmd::nodes::NodesArgs;
use crate::contract::journal::Event;
use crate::exec::probe;
use crate::kong::nodes::{self, NodeClass};
use crate::kong::snapshot::Snapshot;
use crate::kong::strategy::{self, Asked, Choice, Deployment, OldNode, StrategyInput};
use crate::kong::version::Version;

/// What kongrade saw for the choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub deployment: Deployment,
    /// How the deployment is known (`--deployment`, an Admin API, the data planes, or not).
    pub deployment_from: String,
    /// The probed nodes older than the target (their versions as `GET /` said).
    pub old_nodes: Vec<OldNode>,
    /// What did not fit (a node disagreeing with --deployment, an unreadable nodes file...).
    pub notes: Vec<String>,
}

/// Probes the Admin APIs given (`--admin-url`, the nodes file) and reads the deployment mode.
/// Never fails: what cannot be read is left unknown, with a note.
pub async fn see(
    asked: &Asked,
    target: Option<Version>,
    snapshot: Option<&Snapshot>,
    nodes_args: &NodesArgs,
) -> Seen {
    let mut notes = Vec::new();
    let urls = match crate::cmd::nodes::sources(
        &nodes_args.admin_urls,
        nodes_args.nodes_file.as_deref(),
    ) {
        Ok((urls, _manual)) => urls,
        Err(e) => {
            notes.push(format!("nodes file not read: {e:#}"));
            nodes_args.admin_urls.clone()
        }
    };
    let answers =
        futures::future::join_all(urls.iter().map(|u| probe::probe(u, &nodes_args.probe))).await;
    let mut old_nodes = Vec::new();
    let mut roles: Vec<(String, Deployment)> = Vec::new();
    for (url, a) in urls.iter().zip(&answers) {
        if let Some(d) = nodes::deployment_of(a) {
            roles.push((url.clone(), d));
        }
        let Some(t) = target else { continue };
        match nodes::classify(a, t) {
            NodeClass::Old { version, .. } => old_nodes.push(OldNode {
                name: url.clone(),
                version: Version::find_in(&version),
            }),
            // A node named but not read (down, timed out, an RBAC 401) may be any version:
            // it cannot prove the 2.8.2 floor blue-green to 3.x needs.
            NodeClass::UnknownVersion { .. }
            | NodeClass::Unreachable { .. }
            | NodeClass::NotKong { .. } => old_nodes.push(OldNode {
                name: url.clone(),
                version: None,
            }),
            NodeClass::New { .. } => {}
        }
    }
    // A control plane among the nodes makes the cluster hybrid; otherwise the first node's word.
    let probed = roles
        .iter()
        .find(|(_, d)| *d == Deployment::HybridControlPlane)
        .or(roles.first())
        .cloned();
    let dps = snapshot
        .and_then(|s| s.data_planes.as_ref())
        .is_some_and(|d| !d.is_empty());
    let (deployment, from) = match (asked.deployment, &probed) {
        (Some(d), _) => {
            if let Some((u, p)) = probed.as_ref().filter(|(_, p)| *p != d) {
                notes.push(format!(
                    "--deployment {d} was given, but {u} says it is {p} (its GET / configuration.role/database)"
                ));
            }
            (d, "--deployment".to_string())
        }
        (None, Some((u, d))) => (*d, format!("{u} (GET / configuration.role and database)")),
        (None, None) if dps => (
            Deployment::HybridControlPlane,
            "data planes recorded in clustering_data_planes".to_string(),
        ),
        (None, None) => (
            Deployment::Unknown,
            "not known: pass --admin-url URL (its GET / says the role) or --deployment traditional|hybrid|db-less|data-plane".to_string(),
        ),
    };
    Seen {
        deployment,
        deployment_from: from,
        old_nodes,
        notes,
    }
}

/// The facts Kong's choice is made from: what was seen, the second cluster as asked, and the
/// jump. Every [`StrategyInput`] a command judges by is built here, so a choice and what is
/// later judged against it are made from the same facts.
pub fn input(
    seen: &Seen,
    second_cluster: Option<bool>,
    from: Option<Version>,
    to: Option<Version>,
) -> StrategyInput<'_> {
    StrategyInput {
        deployment: seen.deployment,
        from,
        to,
        old_nodes: &seen.old_nodes,
        second_cluster,
    }
}

/// Kong's choice for what was seen and asked, from the database's version `from`.
pub fn choose(seen: &Seen, asked: &Asked, from: Option<Version>, to: Option<Version>) -> Choice {
    strategy::choose(&input(seen, asked.second_cluster, from, to))
}

/// The journal entry for an operator's choice.
pub fn chosen_event(choice: &Choice, chosen: strategy::Strategy, by: &str) -> Event {
    Event::StrategyChosen {
        strategy: chosen,
        recommended: choice.recommended,
        deployment: choice.deployment,
        jump: choice.jump,
        by: by.to_string(),
    }
}

/// The choice as JSON (the `strategy` key of `plan --json` and auto's report).
pub fn json(choice: &Choice, seen: &Seen, chosen: Option<strategy::Strategy>) -> serde_json::Value {
    serde_json::json!({
        "chosen": chosen,
        "recommended": choice.recommended,
        "reason": choice.reason,
        "deployment": choice.deployment,
        "deployment_from": seen.deployment_from,
        "jump": choice.jump,
        "allowed": choice.allowed,
        "refused": choice.refused,
        "then": choice.then,
        "unknowns": choice.unknowns,
        "old_nodes": seen.old_nodes,
        "notes": seen.notes,
    })
}

/// What rolling says where auto has nothing to run: the rules and the data planes to replace,
/// in order.
pub fn rolling_message(snapshot: Option<&Snapshot>, target: Option<Version>) -> String {
    let rows = snapshot
        .and_then(|s| s.data_planes.as_deref())
        .unwrap_or(&[]);
    format!(
        "No migrations to run: rolling replaces the data planes (or DB-less nodes) one by one with nodes of the new version; kongrade runs no step for it.\n{}See `kongrade plan --strategy rolling`.",
        strategy::render_rolling(&strategy::rolling_order(rows, target), target)
    )
}

/// This process's command line as the operator could type it again, `kongrade` first, with the
/// value of every `--...password...` option replaced by `...` (argv is shown, secrets are not).
pub fn given_command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    redacted_command_line(&args)
}

/// Whether a flag's or a variable's name says it holds a secret (`--admin-token`,
/// `KONG_PG_PASSWORD`, `--clone-pg-password`, `..._SECRET`).
fn secret_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|w| l.contains(w))
}

fn redacted_command_line(args: &[String]) -> String {
    use crate::contract::invocation::shell_quote;
    let mut out = vec!["kongrade".to_string()];
    let mut hide_next = false;
    for a in args {
        if hide_next {
            hide_next = false;
            out.push("...".into());
            continue;
        }
        let secret = a.starts_with("--") && secret_name(a.split_once('=').map_or(a, |(f, _)| f));
        match a.split_once('=') {
            Some((flag, _)) if secret => out.push(format!("{flag}=...")),
            None if secret => {
                hide_next = true;
                out.push(a.clone());
            }
            // A value that is itself a command (`--kong-cmd`, `--kong-cmd-template`) may carry
            // `NAME=VALUE` words: their secrets are hidden too.
            _ => {
                let words: Vec<String> = a
                    .split(' ')
                    .map(|w| match w.split_once('=') {
                        Some((k, _)) if secret_name(k) => format!("{k}=..."),
                        _ => w.to_string(),
                    })
                    .collect();
                out.push(shell_quote(&words.join(" ")));
            }
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_quoted_and_hides_passwords() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            super::redacted_command_line(&a(&[
                "auto",
                "--kong-cmd",
                "docker exec kong kong",
                "--clone-pg-password",
                "s3cret",
                "--clone-pg-password=s3cret",
            ])),
            "kongrade auto --kong-cmd 'docker exec kong kong' --clone-pg-password ... --clone-pg-password=..."
        );
        // Tokens and secrets too, and `NAME=VALUE` secrets inside a command given as a value.
        assert_eq!(
            super::redacted_command_line(&a(&[
                "auto",
                "--admin-token",
                "t0ken",
                "--admin-token=t0ken",
                "--kong-cmd",
                "env KONG_PG_PASSWORD=s3cret KONG_PG_HOST=db kong",
                "--target-version",
                "3.4.2",
            ])),
            "kongrade auto --admin-token ... --admin-token=... --kong-cmd 'env KONG_PG_PASSWORD=... KONG_PG_HOST=db kong' --target-version 3.4.2"
        );
    }
}
