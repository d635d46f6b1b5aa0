#!/usr/bin/env bash
# Benchmark (not a test): rows/s of `sqltail apply` into PostgreSQL, from events already in Kafka, on
# the demo workload: ROWS single-row INSERT transactions of one table (100-character texts); done
# when the target holds ROWS rows. (A mixed-workload run needs a done test that compares tables of
# many types; `sqltail verify` compares int/text renderings only.)
# The events are captured into Kafka first; then the sink alone is timed from its start until done
# (the time includes the sink's start: connecting, topic metadata, partition assignment).
# With COMPARE_DEBEZIUM=1, Debezium's JDBC sink connector (a standalone Kafka Connect worker,
# scripts/connect/connect.sh; upsert, record_key, deletes on, batch 3000 like the replaced setup) then
# reads the same topics into a database of its own on the same PostgreSQL, timed the same way (worker
# start included), and the ratio is printed.
# Needs SQLTAIL_KAFKA_BOOTSTRAP and SQLTAIL_PG_DSN (scripts/kafka/broker.sh, scripts/postgres.sh).
# Usage: BIN=build/bin [COMPARE_DEBEZIUM=1] tests/bench/apply_bench.sh [rows]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO/build/bin}
ROWS=${1:-200000}
: "${SQLTAIL_KAFKA_BOOTSTRAP:?set SQLTAIL_KAFKA_BOOTSTRAP (scripts/kafka/broker.sh bootstrap)}"
: "${SQLTAIL_PG_DSN:?set SQLTAIL_PG_DSN (scripts/postgres.sh dsn)}"
CAPTURE_BIN=${CAPTURE_BIN:-$BIN/sqltail}
source "$REPO/scripts/lib/pipeline.sh"
source "$REPO/scripts/connect/lib.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-apply-bench.XXXXXX")
PREFIX="bench$(date +%s)$RANDOM"
SCHEMA="sqltail_bench_$PREFIX"
DEBEZIUM_SCHEMA="debezium_bench_$PREFIX"
pids=()
cleanup() {
  [[ "${COMPARE_DEBEZIUM:-}" != 1 ]] || connect_cleanup || true
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  psql "$SQLTAIL_PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" > /dev/null 2>&1 || true
  [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"
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
topics="$PREFIX.source_db.dbo.test_table" topics_regex="$PREFIX\\.source_db\\.dbo\\.test_table"
source_rows=$RUN/fixture/source.jsonl
cat > "$RUN/apply.conf" <<CONF
[apply]
topics = $topics
[target]
kind = postgresql
dsn = $SQLTAIL_PG_DSN
schema = $SCHEMA
[kafka]
bootstrap_servers = $SQLTAIL_KAFKA_BOOTSTRAP
CONF
# done DSN SCHEMA: the target holds every row (checked with sqltail verify afterwards).
done_in() { (( $(psql "$1" -Atq -c "SELECT count(*) FROM \"$2\".test_table" 2>/dev/null || echo 0) >= ROWS )); }
elapsed_s() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

start=$(now_ms)
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1000 > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")
until done_in "$SQLTAIL_PG_DSN" "$SCHEMA"; do
  kill -0 "$apply_pid" 2>/dev/null || done_in "$SQLTAIL_PG_DSN" "$SCHEMA" || { cat "$RUN/apply.log"; exit 1; }
  sleep 0.1
done
elapsed=$(( $(now_ms) - start ))
wait "$apply_pid"
"$BIN/sqltail" verify --source-rows "$source_rows" --postgres "$SQLTAIL_PG_DSN" --schema "$SCHEMA"
echo "sqltail apply into PostgreSQL: $ROWS row events in $(elapsed_s $elapsed) s" \
  "($(( ROWS * 1000 / elapsed )) rows/s), $(grep -o '[0-9]* target transactions' "$RUN/apply.log")"
[[ "${COMPARE_DEBEZIUM:-}" == 1 ]] || exit 0


"$REPO/scripts/connect/connect.sh" fetch > /dev/null
# The replaced setup's batch size (Confluent JDBC sink, batch 3000) for the sink and its consumer.
export CONNECT_BATCH_SIZE=${DEBEZIUM_BATCH_SIZE:-3000}
start=$(now_ms)
connect_start "$RUN/connect" "$SQLTAIL_KAFKA_BOOTSTRAP" "$topics_regex" "$SQLTAIL_PG_DSN" "$DEBEZIUM_SCHEMA" > /dev/null
connect_wait 3600 done_in "$CONNECT_PG_DSN" "$DEBEZIUM_SCHEMA" || { echo "Debezium JDBC sink failed: $CONNECT_ERROR"; exit 1; }
debezium_elapsed=$(( $(now_ms) - start ))
connect_stop
"$BIN/sqltail" verify --source-rows "$source_rows" --postgres "$CONNECT_PG_DSN" --schema "$DEBEZIUM_SCHEMA"
echo "Debezium JDBC sink into PostgreSQL: $ROWS row events in $(elapsed_s $debezium_elapsed) s" \
  "($(( ROWS * 1000 / debezium_elapsed )) rows/s); sqltail apply is" \
  "$(( debezium_elapsed / elapsed )).$(( debezium_elapsed * 10 / elapsed % 10 ))x faster"
