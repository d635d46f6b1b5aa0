#!/usr/bin/env bash
# The updates workload (inserts, then UPDATEs of [text] at the same and other lengths, ghosted
# DELETEs, rolled-back UPDATEs and rollbacks to a savepoint in committed transactions): for several
# seeds `logreader-dump fixture DIR --json` prints exactly the generator's expected.jsonl, and
# replaying those events (c: upsert after, u: upsert after, d: delete before) leaves exactly source.jsonl.
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
count=0
for seed in 1 2 3 4; do
  for k in 1 7; do
    "$BIN/fixture-gen" --workload updates --rows 400 --updates 300 --deletes 60 --rollbacks 5 --savepoints 5 --seed $seed \
      --rows-per-transaction $k --out "$run/f" 2> /dev/null
    "$BIN/logreader-dump" fixture "$run/f" --json > "$run/out.jsonl"
    if ! cmp -s "$run/out.jsonl" "$run/f/expected.jsonl"; then
      echo "seed $seed, $k rows per transaction: events differ from expected.jsonl"
      diff "$run/out.jsonl" "$run/f/expected.jsonl" | head -5
      exit 1
    fi
    grep -q '"op":"u"' "$run/out.jsonl" || { echo "seed $seed: no update events"; exit 1; }
    grep -q '"op":"d"' "$run/out.jsonl" || { echo "seed $seed: no delete events"; exit 1; }
    if grep -q '"unavailable"' "$run/out.jsonl"; then
      echo "seed $seed: unavailable columns although every row was inserted inside the fixture"
      exit 1
    fi
    python3 - "$run/out.jsonl" "$run/f/source.jsonl" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["op"] in ("c", "u"):
        rows[e["after"]["id"]] = e["after"]
    elif e["op"] == "d":
        rows.pop(e["before"]["id"])
want = [json.loads(l)["row"] for l in open(sys.argv[2])]
got = [rows[k] for k in sorted(rows)]
if got != want:
    sys.exit("applied events differ from source.jsonl")
PY
    rm -rf "$run/f"
    count=$((count + 1))
  done
done
echo "$count update fixtures: events equal expected.jsonl, applied events equal source.jsonl"
