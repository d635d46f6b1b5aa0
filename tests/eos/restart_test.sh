#!/usr/bin/env bash
# Restart: kill -9 the capture halfway (and stop it once with SIGTERM), start it again: every
# committed insert is in Kafka exactly once and the target equals the source.
source "$(dirname "$0")/common.sh"
ROWS=3000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 5 --out "$RUN/fixture" > /dev/null
port=$(free_port)
# A slow server (20 ms per query) so that the capture can be stopped part-way.
REPLAY_ARGS="--batch-delay-ms 20 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
# Small fn_dblog batches and Kafka transactions, so there are many checkpoints to stop between.
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set capture.poll_batch_rows=30 --set kafka.txn_max_events=7)

# fn_dblog queries answered so far (tds-replay records each batch it receives): the trigger to stop.
queries() { grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true; }
total_queries=$(( ROWS * 3 / 30 ))

run_and_stop() {  # signal queries log
  local before pid now
  before=$(queries)
  # The binary itself in the background (not a shell function), so the signal reaches sqltail.
  "$BIN/sqltail" "${capture_args[@]}" > "$RUN/$3" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1200); do
    now=$(queries)
    (( now - before >= $2 )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -0 "$pid" 2>/dev/null || fail "capture stopped by itself before the test could stop it"
  kill "-$1" "$pid"
  wait "$pid" 2>/dev/null || true
  now=$(queries)
  (( now < total_queries )) || fail "capture read the whole log before it was stopped; the test stopped nothing"
  echo "stopped capture with SIG$1 after $((now - before)) fn_dblog queries"
}

run_and_stop KILL 60 capture1.log
run_and_stop TERM 60 capture2.log
grep -q "resuming after commit" "$RUN/capture2.log" || fail "the restarted capture did not resume from its checkpoint"
"$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture3.log" 2>&1 || fail "final capture failed"
expect_each_id_once "$topic" $ROWS

write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$topic" "$RUN/target.db"
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=2000 > "$RUN/apply.log" 2>&1 || fail "apply failed"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log" ||
  fail "source and target differ"
echo "restart: $ROWS rows exactly once after kill -9 and SIGTERM restarts"
