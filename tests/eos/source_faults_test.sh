#!/usr/bin/env bash
# Source faults through a real broker: (1) tds-replay drops the connection halfway through every
# 4th fn_dblog answer, (2) tds-replay is killed mid-stream and restarted on the same port, (3) the
# log is truncated while the capture is down: it resumes from log backups (fn_dump_dblog), then the
# active log; with no backup it stops naming the missing range. Each time the topic must hold every
# id exactly once.
source "$(dirname "$0")/common.sh"
ROWS=2000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 17 --rows-per-transaction 2 --out "$RUN/fixture" > /dev/null
port=$(free_port)
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
queries() { grep -c fn_dblog "$RUN/$1" 2>/dev/null || true; }
capture() {  # prefix log [--set ...]
  local prefix=$1 log=$2
  shift 2
  "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.topic_prefix="$prefix" \
    --set capture.stop_when_idle_ms=1500 --set source.reconnect_max_s=20 --set source.reconnect_backoff_max_ms=400 \
    --set source.log_stats_interval_ms=200 "$@" > "$RUN/$log" 2>&1
}

# 1. Dropped connections.
REPLAY_ARGS="--drop-after-batches 4" start_replay "$RUN/fixture" "$port" "$RUN/replay1.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
capture "${PREFIX}a" capture1.log --set capture.poll_batch_rows=150 --set kafka.txn_max_events=13 || fail "capture with drops failed"
reconnects=$(grep -c "reconnected to" "$RUN/capture1.log" || true)
(( reconnects >= 3 )) || fail "expected several reconnects, the capture log shows $reconnects"
expect_each_id_once "${PREFIX}a.source_db.dbo.test_table" $ROWS
echo "drops: $ROWS rows exactly once across $reconnects reconnects"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true

# 2. Server restart mid-stream on the same port.
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches2.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay2.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
capture "${PREFIX}b" capture2.log --set capture.poll_batch_rows=40 --set kafka.txn_max_events=9 &
capture_pid=$!
pids+=("$capture_pid")
for _ in $(seq 1 1000); do (( $(queries batches2.jsonl) >= 25 )) && break; sleep 0.02; done
kill -9 "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true
sleep 1.5
(( $(queries batches2.jsonl) < ROWS * 3 / 40 )) || fail "the capture read the whole log before the server went away"
REPLAY_ARGS="" start_replay "$RUN/fixture" "$port" "$RUN/replay2b.log" || fail "tds-replay did not restart"
pids+=("$REPLAY_PID")
wait "$capture_pid" || fail "capture across the server restart failed"
grep -q "reconnected to" "$RUN/capture2.log" || fail "the capture did not reconnect"
expect_each_id_once "${PREFIX}b.source_db.dbo.test_table" $ROWS
echo "restart: $ROWS rows exactly once across a server restart"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true

# 3. Log truncation while the capture is down. First a partial run, killed early: its checkpoint
# holds a restart LSN near the start of the log.
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches3.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay3.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
capture "${PREFIX}c" capture3.log --set capture.poll_batch_rows=30 --set kafka.txn_max_events=7 &
capture_pid=$!
pids+=("$capture_pid")
for _ in $(seq 1 1000); do (( $(queries batches3.jsonl) >= 15 )) && break; sleep 0.02; done
kill -9 "$capture_pid"; wait "$capture_pid" 2>/dev/null || true
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true
grep -q "starting at the beginning" "$RUN/capture3.log" || fail "the partial capture did not start"

# The log as it is after truncation: active from 2/3 of the records; the backups hold the rest.
lsn_at() { sed -n "$1p" "$RUN/fixture/log.jsonl" | grep -o '"Current LSN":"[^"]*"' | cut -d'"' -f4; }
lines=$(wc -l < "$RUN/fixture/log.jsonl")
first=$(lsn_at 1); third=$(lsn_at $((lines / 3))); active=$(lsn_at $((lines * 2 / 3))); late=$(lsn_at $((lines * 3 / 4)))
cp -r "$RUN/fixture" "$RUN/gap"
echo "{\"active_log_from\": \"$active\"}" > "$RUN/gap/log_backups.json"
cp -r "$RUN/fixture" "$RUN/truncated"
cat > "$RUN/truncated/log_backups.json" <<JSON
{"active_log_from": "$active",
 "backups": [{"files": ["/var/opt/mssql/backup/source_db_1.trn"], "first_lsn": "$first", "last_lsn": "$third"},
             {"files": ["/var/opt/mssql/backup/source_db_2a.trn", "/var/opt/mssql/backup/source_db_2b.trn"],
              "position": 2, "first_lsn": "$third", "last_lsn": "$late"}]}
JSON

# No backup: the capture stops, naming the missing range, and commits nothing.
REPLAY_ARGS="" start_replay "$RUN/gap" "$port" "$RUN/replay4.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
if capture "${PREFIX}c" capture4.log --set capture.poll_batch_rows=200; then fail "capture over a log gap succeeded"; fi
grep -q "up to $active is missing" "$RUN/capture4.log" || fail "the error does not name the missing range up to $active"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true

# With the backups: backups first, then the active log, every id once.
REPLAY_ARGS="--record-batches $RUN/batches5.jsonl" start_replay "$RUN/truncated" "$port" "$RUN/replay5.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
capture "${PREFIX}c" capture5.log --set capture.poll_batch_rows=200 || fail "capture from log backups failed"
grep -q "fn_dump_dblog" "$RUN/batches5.jsonl" || fail "the capture did not read the log backups"
grep -q "source_db_2b.trn" "$RUN/batches5.jsonl" || fail "the capture did not read the striped backup"
grep -q "continuing in the active log" "$RUN/capture5.log" || fail "the capture did not continue into the active log"
expect_each_id_once "${PREFIX}c.source_db.dbo.test_table" $ROWS
echo "retention: $ROWS rows exactly once from log backups and the active log; a gap stops the capture"
