//! Everything kongrade knows about Kong, as pure functions over data. The one exception is
//! kong.conf, whose loader reads the file (kept to `conf::load` and friends).

pub mod catalog;
pub mod conf;
pub mod diagnose;
pub mod half_applied;
pub mod in_place;
pub mod kong_facts;
pub mod lua;
pub mod nodes;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod report;
pub mod rewrites;
pub mod snapshot;
pub mod sql_facts;
pub mod state;
pub mod strategy;
pub mod target;
pub mod version;
pub mod write_guard;
