#!/usr/bin/env bash
# Columns the log does not determine, through a real capture: the mixed workload is captured twice
# from the same tds-replay, once with the default image cache and once with capture.image_cache_rows
# = 0, so that no update has a base image. The first run must emit no unavailable value. The second
# must count its partial updates and unavailable values in the summary line and in /metrics
# (sqltail_partial_updates_total, sqltail_unavailable_values_total, both > 0), list exactly those
# columns in the sqltail.unavailable header of exactly those events, carry the placeholders in
# them, and agree with the first run on every event and on every value it does give. Skipped (77)
# without a broker.
source "$(dirname "$0")/common.sh"
"$BIN/fixture-gen" --workload mixed --transactions 300 --seed 5 --out "$RUN/fixture" 2> /dev/null
port=$(free_port)
start_replay "$RUN/fixture" "$port" "$RUN/replay.log" || fail "tds-replay did not start"
pids+=("$REPLAY_PID")
tables=$(grep -o '"table":"[a-z_]*"' "$RUN/fixture/expected.jsonl" | sort -u | sed 's/.*:"\(.*\)"/\1/')
updates=$(grep -c '"op":"u"' "$RUN/fixture/expected.jsonl")
[[ $updates -gt 0 ]] || fail "the mixed workload has no updates"

# run NAME [--set ...]: captures to the end into topics of prefix $PREFIX$NAME, scraping /metrics
# until it exits (it idles 2 s first, so the last scrape holds the final counts).
run() {
  local name=$1
  shift
  write_capture_config "$RUN/$name.conf" "$port" "$BOOTSTRAP" "$PREFIX$name"
  local metrics_port
  metrics_port=$(free_port)
  "$BIN/sqltail" capture --config "$RUN/$name.conf" --set capture.stop_when_idle_ms=2000 \
    --set service.metrics_port="$metrics_port" "$@" > "$RUN/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  while kill -0 "$pid" 2>/dev/null; do
    curl -s -m 2 "http://127.0.0.1:$metrics_port/metrics" > "$RUN/$name.scrape" 2>/dev/null &&
      grep -q '^sqltail_unavailable_values_total ' "$RUN/$name.scrape" && mv "$RUN/$name.scrape" "$RUN/$name.metrics"
    sleep 0.2
  done
  wait "$pid" || fail "capture $name failed"
  [[ -s "$RUN/$name.metrics" ]] || fail "capture $name: /metrics was never scraped"
  for t in $tables; do
    kcat -b "$BOOTSTRAP" -C -t "$PREFIX$name.source_db.dbo.$t" -o beginning -e -q -J \
      -X isolation.level=read_committed 2>/dev/null || true
  done > "$RUN/$name.jsonl"
}
metric() { sed -n "s/^$2 //p" "$RUN/$1.metrics"; }

run full
grep -q "partial updates" "$RUN/full.log" && fail "the default image cache left updates partial: $(grep partial "$RUN/full.log")"
[[ $(metric full sqltail_unavailable_values_total) == 0 && $(metric full sqltail_partial_updates_total) == 0 ]] ||
  fail "with the default image cache /metrics counts unavailable values"

run nocache --set capture.image_cache_rows=0
summary=$(sed -n 's/.*capture: \([0-9]*\) partial updates, \([0-9]*\) unavailable values.*/\1 \2/p' "$RUN/nocache.log")
read -r partial unavailable <<< "$summary"
[[ -n "$partial" && $partial -gt 0 && $unavailable -gt 0 ]] ||
  fail "capture.image_cache_rows = 0: the summary reports no partial updates ('${summary}')"
[[ $(metric nocache sqltail_partial_updates_total) == "$partial" ]] ||
  fail "sqltail_partial_updates_total is $(metric nocache sqltail_partial_updates_total), the summary says $partial"
[[ $(metric nocache sqltail_unavailable_values_total) == "$unavailable" ]] ||
  fail "sqltail_unavailable_values_total is $(metric nocache sqltail_unavailable_values_total), the summary says $unavailable"

python3 - "$RUN/full.jsonl" "$RUN/nocache.jsonl" "$partial" "$unavailable" <<'PY' || fail "the events without an image cache are wrong"
import json, sys
PLACEHOLDER = "__debezium_unavailable_value"

def events(path):
    out = []
    for line in open(path, encoding="utf-8"):
        m = json.loads(line)
        if m.get("payload") is None:
            continue  # tombstone
        headers = m.get("headers") or []
        h = dict(zip(headers[0::2], headers[1::2]))
        p = json.loads(m["payload"])["payload"]
        key = json.dumps(json.loads(m["key"])["payload"], sort_keys=True) if m.get("key") else None  # schema names hold the prefix
        ident = (m["topic"].rsplit(".", 1)[1], key, p["source"]["change_lsn"], p["op"])
        names = h["sqltail.unavailable"].split(",") if "sqltail.unavailable" in h else []
        out.append((ident, p, names))
    return out

full, nocache = events(sys.argv[1]), events(sys.argv[2])
partial, unavailable = int(sys.argv[3]), int(sys.argv[4])
errors = []
if any(names for _, _, names in full):
    errors.append("the run with the image cache has events with sqltail.unavailable")
if sorted(e[0] for e in full) != sorted(e[0] for e in nocache):
    errors.append(f"the two runs emitted different events ({len(full)} and {len(nocache)})")
truth = {ident: p for ident, p, _ in full}
listed = [e for e in nocache if e[2]]
if len(listed) != partial:
    errors.append(f"{len(listed)} events carry sqltail.unavailable, the capture counted {partial} partial updates")
if sum(len(names) for _, _, names in listed) != unavailable:
    errors.append(f"the headers list {sum(len(n) for _, _, n in listed)} columns, the capture counted {unavailable}")
given = 0
for ident, p, names in nocache:
    want = truth.get(ident)
    if want is None:
        continue
    if names and p["op"] != "u":
        errors.append(f"{ident}: op {p['op']} with unavailable columns")
    for image in ("before", "after"):
        got_row, want_row = p[image], want[image]
        if (got_row is None) != (want_row is None):
            errors.append(f"{ident}: {image} is {got_row!r}, expected {want_row!r}")
            continue
        if got_row is None:
            continue
        for column, value in got_row.items():
            if column in names:
                if value is not None and value != PLACEHOLDER:
                    errors.append(f"{ident}: unavailable {image}.{column} carries {value!r}")
            elif value != want_row.get(column):
                errors.append(f"{ident}: {image}.{column} is {value!r}, the full run says {want_row.get(column)!r}")
            else:
                given += 1 if names else 0
        for column in names:
            if column not in got_row:
                errors.append(f"{ident}: sqltail.unavailable names {column}, which the event lacks")
for e in errors[:20]:
    print(e)
if not errors:
    print(f"{len(nocache)} events equal; {partial} partial updates list {unavailable} unavailable columns, "
          f"and their {given} given values equal the full run's")
sys.exit(1 if errors else 0)
PY
echo "unavailable values: none with the image cache; without it $partial partial updates, $unavailable unavailable values, counted in the summary and /metrics and named in the events"
