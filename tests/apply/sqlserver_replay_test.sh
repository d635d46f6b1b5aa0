#!/usr/bin/env bash
# sqltail apply with target.kind = sqlserver, writing into tds-replay (which records every batch):
# captured events of a fixture must arrive as MERGE rows with exactly the source values, in
# BEGIN/COMMIT batches carrying the progress, with IDENTITY_INSERT for the identity column the
# target's catalog reports; a restart reads the stored progress and writes nothing again; a routed
# topic goes to a table the target lacks, which is created first.
source "$(dirname "$0")/common.sh"
ROWS=300
capture_fixture "$ROWS" 7 40

# The target: tds-replay on a copy of the fixture whose catalog marks id as an IDENTITY column.
mkdir -p "$RUN/target"
cp "$RUN/fixture/log.jsonl" "$RUN/target/"
python3 - "$RUN/fixture/catalog.json" "$RUN/target/catalog.json" <<'PY'
import json, sys
catalog = json.load(open(sys.argv[1]))
for version in catalog["versions"]:
    for table in version["tables"]:
        for column in table["columns"]:
            if column.get("name") == "id":
                column["is_identity"] = True
json.dump(catalog, open(sys.argv[2], "w"))
PY
TPORT=$(free_port)
REPLAY_ARGS="--record-batches $RUN/batches.jsonl" start_replay "$RUN/target" "$TPORT" "$RUN/target-replay.log" ||
  fail "target tds-replay did not start"
pids+=("$REPLAY_PID")

write_sqlserver_config() {  # file
  cat > "$1" <<CONF
[apply]
topics = $TOPIC
stop_when_idle_ms = 1500
batch_max_events = 100

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
}
write_sqlserver_config "$RUN/apply.conf"
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply.log" 2>&1 || fail "apply into tds-replay failed"
grep -q "$ROWS events" "$RUN/apply.log" || fail "apply did not report $ROWS events"

python3 - "$RUN/batches.jsonl" "$RUN/fixture/source.jsonl" "$TOPIC" "$ROWS" <<'PY' || fail "recorded batches"
import json, re, sys
batches = [json.loads(line)["sql"] for line in open(sys.argv[1])]
topic, rows = sys.argv[3], int(sys.argv[4])
def check(cond, what):
    if not cond:
        print("FAIL:", what)
        for b in batches[:6]:
            print("----\n" + b[:1500])
        sys.exit(1)
check(batches[0].startswith("SET XACT_ABORT ON;"), "the session starts with SET XACT_ABORT ON")
check("CREATE TABLE [dbo].[sqltail_progress]" in batches[0], "the progress table is created when missing")
check(batches[1] == "SELECT [topic], [partition], [next_offset] FROM [dbo].[sqltail_progress];", "progress is read")
catalog = [b for b in batches if "sys.columns" in b]
check(len(catalog) == 1 and "OBJECT_ID(N'[dbo].[test_table]')" in catalog[0], "one catalog query for the table")
writes = [b for b in batches if b.startswith("BEGIN TRANSACTION;")]
# The schema change topic (the prefix) is a second partition: its progress rides in whichever
# transaction follows its event, which may be one of its own after the last data batch, since the
# order in which partitions are consumed is not fixed. Such a transaction writes no row.
schema_topic = topic.split(".")[0]
data_mark = "[topic] = N'%s' AND [partition] = 0" % topic
schema_only = [b for b in writes if data_mark not in b]
check(all("MERGE" not in b and "DELETE" not in b for b in schema_only), "rows are written with their progress")
schema_saves = sum(len(re.findall(r"VALUES \(N'%s', 0, 1\);" % re.escape(schema_topic), b)) for b in writes)
check(schema_saves == 1 and len(schema_only) <= 1, "the schema change topic's progress is saved once")
writes = [b for b in writes if data_mark in b]
check(len(writes) >= 2, "several target transactions (batch_max_events = 100)")
# Progress is a compare-and-set in the same transaction: the first one inserts where no row may be,
# each later one updates from exactly the offset the one before stored.
stored = None
for b in writes:
    check(b.endswith("COMMIT TRANSACTION;\n"), "each transaction commits in its batch")
    if stored is None:
        check("WITH (UPDLOCK, HOLDLOCK) WHERE [topic] = N'%s' AND [partition] = 0) THROW 51000" % topic in b,
              "the first progress save refuses an existing row")
        saved = re.findall(r"INSERT INTO \[dbo\]\.\[sqltail_progress\] .* VALUES \(N'%s', 0, (\d+)\);" % re.escape(topic), b)
    else:
        saved = re.findall(r"SET \[next_offset\] = (\d+) WHERE \[topic\] = N'%s' AND \[partition\] = 0 AND "
                           r"\[next_offset\] = %s;\nIF @@ROWCOUNT = 0 THROW 51000" % (re.escape(topic), stored), b)
    check(len(saved) == 1, "progress in the same transaction, from %s" % stored)
    stored = saved[0]
    check("CREATE TABLE [dbo].[test_table]" not in b, "the existing table is not created")
    check(b.count("SET IDENTITY_INSERT [dbo].[test_table] ON;") == b.count("MERGE [dbo].[test_table] WITH (UPDLOCK, HOLDLOCK)"),
          "IDENTITY_INSERT around every MERGE")
    check(b.count("SET IDENTITY_INSERT [dbo].[test_table] OFF;") == b.count("SET IDENTITY_INSERT [dbo].[test_table] ON;"),
          "IDENTITY_INSERT switched off again")
everything = "".join(writes)
# Every source row, with its exact values, in a MERGE's VALUES list.
for line in open(sys.argv[2]):
    row = json.loads(line)["row"]
    literal = "(%d, N'%s')" % (row["id"], row["text"].replace("'", "''"))
    check(literal in everything, "source row %d is merged as %s" % (row["id"], literal))
merged = len(re.findall(r"^\(\d+, N'", everything, re.M))
check(merged == rows, "exactly %d rows merged, got %d" % (rows, merged))
check("WHEN MATCHED THEN UPDATE SET t.[text] = s.[text]" in everything, "MERGE updates the non-key column")
# The last progress written is the end of the partition.
open(sys.argv[1] + ".progress", "w").write(stored)
PY

# Restart: the stored progress comes back from tds-replay; nothing is written again.
before=$(wc -l < "$RUN/batches.jsonl")
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply2.log" 2>&1 || fail "second apply failed"
grep -q " 0 events" "$RUN/apply2.log" || fail "the restarted applier applied events again"
tail -n +"$((before + 1))" "$RUN/batches.jsonl" | grep -q "MERGE" && fail "the restarted applier wrote rows again"

# A delete and a truncate (Debezium envelopes appended to the topic): one DELETE ... JOIN (VALUES)
# and one DELETE FROM, each in a transaction with its progress.
command -v kcat > /dev/null || { echo "kcat is not installed: test skipped"; exit 77; }
test_table_events "$RUN/more.txt" d:0:x t::
kcat -b "$BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -l "$RUN/more.txt" || fail "producing the delete and the truncate"
before=$(wc -l < "$RUN/batches.jsonl")
"$BIN/sqltail" apply --config "$RUN/apply.conf" > "$RUN/apply4.log" 2>&1 || fail "apply of delete and truncate failed"
grep -q "2 events (0 upserts, 1 deletes, 1 truncates" "$RUN/apply4.log" || fail "delete and truncate not counted"
tail -n +"$((before + 1))" "$RUN/batches.jsonl" > "$RUN/batches4.jsonl"
python3 - "$RUN/batches4.jsonl" "$(cat "$RUN/batches.jsonl.progress")" "$TOPIC" <<'PY' || fail "delete/truncate batches"
import json, sys
text = "".join(json.loads(line)["sql"] for line in open(sys.argv[1]))
start = int(sys.argv[2])
for want in ["DELETE t FROM [dbo].[test_table] AS t INNER JOIN (VALUES\n(0)\n) AS s ([id]) ON t.[id] = s.[id];",
             "IF OBJECT_ID(N'[dbo].[test_table]', N'U') IS NOT NULL DELETE FROM [dbo].[test_table];",
             "AND [partition] = 0 AND [next_offset] = %d;\nIF @@ROWCOUNT = 0 THROW 51000" % start]:
    if want not in text:
        print("FAIL: missing", repr(want)); print(text[:3000]); sys.exit(1)
# The progress moves past both events (offsets after the capture's commit marker).
import re
stored = [int(x) for x in re.findall(r"SET \[next_offset\] = (\d+) WHERE \[topic\] = N'%s'" % re.escape(sys.argv[3]), text)]
if len(stored) != 1 or stored[0] < start + 2:
    print("FAIL: progress", stored, "after", start); sys.exit(1)
PY

# A routed topic to a table the target lacks: created (with a key) in the first transaction.
"$BIN/sqltail" apply --config "$RUN/apply.conf" --set "apply.route.regex=.*\\.dbo\\.(.*)" \
  --set "apply.route.replacement=copy_\$1" --set target.schema=sales > "$RUN/apply3.log" 2>&1 || fail "routed apply failed"
python3 - "$RUN/batches.jsonl" "$ROWS" <<'PY' || fail "routed batches"
import json, sys
batches = [json.loads(line)["sql"] for line in open(sys.argv[1])]
writes = [b for b in batches if "[sales].[copy_test_table]" in b and b.startswith("BEGIN TRANSACTION;")]
if not writes or "CREATE TABLE [sales].[copy_test_table] ([id] int NOT NULL, [text] nvarchar(max) NULL, PRIMARY KEY ([id]));" not in writes[0]:
    print("FAIL: the routed table is not created first"); sys.exit(1)
if any("IDENTITY_INSERT" in b for b in writes):
    print("FAIL: a created table has no identity"); sys.exit(1)
if sum(b.count("\n(") for b in writes) < int(sys.argv[2]):
    print("FAIL: routed rows missing"); sys.exit(1)
PY
echo "PASS: apply into tds-replay as SQL Server"
