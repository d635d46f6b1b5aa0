#!/usr/bin/env bash
# A schema change in the log reaches the schema change topic exactly once: fixture-gen's add-column
# workload (INSERTs, ALTER TABLE ADD qty inside BEGIN TRAN, INSERTs) served by tds-replay with a
# growing log, so the capture reads the catalog before the ALTER and must find it in the log. The
# topic <prefix> then holds the first start's CREATE (2 columns) and one ALTER (3 columns, at the
# ALTER's commit LSN), also after a second run; the data topic holds every row once, the rows after
# the ALTER with qty.
BIN=${BIN:?} REPO=${REPO:?}
source "$REPO/tests/eos/common.sh"
ROWS=30
"$BIN/fixture-gen" --workload add-column --rows $ROWS --out "$RUN/fixture" > /dev/null 2>&1 || fail "fixture-gen failed"
port=$(free_port)
REPLAY_ARGS="--log-growth-rows-per-s 40" start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
for run in 1 2; do
  "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=3000 \
    > "$RUN/capture$run.log" 2>&1 || fail "capture run $run failed"
done
grep -q "schema change committed at .*ALTER dbo.test_table" "$RUN/capture1.log" || fail "run 1 did not log the ALTER"
! grep -q "schema change committed at" "$RUN/capture2.log" || fail "run 2 found the ALTER again"

topic="$PREFIX.source_db.dbo.test_table"
expect_each_id_once "$topic" $((2 * ROWS))
kcat -b "$BOOTSTRAP" -C -t "$PREFIX" -o beginning -e -q -X isolation.level=read_committed -f '%s\n' 2> /dev/null \
  > "$RUN/schema.txt"
kcat -b "$BOOTSTRAP" -C -t "$topic" -o beginning -e -q -X isolation.level=read_committed -f '%s\n' 2> /dev/null \
  > "$RUN/data.txt"
alter_commit=$(grep -o '"Current LSN":"[^"]*","Operation":"LOP_COMMIT_XACT"' "$RUN/fixture/log.jsonl" |
  sed -n "$((ROWS + 1))p" | cut -d'"' -f4)
python3 - "$RUN/schema.txt" "$RUN/data.txt" "$alter_commit" "$ROWS" <<'PY' || fail "topic check"
import json, sys
schema, data, alter_commit, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def die(msg):
    print("CHECK FAILED: " + msg); sys.exit(1)
events = [json.loads(l)["payload"] for l in open(schema) if l.strip()]
kinds = [(e["tableChanges"][0]["type"], [c["name"] for c in e["tableChanges"][0]["table"]["columns"]]) for e in events]
if kinds != [("CREATE", ["id", "text"]), ("ALTER", ["id", "text", "qty"])]: die("schema events %s" % kinds)
alter = events[1]
if alter["source"]["commit_lsn"] != alter_commit or alter["source"]["snapshot"] != "false":
    die("ALTER source %s, expected commit_lsn %s" % (alter["source"], alter_commit))
qty = alter["tableChanges"][0]["table"]["columns"][2]
if qty["typeName"] != "int" or qty["optional"] is not True or qty["position"] != 3: die("qty column %s" % qty)
after = [json.loads(l)["payload"]["after"] for l in open(data) if l.strip() and l.strip() != "null"]
for row in after:
    want = {"id": row["id"], "text": "before %d" % row["id"]} if row["id"] < rows else \
           {"id": row["id"], "text": "after %d" % row["id"], "qty": row["id"] * 10}
    if row != want: die("row %s, expected %s" % (row, want))
PY
echo "ok   CREATE then one ALTER (3 columns, commit $alter_commit) across two runs; $((2 * ROWS)) rows once, qty after the ALTER"
