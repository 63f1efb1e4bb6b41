#!/bin/sh
# The clone benchmark of issue 14 (not run in CI): a Kong-shaped database with a million rows
# in routes and a million in plugins, then
#   1. by hand: pg_dump -Fc to a file, then pg_restore of that file into a new database;
#   2. kongrade: `kongrade rehearse` on a source already at the target (so kong has nothing to
#      run), which is the clone (created, pg_dump | pg_restore streamed, no file) + its proof
#      (schema_meta, and every table counted and digested on both sides) + the scratch database
#      dropped. The stream is uncompressed (a pipe, no file); the hand-run dump is compressed (-Fc
#      default), as a dump to a file is.
# Both times are printed, and kongrade's own "Copied in" time (stream only, before the proof).
#
#   tests/benches/clone.sh [ROWS] [RUNS]   (default 1000000 rows, 1 run; KONGRADE_BIN=path/to/kongrade)
#
# With RUNS > 1 the two are timed alternately on the one filled database, and the medians are
# printed at the end with the load average (the numbers are only as good as the machine is idle).
#
# It starts its own throwaway PostgreSQL (initdb; as the postgres user when run as root) on a
# free port and removes it at the end. The table DDL mirrors tests/support/kong_rows.rs.
set -eu
ROWS=${1:-1000000}
RUNS=${2:-1}
BIN=${KONGRADE_BIN:-${CARGO_TARGET_DIR:-target}/debug/kongrade}
[ -x "$BIN" ] || { echo "no kongrade binary at $BIN: cargo build, or set KONGRADE_BIN" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
set -- clone; . "$(dirname "$0")/bench-pg.sh" clone
psql -X -q -U postgres -d postgres -c "CREATE ROLE kong LOGIN CREATEDB PASSWORD 'kong-bench'" \
  -c "CREATE DATABASE kong_bench OWNER kong"
export PGUSER=kong PGPASSWORD=kong-bench
export KONG_DATABASE=postgres KONG_PG_HOST=127.0.0.1 KONG_PG_PORT=$PORT KONG_PG_USER=kong \
  KONG_PG_PASSWORD=kong-bench KONG_PG_DATABASE=kong_bench KONGRADE_DATA_DIR=$DIR/kongrade
KONG="'$BIN' stand-in --kong-version 3.4.2"
sh -c "$KONG migrations bootstrap" >/dev/null

echo "Filling: 1000 services, $ROWS routes, $ROWS plugins..."
psql -X -q -d kong_bench -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE services (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text UNIQUE, host text, port int,
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE routes (id uuid NOT NULL DEFAULT gen_random_uuid(), name text, service_id uuid REFERENCES services(id),
  paths text[], created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE plugins (id uuid NOT NULL DEFAULT gen_random_uuid(), name text, route_id uuid, config jsonb,
  enabled boolean DEFAULT true, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
INSERT INTO services (name, host, port) SELECT 'svc-' || g, 'upstream-' || g || '.internal', 8000 + g % 1000
  FROM generate_series(1, 1000) g;
INSERT INTO routes (name, service_id, paths)
  SELECT 'route-' || g, s.id, ARRAY['/api/' || g, '/v2/' || g] FROM generate_series(1, $ROWS) g
  JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM services) s ON s.n = g % 1000;
INSERT INTO plugins (name, route_id, config)
  SELECT 'rate-limiting', id, jsonb_build_object('minute', 100, 'policy', 'local') FROM routes;
ALTER TABLE routes ADD PRIMARY KEY (id);
CREATE INDEX routes_service_id_idx ON routes(service_id);
ALTER TABLE plugins ADD PRIMARY KEY (id);
CREATE INDEX plugins_route_id_idx ON plugins(route_id);
CREATE INDEX plugins_name_idx ON plugins(name);
VACUUM ANALYZE services; VACUUM ANALYZE routes; VACUUM ANALYZE plugins;
SQL
psql -X -At -d kong_bench -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('kong_bench'))"

now() { python3 -c 'import time; print(time.monotonic())'; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }

# Warm the cache the same way for both: one read of everything.
pg_dump -Fc -d kong_bench > /dev/null

run=1
: > "$DIR/times"
while [ "$run" -le "$RUNS" ]; do
  echo "run $run/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  t0=$(now)
  pg_dump -Fc --no-password -d kong_bench -f "$DIR/hand.dump"
  t1=$(now)
  psql -X -q -d postgres -c "CREATE DATABASE kong_hand"
  pg_restore --no-password --no-owner --no-privileges -d kong_hand "$DIR/hand.dump"
  t2=$(now)
  echo "  by hand:  pg_dump -Fc $(secs "$t0" "$t1") s + pg_restore $(secs "$t1" "$t2") s = $(secs "$t0" "$t2") s ($(du -h "$DIR/hand.dump" | cut -f1) dump file)"
  psql -X -q -d postgres -c "DROP DATABASE kong_hand"
  rm -f "$DIR/hand.dump"

  t3=$(now)
  sh -c "'$BIN' rehearse --kong-cmd \"$KONG\" --clone-database kong_clone" > "$DIR/rehearse.out" 2>&1 || { cat "$DIR/rehearse.out"; exit 1; }
  t4=$(now)
  copied=$(sed -n 's/^Copied in \([0-9]*\) ms.*/\1/p' "$DIR/rehearse.out")
  echo "  kongrade: rehearse (clone + proof + drop) $(secs "$t3" "$t4") s; the stream pg_dump | pg_restore took $(python3 -c "print('%.2f' % ($copied / 1000))") s (no dump file)"
  grep -E "^Clone proven|^rehearsed on|drop" "$DIR/rehearse.out" | sed 's/^/  /'
  left=$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'kong_clone'")
  [ "$left" = 0 ] || { echo "the scratch database kong_clone was not dropped:"; cat "$DIR/rehearse.out"; exit 1; }
  echo "$(secs "$t0" "$t2") $(secs "$t3" "$t4") $(python3 -c "print('%.2f' % ($copied / 1000))")" >> "$DIR/times"
  run=$((run + 1))
done
python3 - "$DIR/times" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
hand, full, stream = (statistics.median(c) for c in zip(*rows))
print(f"median of {len(rows)}: by hand {hand:.1f} s; kongrade stream {stream:.1f} s ({stream / hand:.2f}x), "
      f"with proof and drop {full:.1f} s ({full / hand:.2f}x)")
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
