//! Everything that touches the world outside the database: processes, files, HTTP.

pub mod kong_version;
