#!/usr/bin/env bash
# For several seeds and transaction sizes, `logreader-dump fixture DIR --json` prints exactly the
# generator's expected.jsonl.
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
for seed in 1 2 3; do
  for k in 1 4 50; do
    "$BIN/fixture-gen" --workload inserts --rows 700 --seed $seed --rows-per-transaction $k --out "$run/f" > /dev/null
    "$BIN/logreader-dump" fixture "$run/f" --json > "$run/out.jsonl"
    if ! cmp -s "$run/out.jsonl" "$run/f/expected.jsonl"; then
      echo "seed $seed, $k rows per transaction: events differ from expected.jsonl"
      diff "$run/out.jsonl" "$run/f/expected.jsonl" | head -5
      exit 1
    fi
    rm -rf "$run/f"
  done
done
echo "9 fixtures: events equal expected.jsonl"
