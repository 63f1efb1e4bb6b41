# Sourced by the bench scripts: a throwaway PostgreSQL server for one run. initdb (as the
# postgres user when run as root) on a free loopback port, fsync off, stopped and removed on
# exit. Sets PGBIN, DIR, PORT, PGHOST, PGPORT and as_pg (runs a command as the server's owner).
# Usage: . "$(dirname "$0")/bench-pg.sh" NAME
bench_pg_name=${1:?bench-pg.sh needs a name}
PGBIN=${KONGRADE_PG_BINDIR:-$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DIR=$(mktemp -d "/tmp/kongrade-$bench_pg_name-bench.XXXXXX")
chmod 0755 "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$DIR/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-p $PORT -h 127.0.0.1 -k $DIR -c fsync=off -c synchronous_commit=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT
