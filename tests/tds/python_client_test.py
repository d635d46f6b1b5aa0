#!/usr/bin/python3
"""An independent TDS client (python3-tds, pure Python: it shares no code with FreeTDS or with
tds-replay) reads fn_dblog from tds-replay the way it would read SQL Server, and gets the fixture's
rows with fn_dblog's column types (log-internals.md section 1: nvarchar(23) LSNs, smallint
[Log Record Length], bigint allocation unit and partition ids, int [Slot ID], varbinary(8000)
[Log Record]).

Usage: python_client_test.py TDS_REPLAY_BIN FIXTURE_DIR
"""
import json
import os
import subprocess
import sys

try:
    import pytds
    import pytds.tds_base as tds_base
except ImportError:
    sys.exit("python3-tds is not installed (scripts/install-deps.sh installs it)")

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


replay_bin, fixture = sys.argv[1], sys.argv[2]
replay = subprocess.Popen([replay_bin, "--fixture", fixture, "--port", "0"], stdout=subprocess.PIPE, text=True)
try:
    line = replay.stdout.readline()
    port = int(line.rsplit(":", 1)[1])
    connection = pytds.connect(server="127.0.0.1", port=port, database="source_db", user="sqltail",
                               password="x", autocommit=True, login_timeout=10, timeout=10)
    cursor = connection.cursor()
    columns = ["Current LSN", "Operation", "Context", "Transaction ID", "Log Record Length", "AllocUnitId",
               "PartitionId", "Page ID", "Slot ID", "Log Record"]
    select = "SELECT " + ", ".join("[%s]" % c for c in columns) + " FROM sys.fn_dblog("

    # Types: TDS type token and size, as SQL Server declares fn_dblog's columns.
    cursor.execute(select + "NULL, NULL)")
    rows = cursor.fetchall()
    expected_types = {
        "Current LSN": (tds_base.XSYBNVARCHAR, 23), "Operation": (tds_base.XSYBNVARCHAR, 31),
        "Context": (tds_base.XSYBNVARCHAR, 31), "Transaction ID": (tds_base.XSYBNVARCHAR, 14),
        "Log Record Length": (tds_base.SYBINT2, 2), "AllocUnitId": (tds_base.SYBINT8, 8),
        "PartitionId": (tds_base.SYBINT8, 8), "Page ID": (tds_base.XSYBNVARCHAR, 14),
        "Slot ID": (tds_base.SYBINT4, 4), "Log Record": (tds_base.XSYBVARBINARY, 8000),
    }
    got_names = [d[0] for d in cursor.description]
    check(got_names == columns, "column names %r" % got_names)
    for d in cursor.description:
        want = expected_types.get(d[0])
        check(want is not None and d[1] == want[0] and int(d[3]) == want[1],
              "column %s: type %r size %r, want %r" % (d[0], d[1], d[3], want))
        check(d[6] == 1, "column %s is nullable" % d[0])

    # Rows: every column of every fixture line, NULL where the line has null or no key.
    with open(os.path.join(fixture, "log.jsonl")) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    check(len(rows) == len(lines), "%d rows, the fixture has %d" % (len(rows), len(lines)))
    for row, want in zip(rows, lines):
        for i, name in enumerate(columns):
            value = want.get(name)
            if name == "Log Record" and value is not None:
                value = bytes.fromhex(value[2:])
            check(row[i] == value, "%s %s: %r, the fixture has %r" % (want["Current LSN"], name, row[i], value))

    # Ranges with inclusive bounds, in the argument forms SQL Server takes.
    def lsns(arguments, top=None):
        cursor.execute(("SELECT TOP (%d) " % top if top else "SELECT ") + "[Current LSN] FROM sys.fn_dblog(" +
                       arguments + ")")
        return [r[0] for r in cursor.fetchall()]

    all_lsns = [l["Current LSN"] for l in lines]
    check(lsns("N'0x%s', N'0x%s'" % (all_lsns[1], all_lsns[3])) == all_lsns[1:4], "hex range")
    parts = [int(p, 16) for p in all_lsns[2].split(":")]
    check(lsns("'%d:%d:%d', DEFAULT" % tuple(parts)) == all_lsns[2:], "decimal colon start")
    check(lsns("'%d%010d%05d', NULL" % tuple(parts)) == all_lsns[2:], "numeric start")
    check(lsns("NULL, NULL", top=2) == all_lsns[:2], "TOP (2)")

    # An error SQL Server would raise comes back as one, and the connection stays usable.
    try:
        cursor.execute("SELECT [Bogus] FROM sys.fn_dblog(NULL, NULL)")
        cursor.fetchall()
        check(False, "an unknown column gave no error")
    except pytds.ProgrammingError as e:
        check(getattr(e, "number", None) == 207, "unknown column: error %r, want 207" % getattr(e, "number", None))
    check(lsns("NULL, NULL") == all_lsns, "the connection works after the error")
    connection.close()
finally:
    replay.terminate()
    replay.wait(timeout=10)

if failures:
    sys.exit("%d check(s) failed" % len(failures))
print("python3-tds read %d fn_dblog rows from tds-replay with SQL Server's types" % len(rows))
