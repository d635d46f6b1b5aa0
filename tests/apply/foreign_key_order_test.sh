#!/usr/bin/env bash
# Foreign keys in a PostgreSQL target: the applier batches each table's events and writes a batch
# as one statement, yet tables that take part in a foreign key must see their events in log order.
# The test pre-creates parent/child tables (child.parent_id REFERENCES parent) and a
# self-referencing node table, with parent 5 / child 50 and node 1 / node 2 (parent 1) already there.
# Then it applies, from one topic, in one target transaction:
#   delete child 50, delete parent 5, insert parent 2, insert child 20 (parent 2):
#     any per-table order fails: parent first cannot delete 5, child first cannot insert 20;
#   insert node 3, update node 2 to parent 3, delete node 1:
#     deletes before upserts within the table fail (node 2 still points at 1).
# The target must end with exactly the source's rows, and the whole stream in one target
# transaction (so the test really covers batching, not one event per transaction).
NEEDS_PG=1
source "$(dirname "$0")/common.sh"
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }
T="$PREFIX.src.dbo.all"

# Debezium-style events, each its own source transaction: key<TAB>value per line.
python3 - "$RUN/events.txt" <<'PY'
import json, sys
def field(name, type_, optional=True):
    return {"type": type_, "optional": optional, "field": name}
def event(table, columns, op, before=None, after=None):
    row = {"type": "struct", "optional": True, "field": "after",
           "fields": [field(c, t, c != "id") for c, t in columns]}
    schema = {"type": "struct", "optional": False, "fields": [dict(row, field="before"), row,
              {"type": "struct", "optional": False, "field": "source", "fields": []},
              field("op", "string", False)]}
    payload = {"before": before, "after": after, "op": op, "ts_ms": 0,
               "source": {"connector": "sqlserver", "db": "src", "schema": "dbo", "table": table}}
    key = {"schema": {"type": "struct", "optional": False, "fields": [field("id", "int32", False)]},
           "payload": {"id": (after or before)["id"]}}
    return json.dumps(key) + "\t" + json.dumps({"schema": schema, "payload": payload})
parent = [("id", "int32"), ("name", "string")]
child = [("id", "int32"), ("parent_id", "int32"), ("name", "string")]
node = [("id", "int32"), ("parent_id", "int32")]
events = [
    event("child", child, "d", before={"id": 50, "parent_id": 5, "name": "c50"}),
    event("parent", parent, "d", before={"id": 5, "name": "p5"}),
    event("parent", parent, "c", after={"id": 2, "name": "p2"}),
    event("child", child, "c", after={"id": 20, "parent_id": 2, "name": "c20"}),
    event("node", node, "c", after={"id": 3, "parent_id": None}),
    event("node", node, "u", before={"id": 2, "parent_id": 1}, after={"id": 2, "parent_id": 3}),
    event("node", node, "d", before={"id": 1, "parent_id": None}),
]
open(sys.argv[1], "w").write("\n".join(events) + "\n")
PY
create_topics "$T"
kcat -b "$BOOTSTRAP" -P -t "$T" -K $'\t' -l "$RUN/events.txt" || fail "producing $T"

psql "$PG_DSN" -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$PG_SCHEMA\";
  SET search_path TO \"$PG_SCHEMA\";
  CREATE TABLE parent (id integer PRIMARY KEY, name text);
  CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id), name text);
  CREATE TABLE node (id integer PRIMARY KEY, parent_id integer REFERENCES node (id));
  INSERT INTO parent VALUES (5, 'p5'); INSERT INTO child VALUES (50, 5, 'c50');
  INSERT INTO node VALUES (1, NULL), (2, 1);" > /dev/null || fail "creating the target tables"

write_pg_apply_config "$RUN/apply.conf" "$T"
printf '[apply]\nstop_when_idle_ms = 1500\nbatch_max_ms = 3000\n' >> "$RUN/apply.conf"
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply.log" 2>&1 || fail "apply failed"
grep -q "7 events .* in 1 target transactions" "$RUN/apply.log" ||
  fail "the seven events were not applied in one target transaction: $(tail -1 "$RUN/apply.log")"
rows() { psql "$PG_DSN" -Atq -c "SELECT * FROM \"$PG_SCHEMA\".$1 ORDER BY id" | tr '\n' ' '; }
[[ "$(rows parent)" == "2|p2 " ]] || fail "parent holds $(rows parent)"
[[ "$(rows child)" == "20|2|c20 " ]] || fail "child holds $(rows child)"
[[ "$(rows node)" == "2|3 3| " ]] || fail "node holds $(rows node)"
echo "PASS: foreign keys hold in log order (PostgreSQL)"
