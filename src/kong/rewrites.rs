//! Which of Kong's migrations rewrite, scan or index Kong's big tables on PostgreSQL, read from the
//! migration modules' SQL and Lua (1.0.0 to 3.9.3). Used to warn before a migration outlives
//! `--db-timeout` or the migrations lock. Migrations that only add a nullable column, a column
//! with a constant default (metadata-only since PostgreSQL 11) or a trigger are not listed.

use serde::Serialize;

/// Kong's tables that grow with traffic or configuration; the ones worth counting.
pub const BIG_TABLES: &[&str] = &[
    "plugins",
    "routes",
    "services",
    "consumers",
    "targets",
    "upstreams",
    "ratelimiting_metrics",
    "response_ratelimiting_metrics",
    "oauth2_tokens",
    "keyauth_credentials",
    "acls",
    "sessions",
    "cluster_events",
];

/// When the work happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `kong migrations up` (the `up` SQL or `up_f`).
    Up,
    /// `kong migrations finish` (the teardown).
    Teardown,
}

/// How the table is touched, which sets both the speed and which timeout it meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// One SQL statement over the whole table (UPDATE of every row, ALTER ... TYPE, CREATE
    /// INDEX, ADD CONSTRAINT): must finish within `--db-timeout`.
    Statement,
    /// Lua reads every row in pages and updates some of them: many short queries.
    Scan,
    /// Lua reads every row and sends one UPDATE per row: many short queries, slow.
    PerRow,
}

impl Work {
    /// Conservative rows per second on modest hardware; estimates, not promises. `PerRow` is
    /// measured: real Kong 3.4.2's `up` on a 2.8.5 database of 1,000,000 routes, each with a
    /// regex path, took 345 s on a 2-core machine (~2,900 UPDATEs/s; kong-migrations.md 5b).
    pub fn rows_per_sec(self) -> f64 {
        match self {
            Work::Statement => 20_000.0,
            Work::Scan => 5_000.0,
            Work::PerRow => 2_900.0,
        }
    }
}

/// Rows a row-by-row rewrite only reads (paged SELECTs, no UPDATE): far quicker than those it
/// writes.
pub const READ_ONLY_ROWS_PER_SEC: f64 = 50_000.0;

/// A count the store reads besides the tables' sizes: routes with a path that carries regex
/// characters and no leading `~` (`kong::preflight::is_unprefixed_regex_path`, judged for every
/// route by `kong::preflight::RoutesScan`: exact). Core `016_280_to_300`'s up_f sends one
/// UPDATE for each of them and only reads the others.
pub const ROUTES_WITH_REGEX_PATHS: &str = "routes_with_regex_paths";

/// One migration's work on big tables in one phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub subsystem: &'static str,
    pub migration: &'static str,
    pub phase: Phase,
    pub work: Work,
    pub tables: &'static [&'static str],
    /// For a row-by-row rewrite of only some rows: the count (read by the store) of the rows it
    /// writes; the tables' other rows are only read. When the count is missing, every row is
    /// taken as written (an upper bound).
    pub written: Option<&'static str>,
}

const fn rw(
    subsystem: &'static str,
    migration: &'static str,
    phase: Phase,
    work: Work,
    tables: &'static [&'static str],
) -> Rewrite {
    Rewrite {
        subsystem,
        migration,
        phase,
        work,
        tables,
        written: None,
    }
}

impl Rewrite {
    /// The rows seen (the tables, then the written count when there is one) and the estimated
    /// seconds, from the counts `count` knows; `None` when there is nothing to do.
    pub fn estimate(
        &self,
        count: impl Fn(&str) -> Option<i64>,
    ) -> Option<(Vec<(String, i64)>, f64)> {
        let mut seen: Vec<(String, i64)> = self
            .tables
            .iter()
            .filter_map(|t| count(t).map(|n| (t.to_string(), n)))
            .filter(|(_, n)| *n > 0)
            .collect();
        // Counts come from the database: never trust them not to overflow.
        let rows: i64 = seen.iter().fold(0i64, |a, (_, n)| a.saturating_add(*n));
        if rows == 0 {
            return None;
        }
        let Some(written) = self
            .written
            .and_then(|w| count(w).map(|n| (w, n.clamp(0, rows))))
        else {
            return Some((seen, rows as f64 / self.work.rows_per_sec()));
        };
        seen.push((written.0.to_string(), written.1));
        let secs = written.1 as f64 / self.work.rows_per_sec()
            + (rows - written.1) as f64 / READ_ONLY_ROWS_PER_SEC;
        Some((seen, secs))
    }
}

use Phase::{Teardown, Up};
use Work::{PerRow, Scan, Statement};

/// The table (one line per entry). Sources: kong/db/migrations/core/*.lua, kong/plugins/*/migrations/*.lua and
/// kong/db/migrations/operations/*.lua at the release that introduced each migration.
#[rustfmt::skip]
pub const REWRITES: &[Rewrite] = &[
    // 1.0: created_at to timestamptz, plugins.config to jsonb, then cache keys row by row.
    rw("core", "001_14_to_15", Up, Statement, &["plugins", "consumers", "upstreams", "targets"]),
    rw("core", "001_14_to_15", Teardown, PerRow, &["plugins"]),
    rw("acl", "001_14_to_15", Up, Statement, &["acls"]),
    rw("acl", "001_14_to_15", Teardown, PerRow, &["acls"]),
    rw("key-auth", "001_14_to_15", Up, Statement, &["keyauth_credentials"]),
    rw("oauth2", "001_14_to_15", Up, Statement, &["oauth2_tokens"]),
    rw("rate-limiting", "001_14_to_15", Up, Statement, &["ratelimiting_metrics"]),
    rw("rate-limiting", "002_15_to_10", Teardown, Statement, &["ratelimiting_metrics"]),
    rw("response-ratelimiting", "001_14_to_15", Up, Statement, &["response_ratelimiting_metrics"]),
    rw("response-ratelimiting", "002_15_to_10", Teardown, Statement, &["response_ratelimiting_metrics"]),
    // 1.1: created_at truncated on every row; tags GIN indexes.
    rw("core", "003_100_to_110", Up, Statement, &["consumers", "plugins", "upstreams", "targets", "services", "routes"]),
    rw("rate-limiting", "003_10_to_112", Up, Statement, &["ratelimiting_metrics"]),
    rw("core", "004_110_to_120", Up, Statement, &["cluster_events"]),
    rw("core", "005_120_to_130", Teardown, PerRow, &["upstreams"]),
    rw("acl", "002_130_to_140", Up, Statement, &["acls"]),
    rw("key-auth", "002_130_to_140", Up, Statement, &["keyauth_credentials"]),
    rw("oauth2", "003_130_to_140", Up, Statement, &["oauth2_tokens"]),
    // 2.1: workspaces: ws_id, (id, ws_id) unique constraints and foreign keys on every entity.
    rw("core", "009_200_to_210", Up, Statement, &["upstreams", "targets", "consumers", "services", "routes", "plugins"]),
    rw("core", "009_200_to_210", Teardown, Statement, &["plugins"]),
    rw("acl", "003_200_to_210", Up, Statement, &["acls"]),
    rw("acl", "003_200_to_210", Teardown, Scan, &["plugins"]),
    // From 2.1.3 (acls got its composite cache_key): ws_adjust_data's one UPDATE of every acl.
    rw("acl", "003_200_to_210", Teardown, Statement, &["acls"]),
    rw("key-auth", "003_200_to_210", Up, Statement, &["keyauth_credentials"]),
    rw("oauth2", "004_200_to_210", Up, Statement, &["oauth2_tokens"]),
    rw("bot-detection", "001_200_to_210", Teardown, Scan, &["plugins"]),
    rw("ip-restriction", "001_200_to_210", Teardown, Scan, &["plugins"]),
    rw("rate-limiting", "004_200_to_210", Up, Statement, &["ratelimiting_metrics"]),
    rw("session", "001_add_ttl_index", Up, Statement, &["sessions"]),
    rw("acl", "004_212_to_213", Teardown, Statement, &["acls"]),
    // 2.2: duplicate targets deleted with a self-join.
    rw("core", "012_213_to_220", Teardown, Statement, &["targets"]),
    // 3.0: regex paths rewritten route by route; targets deduplicated and re-keyed.
    Rewrite { written: Some(ROUTES_WITH_REGEX_PATHS), ..rw("core", "016_280_to_300", Up, PerRow, &["routes"]) },
    rw("core", "016_280_to_300", Teardown, Statement, &["targets"]),
    rw("http-log", "001_280_to_300", Teardown, Scan, &["plugins"]),
    rw("pre-function", "001_280_to_300", Up, Scan, &["plugins"]),
    rw("pre-function", "001_280_to_300", Teardown, Scan, &["plugins"]),
    rw("post-function", "001_280_to_300", Up, Scan, &["plugins"]),
    rw("post-function", "001_280_to_300", Teardown, Scan, &["plugins"]),
    // 3.2: UNIQUE (ws_id, instance_name) builds an index over plugins.
    rw("core", "018_310_to_320", Up, Statement, &["plugins"]),
    // 3.6: redis settings moved inside plugins.config with one UPDATE per plugin kind.
    rw("acme", "003_350_to_360", Up, Statement, &["plugins"]),
    rw("rate-limiting", "006_350_to_360", Up, Statement, &["plugins"]),
    rw("response-ratelimiting", "001_350_to_360", Up, Statement, &["plugins"]),
    rw("opentelemetry", "001_331_to_332", Teardown, Scan, &["plugins"]),
    rw("ai-proxy", "001_360_to_370", Teardown, Scan, &["plugins"]),
];

/// The work a migration does on big tables, per phase.
pub fn of<'a>(
    subsystem: &'a str,
    migration: &'a str,
) -> impl Iterator<Item = &'static Rewrite> + 'a {
    REWRITES
        .iter()
        .filter(move |r| r.subsystem == subsystem && r.migration == migration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::Catalog;

    #[test]
    fn every_entry_names_a_migration_the_catalog_knows_and_a_big_table() {
        let cat = Catalog::embedded();
        for r in REWRITES {
            let known = cat.releases.iter().any(|rel| {
                rel.subsystem(r.subsystem)
                    .is_some_and(|s| s.position(r.migration).is_some())
            });
            assert!(
                known,
                "{} {} is not in the catalog",
                r.subsystem, r.migration
            );
            for t in r.tables {
                assert!(BIG_TABLES.contains(t), "{t} is not counted");
            }
        }
    }

    /// Measured (kong-migrations.md 5b): 1,000,000 routes, each with a regex path, took real
    /// Kong 3.4.2's `up` 345 s. The estimate must land within 1.5x of that, with or without the
    /// regex count; routes without a regex are only read.
    #[test]
    fn core_016_estimates_the_measured_run() {
        let r = of("core", "016_280_to_300")
            .find(|r| r.phase == Phase::Up)
            .unwrap();
        let counts = |regex: Option<i64>| {
            move |t: &str| match t {
                "routes" => Some(1_000_000),
                ROUTES_WITH_REGEX_PATHS => regex,
                _ => None,
            }
        };
        for regex in [Some(1_000_000), None] {
            let (seen, secs) = r.estimate(counts(regex)).unwrap();
            assert!(
                (345.0 / 1.5..=345.0 * 1.5).contains(&secs),
                "{regex:?}: {secs}"
            );
            assert_eq!(seen[0], ("routes".to_string(), 1_000_000));
        }
        // No regex path: a read of the table, seconds not minutes.
        let (seen, secs) = r.estimate(counts(Some(0))).unwrap();
        assert!(secs < 60.0, "{secs}");
        assert_eq!(seen[1], (ROUTES_WITH_REGEX_PATHS.to_string(), 0));
        // A count above the table (the table grew since) is capped at the table.
        let (_, secs) = r.estimate(counts(Some(5_000_000))).unwrap();
        assert!(secs < 345.0 * 1.5, "{secs}");
        assert!(r.estimate(|_| None).is_none());
    }

    /// Review's LARGE flag and rows come from the facts, its estimate from this table: every table
    /// an entry names must be one the migration's facts (PostgreSQL, the entry's phase, as the
    /// newest release ships it) touch, or the two disagree.
    #[test]
    fn every_entry_is_in_the_migrations_facts() {
        let book = crate::kong::catalog::FactsBook::embedded();
        let mut missing = Vec::new();
        for r in REWRITES {
            let Some(pg) = book
                .of(r.subsystem, r.migration, None)
                .and_then(|f| f.db(crate::kong::catalog::Db::Postgres))
            else {
                missing.push(format!("{} {}: no facts", r.subsystem, r.migration));
                continue;
            };
            let phases = match r.phase {
                Phase::Up => vec![&pg.up, &pg.up_f],
                Phase::Teardown => vec![&pg.teardown],
            };
            for t in r.tables {
                if !phases.iter().any(|p| p.tables().contains(t)) {
                    missing.push(format!(
                        "{} {} {:?}: {t}",
                        r.subsystem, r.migration, r.phase
                    ));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn teardown_entries_belong_to_two_phase_migrations() {
        let cat = Catalog::embedded();
        for r in REWRITES.iter().filter(|r| r.phase == Phase::Teardown) {
            let two_phase = cat.releases.iter().any(|rel| {
                rel.subsystem(r.subsystem).is_some_and(|s| {
                    s.migrations.iter().any(|m| {
                        m.name == r.migration && m.two_phase(crate::kong::catalog::Db::Postgres)
                    })
                })
            });
            assert!(two_phase, "{} {} has no teardown", r.subsystem, r.migration);
        }
    }
}
