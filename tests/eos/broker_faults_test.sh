#!/usr/bin/env bash
# Broker faults, on a private single-node broker this test starts and stops itself (the shared one
# must stay up for the other tests; SQLTAIL_KAFKA_BOOTSTRAP only says real-broker tests are wanted):
#  1. broker down at start-up: the capture exits non-zero with a one-line error naming the bootstrap;
#  2. broker stopped mid-stream and started again (same data): the capture either rides it out or
#     exits with a one-line error and is restarted; every insert is then committed exactly once, in order.
source "$(dirname "$0")/common.sh"
export KAFKA_PORT=$(free_port) KAFKA_CONTROLLER_PORT=$(free_port) KAFKA_RUN_DIR="$RUN/kafka"
export KAFKA_HEAP_OPTS="-Xms128m -Xmx384m"
broker() { "$REPO/scripts/kafka/broker.sh" "$@"; }
trap 'broker stop > /dev/null 2>&1; cleanup_pids; [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"' EXIT
BOOTSTRAP=$(broker bootstrap)  # used by committed_keys

ROWS=2000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 17 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set capture.poll_batch_rows=40 --set kafka.txn_max_events=9 --set kafka.txn_max_ms=100)
queries() { grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true; }

# 1. No broker yet.
started=$SECONDS
rc=0
"$BIN/sqltail" "${capture_args[@]}" --set kafka.timeout_ms=5000 > "$RUN/down.log" 2> "$RUN/down.err" || rc=$?
(( rc != 0 )) || fail "capture exited 0 without a broker"
(( SECONDS - started <= 30 )) || fail "capture took $((SECONDS - started)) s to give up without a broker"
[[ $(grep -c . "$RUN/down.err") -eq 1 ]] || fail "the error is not one line: $(cat "$RUN/down.err")"
grep -q "bootstrap=$BOOTSTRAP" "$RUN/down.err" || fail "the error does not name the bootstrap: $(cat "$RUN/down.err")"
(( $(queries) == 0 )) || fail "capture read the log although Kafka was down"
echo "broker down at start-up: exit $rc after $((SECONDS - started)) s: $(cat "$RUN/down.err")"

# 2. Broker restart mid-stream.
broker start > "$RUN/broker-start.log" 2>&1 || fail "private broker did not start: $(tail -3 "$RUN/broker-start.log")"
"$BIN/sqltail" "${capture_args[@]}" --set kafka.timeout_ms=15000 > "$RUN/during.log" 2> "$RUN/during.err" &
pid=$!
pids+=("$pid")
for _ in $(seq 1 3000); do
  (( $(queries) >= 25 )) && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
kill -0 "$pid" 2>/dev/null || fail "capture ended before the broker was stopped: $(cat "$RUN/during.err")"
broker stop > /dev/null
stopped_at=$(queries)
sleep 2
KAFKA_KEEP_DATA=1 broker start > "$RUN/broker-restart.log" 2>&1 ||
  fail "private broker did not restart: $(tail -3 "$RUN/broker-restart.log")"
rc=0
wait "$pid" || rc=$?
if (( rc == 0 )); then
  echo "broker restart mid-stream (after $stopped_at fn_dblog queries): capture rode it out"
else
  [[ $(grep -c . "$RUN/during.err") -eq 1 ]] || fail "the error is not one line: $(cat "$RUN/during.err")"
  echo "broker restart mid-stream (after $stopped_at fn_dblog queries): capture exited $rc: $(cat "$RUN/during.err")"
  "$BIN/sqltail" "${capture_args[@]}" --set kafka.timeout_ms=15000 > "$RUN/after.log" 2> "$RUN/after.err" ||
    fail "capture after the broker restart failed: $(cat "$RUN/after.err")"
  grep -q "resuming after commit" "$RUN/after.log" || fail "the restarted capture did not resume from its checkpoint"
fi
committed_keys "$topic" | sed 's/.*"id":\([0-9-]*\).*/\1/' > "$RUN/ids.txt"
seq 0 $((ROWS - 1)) > "$RUN/want.txt"
cmp -s "$RUN/ids.txt" "$RUN/want.txt" ||
  fail "committed ids are not 0..$((ROWS - 1)) each once in order ($(wc -l < "$RUN/ids.txt") ids, $(sort "$RUN/ids.txt" | uniq -d | wc -l) duplicated)"
echo "broker faults: $ROWS ids exactly once in order"
