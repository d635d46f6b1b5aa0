#!/usr/bin/env bash
# capture.log_safeguard = open_transaction through a real broker, against tds-replay serving a log
# that grows over four VLFs and recording every batch with its session and every held transaction:
# (1) the safeguard table is created before the first hold; transactions are held on dedicated
#     sessions, each begin LSN is the one tds-replay wrote (and the capture saw it in the log); a
#     held transaction is committed only while a newer one is held that the durable restart LSN has
#     reached; from the first hold to the stop some transaction is always held; at stop all are
#     committed (none rolled back); the events are exactly the log's rows, once;
# (2) CREATE TABLE refused (permission): the capture goes on, counts and logs the failures;
# (3) a holder session lost (once): reported, counted, held anew on a reconnected session; nothing lost.
source "$(dirname "$0")/common.sh"
ROWS=6000
"$BIN/fixture-gen" --workload inserts --rows $ROWS --seed 29 --rows-per-transaction 1 --vlf-size-mb 1 \
  --out "$RUN/fixture" > /dev/null
port=$(free_port)
write_capture_config "$RUN/capture.conf" "$port" "$BOOTSTRAP" "$PREFIX"
capture() {  # prefix log [--set ...]
  local prefix=$1 log=$2
  shift 2
  "$BIN/sqltail" capture --config "$RUN/capture.conf" --set capture.topic_prefix="$prefix" \
    --set capture.stop_when_idle_ms=2500 --set capture.poll_batch_rows=500 --set kafka.txn_max_events=100 \
    --set capture.poll_idle_max_ms=100 --set capture.log_safeguard=open_transaction \
    --set capture.safeguard_interval_ms=200 "$@" > "$RUN/$log" 2>&1
}
serve() {  # fixture batches_file [extra tds-replay flags]
  REPLAY_ARGS="--record-batches $2 --log-growth-rows-per-s 3000 ${3:-}" \
    start_replay "$1" "$port" "$RUN/replay-$(basename "$2" .jsonl).log" ||
    fail "tds-replay did not start"
  pids+=("$REPLAY_PID")
}
stop_serving() { kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true; }

# Checks the held transactions of a recording: prints "holds releases losses".
check_holds() {  # batches capture_log expect_clean(1|0) prefix
  kcat -b "$BOOTSTRAP" -C -t "$4.offsets" -o beginning -e -q -X isolation.level=read_committed 2>/dev/null \
    > "$RUN/$4.checkpoints" || true
  python3 - "$1" "$2" "$3" "$RUN/$4.checkpoints" <<'PY'
import json, re, sys
def lsn(text):
    return tuple(int(p, 16) for p in text.split(":"))
events = [json.loads(l) for l in open(sys.argv[1]) if '"event"' in l]
clean = sys.argv[3] == "1"
log = open(sys.argv[2]).read()
kinds = [e["event"] for e in events]
assert "table_created" in kinds, "the safeguard table was never created"
first_hold = kinds.index("hold")
assert kinds.index("table_created") < first_hold, "a hold before the table was created"
held = {}  # spid -> begin
holds = releases = losses = 0
emptied = False
for e in events:
    kind = e["event"]
    if kind == "hold":
        assert e["spid"] not in held, "session %d held twice" % e["spid"]
        assert not (emptied and clean), "a hold after every hold had ended"
        held[e["spid"]] = lsn(e["begin_lsn"])
        holds += 1
    elif kind in ("commit", "rollback", "session_ended"):
        begin = held.pop(e["spid"])
        assert begin == lsn(e["begin_lsn"])
        if kind == "commit":
            releases += 1
            # Released only while a newer hold is open (except the last ones, at stop).
            if held:
                assert max(held.values()) > begin, "released %r while no newer hold was open" % (begin,)
        else:
            losses += 1
            assert not clean, "%s of the transaction held since %r" % (kind, begin)
        if not held:
            emptied = True
assert not held, "still held at the end: %r" % held
# The capture logged each hold with the begin LSN tds-replay answered, and each roll-forward with a
# durable restart LSN at or past the newer hold's begin.
hold_begins = [lsn(e["begin_lsn"]) for e in events if e["event"] == "hold"]
logged = [lsn(m) for m in re.findall(r"holds a transaction that began at ([0-9a-f:]{22})", log)]
assert logged == hold_begins, "logged holds %r != served holds %r" % (logged, hold_begins)
rolls = re.findall(r"the durable restart LSN ([0-9a-f:]{22}) has reached the one held on connection \d since "
                   r"([0-9a-f:]{22})", log)
# The restart LSNs of the checkpoints committed to Kafka: a release names one of them.
durable = {lsn(json.loads(l)["restart_lsn"]) for l in open(sys.argv[4]) if l.strip()}
assert durable, "no checkpoint in Kafka"
for restart, newer in rolls:
    assert lsn(restart) >= lsn(newer), "released with restart LSN %s before the newer hold %s" % (restart, newer)
    assert lsn(restart) in durable, "released at restart LSN %s, which no committed checkpoint holds" % restart
    assert lsn(newer) in hold_begins
if clean:
    assert len(rolls) >= 2, "only %d roll-forwards" % len(rolls)
    assert len(rolls) == releases - len(re.findall(r"\(stopping\)", log))
print(holds, releases, losses)
PY
}

# 1. Held and rolled forward while the log grows.
serve "$RUN/fixture" "$RUN/batches1.jsonl"
capture "${PREFIX}a" capture1.log || fail "capture with the safeguard failed"
stop_serving
expect_each_id_once "${PREFIX}a.source_db.dbo.test_table" $ROWS
counts=$(check_holds "$RUN/batches1.jsonl" "$RUN/capture1.log" 1 "${PREFIX}a") || fail "the held transactions: $counts"
read -r holds releases losses <<< "$counts"
echo "run 1: $holds transactions held, $releases released"
[[ $holds -ge 3 ]] || fail "only $holds holds: the safeguard did not roll forward"
grep -q "log safeguard: $holds transactions held, $releases released, 0 failures" "$RUN/capture1.log" ||
  fail "no safeguard summary"
grep -q "sqltail_truncation_safeguard" "$RUN/batches1.jsonl" || fail "no safeguard table statement"
! grep -q "sqltail_truncation_safeguard" <(kcat -b "$BOOTSTRAP" -L 2>/dev/null | grep "${PREFIX}a") ||
  fail "the safeguard table was captured"

# 2. CREATE TABLE refused: the capture goes on without a hold.
cp -r "$RUN/fixture" "$RUN/fixture-denied"
echo '{"deny": ["safeguard_table"]}' > "$RUN/fixture-denied/server.json"
serve "$RUN/fixture-denied" "$RUN/batches2.jsonl"
capture "${PREFIX}b" capture2.log || fail "capture with a refused safeguard failed"
# sqltail prepare names what the mode needs: here the table, which it would create.
"$BIN/sqltail" prepare --config "$RUN/capture.conf" --set capture.log_safeguard=open_transaction --dry-run \
  > "$RUN/prepare2.out" 2>&1 || true
grep -q "MISSING log safeguard table dbo.sqltail_truncation_safeguard: .*prepare creates it" "$RUN/prepare2.out" ||
  fail "prepare does not report the safeguard table: $(cat "$RUN/prepare2.out")"
grep -q "^IF OBJECT_ID(N'\[dbo\].\[sqltail_truncation_safeguard\]', N'U') IS NULL" "$RUN/prepare2.out" ||
  fail "prepare does not plan the safeguard table"
grep -q "ok log safeguard: accelerated database recovery: off" "$RUN/prepare2.out" || fail "prepare: no ADR finding"
stop_serving
expect_each_id_once "${PREFIX}b.source_db.dbo.test_table" $ROWS
grep -q "log safeguard: 0 transactions held, 0 released, [1-9][0-9]* failures" "$RUN/capture2.log" ||
  fail "refusals not counted"
grep -q "capture.log_safeguard = open_transaction: log safeguard: creating dbo.sqltail_truncation_safeguard.*262" \
  "$RUN/capture2.log" || fail "the refusal is not logged with the server's error"

# 3. A holder session is lost at the fifth check: reported, held anew, nothing lost.
serve "$RUN/fixture" "$RUN/batches3.jsonl" "--drop-holder-after-checks 5"
capture "${PREFIX}c" capture3.log || fail "capture with lost holder sessions failed"
stop_serving
expect_each_id_once "${PREFIX}c.source_db.dbo.test_table" $ROWS
counts=$(check_holds "$RUN/batches3.jsonl" "$RUN/capture3.log" 0 "${PREFIX}c") || fail "the held transactions: $counts"
read -r holds releases losses <<< "$counts"
echo "run 3: $holds transactions held, $releases released, $losses lost"
[[ $losses -ge 1 ]] || fail "no holder session was lost"
grep -q "is gone (connection lost or ended" "$RUN/capture3.log" || fail "the loss is not reported"
grep -q "log safeguard: connection [01] to .* reconnected" "$RUN/capture3.log" || fail "no reconnect reported"
grep -Eq "log safeguard: $holds transactions held, $releases released, [1-9][0-9]* failures, [1-9][0-9]* reconnects" \
  "$RUN/capture3.log" || fail "losses not counted"
echo "PASS: log safeguard (open_transaction)"
