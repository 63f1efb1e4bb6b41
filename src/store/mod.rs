//! Reading Kong's database. Stores know tables and drivers, nothing of upgrade steps; each returns
//! a raw [`crate::kong::snapshot::Snapshot`].

pub mod cassandra;
pub mod memory;
pub mod postgres;
pub mod tls;

use std::fmt;

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
