//! Old nodes and the finish gate, as pure decisions: what a probe answer means for the upgrade,
//! and whether `finish` may run. `finish` breaks every node still on the old version, so the gate
//! stays closed while one is seen.

use serde::{Deserialize, Serialize};

use super::snapshot::DataPlaneRow;
use super::version::Version;

/// What `GET /` on an Admin API answered, as the probe read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeAnswer {
    /// HTTP status and body.
    Http {
        status: u16,
        body: String,
        location: Option<String>,
    },
    /// No HTTP answer: refused, timed out, TLS failed, bad URL...
    Failed { error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum NodeClass {
    /// Kong answering with a version older than the target: blocks finish.
    Old {
        version: String,
        hostname: Option<String>,
    },
    /// Kong on the target version (or newer).
    New {
        version: String,
        hostname: Option<String>,
    },
    /// Kong, but its version cannot be read: treated as old (it may be).
    UnknownVersion {
        version: String,
    },
    Unreachable {
        error: String,
    },
    /// Something answered, but not Kong's Admin API.
    NotKong {
        why: String,
    },
}

impl NodeClass {
    /// Whether this node keeps the finish gate closed.
    pub fn blocks_finish(&self) -> bool {
        matches!(
            self,
            NodeClass::Old { .. } | NodeClass::UnknownVersion { .. }
        )
    }

    pub fn label(&self) -> String {
        match self {
            NodeClass::Old { version, .. } => format!("OLD {version}: still serving"),
            NodeClass::New { version, .. } => format!("new {version}"),
            NodeClass::UnknownVersion { version } => {
                format!("Kong, unreadable version '{version}'")
            }
            NodeClass::Unreachable { error } => format!("unreachable: {error}"),
            NodeClass::NotKong { why } => format!("not Kong: {why}"),
        }
    }
}

/// Classifies an Admin API answer against the target version.
pub fn classify(answer: &ProbeAnswer, target: Version) -> NodeClass {
    match answer {
        ProbeAnswer::Failed { error } => NodeClass::Unreachable {
            error: error.clone(),
        },
        ProbeAnswer::Http {
            status,
            body,
            location,
        } => {
            if (300..400).contains(status) {
                return NodeClass::NotKong {
                    why: format!(
                        "HTTP {status} redirect{} (give the Admin API's own URL)",
                        location
                            .as_deref()
                            .map(|l| format!(" to {l}"))
                            .unwrap_or_default()
                    ),
                };
            }
            if *status == 401 || *status == 403 {
                return NodeClass::NotKong {
                    why: format!("HTTP {status}: the Admin API wants a token (--admin-token / KONGRADE_ADMIN_TOKEN)"),
                };
            }
            let json: serde_json::Value = match serde_json::from_str(body) {
                Ok(v) => v,
                Err(_) => {
                    return NodeClass::NotKong {
                        why: format!("HTTP {status}, not JSON"),
                    }
                }
            };
            let Some(version) = json.get("version").and_then(|v| v.as_str()) else {
                return NodeClass::NotKong {
                    why: format!("HTTP {status}, JSON without a 'version'"),
                };
            };
            let looks_like_kong = json.get("tagline").is_some()
                || json.get("node_id").is_some()
                || json.get("lua_version").is_some();
            if !looks_like_kong {
                return NodeClass::NotKong {
                    why: format!("HTTP {status}, JSON without Kong's node_id/tagline"),
                };
            }
            let hostname = json
                .get("hostname")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            match Version::find_in(version) {
                Some(v) if v < target => NodeClass::Old {
                    version: version.to_string(),
                    hostname,
                },
                Some(_) => NodeClass::New {
                    version: version.to_string(),
                    hostname,
                },
                None => NodeClass::UnknownVersion {
                    version: version.to_string(),
                },
            }
        }
    }
}

/// The deployment mode a node's `GET /` answer states (`configuration.role` and
/// `configuration.database`), when it is Kong's and says so.
pub fn deployment_of(answer: &ProbeAnswer) -> Option<super::strategy::Deployment> {
    let ProbeAnswer::Http {
        status: 200, body, ..
    } = answer
    else {
        return None;
    };
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    super::strategy::deployment_from_root(&json)
}

/// One entry in the inventory with what is known of it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    /// `admin`, `data_plane` or `manual`.
    pub kind: String,
    pub class: Option<NodeClass>,
    /// Manual entries: the operator's ticks (out of the load balancer, drained, stopped).
    pub checklist: Checklist,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub out_of_lb: bool,
    pub drained: bool,
    pub stopped: bool,
}

impl Checklist {
    pub fn done(&self) -> bool {
        self.out_of_lb && self.drained && self.stopped
    }
}

/// Data planes (hybrid mode) seen within `window_secs` on a version older than the target.
pub fn old_data_planes(rows: &[DataPlaneRow], target: Version, window_secs: f64) -> Vec<String> {
    rows.iter()
        .filter(|dp| dp.last_seen_secs_ago.is_some_and(|s| s <= window_secs))
        .filter(|dp| {
            dp.version
                .as_deref()
                .and_then(Version::find_in)
                .is_none_or(|v| v < target)
        })
        .map(|dp| {
            format!(
                "data plane {} ({}) on {} seen {:.0} s ago",
                dp.hostname.clone().unwrap_or_else(|| dp.id.clone()),
                dp.ip.clone().unwrap_or_default(),
                dp.version
                    .clone()
                    .unwrap_or_else(|| "an unknown version".into()),
                dp.last_seen_secs_ago.unwrap_or_default()
            )
        })
        .collect()
}

/// Why the gate is closed, or nothing when it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishGate {
    pub open: bool,
    pub blockers: Vec<String>,
}

/// The finish gate: closed while any probed node answers older than the target, a recent data
/// plane is older, or a manual entry is not fully ticked.
pub fn finish_gate(nodes: &[NodeStatus], old_dps: &[String]) -> FinishGate {
    let mut blockers = Vec::new();
    for n in nodes {
        match (&n.class, n.kind.as_str()) {
            (Some(c), _) if c.blocks_finish() => {
                blockers.push(format!("{}: {}", n.name, c.label()));
            }
            (_, "manual") if !n.checklist.done() => {
                blockers.push(format!(
                    "{}: not confirmed out of the load balancer, drained and stopped",
                    n.name
                ));
            }
            // An Admin API not probed yet may be an old node: unknown is not safe.
            (None, "admin") => blockers.push(format!("{}: not probed yet", n.name)),
            _ => {}
        }
    }
    blockers.extend(old_dps.iter().cloned());
    FinishGate {
        open: blockers.is_empty(),
        blockers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> ProbeAnswer {
        ProbeAnswer::Http {
            status,
            body: body.into(),
            location: None,
        }
    }

    const T: Version = Version::new(3, 4, 2);

    #[test]
    fn classifies_admin_api_answers() {
        let kong = |v: &str| {
            format!(
                r#"{{"version":"{v}","hostname":"gw-1","node_id":"x","tagline":"Welcome to kong"}}"#
            )
        };
        assert!(matches!(
            classify(&http(200, &kong("2.8.5")), T),
            NodeClass::Old { .. }
        ));
        assert!(matches!(
            classify(&http(200, &kong("3.4.2")), T),
            NodeClass::New { .. }
        ));
        assert!(matches!(
            classify(&http(200, &kong("3.4.3.5")), T),
            NodeClass::New { .. }
        ));
        assert!(matches!(
            classify(&http(200, &kong("next")), T),
            NodeClass::UnknownVersion { .. }
        ));
        assert!(matches!(
            classify(&http(200, "<html>"), T),
            NodeClass::NotKong { .. }
        ));
        assert!(matches!(
            classify(&http(200, r#"{"version":"1.2.3"}"#), T),
            NodeClass::NotKong { .. }
        ));
        assert!(matches!(
            classify(&http(401, "{}"), T),
            NodeClass::NotKong { .. }
        ));
        let redirect = ProbeAnswer::Http {
            status: 301,
            body: String::new(),
            location: Some("https://x/".into()),
        };
        assert!(classify(&redirect, T)
            .label()
            .contains("redirect to https://x/"));
        assert!(matches!(
            classify(
                &ProbeAnswer::Failed {
                    error: "refused".into()
                },
                T
            ),
            NodeClass::Unreachable { .. }
        ));
    }

    #[test]
    fn the_gate_closes_for_old_nodes_old_data_planes_and_unticked_manual_entries() {
        let node = |kind: &str, class: Option<NodeClass>, done: bool| NodeStatus {
            name: "n".into(),
            kind: kind.into(),
            class,
            checklist: Checklist {
                out_of_lb: done,
                drained: done,
                stopped: done,
            },
        };
        let old = Some(NodeClass::Old {
            version: "2.8.5".into(),
            hostname: None,
        });
        let new = Some(NodeClass::New {
            version: "3.4.2".into(),
            hostname: None,
        });
        assert!(!finish_gate(&[node("admin", old, false)], &[]).open);
        assert!(finish_gate(&[node("admin", new.clone(), false)], &[]).open);
        assert!(!finish_gate(&[node("manual", None, false)], &[]).open);
        assert!(!finish_gate(&[node("admin", None, true)], &[]).open);
        assert!(finish_gate(&[node("manual", None, true)], &[]).open);
        let dp = DataPlaneRow {
            id: "d".into(),
            hostname: Some("dp-1".into()),
            version: Some("2.8.5".into()),
            last_seen_secs_ago: Some(10.0),
            ..DataPlaneRow::default()
        };
        let stale = DataPlaneRow {
            last_seen_secs_ago: Some(600.0),
            ..dp.clone()
        };
        let fresh_new = DataPlaneRow {
            version: Some("3.4.2".into()),
            ..dp.clone()
        };
        assert_eq!(
            old_data_planes(&[dp.clone(), stale, fresh_new], T, 60.0).len(),
            1
        );
        assert!(
            !finish_gate(
                &[node("admin", new, false)],
                &old_data_planes(&[dp], T, 60.0)
            )
            .open
        );
    }
}
