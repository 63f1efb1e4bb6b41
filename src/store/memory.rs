//! The training cluster's database: Kong's tables held in memory, shared between the kong
//! stand-in (which writes them as Kong would) and the wizard's live pane (which reads them).
//! It has Kong's semantics, not PostgreSQL's: a lock is live while its expiry is in the future.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::kong::catalog::Db;
use crate::kong::snapshot::{DataPlaneRow, LockRow, SchemaMetaRow, Snapshot};

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryLock {
    pub owner: String,
    pub expires: Instant,
}

/// Kong's tables. `schema_meta: None` = not bootstrapped.
#[derive(Debug, Clone, Default)]
pub struct MemoryTables {
    pub schema_meta: Option<BTreeMap<String, SchemaMetaRow>>,
    pub lock: Option<MemoryLock>,
    pub legacy_migrations: Option<Vec<(String, Vec<String>)>>,
    pub data_planes: Option<Vec<DataPlaneRow>>,
    /// When set, reads fail as if the server were down (for training on outages).
    pub unavailable: bool,
}

/// A handle on the shared tables; clones share them.
#[derive(Debug, Clone, Default)]
pub struct MemoryDb(Arc<Mutex<MemoryTables>>);

impl MemoryDb {
    pub fn new(tables: MemoryTables) -> Self {
        MemoryDb(Arc::new(Mutex::new(tables)))
    }

    /// The tables, for the stand-in to change. A poisoned mutex only means a writer panicked
    /// mid-change; the tables are plain data, so keep going with what is there.
    pub fn lock_tables(&self) -> MutexGuard<'_, MemoryTables> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a store would read now.
    pub fn snapshot(&self) -> Result<Snapshot, super::StoreError> {
        let t = self.lock_tables();
        if t.unavailable {
            return Err(super::StoreError {
                kind: super::StoreErrorKind::Unreachable,
                message: "the training database is down (simulated outage)".into(),
                hint: "it comes back by itself; the live pane keeps retrying".into(),
            });
        }
        let now = Instant::now();
        let mut s = Snapshot::empty(Db::Postgres, "training");
        s.server_version = "training cluster".into();
        s.schema_meta = t
            .schema_meta
            .as_ref()
            .map(|m| m.values().cloned().collect());
        s.locks_table = t.schema_meta.is_some();
        s.lock = t.lock.as_ref().map(|l| {
            let left = if l.expires >= now {
                l.expires.duration_since(now).as_secs_f64()
            } else {
                -now.duration_since(l.expires).as_secs_f64()
            };
            LockRow {
                owner: Some(l.owner.clone()),
                ttl: None,
                live: l.expires >= now,
                seconds_left: Some(left),
            }
        });
        s.legacy_migrations = t.legacy_migrations.clone();
        s.data_planes = t.data_planes.clone();
        Ok(s)
    }

    /// A lock row that expires `ttl` from now.
    pub fn lock_for(owner: &str, ttl: Duration) -> MemoryLock {
        MemoryLock {
            owner: owner.to_string(),
            expires: Instant::now() + ttl,
        }
    }
}
