//! Reading Kong's database. Stores know tables and drivers, nothing of upgrade steps; each returns
//! a raw [`crate::kong::snapshot::Snapshot`]. [`Endpoint`] says where a database is (resolved once
//! from kong.conf, `KONG_*` and the flags, or the training cluster); [`Endpoint::connect`] opens
//! it as a [`Store`], the one interface the commands and the wizard's poller read through.

pub mod cassandra;
pub mod memory;
pub mod postgres;
pub mod tls;

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::contract::DbIdentity;
use crate::kong::catalog::Db;
use crate::kong::snapshot::Snapshot;
use cassandra::{CassandraOptions, CassandraStore};
use memory::MemoryDb;
use postgres::{PgOptions, PgStore};

/// Why a database could not be read, sorted by what the operator has to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Nothing answered: wrong host/port, server down, firewall, or timeout.
    Unreachable,
    /// The server answered but refused the credentials or the role.
    Auth,
    /// The database named by pg_database / the keyspace does not exist.
    MissingDatabase,
    /// pg_schema names a schema that does not exist.
    MissingSchema,
    /// TLS negotiation or certificate verification failed.
    Tls,
    /// The tables exist but hold something kongrade cannot read (wrong column types...).
    Malformed,
    /// Anything else the server said.
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// What happened, for the operator (never contains a password).
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {}

/// Rows per table, as counted or estimated.
pub type TableRows = Vec<(String, i64)>;

/// A store's answer in rows per table; `None`: this store does not tell.
pub type Counted<'a> = BoxFuture<'a, Result<Option<TableRows>, StoreError>>;

/// An open store: one connection (or session) that later reads reuse. Object safe, so callers
/// hold a `Box<dyn Store>` whatever the backend.
pub trait Store: Send + Sync {
    /// Kong's bookkeeping as it is now.
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, StoreError>>;

    /// Rows of the given tables that exist: the planner's estimate where it has one (instant on
    /// huge tables), else an exact count. `None`: this store does not count.
    fn row_counts<'a>(&'a self, tables: &'a [&'a str]) -> Counted<'a>;

    /// Entity rows written after `since` (seconds since the epoch), per table. `None`: this
    /// store cannot tell.
    fn writes_since(&self, since: u64) -> Counted<'_>;

    /// The database for the operator (`kong@host:5432/kong`), never a password.
    fn describe(&self) -> String;

    /// The PostgreSQL session under this store, for reads only PostgreSQL has (the preflight's
    /// one query runs on it rather than on a connection of its own).
    fn as_postgres(&self) -> Option<&postgres::PgStore> {
        None
    }

    /// The Cassandra session under this store (the preflight takes the routes' read the row
    /// count made on it, rather than paging every route again).
    fn as_cassandra(&self) -> Option<&cassandra::CassandraStore> {
        None
    }
}

/// The tables diagnose, plan and the wizard count (one read, so their estimates agree): Kong's
/// big tables, `apis` for a pre-1.0 database, and, when `routes` (the upgrade crosses into
/// 3.x: `kong::preflight::reads_routes`), the routes core `016_280_to_300` rewrites
/// ([`crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS`], not a table: counted by the store, a
/// read of every route, so not made for a jump that runs no such rewrite).
pub fn counted_tables(snapshot: &Snapshot, routes: bool) -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = crate::kong::rewrites::BIG_TABLES.to_vec();
    if snapshot.legacy_migrations.is_some() {
        tables.push("apis");
    }
    if routes {
        tables.push(crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS);
    }
    tables
}

/// Rows of [`counted_tables`] on an open store: the one count `kongrade diagnose` and the
/// wizard's poller both read. `None`: this store does not count.
pub async fn big_table_counts(
    store: &dyn Store,
    snapshot: &Snapshot,
    routes: bool,
) -> Result<Option<TableRows>, StoreError> {
    store.row_counts(&counted_tables(snapshot, routes)).await
}

/// Where Kong's database is and how to reach it: the typed connection every command and the
/// wizard are handed (built once, by `cmd::context::Connection::resolve` or the training
/// cluster). Passwords stay [`crate::kong::conf::Secret`]s inside the options.
#[derive(Clone, Debug)]
pub enum Endpoint {
    Postgres(PgOptions),
    /// Kong up to 3.3.x.
    Cassandra(CassandraOptions),
    /// The training cluster's in-memory tables.
    Memory(MemoryDb),
}

impl Endpoint {
    /// The database kind Kong's migrations are chosen for (the training cluster plays
    /// PostgreSQL).
    pub fn db(&self) -> Db {
        match self {
            Endpoint::Postgres(_) | Endpoint::Memory(_) => Db::Postgres,
            Endpoint::Cassandra(_) => Db::Cassandra,
        }
    }

    /// Opens it.
    pub async fn connect(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Endpoint::Postgres(o) => Box::new(PgStore::connect(o).await?),
            Endpoint::Cassandra(o) => Box::new(CassandraStore::connect(o).await?),
            Endpoint::Memory(db) => Box::new(db.clone()),
        })
    }

    /// `kong@127.0.0.1:5432/kong`, `10.0.0.1,10.0.0.2:9042 keyspace kong`; never the password.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Postgres(o) => o.describe(),
            Endpoint::Cassandra(o) => o.describe(),
            Endpoint::Memory(db) => db.describe(),
        }
    }

    /// How long the driver waits on the server (`pg_timeout`, `cassandra_timeout`).
    pub fn timeout(&self) -> Duration {
        match self {
            Endpoint::Postgres(o) => o.timeout,
            Endpoint::Cassandra(o) => o.timeout,
            Endpoint::Memory(_) => Duration::from_secs(5),
        }
    }

    /// Which database an upgrade journal is about (never the password).
    pub fn identity(&self) -> DbIdentity {
        match self {
            Endpoint::Postgres(o) => DbIdentity {
                kind: "postgres".into(),
                host: o.host.clone(),
                port: o.port,
                database: o.database.clone(),
                schema: o.schema.clone(),
            },
            Endpoint::Cassandra(o) => DbIdentity {
                kind: "cassandra".into(),
                host: o.contact_points.join(","),
                port: o.port,
                database: o.keyspace.clone(),
                schema: None,
            },
            Endpoint::Memory(_) => DbIdentity {
                kind: "training".into(),
                host: "memory".into(),
                port: 0,
                database: "training".into(),
                schema: None,
            },
        }
    }
}
