#!/usr/bin/env bash
# docs/configuration.md is what `sqltail config-reference` prints (it cannot go stale), names every
# SQLTAIL_* environment variable the programs read, and the example configurations under packaging/
# pass the validation step of `sqltail check` (--offline: no connection).
set -uo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

if ! "$BIN/sqltail" config-reference > "$run/configuration.md"; then
  fail "sqltail config-reference exited non-zero"
elif ! diff -u "$REPO/docs/configuration.md" "$run/configuration.md" > "$run/diff"; then
  fail "docs/configuration.md differs from the program's output; regenerate it with" \
    "'sqltail config-reference > docs/configuration.md':"
  head -40 "$run/diff"
else
  echo "ok   docs/configuration.md is the output of sqltail config-reference"
fi

# Every key the loaders accept appears (spot check that the generator walked both files).
for key in source.host capture.table_include kafka.bootstrap_servers kafka.transactional_id apply.topics \
  target.kind service.metrics_port 'kafka.property.<name>'; do
  grep -qF "\`$key\`" "$run/configuration.md" || fail "key $key is not in the reference"
done
# Every secret variable read by the code is documented.
while read -r variable; do
  grep -qF "\`$variable\`" "$run/configuration.md" || fail "environment variable $variable is not documented"
done < <(grep -rhoE '"SQLTAIL_[A-Z_]+"' "$REPO/engine/src" "$REPO/tools/sqltail" | tr -d '"' | sort -u)

# The shipped examples load with the same validation as capture/apply (the capture example names a
# password file that does not exist here; the environment variable wins over it, as documented).
for example in capture apply; do
  file="$REPO/packaging/examples/$example-example.conf"
  if SQLTAIL_SOURCE_PASSWORD=x "$BIN/sqltail" check --offline --config "$file" > "$run/out" 2>&1 &&
    grep -q "^ok config: $example stream" "$run/out" && [[ $(wc -l < "$run/out") -eq 1 ]]; then
    echo "ok   $(cat "$run/out")"
  else
    fail "$file: $(cat "$run/out")"
  fi
done
# ...and a broken copy of each does not.
sed 's/^\[capture\]/[capture]\ncolour = red/' "$REPO/packaging/examples/capture-example.conf" > "$run/bad-capture.conf"
sed 's/^kind = sqlite/kind = oracle/' "$REPO/packaging/examples/apply-example.conf" > "$run/bad-apply.conf"
for bad in "bad-capture.conf:unknown key 'capture.colour'" "bad-apply.conf:key 'target.kind'"; do
  file=${bad%%:*} text=${bad#*:}
  if SQLTAIL_SOURCE_PASSWORD=x "$BIN/sqltail" check --offline --config "$run/$file" > "$run/out" 2>&1; then
    fail "$file passed the validation"
  elif ! grep -q "^FAIL config: .*$text" "$run/out"; then
    fail "$file: $(cat "$run/out") (expected: $text)"
  else
    echo "ok   $file: $(cat "$run/out")"
  fi
done
exit $((failures > 0))
