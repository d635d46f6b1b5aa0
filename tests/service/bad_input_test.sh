#!/usr/bin/env bash
# Bad input gives a one-line error that says what and where, and a non-zero exit: unreachable
# server or broker, wrong password, unknown table, malformed configuration.
set -uo pipefail
run=$(mktemp -d)
replay_pid=
trap '[[ -n "$replay_pid" ]] && kill "$replay_pid" 2>/dev/null; rm -rf "$run"' EXIT
failures=0

# expect_error "what" "expected text" command...: non-zero exit, one line on stderr containing the text.
expect_error() {
  local what=$1 text=$2
  shift 2
  "$@" > "$run/out" 2> "$run/err"
  local rc=$?
  local line
  line=$(grep '^sqltail:' "$run/err" || true)
  if [[ $rc -eq 0 || -z "$line" || $(printf '%s\n' "$line" | wc -l) -ne 1 || "$line" != *"$text"* ]]; then
    echo "FAIL $what: exit $rc, error line: ${line:-<none>} (expected: $text)"
    failures=$((failures + 1))
  else
    echo "ok   $what: $line"
  fi
}

"$BIN/fixture-gen" --workload inserts --rows 10 --seed 1 --out "$run/fixture" 2> /dev/null
"$BIN/tds-replay" --fixture "$run/fixture" --port 0 --user sqltail --password secret > "$run/replay.log" 2>&1 &
replay_pid=$!
for _ in $(seq 1 100); do grep -q serving "$run/replay.log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$run/replay.log" | cut -d: -f2)

write_config() {  # file port password bootstrap
  printf '[source]\nport = %s\nuser = sqltail\npassword = %s\ndatabase = source_db\n[kafka]\nbootstrap_servers = %s\ntimeout_ms = 3000\n' \
    "$2" "$3" "$4" > "$1"
}
closed_port=1
write_config "$run/good.conf" "$port" secret "127.0.0.1:$closed_port"
write_config "$run/wrong-password.conf" "$port" wrong "127.0.0.1:$closed_port"
write_config "$run/no-server.conf" "$closed_port" secret "127.0.0.1:$closed_port"

expect_error "unreachable server" "login to 127.0.0.1:$closed_port as 'sqltail'" \
  "$BIN/sqltail" capture --config "$run/no-server.conf"
expect_error "wrong password" "server error 18456: Login failed for user 'sqltail'" \
  "$BIN/sqltail" capture --config "$run/wrong-password.conf"
expect_error "unknown table" "no table of database 'source_db' matches" \
  "$BIN/sqltail" capture --config "$run/good.conf" --set capture.table_include=dbo.missing
expect_error "unreachable broker" "bootstrap=127.0.0.1:$closed_port" \
  "$BIN/sqltail" capture --config "$run/good.conf"
printf '[source]\nport = abc\n' > "$run/bad-value.conf"
expect_error "malformed value" "'source.port' is invalid" "$BIN/sqltail" capture --config "$run/bad-value.conf"
printf '[source]\nuser = a\ndatabase = b\ncolour = red\n[kafka]\nbootstrap_servers = x\n' > "$run/unknown-key.conf"
expect_error "unknown key" "unknown key 'source.colour'" "$BIN/sqltail" capture --config "$run/unknown-key.conf"
expect_error "missing file" "cannot open the file" "$BIN/sqltail" capture --config "$run/none.conf"
printf '[apply]\ntopics = t\n[target]\nkind = oracle\npath = x\n[kafka]\nbootstrap_servers = x\n' > "$run/apply.conf"
expect_error "unsupported target" "key 'target.kind'" "$BIN/sqltail" apply --config "$run/apply.conf"

# Nothing half-written: the failed runs created no target file.
[[ ! -e "$run/x" ]] || { echo "FAIL: a failed apply left a target file"; failures=$((failures + 1)); }
exit $((failures > 0))
