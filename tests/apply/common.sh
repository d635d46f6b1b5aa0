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

# Generates a fixture (fixture-gen ARGS) and captures all of it into Kafka (topics $PREFIX.*), with
# the capture options in CAPTURE_SET (--set KEY=VALUE ...) when set.
CAPTURE_SET=()
capture_generated() {  # fixture-gen args...
  "$BIN/fixture-gen" "$@" --out "$RUN/fixture" > /dev/null 2>&1 || fail "fixture-gen $* failed"
  local port
  port=$(free_port)
  start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
  write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
  "$CAPTURE_BIN" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 "${CAPTURE_SET[@]}" \
    > "$RUN/capture.log" 2>&1 ||
    fail "capture failed"
  kill "$REPLAY_PID" 2>/dev/null || true
}

# The inserts workload, all captured; sets TOPIC.
capture_fixture() {  # rows seed rows_per_transaction
  capture_generated --workload inserts --rows "$1" --seed "$2" --rows-per-transaction "$3"
  TOPIC="$PREFIX.source_db.dbo.test_table"
  grep -q "$1 events" "$RUN/capture.log" || fail "capture did not report $1 events"
}

# Starts `sqltail apply ARGS...` (output appended to $RUN/apply-killed.log), waits until the command
# `measure` prints at least `goal` (at most `wait_s` seconds), waits a random 0-40 ms more so the kill
# falls anywhere in the commit cycle, and kills it with SIGKILL. The applier must not exit by itself.
apply_and_kill() {  # kill_no measure goal wait_s args...
  local kill_no=$1 measure=$2 goal=$3 wait_until=$((SECONDS + $4)) pid
  shift 4
  "$BIN/sqltail" apply "$@" >> "$RUN/apply-killed.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  while (( SECONDS < wait_until )) && (( $($measure) < goal )); do
    kill -0 "$pid" 2>/dev/null || fail "apply exited before kill $kill_no"
    sleep 0.01
  done
  sleep "0.0$((RANDOM % 5))"
  kill -0 "$pid" 2>/dev/null || fail "apply exited before kill $kill_no"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
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

# Debezium envelopes of test_table (id int32, text string) as `kcat -K $'\t'` reads them, one line
# each (key<TAB>value) into FILE. SPEC is OP:ID:TEXT: c or u carry the row as after, d as before;
# t is a truncate (null key; ID and TEXT unused).
test_table_events() {  # file spec...
  python3 - "$@" <<'PY'
import json, sys
fields = [{"type": "int32", "optional": False, "field": "id"}, {"type": "string", "optional": True, "field": "text"}]
after = {"type": "struct", "optional": True, "field": "after", "fields": fields}
schema = {"type": "struct", "optional": False, "fields": [dict(after, field="before"), after]}
source = {"connector": "sqlserver", "db": "source_db", "schema": "dbo", "table": "test_table"}
lines = []
for spec in sys.argv[2:]:
    op, id_, text = spec.split(":", 2)
    if op == "t":
        payload = {"before": None, "after": None, "op": "t", "source": source}
        lines.append("null\t" + json.dumps({"schema": schema, "payload": payload}))
        continue
    row = {"id": int(id_), "text": text}
    key = json.dumps({"schema": {"type": "struct", "fields": fields[:1]}, "payload": {"id": int(id_)}})
    payload = {"before": row if op == "d" else None, "after": None if op == "d" else row, "op": op, "source": source}
    lines.append(key + "\t" + json.dumps({"schema": schema, "payload": payload}))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
}
