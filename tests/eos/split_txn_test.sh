#!/usr/bin/env bash
# One source transaction of 50,000 inserts, larger than a Kafka transaction may be
# (kafka.max_events_per_source_txn_chunk=5000): it is emitted in chunks, each committed with the
# position inside the transaction in its checkpoint. The capture is killed (-9) after several chunk
# commits (at seeded random delays) and restarted each time: a read_committed consumer must see
# every insert exactly once, in order; only the last event carries sqltail.txn.end; and an applier
# running all along applies the transaction atomically: no row while it is incomplete, all at the end.
# With SPILL_BUDGET_MB (ctest spill_capture_test) the same transaction also exceeds the capture's
# memory budget (capture.txn_memory_budget_mb): the reader spills it to disk and capture emits it
# part by part; each run must log the spill, and every run's peak RSS (VmHWM) is reported.
source "$(dirname "$0")/common.sh"
ROWS=${SPLIT_ROWS:-50000}
CHUNK=${SPLIT_CHUNK:-5000}
KILLS=${KILLS:-4}
SPILL_BUDGET_MB=${SPILL_BUDGET_MB:-}
RANDOM=${KILL_SEED:-20261126}
"$BIN/fixture-gen" --workload inserts --rows "$ROWS" --seed 5 --rows-per-transaction "$ROWS" --out "$RUN/fixture" \
  2> /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
offsets="$PREFIX.offsets"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set kafka.max_events_per_source_txn_chunk="$CHUNK" --set kafka.txn_max_ms=100000)
if [[ -n "$SPILL_BUDGET_MB" ]]; then
  mkdir -p "$RUN/spill"
  capture_args+=(--set capture.txn_memory_budget_mb="$SPILL_BUDGET_MB" --set capture.spill_dir="$RUN/spill")
fi
peak_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo "?"; }
spilled() { grep -c "spilled to disk\|spilled; total not known" "$1" 2>/dev/null || true; }
event_count() { committed_keys "$topic" | grep -c . || true; }

# The applier runs throughout (it waits for the topic): it must hold the partial transaction back.
write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$topic" "$RUN/target.db"
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=20000 > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")

chunks() { grep -c "events committed to Kafka" "$1" 2>/dev/null || true; }  # chunk commits a capture logged
for kill_no in $(seq 1 "$KILLS"); do
  log="$RUN/capture$kill_no.log"
  extra_ms=$((RANDOM % 60))
  "$BIN/sqltail" "${capture_args[@]}" > "$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  # Kill after its first chunk commit plus 0..59 ms (it may commit one more meanwhile).
  for _ in $(seq 1 2400); do
    (( $(chunks "$log") >= 1 )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.025
  done
  sleep "$(printf '0.%03d' "$extra_ms")"
  kill -0 "$pid" 2>/dev/null || fail "capture $kill_no ended before it was killed"
  peak=$(peak_kb "$pid")
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  committed=$(event_count)
  echo "kill $kill_no: $(chunks "$log") chunk commits, killed ${extra_ms} ms after the first: $committed events committed; peak RSS ${peak} kB"
  if [[ -n "$SPILL_BUDGET_MB" ]]; then
    (( $(spilled "$log") >= 1 )) || fail "capture $kill_no did not spill the transaction (budget $SPILL_BUDGET_MB MB)"
  fi
  (( committed % CHUNK == 0 )) || fail "after kill $kill_no, $committed events are committed: not whole chunks"
  (( committed < ROWS )) || fail "the capture committed the whole transaction before kill $kill_no landed"
  [[ $(sqlite_count "$RUN/target.db" test_table) -eq 0 ]] ||
    fail "the applier applied part of the split source transaction"
  # Leave chunks for the final run: a run can commit three or more (15000 events seen) before its
  # kill lands.
  (( committed >= ROWS - 4 * CHUNK )) && break
done
before_final=$(event_count)
(( before_final > 0 && before_final < ROWS )) ||
  fail "the killed runs committed $before_final of $ROWS events: the kills did not interrupt the split transaction"
kcat -b "$BOOTSTRAP" -C -t "$offsets" -o beginning -e -q -X isolation.level=read_committed -f '%s\n' 2>/dev/null |
  tail -n 1 | grep -q "\"split_events\":$before_final[,}]" || fail "the last checkpoint before the final run holds no position inside the transaction"
"$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture_final.log" 2>&1 || fail "final capture failed"
if [[ -n "$SPILL_BUDGET_MB" ]]; then
  grep -q "changes were spilled to disk" "$RUN/capture_final.log" || fail "the final capture did not spill the transaction"
  [[ -z "$(ls -A "$RUN/spill")" ]] || fail "spill files are left in capture.spill_dir: $(ls "$RUN/spill" | head -3)"
fi
grep -q "resuming after commit" "$RUN/capture_final.log" || fail "the final capture did not resume from a checkpoint"

committed_keys "$topic" | sed 's/.*"id":\([0-9-]*\).*/\1/' > "$RUN/ids.txt"
seq 0 $((ROWS - 1)) > "$RUN/want.txt"
if ! cmp -s "$RUN/ids.txt" "$RUN/want.txt"; then
  fail "committed ids are not 0..$((ROWS - 1)) each once in order: $(wc -l < "$RUN/ids.txt") ids, $(sort "$RUN/ids.txt" | uniq -d | wc -l) duplicated, first difference: $(diff "$RUN/want.txt" "$RUN/ids.txt" | sed -n 2p)"
fi
# sqltail.txn.end: on the last event only.
kcat -b "$BOOTSTRAP" -C -t "$topic" -o beginning -e -q -X isolation.level=read_committed -f '%h\n' 2>/dev/null |
  grep -n "sqltail.txn.end" > "$RUN/ends.txt" || true
[[ $(wc -l < "$RUN/ends.txt") -eq 1 && $(cut -d: -f1 "$RUN/ends.txt") -eq $ROWS ]] ||
  fail "sqltail.txn.end is on events $(cut -d: -f1 "$RUN/ends.txt" | tr '\n' ' '); expected on event $ROWS only"

# The applier saw the whole transaction and committed it at its end.
status=0
wait "$apply_pid" || status=$?
(( status == 0 )) || fail "apply exited with $status"
[[ $(sqlite_count "$RUN/target.db" test_table) -eq $ROWS ]] || fail "the target does not hold $ROWS rows"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log" ||
  fail "source and target differ"
grep -q ": match" "$RUN/verify.log" || fail "verify printed no match"
all=$(kcat -b "$BOOTSTRAP" -C -t "$topic" -o beginning -e -q -X isolation.level=read_uncommitted -f '%k\n' 2>/dev/null | grep -c . || true)
echo "split_txn: $KILLS kill -9 restarts inside one $ROWS-event transaction (chunks of $CHUNK; $before_final committed before the last run); each id once in order ($all records incl. aborted), end marker on the last event only, target matches"
