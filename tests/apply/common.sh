# Helpers for the apply tests. Expects BIN and REPO; sets RUN (a fresh scratch directory), BOOTSTRAP,
# PREFIX (topics of this run only) and, with NEEDS_PG=1, PG_DSN and PG_SCHEMA (a schema of this run).
set -euo pipefail
if [[ -z "${SQLTAIL_KAFKA_BOOTSTRAP:-}" ]]; then
  echo "SQLTAIL_KAFKA_BOOTSTRAP is not set: no broker, test skipped"
  exit 77
fi
if [[ "${NEEDS_PG:-0}" == 1 && -z "${SQLTAIL_PG_DSN:-}" ]]; then
  echo "SQLTAIL_PG_DSN is not set: no PostgreSQL, test skipped"
  exit 77
fi
source "$REPO/scripts/lib/pipeline.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-apply-$(basename "$0" .sh).XXXXXX")
BOOTSTRAP=$SQLTAIL_KAFKA_BOOTSTRAP
PREFIX="a$(date +%s%N | tail -c 9)$RANDOM"
PG_DSN=${SQLTAIL_PG_DSN:-}
PG_SCHEMA="sqltail_test_$PREFIX"
# The capture that produces the events; CAPTURE_BIN lets a run use another build's capture.
CAPTURE_BIN=${CAPTURE_BIN:-$BIN/sqltail}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "$PG_DSN" && "${KEEP_RUN:-}" != 1 ]]; then
    psql "$PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$PG_SCHEMA\" CASCADE" > /dev/null 2>&1 || true
  fi
  [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

fail() {
  echo "FAIL: $*"
  for f in "$RUN"/*.log; do [[ -f "$f" ]] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}

# Generates a fixture and captures all of it into Kafka (topics $PREFIX.*); sets TOPIC.
capture_fixture() {  # rows seed rows_per_transaction
  "$BIN/fixture-gen" --workload inserts --rows "$1" --seed "$2" --rows-per-transaction "$3" --out "$RUN/fixture" \
    > /dev/null
  local port
  port=$(free_port)
  start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
  TOPIC="$PREFIX.source_db.dbo.test_table"
  write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
  "$CAPTURE_BIN" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 > "$RUN/capture.log" 2>&1 ||
    fail "capture failed"
  grep -q "$1 events" "$RUN/capture.log" || fail "capture did not report $1 events"
  kill "$REPLAY_PID" 2>/dev/null || true
}

write_pg_apply_config() {  # file topics
  cat > "$1" <<CONF
[apply]
topics = $2

[target]
kind = postgresql
dsn = $PG_DSN
schema = $PG_SCHEMA

[kafka]
bootstrap_servers = $BOOTSTRAP
CONF
}

# Rows in the target table (0 while it does not exist yet).
pg_count() {  # table
  psql "$PG_DSN" -Atq -c "SELECT count(*) FROM \"$PG_SCHEMA\".\"$1\"" 2>/dev/null || echo 0
}

# Creates topics (1 partition) for tests that produce their own events (the test broker does not
# create topics on first use): the broker's Java admin client, run as a single-file program.
create_topics() {  # topic...
  local libs
  libs=$(ls -d "$REPO"/.deps/kafka-*/libs 2> /dev/null | head -1)
  [[ -n "$libs" ]] || { echo "no Kafka jars under $REPO/.deps: test skipped"; exit 77; }
  java -cp "$libs/*" "$REPO/tests/apply/CreateTopics.java" "$BOOTSTRAP" "$@" > "$RUN/create-topics.log" 2>&1 ||
    fail "creating topics $*: $(tail -3 "$RUN/create-topics.log")"
}
