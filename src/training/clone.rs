//! The training cluster's dual-cluster side (`kongrade demo --scenario lts-dual-cluster`): a
//! second simulated database the clone goes into and the new kong migrates, while the old
//! cluster keeps serving from the first; the source's configuration tables as the write guard
//! sees them (rows and newest write); one write on the old cluster after the clone, so the
//! guard has something to catch; and the new cluster's simulated nodes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use crate::contract::clone::{CloneRecord, TableMark};
use crate::store::memory::{MemoryDb, MemoryTables};

/// The scenario's `dual_cluster` object.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDual {
    /// The clone's database name (typed to replace it).
    pub clone_database: String,
    /// The source's tables and their rows (configuration and traffic tables alike).
    pub tables: BTreeMap<String, i64>,
    /// A configuration write made on the old cluster after the clone, while the trainee migrates
    /// it (writes should have been frozen): the write guard catches it.
    #[serde(default)]
    pub write_after_clone: Option<ScenarioWrite>,
    /// The new cluster's nodes (they run the target and read the clone).
    pub new_nodes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioWrite {
    pub table: String,
    /// What happened, for the log.
    pub what: String,
}

/// The simulated clone and what the write guard reads.
pub struct TrainingClone {
    pub spec: ScenarioDual,
    /// The clone's database (no Kong schema until the clone is taken).
    pub db: MemoryDb,
    pub exists: AtomicBool,
    /// The source's tables now.
    pub source: Mutex<Vec<TableMark>>,
    /// The write after the clone was made (it happens once).
    pub written: AtomicBool,
    clones: Mutex<u32>,
}

/// A stable made-up timestamp: the training cluster's last configuration write.
const LAST_WRITE: &str = "2026-11-30 17:02:11+00";
const AFTER_CLONE: &str = "2026-12-01 09:41:27+00";

impl TrainingClone {
    pub fn new(spec: ScenarioDual) -> TrainingClone {
        let traffic = crate::kong::write_guard::TRAFFIC_TABLES;
        let marks = spec
            .tables
            .iter()
            .map(|(t, rows)| TableMark {
                table: t.clone(),
                rows: *rows,
                digest: None,
                // Traffic tables are written all the time; configuration last changed yesterday.
                newest: (*rows > 0).then(|| {
                    if traffic.contains(&t.as_str()) {
                        AFTER_CLONE.to_string()
                    } else {
                        LAST_WRITE.to_string()
                    }
                }),
            })
            .collect();
        TrainingClone {
            spec,
            db: MemoryDb::new(MemoryTables::default()),
            exists: AtomicBool::new(false),
            source: Mutex::new(marks),
            written: AtomicBool::new(false),
            clones: Mutex::new(0),
        }
    }

    /// Relations in the clone's place (None: it does not exist yet).
    pub fn occupied(&self) -> Option<i64> {
        self.exists
            .load(Ordering::SeqCst)
            .then(|| self.source_marks().len() as i64 + 1)
    }

    pub fn source_marks(&self) -> Vec<TableMark> {
        self.source.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The clone taken: the source's schema copied into the clone's database (replacing what it
    /// held), and the record a real clone's proof would give.
    pub fn take(&self, source: &MemoryDb, source_name: &str, clone_name: &str) -> CloneRecord {
        let meta = source.lock_tables().schema_meta.clone();
        {
            let mut t = self.db.lock_tables();
            *t = MemoryTables::default();
            t.schema_meta = meta.clone();
        }
        let replaced = self.exists.swap(true, Ordering::SeqCst);
        let n = self
            .clones
            .lock()
            .map(|mut c| {
                *c += 1;
                *c
            })
            .unwrap_or(1);
        let tables = self.source_marks();
        CloneRecord {
            source: source_name.to_string(),
            clone: clone_name.to_string(),
            clone_host: "training".into(),
            clone_port: 5432,
            clone_database: self.spec.clone_database.clone(),
            created: !replaced,
            replaced,
            server_major: "15".into(),
            snapshot: format!("00000003-0000001B-{n}"),
            schema_meta_rows: meta.map(|m| m.len()).unwrap_or(0),
            tables,
            elapsed_ms: 1200,
            created_at: crate::exec::datadir::utc_stamp(crate::exec::datadir::now_secs()).0,
        }
    }

    /// Traffic goes on writing its tables on the old cluster (rate-limiting counters, tokens):
    /// the write guard lists them as expected to diverge.
    pub fn traffic_flows(&self) {
        let traffic = crate::kong::write_guard::TRAFFIC_TABLES;
        if let Ok(mut s) = self.source.lock() {
            for m in s.iter_mut().filter(|m| traffic.contains(&m.table.as_str())) {
                m.rows += 7;
                m.newest =
                    Some(crate::exec::datadir::utc_stamp(crate::exec::datadir::now_secs()).0);
            }
        }
    }

    /// The old cluster's write after the clone, once: a note for the log, if it happened now.
    pub fn write_once(&self) -> Option<String> {
        let w = self.spec.write_after_clone.as_ref()?;
        if self.written.swap(true, Ordering::SeqCst) {
            return None;
        }
        if let Ok(mut s) = self.source.lock() {
            match s.iter_mut().find(|m| m.table == w.table) {
                Some(m) => {
                    m.rows += 1;
                    m.newest = Some(AFTER_CLONE.to_string());
                }
                None => s.push(TableMark {
                    table: w.table.clone(),
                    rows: 1,
                    newest: Some(AFTER_CLONE.to_string()),
                    digest: None,
                }),
            }
        }
        Some(format!(
            "(training) meanwhile on the old cluster: {} ({}), though configuration writes were to be frozen",
            w.what, w.table
        ))
    }
}
