//! The training cluster of `kongrade demo`: a scenario ([`scenario`]) made real as a
//! [`MemoryDb`] holding Kong's tables, simulated nodes with Admin APIs, and kong as the
//! stand-in of `exec::standin` running in-process against the same database
//! ([`Training::kong`]). The wizard reads it through the same store seam as a real database.

pub mod clone;
mod scenario;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

pub use scenario::{
    list_text, names, scenario, CustomMigration, CustomPlugin, Scenario, ScenarioFault,
    ScenarioLock, ScenarioNode, DEFAULT_SCENARIO,
};

use scenario::plugins_of;

use crate::exec::runner::KongTarget;
use crate::exec::standin::StandInOptions;
use crate::kong::catalog::{Catalog, SubsystemSpec};
use crate::kong::diagnose::Settings;
use crate::kong::nodes::{classify, Checklist, NodeClass, NodeStatus, ProbeAnswer};
use crate::kong::target::Target;
use crate::kong::version::Version;
use crate::store::memory::MemoryDb;
use crate::wizard::model::{BackupMethod, Node};
use crate::wizard::Interpreter;

/// A scenario made real: the database, the target, the nodes.
pub struct Training {
    pub scenario: Scenario,
    pub db: MemoryDb,
    pub target: Target,
    pub target_version: Version,
    pub nodes: Vec<Node>,
    /// Nodes that ignore their first stop.
    pub stuck: Mutex<HashSet<String>>,
    /// Nodes stopped: their simulated Admin API no longer answers.
    pub stopped: Mutex<HashSet<String>>,
    /// The custom plugins' migrations at the target: the stand-in loads them as Kong would from
    /// the plugins' Lua files.
    pub custom: Vec<SubsystemSpec>,
    /// Dual-cluster scenarios: the clone's simulated database and the write guard's tables.
    pub clone: Option<clone::TrainingClone>,
}

/// Time one migration takes in the demo at `--speed 1`, slow enough to watch.
pub const MIGRATION_DELAY: Duration = Duration::from_millis(300);

impl Training {
    /// What diagnose needs to know of the training cluster's kong.conf: `kong migrations` takes
    /// no `-c` here, the plugins are the scenario's.
    pub fn settings(&self, db_timeout: Option<u64>, lock_timeout: Option<u64>) -> Settings {
        Settings {
            conf_path: None,
            db_timeout_s: db_timeout,
            lock_timeout_s: lock_timeout,
            plugins: plugins_of(&self.scenario),
            ..Settings::default()
        }
    }

    /// How the wizard reads the training database: the target with the custom plugins.
    pub fn interpreter(&self, settings: Settings) -> Interpreter {
        Interpreter::new(
            std::sync::Arc::new(self.target.clone()),
            Catalog::embedded(),
            settings,
        )
    }

    /// The training cluster lives in memory: nothing for pg_dump to read, so the Backup step
    /// trains the other path, naming one's own backup.
    pub fn backup_method(&self) -> BackupMethod {
        BackupMethod::OwnOnly {
            why: "The training cluster lives in memory: there is nothing for pg_dump to read. Practise the other way: name your backup as you would for a real database.".into(),
        }
    }

    /// The new version's kong: the stand-in in-process, playing the target release, each
    /// migration taking `delay`.
    pub fn kong(&self, delay: Duration) -> KongTarget {
        let mut opts = StandInOptions::new(self.target_version);
        opts.delay = delay;
        opts.plugins = plugins_of(&self.scenario);
        opts.custom = self.custom.clone();
        KongTarget::InProcess {
            db: self.db.clone(),
            opts,
        }
    }

    /// The fix the scenario offers for its failing migration, for the wizard: (label, what).
    pub fn fix(&self) -> Option<(String, String)> {
        self.scenario
            .fault
            .as_ref()
            .map(|f| (f.fix_label.clone(), f.fix.clone()))
    }

    /// The trainee fixed the cause of the failing migration: its fault leaves the data, so the
    /// next `up` runs it. Returns a note for the log.
    pub fn fix_fault(&self) -> String {
        let mut t = self.db.lock_tables();
        let had = !t.faults.is_empty();
        t.faults.clear();
        // The scenario's fix repairs what the failed run left, too (its text says how).
        t.tilde_routes = None;
        match (&self.scenario.fault, had) {
            (Some(f), true) => format!("(training) done: {}", f.fix),
            _ => "(training) nothing left to fix".to_string(),
        }
    }

    /// The operator stopped a node: its data-plane row stops checking in (and ages), unless the
    /// node is stuck, which survives its first stop. Returns a note for the log and whether it
    /// is a warning.
    pub fn stop_node(&self, name: &str) -> (bool, String) {
        let was_stuck = self
            .stuck
            .lock()
            .map(|mut s| s.remove(name))
            .unwrap_or(false);
        if was_stuck {
            return (
                true,
                format!("(training) {name} was told to stop, but its supervisor restarted it: it still serves and checks in"),
            );
        }
        if let Ok(mut s) = self.stopped.lock() {
            s.insert(name.to_string());
        }
        let mut t = self.db.lock_tables();
        let is_dp = t
            .data_planes
            .as_ref()
            .is_some_and(|dps| dps.iter().any(|d| d.hostname.as_deref() == Some(name)));
        if is_dp {
            // It stops checking in: its row stays and ages past the --dp-window, as in Kong.
            let at = t.now();
            t.dp_stopped.entry(name.to_string()).or_insert(at);
        }
        (false, format!("(training) {name} stopped"))
    }

    /// The nodes with an Admin API (not the data planes, which the database shows), as the
    /// wizard lists them before the first probe.
    pub fn admin_nodes(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .filter(|n| !n.data_plane)
            .map(|n| NodeStatus {
                name: n.name.clone(),
                kind: "admin".into(),
                class: None,
                checklist: Checklist::default(),
            })
            .collect()
    }

    /// What each simulated Admin API answers now, classified as a real probe's answer would
    /// be: Kong's `GET /` while it runs, a refused connection once it is stopped.
    pub fn probe(&self) -> Vec<(String, NodeClass)> {
        let stopped = self.stopped.lock().map(|s| s.clone()).unwrap_or_default();
        self.nodes
            .iter()
            .filter(|n| !n.data_plane)
            .map(|n| {
                let answer = if stopped.contains(&n.name) {
                    ProbeAnswer::Failed {
                        error: "connection refused (training: stopped)".into(),
                    }
                } else {
                    let body = serde_json::json!({
                        "version": n.version,
                        "hostname": n.name,
                        "node_id": format!("training-{}", n.name),
                        "tagline": "Welcome to kong",
                    });
                    ProbeAnswer::Http {
                        status: 200,
                        body: body.to_string(),
                        location: None,
                    }
                };
                (n.name.clone(), classify(&answer, self.target_version))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::state::{self, MigState};

    fn state_of(name: &str) -> (Training, crate::kong::state::SchemaState) {
        let cat = Catalog::embedded();
        let t = scenario(name)
            .and_then(|s| s.build(cat, 1.0))
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = t.db.snapshot().expect("training db readable");
        let st = state::compute(&t.target, &snap, cat);
        (t, st)
    }

    #[test]
    fn every_scenario_builds_and_is_listed() {
        let text = list_text().expect("list");
        for n in names() {
            let s = scenario(n).expect("parses");
            assert_eq!(s.name, n, "file name and scenario name agree");
            assert!(text.contains(&s.title));
            s.build(Catalog::embedded(), 1.0).expect("builds");
        }
        assert!(scenario("nope").is_err());
    }

    #[test]
    fn scenarios_hold_the_states_they_promise() {
        let (_, st) = state_of("clean");
        assert!(!st.any(MigState::Pending) && st.any(MigState::New));
        assert!(st.gaps.is_empty() && st.lock.is_none());

        let (_, st) = state_of("custom-plugin");
        let acme = st.subsystem("acme-audit").expect("custom subsystem loaded");
        assert_eq!(acme.count(MigState::New), 1);
        assert_eq!(acme.count(MigState::Executed), 1);

        let (_, st) = state_of("stale-lock");
        assert!(st.lock_live());

        let (_, st) = state_of("unfinished");
        assert!(st.any(MigState::Pending) && !st.any(MigState::New));

        let (_, st) = state_of("pre-1.0");
        assert!(st.needs_bootstrap && st.legacy_table);

        let (t, _) = state_of("old-node-serving");
        let snap = t.db.snapshot().expect("readable");
        assert_eq!(snap.data_planes.as_ref().map(Vec::len), Some(3));
        assert!(t.nodes.iter().any(|n| n.name == "dp-old-2" && n.old));
        // The stuck node survives its first stop only.
        assert!(t.stop_node("dp-old-2").0);
        assert!(!t.stop_node("dp-old-2").0);
        // Stopped, its row stays (Kong keeps it) and its last_seen ages from the stop.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let snap = t.db.snapshot().expect("readable");
        assert_eq!(snap.data_planes.as_ref().map(Vec::len), Some(3));
        let seen = |snap: &crate::kong::snapshot::Snapshot| {
            snap.data_planes
                .iter()
                .flatten()
                .find(|d| d.hostname.as_deref() == Some("dp-old-2"))
                .and_then(|d| d.last_seen_secs_ago)
                .expect("dp-old-2 seen")
        };
        let first = seen(&snap);
        assert!(first > 3.0, "{first}");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let later = seen(&t.db.snapshot().expect("readable"));
        assert!(later > first, "{later} > {first}");
    }
}
