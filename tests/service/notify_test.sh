#!/usr/bin/env bash
# sqltail capture as systemd runs it, through a real broker: a real notify socket receives READY=1,
# STATUS lines, WATCHDOG=1 pings (WATCHDOG_USEC) and STOPPING=1; the metrics endpoint is scraped
# during the run; SIGTERM in the middle of the log (a Kafka transaction open) exits 0, and a
# restart completes the topic with every row exactly once. Skipped (77) without a broker.
source "$REPO/tests/eos/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
ROWS=10000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 8 --out "$RUN/fixture" > /dev/null
port=$(free_port)
# Each fn_dblog answer stalls 40 ms: the capture runs for seconds, so it can be scraped and stopped mid-log.
REPLAY_ARGS="--batch-delay-ms 40" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"

python3 "$here/notify_listener.py" "$RUN/notify.sock" "$RUN/notify.log" &
pids+=($!)
for _ in $(seq 1 50); do [[ -S "$RUN/notify.sock" ]] && break; sleep 0.1; done
[[ -S "$RUN/notify.sock" ]] || fail "the notify listener did not bind its socket"

metrics_port=$(free_port)
metrics() { curl -s -m 5 "http://127.0.0.1:$metrics_port$1"; }
NOTIFY_SOCKET="$RUN/notify.sock" WATCHDOG_USEC=400000 WATCHDOG_PID= \
  "$BIN/sqltail" capture --config "$RUN/capture.conf" --set service.metrics_port=$metrics_port \
  --set capture.poll_batch_rows=300 > "$RUN/capture.log" 2>&1 &
capture_pid=$!
pids+=("$capture_pid")

for _ in $(seq 1 600); do grep -qx "READY=1" "$RUN/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -qx "READY=1" "$RUN/notify.log" || fail "no READY=1 within 60 s"
# Scrape while events flow.
events=0
for _ in $(seq 1 300); do
  metrics /metrics > "$RUN/metrics.txt" || true
  events=$(sed -n 's/^sqltail_events_total{table="dbo.test_table",op="c"} //p' "$RUN/metrics.txt")
  [[ -n "$events" && "$events" -gt 0 ]] && break
  sleep 0.1
done
[[ -n "$events" && "$events" -gt 0 ]] || fail "the metrics never showed events: $(cat "$RUN/metrics.txt")"
for line in "sqltail_ready 1" "sqltail_info{role=\"capture\"} 1" "# TYPE sqltail_events_total counter"; do
  grep -qxF "$line" "$RUN/metrics.txt" || fail "metrics lack '$line'"
done
for name in sqltail_log_rows_total sqltail_kafka_transactions_total sqltail_open_transactions \
  sqltail_buffered_bytes sqltail_lag_seconds 'sqltail_errors_total{kind="kafka"}' \
  'sqltail_lsn{lsn="committed",part="vlf"}' 'sqltail_lsn{lsn="restart",part="block"}' \
  sqltail_unavailable_values_total sqltail_partial_updates_total sqltail_page_split_rows_moved_total; do
  grep -q "^$name [0-9.]*$" "$RUN/metrics.txt" || fail "metrics lack a sample of $name"
done
[[ $(sed -n 's/^sqltail_log_rows_total //p' "$RUN/metrics.txt") -gt 0 ]] || fail "sqltail_log_rows_total is 0"
# Every image of the inserts workload is known: nothing was emitted as unavailable.
[[ $(sed -n 's/^sqltail_unavailable_values_total //p' "$RUN/metrics.txt") == 0 ]] ||
  fail "sqltail_unavailable_values_total is not 0 for a workload of inserts"
[[ $(metrics /healthz) == ok ]] || fail "/healthz is not ok during the run"
[[ $(metrics /readyz) == ready ]] || fail "/readyz is not ready during the run"

sleep 2  # long enough for several watchdog pings (every 200 ms)
kill -0 "$capture_pid" 2>/dev/null || fail "the capture ended before SIGTERM (make the fixture bigger)"
kill -TERM "$capture_pid"
rc=0
wait "$capture_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "capture exited $rc after SIGTERM"
sleep 0.2  # the listener writes asynchronously

emitted=$(sed -n 's/.* log rows, [0-9]* transactions, \([0-9]*\) events in.*/\1/p' "$RUN/capture.log")
[[ -n "$emitted" && "$emitted" -lt $ROWS ]] ||
  fail "SIGTERM did not land mid-log: the capture emitted ${emitted:-?} of $ROWS events"
pings=$(grep -cx "WATCHDOG=1" "$RUN/notify.log" || true)
[[ $pings -ge 4 ]] || fail "only $pings WATCHDOG=1 pings"
grep -q "^STATUS=capture: [0-9]* events in [0-9]* Kafka transactions, committed LSN " "$RUN/notify.log" ||
  fail "no STATUS line with progress"
ready_line=$(grep -nx "READY=1" "$RUN/notify.log" | head -1 | cut -d: -f1)
stopping_line=$(grep -nx "STOPPING=1" "$RUN/notify.log" | head -1 | cut -d: -f1)
[[ -n "$stopping_line" && "$stopping_line" -gt "$ready_line" ]] || fail "no STOPPING=1 after READY=1"
[[ $(grep -n "WATCHDOG=1" "$RUN/notify.log" | tail -1 | cut -d: -f1) -lt "$stopping_line" ]] ||
  fail "a watchdog ping after STOPPING=1"

# The restart resumes from the checkpoint committed at SIGTERM: no loss, no duplicate. It runs as
# under the journal (JOURNAL_STREAM): lines carry syslog priorities instead of timestamps.
JOURNAL_STREAM=8:12345 "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 \
  > "$RUN/capture2.log" 2>&1 || fail "the restarted capture failed"
grep -q "^<6>capture: resuming after commit" "$RUN/capture2.log" ||
  fail "the restart did not resume from a checkpoint, or logged without a <6> priority"
expect_each_id_once "$topic" $ROWS

# The applier speaks the same protocol: READY once assigned, STOPPING at its idle stop, exit 0.
write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$topic" "$RUN/target.db"
NOTIFY_SOCKET="$RUN/notify.sock" "$BIN/sqltail" apply --config "$RUN/apply.conf" \
  --set apply.stop_when_idle_ms=1500 > "$RUN/apply.log" 2>&1 || fail "apply failed"
[[ $(sqlite_count "$RUN/target.db" test_table) -eq $ROWS ]] || fail "the target does not hold $ROWS rows"
sleep 0.2
tail -n +$((stopping_line + 1)) "$RUN/notify.log" > "$RUN/notify-apply.log"
grep -qx "READY=1" "$RUN/notify-apply.log" || fail "apply sent no READY=1"
grep -q "^STATUS=apply: [0-9]* events in [0-9]* target transactions" "$RUN/notify-apply.log" ||
  fail "apply sent no STATUS with its progress"
grep -qx "STOPPING=1" "$RUN/notify-apply.log" || fail "apply sent no STOPPING=1"
echo "notify: READY, $pings watchdog pings, STATUS, STOPPING; SIGTERM after $emitted of $ROWS events, restart completed each row once; apply READY/STATUS/STOPPING"
