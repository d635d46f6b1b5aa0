#!/usr/bin/env bash
# apply.mode = parallel: two `sqltail apply` instances in one consumer group share the partitions of
# the mixed workload's topics (captured into 4 partitions each) and write one target (sqlite or
# postgresql, the first argument). One of them, chosen at random, is killed with SIGKILL KILLS times
# and restarted each time, so the group moves partitions back and forth while both write; one is
# stalled past the session timeout STALLS times; then both run to the end. The target must equal, row for row, a reference made by one uninterrupted
# transactional applier, and the stored progress must end where the reference's does. Last, two
# transactional instances started together on one target: exactly one stops (the owner row in
# sqltail_progress decides), saying why.
kind=${1:?usage: parallel_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
TRANSACTIONS=${MIXED_TRANSACTIONS:-16000}
KILLS=${PARALLEL_KILLS:-8}
STALLS=${PARALLEL_STALLS:-2}
RANDOM=${CRASH_SEED:-20261206}
TABLES=(orders accounts audit_log)
GROUP="g$PREFIX"
echo "parallel apply test ($kind): $TRANSACTIONS source transactions, 2 instances, $KILLS kills"

CAPTURE_SET=(--set kafka.topic_partitions=4)
capture_generated --workload mixed --transactions "$TRANSACTIONS" --seed 13
topics=""
for t in "${TABLES[@]}"; do topics+="${topics:+,}$PREFIX.source_db.dbo.$t"; done

target_config() {  # file name
  if [[ "$kind" == sqlite ]]; then
    printf '[apply]\ntopics = %s\n[target]\nkind = sqlite\npath = %s\n[kafka]\nbootstrap_servers = %s\n' \
      "$topics" "$RUN/$2.db" "$BOOTSTRAP" > "$1"
  else
    printf '[apply]\ntopics = %s\n[target]\nkind = postgresql\ndsn = %s\nschema = %s\n[kafka]\nbootstrap_servers = %s\n' \
      "$topics" "$PG_DSN" "${PG_SCHEMA}_$2" "$BOOTSTRAP" > "$1"
  fi
}
query() {  # sql (tables as main.T / ref.T / solo.T)
  if [[ "$kind" == sqlite ]]; then
    sqlite3 "$RUN/main.db" "ATTACH '$RUN/ref.db' AS ref" "$1"
  else
    psql "$PG_DSN" -Atq -c "$(sed -E "s/\b(main|ref|solo)\./\"${PG_SCHEMA}_\1\"./g" <<< "$1")"
  fi
}
progress() {  # events applied so far by the group: the sum of the stored next offsets
  query "SELECT coalesce(sum(next_offset), 0) FROM main.sqltail_progress" 2>/dev/null || echo 0
}
cleanup_schemas() {
  [[ "$kind" == postgresql && "${KEEP_RUN:-}" != 1 ]] || return 0
  for s in main ref solo; do psql "$PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"${PG_SCHEMA}_$s\" CASCADE" > /dev/null 2>&1; done
}
trap 'cleanup_schemas; cleanup' EXIT

# The reference: one transactional applier, uninterrupted.
target_config "$RUN/ref.conf" ref
"$BIN/sqltail" apply --config "$RUN/ref.conf" --set apply.stop_when_idle_ms=1500 > "$RUN/ref.log" 2>&1 ||
  fail "the reference apply failed"
total=$(query "SELECT coalesce(sum(next_offset), 0) FROM ref.sqltail_progress WHERE topic <> '$PREFIX.transaction' AND topic NOT LIKE 'sqltail:owner:%'")
(( total > 0 )) || fail "the reference applied nothing"

target_config "$RUN/main.conf" main
# A killed member's partitions move after session.timeout.ms (the test broker allows 1.5 s); the
# rate limit keeps the members applying while the kills come.
parallel_args=(--config "$RUN/main.conf" --set apply.mode=parallel --set apply.group_id="$GROUP"
  --set apply.batch_max_events=5 --set apply.batch_max_ms=5 --set apply.max_events_per_second=2000
  --set kafka.property.session.timeout.ms=1500
  --set kafka.property.heartbeat.interval.ms=300 --set kafka.property.max.partition.fetch.bytes=8192)
declare -A member assigned_at_start
assignments() {  # member: how often the group has given it partitions so far
  local n
  n=$(grep -cE "group $GROUP assigns [0-9]+ partition" "$RUN/member-$1.log" 2>/dev/null) || true
  echo "${n:-0}"
}
start_member() {  # name
  assigned_at_start[$1]=$(assignments "$1")
  "$BIN/sqltail" apply "${parallel_args[@]}" >> "$RUN/member-$1.log" 2>&1 &
  member[$1]=$!
  pids+=("${member[$1]}")
}
# Until both members have joined the group (been given their partitions at least once) since their
# last start.
wait_joined() {
  while (( $(assignments a) <= ${assigned_at_start[a]} || $(assignments b) <= ${assigned_at_start[b]} )); do
    (( SECONDS < deadline )) || fail "the members did not join group $GROUP"
    for m in a b; do kill -0 "${member[$m]}" 2>/dev/null || fail "member $m exited by itself"; done
    sleep 0.02
  done
}
start_member a
start_member b
kill_points=()
deadline=$((SECONDS + 150))
for ((i = 1; i <= KILLS; i++)); do
  wait_joined
  goal=$(($(progress) + 20 + RANDOM % 200))
  while (( $(progress) < goal && $(progress) < total )); do
    (( SECONDS < deadline )) || fail "the kills took longer than 150 s (progress $(progress) of $total)"
    for m in a b; do kill -0 "${member[$m]}" 2>/dev/null || fail "member $m exited by itself"; done
    sleep 0.01
  done
  victim=$([[ $((RANDOM % 2)) == 0 ]] && echo a || echo b)
  kill -9 "${member[$victim]}"
  wait "${member[$victim]}" 2>/dev/null || true
  kill_points+=("$(progress)")
  echo "kill $i: member $victim at ${kill_points[-1]} of $total stored offsets"
  start_member "$victim"
done
# A stall (SIGSTOP) longer than the session timeout: the group gives the member's partitions to the
# other one while it holds them. Resumed, its next progress save finds the other's progress (and
# it reads on from there) or its partitions are taken back first; either way nothing is applied twice.
for ((i = 1; i <= STALLS; i++)); do
  wait_joined
  victim=$([[ $((RANDOM % 2)) == 0 ]] && echo a || echo b)
  kill -STOP "${member[$victim]}"
  echo "stall $i: member $victim stopped for 3 s at $(progress) of $total stored offsets"
  sleep 3
  kill -CONT "${member[$victim]}"
  assigned_at_start[$victim]=$(assignments "$victim")
done
# A clean stop of both (SIGTERM: whole transactions kept), then both to the end: each stops after
# 4 s without new events.
wait_joined
for m in a b; do kill -TERM "${member[$m]}"; done
for m in a b; do wait "${member[$m]}" || fail "member $m failed on SIGTERM"; done
for m in a b; do
  "$BIN/sqltail" apply "${parallel_args[@]}" --set apply.stop_when_idle_ms=4000 >> "$RUN/member-$m.log" 2>&1 &
  member[$m]=$!
  pids+=("${member[$m]}")
done
for m in a b; do wait "${member[$m]}" || fail "the last run of member $m failed"; done

final=$(progress)
(( final == total )) || fail "the group's stored offsets end at $final, the reference's at $total"
midway=0
for p in "${kill_points[@]}"; do (( p > 0 && p < final )) && midway=$((midway + 1)); done
(( midway >= KILLS / 2 )) || fail "only $midway of $KILLS kills landed while events were being applied"
for m in a b; do
  grep -q "group $GROUP assigns [1-9][0-9]* partition(s)" "$RUN/member-$m.log" ||
    fail "member $m was never assigned a partition"
done
grep -q "only one apply.mode" "$RUN"/member-*.log && fail "a parallel member took another's progress as a second instance"
moved=$(cat "$RUN"/member-*.log | grep -c "reading on from the stored progress") || true

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

# Two transactional instances on one target: whichever saves second finds progress it did not load.
target_config "$RUN/solo.conf" solo
solo_args=(--config "$RUN/solo.conf" --set apply.batch_max_events=20 --set apply.batch_max_ms=5
  --set kafka.property.max.partition.fetch.bytes=8192)
"$BIN/sqltail" apply "${solo_args[@]}" --set apply.stop_when_idle_ms=3000 > "$RUN/solo-1.log" 2>&1 &
first=$!
pids+=("$first")
"$BIN/sqltail" apply "${solo_args[@]}" --set apply.stop_when_idle_ms=3000 > "$RUN/solo-2.log" 2>&1 &
second=$!
pids+=("$second")
rc1=0 rc2=0
wait "$first" || rc1=$?
wait "$second" || rc2=$?
(( (rc1 == 0) != (rc2 == 0) )) || fail "two transactional instances on one target: exit codes $rc1 and $rc2"
grep -q "only one apply.mode = transactional instance may run per target" "$RUN"/solo-*.log ||
  fail "the stopped transactional instance did not say why"
echo "parallel apply test ($kind): $KILLS kill -9 ($midway while applying) and $STALLS stalls ($moved progress" \
  "save(s) found the other member's) among 2 members, then every table equals the reference; a second" \
  "transactional instance stopped"
