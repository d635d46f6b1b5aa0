#!/usr/bin/env bash
# sqltail's events read by a consumer nobody here wrote: tds-replay -> sqltail capture -> Kafka -> a
# standalone Kafka Connect worker (connect-runtime from Maven Central) running Debezium's JDBC sink
# connector (upsert, deletes, record_key, schema.evolution=basic) -> PostgreSQL. Inserts, updates and
# deletes; the target tables must equal the generator's final source contents (sqltail verify).
# Skipped (77) without a broker, PostgreSQL or the Connect jars (scripts/connect/connect.sh fetch).
source "$(dirname "$0")/common.sh"
[[ -n "${SQLTAIL_PG_DSN:-}" ]] || { echo "SQLTAIL_PG_DSN is not set: no PostgreSQL, test skipped"; exit 77; }
CONNECT="$REPO/scripts/connect/connect.sh"
"$CONNECT" jars-present || { echo "Kafka Connect jars absent (scripts/connect/connect.sh fetch): test skipped"; exit 77; }
source "$REPO/scripts/connect/lib.sh"
SCHEMA="sqltail_connect_$PREFIX"
trap 'connect_cleanup; cleanup_pids; [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"' EXIT

"$BIN/fixture-gen" --workload updates --rows 2000 --updates 600 --deletes 300 --rollbacks 5 \
  --rows-per-transaction 8 --seed 29 --out "$RUN/fixture" > /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1000 > "$RUN/capture.log" 2>&1 ||
  fail "capture failed"
kill "$REPLAY_PID" 2>/dev/null || true

matches() {
  "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$CONNECT_PG_DSN" --schema "$SCHEMA" \
    > "$RUN/verify.log" 2>&1 && grep -q ": match" "$RUN/verify.log"
}
started=$SECONDS
connect_start "$RUN/connect" "$BOOTSTRAP" "${PREFIX}\\.source_db\\.dbo\\..*" "$SQLTAIL_PG_DSN" "$SCHEMA"
connect_wait 100 matches || { cat "$RUN/connect/connect.log" | grep -v "^\s*at " | tail -40; fail "the Debezium JDBC sink did not make the target equal the source ($CONNECT_ERROR): $(cat "$RUN/verify.log")"; }
connect_stop
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$CONNECT_PG_DSN" --schema "$SCHEMA" \
  > "$RUN/verify.log" 2>&1 || fail "PostgreSQL written by the Debezium JDBC sink differs from the source: $(cat "$RUN/verify.log")"
grep -q ": match" "$RUN/verify.log" || fail "verify printed no match"
echo "Debezium JDBC sink (Kafka Connect) read sqltail events into PostgreSQL in $((SECONDS - started)) s; tables equal the source"
