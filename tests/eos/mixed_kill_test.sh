#!/usr/bin/env bash
# kill -9 of the capture on the mixed workload: `fixture-gen --workload mixed` (overlapping source
# transactions over keyed tables and a heap, inserts, updates, deletes, key changes, rollbacks) is
# served slowly, and the capture is killed KILLS times at seeded random moments and restarted each
# time, then run to the end, into topics of 3 partitions. A read_committed consumer must then see
# every change of expected.jsonl (the generator's own list of the events the workload yields)
# exactly once, and in order per key: for every key (every table for the heap, whose events have no
# key) the sequence of (change LSN, op) in partition order equals the generator's, in commit order.
source "$(dirname "$0")/common.sh"
TRANSACTIONS=${MIXED_TRANSACTIONS:-1500}
KILLS=${KILLS:-22}
RANDOM=${KILL_SEED:-20261205}
"$BIN/fixture-gen" --workload mixed --transactions "$TRANSACTIONS" --seed 21 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
REPLAY_ARGS="--batch-delay-ms 15 --record-batches $RUN/batches.jsonl" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" ||
  fail "tds-replay did not start"
pids+=("$REPLAY_PID")
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture_args=(capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500
  --set capture.poll_batch_rows=100 --set kafka.txn_max_events=9 --set kafka.txn_max_ms=100
  --set kafka.topic_partitions=3)
queries() { grep -c fn_dblog "$RUN/batches.jsonl" 2>/dev/null || true; }
tables=$(grep -o '"table":"[a-z_]*"' "$RUN/fixture/expected.jsonl" | sort -u | sed 's/.*:"\(.*\)"/\1/')
[[ $(wc -w <<< "$tables") -ge 3 ]] || fail "expected.jsonl names fewer than 3 tables: $tables"

# Committed events of every table topic: "table<TAB>partition<TAB>key<TAB>value" per line.
committed() {
  for t in $tables; do
    kcat -b "$BOOTSTRAP" -C -t "$PREFIX.source_db.dbo.$t" -o beginning -e -q -X isolation.level=read_committed \
      -f "$t\t%p\t%k\t%s\n" 2>/dev/null || true
  done
}

for kill_no in $(seq 1 "$KILLS"); do
  # Wait for 0..8 fn_dblog queries of this run (0: still starting up), then 0..149 ms more.
  wait_queries=$((RANDOM % 9))
  extra_ms=$((RANDOM % 150))
  before=$(queries)
  "$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture$kill_no.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1500); do
    (( $(queries) - before >= wait_queries )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  sleep "$(printf '0.%03d' "$extra_ms")"
  kill -0 "$pid" 2>/dev/null || fail "capture $kill_no ended before it was killed (the log was fully read too early?)"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  echo "kill $kill_no: after $(( $(queries) - before )) fn_dblog queries + ${extra_ms} ms"
done
want=$(wc -l < "$RUN/fixture/expected.jsonl")
before_final=$(committed | awk -F'\t' '$4 != ""' | wc -l)
(( before_final > 0 && before_final < want )) ||
  fail "the killed runs committed $before_final of $want events: the kills did not interrupt a stream in progress"
"$BIN/sqltail" "${capture_args[@]}" > "$RUN/capture_final.log" 2>&1 || fail "final capture failed"
grep -q "resuming after commit" "$RUN/capture_final.log" || fail "the final capture did not resume from a checkpoint"

committed > "$RUN/committed.tsv"
python3 - "$RUN/fixture/expected.jsonl" "$RUN/committed.tsv" <<'PY' || fail "the committed events differ from expected.jsonl"
import collections, json, sys
# Per key, the (change LSN, op) sequence; keys are compared as sequences only (the generator and the
# Kafka key render key values differently), so both sides become a sorted list of sequences per table.
want = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    e = json.loads(line)
    key = json.dumps(e["key"], sort_keys=True)
    want[e["table"]][key].append((e["change_lsn"], e["op"]))
got = collections.defaultdict(lambda: collections.defaultdict(list))
partitions_of_heap = collections.defaultdict(set)
for line in open(sys.argv[2], encoding="utf-8"):
    table, partition, key, value = line.rstrip("\n").split("\t", 3)
    if value == "":
        continue  # tombstone
    payload = json.loads(value)["payload"]
    if key == "":
        partitions_of_heap[table].add(partition)
        key = "null"
    else:
        key = json.dumps(json.loads(key)["payload"], sort_keys=True)
    got[table][key].append((payload["source"]["change_lsn"], payload["op"]))
bad = 0
for table in sorted(set(want) | set(got)):
    w = sorted(want[table].values())
    g = sorted(got[table].values())
    n_w = sum(map(len, w))
    n_g = sum(map(len, g))
    if w != g:
        bad += 1
        flat_w = collections.Counter(x for s in w for x in s)
        flat_g = collections.Counter(x for s in g for x in s)
        print(f"{table}: {n_g} committed events, {n_w} expected; missing {sum((flat_w - flat_g).values())}, "
              f"extra {sum((flat_g - flat_w).values())}; per-key order {'differs' if flat_w == flat_g else 'not compared'}")
    else:
        print(f"{table}: {n_g} events over {len(g)} keys, each once, in order per key")
for table, parts in partitions_of_heap.items():
    if len(parts) != 1:
        bad += 1
        print(f"{table}: events without a key in partitions {sorted(parts)}: their order is lost")
sys.exit(1 if bad else 0)
PY
echo "mixed kill: $KILLS kill -9 restarts ($before_final of $want events committed before the last run); every change exactly once, in order per key"
