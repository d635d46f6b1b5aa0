#!/usr/bin/env bash
# TLS against a real broker's SSL listener with client authentication required (scripts/kafka/broker.sh
# with KAFKA_SSL_PORT; SQLTAIL_KAFKA_SSL_BOOTSTRAP names it, SQLTAIL_KAFKA_TLS_DIR the test CA and the
# client certificate, whose key is encrypted). Skipped (77) without it.
#  - capture over TLS with the key password in kafka.ssl_key_password_file, none in the configuration;
#  - apply over TLS with the key password in SQLTAIL_KAFKA_SSL_KEY_PASSWORD; target equals source;
#  - a CA that did not sign the broker, a missing client certificate and a wrong key password each
#    fail with a one-line error and no hang; a key password on the command line (--set) is refused;
#  - the key password appears in no output.
source "$(dirname "$0")/common.sh"
SSL_BOOTSTRAP=${SQLTAIL_KAFKA_SSL_BOOTSTRAP:-}
TLS=${SQLTAIL_KAFKA_TLS_DIR:-}
if [[ -z "$SSL_BOOTSTRAP" || ! -f "$TLS/ca.pem" ]]; then
  echo "SQLTAIL_KAFKA_SSL_BOOTSTRAP / SQLTAIL_KAFKA_TLS_DIR are not set: no TLS listener, test skipped"
  exit 77
fi
KEY_PASSWORD=$(cat "$TLS/client.key.password")
WRONG="wrong-$RANDOM-key-password"
unset SQLTAIL_KAFKA_SSL_KEY_PASSWORD

tls_properties() {  # ca_file: the client side of mutual TLS, no secret
  cat <<CONF
property.security.protocol = SSL
property.ssl.ca.location = $1
property.ssl.certificate.location = $TLS/client.pem
property.ssl.key.location = $TLS/client.key
property.ssl.endpoint.identification.algorithm = https
CONF
}

ROWS=300
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 37 --rows-per-transaction 3 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$SSL_BOOTSTRAP" "$PREFIX"
cp "$RUN/capture.conf" "$RUN/capture-base.conf"
tls_properties "$TLS/ca.pem" >> "$RUN/capture.conf"
echo "ssl_key_password_file = $TLS/client.key.password" >> "$RUN/capture.conf"
grep -q -F "$KEY_PASSWORD" "$RUN/capture.conf" && fail "the test put the key password into the configuration file"

# Capture over TLS, key password from a file.
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 > "$RUN/capture.log" 2>&1 ||
  fail "capture over TLS failed"
expect_each_id_once "$topic" $ROWS

# Apply over TLS, key password from the environment.
write_apply_config "$RUN/apply.conf" "$SSL_BOOTSTRAP" "$topic" "$RUN/target.db"
tls_properties "$TLS/ca.pem" >> "$RUN/apply.conf"
SQLTAIL_KAFKA_SSL_KEY_PASSWORD="$KEY_PASSWORD" "$BIN/sqltail" apply --config "$RUN/apply.conf" \
  --set apply.stop_when_idle_ms=2000 > "$RUN/apply.log" 2>&1 || fail "apply over TLS failed"
[[ $(sqlite_count "$RUN/target.db" test_table) -eq $ROWS ]] || fail "the target does not hold $ROWS rows"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log" ||
  fail "source and target differ"

# Each refused connection: a non-zero exit before the timeout, with an error naming the cause.
expect_refused() {  # name pattern config [extra args...]
  local name=$1 pattern=$2 config=$3 status=0
  shift 3
  timeout 60 "$BIN/sqltail" capture --config "$config" --set kafka.timeout_ms=10000 \
    --set capture.stop_when_idle_ms=1500 "$@" > "$RUN/$name.log" 2>&1 || status=$?
  (( status != 0 && status != 124 )) || fail "$name: capture exited with $status"
  # The final error line itself names the cause, not only librdkafka's log lines before it.
  grep "^sqltail:" "$RUN/$name.log" | tail -1 | grep -q -i -E "$pattern" ||
    fail "$name: the final error does not say '$pattern'"
}
# A CA that did not sign the broker's certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other CA" -keyout "$RUN/other-ca.key" \
  -out "$RUN/other-ca.pem" > /dev/null 2>&1 || fail "openssl could not make the other CA"
{ cat "$RUN/capture-base.conf"; tls_properties "$RUN/other-ca.pem"; echo "ssl_key_password_file = $TLS/client.key.password"; } > "$RUN/other-ca.conf"
expect_refused other_ca "certificate verify failed|SSL handshake failed" "$RUN/other-ca.conf"
# No client certificate: the broker requires one.
{ cat "$RUN/capture-base.conf"; echo "property.security.protocol = SSL"; echo "property.ssl.ca.location = $TLS/ca.pem"; } > "$RUN/no-cert.conf"
expect_refused no_client_cert "ssl|certificate|handshake" "$RUN/no-cert.conf"
# A wrong key password (the environment wins over the file).
SQLTAIL_KAFKA_SSL_KEY_PASSWORD="$WRONG" expect_refused wrong_key_password "ssl|key|decrypt|password" "$RUN/capture.conf"

# A key password on the command line is refused before anything connects.
status=0
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set "kafka.property.ssl.key.password=$WRONG" \
  > "$RUN/cmdline.log" 2>&1 || status=$?
(( status != 0 )) || fail "a key password given with --set was accepted"
grep -q "not accepted on the command line" "$RUN/cmdline.log" || fail "the --set key password refusal is unclear"

for log in "$RUN"/*.log; do
  grep -q -F -e "$KEY_PASSWORD" -e "$WRONG" "$log" && fail "a key password appears in $(basename "$log")"
done
echo "tls: mutual-TLS capture (key password from a file) and apply (from the environment), $ROWS rows exactly once; foreign CA, missing client certificate, wrong and command-line key passwords refused; no password in any output"
