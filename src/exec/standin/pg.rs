//! The stand-in's PostgreSQL backend: Kong's own bookkeeping statements (connector.lua's
//! schema_bootstrap, insert_lock, read_lock, remove_lock, record_migration) in a UTC session,
//! and nothing else.

use std::time::Duration;

use color_eyre::eyre::{eyre, Result};
use tokio_postgres::types::ToSql;

use super::backend::{Backend, Record};
use crate::kong::catalog::Db;
use crate::kong::snapshot::Snapshot;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::{StoreError, StoreErrorKind};

pub struct PgBackend {
    store: PgStore,
    opts: PgOptions,
}

/// `ERROR: <message>` as pgmoon reports a server error; the connection error text otherwise.
fn pg_err(e: tokio_postgres::Error) -> color_eyre::Report {
    match e.as_db_error() {
        Some(db) => eyre!("ERROR: {}", db.message()),
        None => eyre!("{e}"),
    }
}

/// The driver's own words for a failed connection, as Kong prints pgmoon's (`FATAL: ...` from
/// the server, the socket error otherwise), without kongrade's framing and advice.
fn driver_text(e: &StoreError, opts: &PgOptions) -> String {
    let target = opts.describe();
    let after = |marker: &str| e.message.split_once(marker).map(|(_, m)| m.to_string());
    let text = match e.kind {
        StoreErrorKind::Auth => after("refused the login: ").map(|m| format!("FATAL: {m}")),
        StoreErrorKind::MissingDatabase => Some(format!(
            "FATAL: database \"{}\" does not exist",
            opts.database
        )),
        StoreErrorKind::Unreachable if e.message.contains("did not answer within") => {
            Some("timeout".to_string())
        }
        StoreErrorKind::Unreachable => after(&format!("cannot reach PostgreSQL at {target}: ")),
        StoreErrorKind::Tls => after(&format!("TLS with PostgreSQL at {target} failed: ")),
        _ => None,
    };
    text.unwrap_or_else(|| e.message.clone())
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl PgBackend {
    pub async fn connect(opts: &PgOptions) -> Result<PgBackend> {
        let store = PgStore::connect_writable(opts)
            .await
            .map_err(|e| eyre!("{}", driver_text(&e, opts)))?;
        let b = PgBackend {
            store,
            opts: opts.clone(),
        };
        // Kong's session setup (connector.lua reconnect): its schema, and UTC, because the lock's
        // ttl is written and compared in UTC wall time.
        let mut setup = String::from("SET TIME ZONE 'UTC';");
        if let Some(schema) = &opts.schema {
            setup.push_str(&format!(" SET search_path TO {};", ident(schema)));
        }
        b.batch(&setup).await?;
        Ok(b)
    }

    async fn batch(&self, sql: &str) -> Result<()> {
        match tokio::time::timeout(self.opts.timeout, self.store.client().batch_execute(sql)).await
        {
            Ok(r) => r.map_err(pg_err),
            Err(_) => Err(eyre!("timeout")),
        }
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        match tokio::time::timeout(self.opts.timeout, self.store.client().execute(sql, params))
            .await
        {
            Ok(r) => r.map_err(pg_err),
            Err(_) => Err(eyre!("timeout")),
        }
    }
}

impl Backend for PgBackend {
    fn db_name(&self) -> String {
        self.opts.database.clone()
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        match self.store.snapshot().await {
            Ok(s) => Ok(s),
            // Kong's `SET SCHEMA` accepts a schema that does not exist yet: it simply finds no
            // schema_meta there, and bootstrap creates the schema.
            Err(e) if e.kind == StoreErrorKind::MissingSchema => Ok(Snapshot::empty(
                Db::Postgres,
                self.opts.schema.as_deref().unwrap_or_default(),
            )),
            Err(e) => Err(eyre!("{}", e.message)),
        }
    }

    async fn bootstrap_tables(&mut self) -> Result<()> {
        let mut sql = String::new();
        if let Some(schema) = &self.opts.schema {
            sql.push_str(&format!(
                "CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION CURRENT_USER; SET search_path TO {s};",
                s = ident(schema)
            ));
        }
        // connector.lua's schema_bootstrap and setup_locks, verbatim in effect.
        sql.push_str(
            "CREATE TABLE IF NOT EXISTS schema_meta (\n\
               key            TEXT,\n\
               subsystem      TEXT,\n\
               last_executed  TEXT,\n\
               executed       TEXT[],\n\
               pending        TEXT[],\n\
               PRIMARY KEY (key, subsystem)\n\
             );\n\
             BEGIN;\n\
             CREATE TABLE IF NOT EXISTS locks (\n\
               key    TEXT PRIMARY KEY,\n\
               owner  TEXT,\n\
               ttl    TIMESTAMP WITH TIME ZONE\n\
             );\n\
             CREATE INDEX IF NOT EXISTS locks_ttl_idx ON locks (ttl);\n\
             COMMIT;",
        );
        self.batch(&sql).await
    }

    async fn insert_lock(&mut self, owner: &str, ttl: Duration) -> Result<bool> {
        // One transaction, as Kong's: an expired row goes, then ours goes in unless a live one
        // is there. The ttl is "now + lock timeout" in UTC wall time.
        self.batch("BEGIN").await?;
        let r = async {
            self.execute(
                "DELETE FROM locks WHERE ttl < CURRENT_TIMESTAMP AT TIME ZONE 'UTC'",
                &[],
            )
            .await?;
            let secs = ttl.as_secs_f64();
            self.execute(
                "INSERT INTO locks (key, owner, ttl) \
                 VALUES ('migrations', $1::TEXT, (CURRENT_TIMESTAMP + make_interval(secs => $2)) AT TIME ZONE 'UTC') \
                 ON CONFLICT DO NOTHING",
                &[&owner, &secs],
            )
            .await
        }
        .await;
        match r {
            Ok(n) => {
                self.batch("COMMIT").await?;
                Ok(n == 1)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK").await;
                Err(e)
            }
        }
    }

    async fn read_lock(&mut self) -> Result<bool> {
        let n = self
            .execute(
                "SELECT 1 FROM locks WHERE key = 'migrations' \
                 AND ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC' LIMIT 1",
                &[],
            )
            .await?;
        Ok(n > 0)
    }

    async fn remove_lock(&mut self, owner: &str) -> Result<()> {
        self.execute(
            "DELETE FROM locks WHERE key = 'migrations' AND owner = $1::TEXT",
            &[&owner],
        )
        .await?;
        Ok(())
    }

    async fn record(&mut self, subsystem: &str, name: &str, how: Record) -> Result<()> {
        // connector.lua's record_migration, one statement each.
        let sql = match how {
            Record::Executed => {
                "INSERT INTO schema_meta (key, subsystem, last_executed, executed) \
                 VALUES ('schema_meta', $1::TEXT, $2::TEXT, ARRAY[$2::TEXT]) \
                 ON CONFLICT (key, subsystem) DO UPDATE \
                 SET last_executed = EXCLUDED.last_executed, \
                     executed = ARRAY_APPEND(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), $2::TEXT)"
            }
            Record::Pending => {
                "INSERT INTO schema_meta (key, subsystem, pending) \
                 VALUES ('schema_meta', $1::TEXT, ARRAY[$2::TEXT]) \
                 ON CONFLICT (key, subsystem) DO UPDATE \
                 SET pending = ARRAY_APPEND(schema_meta.pending, $2::TEXT)"
            }
            Record::Teardown => {
                "INSERT INTO schema_meta (key, subsystem, last_executed, executed) \
                 VALUES ('schema_meta', $1::TEXT, $2::TEXT, ARRAY[$2::TEXT]) \
                 ON CONFLICT (key, subsystem) DO UPDATE \
                 SET last_executed = EXCLUDED.last_executed, \
                     executed = ARRAY_APPEND(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), $2::TEXT), \
                     pending  = ARRAY_REMOVE(COALESCE(schema_meta.pending,  ARRAY[]::TEXT[]), $2::TEXT)"
            }
        };
        self.execute(sql, &[&subsystem, &name]).await?;
        Ok(())
    }

    async fn reset(&mut self) -> Result<()> {
        // Kong drops its whole schema; the stand-in created only these two tables.
        self.batch("DROP TABLE IF EXISTS schema_meta, locks CASCADE")
            .await
    }
}
