//! Everything that touches the world outside the database: processes, files, HTTP.

pub mod backup;
pub mod catalog_gen;
pub mod clone;
pub mod datadir;
pub mod env_reach;
pub mod journal;
pub mod kong_target;
pub mod kong_template;
pub mod kong_version;
pub mod lua_requires;
pub mod lua_tree;
pub mod probe;
pub mod process;
pub mod runner;
pub mod standin;
