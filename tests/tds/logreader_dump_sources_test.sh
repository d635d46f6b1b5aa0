#!/usr/bin/env bash
# logreader-dump's server sources against tds-replay: `live` (fn_dblog through the capture's reader,
# here with the connection dropped halfway through every third answer) yields exactly the events of
# the fixture read directly; `backup` (fn_dump_dblog of one log backup file) yields exactly the
# fixture's events that commit inside that backup; a file the server does not have is an error.
set -euo pipefail
: "${BIN:?}" "${REPO:?}"
source "$REPO/scripts/lib/pipeline.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-dump-sources.XXXXXX")
REPLAY_PID=
trap '[[ -n "$REPLAY_PID" ]] && kill "$REPLAY_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$RUN"' EXIT
fail() {
  echo "FAIL: $*"
  for f in "$RUN"/*.log; do [[ -f "$f" ]] && { echo "--- $f"; tail -5 "$f"; }; done
  exit 1
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN/fixture-gen" --workload updates --rows 600 --updates 300 --deletes 60 --rollbacks 5 --seed 3 \
  --rows-per-transaction 2 --out "$RUN/fixture" > /dev/null 2>&1
echo replay > "$RUN/password"
server=(--server "127.0.0.1:$port" --user sqltail --password-file "$RUN/password" --database source_db)

"$BIN/logreader-dump" fixture "$RUN/fixture" --json > "$RUN/fixture.jsonl" || fail "logreader-dump fixture failed"
events=$(wc -l < "$RUN/fixture.jsonl")
(( events > 800 )) || fail "the fixture yields only $events events"

# live, with drops
REPLAY_ARGS="--drop-after-batches 3" start_replay "$RUN/fixture" "$port" "$RUN/replay1.log" || fail "tds-replay did not start"
"$BIN/logreader-dump" live "${server[@]}" --batch-rows 150 --json > "$RUN/live.jsonl" 2> "$RUN/live.log" ||
  fail "logreader-dump live failed"
cmp -s "$RUN/fixture.jsonl" "$RUN/live.jsonl" || fail "live events differ from the fixture's ($(wc -l < "$RUN/live.jsonl") vs $events lines)"
reconnects=$(grep -c "reconnected to" "$RUN/live.log" || true)
(( reconnects >= 2 )) || fail "expected reconnects, logreader-dump reported $reconnects"
kill "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true
echo "ok   live: $events events, identical to the fixture's, across $reconnects reconnects"

# backup: the first 40 % of the log, in a backup file tds-replay knows
lines=$(wc -l < "$RUN/fixture/log.jsonl")
lsn_at() { sed -n "$1p" "$RUN/fixture/log.jsonl" | grep -o '"Current LSN":"[^"]*"' | cut -d'"' -f4; }
first=$(lsn_at 1); cut_lsn=$(lsn_at $((lines * 2 / 5)))
cat > "$RUN/fixture/log_backups.json" <<JSON
{"active_log_from": "$cut_lsn",
 "backups": [{"files": ["/backups/source_db_1.trn"], "first_lsn": "$first", "last_lsn": "$cut_lsn"}]}
JSON
REPLAY_ARGS="" start_replay "$RUN/fixture" "$port" "$RUN/replay2.log" || fail "tds-replay did not start"
"$BIN/logreader-dump" backup --backup /backups/source_db_1.trn "${server[@]}" --batch-rows 200 --json \
  > "$RUN/backup.jsonl" 2> "$RUN/backup.log" || fail "logreader-dump backup failed"
# The fixture's events whose commit LSN lies before the end of the backup (fn_dblog's LSN text sorts
# as the LSN does: fixed-width lower-case hex).
python3 - "$RUN/fixture.jsonl" "$cut_lsn" > "$RUN/expected_backup.jsonl" <<'PY'
import json, sys
cut = sys.argv[2]
for line in open(sys.argv[1]):
    if json.loads(line)["commit_lsn"] < cut:
        sys.stdout.write(line)
PY
expected=$(wc -l < "$RUN/expected_backup.jsonl")
(( expected > 100 && expected < events )) || fail "the backup should hold part of the events, not $expected of $events"
cmp -s "$RUN/expected_backup.jsonl" "$RUN/backup.jsonl" ||
  fail "backup events differ from the fixture's before $cut_lsn ($(wc -l < "$RUN/backup.jsonl") vs $expected lines)"
echo "ok   backup: $expected events of the log backup, identical to the fixture's"

if "$BIN/logreader-dump" backup --backup /backups/absent.trn "${server[@]}" --json > /dev/null 2> "$RUN/absent.log"; then
  fail "a backup file the server does not have was read"
fi
grep -q "3201" "$RUN/absent.log" || fail "the error does not carry the server's message 3201"
echo "ok   backup: a missing file is an error with the server's message"
