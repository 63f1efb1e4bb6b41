//! The training cluster's database: Kong's tables held in memory, shared between the kong
//! stand-in (which writes them as Kong would) and the wizard's live pane (which reads them).
//! It has Kong's semantics, not PostgreSQL's: a lock is live while its expiry is in the future.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt};

use super::{Counted, Store, StoreError};
use crate::kong::catalog::Db;
use crate::kong::snapshot::{DataPlaneRow, LockRow, SchemaMetaRow, Snapshot, TildeRoutes};

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
    /// Data planes that stopped checking in, by hostname, and when: their row stays (Kong keeps
    /// it until its purge delay) and its `last_seen` ages, as in a real database.
    pub dp_stopped: BTreeMap<String, Instant>,
    /// Training: migrations that fail when `up` runs them, because of what is in the data (a
    /// row the migration cannot take). The fault stays until the trainee fixes its cause.
    pub faults: Vec<MigrationFault>,
    /// Routes whose paths already carry 3.0's `~` (what an interrupted core 016 leaves).
    pub tilde_routes: Option<TildeRoutes>,
    /// Tests only: the clock reads use instead of the real one, so an age on screen does not
    /// depend on how long a busy machine took between two steps. None: the real clock.
    pub frozen_now: Option<Instant>,
}

impl MemoryTables {
    /// The time reads and stops are judged by.
    pub fn now(&self) -> Instant {
        self.frozen_now.unwrap_or_else(Instant::now)
    }
}

/// A migration that fails as Kong's would on this data: which one, in which part of it (`up`
/// is its SQL, `up_f` its Lua), and the database's error as Kong's PostgreSQL driver words it.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationFault {
    pub subsystem: String,
    pub name: String,
    pub phase: String,
    pub error: String,
    /// What the migration had done to the data when it failed: 016's `up_f` rewrites routes one
    /// at a time, so the routes it reached carry `~` (kong::half_applied).
    pub leaves: Option<TildeRoutes>,
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
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let t = self.lock_tables();
        if t.unavailable {
            return Err(StoreError {
                kind: super::StoreErrorKind::Unreachable,
                message: "the training database is down (simulated outage)".into(),
                hint: "it comes back by itself; the live pane keeps retrying".into(),
            });
        }
        let now = t.now();
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
        s.tilde_routes = t.tilde_routes.clone();
        s.data_planes = t.data_planes.clone().map(|mut rows| {
            for r in &mut rows {
                let stopped = r.hostname.as_ref().and_then(|h| t.dp_stopped.get(h));
                if let (Some(at), Some(seen)) = (stopped, r.last_seen_secs_ago.as_mut()) {
                    *seen += now.saturating_duration_since(*at).as_secs_f64();
                }
            }
            rows
        });
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

impl MemoryDb {
    pub fn describe(&self) -> String {
        "training cluster".to_string()
    }
}

/// The training cluster has no tables beyond Kong's bookkeeping: nothing to count, no writes.
impl Store for MemoryDb {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
        let snap = MemoryDb::snapshot(self);
        async move { snap }.boxed()
    }

    fn row_counts<'a>(&'a self, _tables: &'a [&'a str]) -> Counted<'a> {
        async { Ok(None) }.boxed()
    }

    fn writes_since(&self, _since: u64) -> Counted<'_> {
        async { Ok(None) }.boxed()
    }

    fn describe(&self) -> String {
        MemoryDb::describe(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Endpoint;

    #[tokio::test]
    async fn the_training_database_reads_through_the_store_seam() {
        let db = MemoryDb::new(MemoryTables {
            schema_meta: Some(BTreeMap::from([(
                "core".to_string(),
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: "core".into(),
                    executed: Some(vec!["000_base".into()]),
                    ..SchemaMetaRow::default()
                },
            )])),
            lock: Some(MemoryDb::lock_for("node-1", Duration::from_secs(60))),
            ..MemoryTables::default()
        });
        let endpoint = Endpoint::Memory(db.clone());
        let store = endpoint.connect().await.expect("memory connects");
        let snap = store.snapshot().await.expect("readable");
        let rows = snap.schema_meta.expect("bootstrapped");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].executed.as_deref(),
            Some(&["000_base".to_string()][..])
        );
        assert!(snap.lock.is_some_and(|l| l.live));
        assert_eq!(store.row_counts(&["services"]).await, Ok(None));
        assert_eq!(store.writes_since(0).await, Ok(None));
        assert_eq!(store.describe(), endpoint.describe());

        // The same handle sees the stand-in's writes, and an outage is the store's error.
        db.lock_tables().lock = None;
        assert!(store.snapshot().await.expect("readable").lock.is_none());
        db.lock_tables().unavailable = true;
        let e = store.snapshot().await.expect_err("down");
        assert_eq!(e.kind, crate::store::StoreErrorKind::Unreachable);
    }
}
