#!/usr/bin/env bash
# kill -9 at random points: the capture is killed 22 times at seeded random moments (before its first
# fn_dblog query, mid-batch, inside an open Kafka transaction, around commits) and restarted each
# time, then run to the end. A read_committed consumer must see every committed insert exactly once,
# in order per key (ids increasing within the partition), so the topic holds exactly ids 0..n-1.
source "$(dirname "$0")/common.sh"
ROWS=3000
KILLS=${KILLS:-22}
RANDOM=${KILL_SEED:-20261125}  # seeded: the same kill points on every run
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 9 --rows-per-transaction 2 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
# A slow server (15 ms per query) so that the capture is killed part-way.
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set capture.poll_batch_rows=40 --set kafka.txn_max_events=9 --set kafka.txn_max_ms=100)
queries() { grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true; }

for kill_no in $(seq 1 "$KILLS"); do
  # Wait for 0..8 fn_dblog queries of this run (0: still starting up), then 0..149 ms more.
  wait_queries=$((RANDOM % 9))
  extra_ms=$((RANDOM % 150))
  before=$(queries)
  # sqltail itself in the background (not a shell function: kill -9 would hit the subshell only).
  "$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture$kill_no.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1500); do
    (( $(queries) - before >= wait_queries )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  sleep "$(printf '0.%03d' "$extra_ms")"
  kill -0 "$pid" 2>/dev/null || fail "capture $kill_no ended before it was killed (the log was fully read too early?)"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  echo "kill $kill_no: after $(( $(queries) - before )) fn_dblog queries + ${extra_ms} ms"
done
before_final=$(committed_keys "$topic" | grep -c . || true)
(( before_final > 0 && before_final < ROWS )) ||
  fail "the killed runs committed $before_final of $ROWS events: the kills did not interrupt a stream in progress"
"$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture_final.log" 2>&1 || fail "final capture failed"
grep -q "resuming after commit" "$RUN/capture_final.log" || fail "the final capture did not resume from a checkpoint"

# The whole partition in order: exactly 0, 1, ..., ROWS-1 (each once, increasing).
committed_keys "$topic" | sed 's/.*"id":\([0-9-]*\).*/\1/' > "$RUN/ids.txt"
seq 0 $((ROWS - 1)) > "$RUN/want.txt"
if ! cmp -s "$RUN/ids.txt" "$RUN/want.txt"; then
  fail "committed ids are not 0..$((ROWS - 1)) each once in order: $(wc -l < "$RUN/ids.txt") ids, $(sort "$RUN/ids.txt" | uniq -d | wc -l) duplicated, first difference: $(diff "$RUN/want.txt" "$RUN/ids.txt" | sed -n 2p)"
fi
all=$(kcat -b "$BOOTSTRAP" -C -t "$topic" -o beginning -e -q -X isolation.level=read_uncommitted -f '%k\n' 2>/dev/null | grep -c . || true)
echo "kill: $KILLS kill -9 restarts ($before_final events committed before the last run); $ROWS ids exactly once in order ($all records incl. aborted ones)"
