#!/usr/bin/env bash
# SASL against a real broker's SASL_PLAINTEXT listener (scripts/kafka/broker.sh with KAFKA_SASL_PORT;
# SQLTAIL_KAFKA_SASL_BOOTSTRAP names it, SQLTAIL_TEST_SASL_USER/_PASSWORD its user, defaults as in
# broker.sh). Skipped (77) without it.
#  - capture over SASL/PLAIN with the password in kafka.sasl_password_file, none in the configuration;
#  - apply over SASL/SCRAM-SHA-256 with the password in SQLTAIL_KAFKA_SASL_PASSWORD;
#  - a wrong password fails with a one-line authentication error; a password on the command line
#    (--set) is refused;
#  - no password (right or wrong) appears in any output (sqltail's and librdkafka's log lines).
source "$(dirname "$0")/common.sh"
SASL_BOOTSTRAP=${SQLTAIL_KAFKA_SASL_BOOTSTRAP:-}
if [[ -z "$SASL_BOOTSTRAP" ]]; then
  echo "SQLTAIL_KAFKA_SASL_BOOTSTRAP is not set: no SASL listener, test skipped"
  exit 77
fi
USER_NAME=${SQLTAIL_TEST_SASL_USER:-sqltail}
PASSWORD=${SQLTAIL_TEST_SASL_PASSWORD:-sqltail-secret}
WRONG="wrong-$RANDOM-password"
unset SQLTAIL_KAFKA_SASL_PASSWORD

ROWS=300
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 31 --rows-per-transaction 3 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$SASL_BOOTSTRAP" "$PREFIX"
umask 077
printf '%s\n' "$PASSWORD" > "$RUN/sasl_password"
printf '%s\n' "$WRONG" > "$RUN/wrong_password"
cat >> "$RUN/capture.conf" <<CONF
property.security.protocol = SASL_PLAINTEXT
property.sasl.mechanisms = PLAIN
property.sasl.username = $USER_NAME
sasl_password_file = $RUN/sasl_password
CONF
grep -q -F "$PASSWORD" "$RUN/capture.conf" && fail "the test put the password into the configuration file"

# PLAIN, password from a file.
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 > "$RUN/capture.log" 2>&1 ||
  fail "capture over SASL/PLAIN failed"
expect_each_id_once "$topic" $ROWS

# SCRAM-SHA-256, password from the environment, for the applier.
write_apply_config "$RUN/apply.conf" "$SASL_BOOTSTRAP" "$topic" "$RUN/target.db"
cat >> "$RUN/apply.conf" <<CONF
property.security.protocol = SASL_PLAINTEXT
property.sasl.mechanisms = SCRAM-SHA-256
property.sasl.username = $USER_NAME
CONF
SQLTAIL_KAFKA_SASL_PASSWORD="$PASSWORD" "$BIN/sqltail" apply --config "$RUN/apply.conf" \
  --set apply.stop_when_idle_ms=2000 > "$RUN/apply.log" 2>&1 || fail "apply over SASL/SCRAM-SHA-256 failed"
[[ $(sqlite_count "$RUN/target.db" test_table) -eq $ROWS ]] || fail "the target does not hold $ROWS rows"
"$BIN/sqltail" verify --source-rows "$RUN/fixture/source.jsonl" --sqlite "$RUN/target.db" > "$RUN/verify.log" ||
  fail "source and target differ"

# A wrong password (the file's value loses to the environment): a clear error, no hang, no password.
status=0
SQLTAIL_KAFKA_SASL_PASSWORD="$WRONG" timeout 60 "$BIN/sqltail" capture --config "$RUN/capture.conf" \
  --set kafka.timeout_ms=10000 --set capture.stop_when_idle_ms=1500 > "$RUN/wrong.log" 2>&1 || status=$?
(( status != 0 && status != 124 )) || fail "capture with a wrong password exited with $status"
grep -q -i "auth" "$RUN/wrong.log" || fail "the wrong-password error does not mention authentication"

# A password on the command line is refused before anything connects.
status=0
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set "kafka.property.sasl.password=$WRONG" \
  > "$RUN/cmdline.log" 2>&1 || status=$?
(( status != 0 )) || fail "a password given with --set was accepted"
grep -q "not accepted on the command line" "$RUN/cmdline.log" || fail "the --set password refusal is unclear"

for log in "$RUN"/*.log; do
  grep -q -F -e "$PASSWORD" -e "$WRONG" "$log" && fail "a password appears in $(basename "$log")"
done
echo "sasl: PLAIN (password file) capture and SCRAM-SHA-256 (environment) apply, $ROWS rows exactly once; wrong and command-line passwords refused; no password in any output"
