#!/usr/bin/env bash
# Format compatibility with a consumer nobody here wrote: sqltail captures a fixture into a real
# broker, then DebeziumEnvelopeCheck.java converts every committed key and value with Kafka Connect's
# JsonConverter (schemas.enable=true) and checks the Structs against the fixture's expected events,
# and the BEGIN/END events of <prefix>.transaction against the data events.
# The jars (pom.xml) are copied into .deps/compat by mvn on the first run; later runs are offline.
source "$REPO/tests/eos/common.sh"
command -v java > /dev/null && command -v javac > /dev/null || { echo "no JDK: test skipped"; exit 77; }

deps="$REPO/.deps/compat"
if [[ ! -f "$deps/connect-json-3.9.1.jar" ]]; then
  rm -rf "$deps.partial"
  # Staging dir + rename, so an interrupted download is never taken for a complete one.
  (cd "$REPO/tests/compat" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$deps.partial" && rm -rf target) || fail "mvn could not fetch the checker's jars"
  rm -rf "$deps" && mv "$deps.partial" "$deps"
fi
javac -d "$RUN/classes" -cp "$deps/*" "$REPO/tests/compat/src/DebeziumEnvelopeCheck.java" > "$RUN/javac.log" 2>&1 ||
  fail "javac: $(head -5 "$RUN/javac.log")"

# Every type-mapping mode, on a row of date/time/decimal/binary columns the unit test encodes.
SQLTAIL_ENCODER_SAMPLES="$RUN/samples.tsv" "$BIN/debezium_encoder_test" > "$RUN/unit.log" 2>&1 ||
  fail "debezium_encoder_test failed: $(tail -5 "$RUN/unit.log")"
java -cp "$RUN/classes:$deps/*" DebeziumEnvelopeCheck --samples "$RUN/samples.tsv" || fail "JsonConverter check of the samples"

ROWS=600
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 3 --rows-per-transaction 4 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
topic="$PREFIX.source_db.dbo.test_table"
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
# With Debezium's transaction metadata, so that its BEGIN/END events are judged too.
"$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.stop_when_idle_ms=1500 \
  --set capture.provide_transaction_metadata=true > "$RUN/capture.log" 2>&1 || fail "capture failed"

check() {
  java -cp "$RUN/classes:$deps/*" DebeziumEnvelopeCheck --bootstrap "$BOOTSTRAP" --prefix "$PREFIX" \
    --database source_db --topic "$topic" --expected "$RUN/fixture/expected.jsonl" "$@"
}
check --transaction-topic "$PREFIX.transaction" || fail "JsonConverter check"
