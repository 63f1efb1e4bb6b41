//! Shared test support: a throwaway PostgreSQL cluster and Kong database states built in it; a
//! CQL-protocol test server and Kong keyspaces served by it (or written to a real Cassandra).
#![allow(dead_code)]

pub mod cli;
pub mod cql;
pub mod docker;
pub mod kong_cql;
pub mod kong_db;
pub mod kong_rows;
pub mod nodes;
pub mod pg;
pub mod tmux;
