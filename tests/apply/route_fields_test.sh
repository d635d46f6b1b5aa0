#!/usr/bin/env bash
# Routing (apply.route.regex/replacement), field renames and exclusion (apply.fields.*), truncate
# events and partial updates (header sqltail.unavailable), into SQLite or PostgreSQL (argument).
# Events, in order: c 1, c 2, t (truncate), c 1 again, c 3, u 1 with `note` unavailable.
# Expected: table copy_orders (routed) with columns id, full_name (renamed from name), note (secret
# left out); rows (1, b, keep) (note untouched by the partial update) and (3, z, n3).
KIND=${1:-sqlite}
[[ "$KIND" == postgresql ]] && NEEDS_PG=1
source "$(dirname "$0")/common.sh"
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }
T="$PREFIX.src.dbo.orders"

python3 - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
cols = [("id", "int32"), ("name", "string"), ("note", "string"), ("secret", "string")]
def event(op, row):
    fields = [{"type": t, "optional": c != "id", "field": c} for c, t in cols]
    after = {"type": "struct", "optional": True, "field": "after", "fields": fields}
    schema = {"type": "struct", "optional": False, "fields": [dict(after, field="before"), after,
              {"type": "string", "optional": False, "field": "op"}]}
    payload = {"before": None, "after": row, "op": op,
               "source": {"connector": "sqlserver", "db": "src", "schema": "dbo", "table": "orders"}}
    key = "null" if row is None else json.dumps({"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]},
                                                 "payload": {"id": row["id"]}})
    return key + "\t" + json.dumps({"schema": schema, "payload": payload})
def row(i, name, note):
    return {"id": i, "name": name, "note": note, "secret": "s%d" % i}
with open(run + "/before.txt", "w") as f:
    for line in [event("c", row(1, "a", "old")), event("c", row(2, "x", "n2")), event("t", None),
                 event("c", row(1, "a", "keep")), event("c", row(3, "z", "n3"))]:
        f.write(line + "\n")
with open(run + "/partial.txt", "w") as f:
    f.write(event("u", row(1, "b", "__debezium_unavailable_value")) + "\n")
PY
create_topics "$T"
kcat -b "$BOOTSTRAP" -P -t "$T" -K $'\t' -l "$RUN/before.txt" || fail "producing"
kcat -b "$BOOTSTRAP" -P -t "$T" -K $'\t' -H "sqltail.unavailable=note" -l "$RUN/partial.txt" || fail "producing"

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
fields.rename = name:full_name
fields.exclude = secret
CONF
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply.log" 2>&1 || fail "apply failed"
grep -q "1 truncates" "$RUN/apply.log" || fail "the truncate is not counted"

if [[ "$KIND" == sqlite ]]; then
  columns=$(sqlite3 "$DB" "SELECT group_concat(name, ',') FROM pragma_table_info('copy_orders')")
  content=$(sqlite3 "$DB" "SELECT id, full_name, note FROM copy_orders ORDER BY id" | tr '\n' ' ')
  tables=$(sqlite3 "$DB" "SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'table' ORDER BY name")
else
  columns=$(psql "$PG_DSN" -Atq -c "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM
    information_schema.columns WHERE table_schema = '$PG_SCHEMA' AND table_name = 'copy_orders'")
  content=$(psql "$PG_DSN" -Atq -c "SELECT id, full_name, note FROM \"$PG_SCHEMA\".copy_orders ORDER BY id" | tr '\n' ' ')
  tables=$(psql "$PG_DSN" -Atq -c "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM
    information_schema.tables WHERE table_schema = '$PG_SCHEMA'")
fi
[[ "$columns" == "id,full_name,note" ]] || fail "columns are '$columns', not id,full_name,note"
[[ "$content" == "1|b|keep 3|z|n3 " ]] || fail "content is '$content'"
[[ ",$tables," == *",copy_orders,"* && ",$tables," != *",orders,"* ]] || fail "tables are '$tables'"

# The partial update of a row the target does not have stops the applier (its values are unknown).
if [[ "$KIND" == sqlite ]]; then
  sqlite3 "$DB" "DELETE FROM copy_orders WHERE id = 1; UPDATE sqltail_progress SET next_offset = 5"
else
  psql "$PG_DSN" -q -c "DELETE FROM \"$PG_SCHEMA\".copy_orders WHERE id = 1;
    UPDATE \"$PG_SCHEMA\".sqltail_progress SET next_offset = 5" > /dev/null
fi
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply2.log" 2>&1 && fail "a partial update of a missing row passed"
grep -q "offset 5: table copy_orders, key (id)=(1): an update with unavailable columns for a row the target does not have" \
  "$RUN/apply2.log" || fail "the missing row is not named"
echo "PASS: routing, fields, truncate, partial updates ($KIND)"
