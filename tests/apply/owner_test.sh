#!/usr/bin/env bash
# One transactional applier per set of topics and target, decided on the owner row of
# sqltail_progress (sqlite or postgresql, the first argument): every target transaction moves it by
# one, so it counts them. The race it closes: two instances whose saves touch different partitions
# both succeed on partition progress alone, and each later finds the other's. Here it is made
# deterministic: an instance has loaded its progress and waits; the owner row then moves, as any
# commit of another instance moves it, while none of this instance's partitions do; one new event
# arrives. The instance must stop without applying it, saying why. A restart applies the event, and
# an applier of other topics on the same target is not refused. An owner row that is no count stops
# the start, named.
kind=${1:?usage: owner_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }
capture_fixture 50 3 10
if [[ "$kind" == sqlite ]]; then
  write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$TOPIC" "$RUN/target.db"
  query() { sqlite3 "$RUN/target.db" "$1"; }
else
  write_pg_apply_config "$RUN/apply.conf" "$TOPIC"
  query() { psql "$PG_DSN" -Atq -c "SET search_path TO \"$PG_SCHEMA\"; $1"; }
fi
owner() { query "SELECT next_offset FROM sqltail_progress WHERE topic LIKE 'sqltail:owner:%'"; }
rows() { query "SELECT count(*) FROM test_table WHERE id = $1"; }

transactions() { grep -o "in [0-9]* target transactions" "$1" | grep -o "[0-9]*"; }

# 1. A first run in several target transactions: the owner row counts them.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1500 --set apply.batch_max_events=10 \
  > "$RUN/apply-1.log" 2>&1 || fail "the first apply failed"
v1=$(transactions "$RUN/apply-1.log")
(( v1 >= 3 )) || fail "the first run took $v1 target transactions, not several"
[[ "$(owner)" == "$v1" ]] || fail "after $v1 target transactions the owner row holds '$(owner)'"

# 2. An instance loads (owner v1) and waits; the owner row moves on by one; one new event arrives.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=20000 > "$RUN/apply-2.log" 2>&1 &
second=$!
pids+=("$second")
for _ in $(seq 200); do grep -q "applying .* partition(s)" "$RUN/apply-2.log" && break; sleep 0.05; done
grep -q "applying .* partition(s)" "$RUN/apply-2.log" || fail "the second instance did not start reading"
query "UPDATE sqltail_progress SET next_offset = $((v1 + 1)) WHERE topic LIKE 'sqltail:owner:%'" > /dev/null
test_table_events "$RUN/more.txt" c:1000:late
kcat -b "$BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -l "$RUN/more.txt" || fail "producing the new event"
rc=0
wait "$second" || rc=$?
(( rc != 0 )) || fail "the instance whose owner row moved applied on (exit 0)"
grep -q "only one apply.mode = transactional instance may run per target" "$RUN/apply-2.log" ||
  fail "the stopped instance did not say why"
grep -q "sqltail:owner:" "$RUN/apply-2.log" || fail "the stopped instance did not name the owner row"
[[ "$(rows 1000)" == 0 ]] || fail "the stopped instance applied the new event"
[[ "$(owner)" == $((v1 + 1)) ]] || fail "the stopped instance changed the owner row: '$(owner)'"

# 3. A restart goes on from the row as it is and applies the event.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1500 > "$RUN/apply-3.log" 2>&1 ||
  fail "the restarted apply failed"
grep -q " 1 events" "$RUN/apply-3.log" || fail "the restart did not apply exactly the new event"
[[ "$(rows 1000)" == 1 ]] || fail "the restart did not apply the new event"
v3=$((v1 + 1 + $(transactions "$RUN/apply-3.log")))
[[ "$(owner)" == "$v3" ]] || fail "after the restart the owner row holds '$(owner)', not $v3"
first_owner=$(query "SELECT topic FROM sqltail_progress WHERE topic LIKE 'sqltail:owner:%'")

# 4. Other topics on the same target: their own owner row; the first one's is untouched.
other="$PREFIX.other"  # its event names source table test_table
create_topics "$other"
test_table_events "$RUN/other.txt" c:2000:other
kcat -b "$BOOTSTRAP" -P -t "$other" -K $'\t' -l "$RUN/other.txt" || fail "producing to $other"
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.topics="$other" --set apply.schema_change_topic=none \
  --set apply.stop_when_idle_ms=1500 > "$RUN/apply-4.log" 2>&1 || fail "the applier of other topics failed"
[[ "$(rows 2000)" == 1 ]] || fail "the applier of other topics did not apply its event"
[[ "$(query "SELECT count(*) FROM sqltail_progress WHERE topic LIKE 'sqltail:owner:%'")" == 2 ]] ||
  fail "the other topics have no owner row of their own"
[[ "$(query "SELECT next_offset FROM sqltail_progress WHERE topic = '$first_owner'")" == "$v3" ]] ||
  fail "the other topics' applier moved the first owner row"
# 5. An owner row that is no count (the target's content is untrusted): a clear stop at start.
query "UPDATE sqltail_progress SET next_offset = -7 WHERE topic = '$first_owner'" > /dev/null
rc=0
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=500 > "$RUN/apply-5.log" 2>&1 || rc=$?
(( rc != 0 )) || fail "an owner row of -7 was taken"
grep -q "sqltail_progress row sqltail:owner:[0-9a-f]* holds -7, not a count" "$RUN/apply-5.log" ||
  fail "the bad owner row was not named: $(tail -1 "$RUN/apply-5.log")"
echo "PASS: owner row ($kind): it counts target transactions; a moved owner row stops the instance before it applies"
