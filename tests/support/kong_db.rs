//! Builds Kong database states in a real PostgreSQL with the statements Kong's own connector uses
//! (kong-migrations.md section 2): the bootstrap DDL, one recording statement per migration.
#![allow(dead_code)]

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::version::Version;

use super::pg::TestDb;

pub const BOOTSTRAP_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS schema_meta (
  key            TEXT,
  subsystem      TEXT,
  last_executed  TEXT,
  executed       TEXT[],
  pending        TEXT[],
  PRIMARY KEY (key, subsystem)
);
CREATE TABLE IF NOT EXISTS locks (
  key    TEXT PRIMARY KEY,
  owner  TEXT,
  ttl    TIMESTAMP WITH TIME ZONE
);
"#;

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `up` of a one-phase migration.
pub fn sql_executed(sub: &str, name: &str) -> String {
    format!(
        "INSERT INTO schema_meta (key, subsystem, last_executed, executed) VALUES ('schema_meta', {s}, {n}, ARRAY[{n}]) \
         ON CONFLICT (key, subsystem) DO UPDATE SET last_executed = EXCLUDED.last_executed, \
         executed = array_append(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), {n});",
        s = q(sub),
        n = q(name)
    )
}

/// `up` of a two-phase migration: pending only.
pub fn sql_pending(sub: &str, name: &str) -> String {
    format!(
        "INSERT INTO schema_meta (key, subsystem, pending) VALUES ('schema_meta', {s}, ARRAY[{n}]) \
         ON CONFLICT (key, subsystem) DO UPDATE SET \
         pending = array_append(COALESCE(schema_meta.pending, ARRAY[]::TEXT[]), {n});",
        s = q(sub),
        n = q(name)
    )
}

/// `finish` (teardown) of a pending migration.
pub fn sql_teardown(sub: &str, name: &str) -> String {
    format!(
        "UPDATE schema_meta SET last_executed = {n}, \
         executed = array_append(COALESCE(executed, ARRAY[]::TEXT[]), {n}), \
         pending = array_remove(COALESCE(pending, ARRAY[]::TEXT[]), {n}) \
         WHERE key = 'schema_meta' AND subsystem = {s};",
        s = q(sub),
        n = q(name)
    )
}

pub fn release_version(v: &str) -> Version {
    v.parse().expect("version")
}

/// `kong migrations bootstrap` at version `v`: every migration up and torn down.
pub fn bootstrap_at(db: &TestDb, v: &str, plugins_filter: Option<&[&str]>) {
    let cat = Catalog::embedded();
    let rel = cat.release(release_version(v)).expect("release in catalog");
    let mut sql = String::from(BOOTSTRAP_DDL);
    for sub in &rel.subsystems {
        if let Some(f) = plugins_filter {
            if sub.name != "core" && !f.contains(&sub.name.as_str()) {
                continue;
            }
        }
        for m in &sub.migrations {
            sql.push_str(&sql_executed(&sub.name, &m.name));
        }
    }
    db.exec(&sql);
}

/// `kong migrations up` with version `v` over whatever is recorded; `stop_after` limits how many
/// migrations run (a crash mid-way leaves the earlier ones recorded).
pub fn up_to(db: &TestDb, v: &str, stop_after: Option<usize>) -> Vec<(String, String)> {
    let cat = Catalog::embedded();
    let rel = cat.release(release_version(v)).expect("release in catalog");
    let recorded = db.exec("SELECT subsystem || '/' || unnest(coalesce(executed, '{}') || coalesce(pending, '{}')) FROM schema_meta");
    let recorded: Vec<&str> = recorded.lines().collect();
    let mut sql = String::new();
    let mut ran = Vec::new();
    for sub in &rel.subsystems {
        // With `plugins = bundled` Kong runs every subsystem of the release, new plugins too.
        for m in &sub.migrations {
            let key = format!("{}/{}", sub.name, m.name);
            if recorded.contains(&key.as_str()) {
                continue;
            }
            if stop_after.is_some_and(|n| ran.len() >= n) {
                break;
            }
            if m.two_phase(Db::Postgres) {
                sql.push_str(&sql_pending(&sub.name, &m.name));
            } else {
                sql.push_str(&sql_executed(&sub.name, &m.name));
            }
            ran.push((sub.name.clone(), m.name.clone()));
        }
    }
    if !sql.is_empty() {
        db.exec(&sql);
    }
    ran
}

/// `kong migrations finish`: tears down every pending migration.
pub fn finish(db: &TestDb) {
    let rows = db.exec("SELECT subsystem || '/' || unnest(pending) FROM schema_meta");
    let mut sql = String::new();
    for line in rows.lines() {
        if let Some((s, n)) = line.split_once('/') {
            sql.push_str(&sql_teardown(s, n));
        }
    }
    if !sql.is_empty() {
        db.exec(&sql);
    }
}

/// A migrations lock row whose ttl is `secs_from_now` away (negative: expired), written in UTC
/// wall time as Kong does.
pub fn lock(db: &TestDb, owner: &str, secs_from_now: i64) {
    db.exec(&format!(
        "SET TIME ZONE 'UTC'; INSERT INTO locks (key, owner, ttl) VALUES ('migrations', {}, CURRENT_TIMESTAMP AT TIME ZONE 'UTC' + interval '{} seconds') \
         ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, ttl = EXCLUDED.ttl;",
        q(owner),
        secs_from_now
    ));
}

/// A 0.14-style database: `schema_migrations`, no schema_meta.
pub fn legacy_014(db: &TestDb) {
    db.exec(
        "CREATE TABLE schema_migrations (id text PRIMARY KEY, migrations varchar(100)[]);\
         INSERT INTO schema_migrations VALUES ('core', ARRAY['2015-01-12-175310_skeleton','2015-01-12-175310_init_schema','2018-08-06-000001_init_schema']);\
         INSERT INTO schema_migrations VALUES ('key-auth', ARRAY['2015-07-31-172400_init_keyauth']);\
         CREATE TABLE apis (id uuid PRIMARY KEY, name text);",
    );
}
