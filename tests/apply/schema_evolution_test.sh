#!/usr/bin/env bash
# Schema evolution (apply.schema_evolution = basic) through a real broker, into SQLite or PostgreSQL
# (argument sqlite | postgresql), or into tds-replay as SQL Server (argument sqlserver). Hand-written
# schema change events on the schema change topic <prefix> and change events on <prefix>.src.dbo.orders,
# routed to copy_orders with qty renamed to quantity and secret left out:
#   1. CREATE (id, name) and c 1: the table is created;
#   2. ALTER (id, name, qty, secret): column quantity appears (secret does not), the schema topic's
#      progress is stored;
#   3. c 2 and u 1 carrying qty: their values land in quantity;
#   4. the ALTER delivered again (progress set back): a no-op, nothing changes;
#   5. qty becomes bigint: a change event carrying int64 after one carrying int32, in one run,
#      makes PostgreSQL widen quantity to bigint (logged; SQLite's INTEGER already holds 64 bits)
#      and its value past 2^31 lands; the ALTER to bigint read after it changes nothing;
#   6. DROP: logged, the target table stays;
#   7. an ALTER with an unknown type: the applier stops, naming topic, partition, offset and table.
# sqlserver: a captured fixture, then an ALTER adding column extra and a change event carrying it:
# the ALTER's T-SQL reaches tds-replay, last in its batch, before the MERGE that writes extra.
KIND=${1:-sqlite}
[[ "$KIND" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }

# Writes $RUN/<name>.txt: "key<TAB>value" lines, for kcat -K. Kinds: schema TYPE COLUMNS... (name:type),
# data OP ID NAME [QTY] (QTY "-": the event's structure has no qty and secret).
events() {  # name db table lines...
  python3 - "$RUN/$1.txt" "$2" "$3" "${@:4}" <<'PY'
import json, sys
out, db, table, lines = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lengths = {"int": (10, 0), "bigint": (19, 0), "nvarchar": (40, None), "varchar": (10, None), "dbo.Phone": (20, None)}
def schema_change(kind, columns):
    cols = []
    for i, c in enumerate(columns):
        name, type_name = c.split(":")
        length, scale = lengths.get(type_name, (None, None))
        cols.append({"name": name, "jdbcType": 4, "nativeType": None, "typeName": type_name, "typeExpression": type_name,
                     "charsetName": None, "length": length, "scale": scale, "position": i + 1,
                     "optional": name != "id", "autoIncremented": False, "generated": False, "comment": None,
                     "defaultValueExpression": None, "enumValues": None})
    payload = {"source": {"version": "sqltail-test", "connector": "sqlserver", "db": db, "schema": "dbo",
                          "table": table, "commit_lsn": "0000002a:000001f0:0003"},
               "ts_ms": 1, "databaseName": db, "schemaName": "dbo", "ddl": None,
               "tableChanges": [{"type": kind, "id": '"%s"."dbo"."%s"' % (db, table),
                                 "table": {"defaultCharsetName": None, "primaryKeyColumnNames": ["id"],
                                           "columns": [] if kind == "DROP" else cols, "comment": None}}]}
    key = {"schema": {"type": "struct", "fields": [{"type": "string", "field": "databaseName"}]},
           "payload": {"databaseName": db}}
    return json.dumps(key) + "\t" + json.dumps({"schema": {"type": "struct", "optional": False}, "payload": payload})
def data(op, i, name, qty):
    cols = [("id", "int32"), ("text" if table == "test_table" else "name", "string")]
    row = {"id": int(i), cols[1][0]: name}
    if qty != "-":
        if table == "test_table":
            cols.append(("extra", "string")); row["extra"] = qty
        else:
            qty_type = "int64" if abs(int(qty)) >= 2**31 else "int32"
            cols += [("qty", qty_type), ("secret", "string")]; row.update(qty=int(qty), secret="s" + i)
    fields = [{"type": t, "optional": c != "id", "field": c} for c, t in cols]
    after = {"type": "struct", "optional": True, "field": "after", "fields": fields}
    schema = {"type": "struct", "optional": False, "fields": [dict(after, field="before"), after,
              {"type": "string", "optional": False, "field": "op"}]}
    payload = {"before": None, "after": row, "op": op,
               "source": {"connector": "sqlserver", "db": db, "schema": "dbo", "table": table}}
    key = {"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]}, "payload": {"id": int(i)}}
    return json.dumps(key) + "\t" + json.dumps({"schema": schema, "payload": payload})
with open(out, "w") as f:
    for line in lines:
        parts = line.split(" ")
        if parts[0] == "schema":
            f.write(schema_change(parts[1], parts[2:]) + "\n")
        else:
            f.write(data(parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else "-") + "\n")
PY
}
produce() {  # topic name
  kcat -b "$BOOTSTRAP" -P -t "$1" -K $'\t' -l "$RUN/$2.txt" || fail "producing $2 to $1"
}

if [[ "$KIND" == sqlserver ]]; then
  capture_fixture 20 11 5
  mkdir -p "$RUN/target"
  cp "$RUN/fixture/log.jsonl" "$RUN/fixture/catalog.json" "$RUN/target/"
  TPORT=$(free_port)
  REPLAY_ARGS="--record-batches $RUN/batches.jsonl" start_replay "$RUN/target" "$TPORT" "$RUN/target-replay.log" ||
    fail "target tds-replay did not start"
  pids+=("$REPLAY_PID")
  text_type=$(python3 -c '
import json, sys
for v in json.load(open(sys.argv[1]))["versions"]:
    for t in v["tables"]:
        for c in t["columns"]:
            if c.get("name") == "text": print(c["type"]); sys.exit()' "$RUN/fixture/catalog.json")
  events alter source_db test_table "schema ALTER id:int text:$text_type extra:nvarchar" "data c 9999 last x'y"
  head -1 "$RUN/alter.txt" > "$RUN/alter-schema.txt"
  tail -1 "$RUN/alter.txt" > "$RUN/alter-data.txt"
  produce "$PREFIX" alter-schema
  cat > "$RUN/apply.conf" <<CONF
[apply]
topics = $TOPIC
stop_when_idle_ms = 1500

[target]
kind = sqlserver
host = 127.0.0.1
port = $TPORT
user = sqltail
password = replay
database = target_db
encryption = off

[kafka]
bootstrap_servers = $BOOTSTRAP
CONF
  "$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply.log" 2>&1 || fail "apply into tds-replay failed"
  grep -q "2 schema changes" "$RUN/apply.log" || fail "the CREATE and the ALTER are not counted"
  grep -q "schema evolution: table test_table gets column(s) extra (ALTER \"source_db\".\"dbo\".\"test_table\"" \
    "$RUN/apply.log" || fail "the ALTER did not add column extra"
  # Then the event carrying extra. tds-replay's catalog does not learn the column, so this run adds
  # it again (guarded by IF COL_LENGTH, a no-op on a server that has it) before its MERGE.
  produce "$TOPIC" alter-data
  "$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply2.log" 2>&1 || fail "second apply into tds-replay failed"
  grep -q "1 events (1 upserts" "$RUN/apply2.log" || fail "the event with extra is not applied"
  python3 - "$RUN/batches.jsonl" <<'PY' || fail "recorded batches"
import json, sys
batches = [json.loads(line)["sql"] for line in open(sys.argv[1])]
alter = "IF COL_LENGTH(N'[dbo].[test_table]', N'extra') IS NULL ALTER TABLE [dbo].[test_table] ADD [extra] nvarchar(max) NULL;\n"
at = [i for i, b in enumerate(batches) if alter in b]
if not at or not batches[at[0]].startswith("BEGIN TRANSACTION;\n"):
    print("FAIL: the ALTER is not sent in a transaction", at); sys.exit(1)
# The batch ends with it: no statement after it (one naming extra would not compile with it).
if any(not batches[i].endswith(alter) for i in at):
    print("FAIL: a statement follows the ALTER in its batch"); sys.exit(1)
# The ALTER event's transaction commits with the schema topic's progress.
if not any("COMMIT TRANSACTION" in b and "sqltail_progress" in b for b in batches[at[0] + 1:at[0] + 2]):
    print("FAIL: the ALTER's transaction does not commit with its progress"); sys.exit(1)
merge = [i for i, b in enumerate(batches) if "(9999, N'last', N'x''y')" in b and "[extra]" in b]
if not merge or merge[0] <= at[-1]:
    print("FAIL: the row with extra is not merged after the ALTER", at, merge); sys.exit(1)
if not batches[merge[0]].endswith("COMMIT TRANSACTION;\n"):
    print("FAIL: the transaction does not commit"); sys.exit(1)
PY
  echo "PASS: schema evolution into tds-replay as SQL Server"
  exit 0
fi

S="$PREFIX"
T="$PREFIX.src.dbo.orders"
create_topics "$S" "$T"
DB="$RUN/target.db"
if [[ "$KIND" == sqlite ]]; then
  write_apply_config "$RUN/apply.conf" "$BOOTSTRAP" "$T" "$DB"
else
  write_pg_apply_config "$RUN/apply.conf" "$T"
fi
cat >> "$RUN/apply.conf" <<CONF
[apply]
stop_when_idle_ms = 1500
route.regex = [^.]+\\.src\\.dbo\\.(.*)
route.replacement = copy_\$1
fields.rename = qty:quantity
fields.exclude = secret
CONF
query() {
  if [[ "$KIND" == sqlite ]]; then
    sqlite3 "$DB" "$1"
  else
    psql "$PG_DSN" -Atq -c "SET search_path = \"$PG_SCHEMA\"; $1"
  fi
}
columns() {
  if [[ "$KIND" == sqlite ]]; then
    query "SELECT group_concat(name, ',') FROM pragma_table_info('copy_orders')"
  else
    query "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
           WHERE table_schema = '$PG_SCHEMA' AND table_name = 'copy_orders'"
  fi
}
rows() { query "SELECT id, name, coalesce(quantity, -1) FROM copy_orders ORDER BY id" | tr '\n' ' '; }
schema_progress() { query "SELECT next_offset FROM sqltail_progress WHERE topic = '$S'"; }
apply_run() {  # log
  "$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/$1" 2>&1 || fail "apply ($1) failed"
}

# 1. CREATE and a first event.
events create src orders "schema CREATE id:int name:nvarchar" && produce "$S" create
events c1 src orders "data c 1 ann" && produce "$T" c1
apply_run apply1.log
[[ "$(columns)" == "id,name" ]] || fail "after CREATE: columns $(columns)"
[[ "$(query "SELECT id, name FROM copy_orders")" == "1|ann" ]] || fail "after CREATE: rows"

# 2. ALTER alone: the column appears before any event carries it; its progress is stored.
events alter src orders "schema ALTER id:int name:nvarchar qty:int secret:varchar" && produce "$S" alter
apply_run apply2.log
[[ "$(columns)" == "id,name,quantity" ]] || fail "after ALTER: columns $(columns) (want id,name,quantity)"
grep -q "schema evolution: table copy_orders gets column(s) quantity (ALTER \"src\".\"dbo\".\"orders\", topic $S, partition 0, offset 1)" \
  "$RUN/apply2.log" || fail "the ALTER is not logged"
grep -q "0 events .* 1 schema changes" "$RUN/apply2.log" || fail "the ALTER is not counted"
[[ "$(schema_progress)" == 2 ]] || fail "schema topic progress $(schema_progress), not 2"

# 3. The events after it: their qty lands.
events more src orders "data c 2 bo 5" "data u 1 ann 7" && produce "$T" more
apply_run apply3.log
[[ "$(rows)" == "1|ann|7 2|bo|5 " ]] || fail "after the events with qty: rows $(rows)"

# 4. The ALTER again (a restart before its progress was stored): a no-op.
query "UPDATE sqltail_progress SET next_offset = 1 WHERE topic = '$S'" > /dev/null
apply_run apply4.log
grep -q "1 schema changes" "$RUN/apply4.log" || fail "the re-delivered ALTER is not read"
grep -q "gets column" "$RUN/apply4.log" && fail "the re-delivered ALTER added a column"
[[ "$(columns)" == "id,name,quantity" ]] || fail "after the re-delivered ALTER: columns $(columns)"
[[ "$(rows)" == "1|ann|7 2|bo|5 " ]] || fail "after the re-delivered ALTER: rows $(rows)"
[[ "$(schema_progress)" == 2 ]] || fail "schema topic progress $(schema_progress) after re-delivery"

# 5. qty becomes bigint at the source. Its change events come first, in one run: the first
#    carries int32 and defines the table, the second int64, which defines it again (same fields,
#    another type), so the stored column is widened where it could not hold the value. The ALTER
#    read after them finds nothing to do.
events big src orders "data c 3 cy 8" "data c 4 dee 1099511627776" && produce "$T" big
apply_run apply5.log
if [[ "$KIND" == postgresql ]]; then
  [[ $(grep -c "schema evolution: table copy_orders widens column(s) quantity integer -> bigint (a change event, topic $T, partition 0, offset 4)" "$RUN/apply5.log") == 1 ]] ||
    fail "the change event with int64 did not widen quantity once"
  [[ "$(query "SELECT data_type FROM information_schema.columns WHERE table_schema = '$PG_SCHEMA'
        AND table_name = 'copy_orders' AND column_name = 'quantity'")" == bigint ]] || fail "quantity is not bigint"
else
  grep -q "widens" "$RUN/apply5.log" && fail "SQLite widened a column"
fi
want_rows="1|ann|7 2|bo|5 3|cy|8 4|dee|1099511627776 "
[[ "$(rows)" == "$want_rows" ]] || fail "after the widening: rows $(rows)"
events widen src orders "schema ALTER id:int name:nvarchar qty:bigint secret:varchar" && produce "$S" widen
apply_run apply5b.log
grep -q "1 schema changes" "$RUN/apply5b.log" || fail "the ALTER to bigint is not read"
grep -q "widens" "$RUN/apply5b.log" && fail "the ALTER after the widening widened again"
[[ "$(schema_progress)" == 3 ]] || fail "schema topic progress $(schema_progress) after the ALTER to bigint"

# 6. DROP: logged, the table stays.
events drop src orders "schema DROP" && produce "$S" drop
apply_run apply6.log
grep -q "schema change DROP of \"src\".\"dbo\".\"orders\" (topic $S, partition 0, offset 3): table copy_orders is left as it is" \
  "$RUN/apply6.log" || fail "the DROP is not logged"
[[ "$(rows)" == "$want_rows" ]] || fail "after DROP: rows $(rows)"

# 7. A bad schema change event (apply.on_error = fail): stops, naming it.
events bad src orders "schema ALTER id:int name:nvarchar phone:dbo.Phone" && produce "$S" bad
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply7.log" 2>&1 && fail "apply did not stop at the bad event"
grep -q "topic $S, partition 0, offset 4: table copy_orders, key .*: ALTER \"src\".\"dbo\".\"orders\": column phone: unknown type 'dbo.Phone'" \
  "$RUN/apply7.log" || fail "the error does not name topic, partition, offset, table and type"
[[ "$(schema_progress)" == 4 ]] || fail "the bad event's progress was stored"
echo "PASS: schema evolution ($KIND): CREATE, ALTER (renamed, excluded), values after it, re-delivery, widening, DROP, bad event"
