#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests (Debian's postgresql package).
# Usage: scripts/postgres.sh start|stop|dsn    (PG_PORT=55432, PG_RUN_DIR=<repo>/.run/postgres)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PG_PORT:-55432}
run=${PG_RUN_DIR:-$repo/.run/postgres}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n "$bin" ]] || { echo "postgres.sh: no PostgreSQL server installed" >&2; exit 1; }
# PostgreSQL refuses to run as root: run it as the postgres user in a directory it owns.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case ${1:-} in
  start)
    if as_pg "$bin/pg_ctl" -D "$run/data" status > /dev/null 2>&1; then exit 0; fi
    rm -rf "$run"
    mkdir -p "$run"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$run"
    as_pg "$bin/initdb" -D "$run/data" -U postgres -A trust > "$run/initdb.log" 2>&1 ||
      { cat "$run/initdb.log"; exit 1; }
    as_pg "$bin/pg_ctl" -D "$run/data" -l "$run/server.log" -w -t 60 \
      -o "-p $port -k $run -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null ||
      { cat "$run/server.log"; exit 1; }
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$run/data" -m fast -w stop > /dev/null 2>&1 || true
    ;;
  dsn)
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop|dsn" >&2
    exit 64
    ;;
esac
