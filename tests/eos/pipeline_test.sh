#!/usr/bin/env bash
# The whole path on a 1,000-row fixture: every committed insert reaches Kafka once and the SQLite
# target equals the source (row count and content checksum).
source "$(dirname "$0")/common.sh"
ROWS=1000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 11 --rows-per-transaction 3 --out "$RUN/fixture" > /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$topic" "$RUN/target.db"
capture() { "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 "$@"; }

capture > "$RUN/capture.log" 2>&1 || fail "capture failed"
grep -q "1000 events" "$RUN/capture.log" || fail "capture did not report 1000 events"
expect_each_id_once "$topic" $ROWS
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=2000 > "$RUN/apply.log" 2>&1 || fail "apply failed"
[[ $(sqlite_count "$RUN/target.db" test_table) -eq $ROWS ]] || fail "the target does not hold $ROWS rows"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log" ||
  fail "source and target differ"
grep -q ": match" "$RUN/verify.log" || fail "verify printed no match"

# A second capture run finds its checkpoint and emits nothing again.
capture > "$RUN/capture2.log" 2>&1 || fail "second capture failed"
grep -q "resuming after commit" "$RUN/capture2.log" || fail "second capture did not resume from the checkpoint"
expect_each_id_once "$topic" $ROWS
echo "pipeline: $ROWS rows, each once in Kafka, target matches the source"
