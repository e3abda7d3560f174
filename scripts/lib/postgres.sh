# A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temporary directory, on a free
# loopback port, as an unprivileged user (PostgreSQL refuses to run as root: as root we run it as
# the `postgres` system user the Debian package creates). Sourced by scripts/test and
# scripts/with-postgres; `start_test_postgres` exports ASSENT_TEST_POSTGRES_URL (a superuser URL
# the test kit creates one database per test service from) and `stop_test_postgres` removes it all.
#
# Test-only settings: fsync and full-page writes off (the tests check Assent's logic and its
# behaviour under concurrency and restarts, not PostgreSQL's own durability), more connections
# than the default (every in-process test service holds a small pool). With ASSENT_PG_DURABLE=1
# (scripts/with-postgres --durable, for benchmarks) the cluster keeps PostgreSQL's durable defaults.

postgres_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    echo "PostgreSQL is not installed (apt package postgresql)" >&2
    return 1
  fi
  echo "$dir"
}

# Runs a command as the cluster's owner.
as_postgres_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_test_postgres() {
  local bin port
  bin=$(postgres_bin)
  ASSENT_PG_DIR=$(mktemp -d /tmp/assent-pg.XXXXXX)
  export ASSENT_PG_DIR
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$ASSENT_PG_DIR"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres_owner "$bin/initdb" -D "$ASSENT_PG_DIR/data" -U assent -A trust -E UTF8 --no-sync >/dev/null
  local options="-p $port -k $ASSENT_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400"
  if [ "${ASSENT_PG_DURABLE:-0}" != 1 ]; then
    options+=" -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
  fi
  as_postgres_owner "$bin/pg_ctl" -D "$ASSENT_PG_DIR/data" -l "$ASSENT_PG_DIR/server.log" -w \
    -o "$options" start >/dev/null
  export ASSENT_TEST_POSTGRES_URL="postgres://assent@127.0.0.1:$port/postgres"
  export ASSENT_TEST_POSTGRES_BIN="$bin"
  log "PostgreSQL test cluster on port $port ($ASSENT_PG_DIR)"
}

stop_test_postgres() {
  if [ -n "${ASSENT_PG_DIR:-}" ] && [ -d "$ASSENT_PG_DIR" ]; then
    as_postgres_owner "$(postgres_bin)/pg_ctl" -D "$ASSENT_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$ASSENT_PG_DIR"
  fi
}
