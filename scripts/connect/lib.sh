# Shared by tests/eos/connect_jdbc_sink_test.sh and tests/bench/apply_bench.sh: run the Debezium JDBC
# sink worker (scripts/connect/connect.sh) into a PostgreSQL schema named by a libpq key=value DSN.
# Source it; expects REPO.

# jdbc:postgresql URL, user and password from a key=value DSN (host, port, user, password, dbname).
pg_dsn_to_jdbc() {  # dsn; sets JDBC_URL JDBC_USER JDBC_PASSWORD
  local host=127.0.0.1 port=5432 user=postgres password="" db=postgres kv
  for kv in $1; do
    case $kv in
      host=*) host=${kv#host=} ;; port=*) port=${kv#port=} ;; user=*) user=${kv#user=} ;;
      password=*) password=${kv#password=} ;; dbname=*) db=${kv#dbname=} ;;
    esac
  done
  JDBC_URL="jdbc:postgresql://$host:$port/$db" JDBC_USER=$user JDBC_PASSWORD=$password
}

# The sink runs into a database of its own (named like the schema): Debezium's JDBC sink finds an
# existing table by name in every schema the connection can see, so a `test_table` in another schema
# of a shared database (another test's or the sqltail applier's target) would silently receive its
# writes. Sets CONNECT_PG_DSN (the libpq DSN of that database) for the caller's checks.
connect_start() {  # run_dir bootstrap topics_regex pg_dsn schema
  CONNECT_RUN_DIR=$1 CONNECT_DB=$5 CONNECT_ADMIN_DSN=$4 CONNECT_PG_DSN="$4 dbname=$5"
  psql "$4" -q -c "DROP DATABASE IF EXISTS \"$5\"" -c "CREATE DATABASE \"$5\"" > /dev/null
  psql "$CONNECT_PG_DSN" -q -c "CREATE SCHEMA \"$5\"" > /dev/null
  pg_dsn_to_jdbc "$CONNECT_PG_DSN"
  CONNECT_RUN_DIR=$1 CONNECT_BOOTSTRAP=$2 CONNECT_TOPICS_REGEX=$3 CONNECT_SCHEMA=$5 \
    CONNECT_JDBC_URL=$JDBC_URL CONNECT_JDBC_USER=$JDBC_USER CONNECT_JDBC_PASSWORD=$JDBC_PASSWORD \
    CONNECT_NAME="sink-$(basename "$1")-$RANDOM" "$REPO/scripts/connect/connect.sh" start
}

# Waits until `check` (a command) succeeds; fails when the worker dies, its task fails, or after timeout s.
connect_wait() {  # timeout_s check...
  local timeout=$1 deadline=$((SECONDS + $1)) pid
  shift
  pid=$(cat "$CONNECT_RUN_DIR/connect.pid")
  until "$@"; do
    kill -0 "$pid" 2> /dev/null || { CONNECT_ERROR="worker exited"; return 1; }
    if grep -q "Task threw an uncaught and unrecoverable exception\|ERROR.*WorkerSinkTask" "$CONNECT_RUN_DIR/connect.log"; then
      CONNECT_ERROR="task failed: $(grep -m3 -A3 "ERROR" "$CONNECT_RUN_DIR/connect.log")"
      return 1
    fi
    (( SECONDS < deadline )) || { CONNECT_ERROR="timeout after ${timeout} s"; return 1; }
    sleep 0.5
  done
}

connect_stop() {
  [[ -n "${CONNECT_RUN_DIR:-}" ]] || return 0
  CONNECT_RUN_DIR=$CONNECT_RUN_DIR "$REPO/scripts/connect/connect.sh" stop > /dev/null
}

connect_cleanup() {  # for EXIT traps: stops the worker and drops its database
  connect_stop || true
  [[ -z "${CONNECT_DB:-}" ]] || psql "$CONNECT_ADMIN_DSN" -q -c "DROP DATABASE IF EXISTS \"$CONNECT_DB\"" > /dev/null 2>&1 || true
}
