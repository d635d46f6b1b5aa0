#!/usr/bin/env bash
# Abort-and-rewind in process: while the capture streams, the broker starts rejecting every batch of
# the data topic (topic config max.message.bytes=256: MESSAGE_TOO_LARGE, a non-retriable delivery
# error, so the Kafka transaction must be aborted). The capture must abort, re-read the log from its
# last committed checkpoint and retry, in the same process; once the limit is lifted it finishes,
# and a read_committed consumer sees every insert exactly once, in order.
source "$(dirname "$0")/common.sh"
[[ -x "$BIN/topic_config" ]] || fail "$BIN/topic_config is not built"
topic_config() {  # topic [name=value ...]: the topic's whole configuration
  "$BIN/topic_config" "$BOOTSTRAP" "$@" >> "$RUN/topic_config.log" 2>&1
}

ROWS=4000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 21 --rows-per-transaction 2 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
# A slow server (100 ms per query, 40 rows each): the stream lasts long enough to break it mid-way.
REPLAY_ARGS="--batch-delay-ms 100 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=2000 \
  --set capture.poll_batch_rows=40 --set kafka.txn_max_events=20 --set kafka.txn_max_ms=100 \
  --set kafka.timeout_ms=15000 --set kafka.property.message.timeout.ms=5000 \
  > "$RUN/capture.log" 2>&1 &
capture_pid=$!
pids+=("$capture_pid")

# Some transactions commit first: wait for 15 fn_dblog queries (600 of the 8,000 log rows). (A
# read_committed kcat would not return while the stream goes on: it keeps finding new data.)
for _ in $(seq 1 600); do
  (( $(grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true) >= 15 )) && break
  kill -0 "$capture_pid" 2>/dev/null || fail "capture ended before the broker was made to reject"
  sleep 0.05
done
topic_config "$topic" max.message.bytes=256 || fail "could not set max.message.bytes"
echo "$(date +%T) the broker rejects the data topic's batches"
# Wait for two aborts (the first rewind's re-read hits the same limit and must abort again), then
# lift the limit.
for _ in $(seq 1 600); do
  [[ $(grep -c "aborting the Kafka transaction and re-reading the log" "$RUN/capture.log" || true) -ge 2 ]] && break
  kill -0 "$capture_pid" 2>/dev/null || fail "capture ended while the broker rejected its messages"
  sleep 0.1
done
(( $(grep -c "re-reading the log" "$RUN/capture.log" || true) >= 2 )) || fail "fewer than two aborts-and-rewinds were logged within 60 s"
echo "$(date +%T) $(grep -c "re-reading the log" "$RUN/capture.log" || true) rewinds: lifting the limit"
topic_config "$topic" || fail "could not reset max.message.bytes"
status=0
wait "$capture_pid" || status=$?
(( status == 0 )) || fail "capture exited with $status after the limit was lifted"
rewinds=$(grep -c "re-reading the log" "$RUN/capture.log" || true)
grep -q "MSG_SIZE_TOO_LARGE\|MESSAGE_TOO_LARGE" "$RUN/capture.log" || fail "the rewinds were not caused by the rejected batches"
grep -q "resuming after commit" "$RUN/capture.log" && fail "the capture restarted instead of rewinding in process"

committed_keys "$topic" | sed 's/.*"id":\([0-9-]*\).*/\1/' > "$RUN/ids.txt"
seq 0 $((ROWS - 1)) > "$RUN/want.txt"
if ! cmp -s "$RUN/ids.txt" "$RUN/want.txt"; then
  fail "committed ids are not 0..$((ROWS - 1)) each once in order: $(wc -l < "$RUN/ids.txt") ids, $(sort "$RUN/ids.txt" | uniq -d | wc -l) duplicated, first difference: $(diff "$RUN/want.txt" "$RUN/ids.txt" | sed -n 2p)"
fi
echo "abort_rewind: $rewinds in-process rewinds, then $ROWS ids exactly once in order"
