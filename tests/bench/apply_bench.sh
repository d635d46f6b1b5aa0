#!/usr/bin/env bash
# Benchmark (not a test): rows/s of `sqltail apply` into PostgreSQL, from events already in Kafka.
# WORKLOAD=inserts (default): the demo workload, N (default 200,000) single-row INSERT transactions
#   of one table (100-character texts); done when the target holds N rows.
# WORKLOAD=mixed: the mixed workload of N (default 16,000) overlapping transactions (inserts,
#   updates, deletes, key changes; 15 column types), tables orders and accounts (audit_log has no key,
#   which Debezium's sink in record_key mode cannot take, so neither sink gets it). Its final content
#   comes first from an untimed sqltail apply into a reference schema, checked against the source
#   with `sqltail verify`; a timed sink is done when its tables, normalised per type by SQL (each sink
#   stores dates and times differently), equal the reference's.
# The events are captured into Kafka first; then the sink alone is timed from its start until done
# (the time includes the sink's start: connecting, topic metadata, partition assignment).
# With COMPARE_DEBEZIUM=1, Debezium's JDBC sink connector (a standalone Kafka Connect worker,
# scripts/connect/connect.sh; upsert, record_key, deletes on, batch 3000 like the replaced setup) then
# reads the same topics into a database of its own on the same PostgreSQL, timed the same way (worker
# start included), and the ratio is printed.
# Needs SQLTAIL_KAFKA_BOOTSTRAP and SQLTAIL_PG_DSN (scripts/kafka/broker.sh, scripts/postgres.sh).
# Usage: BIN=build/bin [WORKLOAD=mixed] [COMPARE_DEBEZIUM=1] tests/bench/apply_bench.sh [N]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO/build/bin}
WORKLOAD=${WORKLOAD:-inserts}
case $WORKLOAD in
  inserts) SIZE=${1:-200000} ;;
  mixed) SIZE=${1:-16000} ;;
  *) echo "apply_bench: WORKLOAD is inserts or mixed, not $WORKLOAD" >&2; exit 2 ;;
esac
: "${SQLTAIL_KAFKA_BOOTSTRAP:?set SQLTAIL_KAFKA_BOOTSTRAP (scripts/kafka/broker.sh bootstrap)}"
: "${SQLTAIL_PG_DSN:?set SQLTAIL_PG_DSN (scripts/postgres.sh dsn)}"
CAPTURE_BIN=${CAPTURE_BIN:-$BIN/sqltail}
source "$REPO/scripts/lib/pipeline.sh"
source "$REPO/scripts/connect/lib.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-apply-bench.XXXXXX")
PREFIX="bench$(date +%s)$RANDOM"
SCHEMA="sqltail_bench_$PREFIX"
REFERENCE_SCHEMA="sqltail_reference_$PREFIX"
DEBEZIUM_SCHEMA="debezium_bench_$PREFIX"
pids=()
cleanup() {
  [[ "${COMPARE_DEBEZIUM:-}" != 1 ]] || connect_cleanup || true
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for schema in "$SCHEMA" "$REFERENCE_SCHEMA"; do
    psql "$SQLTAIL_PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" > /dev/null 2>&1 || true
  done
  [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

if [[ $WORKLOAD == inserts ]]; then
  "$BIN/fixture-gen" --workload inserts --rows "$SIZE" --seed 1 --out "$RUN/fixture" > /dev/null 2>&1
  tables=(test_table)
else
  "$BIN/fixture-gen" --workload mixed --transactions "$SIZE" --seed 1 --out "$RUN/fixture" > /dev/null 2>&1
  tables=(orders accounts)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_replay "$RUN/fixture" "$port" "$RUN/replay.log"
pids+=("$REPLAY_PID")
write_capture_config "$RUN/capture.conf" "$port" "$SQLTAIL_KAFKA_BOOTSTRAP" "$PREFIX"
"$CAPTURE_BIN" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1000 > "$RUN/capture.log" 2>&1
kill "$REPLAY_PID"
topics=$(printf "$PREFIX.source_db.dbo.%s," "${tables[@]}") topics=${topics%,}
topics_regex="$PREFIX\\.source_db\\.dbo\\.($(IFS='|'; echo "${tables[*]}"))"
source_rows=$RUN/fixture/source.jsonl
# Row events (c/u/d) of the tables the sinks read: what rows/s counts.
ROWS=0
for t in "${tables[@]}"; do ROWS=$(( ROWS + $(grep -c "\"table\":\"$t\"" "$RUN/fixture/expected.jsonl") )); done
elapsed_s() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
verify() {  # dsn schema: the target equals the source (exit status of sqltail verify)
  "$BIN/sqltail" verify --source-rows "$source_rows" --postgres "$1" --schema "$2"
}
# The mixed tables as text, one canonical form per type whichever sink wrote them: sqltail stores
# date as days, datetime2(3)/datetime as epoch ms and datetime2(7) as epoch ns (Debezium's
# Date/Timestamp/NanoTimestamp); Debezium's sink writes date and timestamp(6) columns (PostgreSQL
# rounds the nanoseconds to microseconds, so sqltail's are rounded the same way here).
dump_mixed() {  # dsn schema sqltail|debezium
  local placed=placed stamp=stamp created=created opened=opened
  if [[ $3 == sqltail ]]; then
    placed="date '1970-01-01' + placed"
    stamp="timestamp 'epoch' + stamp * interval '1 millisecond'"
    created="timestamp 'epoch' + created * interval '1 millisecond'"
    opened="timestamp 'epoch' + floor(opened / 1000.0 + 0.5) * interval '1 microsecond'"
  fi
  local us="'YYYY-MM-DD HH24:MI:SS.US'"
  psql "$1" -Atq -c "COPY (SELECT order_id, line_no, qty, price, amount, shipped, gift, code, $placed,
    to_char($stamp, $us), to_char($created, $us), ref, note, title, tag FROM \"$2\".orders ORDER BY 1, 2) TO STDOUT" &&
  psql "$1" -Atq -c "COPY (SELECT id, balance, active, kind, to_char($opened, $us), name, email, ccy
    FROM \"$2\".accounts ORDER BY 1) TO STDOUT"
}
# done DSN SCHEMA sqltail|debezium: the target holds every row (inserts) or the reference content (mixed).
done_in() {
  if [[ $WORKLOAD == inserts ]]; then
    (( $(psql "$1" -Atq -c "SELECT count(*) FROM \"$2\".test_table" 2>/dev/null || echo 0) >= ROWS ))
  else
    [[ "$(dump_mixed "$1" "$2" "$3" 2> /dev/null | md5sum)" == "$reference_sum" ]]
  fi
}
write_apply_config() {  # file schema [topics]
  cat > "$1" <<CONF
[apply]
topics = ${3:-$topics}
[target]
kind = postgresql
dsn = $SQLTAIL_PG_DSN
schema = $2
[kafka]
bootstrap_servers = $SQLTAIL_KAFKA_BOOTSTRAP
CONF
}

if [[ $WORKLOAD == mixed ]]; then
  # The reference takes every table (audit_log too), so verify compares the whole source with it.
  write_apply_config "$RUN/reference.conf" "$REFERENCE_SCHEMA" "$topics,$PREFIX.source_db.dbo.audit_log"
  "$BIN/sqltail" apply --config "$RUN/reference.conf" --set apply.stop_when_idle_ms=1000 > "$RUN/reference.log" 2>&1 ||
    { cat "$RUN/reference.log"; exit 1; }
  verify "$SQLTAIL_PG_DSN" "$REFERENCE_SCHEMA" > "$RUN/reference-verify.log" ||
    { echo "the reference apply does not equal the source:"; cat "$RUN/reference-verify.log"; exit 1; }
  reference_sum=$(dump_mixed "$SQLTAIL_PG_DSN" "$REFERENCE_SCHEMA" sqltail | md5sum)
fi

write_apply_config "$RUN/apply.conf" "$SCHEMA"
start=$(now_ms)
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1000 > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")
until done_in "$SQLTAIL_PG_DSN" "$SCHEMA" sqltail; do
  kill -0 "$apply_pid" 2>/dev/null || done_in "$SQLTAIL_PG_DSN" "$SCHEMA" sqltail || { cat "$RUN/apply.log"; exit 1; }
  sleep 0.1
done
elapsed=$(( $(now_ms) - start ))
wait "$apply_pid"
[[ $WORKLOAD == mixed ]] || verify "$SQLTAIL_PG_DSN" "$SCHEMA"
echo "sqltail apply into PostgreSQL ($WORKLOAD): $ROWS row events in $(elapsed_s $elapsed) s" \
  "($(( ROWS * 1000 / elapsed )) rows/s), $(grep -o '[0-9]* target transactions' "$RUN/apply.log")"
[[ "${COMPARE_DEBEZIUM:-}" == 1 ]] || exit 0


"$REPO/scripts/connect/connect.sh" fetch > /dev/null
# The replaced setup's batch size (Confluent JDBC sink, batch 3000) for the sink and its consumer.
export CONNECT_BATCH_SIZE=${DEBEZIUM_BATCH_SIZE:-3000}
start=$(now_ms)
connect_start "$RUN/connect" "$SQLTAIL_KAFKA_BOOTSTRAP" "$topics_regex" "$SQLTAIL_PG_DSN" "$DEBEZIUM_SCHEMA" > /dev/null
connect_wait 3600 done_in "$CONNECT_PG_DSN" "$DEBEZIUM_SCHEMA" debezium ||
  { echo "Debezium JDBC sink failed: $CONNECT_ERROR"; exit 1; }
debezium_elapsed=$(( $(now_ms) - start ))
connect_stop
# inserts: its int/text table compares with the source directly; mixed: done_in compared it with
# the verified reference already (as for the timed sqltail run).
[[ $WORKLOAD == mixed ]] || verify "$CONNECT_PG_DSN" "$DEBEZIUM_SCHEMA"
echo "Debezium JDBC sink into PostgreSQL ($WORKLOAD): $ROWS row events in $(elapsed_s $debezium_elapsed) s" \
  "($(( ROWS * 1000 / debezium_elapsed )) rows/s); sqltail apply is" \
  "$(( debezium_elapsed / elapsed )).$(( debezium_elapsed * 10 / elapsed % 10 ))x faster"
