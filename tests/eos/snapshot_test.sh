#!/usr/bin/env bash
# The initial snapshot (capture.snapshot_mode) against tds-replay and a real broker, on a fixture
# whose log starts part-way: the rows written before the log window exist only in the tables.
#  1. initial: the tables read at L (snapshot.json: the end of the log at the snapshot) give one
#     `op: r` event per row live at L, with the values the log decoder renders; the stream from L
#     gives exactly the changes committed after L; the SQLite target equals source.jsonl.
#  2. kill -9 twice during the snapshot, restart: each resumed snapshot reads at a later LSN; the
#     topic replayed in order never inserts a present key nor deletes an absent one and ends equal
#     to source.jsonl (exactly once); the target equals source.jsonl.
#  3. never: no snapshot, only the changes of the log window.
#  4. snapshot isolation not allowed: an error naming ALLOW_SNAPSHOT_ISOLATION, no rows read.
#  5. a captured commit between the end-of-log reads: retried, exact at the second attempt's LSN.
#  6. an abortable Kafka error mid-snapshot: resumed in process after the last committed chunk.
source "$(dirname "$0")/common.sh"
ROWS=900
"$BIN/fixture-gen" --workload updates --rows $ROWS --seed 5 --rows-per-transaction 3 --updates 0 --deletes 60 \
  --rollbacks 2 --out "$RUN/full" > /dev/null 2>&1 || fail "fixture-gen failed"

# A log that starts part-way: drop the log before the transaction of the event at 1/3; the changes
# committed before it go to pre_window.jsonl (tds-replay's tables hold them, the log does not).
# snapshot.json: where the log ends when each snapshot transaction starts (the log grows meanwhile).
make_fixture() {  # dir cap_fraction...
  local dir=$1
  shift
  mkdir -p "$dir"
  cp "$RUN/full/catalog.json" "$RUN/full/source.jsonl" "$dir/"
  python3 - "$RUN/full" "$dir" "$@" <<'PY'
import json, sys
src, dst, fractions = sys.argv[1], sys.argv[2], [float(f) for f in sys.argv[3:]]
events = [json.loads(l) for l in open(src + "/expected.jsonl") if l.strip()]
def key(lsn):  # fn_dblog's hex LSN text sorts as the LSN
    return lsn
cut = events[len(events) // 3]["begin_lsn"]
with open(dst + "/pre_window.jsonl", "w") as pre, open(dst + "/expected.jsonl", "w") as exp:
    for e in events:
        (pre if key(e["commit_lsn"]) < cut else exp).write(json.dumps(e) + "\n")
with open(src + "/log.jsonl") as log, open(dst + "/log.jsonl", "w") as out:
    for line in log:
        if line.strip() and json.loads(line)["Current LSN"] >= cut:
            out.write(line)
caps = [events[int(len(events) * f)]["commit_lsn"] for f in fractions]
json.dump({"end_of_log": caps}, open(dst + "/snapshot.json", "w"))
PY
}

# Checks the topic against the fixture. mode=exact: r events = rows live at the (single) snapshot
# LSN with their values, then the events committed after it, in order. Always: replaying the topic
# never inserts a present key nor deletes an absent one, and ends equal to source.jsonl.
check_topic() {  # fixture topic mode
  kcat -b "$BOOTSTRAP" -C -t "$2" -o beginning -e -q -X isolation.level=read_committed -f '%k\t%s\n' 2> /dev/null \
    > "$RUN/topic.txt"
  python3 - "$1" "$RUN/topic.txt" "$3" <<'PY'
import json, sys
fixture, topic, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def die(msg):
    print("CHECK FAILED: " + msg); sys.exit(1)
events = []
for line in open(topic):
    k, _, v = line.rstrip("\n").partition("\t")
    if not v:
        continue  # tombstone
    p = json.loads(v)["payload"]
    events.append(p)
if mode == "resnapshot":  # a new snapshot after a lost position: judge from its first r event on
    first_r = next((i for i, e in enumerate(events) if e["op"] == "r"), None)
    if first_r is None: die("no snapshot events")
    if first_r == 0: die("no stream events before the new snapshot")
    events, mode = events[first_r:], "exact"
rs = [e for e in events if e["op"] == "r"]
source = {}
for line in open(fixture + "/source.jsonl"):
    if line.strip():
        r = json.loads(line)["row"]
        source[r["id"]] = r
state = {}
for e in events if mode != "never" else []:
    row = e["after"] if e["op"] != "d" else e["before"]
    k = row["id"]
    if e["op"] in ("r", "c"):
        if k in state: die("op %s for id %d already present (duplicate)" % (e["op"], k))
        state[k] = e["after"]
    elif e["op"] == "u":
        if k not in state: die("update of absent id %d" % k)
        state[k] = e["after"]
    elif e["op"] == "d":
        if k not in state: die("delete of absent id %d" % k)
        del state[k]
if mode != "never" and state != source:
    diff = [i for i in set(state) | set(source) if state.get(i) != source.get(i)]
    die("replayed topic has %d rows, source.jsonl %d; first differing ids: %s" % (len(state), len(source), sorted(diff)[:10]))
if mode != "never" and (not rs or rs[0]["source"]["snapshot"] != "first" or rs[-1]["source"]["snapshot"] != "last"):
    die("snapshot markers: first %s, last %s" % (rs[0]["source"]["snapshot"] if rs else None,
                                                 rs[-1]["source"]["snapshot"] if rs else None))
expected = [json.loads(l) for f in ("pre_window.jsonl", "expected.jsonl") for l in open(fixture + "/" + f) if l.strip()]
window = [json.loads(l) for l in open(fixture + "/expected.jsonl") if l.strip()]
if mode == "never":
    if rs: die("%d snapshot events with snapshot_mode=never" % len(rs))
    got = [(e["op"], e["source"]["commit_lsn"]) for e in events]
    want = [(e["op"], e["commit_lsn"]) for e in window]
    if got != want: die("the stream is not the log window's %d events (got %d)" % (len(want), len(got)))
elif mode == "exact":
    lsns = {e["source"]["commit_lsn"] for e in rs}
    if len(lsns) != 1: die("snapshot events carry %d commit LSNs" % len(lsns))
    L = lsns.pop()
    live = {}
    for e in expected:
        if e["commit_lsn"] > L: break
        if e["op"] == "d": live.pop(e["before"]["id"], None)
        else: live[e["after"]["id"]] = e["after"]
    if {e["after"]["id"]: e["after"] for e in rs} != live or len(rs) != len(live):
        die("the %d snapshot events are not the %d rows live at %s (values included)" % (len(rs), len(live), L))
    after = [(e["op"], e["source"]["commit_lsn"]) for e in events if e["op"] != "r"]
    want = [(e["op"], e["commit_lsn"]) for e in expected if e["commit_lsn"] > L]
    if after != want: die("the stream after %s has %d events, expected %d" % (L, len(after), len(want)))
    if any(e["op"] == "r" for e in events[len(rs):]): die("snapshot events after stream events")
print("checked %d events (%d r)" % (len(events), len(rs)))
PY
}

# The schema change topic <prefix> (read_committed): `count` CREATE events for dbo.test_table,
# keyed by the database, with the catalog's columns; source.commit_lsn is the LSN of the snapshot
# (lsn=snapshot: the first r event's, so it precedes the rows) or null (lsn=null: no snapshot).
check_schema_topic() {  # prefix data_topic count lsn fixture
  kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q -X isolation.level=read_committed -f '%k\t%s\n' 2> /dev/null \
    > "$RUN/schema-topic.txt"
  kcat -b "$BOOTSTRAP" -C -t "$2" -o beginning -e -q -X isolation.level=read_committed -f '%s\n' 2> /dev/null \
    > "$RUN/schema-data.txt"
  python3 - "$RUN/schema-topic.txt" "$RUN/schema-data.txt" "$3" "$4" "$5/catalog.json" <<'PY'
import json, sys
topic, data, count, lsn_mode, catalog = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def die(msg):
    print("SCHEMA CHECK FAILED: " + msg); sys.exit(1)
events = []
for line in open(topic):
    k, _, v = line.rstrip("\n").partition("\t")
    if json.loads(k)["payload"] != {"databaseName": "source_db"}: die("key " + k)
    events.append(json.loads(v)["payload"])
if len(events) != count: die("%d schema change events, expected %d" % (len(events), count))
rs = [json.loads(l)["payload"] for l in open(data) if l.strip()]
rs = [p for p in rs if p and p["op"] == "r"]
table = json.load(open(catalog))["versions"][-1]["tables"][0]
want_columns = [c["name"] for c in sorted(table["columns"], key=lambda c: c["column_id"])]
want_keys = [c["name"] for c in sorted((c for c in table["columns"] if c["key_ordinal"]), key=lambda c: c["key_ordinal"])]
for i, e in enumerate(events):
    if e["databaseName"] != "source_db" or e["schemaName"] != "dbo" or e["ddl"] is not None: die("header %s" % e)
    src = e["source"]
    if src["snapshot"] != "true" or src["table"] != "test_table" or src["change_lsn"] is not None: die("source %s" % src)
    (change,) = e["tableChanges"]
    if change["type"] != "CREATE" or change["id"] != '"source_db"."dbo"."test_table"': die("change %s" % change["id"])
    got = [c["name"] for c in change["table"]["columns"]]
    if got != want_columns: die("columns %s, catalog %s" % (got, want_columns))
    if [c["position"] for c in change["table"]["columns"]] != list(range(1, len(got) + 1)): die("positions")
    if change["table"]["primaryKeyColumnNames"] != want_keys: die("key %s" % change["table"]["primaryKeyColumnNames"])
    # fixture-gen's tables have no IDENTITY, computed columns or defaults, and say so in catalog.json:
    # the catalog query's answer (through tds-replay) reaches the event as false, not as unknown.
    for c in change["table"]["columns"]:
        if c["autoIncremented"] is not False or c["generated"] is not False or c["defaultValueExpression"] is not None:
            die("column %s: autoIncremented %s, generated %s, default %s" % (c["name"], c["autoIncremented"],
                                                                            c["generated"], c["defaultValueExpression"]))
        if c["typeName"] != next(t["type"] for t in table["columns"] if t["name"] == c["name"]): die("type " + c["name"])
last = events[-1]["source"]["commit_lsn"]
if lsn_mode == "null" and last is not None: die("commit_lsn %s without a snapshot" % last)
if lsn_mode == "snapshot" and (not rs or last != rs[0]["source"]["commit_lsn"]):
    die("commit_lsn %s is not the first snapshot event's %s" % (last, rs[0]["source"]["commit_lsn"] if rs else None))
print("schema topic: %d CREATE events" % len(events))
PY
}

run_scenario() {  # name topic_prefix
  local name=$1 prefix=$2
  port=$(free_port)
  REPLAY_ARGS="${REPLAY_ARGS_EXTRA:-} --record-batches $RUN/$name-batches.jsonl" \
    start_replay "$RUN/$name" "$port" "$RUN/$name-replay.log" || fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
  write_capture_config "$RUN/$name-capture.conf" "$port" "$BOOTSTRAP" "$prefix"
}

# 1. initial, uninterrupted: the snapshot at 2/3 of the events.
make_fixture "$RUN/initial" 0.66
run_scenario initial "${PREFIX}a"
topic="${PREFIX}a.source_db.dbo.test_table"
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/initial-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}a"
"$BIN/sqltail" capture --config "$RUN/initial-capture.conf" --set capture.stop_when_idle_ms=1500 \
  --set capture.snapshot_chunk_rows=100 > "$RUN/initial-capture.log" 2>&1 || fail "capture (initial) failed"
grep -q "snapshot complete at LSN" "$RUN/initial-capture.log" || fail "no snapshot in the initial run"
grep -q "rows (100%)" "$RUN/initial-capture.log" || fail "no progress line reaching 100%"
check_topic "$RUN/initial" "$topic" exact || fail "initial: topic check"
write_apply_config "$RUN/initial-apply.conf" "$BOOTSTRAP" "$topic" "$RUN/initial.db"
"$BIN/sqltail" apply --config "$RUN/initial-apply.conf" --set apply.stop_when_idle_ms=2000 > "$RUN/initial-apply.log" 2>&1 ||
  fail "apply failed"
"$BIN/sqltail" verify --source-rows "$RUN/initial/source.jsonl" --sqlite "$RUN/initial.db" > "$RUN/initial-verify.log" ||
  fail "initial: source and target differ"
# A second run resumes from the checkpoint: no second snapshot, nothing emitted again.
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/initial-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}a"
"$BIN/sqltail" capture --config "$RUN/initial-capture.conf" --set capture.stop_when_idle_ms=1000 \
  > "$RUN/initial-capture2.log" 2>&1 || fail "second capture failed"
grep -q "snapshot of" "$RUN/initial-capture2.log" && fail "the second run snapshotted again"
check_topic "$RUN/initial" "$topic" exact || fail "initial: topic check after the second run"
check_schema_topic "${PREFIX}a" "$topic" 1 snapshot "$RUN/initial" || fail "initial: schema topic check"

# 2. kill -9 during the snapshot (twice), restart: each restart snapshots at a later LSN.
make_fixture "$RUN/killed" 0.5 0.6 0.7
REPLAY_ARGS_EXTRA="--batch-delay-ms 15" run_scenario killed "${PREFIX}b"
topic="${PREFIX}b.source_db.dbo.test_table"
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/killed-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}b"
args=(capture --config "$RUN/killed-capture.conf" --set capture.stop_when_idle_ms=1500 --set capture.snapshot_chunk_rows=25)
chunks() { grep -c 'CONVERT(varbinary(8000)' "$RUN/killed-batches.jsonl" 2> /dev/null || true; }
for kill_no in 1 2; do
  before=$(chunks)
  "$BIN/sqltail" "${args[@]}" > "$RUN/killed-capture$kill_no.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1000); do
    (($(chunks) - before >= 4 + 3 * kill_no)) && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  kill -0 "$pid" 2> /dev/null || fail "capture $kill_no ended before the kill"
  kill -9 "$pid"
  wait "$pid" 2> /dev/null || true
done
"$BIN/sqltail" "${args[@]}" > "$RUN/killed-final.log" 2>&1 || fail "final capture failed"
grep -q "resuming the snapshot at LSN" "$RUN/killed-final.log" || fail "the final run did not resume the snapshot"
check_topic "$RUN/killed" "$topic" replay || fail "killed: topic check"
check_schema_topic "${PREFIX}b" "$topic" 1 snapshot "$RUN/killed" || fail "killed: schema topic check"
write_apply_config "$RUN/killed-apply.conf" "$BOOTSTRAP" "$topic" "$RUN/killed.db"
"$BIN/sqltail" apply --config "$RUN/killed-apply.conf" --set apply.stop_when_idle_ms=2000 > "$RUN/killed-apply.log" 2>&1 ||
  fail "apply (killed) failed"
"$BIN/sqltail" verify --source-rows "$RUN/killed/source.jsonl" --sqlite "$RUN/killed.db" > "$RUN/killed-verify.log" ||
  fail "killed: source and target differ"

# 3. never: only the log window.
make_fixture "$RUN/never" 0.66
run_scenario never "${PREFIX}c"
topic="${PREFIX}c.source_db.dbo.test_table"
"$BIN/sqltail" capture --config "$RUN/never-capture.conf" --set capture.stop_when_idle_ms=1500 \
  --set capture.snapshot_mode=never > "$RUN/never-capture.log" 2>&1 || fail "capture (never) failed"
grep -q 'CONVERT(varbinary' "$RUN/never-batches.jsonl" && fail "snapshot_mode=never sent snapshot queries"
check_topic "$RUN/never" "$topic" never || fail "never: topic check"
# A second start resumes from the first one's checkpoint: the tables are not described again.
"$BIN/sqltail" capture --config "$RUN/never-capture.conf" --set capture.stop_when_idle_ms=1000 \
  --set capture.snapshot_mode=never > "$RUN/never-capture2.log" 2>&1 || fail "second capture (never) failed"
check_topic "$RUN/never" "$topic" never || fail "never: topic check after the second run"
check_schema_topic "${PREFIX}c" "$topic" 1 null "$RUN/never" || fail "never: schema topic check"

# 4. ALLOW_SNAPSHOT_ISOLATION OFF: the capture stops with an error naming it, before any event.
make_fixture "$RUN/off" 0.66
echo '{"snapshot_isolation_state": 0}' > "$RUN/off/snapshot.json"
run_scenario off "${PREFIX}d"
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/off-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}d"
"$BIN/sqltail" capture --config "$RUN/off-capture.conf" --set capture.stop_when_idle_ms=1000 > "$RUN/off-capture.log" 2>&1 &&
  fail "capture succeeded without snapshot isolation"
grep -q "ALLOW_SNAPSHOT_ISOLATION" "$RUN/off-capture.log" || fail "the error does not name ALLOW_SNAPSHOT_ISOLATION"
grep -q 'CONVERT(varbinary' "$RUN/off-batches.jsonl" && fail "rows were read without snapshot isolation"

# 5. A captured commit between the two end-of-log reads: the attempt is dropped and retried; the
#    snapshot is exact at the retry's LSN.
make_fixture "$RUN/retry" 0.5 0.66
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["per_query"]=True; json.dump(d,open(sys.argv[1],"w"))' \
  "$RUN/retry/snapshot.json"
run_scenario retry "${PREFIX}e"
topic="${PREFIX}e.source_db.dbo.test_table"
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/retry-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}e"
"$BIN/sqltail" capture --config "$RUN/retry-capture.conf" --set capture.stop_when_idle_ms=1500 \
  > "$RUN/retry-capture.log" 2>&1 || fail "capture (retry) failed"
(($(grep -c '"BEGIN TRANSACTION"' "$RUN/retry-batches.jsonl") == 2)) || fail "the snapshot was not established on a second attempt"
second=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end_of_log"][1])' "$RUN/retry/snapshot.json")
grep -q "snapshot complete at LSN $second" "$RUN/retry-capture.log" || fail "the snapshot is not at the retry's LSN $second"
check_topic "$RUN/retry" "$topic" exact || fail "retry: topic check"

# 6. The broker rejects the data topic's batches mid-snapshot (max.message.bytes=256: an abortable
#    Kafka error): the capture aborts, replaces its producer and resumes the snapshot after its last
#    committed chunk in the same process; once the limit is lifted it finishes, exactly once.
make_fixture "$RUN/rewind" 0.5 0.6 0.7 0.8
REPLAY_ARGS_EXTRA="--batch-delay-ms 15" run_scenario rewind "${PREFIX}f"
topic="${PREFIX}f.source_db.dbo.test_table"
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/rewind-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}f"
chunks() { grep -c 'CONVERT(varbinary(8000)' "$RUN/rewind-batches.jsonl" 2> /dev/null || true; }
"$BIN/sqltail" capture --config "$RUN/rewind-capture.conf" --set capture.stop_when_idle_ms=1500 \
  --set capture.snapshot_chunk_rows=25 --set kafka.property.message.timeout.ms=5000 \
  > "$RUN/rewind-capture.log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 1 1000); do
  (($(chunks) >= 4)) && break
  kill -0 "$pid" 2> /dev/null || fail "capture ended before the broker was made to reject"
  sleep 0.01
done
"$BIN/topic_config" "$BOOTSTRAP" "$topic" max.message.bytes=256 > "$RUN/rewind-topic.log" 2>&1 || fail "topic_config failed"
for _ in $(seq 1 600); do
  grep -q "resuming the snapshot after its last committed chunk" "$RUN/rewind-capture.log" && break
  kill -0 "$pid" 2> /dev/null || fail "capture ended while the broker rejected its messages"
  sleep 0.1
done
grep -q "resuming the snapshot after its last committed chunk" "$RUN/rewind-capture.log" ||
  fail "no in-process snapshot rewind within 60 s"
"$BIN/topic_config" "$BOOTSTRAP" "$topic" >> "$RUN/rewind-topic.log" 2>&1 || fail "topic_config (reset) failed"
status=0
wait "$pid" || status=$?
((status == 0)) || fail "capture exited with $status after the limit was lifted"
grep -q "snapshot complete at LSN" "$RUN/rewind-capture.log" || fail "the rewound snapshot did not complete"
grep -q "MESSAGE_TOO_LARGE\|MSG_SIZE_TOO_LARGE" "$RUN/rewind-capture.log" || fail "the rewind was not caused by the rejected batches"
check_topic "$RUN/rewind" "$topic" replay || fail "rewind: topic check"

# 7. when_needed: a checkpoint early in the log, then the log is truncated past it with no backup.
#    The capture takes a new snapshot (exact at its LSN) and streams on from there.
make_fixture "$RUN/needed" 0.8
lines=$(wc -l < "$RUN/needed/log.jsonl")
mkdir -p "$RUN/needed-early"
cp "$RUN/needed/catalog.json" "$RUN/needed/source.jsonl" "$RUN/needed-early/"
head -n $((lines / 5)) "$RUN/needed/log.jsonl" > "$RUN/needed-early/log.jsonl"
active=$(sed -n "$((lines * 2 / 5))p" "$RUN/needed/log.jsonl" | grep -o '"Current LSN": *"[^"]*"' | cut -d'"' -f4)
[[ -n "$active" ]] || fail "when_needed: no LSN for the start of the active log"
echo "{\"active_log_from\": \"$active\"}" > "$RUN/needed/log_backups.json"
run_scenario needed-early "${PREFIX}g"
"$BIN/sqltail" capture --config "$RUN/needed-early-capture.conf" --set capture.stop_when_idle_ms=1000 \
  > "$RUN/needed-early-capture.log" 2>&1 || fail "capture (when_needed, early part) failed"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2> /dev/null || true
run_scenario needed "${PREFIX}g"
topic="${PREFIX}g.source_db.dbo.test_table"
"$BIN/sqltail" capture --config "$RUN/needed-capture.conf" --set capture.stop_when_idle_ms=1500 \
  --set capture.snapshot_mode=when_needed > "$RUN/needed-capture.log" 2>&1 || fail "capture (when_needed) failed"
grep -q "up to $active is missing.*when_needed: taking a new snapshot" "$RUN/needed-capture.log" ||
  fail "when_needed: the lost position is not reported with the new snapshot"
grep -q "snapshot complete at LSN" "$RUN/needed-capture.log" || fail "when_needed: no new snapshot"
# Only the first attempt resumes; the forced snapshot does not claim to resume from the checkpoint.
[[ $(grep -c "resuming after commit" "$RUN/needed-capture.log") == 1 ]] ||
  fail "when_needed: 'resuming after commit' logged $(grep -c "resuming after commit" "$RUN/needed-capture.log") times"
check_topic "$RUN/needed" "$topic" resnapshot || fail "when_needed: topic check"
# The first start (never) described the table without an LSN; the new snapshot describes it again.
check_schema_topic "${PREFIX}g" "$topic" 2 snapshot "$RUN/needed" || fail "when_needed: schema topic check"
echo "snapshot: initial (exact at L), kill -9 x2 during the snapshot (exactly once), never, isolation off, retry, in-process rewind on an abortable Kafka error, when_needed after a lost position: ok"
