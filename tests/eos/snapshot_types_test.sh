#!/usr/bin/env bash
# The initial snapshot of the mixed workload's tables (money, decimal, date, datetime2(3/7),
# datetime, uniqueidentifier, char, varchar, nvarchar, nchar, varbinary, bit, heap audit_log), read
# through the documented CONVERT text forms (engine/src/snapshot_text.cpp) against tds-replay:
#  - the reference: a capture of the whole log (snapshot_mode=never), replayed up to the snapshot
#    LSN L, gives the rows live at L with the values the log decoder renders from the stored bytes;
#  - the snapshot: the same fixture with the log cut at 1/3 (the earlier changes exist only in the
#    tables) and snapshot_mode=initial; its `r` events must equal those rows, value for value, per
#    table, and must equal the fixture's own values (expected.jsonl) where the encoder leaves them as
#    the decoder renders them.
source "$(dirname "$0")/common.sh"
"$BIN/fixture-gen" --workload mixed --transactions 120 --seed 11 --out "$RUN/full" > /dev/null 2>&1 ||
  fail "fixture-gen failed"

# The log cut before the transaction of the event at 1/3; the end of the log at the snapshot at 2/3.
mkdir -p "$RUN/cut"
cp "$RUN/full/catalog.json" "$RUN/full/source.jsonl" "$RUN/cut/"
python3 - "$RUN/full" "$RUN/cut" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
events = [json.loads(l) for l in open(src + "/expected.jsonl") if l.strip()]
cut = events[len(events) // 3]["begin_lsn"]
with open(dst + "/pre_window.jsonl", "w") as pre, open(dst + "/expected.jsonl", "w") as exp:
    for e in events:
        (pre if e["commit_lsn"] < cut else exp).write(json.dumps(e) + "\n")
with open(src + "/log.jsonl") as log, open(dst + "/log.jsonl", "w") as out:
    for line in log:
        if line.strip() and json.loads(line)["Current LSN"] >= cut:
            out.write(line)
json.dump({"end_of_log": [events[int(len(events) * 0.66)]["commit_lsn"]]}, open(dst + "/snapshot.json", "w"))
PY

capture() {  # name fixture prefix snapshot_mode
  local name=$1 fixture=$2 prefix=$3 mode=$4 port
  port=$(free_port)
  start_replay "$fixture" "$port" "$RUN/$name-replay.log" || fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
  SQLTAIL_SNAPSHOT_MODE=$mode write_capture_config "$RUN/$name-capture.conf" "$port" "$BOOTSTRAP" "$prefix"
  "$BIN/sqltail" capture --config "$RUN/$name-capture.conf" --set capture.stop_when_idle_ms=1500 \
    --set capture.snapshot_chunk_rows=7 > "$RUN/$name-capture.log" 2>&1 || fail "capture ($name) failed"
  kill "$REPLAY_PID"
  wait "$REPLAY_PID" 2> /dev/null || true
  for table in orders accounts audit_log; do
    kcat -b "$BOOTSTRAP" -C -t "$prefix.source_db.dbo.$table" -o beginning -e -q -X isolation.level=read_committed \
      -f '%s\n' 2> /dev/null > "$RUN/$name-$table.txt" || true
  done
}
capture reference "$RUN/full" "${PREFIX}ref" never
capture snapshot "$RUN/cut" "${PREFIX}snap" initial
grep -q "snapshot complete at LSN" "$RUN/snapshot-capture.log" || fail "no snapshot"

python3 - "$RUN" "$RUN/full/expected.jsonl" <<'PY'
import json, sys
run, expected_path = sys.argv[1], sys.argv[2]
def die(msg):
    print("CHECK FAILED: " + msg); sys.exit(1)
def payloads(name, table):
    out = []
    for line in open("%s/%s-%s.txt" % (run, name, table)):
        line = line.strip()
        if line and line != "":
            out.append(json.loads(line)["payload"])
    return out
def canon(row):
    return json.dumps(row, sort_keys=True)
fixture = {}  # table -> list of fixture rows live at L, keyed like the topic rows
expected = [json.loads(l) for l in open(expected_path) if l.strip()]
total = 0
L = None
for table in ("orders", "accounts", "audit_log"):
    snap = payloads("snapshot", table)
    rs = [p for p in snap if p["op"] == "r"]
    if not rs: die("%s: no snapshot events" % table)
    lsns = {p["source"]["commit_lsn"] for p in rs}
    if len(lsns) != 1: die("%s: r events carry %d LSNs" % (table, len(lsns)))
    L = lsns.pop()
    # The reference stream replayed up to L: a multiset of after-images (audit_log is a heap).
    live = []
    for p in payloads("reference", table):
        if p["source"]["commit_lsn"] > L: break
        if p["op"] in ("u", "d"):
            b = canon(p["before"])
            if b not in live: die("%s: reference %s of an absent row" % (table, p["op"]))
            live.remove(b)
        if p["op"] in ("c", "u"):
            live.append(canon(p["after"]))
    got = sorted(canon(p["after"]) for p in rs)
    if got != sorted(live):
        missing = sorted(set(live) - set(got))[:2]
        extra = sorted(set(got) - set(live))[:2]
        die("%s: %d r events, %d rows live at %s; first missing %s; first unexpected %s" %
            (table, len(got), len(live), L, missing, extra))
    for col in rs[0]["after"]:
        if all(p["after"][col] is None for p in rs): die("%s: column %s is NULL in every r event" % (table, col))
    # And each r value equals the fixture's canonical value when the encoder passes it through.
    fx = []
    for e in expected:
        if e["commit_lsn"] > L: break
        if e["table"] != table: continue
        if e["op"] in ("u", "d"): fx.remove(e["before"])
        if e["op"] in ("c", "u"): fx.append(e["after"])
    same = 0
    for col in rs[0]["after"]:
        a = sorted(json.dumps(p["after"][col]) for p in rs)
        b = sorted(json.dumps(r[col]) for r in fx)
        if a == b: same += 1
    print("%s: %d r events equal the %d rows live at %s; %d of %d columns equal the fixture's values verbatim" %
          (table, len(rs), len(live), L, same, len(rs[0]["after"])))
    total += len(rs)
print("checked %d snapshot rows" % total)
PY
# Text the parser refuses (here a money value of the fixture made malformed): the capture stops with
# an error naming the table, the column and the text.
mkdir -p "$RUN/bad"
cp "$RUN/cut/catalog.json" "$RUN/cut/source.jsonl" "$RUN/cut/log.jsonl" "$RUN/cut/snapshot.json" "$RUN/bad/"
python3 - "$RUN/cut" "$RUN/bad" <<'PY'
import json, sys
for name in ("pre_window.jsonl", "expected.jsonl"):
    with open(sys.argv[1] + "/" + name) as src, open(sys.argv[2] + "/" + name, "w") as dst:
        for line in src:
            e = json.loads(line)
            for side in ("before", "after"):
                if e["table"] == "orders" and e.get(side): e[side]["price"] = "12.3x"
            dst.write(json.dumps(e) + "\n")
PY
port=$(free_port)
start_replay "$RUN/bad" "$port" "$RUN/bad-replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
SQLTAIL_SNAPSHOT_MODE=initial write_capture_config "$RUN/bad-capture.conf" "$port" "$BOOTSTRAP" "${PREFIX}bad"
"$BIN/sqltail" capture --config "$RUN/bad-capture.conf" --set capture.stop_when_idle_ms=1000 > "$RUN/bad-capture.log" 2>&1 &&
  fail "the capture accepted a malformed money text"
grep -q "dbo.orders column price (money): the server sent '12.3x': not a decimal number" "$RUN/bad-capture.log" ||
  fail "the error does not name the table, the column and the text"
echo "snapshot of the mixed types: ok"
