#!/usr/bin/env bash
# The systemd template units pass `systemd-analyze verify` without a single complaint (it exits 0
# on ignored lines, so any output fails too), and say what sqltail relies on: Type=notify,
# NotifyAccess=main, a watchdog, a stop timeout. Skipped (77) without systemd-analyze.
set -euo pipefail
command -v systemd-analyze > /dev/null || { echo "systemd-analyze is missing: skipped"; exit 77; }
units=$REPO/packaging/systemd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/man/man1"
cp "$REPO"/packaging/man/*.1 "$work/man/man1/"   # Documentation=man:sqltail(1) must resolve
failures=0
for role in capture apply; do
  unit="sqltail-$role@.service"
  # verify checks that ExecStart's program exists: point it at the built one.
  sed "s|/usr/bin/sqltail|$BIN/sqltail|" "$units/$unit" > "$work/$unit"
  out=$(cd "$work" && MANPATH="$work/man" systemd-analyze verify "./sqltail-$role@demo.service" 2>&1) || {
    echo "FAIL $unit: systemd-analyze verify exited non-zero: $out"
    failures=$((failures + 1))
    continue
  }
  if [[ -n "$out" ]]; then
    echo "FAIL $unit: systemd-analyze verify complained: $out"
    failures=$((failures + 1))
    continue
  fi
  for line in "Type=notify" "NotifyAccess=main" "WatchdogSec=330s" "Restart=on-failure" "TimeoutStopSec=90s" \
    "User=sqltail" "StateDirectory=sqltail" "ExecStart=/usr/bin/sqltail $role --config /etc/sqltail/$role-%i.conf"; do
    grep -qxF "$line" "$units/$unit" || { echo "FAIL $unit: no line '$line'"; failures=$((failures + 1)); }
  done
  echo "ok   $unit"
done
exit $((failures > 0))
