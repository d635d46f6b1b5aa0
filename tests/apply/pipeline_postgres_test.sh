#!/usr/bin/env bash
# tds-replay -> sqltail capture -> Kafka -> sqltail apply -> PostgreSQL on a 5,000-row fixture: the
# target equals the source (row count and content checksum); the applier runs while the capture does,
# and a second applier run finds its stored progress and applies nothing again.
NEEDS_PG=1 source "$(dirname "$0")/common.sh"
ROWS=5000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 13 --rows-per-transaction 4 --out "$RUN/fixture" > /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
write_pg_apply_config "$RUN/apply.conf" "$topic"

# The applier starts first: it waits for the topic the capture creates.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=3000 > "$RUN/apply.log" 2>&1 &
apply_pid=$!
pids+=("$apply_pid")
"$CAPTURE_BIN" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 > "$RUN/capture.log" 2>&1 ||
  fail "capture failed"
wait "$apply_pid" || fail "apply failed"
[[ $(pg_count test_table) -eq $ROWS ]] || fail "the target holds $(pg_count test_table) rows, not $ROWS"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$PG_DSN" --schema "$PG_SCHEMA" \
  > "$RUN/verify.log" 2>&1 || fail "source and target differ"
grep -q ": match" "$RUN/verify.log" || fail "verify printed no match"
progress=$(psql "$PG_DSN" -Atq -c "SELECT next_offset FROM \"$PG_SCHEMA\".sqltail_progress WHERE topic = '$topic'")
[[ "$progress" -ge $ROWS ]] || fail "stored progress $progress is short of $ROWS events"

# Restarted, the applier seeks to its stored progress: no event again.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1500 > "$RUN/apply2.log" 2>&1 ||
  fail "second apply failed"
grep -q "apply: 0 events" "$RUN/apply2.log" || fail "the second apply applied events again"

# Several events of one key in one batch: the last one wins, a delete after an insert ends deleted.
# Hand-written (Debezium-style, no sqltail marks) into the topic the capture created (the broker
# creates no topics itself); their payload.source names another table, dbo.hand.
key_schema='{"type":"struct","fields":[{"field":"id","type":"int32"}]}'
row_schema='{"type":"struct","optional":true,"fields":[{"field":"id","type":"int32"},{"field":"name","type":"string","optional":true},{"field":"flag","type":"boolean"},{"field":"score","type":"double"}]}'
event() {  # op id before after
  printf '{"schema":%s,"payload":{"id":%s}}|{"schema":{"type":"struct","fields":[{"field":"before",%s,{"field":"after",%s]},"payload":{"op":"%s","before":%s,"after":%s,"source":{"db":"hand_db","schema":"dbo","table":"hand"}}}\n' \
    "$key_schema" "$2" "${row_schema:1}" "${row_schema:1}" "$1" "$3" "$4"
}
r() { printf '{"id":%s,"name":%s,"flag":%s,"score":%s}' "$1" "$2" "$3" "$4"; }
{
  event c 1 null "$(r 1 '"a"' true 1)"
  event c 2 null "$(r 2 '"b"' false 2)"
  event u 1 "$(r 1 '"a"' true 1)" "$(r 1 '"a\"2"' true 1.5)"
  event d 2 "$(r 2 '"b"' false 2)" null
  event c 3 null "$(r 3 null false 3)"
  event d 3 "$(r 3 null false 3)" null
  event c 3 null "$(r 3 '"again"' false 2.25)"
} > "$RUN/hand.txt"
kcat -b "$BOOTSTRAP" -P -t "$topic" -K '|' < "$RUN/hand.txt" || fail "kcat could not produce the hand-written events"
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.stop_when_idle_ms=1500 > "$RUN/apply-hand.log" 2>&1 || fail "apply of the hand-written events failed"
got=$(psql "$PG_DSN" -Atq -c "SELECT id, coalesce(name, '-'), flag, score FROM \"$PG_SCHEMA\".hand ORDER BY id")
want=$(printf '1|a"2|t|1.5\n3|again|f|2.25')
[[ "$got" == "$want" ]] || fail "hand-written events: the table holds [$got], expected [$want]"

# A bad connection string is an error that names the problem, not a crash.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set "target.dsn=host=127.0.0.1 port=1 connect_timeout=2" \
  > "$RUN/bad.log" 2>&1 && fail "apply with an unreachable PostgreSQL succeeded"
grep -q "sqltail: postgresql: cannot connect" "$RUN/bad.log" || fail "no connection error: $(cat "$RUN/bad.log")"
echo "pipeline into PostgreSQL: $ROWS rows, target matches the source; restart applies nothing twice;" \
  "last event per key wins within a batch"
