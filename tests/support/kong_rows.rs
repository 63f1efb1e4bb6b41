//! Kong-shaped tables with generated rows (services, routes, plugins, consumers, sessions): not
//! Kong's exact DDL, but its column names where kongrade reads them (`created_at`,
//! `updated_at`), foreign keys and array/JSON columns, so dumps, restores and counts have the
//! same kind of work to do.
#![allow(dead_code)]

use super::pg::TestDb;

pub const TABLES_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS services (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text UNIQUE, host text, port int,
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS routes (
  id uuid NOT NULL DEFAULT gen_random_uuid(), name text, service_id uuid REFERENCES services(id),
  paths text[], created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS plugins (
  id uuid NOT NULL DEFAULT gen_random_uuid(), name text, route_id uuid, config jsonb,
  enabled boolean DEFAULT true, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS consumers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), username text, created_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), session_id text, expires int,
  created_at timestamptz DEFAULT now());
"#;

/// Kong's keys and indexes on the two big tables (its primary keys, `routes_service_id_idx`,
/// `plugins_route_id_idx`, `plugins_name_idx`): built once over the generated rows, which is
/// several times faster than keeping them up to date row by row.
pub const BIG_TABLE_INDEXES: &str = r#"
ALTER TABLE routes ADD PRIMARY KEY (id);
CREATE INDEX IF NOT EXISTS routes_service_id_idx ON routes(service_id);
ALTER TABLE plugins ADD PRIMARY KEY (id);
CREATE INDEX IF NOT EXISTS plugins_route_id_idx ON plugins(route_id);
CREATE INDEX IF NOT EXISTS plugins_name_idx ON plugins(name);
"#;

/// The SQL that fills the tables (once per database): `services` services, `routes` routes
/// spread over them, one plugin per route, a few consumers. One `INSERT ... SELECT
/// generate_series` per table, the big tables' indexes after their rows.
pub fn fill_sql(services: u64, routes: u64) -> String {
    format!(
        "{TABLES_DDL}
INSERT INTO services (name, host, port) SELECT 'svc-' || g, 'upstream-' || g || '.internal', 8000 + g % 1000
  FROM generate_series(1, {services}) g;
INSERT INTO routes (name, service_id, paths)
  SELECT 'route-' || g, s.id, ARRAY['/api/' || g, '/v2/' || g]
  FROM generate_series(1, {routes}) g
  JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM services) s ON s.n = g % {services};
INSERT INTO plugins (name, route_id, config)
  SELECT 'rate-limiting', id, jsonb_build_object('minute', 100, 'policy', 'local') FROM routes;
INSERT INTO consumers (username) SELECT 'user-' || g FROM generate_series(1, 10) g;
{BIG_TABLE_INDEXES}
ANALYZE;"
    )
}

/// Fills `db` (as Kong's role).
pub fn fill(db: &TestDb, services: u64, routes: u64) {
    db.exec(&fill_sql(services, routes));
}

/// Every table's content as one digest per table (`table md5`, sorted): equal digests, equal
/// tables.
pub fn fingerprint(db: &TestDb) -> String {
    let tables =
        db.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
    let mut out = String::new();
    for t in tables.lines().filter(|l| !l.is_empty()) {
        let d = db.exec(&format!(
            "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '-') FROM \"{t}\" x"
        ));
        out.push_str(&format!("{t} {}", d));
    }
    out
}
