#!/usr/bin/env bash
# An independent client: Microsoft's JDBC driver (mssql-jdbc, from Maven Central) reads fn_dblog
# from tds-replay as it would read SQL Server. It must get the fixture's rows with fn_dblog's column
# types (log-internals.md section 1), the inclusive ranges in hex, decimal-colon and numeric
# argument forms, and error 207 for an unknown column. jdbc/pom.xml pins the driver; mvn copies it
# into .deps/tds-jdbc on the first run, and later runs are offline.
# Needs BIN (the build's bin directory) and REPO.
set -euo pipefail
: "${BIN:?}" "${REPO:?}"
fixture="$REPO/tests/tds/data/mini"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-jdbc-client.XXXXXX")
REPLAY_PID=
cleanup() {
  [[ -z "$REPLAY_PID" ]] || kill "$REPLAY_PID" 2> /dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
fail() { echo "jdbc_client_test: FAIL: $*" >&2; exit 1; }

deps="$REPO/.deps/tds-jdbc"
if [[ ! -f "$deps/mssql-jdbc-13.2.0.jre11.jar" ]]; then
  rm -rf "$deps.partial"
  # Staging dir + rename, so an interrupted download is never taken for a complete one.
  (cd "$REPO/tests/tds/jdbc" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$deps.partial" && rm -rf target) || fail "mvn could not fetch mssql-jdbc"
  rm -rf "$deps" && mv "$deps.partial" "$deps"
fi
javac -d "$RUN/classes" -cp "$deps/*" "$REPO/tests/tds/jdbc/src/FnDblogRead.java" > "$RUN/javac.log" 2>&1 ||
  fail "javac: $(head -5 "$RUN/javac.log")"

source "$REPO/scripts/lib/pipeline.sh"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_replay "$fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"

cols="[Current LSN], [Operation], [Context], [Transaction ID], [Log Record Length], [AllocUnitId], [PartitionId], [Page ID], [Slot ID], [Log Record]"
timeout 120 java -cp "$RUN/classes:$deps/*" FnDblogRead "$port" \
  "SELECT $cols FROM sys.fn_dblog(NULL, NULL)" \
  "SELECT [Current LSN] FROM sys.fn_dblog(N'0x00000025:00000010:0002', N'0x00000025:00000018:0001')" \
  "SELECT [Current LSN] FROM sys.fn_dblog('37:16:3', DEFAULT)" \
  "SELECT [Current LSN] FROM sys.fn_dblog('37000000002400001', NULL)" \
  "SELECT TOP (2) [Current LSN] FROM sys.fn_dblog(NULL, NULL)" \
  "SELECT [Bogus] FROM sys.fn_dblog(NULL, NULL)" \
  "SELECT [Current LSN] FROM sys.fn_dblog(NULL, NULL)" > "$RUN/jdbc.out" 2> "$RUN/jdbc.err" ||
  fail "the JDBC client failed: $(tail -5 "$RUN/jdbc.err")"

python3 - "$RUN/jdbc.out" "$fixture/log.jsonl" <<'PY'
import json, sys
answers = []  # [(query, columns, rows, error)]
for line in open(sys.argv[1]).read().splitlines():
    kind, *fields = line.split("\t")
    if kind == "query":
        answers.append({"columns": [], "rows": [], "error": None})
    elif kind == "column":
        answers[-1]["columns"].append(tuple(fields))
    elif kind == "row":
        answers[-1]["rows"].append(fields)
    elif kind == "error":
        answers[-1]["error"] = fields[0]
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
lsns = [l["Current LSN"] for l in lines]
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)

full = answers[0]
want_columns = [("Current LSN", "nvarchar", "23"), ("Operation", "nvarchar", "31"), ("Context", "nvarchar", "31"),
                ("Transaction ID", "nvarchar", "14"), ("Log Record Length", "smallint", "5"),
                ("AllocUnitId", "bigint", "19"), ("PartitionId", "bigint", "19"), ("Page ID", "nvarchar", "14"),
                ("Slot ID", "int", "10"), ("Log Record", "varbinary", "8000")]
check([c[:3] for c in full["columns"]] == want_columns, "columns %r" % full["columns"])
check(all(c[3] == "true" for c in full["columns"]), "every column nullable")
check(len(full["rows"]) == len(lines), "%d rows, the fixture has %d" % (len(full["rows"]), len(lines)))
for row, want in zip(full["rows"], lines):
    for i, (name, _, _) in enumerate(want_columns):
        value = want.get(name)
        expected = "\\N" if value is None else (value.upper().replace("0X", "0x") if name == "Log Record" else str(value))
        check(row[i] == expected, "%s %s: %r, the fixture has %r" % (want["Current LSN"], name, row[i][:60], expected[:60]))
firsts = lambda a: [r[0] for r in a["rows"]]
check(firsts(answers[1]) == lsns[1:4], "hex range: %r" % firsts(answers[1]))
check(firsts(answers[2]) == lsns[2:], "decimal colon start: %r" % firsts(answers[2]))
check(firsts(answers[3]) == lsns[3:], "numeric start: %r" % firsts(answers[3]))
check(firsts(answers[4]) == lsns[:2], "TOP (2): %r" % firsts(answers[4]))
check(answers[5]["error"] == "207", "unknown column: error %r, want 207" % answers[5]["error"])
check(firsts(answers[6]) == lsns, "the connection works after the error")
if failures:
    sys.exit("%d check(s) failed" % len(failures))
print("mssql-jdbc read %d fn_dblog rows from tds-replay with SQL Server's types" % len(full["rows"]))
PY
