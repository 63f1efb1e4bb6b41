//! Where the stand-in keeps Kong's bookkeeping: one trait, implemented for PostgreSQL
//! ([`super::pg::PgBackend`]) and for the in-memory training database ([`MemoryBackend`]).
//! Every method is one of the few statements Kong's connector issues for migrations.

use std::future::Future;
use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, Result};

use crate::kong::catalog::Db;
use crate::kong::snapshot::{SchemaMetaRow, Snapshot};
use crate::kong::target::Target;
use crate::store::memory::{MemoryDb, MemoryLock};

/// How one migration is recorded (Kong's `record_migration` states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `up` of a one-phase migration: append to `executed`, set `last_executed`.
    Executed,
    /// `up` of a two-phase migration: append to `pending`.
    Pending,
    /// `finish`: append to `executed`, remove from `pending`, set `last_executed`.
    Teardown,
}

pub trait Backend: Send {
    /// The database name Kong prints in `migrating core on database 'NAME'...`.
    fn db_name(&self) -> String;

    /// What Kong calls the store in that line (`infos.db_desc`): `database`, DB-less `cache`.
    fn db_desc(&self) -> &'static str {
        "database"
    }

    /// kong/db/init.lua prefixes its errors with the strategy's name: `[PostgreSQL error] `.
    fn error_prefix(&self) -> &'static str {
        "[PostgreSQL error] "
    }

    /// The strategy a migration module would need and lacks (DB-less: Kong's migrations have no
    /// `off` part, so running one fails); None where migrations run.
    fn missing_strategy(&self) -> Option<&'static str> {
        None
    }

    /// Why running migration `subsystem/name`'s up fails on this data: (the part that fails,
    /// `up` or `up_f`; the database's error). None: it runs (the stand-in runs no DDL; only
    /// the training database carries faults).
    fn fault(&mut self, subsystem: &str, name: &str) -> Option<(String, String)> {
        let _ = (subsystem, name);
        None
    }

    /// What Kong's `schema_state()` reads: schema_meta and the lock.
    fn snapshot(&mut self) -> impl Future<Output = Result<Snapshot>> + Send;

    /// Kong's `schema_bootstrap`: the schema_meta and locks tables (and nothing else).
    fn bootstrap_tables(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Kong's `insert_lock`: drop an expired lock, then insert ours unless one is there.
    /// True when the lock is ours.
    fn insert_lock(
        &mut self,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Kong's `read_lock`: is a live lock there?
    fn read_lock(&mut self) -> impl Future<Output = Result<bool>> + Send;

    /// Kong's `remove_lock`: only our own row.
    fn remove_lock(&mut self, owner: &str) -> impl Future<Output = Result<()>> + Send;

    /// One statement per migration, right after it "ran".
    fn record(
        &mut self,
        subsystem: &str,
        name: &str,
        how: Record,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `reset`: the stand-in drops only what it creates (schema_meta and locks).
    fn reset(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// The training database, with Kong's semantics (a lock is live while its expiry is ahead).
pub struct MemoryBackend {
    pub db: MemoryDb,
}

impl MemoryBackend {
    fn check_up(db: &MemoryDb) -> Result<()> {
        if db.lock_tables().unavailable {
            return Err(eyre!(
                "the training database is down (simulated outage): connection refused"
            ));
        }
        Ok(())
    }
}

/// Applies one record to a row as Kong's SQL does (NULL arrays count as empty).
pub fn apply_record(row: &mut SchemaMetaRow, name: &str, how: Record) {
    match how {
        Record::Executed => {
            row.last_executed = Some(name.to_string());
            row.executed
                .get_or_insert_with(Vec::new)
                .push(name.to_string());
        }
        Record::Pending => row
            .pending
            .get_or_insert_with(Vec::new)
            .push(name.to_string()),
        Record::Teardown => {
            row.last_executed = Some(name.to_string());
            row.executed
                .get_or_insert_with(Vec::new)
                .push(name.to_string());
            // array_remove drops every occurrence, and COALESCE turns NULL into {}.
            row.pending
                .get_or_insert_with(Vec::new)
                .retain(|p| p != name);
        }
    }
}

impl Backend for MemoryBackend {
    fn db_name(&self) -> String {
        "kong".to_string()
    }

    fn fault(&mut self, subsystem: &str, name: &str) -> Option<(String, String)> {
        let mut t = self.db.lock_tables();
        let f = t
            .faults
            .iter()
            .find(|f| f.subsystem == subsystem && f.name == name)
            .cloned()?;
        // What the migration did before it failed stays in the data.
        if let Some(left) = f.leaves {
            t.tilde_routes = Some(left);
        }
        Some((f.phase, f.error))
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        self.db.snapshot().map_err(|e| eyre!("{}", e.message))
    }

    async fn bootstrap_tables(&mut self) -> Result<()> {
        Self::check_up(&self.db)?;
        let mut t = self.db.lock_tables();
        if t.schema_meta.is_none() {
            t.schema_meta = Some(Default::default());
        }
        Ok(())
    }

    async fn insert_lock(&mut self, owner: &str, ttl: Duration) -> Result<bool> {
        Self::check_up(&self.db)?;
        let mut t = self.db.lock_tables();
        if t.schema_meta.is_none() {
            return Err(eyre!("ERROR: relation \"locks\" does not exist"));
        }
        let now = Instant::now();
        if t.lock.as_ref().is_some_and(|l| l.expires < now) {
            t.lock = None;
        }
        if t.lock.is_some() {
            return Ok(false);
        }
        t.lock = Some(MemoryDb::lock_for(owner, ttl));
        Ok(true)
    }

    async fn read_lock(&mut self) -> Result<bool> {
        Self::check_up(&self.db)?;
        let t = self.db.lock_tables();
        let now = Instant::now();
        Ok(t.lock.as_ref().is_some_and(|l| l.expires >= now))
    }

    async fn remove_lock(&mut self, owner: &str) -> Result<()> {
        Self::check_up(&self.db)?;
        let mut t = self.db.lock_tables();
        if t.lock
            .as_ref()
            .is_some_and(|l: &MemoryLock| l.owner == owner)
        {
            t.lock = None;
        }
        Ok(())
    }

    async fn record(&mut self, subsystem: &str, name: &str, how: Record) -> Result<()> {
        Self::check_up(&self.db)?;
        let mut t = self.db.lock_tables();
        let meta = t
            .schema_meta
            .as_mut()
            .ok_or_else(|| eyre!("ERROR: relation \"schema_meta\" does not exist"))?;
        let row = meta
            .entry(subsystem.to_string())
            .or_insert_with(|| SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: subsystem.to_string(),
                ..SchemaMetaRow::default()
            });
        apply_record(row, name, how);
        Ok(())
    }

    async fn reset(&mut self) -> Result<()> {
        Self::check_up(&self.db)?;
        let mut t = self.db.lock_tables();
        t.schema_meta = None;
        t.lock = None;
        Ok(())
    }
}

/// `database = off` (DB-less), as Kong's `off` connector answers the migrations commands: every
/// migration of the target counts as executed, the lock is always granted, and writes (lock,
/// reset) do nothing.
pub struct OffBackend {
    rows: Vec<SchemaMetaRow>,
}

impl OffBackend {
    pub fn new(target: &Target) -> OffBackend {
        let rows = target
            .subsystems
            .iter()
            .map(|s| {
                let names: Vec<String> = s.migrations.iter().map(|m| m.name.clone()).collect();
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: s.name.clone(),
                    last_executed: names.last().cloned(),
                    executed: Some(names),
                    pending: Some(Vec::new()),
                }
            })
            .collect();
        OffBackend { rows }
    }
}

impl Backend for OffBackend {
    fn db_name(&self) -> String {
        "in memory".to_string()
    }

    fn db_desc(&self) -> &'static str {
        "cache"
    }

    fn error_prefix(&self) -> &'static str {
        "[off error] "
    }

    fn missing_strategy(&self) -> Option<&'static str> {
        Some("off")
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut s = Snapshot::empty(Db::Postgres, "");
        s.schema_meta = Some(self.rows.clone());
        s.locks_table = true;
        Ok(s)
    }

    async fn bootstrap_tables(&mut self) -> Result<()> {
        Ok(())
    }

    async fn insert_lock(&mut self, _owner: &str, _ttl: Duration) -> Result<bool> {
        Ok(true)
    }

    async fn read_lock(&mut self) -> Result<bool> {
        Ok(false)
    }

    async fn remove_lock(&mut self, _owner: &str) -> Result<()> {
        Ok(())
    }

    async fn record(&mut self, _subsystem: &str, _name: &str, _how: Record) -> Result<()> {
        Err(eyre!("cannot perform queries without a database"))
    }

    async fn reset(&mut self) -> Result<()> {
        Ok(())
    }
}
