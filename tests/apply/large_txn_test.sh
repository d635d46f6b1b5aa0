#!/usr/bin/env bash
# Source transactions larger than apply.max_buffered_events, into SQLite or PostgreSQL (argument):
# three INSERT transactions of 10,000 rows, applied with max_buffered_events = 2,000. Each streams (is
# applied as it arrives, in one target transaction committed at its END). Kill -9 at random moments
# never leaves part of one in the target (the row count is always a multiple of 10,000), and the
# final run ends with the target equal to the source. Then the transaction topic is read far behind
# the data (written only after the applier has read what it can): reading pauses at the bound instead
# of holding everything, and goes on once the transaction topic arrives.
kind=${1:?usage: large_txn_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
RANDOM=${LARGE_TXN_SEED:-20261206}
capture_fixture 30000 29 10000
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
# Small fetches: the applier sees each transaction arrive over many polls.
# The transaction topic named: with one partition "auto" would not need it (and hold nothing).
# No schema change topic: its CREATE event would add a target transaction to the counts checked here.
common_args=(--config "$RUN/apply.conf" --set apply.max_buffered_events=2000 --set apply.batch_max_events=300
  --set kafka.property.max.partition.fetch.bytes=8192 --set apply.schema_change_topic=none)
args=("${common_args[@]}" --set apply.transaction_topic="$PREFIX.transaction")
reset_target() {
  if [[ "$kind" == sqlite ]]; then
    rm -f "$RUN/target.db"
  else
    psql "$PG_DSN" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"$PG_SCHEMA\" CASCADE" > /dev/null
  fi
}

# 1. One uninterrupted run: every source transaction streams, one target transaction each.
"$BIN/sqltail" apply "${args[@]}" --set apply.stop_when_idle_ms=1500 > "$RUN/apply.log" 2>&1 || fail "apply failed"
grep -q "holds more than apply.max_buffered_events (2000) events: applying it as it arrives" "$RUN/apply.log" ||
  fail "no transaction was streamed"
grep -q "30000 events .* in 3 target transactions" "$RUN/apply.log" ||
  fail "not one target transaction per source transaction: $(tail -1 "$RUN/apply.log")"
verify > "$RUN/verify.log" || fail "source and target differ: $(cat "$RUN/verify.log")"

# 2. kill -9 at random moments, from an empty target: never part of a source transaction.
reset_target
for kill_no in 1 2 3 4; do
  "$BIN/sqltail" apply "${args[@]}" >> "$RUN/apply-killed.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  rows=$(count)
  echo "kill $kill_no: $rows rows"
  (( rows % 10000 == 0 )) || fail "after kill $kill_no the target holds $rows rows: part of a source transaction"
done
"$BIN/sqltail" apply "${args[@]}" --set apply.stop_when_idle_ms=1500 > "$RUN/apply-final.log" 2>&1 ||
  fail "apply after the kills failed"
[[ "$(count)" == 30000 ]] || fail "the target holds $(count) rows, not 30000"
verify > "$RUN/verify.log" || fail "source and target differ after the kills: $(cat "$RUN/verify.log")"

# 3. The transaction topic behind the data. The same fixture captured again under a second prefix
# without transaction metadata (the data carry the same commit LSNs in their sqltail.txn header),
# then a copy of the first capture's transaction topic written there once the applier has stood still.
command -v kcat > /dev/null || { echo "kcat is not installed: the late transaction topic is not tested"; exit 0; }
FIRST_PREFIX=$PREFIX
PREFIX="${FIRST_PREFIX}late"
CAPTURE_SET=(--set capture.provide_transaction_metadata=false)
capture_fixture 30000 29 10000
LATE="$PREFIX.transaction"
create_topics "$LATE"
reset_target
# The first capture's transaction topic names other topics than these: refused, never applied unordered.
"$BIN/sqltail" apply "${common_args[@]}" --set apply.topics="$TOPIC" \
  --set apply.transaction_topic="$FIRST_PREFIX.transaction" --set apply.stop_when_idle_ms=1000 \
  > "$RUN/apply-mismatch.log" 2>&1 && fail "apply ran with a transaction topic of another prefix"
grep -q "no topic in apply.topics starts with '$FIRST_PREFIX.'" "$RUN/apply-mismatch.log" ||
  fail "the prefix mismatch was not named: $(tail -3 "$RUN/apply-mismatch.log")"
"$BIN/sqltail" apply "${common_args[@]}" --set apply.topics="$TOPIC" --set apply.transaction_topic="$LATE" \
  --set apply.stop_when_idle_ms=8000 > "$RUN/apply-late.log" 2>&1 &
late_pid=$!
pids+=("$late_pid")
sleep 4
[[ "$(count)" == 0 ]] || fail "rows applied before their transaction events were written"
kcat -b "$BOOTSTRAP" -C -t "$FIRST_PREFIX.transaction" -X isolation.level=read_committed -o beginning -e -q \
  > "$RUN/transactions.txt" 2> /dev/null || fail "reading $FIRST_PREFIX.transaction"
[[ "$(wc -l < "$RUN/transactions.txt")" == 6 ]] || fail "not 3 BEGIN and 3 END: $(wc -l < "$RUN/transactions.txt")"
kcat -b "$BOOTSTRAP" -P -t "$LATE" -l "$RUN/transactions.txt" || fail "producing $LATE"
wait "$late_pid" || fail "apply with the late transaction topic failed: $(tail -3 "$RUN/apply-late.log")"
grep -q "partition(s) paused" "$RUN/apply-late.log" || fail "reading did not pause while the transaction topic was behind"
grep -q "30000 events .* in 3 target transactions" "$RUN/apply-late.log" ||
  fail "late transaction topic: not one target transaction per source transaction: $(tail -1 "$RUN/apply-late.log")"
verify > "$RUN/verify.log" || fail "source and target differ (late transaction topic): $(cat "$RUN/verify.log")"
echo "PASS: source transactions larger than the buffer stream, atomically ($kind)"
