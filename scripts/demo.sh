#!/usr/bin/env bash
# make demo: a real Kafka broker, a generated SQL Server workload served over TDS by tds-replay,
# sqltail capture and sqltail apply into SQLite; ends with one line: rows, speed, match.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$repo/build/bin}
RUN=${RUN:-$repo/.run/demo}
ROWS=${DEMO_ROWS:-200000}
REPLAY_PORT=${DEMO_REPLAY_PORT:-14330}
export KAFKA_PORT=${KAFKA_PORT:-19092} KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
source "$repo/scripts/lib/pipeline.sh"

pids=()
broker_started=0
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((broker_started)); then "$repo/scripts/kafka/broker.sh" stop > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT

rm -rf "$RUN"
mkdir -p "$RUN"
echo "demo: starting a single-node Kafka broker (KRaft)"
export KAFKA_RUN_DIR="$RUN/kafka"
"$repo/scripts/kafka/broker.sh" start > "$RUN/broker-start.log" 2>&1 ||
  { cat "$RUN/broker-start.log"; exit 1; }
broker_started=1
bootstrap=$("$repo/scripts/kafka/broker.sh" bootstrap)

echo "demo: generating $ROWS inserts into source_db.dbo.test_table, one transaction each"
"$BIN/fixture-gen" --workload inserts --rows "$ROWS" --seed 42 --out "$RUN/fixture" > "$RUN/fixture-gen.log"
start_replay "$RUN/fixture" "$REPLAY_PORT" "$RUN/tds-replay.log"
pids+=("$REPLAY_PID")

write_capture_config "$RUN/capture.conf" "$REPLAY_PORT" "$bootstrap" demo
write_apply_config "$RUN/apply.conf" "$bootstrap" demo.source_db.dbo.test_table "$RUN/target.db"

echo "demo: sqltail capture (fn_dblog over TDS -> Kafka) and sqltail apply (Kafka -> SQLite)"
start_ns=$(date +%s%N)
"$BIN/sqltail" capture --config "$RUN/capture.conf" > "$RUN/capture.log" 2>&1 &
capture_pid=$!
pids+=("$capture_pid")
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")

synced=0
deadline=$(( $(date +%s) + ${DEMO_TIMEOUT_S:-600} ))
while :; do
  synced=$(sqlite_count "$RUN/target.db" test_table)
  [[ "$synced" -ge "$ROWS" ]] && break
  for pid in "$capture_pid" "$apply_pid"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: a sqltail process stopped early:"; tail -n 5 "$RUN/capture.log" "$RUN/apply.log"; exit 1
    fi
  done
  if (( $(date +%s) > deadline )); then
    echo "demo: timed out with $synced/$ROWS rows in the target"; tail -n 5 "$RUN/capture.log" "$RUN/apply.log"; exit 1
  fi
  sleep 0.05
done
end_ns=$(date +%s%N)

kill -TERM "$capture_pid" "$apply_pid"
wait "$capture_pid" "$apply_pid" || { echo "demo: sqltail did not stop cleanly"; tail -n 5 "$RUN/capture.log" "$RUN/apply.log"; exit 1; }

if "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log"; then
  match="source and target match"
else
  match="source and target DIFFER"
fi
cat "$RUN/verify.log"
cleanup
trap - EXIT
elapsed_ms=$(( (end_ns - start_ns) / 1000000 ))
awk -v rows="$synced" -v total="$ROWS" -v ms="$elapsed_ms" -v verdict="$match" 'BEGIN {
  printf "demo: %d/%d rows synced in %.1f s (%d rows/s); %s\n", rows, total, ms / 1000, rows * 1000 / ms, verdict }'
[[ "$match" == "source and target match" ]]
