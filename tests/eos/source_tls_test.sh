#!/usr/bin/env bash
# sqltail capture over TLS: tds-replay with a certificate made here (openssl, never committed) and
# `--encryption required`; the capture with source.encryption = require and the certificate as its
# CA file must emit exactly the events of a plain capture of the same fixture. A relay records the
# wire: neither the queries nor a value of the log may appear in it, and tds-replay must report only
# fully encrypted sessions. Then the refusals: encryption off against the server that requires it,
# and a CA that did not sign the server's certificate.
source "$(dirname "$0")/common.sh"
"$BIN/fixture-gen" --workload mixed --transactions 60 --seed 23 --out "$RUN/fixture" > /dev/null 2>&1 ||
  fail "fixture-gen failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$RUN/server.key" -out "$RUN/server.pem" \
  > /dev/null 2>&1 || fail "openssl could not make the server certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other \
  -keyout "$RUN/other.key" -out "$RUN/other.pem" > /dev/null 2>&1 || fail "openssl could not make the other certificate"
tables=$(python3 -c 'import json,sys; print(" ".join(t["schema"]+"."+t["table"] for t in json.load(open(sys.argv[1]))["versions"][-1]["tables"]))' "$RUN/fixture/catalog.json")

# Every committed event of the run, timestamps and the topic prefix taken out, one line each.
events() {  # prefix out
  local t
  : > "$2"
  for t in $tables; do
    kcat -b "$BOOTSTRAP" -C -t "$1.source_db.$t" -o beginning -e -q -X isolation.level=read_committed \
      -f "$t %k %s\n" 2> /dev/null | sed -E "s/\"ts_(ms|us|ns)\":[0-9]+//g; s/$1/PREFIX/g" >> "$2" || true
  done
}

capture() {  # prefix port log [--set ...]
  local prefix=$1 port=$2 log=$3
  shift 3
  write_capture_config "$RUN/$prefix.conf" "$port" "$BOOTSTRAP" "$prefix"
  "$BIN/sqltail" capture --config "$RUN/$prefix.conf" --set capture.stop_when_idle_ms=1500 "$@" > "$RUN/$log" 2>&1
}

# 1. The reference: no TLS.
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay-plain.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
capture "${PREFIX}p" "$port" capture-plain.log || fail "plain capture failed"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true
events "${PREFIX}p" "$RUN/plain.events"
count=$(wc -l < "$RUN/plain.events")
(( count > 100 )) || fail "the plain capture emitted only $count events"

# 2. TLS required by the server, required and verified by the capture, through the recorder.
port=$(free_port)
REPLAY_ARGS="--tls-cert $RUN/server.pem --tls-key $RUN/server.key --encryption required" \
  start_replay "$RUN/fixture" "$port" "$RUN/replay-tls.log" || fail "tds-replay with TLS did not start"
pids+=("$REPLAY_PID")
relay_port=$(free_port)
python3 "$REPO/tests/eos/wire_recorder.py" "$relay_port" "$port" "$RUN/wire" > "$RUN/recorder.log" 2>&1 &
recorder=$!
pids+=("$recorder")
for _ in $(seq 1 100); do grep -q recording "$RUN/recorder.log" 2>/dev/null && break; sleep 0.1; done
capture "${PREFIX}t" "$relay_port" capture-tls.log --set source.encryption=require \
  --set source.tls_ca_file="$RUN/server.pem" || fail "capture over TLS failed"
events "${PREFIX}t" "$RUN/tls.events"
diff -u "$RUN/plain.events" "$RUN/tls.events" > "$RUN/events.diff" || fail "TLS and plain captures differ: $(head -20 "$RUN/events.diff")"

full=$(grep -c "full encryption" "$RUN/replay-tls.log" || true)
(( full >= 1 )) || fail "tds-replay reports no fully encrypted session"
! grep -q -E "no encryption|login-only" "$RUN/replay-tls.log" || fail "tds-replay served a session without full TLS"
python3 - "$RUN/wire" "$RUN/fixture/expected.jsonl" <<'PY' || fail "plaintext on the wire (see above)"
import json, sys
prefix, expected = sys.argv[1], sys.argv[2]
to_server = open(prefix + ".to_server", "rb").read()
to_client = open(prefix + ".to_client", "rb").read()
assert len(to_server) > 1000 and len(to_client) > 10000, "the recorder saw too little traffic"
u16 = lambda s: s.encode("utf-16-le")
for text in ("fn_dblog", "SELECT", "sqltail", "source_db"):
    assert u16(text) not in to_server, "client to server carries %r in clear" % text
for text in ("LOP_INSERT_ROWS", "LOP_COMMIT_XACT", "orders"):
    assert u16(text) not in to_client, "server to client carries %r in clear" % text
# A log record's bytes are varbinary on the wire: the first 16 bytes of one must not appear.
record = None
for line in open(prefix.rsplit("/", 1)[0] + "/fixture/log.jsonl"):
    row = json.loads(line)
    if row.get("Operation") == "LOP_INSERT_ROWS" and row.get("Log Record"):
        record = bytes.fromhex(row["Log Record"][2:])[:16]
        break
assert record and record not in to_client, "a log record crosses the wire in clear"
PY
kill "$recorder"; wait "$recorder" 2>/dev/null || true
echo "tls: $count events over TLS equal the plain capture; $full fully encrypted sessions, no plaintext on the wire"

# 3. Refusals, each with an error that says why it may be.
if capture "${PREFIX}o" "$port" capture-off.log --set source.encryption=off --set source.reconnect_max_s=0; then
  fail "a capture with encryption off logged in to a server that requires encryption"
fi
grep -q "with encryption off this also means the server requires encryption" "$RUN/capture-off.log" ||
  fail "the off error does not say the server may require encryption: $(tail -3 "$RUN/capture-off.log")"
grep -q "answered ENCRYPT_REQ and closed" "$RUN/replay-tls.log" || fail "tds-replay did not refuse the plain client"
if capture "${PREFIX}w" "$port" capture-wrong-ca.log --set source.encryption=require \
  --set source.tls_ca_file="$RUN/other.pem" --set source.reconnect_max_s=0; then
  fail "a capture accepted a certificate its CA file did not sign"
fi
grep -q "is the server's certificate signed by the CA file" "$RUN/capture-wrong-ca.log" ||
  fail "the wrong-CA error does not name the CA file: $(tail -3 "$RUN/capture-wrong-ca.log")"
echo "tls: encryption off and a wrong CA are refused with errors naming the cause"
