#!/usr/bin/env bash
# sqltail verify on the mixed workload (three tables of many SQL Server types): captured, applied into
# the target (sqlite or postgresql, the first argument), then verify normalises both sides by the
# fixture catalog's column types and must say every table matches. One value changed in the target
# (a date by a day, a datetime2(7) by one nanosecond, a money value by 0.0001) must make verify report
# that table as different, and it must match again once the value is back. Then the same workload
# captured with the other type modes (time_precision_mode=connect, decimal_handling_mode=string,
# binary_handling_mode=hex) must match when verify is told those modes.
kind=${1:?usage: verify_types_test.sh sqlite|postgresql}
[[ "$kind" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
TABLES=(orders accounts audit_log)
echo "verify types test ($kind)"
topics_of() {  # prefix
  local t list=""
  for t in "${TABLES[@]}"; do list+="${list:+,}$1.source_db.dbo.$t"; done
  echo "$list"
}

capture_generated --workload mixed --transactions "${MIXED_TRANSACTIONS:-3000}" --seed 23
topics=$(topics_of "$PREFIX")
if [[ "$kind" == sqlite ]]; then
  printf '[apply]\ntopics = %s\n[target]\nkind = sqlite\npath = %s\n[kafka]\nbootstrap_servers = %s\n' \
    "$topics" "$RUN/target.db" "$BOOTSTRAP" > "$RUN/apply.conf"
  query() { sqlite3 "$RUN/target.db" "$1"; }
  verify() {
    "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" "${VERIFY_ARGS[@]}"
  }
  reset_target() { rm -f "$RUN/target.db"; }
else
  write_pg_apply_config "$RUN/apply.conf" "$topics"
  query() { psql "$PG_DSN" -Atq -v ON_ERROR_STOP=1 -c "SET search_path = \"$PG_SCHEMA\"; $1"; }
  verify() {
    "$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --postgres "$PG_DSN" --schema "$PG_SCHEMA" \
      "${VERIFY_ARGS[@]}"
  }
  reset_target() { psql "$PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$PG_SCHEMA\" CASCADE" > /dev/null 2>&1; }
fi
VERIFY_ARGS=()
apply_all() {
  "$BIN/sqltail" apply --config "$RUN/apply.conf" --set apply.transaction_topic="$PREFIX.transaction" \
    --set apply.stop_when_idle_ms=1500 > "$RUN/apply.log" 2>&1 || fail "apply failed"
}
apply_all

# expect_verify WHAT EXIT DIFFERING: verify exits EXIT and reports exactly the tables in DIFFERING
# (space-separated source names) as DIFFER, the others as match.
expect_verify() {
  local what=$1 want_exit=$2 differing=" $3 " status=0 t line
  verify > "$RUN/verify.log" 2>&1 || status=$?
  cat "$RUN/verify.log"
  [[ "$status" == "$want_exit" ]] || fail "$what: verify exited $status, not $want_exit"
  for t in "${TABLES[@]}"; do
    line=$(grep "^verify: dbo.$t -> $t: source" "$RUN/verify.log") || fail "$what: verify printed no line for dbo.$t"
    if [[ "$differing" == *" dbo.$t "* ]]; then
      [[ "$line" == *": DIFFER" ]] || fail "$what: dbo.$t is not reported as different"
    else
      [[ "$line" == *": match" ]] || fail "$what: dbo.$t is not reported as matching"
    fi
  done
  ! grep -q "not compared" "$RUN/verify.log" || fail "$what: verify left columns out of the comparison"
}
expect_verify "as applied" 0 ""

# The WHERE clause naming the first row of a keyed table by its key.
one_row() {  # table
  local id line
  if [[ "$1" == orders ]]; then
    IFS='|' read -r id line <<< "$(query "SELECT order_id, line_no FROM orders ORDER BY 1, 2 LIMIT 1")"
    echo "order_id = $id AND line_no = $line"
  else
    echo "id = $(query "SELECT id FROM $1 ORDER BY 1 LIMIT 1")"
  fi
}
# Each change, then its undo: the typed columns are compared exactly, to the last unit stored.
changes=(
  "orders|placed = placed + 1|placed = placed - 1"
  "accounts|opened = opened + 1|opened = opened - 1"
)
if [[ "$kind" == sqlite ]]; then
  changes+=("orders|price = printf('%.4f', price + 0.0001)|price = printf('%.4f', price - 0.0001)")
else
  changes+=("orders|price = price + 0.0001|price = price - 0.0001")
fi
for change in "${changes[@]}"; do
  IFS='|' read -r table set undo <<< "$change"
  where=$(one_row "$table")
  query "UPDATE $table SET $set WHERE $where" > /dev/null || fail "cannot change $table ($set)"
  expect_verify "after $table: $set" 2 "dbo.$table"
  query "UPDATE $table SET $undo WHERE $where" > /dev/null || fail "cannot undo $table ($undo)"
  expect_verify "after $table: $undo" 0 ""
done

# The other modes: a new capture (topics of their own), applied into an emptied target.
PREFIX="${PREFIX}m"
CAPTURE_SET=(--set capture.time_precision_mode=connect --set capture.decimal_handling_mode=string
  --set capture.binary_handling_mode=hex)
capture_generated --workload mixed --transactions "${MIXED_TRANSACTIONS:-3000}" --seed 23
reset_target
sed -i "s/^topics = .*/topics = $(topics_of "$PREFIX")/" "$RUN/apply.conf"
# The applier types the columns of schema change events as the capture's modes say.
printf '[apply]\ntime_precision_mode = connect\ndecimal_handling_mode = string\nbinary_handling_mode = hex\n' \
  >> "$RUN/apply.conf"
apply_all
VERIFY_ARGS=(--binary-handling-mode hex --decimal-handling-mode string)
expect_verify "modes connect/string/hex, verify told only string/hex" 2 "dbo.accounts"
VERIFY_ARGS+=(--time-precision-mode connect)
expect_verify "modes connect/string/hex" 0 ""
grep -q "^verify: dbo.accounts -> accounts: column opened (type datetime2) compared to the millisecond" \
  "$RUN/verify.log" || fail "verify did not say datetime2(7) is compared to the millisecond under connect"
echo "verify types test ($kind): every table matches; a changed date, datetime2(7) and money value each differ;" \
  "the connect/string/hex modes match too"
