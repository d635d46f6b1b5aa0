#!/usr/bin/env bash
# The mixed workload (three tables of many types, overlapping transactions, multi-row statements,
# updates, ghosted and heap deletes, key changes, rollbacks and savepoint rollbacks, page splits,
# multi-region LOP_MODIFY_COLUMNS): for 20 seeds
# `logreader-dump fixture DIR --json` prints exactly the generator's expected.jsonl, and replaying
# those events onto empty tables (c: insert after, u: replace before by after, d: remove before; rows
# of keyed tables by key, heap rows by their whole value) leaves exactly source.jsonl.
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
for seed in $(seq 1 20); do
  "$BIN/fixture-gen" --workload mixed --transactions 300 --seed "$seed" --out "$run/f" 2> /dev/null
  "$BIN/logreader-dump" fixture "$run/f" --json > "$run/out.jsonl"
  if ! cmp -s "$run/out.jsonl" "$run/f/expected.jsonl"; then
    echo "seed $seed: events differ from expected.jsonl"
    diff "$run/out.jsonl" "$run/f/expected.jsonl" | head -5
    exit 1
  fi
  python3 - "$seed" "$run/out.jsonl" "$run/f/source.jsonl" "$run/f/log.jsonl" <<'PY'
import collections, json, sys
seed, events, source, log = sys.argv[1:]
tables = collections.defaultdict(dict)  # table -> identity -> row
def identity(e, row):
    return json.dumps(e["key"] if e["key"] is not None else row, sort_keys=True)
ops = collections.Counter()
for line in open(events):
    e = json.loads(line)
    t = tables[e["schema"] + "." + e["table"]]
    ops[(e["table"], e["op"])] += 1
    if e["op"] == "c":
        k = identity(e, e["after"])
        if k in t: sys.exit(f"seed {seed}: insert of an existing row {k}")
        t[k] = e["after"]
    elif e["op"] == "u":
        k = identity(e, e["before"])
        if t.get(k) != e["before"]: sys.exit(f"seed {seed}: update's before is not the row: {k}")
        del t[k]
        t[identity(e, e["after"])] = e["after"]
    elif e["op"] == "d":
        k = identity(e, e["before"])
        if t.pop(k, None) != e["before"]: sys.exit(f"seed {seed}: delete's before is not the row: {k}")
    if "unavailable" in e: sys.exit(f"seed {seed}: unavailable columns although every row was inserted in the fixture")
want = collections.defaultdict(list)
for line in open(source):
    s = json.loads(line)
    want[s["table"]].append(json.dumps(s["row"], sort_keys=True))
for name in set(want) | set(tables):
    got = sorted(json.dumps(r, sort_keys=True) for r in tables[name].values())
    if got != sorted(want[name]): sys.exit(f"seed {seed}: applied events differ from source.jsonl for {name}")
# The workload must really contain what it claims (a test that cannot fail is no test).
for table in ("orders", "accounts", "audit_log"):
    for op in "cud":
        if ops[(table, op)] == 0: sys.exit(f"seed {seed}: no {op} events for {table}")
records = [json.loads(l) for l in open(log)]
by_txn = collections.defaultdict(list)
open_now, most_open = set(), 0
for r in records:
    by_txn[r["Transaction ID"]].append(r)
    if r["Operation"] == "LOP_BEGIN_XACT": open_now.add(r["Transaction ID"])
    if r["Operation"] in ("LOP_COMMIT_XACT", "LOP_ABORT_XACT"): open_now.discard(r["Transaction ID"])
    most_open = max(most_open, len(open_now))
def clr(r): return r["Log Record"][30:34] == "0300"  # flag bits 0x0003, little-endian at offset 14
aborted = sum(1 for rs in by_txn.values() if rs[-1]["Operation"] == "LOP_ABORT_XACT")
savepoints = sum(1 for rs in by_txn.values() if rs[-1]["Operation"] == "LOP_COMMIT_XACT" and any(map(clr, rs)))
# Page splits: SplitPage system transactions whose moved rows (INSERT_ROWS) must not become events.
splits = [rs for rs in by_txn.values() if any(r["Operation"] == "LOP_DELETE_SPLIT" for r in rs)]
moved = sum(1 for rs in splits for r in rs if r["Operation"] == "LOP_INSERT_ROWS")
multi = sum(1 for r in records if r["Operation"] == "LOP_MODIFY_COLUMNS")
if most_open < 2 or aborted == 0 or savepoints == 0 or not splits or moved == 0 or multi == 0:
    sys.exit(f"seed {seed}: {most_open} transactions open at once, {aborted} aborted, {savepoints} savepoint "
             f"rollbacks, {len(splits)} page splits moving {moved} rows, {multi} LOP_MODIFY_COLUMNS")
PY
  rm -rf "$run/f"
done
echo "20 mixed fixtures of 300 transactions: events equal expected.jsonl, applied events equal source.jsonl"
