#!/usr/bin/env bash
# Benchmark (not a test): rows/s of the capture's log reader (live source over TDS, ParseLogRecord,
# TransactionAssembler) against a bare db-lib loop over the same fn_dblog batches, both reading
# from tds-replay serving the demo workload (ROWS single-row INSERT transactions, 3 log rows each).
# Runs each ROUNDS times, alternating, and prints the best of each and the ratio (issue target: the
# reader at 80 % of the bare loop or more).
# Usage: BIN=build/bin tests/bench/tds_read_bench.sh [rows] [rounds]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO/build/bin}
ROWS=${1:-200000}
ROUNDS=${2:-3}
source "$REPO/scripts/lib/pipeline.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-tds-bench.XXXXXX")
REPLAY_PID=
cleanup() {
  [[ -z "$REPLAY_PID" ]] || kill "$REPLAY_PID" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
"$BIN/fixture-gen" --workload inserts --rows "$ROWS" --seed 1 --out "$RUN/fixture" > /dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_replay "$RUN/fixture" "$port" "$RUN/replay.log"
best() { grep "^$1:" "$RUN/results" | sed 's/.* = \([0-9]*\) rows\/s/\1/' | sort -n | tail -1; }
for _ in $(seq 1 "$ROUNDS"); do
  for mode in bare reader; do "$BIN/tds_replay_bench" "$port" "$mode" | tee -a "$RUN/results"; done
done
bare=$(best bare) reader=$(best reader)
echo "best of $ROUNDS: bare db-lib loop $bare rows/s, reader $reader rows/s: $(( reader * 100 / bare )) %"
