#!/usr/bin/env bash
# kill -9 of the applier at random points: the events of a fixture are captured once, then
# `sqltail apply` is started and killed with SIGKILL KILLS times at random points (seeded:
# CRASH_SEED), restarted each time, and finally run to the end. The target (sqlite or postgresql, the
# first argument) must equal the source: every row once, content checksum equal.
kind=${1:?usage: crash_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
ROWS=${CRASH_ROWS:-40000}
KILLS=${CRASH_KILLS:-21}
RANDOM=${CRASH_SEED:-20261125}
echo "crash test ($kind): $ROWS rows, $KILLS kills, seed ${CRASH_SEED:-20261125}"
capture_fixture $ROWS 17 3

if [[ "$kind" == sqlite ]]; then
  write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$TOPIC" "$RUN/target.db"
  count() { sqlite_count "$RUN/target.db" test_table; }
  verify() { "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db"; }
else
  write_pg_apply_config "$RUN/apply.conf" "$TOPIC"
  count() { pg_count test_table; }
  verify() {
    "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$PG_DSN" --schema "$PG_SCHEMA"
  }
fi
# Small fetches and target transactions: many commit points per run.
apply_args=(--config "$RUN/apply.conf" --set apply.batch_max_events=300 --set apply.batch_max_ms=20
  --set kafka.property.max.partition.fetch.bytes=32768)

# Each kill comes when the target has grown by a random number of rows (the applier is too fast for
# fixed delays to land inside it), plus a random 0-40 ms, so it falls anywhere in the commit cycle.
midway=0
deadline=$((SECONDS + 75))
for ((i = 1; i <= KILLS; i++)); do
  (( SECONDS < deadline )) || fail "the kills took longer than 75 s"
  goal=$(($(count) + 50 + RANDOM % (ROWS / KILLS / 2)))
  (( goal < ROWS )) || goal=$ROWS
  apply_and_kill "$i" count "$goal" 3 "${apply_args[@]}"
  rows=$(count)
  echo "kill $i at $rows rows (goal $goal)"
  (( rows > 0 && rows < ROWS )) && midway=$((midway + 1))
  (( rows <= ROWS )) || fail "the target holds $rows rows, more than the source's $ROWS"
done
(( midway >= 3 )) || fail "only $midway kills landed while rows were being applied; the test proved little"

"$BIN/sqltail" apply "${apply_args[@]}" --set apply.stop_when_idle_ms=2000 > "$RUN/apply-final.log" 2>&1 ||
  fail "the final apply failed"
[[ $(count) -eq $ROWS ]] || fail "the target holds $(count) rows, not $ROWS"
verify > "$RUN/verify.log" 2>&1 || fail "source and target differ: $(cat "$RUN/verify.log")"
grep -q ": match" "$RUN/verify.log" || fail "verify printed no match"
echo "crash test ($kind): $KILLS kill -9 ($midway while applying), then the target equals the source"
