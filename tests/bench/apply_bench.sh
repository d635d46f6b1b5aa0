#!/usr/bin/env bash
# Benchmark (not a test): rows/s of `sqltail apply` into PostgreSQL for the demo workload (200,000
# single-row INSERT transactions, 100-character texts). The events are captured into Kafka first; then
# apply alone is timed from its start until the target holds every row (the time includes the
# applier's start: connecting, topic metadata, partition assignment).
# Needs SQLTAIL_KAFKA_BOOTSTRAP and SQLTAIL_PG_DSN (scripts/kafka/broker.sh, scripts/postgres.sh).
# Usage: BIN=build/bin tests/bench/apply_bench.sh [rows]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO/build/bin}
ROWS=${1:-200000}
: "${SQLTAIL_KAFKA_BOOTSTRAP:?set SQLTAIL_KAFKA_BOOTSTRAP (scripts/kafka/broker.sh bootstrap)}"
: "${SQLTAIL_PG_DSN:?set SQLTAIL_PG_DSN (scripts/postgres.sh dsn)}"
CAPTURE_BIN=${CAPTURE_BIN:-$BIN/sqltail}
source "$REPO/scripts/lib/pipeline.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-apply-bench.XXXXXX")
PREFIX="bench$(date +%s)$RANDOM"
SCHEMA="sqltail_bench_$PREFIX"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  psql "$SQLTAIL_PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" > /dev/null 2>&1 || true
  rm -rf "$RUN"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

"$BIN/fixture-gen" --workload inserts --rows "$ROWS" --seed 1 --out "$RUN/fixture" > /dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_replay "$RUN/fixture" "$port" "$RUN/replay.log"
pids+=("$REPLAY_PID")
write_capture_config "$RUN/capture.conf" "$port" "$SQLTAIL_KAFKA_BOOTSTRAP" "$PREFIX"
"$CAPTURE_BIN" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1000 > "$RUN/capture.log" 2>&1
kill "$REPLAY_PID"
topic="$PREFIX.source_db.dbo.test_table"
cat > "$RUN/apply.conf" <<CONF
[apply]
topics = $topic
[target]
kind = postgresql
dsn = $SQLTAIL_PG_DSN
schema = $SCHEMA
[kafka]
bootstrap_servers = $SQLTAIL_KAFKA_BOOTSTRAP
CONF
count() { psql "$SQLTAIL_PG_DSN" -Atq -c "SELECT count(*) FROM \"$SCHEMA\".test_table" 2>/dev/null || echo 0; }

start=$(now_ms)
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1000 > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")
while (( $(count) < ROWS )); do
  kill -0 "$apply_pid" 2>/dev/null || { cat "$RUN/apply.log"; exit 1; }
  sleep 0.1
done
elapsed=$(( $(now_ms) - start ))
wait "$apply_pid"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$SQLTAIL_PG_DSN" --schema "$SCHEMA"
echo "apply into PostgreSQL: $ROWS rows in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s" \
  "($(( ROWS * 1000 / elapsed )) rows/s), $(grep -o '[0-9]* target transactions' "$RUN/apply.log")"
