#!/usr/bin/env bash
# Bad events (apply.on_error), into SQLite or PostgreSQL (argument): an unparsable message, a schema
# mismatch (the pre-created target table lacks a column of the event, apply.schema_evolution = none) and a constraint violation
# (NULL into a NOT NULL column of a pre-created table), among good events (Debezium envelopes, so
# each event is its own source transaction).
#   fail (default): the applier stops with an error naming topic, partition, offset, table and key,
#                   and nothing after the bad event is applied;
#   dead-letter:    the three bad messages land on the dead-letter topic (same key and value, with
#                   sqltail.dlq.* headers), every good event is applied, the count is reported.
KIND=${1:-sqlite}
[[ "$KIND" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }

T1="$PREFIX.src.dbo.people"
T2="$PREFIX.src.dbo.wide"
DLQ="$PREFIX.dlq"

# Debezium-style events: key<TAB>value per line.
python3 - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
def field(name, type_, optional=True):
    return {"type": type_, "optional": optional, "field": name}
def event(table, columns, row, op="c"):
    after = {"type": "struct", "optional": True, "field": "after", "fields": [field(c, t, c != "id") for c, t in columns]}
    before = dict(after, field="before")
    schema = {"type": "struct", "optional": False, "fields": [before, after,
              {"type": "struct", "optional": False, "field": "source", "fields": []},
              field("op", "string", False)]}
    payload = {"before": None, "after": row, "op": op, "ts_ms": 0,
               "source": {"connector": "sqlserver", "db": "src", "schema": "dbo", "table": table}}
    key = {"schema": {"type": "struct", "optional": False, "fields": [field("id", "int32", False)]},
           "payload": {"id": row["id"]}}
    return json.dumps(key) + "\t" + json.dumps({"schema": schema, "payload": payload})
people = [("id", "int32"), ("name", "string")]
wide = [("id", "int32"), ("name", "string"), ("extra", "string")]
with open(run + "/t1.txt", "w") as f:
    f.write(event("people", people, {"id": 1, "name": "ann"}) + "\n")   # offset 0
    f.write('{"id": 99}\tnot json {\n')                                     # 1: unparsable
    f.write(event("people", people, {"id": 2, "name": None}) + "\n")     # 2: NOT NULL violation
    f.write(event("people", people, {"id": 3, "name": "cy"}) + "\n")     # 3
with open(run + "/t2.txt", "w") as f:
    f.write(event("wide", wide, {"id": 1, "name": "w", "extra": "x"}) + "\n")  # 0: the target has no extra
    f.write(event("wide", people, {"id": 2, "name": "v"}) + "\n")              # 1
PY
create_topics "$T1" "$T2"
kcat -b "$BOOTSTRAP" -P -t "$T1" -K $'\t' -l "$RUN/t1.txt" || fail "producing $T1"
kcat -b "$BOOTSTRAP" -P -t "$T2" -K $'\t' -l "$RUN/t2.txt" || fail "producing $T2"

# Pre-created target tables: people.name NOT NULL; wide without the column extra.
DB="$RUN/target.db"
precreate() {
  if [[ "$KIND" == sqlite ]]; then
    rm -f "$DB"
    sqlite3 "$DB" "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                   CREATE TABLE wide (id INTEGER PRIMARY KEY, name TEXT);"
  else
    psql "$PG_DSN" -q -c "DROP SCHEMA IF EXISTS \"$PG_SCHEMA\" CASCADE; CREATE SCHEMA \"$PG_SCHEMA\";
      CREATE TABLE \"$PG_SCHEMA\".people (id integer PRIMARY KEY, name text NOT NULL);
      CREATE TABLE \"$PG_SCHEMA\".wide (id integer PRIMARY KEY, name text);" > /dev/null
  fi
}
rows() {  # table -> "id|name" lines, sorted
  if [[ "$KIND" == sqlite ]]; then
    sqlite3 "$DB" "SELECT id, name FROM $1 ORDER BY id"
  else
    psql "$PG_DSN" -Atq -c "SELECT id, name FROM \"$PG_SCHEMA\".$1 ORDER BY id"
  fi
}
write_config() {  # file topics
  if [[ "$KIND" == sqlite ]]; then
    write_apply_config "$1" "$BOOTSTRAP" "$2" "$DB"
  else
    write_pg_apply_config "$1" "$2"
  fi
  # schema_evolution = none: the missing column is a mismatch, not a column to add.
  printf '[apply]\nstop_when_idle_ms = 1500\nschema_evolution = none\n' >> "$1"
}

# 1. fail, unparsable message: stops at offset 1 of T1 and applies nothing after it.
precreate
write_config "$RUN/fail.conf" "$T1"
"$BIN/sqltail" apply --config "$RUN/fail.conf" > "$RUN/fail.log" 2>&1 && fail "apply did not stop at a bad event"
grep -q "topic $T1, partition 0, offset 1: key {\"id\": 99}: the value is not JSON" "$RUN/fail.log" ||
  fail "the error does not name topic, partition, offset and key of the unparsable message"
[[ "$(rows people)" == "1|ann" ]] || fail "fail: rows before the bad event are not applied exactly: $(rows people)"

# 2. fail, constraint violation (from offset 2 on; the applier resumes from its progress at 1,
#    which is why the unparsable message is skipped here by an override of the stored progress).
if [[ "$KIND" == sqlite ]]; then
  sqlite3 "$DB" "UPDATE sqltail_progress SET next_offset = 2"
else
  psql "$PG_DSN" -q -c "UPDATE \"$PG_SCHEMA\".sqltail_progress SET next_offset = 2" > /dev/null
fi
"$BIN/sqltail" apply --config "$RUN/fail.conf" > "$RUN/fail2.log" 2>&1 && fail "apply did not stop at the NULL"
grep -q "topic $T1, partition 0, offset 2: table people, key (id)=(2): .*\(NOT NULL\|not-null\)" "$RUN/fail2.log" ||
  fail "the error does not name topic, partition, offset, table and key of the constraint violation"
[[ "$(rows people)" == "1|ann" ]] || fail "fail: an event after the bad one was applied"

# 3. fail, schema mismatch.
write_config "$RUN/fail3.conf" "$T2"
"$BIN/sqltail" apply --config "$RUN/fail3.conf" > "$RUN/fail3.log" 2>&1 && fail "apply did not stop at the mismatch"
grep -q "topic $T2, partition 0, offset 0: table wide, key {\"id\":1}: .*extra" "$RUN/fail3.log" ||
  fail "the error does not name the schema mismatch"

# 4. dead-letter: everything good is applied, the three bad messages are dead-lettered.
precreate
write_config "$RUN/dlq.conf" "$T1,$T2"
printf 'on_error = dead-letter\ndead_letter_topic = %s\nbatch_max_events = 100\nbatch_max_ms = 2000\n' "$DLQ" \
  >> "$RUN/dlq.conf"
"$BIN/sqltail" apply --config "$RUN/dlq.conf" > "$RUN/dlq.log" 2>&1 || fail "dead-letter apply failed"
[[ "$(rows people | tr '\n' ' ')" == "1|ann 3|cy " ]] || fail "dead-letter: people holds $(rows people | tr '\n' ' ')"
[[ "$(rows wide | tr '\n' ' ')" == "2|v " ]] || fail "dead-letter: wide holds $(rows wide | tr '\n' ' ')"
grep -q "3 dead-lettered" "$RUN/dlq.log" || fail "the dead-lettered count is not reported"
kcat -b "$BOOTSTRAP" -C -t "$DLQ" -o beginning -e -q -f '%k\t%s\t%h\n' > "$RUN/dlq.txt" 2> /dev/null ||
  fail "reading the dead-letter topic"
[[ $(wc -l < "$RUN/dlq.txt") == 3 ]] || fail "the dead-letter topic holds $(wc -l < "$RUN/dlq.txt") messages, not 3"
python3 - "$RUN/dlq.txt" "$RUN/t1.txt" "$RUN/t2.txt" "$T1" "$T2" <<'PY' || fail "dead-letter messages"
import sys
dlq = [line.rstrip("\n").split("\t", 2) for line in open(sys.argv[1])]
t1 = [line.rstrip("\n").split("\t", 1) for line in open(sys.argv[2])]
t2 = [line.rstrip("\n").split("\t", 1) for line in open(sys.argv[3])]
want = {(sys.argv[4], 1): t1[1], (sys.argv[4], 2): t1[2], (sys.argv[5], 0): t2[0]}
seen = set()
for key, value, headers in dlq:
    h = dict(part.split("=", 1) for part in headers.split(",sqltail.dlq.") if "=" in part)
    topic = headers.split("sqltail.dlq.topic=")[1].split(",")[0]
    offset = int(headers.split("sqltail.dlq.offset=")[1].split(",")[0])
    assert "sqltail.dlq.reason=" in headers and "sqltail.dlq.partition=0" in headers, headers
    assert (topic, offset) in want, (topic, offset)
    assert [key, value] == want[(topic, offset)], "the original key and value"
    seen.add((topic, offset))
assert seen == set(want), seen
PY
grep -q "sqltail.dlq.reason=topic $T1, partition 0, offset 2: table people, key (id)=(2)" "$RUN/dlq.txt" ||
  fail "the reason does not name the constraint violation"

# 5. fail, a new row with columns the log did not hold (header sqltail.unavailable on a c event, as
#    capture.off_row_values = unavailable writes them): nothing is inserted, the error names it.
T3="$PREFIX.src.dbo.lobs"
# one_event FILE TABLE FIELD_JSON AFTER_JSON: a c event of (id int32, FIELD) with key id 1, for kcat -K.
one_event() {
  python3 - "$@" <<'PY'
import json, sys
out, table, field, after = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
schema = {"type": "struct", "optional": False, "fields": [
    {"type": "struct", "optional": True, "field": f, "fields": [{"type": "int32", "optional": False, "field": "id"}, field]}
    for f in ("before", "after")] + [{"type": "string", "optional": False, "field": "op"}]}
payload = {"before": None, "after": after, "op": "c", "ts_ms": 0,
           "source": {"connector": "sqlserver", "db": "src", "schema": "dbo", "table": table}}
key = {"schema": {"type": "struct", "optional": False, "fields": [{"type": "int32", "optional": False, "field": "id"}]},
       "payload": {"id": 1}}
open(out, "w").write(json.dumps(key) + "\t" + json.dumps({"schema": schema, "payload": payload}) + "\n")
PY
}
one_event "$RUN/t3.txt" lobs '{"type": "string", "optional": true, "field": "doc"}' \
  '{"id": 1, "doc": "__debezium_unavailable_value"}'
create_topics "$T3"
kcat -b "$BOOTSTRAP" -P -t "$T3" -K $'\t' -H "sqltail.unavailable=doc" -l "$RUN/t3.txt" || fail "producing $T3"
precreate
if [[ "$KIND" == sqlite ]]; then  # schema evolution on: the table is created from the event
  write_apply_config "$RUN/fail5.conf" "$BOOTSTRAP" "$T3" "$DB"
else
  write_pg_apply_config "$RUN/fail5.conf" "$T3"
fi
printf '[apply]\nstop_when_idle_ms = 1500\n' >> "$RUN/fail5.conf"
"$BIN/sqltail" apply --config "$RUN/fail5.conf" > "$RUN/fail5.log" 2>&1 && fail "apply wrote a row with unavailable columns"
grep -q "topic $T3, partition 0, offset 0: .*op 'c' with columns the log did not hold (header sqltail.unavailable: doc)" \
  "$RUN/fail5.log" || fail "the error does not name the insert with unavailable columns: $(tail -3 "$RUN/fail5.log")"
if [[ "$KIND" == sqlite ]]; then
  n=$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_master WHERE name = 'lobs'")
  [[ "$n" == 0 ]] || [[ "$(sqlite3 "$DB" "SELECT count(*) FROM lobs")" == 0 ]] || fail "a row was written"
else
  n=$(psql "$PG_DSN" -Atq -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$PG_SCHEMA' AND table_name = 'lobs'")
  [[ "$n" == 0 ]] || [[ "$(psql "$PG_DSN" -Atq -c "SELECT count(*) FROM \"$PG_SCHEMA\".lobs")" == 0 ]] || fail "a row was written"
fi

# 6. fail, a decimal field whose scale parameter is not a number (untrusted schema): a bad event
#    naming the field and the parameter, not a crash.
T4="$PREFIX.src.dbo.prices"
one_event "$RUN/t4.txt" prices '{"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
  "version": 1, "parameters": {"scale": "two", "connect.decimal.precision": "10"}, "field": "price"}' '{"id": 1, "price": "AQ=="}'
create_topics "$T4"
kcat -b "$BOOTSTRAP" -P -t "$T4" -K $'\t' -l "$RUN/t4.txt" || fail "producing $T4"
if [[ "$KIND" == sqlite ]]; then
  write_apply_config "$RUN/fail6.conf" "$BOOTSTRAP" "$T4" "$DB"
else
  write_pg_apply_config "$RUN/fail6.conf" "$T4"
fi
printf '[apply]\nstop_when_idle_ms = 1500\n' >> "$RUN/fail6.conf"
rc=0
"$BIN/sqltail" apply --config "$RUN/fail6.conf" > "$RUN/fail6.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "apply exited $rc on a decimal scale that is not a number (1 expected)"
grep -q "topic $T4, partition 0, offset 0: .*field price: decimal parameter scale 'two' is not a number from 0 to 1000" \
  "$RUN/fail6.log" || fail "the error does not name the field and the parameter: $(tail -3 "$RUN/fail6.log")"
echo "PASS: bad events ($KIND)"
