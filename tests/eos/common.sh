# Helpers for the end-to-end tests. Expects BIN and REPO; sets RUN (a fresh scratch directory).
set -euo pipefail
if [[ -z "${SQLTAIL_KAFKA_BOOTSTRAP:-}" ]]; then
  echo "SQLTAIL_KAFKA_BOOTSTRAP is not set: no broker, test skipped"
  exit 77
fi
source "$REPO/scripts/lib/pipeline.sh"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sqltail-$(basename "$0" .sh).XXXXXX")
BOOTSTRAP=$SQLTAIL_KAFKA_BOOTSTRAP
PREFIX="t$(date +%s%N | tail -c 9)$RANDOM"  # topics of this run only
pids=()
cleanup_pids() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'cleanup_pids; [[ "${KEEP_RUN:-}" == 1 ]] || rm -rf "$RUN"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

fail() {
  echo "FAIL: $*"
  for f in "$RUN"/*.log; do [[ -f "$f" ]] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}

# Keys of the committed events in a topic (read_committed), one per line.
committed_keys() {  # topic
  kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q -X isolation.level=read_committed -f '%k\n' 2>/dev/null |
    grep -o '"payload":{[^}]*}' || true
}

# Checks that a topic holds every id 0..n-1 exactly once.
expect_each_id_once() {  # topic n
  local keys total unique
  keys=$(committed_keys "$1")
  total=$(printf '%s\n' "$keys" | grep -c . || true)
  unique=$(printf '%s\n' "$keys" | grep . | sort -u | wc -l)
  [[ "$total" -eq "$2" && "$unique" -eq "$2" ]] ||
    fail "topic $1 holds $total committed events ($unique distinct keys); expected each of $2 ids exactly once"
}
