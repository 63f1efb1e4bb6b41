//! `kongrade nodes [--json]`: every node kongrade can see or was told about, classified against
//! the target, and the finish gate that follows.

use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result, WrapErr};
use serde::{Deserialize, Serialize};

use super::context::Context;
use super::Code;
use crate::exec::probe::{self, ProbeOptions};
use crate::kong::nodes::{self, Checklist, FinishGate, NodeStatus};

/// Human output: journal and database contents (names, owners, notes) must not drive the terminal.
macro_rules! say {
    ($($t:tt)*) => { println!("{}", crate::text::terminal_safe(&format!($($t)*))) };
}

/// Exit code when the finish gate is closed.
pub const GATE_CLOSED: Code = 7;

/// kongrade's node file: Admin API URLs and names of nodes that cannot be probed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesFile {
    #[serde(default)]
    pub admin_urls: Vec<String>,
    #[serde(default)]
    pub manual_nodes: Vec<String>,
}

impl NodesFile {
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "kongrade")
            .map(|d| d.config_dir().join("nodes.json"))
    }

    pub fn load(path: &std::path::Path) -> Result<NodesFile> {
        let text = std::fs::read_to_string(path)
            .wrap_err_with(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).wrap_err_with(|| {
            format!(
                "{} is not a nodes file: expected {{\"admin_urls\": [\"http://host:8001\"], \"manual_nodes\": [\"name\"]}}",
                path.display()
            )
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodesArgs {
    pub admin_urls: Vec<String>,
    pub nodes_file: Option<PathBuf>,
    pub probe: ProbeOptions,
    /// How recent a data plane's last_seen must be to count (seconds).
    pub dp_window: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub nodes: Vec<NodeStatus>,
    pub old_data_planes: Vec<String>,
    pub data_planes_read: Option<String>,
    pub gate: FinishGate,
}

/// The Admin API URLs (the flags', then the nodes file's, without repeats) and the manual
/// entries of the nodes file (`--nodes-file`, else the default one when it exists).
pub fn sources(
    admin_urls: &[String],
    nodes_file: Option<&std::path::Path>,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut file = NodesFile::default();
    let path = nodes_file
        .map(|p| p.to_path_buf())
        .or_else(|| NodesFile::default_path().filter(|p| p.exists()));
    if let Some(p) = path {
        file = NodesFile::load(&p)?;
    }
    let mut urls: Vec<String> = admin_urls.to_vec();
    for u in file.admin_urls {
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    Ok((urls, file.manual_nodes))
}

/// Probes every Admin API at once and reads the data planes; never waits longer than one probe
/// timeout for the probes together.
pub async fn inventory(ctx: &Context, args: &NodesArgs) -> Result<Inventory> {
    let target = ctx.target.version.ok_or_else(|| {
        eyre!("the target version is needed to tell old nodes from new: pass --target-version")
    })?;
    let (urls, manual) = sources(&args.admin_urls, args.nodes_file.as_deref())?;
    let probes = urls.iter().map(|u| probe::probe(u, &args.probe));
    let answers = futures::future::join_all(probes).await;
    let mut list: Vec<NodeStatus> = urls
        .iter()
        .zip(answers)
        .map(|(u, a)| NodeStatus {
            name: u.clone(),
            kind: "admin".into(),
            class: Some(nodes::classify(&a, target)),
            checklist: Checklist::default(),
        })
        .collect();
    for m in manual {
        list.push(NodeStatus {
            name: m,
            kind: "manual".into(),
            class: None,
            checklist: Checklist::default(),
        });
    }
    let (old_dps, read) = match ctx.snapshot().await {
        Ok(s) => (
            nodes::old_data_planes(
                s.data_planes.as_deref().unwrap_or(&[]),
                target,
                args.dp_window,
            ),
            None,
        ),
        Err(e) => (Vec::new(), Some(format!("data planes not read: {e:#}"))),
    };
    let gate = nodes::finish_gate(&list, &old_dps);
    Ok(Inventory {
        nodes: list,
        old_data_planes: old_dps,
        data_planes_read: read,
        gate,
    })
}

pub async fn run(ctx: &Context, args: &NodesArgs, json: bool) -> Result<Code> {
    let inv = inventory(ctx, args).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&inv)?);
    } else {
        if inv.nodes.is_empty() && inv.old_data_planes.is_empty() {
            say!(
                "No nodes known: pass --admin-url URL (repeatable) or list them in {}",
                NodesFile::default_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        for n in &inv.nodes {
            let label = match &n.class {
                Some(c) => c.label(),
                None => "manual entry: confirm it is out of the load balancer, drained and stopped"
                    .into(),
            };
            say!("{:<40} {:<7} {}", n.name, n.kind, label);
        }
        for d in &inv.old_data_planes {
            say!("{d}");
        }
        if let Some(r) = &inv.data_planes_read {
            say!("{r}");
        }
        if inv.gate.open {
            say!("\nFinish gate: OPEN (no old node seen)");
        } else {
            say!("\nFinish gate: CLOSED. `kong migrations finish` would break:");
            for b in &inv.gate.blockers {
                say!("  - {b}");
            }
        }
    }
    Ok(if inv.gate.open { 0 } else { GATE_CLOSED })
}
