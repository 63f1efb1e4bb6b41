//! In-place's own rules after the migrations (kong-upgrades.md 1.3), one copy for `auto
//! --strategy in-place` and the wizard: the journal's step names (either tool resumes the
//! other's clock), which nodes prove the new cluster (`--new-admin-url`, never the old nodes'
//! `--admin-url`), and how the smoke tests are journaled. Pure.

use super::nodes::NodeClass;

/// The gate: none of the old nodes answers (the downtime's start).
pub const GATE_STEP: &str = "in-place-old-nodes-stopped";
/// The new nodes answer the target version.
pub const NEW_NODES_STEP: &str = "in-place-new-nodes";
/// The smoke tests through the new nodes' proxy.
pub const SMOKE_STEP: &str = "in-place-smoke";

/// Said when no `--new-admin-url` is given: nothing proves the new nodes, the operator checks.
pub const NO_NEW_NODES: &str =
    "New nodes: none given (--new-admin-url URL): start them on this database and check they serve.";

/// `--smoke` without `--new-admin-url`: refused before anything runs (the smoke tests run once
/// the new nodes answer, and nothing says when that is without their Admin APIs).
pub fn smoke_refusal(smoke_given: bool, new_nodes_given: bool) -> Option<&'static str> {
    (smoke_given && !new_nodes_given).then_some(
        "--smoke runs through the new nodes' proxy once they answer the target version: give each new node's Admin API with --new-admin-url URL too. Nothing was run.",
    )
}

/// Whether every new node answers the target version: `Ok` with a line per node
/// (`URL: Kong 3.4.2`), or `Err` with a line per node that does not (what it answered).
pub fn judge_new_nodes<'a>(
    answers: impl IntoIterator<Item = (&'a str, &'a NodeClass)>,
) -> Result<Vec<String>, Vec<String>> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (url, class) in answers {
        match class {
            NodeClass::New { version, .. } => ok.push(format!("{url}: Kong {version}")),
            c => bad.push(format!("{url}: {}", c.label())),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(bad)
    }
}

/// The new nodes' journal entry: phase and detail, as [`judge_new_nodes`] said it.
pub fn new_nodes_entry(verdict: &Result<Vec<String>, Vec<String>>) -> (&'static str, String) {
    match verdict {
        Ok(ok) => ("done", ok.join(", ")),
        Err(bad) => ("failed", bad.join(", ")),
    }
}

/// The smoke tests' journal entry: phase and detail (the failures, one a line).
pub fn smoke_entry(ran: usize, failed: &[String]) -> (&'static str, String) {
    if failed.is_empty() {
        ("done", format!("{ran} smoke test(s) passed"))
    } else {
        ("failed", failed.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_new_node_must_answer_the_target() {
        let new = NodeClass::New {
            version: "3.4.2".into(),
            hostname: None,
        };
        let gone = NodeClass::Unreachable {
            error: "connection refused".into(),
        };
        assert_eq!(
            judge_new_nodes([("http://a", &new)]),
            Ok(vec!["http://a: Kong 3.4.2".to_string()])
        );
        assert_eq!(
            judge_new_nodes([("http://a", &new), ("http://b", &gone)]),
            Err(vec!["http://b: unreachable: connection refused".to_string()])
        );
        assert!(smoke_refusal(true, false).is_some());
        assert!(smoke_refusal(true, true).is_none());
        assert_eq!(
            smoke_entry(2, &[]),
            ("done", "2 smoke test(s) passed".into())
        );
    }
}
