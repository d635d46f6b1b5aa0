#!/usr/bin/env bash
# logreader-dump fixture: each filter (--table, --op, --xact, --from-lsn, --to-lsn, combined) keeps
# exactly the events of the unfiltered --json output that python3 selects by the same rule; the
# unfiltered --json output is expected.jsonl unchanged; the table has one row per event.
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
dump() { "$BIN/logreader-dump" fixture "$run/fixture" "$@"; }

"$BIN/fixture-gen" --workload updates --rows 12 --rows-per-transaction 3 --updates 9 --deletes 4 --rollbacks 2 \
  --seed 7 --out "$run/fixture" > /dev/null 2>&1
dump --json > "$run/all.jsonl"
cmp -s "$run/all.jsonl" "$run/fixture/expected.jsonl" || { echo "FAIL unfiltered --json differs from expected.jsonl"; exit 1; }

# pick FILTER_EXPRESSION: the lines of all.jsonl for which the python expression over `e` holds.
pick() {
  python3 - "$run/all.jsonl" "$1" <<'PY'
import json, sys
def lsn(text):  # fn_dblog form "0000004c:00006999:0002" -> comparable tuple
    return tuple(int(part, 16) for part in text.split(":"))
expr = compile(sys.argv[2], "filter", "eval")
for line in open(sys.argv[1]):
    e = json.loads(line)
    if eval(expr, {"lsn": lsn, "e": e}):
        sys.stdout.write(line)
PY
}

failures=0
# expect WHAT PYTHON_EXPRESSION logreader-dump-flags...: filtered --json equals python's selection,
# which must be a proper, non-empty subset (or explicitly empty for EMPTY_OK cases).
expect() {
  local what=$1 expr=$2
  shift 2
  pick "$expr" > "$run/want"
  dump --json "$@" > "$run/got"
  local want_n all_n
  want_n=$(wc -l < "$run/want")
  all_n=$(wc -l < "$run/all.jsonl")
  if ! cmp -s "$run/want" "$run/got"; then
    echo "FAIL $what: $(wc -l < "$run/got") events, expected $want_n"
    diff "$run/want" "$run/got" | head -5
    failures=$((failures + 1))
  elif [[ "${EMPTY_OK:-}" != 1 && ($want_n -eq 0 || $want_n -eq $all_n) ]]; then
    echo "FAIL $what: the selection ($want_n of $all_n) does not exercise the filter"
    failures=$((failures + 1))
  else
    echo "ok   $what: $want_n of $all_n events"
  fi
}

expect "--op u" 'e["op"] == "u"' --op u
expect "--op c,d" 'e["op"] in ("c", "d")' --op c,d
expect "--op d --op u (repeated)" 'e["op"] in ("d", "u")' --op d --op u
expect "--op insert" 'e["op"] == "c"' --op insert
# The second transaction's id, as printed, and in upper case.
xact=$(python3 -c 'import json,sys; ids=[]
for l in open(sys.argv[1]):
    t=json.loads(l)["transaction_id"]
    if t not in ids: ids.append(t)
print(ids[1])' "$run/all.jsonl")
expect "--xact $xact" "e['transaction_id'] == '$xact'" --xact "$xact"
expect "--xact (upper case)" "e['transaction_id'] == '$xact'" --xact "${xact^^}"
# LSN bounds: the change LSN of the 5th and 15th events, given in other forms Lsn::Parse accepts.
from=$(sed -n 5p "$run/all.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["change_lsn"])')
to=$(sed -n 15p "$run/all.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["change_lsn"])')
from_decimal=$(python3 -c 'import sys; print(":".join(str(int(p, 16)) for p in sys.argv[1].split(":")))' "$from")
to_hexarg=$(python3 -c 'import sys; print("0x" + sys.argv[1].upper())' "$to")
expect "--from-lsn $from_decimal" "lsn(e['change_lsn']) >= lsn('$from')" --from-lsn "$from_decimal"
expect "--to-lsn $to_hexarg" "lsn(e['change_lsn']) <= lsn('$to')" --to-lsn "$to_hexarg"
expect "--from-lsn --to-lsn --op u" \
  "lsn('$from') <= lsn(e['change_lsn']) <= lsn('$to') and e['op'] == 'u'" --from-lsn "$from" --to-lsn "$to" --op u
EMPTY_OK=1 expect "--table dbo.test_table (all)" 'True' --table dbo.test_table
EMPTY_OK=1 expect "--table DBO.TEST_* (wildcard, any case)" 'True' --table 'DBO.TEST_*'
EMPTY_OK=1 expect "--table dbo.other (none)" 'False' --table dbo.other
EMPTY_OK=1 expect "--table dbo.other --table dbo.test_t?ble" 'True' --table dbo.other --table 'dbo.test_t?ble'

# The table for people: a header plus one row per event, with the op spelled out and the key shown.
dump --op d > "$run/table.txt"
deletes=$(pick 'e["op"] == "d"' | wc -l)
if [[ $(head -1 "$run/table.txt") != LSN*OP*TABLE*TRANSACTION*KEY*CHANGED ||
  $(tail -n +2 "$run/table.txt" | grep -c ' delete  *dbo\.test_table .* id=[0-9]') -ne $deletes ||
  $(wc -l < "$run/table.txt") -ne $((deletes + 1)) ]]; then
  echo "FAIL table output:"; cat "$run/table.txt"; failures=$((failures + 1))
else
  echo "ok   table: header + $deletes delete rows"
fi
# An update row names the changed column with its old and new value.
if ! dump --op u | grep -q 'update .* text: ".* -> "'; then
  echo "FAIL update rows do not show 'text: old -> new'"; failures=$((failures + 1))
else
  echo "ok   table: update rows show text: old -> new"
fi

# Bad filter values are errors naming the option.
for bad in "--op x" "--xact 12" "--from-lsn nope" "--to-lsn 1:2"; do
  # shellcheck disable=SC2086  # split the option and its value
  if dump $bad > /dev/null 2> "$run/err" || ! grep -q -- "${bad%% *}" "$run/err"; then
    echo "FAIL $bad: no error naming the option ($(cat "$run/err"))"; failures=$((failures + 1))
  else
    echo "ok   $bad: $(cat "$run/err")"
  fi
done
exit $((failures > 0))
