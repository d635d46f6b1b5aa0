#!/usr/bin/env bash
# An independent client over TLS: tsql (freetds-bin) reads fn_dblog from the tds-replay program
# started with a certificate made here (openssl; never committed) and --encryption required, with
# freetds.conf asking for encryption and naming the certificate as its CA file. tds-replay must log
# a fully encrypted session; tsql with encryption off must be refused. Also tds-replay's own
# refusals of bad TLS options.
set -euo pipefail
command -v tsql > /dev/null || { echo "tsql (freetds-bin) is not installed: skipped"; exit 77; }
run=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-tsql-tls.XXXXXX")
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$run"' EXIT
fail() { echo "FAIL: $*"; for f in "$run"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
fixture=$REPO/tests/tds/data/mini

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$run/server.key" -out "$run/server.pem" \
  > /dev/null 2>&1 || fail "openssl could not make a certificate"

# Bad options: exit 2 (usage) or 1 (the certificate cannot be loaded), with a message.
if "$BIN/tds-replay" --fixture "$fixture" --encryption on > "$run/noncert.log" 2>&1; then fail "--encryption on without a certificate started"; fi
grep -q -- "--encryption on needs --tls-cert and --tls-key" "$run/noncert.log" || fail "no message for --encryption without a certificate"
if "$BIN/tds-replay" --fixture "$fixture" --port 0 --tls-cert "$run/missing.pem" --tls-key "$run/server.key" > "$run/badcert.log" 2>&1; then
  fail "tds-replay started with a missing certificate"
fi
grep -q "cannot load the certificate $run/missing.pem" "$run/badcert.log" || fail "no message naming the missing certificate"

"$BIN/tds-replay" --fixture "$fixture" --port 0 --tls-cert "$run/server.pem" --tls-key "$run/server.key" \
  --encryption required > "$run/replay.out" 2> "$run/replay.log" &
pid=$!
for _ in $(seq 1 100); do grep -q serving "$run/replay.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$run/replay.out")
[[ -n "$port" ]] || fail "tds-replay did not start"

tsql_with() {  # encryption [extra freetds.conf line]
  printf '[replay]\n\thost = 127.0.0.1\n\tport = %s\n\ttds version = 7.4\n\tencryption = %s\n\t%s\n' "$port" "$1" "${2:-}" \
    > "$run/freetds.conf"
  printf 'SELECT [Current LSN], [Operation], [Log Record] FROM sys.fn_dblog(NULL, NULL)\ngo\nexit\n' |
    FREETDSCONF=$run/freetds.conf timeout 20 tsql -S replay -U sqltail -P x -D source_db 2>&1
}
out=$(tsql_with require "ca file = $run/server.pem")
echo "$out" > "$run/tsql-require.log"
grep -q "(5 rows affected)" <<< "$out" || fail "tsql over TLS did not read the 5 fn_dblog rows"
grep -q "LOP_INSERT_ROWS" <<< "$out" || fail "tsql over TLS did not show the operations"
grep -q "full encryption, TLSv1.2" "$run/replay.log" || fail "tds-replay did not log a fully encrypted session"
out=$(tsql_with off || true)
echo "$out" > "$run/tsql-off.log"
if grep -q "rows affected" <<< "$out"; then fail "tsql with encryption off read from a server that requires encryption"; fi
grep -q "answered ENCRYPT_REQ and closed" "$run/replay.log" || fail "tds-replay did not refuse the plain client"
echo "tsql: fn_dblog read over TLS (full encryption); encryption off refused; bad TLS options refused"
