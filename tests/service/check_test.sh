#!/usr/bin/env bash
# sqltail check against tds-replay (the source) and a real broker: one "ok|FAIL what: detail" line
# per check, exit 0 only when all pass; failures name the key or quote the server; nothing is
# created (no topic, no target file). PostgreSQL cases run when SQLTAIL_PG_DSN is set.
# Skipped (77) without SQLTAIL_KAFKA_BOOTSTRAP.
source "$REPO/tests/eos/common.sh"
failures=0

"$BIN/fixture-gen" --workload inserts --rows 10 --seed 3 --out "$RUN/fixture" > /dev/null 2>&1
REPLAY_ARGS="--user sqltail --password secret" start_replay "$RUN/fixture" 0 "$RUN/replay.log" || fail "tds-replay"
pids+=("$REPLAY_PID")
port=$(grep -o '127.0.0.1:[0-9]*' "$RUN/replay.log" | head -1 | cut -d: -f2)
closed_port=1

write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
sed -i 's/^password = replay/password = secret/' "$RUN/capture.conf"
# (Secrets are not accepted by --set: a copy of the file with the wrong password.)
sed 's/^password = secret/password = Wr0ngPw/' "$RUN/capture.conf" > "$RUN/badpw.conf"
write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$PREFIX.source_db.dbo.test_table" "$RUN/target/apply.db"
mkdir "$RUN/target"

# expect NAME EXIT_CODE "regex that must match a line"... -- sqltail check args
expect() {
  local name=$1 want_rc=$2
  shift 2
  local patterns=()
  while [[ $1 != -- ]]; do patterns+=("$1"); shift; done
  shift
  local rc=0 ok=1
  "$BIN/sqltail" check --timeout-ms 3000 "$@" > "$RUN/out" 2> "$RUN/err" || rc=$?
  [[ $rc -eq $want_rc ]] || ok=0
  for p in "${patterns[@]}"; do grep -qE "$p" "$RUN/out" || ok=0; done
  # Every stdout line is a check line; nothing on stderr.
  grep -qvE '^(ok|WARN|FAIL) [a-z_ ]+(: [a-z ]+)?: ' "$RUN/out" && ok=0
  [[ -s "$RUN/err" ]] && ok=0
  if [[ $ok -eq 1 ]]; then
    echo "ok   $name (exit $rc)"
  else
    echo "FAIL $name: exit $rc (want $want_rc), expected lines matching: ${patterns[*]}"
    sed 's/^/     /' "$RUN/out" "$RUN/err"
    failures=$((failures + 1))
  fi
}

expect "capture: all pass" 0 \
  '^ok config: capture stream' "^ok source login: 127.0.0.1:$port/source_db as 'sqltail'" \
  '^ok catalog query: 1 user table' '^ok table filter: 1 of 1 table\(s\) selected: dbo.test_table$' \
  '^ok fn_dblog: SELECT TOP \(1\) from sys.fn_dblog\(NULL, NULL\): first LSN [0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{4}$' \
  "^ok kafka: bootstrap=$BOOTSTRAP: 1 broker.*not yet created: $PREFIX.offsets" -- --config "$RUN/capture.conf"
[[ $(grep -vc '^[A-Za-z]* prepare' "$RUN/out") -eq 7 ]] || { echo "FAIL expected 7 check lines"; failures=$((failures + 1)); }
# The inserts fixture lists no system allocation units: DDL is then known by transaction names only.
grep -q '^WARN schema changes: the system tables that mark DDL are not known (system allocation units query: no rows)' \
  "$RUN/out" || { echo "FAIL the unknown system tables are not reported"; failures=$((failures + 1)); }
# The fixture has no server.json: tds-replay refuses prepare's fact queries, so every finding is
# unknown, which warns but does not fail.
grep -q '^WARN prepare: recovery model: unknown' "$RUN/out" ||
  { echo "FAIL unreadable prepare facts are not reported as unknown"; failures=$((failures + 1)); }

# With server.json the source's preparation is checked: SIMPLE recovery fails (the log would be
# truncated before sqltail reads it); a table without supplemental logging warns.
printf '%s\n' '{"recovery_model": "SIMPLE", "engine_edition": 3, "is_sysadmin": true, "has_view_server_state": true,
  "is_published": false, "is_cdc_enabled": false, "full_backups": 1, "distributors": 1,
  "tables": [{"schema": "dbo", "name": "test_table", "has_primary_key": true}]}' > "$RUN/fixture/server.json"
REPLAY_ARGS="--user sqltail --password secret" start_replay "$RUN/fixture" 0 "$RUN/replay2.log" || fail "tds-replay"
pids+=("$REPLAY_PID")
port2=$(grep -o '127.0.0.1:[0-9]*' "$RUN/replay2.log" | head -1 | cut -d: -f2)
expect "capture: source not prepared" 1 '^FAIL prepare: recovery model: SIMPLE truncates the log' \
  '^ok prepare: permissions: sysadmin' '^WARN prepare: table dbo.test_table: missing: primary key but not published' \
  '^ok fn_dblog' -- --config "$RUN/capture.conf" --set "source.port=$port2"
sed -i 's/"SIMPLE"/"FULL"/; s/"has_primary_key": true/"has_primary_key": true, "is_replicated": true/' "$RUN/fixture/server.json"
# A prepared source also answers the system allocation units query (a real server always lists them).
python3 - "$RUN/fixture/catalog.json" <<'PY'
import json, sys
catalog = json.load(open(sys.argv[1]))
catalog["system_allocation_units"] = [{"name": "sys.syscolpars", "allocation_unit_id": 2686976},
                                      {"name": "sys.sysschobjs", "allocation_unit_id": 2228224}]
json.dump(catalog, open(sys.argv[1], "w"))
PY
REPLAY_ARGS="--user sqltail --password secret" start_replay "$RUN/fixture" 0 "$RUN/replay3.log" || fail "tds-replay"
pids+=("$REPLAY_PID")
port3=$(grep -o '127.0.0.1:[0-9]*' "$RUN/replay3.log" | head -1 | cut -d: -f2)
expect "capture: source prepared" 0 '^ok prepare: recovery model: FULL' '^ok prepare: table dbo.test_table: primary key; published' \
  '^ok schema changes: detected by records on 2 system table allocation unit\(s\): sys.sysschobjs, sys.syscolpars$' \
  -- --config "$RUN/capture.conf" --set "source.port=$port3"
grep -q '^WARN\|^FAIL' "$RUN/out" && { echo "FAIL prepared source: warnings or failures"; failures=$((failures + 1)); }

expect "capture: wrong password" 1 \
  "^FAIL source login: tds: login to 127.0.0.1:$port as 'sqltail'.*server error 18456" '^ok kafka: ' \
  -- --config "$RUN/badpw.conf"
grep -q 'catalog query\|fn_dblog\|Wr0ngPw' "$RUN/out" &&
  { echo "FAIL wrong password: checks after the login ran, or the password was printed"; failures=$((failures + 1)); }

expect "capture: unreachable source port" 1 "^FAIL source login: tds: login to 127.0.0.1:$closed_port as 'sqltail'" \
  -- --config "$RUN/capture.conf" --set "source.port=$closed_port"

expect "capture: unreachable broker" 1 '^ok source login' '^ok table filter' \
  "^FAIL kafka: key 'kafka.bootstrap_servers' = 127.0.0.1:$closed_port: kafka error" \
  -- --config "$RUN/capture.conf" --set "kafka.bootstrap_servers=127.0.0.1:$closed_port"

expect "capture: filter selects nothing" 1 \
  '^FAIL table filter: no table matches capture.table_include=dbo.missing and capture.table_exclude=\(empty\); tables: dbo.test_table$' \
  '^ok fn_dblog' -- --config "$RUN/capture.conf" --set capture.table_include=dbo.missing
expect "capture: exclude removes the only table" 1 '^FAIL table filter: no table matches .*table_exclude=dbo.test_\*' \
  -- --config "$RUN/capture.conf" --set 'capture.table_exclude=dbo.test_*'

expect "capture: bad key" 1 "^FAIL config: config $RUN/capture.conf: unknown key 'source.colour'$" \
  -- --config "$RUN/capture.conf" --set source.colour=red
[[ $(wc -l < "$RUN/out") -eq 1 ]] || { echo "FAIL bad key: connections were checked"; failures=$((failures + 1)); }
expect "capture: bad value" 1 "^FAIL config: .*'source.port' is invalid" -- --config "$RUN/capture.conf" --set source.port=x
expect "capture: bad kafka property" 1 '^FAIL kafka: .*no.such.property' \
  -- --config "$RUN/capture.conf" --set kafka.property.no.such.property=1

printf '[source]\nuser = a\n[target]\nkind = sqlite\n' > "$RUN/mixed.conf"
expect "mixed file" 1 '^FAIL config: .*has keys of a capture stream .* and of an apply stream.*\[source\], \[target\]' \
  -- --config "$RUN/mixed.conf"
printf '[kafka]\nbootstrap_servers = x\n' > "$RUN/kafka-only.conf"
expect "neither kind" 1 '^FAIL config: .*cannot tell a capture file' -- --config "$RUN/kafka-only.conf"
expect "missing file" 1 '^FAIL config: .*cannot open the file' -- --config "$RUN/none.conf"

expect "apply sqlite: all pass" 0 '^ok config: apply stream' \
  "^ok target: sqlite $RUN/target/apply.db: does not exist yet" "^ok kafka: .*not yet created: $PREFIX.source_db" \
  -- --config "$RUN/apply.conf"
expect "apply sqlite: missing directory" 1 "^FAIL target: key 'target.path' = $RUN/nodir/a.db: the directory .* does not exist" \
  -- --config "$RUN/apply.conf" --set "target.path=$RUN/nodir/a.db"
echo "not sqlite" > "$RUN/target/text.db"
expect "apply sqlite: not a database" 1 "^FAIL target: key 'target.path' = .*not a SQLite database" \
  -- --config "$RUN/apply.conf" --set "target.path=$RUN/target/text.db"
sqlite3 "$RUN/target/real.db" 'CREATE TABLE t (a)'
expect "apply sqlite: existing database" 0 '^ok target: sqlite .*real.db: an existing SQLite database' \
  -- --config "$RUN/apply.conf" --set "target.path=$RUN/target/real.db"
expect "apply: unreachable broker" 1 "^ok target" "^FAIL kafka: key 'kafka.bootstrap_servers'" \
  -- --config "$RUN/apply.conf" --set "kafka.bootstrap_servers=127.0.0.1:$closed_port"

# A SQL Server target: tds-replay accepts the login (the log's server stands in for it).
sqlserver="--set target.kind=sqlserver --set target.host=127.0.0.1 --set target.user=sqltail --set target.database=source_db"
# shellcheck disable=SC2086
SQLTAIL_TARGET_PASSWORD=secret expect "apply sqlserver: login" 0 "^ok target: sqlserver 127.0.0.1:$port/source_db as 'sqltail'" \
  -- --config "$RUN/apply.conf" $sqlserver --set "target.port=$port"
# shellcheck disable=SC2086
SQLTAIL_TARGET_PASSWORD=Wr0ngPw expect "apply sqlserver: wrong password" 1 "^FAIL target: tds: login to 127.0.0.1:$port as 'sqltail'.*18456" \
  -- --config "$RUN/apply.conf" $sqlserver --set "target.port=$port"

if [[ -n "${SQLTAIL_PG_DSN:-}" ]]; then
  pg="--set target.kind=postgresql --set target.path="
  # shellcheck disable=SC2086
  expect "apply postgresql: all pass" 0 '^ok target: postgresql .* as .*schema sqltail_check_[0-9]+ missing, apply creates it' \
    -- --config "$RUN/apply.conf" $pg --set "target.dsn=$SQLTAIL_PG_DSN" --set "target.schema=sqltail_check_$$"
  # shellcheck disable=SC2086
  expect "apply postgresql: bad login" 1 "^FAIL target: key 'target.dsn': postgresql: cannot connect" \
    -- --config "$RUN/apply.conf" $pg --set "target.dsn=$SQLTAIL_PG_DSN user=no_such_role_$$"
  psql "$SQLTAIL_PG_DSN" -tAc "SELECT count(*) FROM pg_namespace WHERE nspname = 'sqltail_check_$$'" | grep -qx 0 ||
    { echo "FAIL check created the PostgreSQL schema"; failures=$((failures + 1)); }
else
  echo "skip PostgreSQL cases: SQLTAIL_PG_DSN is not set"
fi

# Nothing was created: no topic of this run, no target file.
if kcat -b "$BOOTSTRAP" -L 2>/dev/null | grep -q "\"$PREFIX"; then
  echo "FAIL check created topics:"; kcat -b "$BOOTSTRAP" -L | grep "$PREFIX"; failures=$((failures + 1))
fi
[[ ! -e "$RUN/target/apply.db" ]] || { echo "FAIL check created the SQLite file"; failures=$((failures + 1)); }
exit $((failures > 0))
