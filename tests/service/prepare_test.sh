#!/usr/bin/env bash
# sqltail prepare against tds-replay standing in for a source described by server.json: --dry-run
# prints the plan and changes nothing; a real run sends exactly the planned statements (tds-replay
# records every batch); what cannot be read is UNKNOWN, never assumed.
set -uo pipefail
run=$(mktemp -d)
replay_pid=
trap '[[ -n "$replay_pid" ]] && kill "$replay_pid" 2>/dev/null; rm -rf "$run"' EXIT
fail() { echo "FAIL: $*"; for f in "$run"/*.out "$run"/*.err; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

"$BIN/fixture-gen" --workload inserts --rows 5 --seed 3 --out "$run/fixture" 2> /dev/null || fail "fixture-gen"
start_replay() {  # server.json content
  [[ -n "$replay_pid" ]] && { kill "$replay_pid" 2>/dev/null; wait "$replay_pid" 2>/dev/null; }
  printf '%s\n' "$1" > "$run/fixture/server.json"
  : > "$run/replay.log"
  "$BIN/tds-replay" --fixture "$run/fixture" --port 0 --user sqltail --password secret \
    --record-batches "$run/batches.jsonl" > "$run/replay.log" 2>&1 &
  replay_pid=$!
  for _ in $(seq 1 100); do grep -q serving "$run/replay.log" && break; sleep 0.1; done
  port=$(grep -o '127.0.0.1:[0-9]*' "$run/replay.log" | cut -d: -f2)
  [[ -n "$port" ]] || fail "tds-replay did not start: $(cat "$run/replay.log")"
  printf '[source]\nport = %s\nuser = sqltail\npassword = secret\ndatabase = source_db\n[kafka]\nbootstrap_servers = 127.0.0.1:1\n' \
    "$port" > "$run/capture.conf"
}
# Statements the recorded batches hold that are not sqltail's own queries (SELECTs and session SETs).
sent_statements() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    sql = json.loads(line)["sql"].strip()
    if not sql.upper().startswith(("SELECT", "SET ")): print(sql + ";")' "$run/batches.jsonl"; }

fresh='{"recovery_model": "SIMPLE", "engine_edition": 3, "is_sysadmin": false, "is_db_owner": true,
 "can_select_fn_dblog": true, "has_view_server_state": true, "is_published": false, "is_cdc_enabled": false,
 "log_reuse_wait": "NOTHING", "full_backups": 0, "distributors": 1,
 "tables": [{"schema": "dbo", "name": "orders", "has_primary_key": true},
            {"schema": "dbo", "name": "audit_heap", "has_primary_key": false},
            {"schema": "sales", "name": "other", "has_primary_key": true}]}'

# 1. --dry-run: findings and T-SQL, nothing sent but the fact queries; exit 3 (something missing).
start_replay "$fresh"
"$BIN/sqltail" prepare --config "$run/capture.conf" --set capture.table_exclude='sales.*' --dry-run \
  > "$run/dry.out" 2> "$run/dry.err"
rc=$?
[[ $rc -eq 3 ]] || fail "dry run exit $rc, expected 3"
grep -q '^MISSING recovery model: SIMPLE' "$run/dry.out" || fail "dry run: no recovery-model finding"
grep -q '^MISSING full backup' "$run/dry.out" || fail "dry run: no full-backup finding"
grep -q '^ok permissions: db_owner and SELECT on sys.fn_dblog' "$run/dry.out" || fail "dry run: permissions"
grep -q 'sales' "$run/dry.out" && fail "dry run: the excluded table sales.other appears"
plan=$(sed -n '/^-- T-SQL/,$p' "$run/dry.out" | tail -n +2)
[[ $(printf '%s\n' "$plan" | wc -l) -eq 6 ]] || fail "dry run: expected 6 statements, got: $plan"
printf '%s\n' "$plan" | grep -q "^EXEC sp_addarticle @publication = N'sqltail_source_db', @article = N'dbo_orders'" ||
  fail "dry run: no article for dbo.orders"
printf '%s\n' "$plan" | grep -q "^EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'audit_heap'" ||
  fail "dry run: no CDC for the heap"
[[ -z "$(sent_statements)" ]] || fail "dry run sent statements: $(sent_statements)"

# 2. A real run sends exactly the planned statements, in order.
"$BIN/sqltail" prepare --config "$run/capture.conf" --set capture.table_exclude='sales.*' > "$run/run.out" 2> "$run/run.err"
[[ "$(sent_statements)" == "$plan" ]] || fail "prepare sent: $(sent_statements); planned: $plan"
grep -c '^executed: ' "$run/run.out" | grep -qx 6 || fail "prepare did not report 6 executed statements"

# 3. A prepared source: nothing to do, exit 0, no statement sent.
start_replay '{"recovery_model": "FULL", "engine_edition": 2, "is_sysadmin": true, "is_db_owner": true,
 "can_select_fn_dblog": true, "has_view_server_state": true, "is_published": true, "is_cdc_enabled": true,
 "full_backups": 4, "distributors": 1, "tables": [{"schema": "dbo", "name": "orders", "has_primary_key": true,
 "is_replicated": true}, {"schema": "dbo", "name": "h", "is_tracked_by_cdc": true}]}'
"$BIN/sqltail" prepare --config "$run/capture.conf" > "$run/ready.out" 2> "$run/ready.err" || fail "prepared source: exit $?"
grep -q MISSING "$run/ready.out" && fail "prepared source reported something missing"
[[ -z "$(sent_statements)" ]] || fail "prepared source: statements sent: $(sent_statements)"

# 4. msdb denied to a least-privilege login: the backup finding is UNKNOWN, the rest still read.
start_replay '{"recovery_model": "FULL", "engine_edition": 3, "is_sysadmin": false, "is_db_owner": true,
 "can_select_fn_dblog": true, "has_view_server_state": false, "is_published": true, "is_cdc_enabled": false,
 "distributors": 1, "deny": ["full_backups"], "tables": [{"schema": "dbo", "name": "orders", "has_primary_key": true,
 "is_replicated": true}]}'
"$BIN/sqltail" prepare --config "$run/capture.conf" --dry-run > "$run/denied.out" 2> "$run/denied.err"
rc=$?
[[ $rc -eq 3 ]] || fail "denied msdb: exit $rc, expected 3"
grep -q '^UNKNOWN full backup' "$run/denied.out" || fail "denied msdb: backup finding is not UNKNOWN"
grep -q '^UNKNOWN source query: full backups (msdb.dbo.backupset): .*229' "$run/denied.out" ||
  fail "denied msdb: the server error is not named"
grep -q '^MISSING VIEW SERVER STATE' "$run/denied.out" || fail "denied msdb: VIEW SERVER STATE not reported"
grep -q '^ok recovery model: FULL' "$run/denied.out" || fail "denied msdb: the other facts were not read"
echo "prepare_test: ok"
