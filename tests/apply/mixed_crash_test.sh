#!/usr/bin/env bash
# kill -9 of the applier on the mixed workload: `fixture-gen --workload mixed` (overlapping source
# transactions over several tables of many types: inserts, updates, deletes with tombstones, key
# changes, rollbacks) is captured once; `sqltail apply` reads the topics of the keyed tables and the
# heap audit_log (rows without a key: matched by all their values), in source
# commit order from the transaction topic, and is killed with SIGKILL at KILLS seeded random moments,
# restarted each time, then run to the end. The target (sqlite or postgresql, the first argument)
# must then hold the generator's final row count per table and equal, row for row, a reference
# target made by applying each table's topic alone in one uninterrupted run.
kind=${1:?usage: mixed_crash_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
TRANSACTIONS=${MIXED_TRANSACTIONS:-16000}
KILLS=${CRASH_KILLS:-20}
RANDOM=${CRASH_SEED:-20261204}
TABLES=(orders accounts audit_log)
echo "mixed crash test ($kind): $TRANSACTIONS source transactions, $KILLS kills, seed ${CRASH_SEED:-20261204}"

capture_generated --workload mixed --transactions "$TRANSACTIONS" --seed 11
topics=""
for t in "${TABLES[@]}"; do topics+="${topics:+,}$PREFIX.source_db.dbo.$t"; done

# target_config FILE TOPICS NAME: the target under test (NAME=main) or the reference (NAME=ref).
target_config() {
  if [[ "$kind" == sqlite ]]; then
    printf '[apply]\ntopics = %s\n[target]\nkind = sqlite\npath = %s\n[kafka]\nbootstrap_servers = %s\n' \
      "$2" "$RUN/$3.db" "$BOOTSTRAP" > "$1"
  else
    printf '[apply]\ntopics = %s\n[target]\nkind = postgresql\ndsn = %s\nschema = %s\n[kafka]\nbootstrap_servers = %s\n' \
      "$2" "$PG_DSN" "${PG_SCHEMA}_$3" "$BOOTSTRAP" > "$1"
  fi
}
query() {  # sql (tables as main.T / ref.T)
  if [[ "$kind" == sqlite ]]; then
    sqlite3 "$RUN/main.db" "ATTACH '$RUN/ref.db' AS ref" "$1"
  else
    psql "$PG_DSN" -Atq -c "$(sed "s/\bmain\./\"${PG_SCHEMA}_main\"./g; s/\bref\./\"${PG_SCHEMA}_ref\"./g" <<< "$1")"
  fi
}
progress() {  # events applied so far in the target under test: sum of the stored next offsets
  query "SELECT coalesce(sum(next_offset), 0) FROM main.sqltail_progress WHERE topic <> '$PREFIX.transaction' AND topic NOT LIKE 'sqltail:owner:%'" \
    2>/dev/null || echo 0
}
cleanup_schemas() {
  [[ "$kind" == postgresql && "${KEEP_RUN:-}" != 1 ]] || return 0
  for s in main ref; do psql "$PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"${PG_SCHEMA}_$s\" CASCADE" > /dev/null 2>&1; done
}
trap 'cleanup_schemas; cleanup' EXIT

# The reference: each table's topic alone, uninterrupted (one partition: its own order).
for t in "${TABLES[@]}"; do
  target_config "$RUN/ref-$t.conf" "$PREFIX.source_db.dbo.$t" ref
  "$BIN/sqltail" apply --config "$RUN/ref-$t.conf" --set apply.transaction_topic="$PREFIX.transaction" \
    --set apply.stop_when_idle_ms=1500 > "$RUN/ref-$t.log" 2>&1 || fail "the reference apply of $t failed"
done

target_config "$RUN/main.conf" "$topics" main
apply_args=(--config "$RUN/main.conf" --set apply.batch_max_events=10 --set apply.batch_max_ms=5
  --set kafka.property.max.partition.fetch.bytes=16384)
# The reference's stored offsets of the data topics are where the target under test ends too.
total=$(query "SELECT coalesce(sum(next_offset), 0) FROM ref.sqltail_progress WHERE topic <> '$PREFIX.transaction' AND topic NOT LIKE 'sqltail:owner:%'")
# Each kill comes when the stored progress has grown by a random amount (the applier is too fast for
# fixed delays to land inside it).
kill_points=()
deadline=$((SECONDS + 120))
for ((i = 1; i <= KILLS; i++)); do
  (( SECONDS < deadline )) || fail "the kills took longer than 120 s"
  goal=$(($(progress) + 100 + RANDOM % (total / KILLS / 2)))
  apply_and_kill "$i" progress "$goal" 5 "${apply_args[@]}"
  kill_points+=("$(progress)")
  echo "kill $i at $((${kill_points[-1]})) of $total stored offsets"
done
"$BIN/sqltail" apply "${apply_args[@]}" --set apply.stop_when_idle_ms=2000 > "$RUN/apply-final.log" 2>&1 ||
  fail "the final apply failed"
grep -q "source transactions in commit order from $PREFIX.transaction" "$RUN/apply-final.log" ||
  fail "the applier did not take commit order from the transaction topic"
final=$(progress)
(( final == total )) || fail "the target's stored offsets end at $final, the reference's at $total"
midway=0
for p in "${kill_points[@]}"; do (( p > 0 && p < final )) && midway=$((midway + 1)); done
(( midway >= KILLS / 2 )) || fail "only $midway of $KILLS kills landed while events were being applied"

for t in "${TABLES[@]}"; do
  want=$(grep -c "\"table\":\"dbo.$t\"" "$RUN/fixture/source.jsonl")
  got=$(query "SELECT count(*) FROM main.$t")
  [[ "$got" == "$want" ]] || fail "$t: the target holds $got rows, the source $want"
  differ=$(query "SELECT count(*) FROM (SELECT * FROM main.$t EXCEPT SELECT * FROM ref.$t) AS a")
  differ_back=$(query "SELECT count(*) FROM (SELECT * FROM ref.$t EXCEPT SELECT * FROM main.$t) AS b")
  [[ "$differ" == 0 && "$differ_back" == 0 ]] ||
    fail "$t: $differ rows of the target are not in the reference, $differ_back the other way"
  echo "$t: $got rows, equal to the reference"
done
echo "mixed crash test ($kind): $KILLS kill -9 ($midway while applying), then every table equals the source"
