//! Shared test support: a throwaway PostgreSQL cluster and Kong database states built in it.
#![allow(dead_code)]

pub mod kong_db;
pub mod pg;
