#!/usr/bin/env bash
# One 200,000-row INSERT transaction: `logreader-dump fixture DIR --json` with a 1 MB transaction
# memory budget (spilling to a temporary directory) prints exactly expected.jsonl, as the in-memory
# path does, and leaves no file behind in the spill directory (spill files are unlinked at creation).
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
mkdir "$run/spill"
"$BIN/fixture-gen" --workload inserts --rows 200000 --rows-per-transaction 200000 --seed 11 --out "$run/f" 2> /dev/null
"$BIN/logreader-dump" fixture --dir "$run/f" --json --txn-memory-budget-mb 1 --spill-dir "$run/spill" > "$run/out.jsonl"
cmp -s "$run/out.jsonl" "$run/f/expected.jsonl" || { echo "spilled events differ from expected.jsonl"; exit 1; }
[ "$(wc -l < "$run/out.jsonl")" -eq 200000 ] || { echo "expected 200000 events"; exit 1; }
[ -z "$(ls -A "$run/spill")" ] || { echo "spill directory not empty"; exit 1; }
# A spill directory that does not exist: an error naming it, no events.
if "$BIN/logreader-dump" fixture --dir "$run/f" --json --txn-memory-budget-mb 1 --spill-dir "$run/missing" \
  > "$run/out2.jsonl" 2> "$run/err.txt"; then
  echo "a missing spill directory was accepted"
  exit 1
fi
grep -q "$run/missing" "$run/err.txt" || { echo "error does not name the spill directory"; cat "$run/err.txt"; exit 1; }
[ ! -s "$run/out2.jsonl" ] || { echo "events printed although the transaction could not be spilled"; exit 1; }
echo "200,000-row transaction spilled under a 1 MB budget: events equal expected.jsonl"
