#!/usr/bin/env bash
# Zombie fencing: while a capture streams, a second capture with the same transactional.id starts.
# Its InitTransactions fences the first, whose next Kafka call fails: it must exit non-zero with a
# one-line "fenced" error. The second runs to the end: every insert is committed exactly once, in order.
source "$(dirname "$0")/common.sh"
ROWS=2000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 13 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set capture.poll_batch_rows=40 --set kafka.txn_max_events=9 --set kafka.txn_max_ms=100)
queries() { grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true; }

"$BIN/sqltail" "${capture_args[@]}" > "$RUN/first.log" 2> "$RUN/first.err" &
first=$!
pids+=("$first")
for _ in $(seq 1 1500); do
  (( $(queries) >= 15 )) && break
  sleep 0.01
done
kill -0 "$first" 2>/dev/null || fail "the first capture ended before the second started"
"$BIN/sqltail" "${capture_args[@]}" > "$RUN/second.log" 2> "$RUN/second.err" &
second=$!
pids+=("$second")

first_rc=0
wait "$first" || first_rc=$?
(( first_rc != 0 )) || fail "the fenced capture exited 0"
[[ $(grep -c . "$RUN/first.err") -eq 1 ]] || fail "the fenced capture's error is not one line: $(cat "$RUN/first.err")"
grep -qi "fenced" "$RUN/first.err" || fail "the fenced capture's error does not say it was fenced: $(cat "$RUN/first.err")"
second_rc=0
wait "$second" || second_rc=$?
(( second_rc == 0 )) || fail "the second capture failed: $(cat "$RUN/second.err")"

committed_keys "$topic" | sed 's/.*"id":\([0-9-]*\).*/\1/' > "$RUN/ids.txt"
seq 0 $((ROWS - 1)) > "$RUN/want.txt"
cmp -s "$RUN/ids.txt" "$RUN/want.txt" ||
  fail "committed ids are not 0..$((ROWS - 1)) each once in order ($(wc -l < "$RUN/ids.txt") ids, $(sort "$RUN/ids.txt" | uniq -d | wc -l) duplicated)"
echo "zombie: first capture fenced (exit $first_rc: $(cat "$RUN/first.err")); $ROWS ids exactly once in order"
