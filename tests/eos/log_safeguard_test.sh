#!/usr/bin/env bash
# capture.log_safeguard = repldone through a real broker, against tds-replay recording every batch:
# (1) the capture calls sp_repldone between polls, each time with the (begin, commit) LSNs of the
#     last transaction of a committed checkpoint, in commit order, the last one at stop being the
#     last transaction of the log, and every id reaches Kafka exactly once;
# (2) when the server refuses (error 18752, another connection holds log reader access) the capture
#     goes on, counts and logs the refusals, and loses nothing;
# (3) with the default (none) it never calls sp_repldone.
source "$(dirname "$0")/common.sh"
ROWS=2000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 23 --rows-per-transaction 2 --out "$RUN/fixture" > /dev/null
port=$(free_port)
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture() {  # prefix log [--set ...]
  local prefix=$1 log=$2
  shift 2
  "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.topic_prefix="$prefix" \
    --set capture.stop_when_idle_ms=1500 --set capture.poll_batch_rows=300 --set kafka.txn_max_events=50 "$@" \
    > "$RUN/$log" 2>&1
}
serve() {  # fixture batches_file
  REPLAY_ARGS="--record-batches $2" start_replay "$1" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
}
stop_serving() { kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true; }

# 1. Marks.
serve "$RUN/fixture" "$RUN/batches1.jsonl"
capture "${PREFIX}a" capture1.log --set capture.log_safeguard=repldone --set capture.safeguard_interval_ms=100 ||
  fail "capture with the safeguard failed"
stop_serving
expect_each_id_once "${PREFIX}a.source_db.dbo.test_table" $ROWS
python3 - "$RUN/batches1.jsonl" "$RUN/fixture/log.jsonl" <<'PY' || fail "the sp_repldone calls"
import json, re, sys
def lsn(text):  # "0000001a:0000003b:0001" -> (26, 59, 1)
    return tuple(int(p, 16) for p in text.split(":"))
def binary(b):  # "0x0000001A0000003B0001" -> (26, 59, 1)
    return (int(b[2:10], 16), int(b[10:18], 16), int(b[18:22], 16))
begins, commits = {}, []
for line in open(sys.argv[2]):
    row = json.loads(line)
    if row["Operation"] == "LOP_BEGIN_XACT":
        begins[row["Transaction ID"]] = lsn(row["Current LSN"])
    elif row["Operation"] == "LOP_COMMIT_XACT":
        commits.append((begins[row["Transaction ID"]], lsn(row["Current LSN"])))
valid = set(commits)
marks = []
pattern = re.compile(r"^EXEC sp_repldone @xactid = (0x[0-9A-F]{20}), @xact_seqno = (0x[0-9A-F]{20}), "
                     r"@numtrans = 0, @time = 0, @reset = 0$")
for line in open(sys.argv[1]):
    sql = json.loads(line)["sql"]
    if "sp_repldone" not in sql:
        continue
    m = pattern.match(sql)
    assert m, "unexpected batch: " + sql
    marks.append((binary(m.group(1)), binary(m.group(2))))
assert len(marks) >= 3, "only %d sp_repldone calls" % len(marks)
for mark in marks:
    assert mark in valid, "%r is not the (begin, commit) of a transaction of the log" % (mark,)
assert all(a[1] < b[1] for a, b in zip(marks, marks[1:])), "marks not in commit order"
assert marks[-1] == commits[-1], "the last mark %r is not the last transaction %r" % (marks[-1], commits[-1])
print("%d sp_repldone calls, in commit order, the last at the end of the log" % len(marks))
PY
grep -q "log safeguard: [0-9]* sp_repldone marks, 0 refused" "$RUN/capture1.log" || fail "no safeguard summary"

# 2. The server refuses: the capture goes on.
cp -r "$RUN/fixture" "$RUN/fixture-denied"
echo '{"deny": ["repldone"]}' > "$RUN/fixture-denied/server.json"
serve "$RUN/fixture-denied" "$RUN/batches2.jsonl"
capture "${PREFIX}b" capture2.log --set capture.log_safeguard=repldone --set capture.safeguard_interval_ms=100 ||
  fail "capture with a refused safeguard failed"
stop_serving
expect_each_id_once "${PREFIX}b.source_db.dbo.test_table" $ROWS
grep -q "log safeguard: 0 sp_repldone marks, [1-9][0-9]* refused" "$RUN/capture2.log" || fail "refusals not counted"
grep -q "capture.log_safeguard = repldone: sp_repldone up to the transaction committed at .*18752" "$RUN/capture2.log" ||
  fail "the refusal is not logged with the server's error"

# 3. Default: no sp_repldone.
serve "$RUN/fixture" "$RUN/batches3.jsonl"
capture "${PREFIX}c" capture3.log || fail "capture without the safeguard failed"
stop_serving
expect_each_id_once "${PREFIX}c.source_db.dbo.test_table" $ROWS
! grep -q sp_repldone "$RUN/batches3.jsonl" || fail "sp_repldone was called with log_safeguard = none"
echo "PASS: log safeguard (repldone)"
