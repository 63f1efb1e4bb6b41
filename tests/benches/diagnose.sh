#!/bin/sh
# The diagnose benchmark of issue 15 (not run in CI), on two Kong databases of a million routes
# (1 % of them with a regex path, one with a look-ahead 3.x refuses) and a thousand plugins:
#   A. a Kong 2.8.5 database, `diagnose --target-version 3.4.2`: the jump crosses into 3.x, so
#      every route is read and judged (core 016_280_to_300's estimate, and the preflight's
#      regex-path findings, which stop `auto`: exhaustive, since a sample misses the one route
#      that breaks);
#   B. a Kong 3.4.2 database, `diagnose --target-version 3.9.1`: no rewrite of the routes lies
#      ahead, so they are not read (only their planner estimate).
# For each, RUNS times after a warm-up (the median is printed):
#   1. psql reading schema_meta (what an operator would type first);
#   2. psql counting the routes (the floor of anything that reads every route);
#   3. `kongrade diagnose` (the state, the findings, the row counts, and the preflight:
#      kong.conf, routes when crossing into 3.x, plugins, the server).
# The goal: B within 2x of psql reading schema_meta; A, which must read every route, within 2x
# of psql's count(*) over them plus psql reading schema_meta (every route's paths judged
# against a bare count: the price of the exhaustive check, said apart).
# Then one more diagnose of A with the server logging every statement and connection, to count
# what diagnose sends: the preflight is one statement on diagnose's own session, and the routes
# are read once. The load average is printed before and after (the machine may be shared).
#
#   tests/benches/diagnose.sh [ROUTES] [RUNS]   (defaults 1000000 and 7;
#                                                KONGRADE_BIN=path/to/kongrade, release build
#                                                advised: the debug build parses the embedded
#                                                catalog several times slower)
#
# It starts its own throwaway PostgreSQL (initdb; as the postgres user when run as root) on a
# free port and removes it at the end.
set -eu
ROUTES=${1:-1000000}
RUNS=${2:-7}
BIN=${KONGRADE_BIN:-${CARGO_TARGET_DIR:-target}/release/kongrade}
[ -x "$BIN" ] || { echo "no kongrade binary at $BIN: cargo build --release, or set KONGRADE_BIN" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
# dash passes no arguments to `.`: bench-pg.sh reads its name from $1.
set -- diagnose; . "$(dirname "$0")/bench-pg.sh" diagnose
psql -X -q -U postgres -d postgres -c "CREATE ROLE kong LOGIN PASSWORD 'kong-bench'" \
  -c "CREATE DATABASE kong_bench OWNER kong" -c "CREATE DATABASE kong_bench_34 OWNER kong"
export PGUSER=kong PGPASSWORD=kong-bench PGDATABASE=kong_bench
export KONG_DATABASE=postgres KONG_PG_HOST=127.0.0.1 KONG_PG_PORT=$PORT KONG_PG_USER=kong \
  KONG_PG_PASSWORD=kong-bench KONG_PG_DATABASE=kong_bench KONGRADE_DATA_DIR=$DIR/kongrade

# fill DATABASE PREFIX: the routes (PREFIX before each regex path: '' for 2.x, '~' for 3.x) and
# the plugins.
fill() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<SQL
CREATE TABLE routes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, paths text[],
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE plugins (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, config jsonb);
INSERT INTO routes (name, paths)
  SELECT 'route-' || g, CASE WHEN g % 100 = 0 THEN ARRAY['$2/users/\\d+/' || g] ELSE ARRAY['/api/' || g, '/v2/' || g] END
  FROM generate_series(1, $ROUTES) g;
INSERT INTO routes (name, paths) VALUES ('lookahead', ARRAY['$2/(?!admin).*']);
INSERT INTO plugins (name, config) SELECT CASE WHEN g % 2 = 0 THEN 'key-auth' ELSE 'rate-limiting' END, '{}' FROM generate_series(1, 1000) g;
VACUUM ANALYZE routes; VACUUM ANALYZE plugins;
SQL
}
"$BIN" stand-in --kong-version 2.8.5 migrations bootstrap >/dev/null
KONG_PG_DATABASE=kong_bench_34 "$BIN" stand-in --kong-version 3.4.2 migrations bootstrap >/dev/null
echo "Filling each database: $ROUTES routes (1 % regex), 1000 plugins..."
fill kong_bench ""
fill kong_bench_34 "~"
psql -X -At -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('kong_bench'))"

each() { python3 -c "import sys; print(' '.join('%.0f' % (float(x) * 1000) for x in sys.argv[1:]))" "$@"; }
median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print('%.1f' % (statistics.median(v)*1000))" "$@"; }
timed() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print('%.6f' % (time.monotonic() - t))
# diagnose exits 1 or 2 with findings; only a crash (signal) or 3+ is a failure here.
sys.exit(0 if r.returncode in (0, 1, 2) else 1)
PY
}

# measure LABEL DATABASE TARGET: the three medians and the ratios.
measure() {
  export PGDATABASE=$2 KONG_PG_DATABASE=$2
  # Warm both (cache, catalog page-in).
  psql -X -At -c "SELECT key, subsystem, last_executed, executed, pending FROM schema_meta" >/dev/null
  "$BIN" diagnose --target-version "$3" >/dev/null 2>&1 || true
  echo "$1: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  P=""; C=""; D=""
  i=0
  while [ $i -lt "$RUNS" ]; do
    P="$P $(timed psql -X -At -c "SELECT key, subsystem, last_executed, executed, pending FROM schema_meta")"
    C="$C $(timed psql -X -At -c "SELECT count(*) FROM routes")"
    D="$D $(timed "$BIN" diagnose --target-version "$3")"
    i=$((i + 1))
  done
  echo "$1: load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2086
  PM=$(median $P); CM=$(median $C); DM=$(median $D)
  echo "$1: psql schema_meta:   median $PM ms over $RUNS runs (each: $(each $P))"
  echo "$1: psql count routes:  median $CM ms over $RUNS runs (each: $(each $C))"
  echo "$1: kongrade diagnose:  median $DM ms over $RUNS runs (each: $(each $D))"
  python3 -c "print('$1: ratio diagnose/psql: %.2fx; diagnose/(count(*) of routes + psql): %.2fx' % ($DM / $PM, $DM / ($CM + $PM)))"
}

measure "A 2.8.5 -> 3.4.2 (reads every route)" kong_bench 3.4.2
measure "B 3.4.2 -> 3.9.1 (no route read)" kong_bench_34 3.9.1
export PGDATABASE=kong_bench KONG_PG_DATABASE=kong_bench

# What diagnose sends: every statement and connection, logged for one run.
psql -X -q -U postgres -d postgres -c "ALTER SYSTEM SET log_statement = 'all'" \
  -c "ALTER SYSTEM SET log_connections = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
: > "$DIR/server.log.mark"
start=$(wc -l < "$DIR/server.log")
"$BIN" diagnose --target-version 3.4.2 > "$DIR/diagnose.out" 2>&1 || true
sleep 1
tail -n +"$((start + 1))" "$DIR/server.log" > "$DIR/one-run.log"
stmts=$(grep -c 'LOG:  statement:' "$DIR/one-run.log" || true)
conns=$(grep -c 'connection authorized' "$DIR/one-run.log" || true)
pre=$(grep 'LOG:  statement:' "$DIR/one-run.log" | grep -c "'server_version_num'" || true)
reads=$(grep 'LOG:  statement:' "$DIR/one-run.log" | grep -c 'FROM "routes"' || true)
echo "one diagnose sent $stmts statements over $conns connection(s); the preflight's: $pre statement (plugins/server query); routes read $reads time(s)"
grep -E "^\s+\[(routes-regex|large-tables)" "$DIR/diagnose.out" || true
grep -E "routes_with_regex_paths|routes with regex paths" "$DIR/diagnose.out" | head -3 || true
