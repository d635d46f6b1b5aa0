#!/usr/bin/env bash
# `cpack -G DEB` builds the package from this build tree into a scratch directory; its contents and
# control data are what an operator installs: the two programs, the units, the sysusers entry,
# examples, man pages, runtime library dependencies and the maintainer scripts.
set -euo pipefail
for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v $tool > /dev/null || { echo "$tool is missing: skipped"; exit 77; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$BUILD_DIR" && cpack -G DEB -B "$out" > "$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; exit 1; }
deb=$(ls "$out"/sqltail_*.deb 2>/dev/null | head -1)
[[ -n "$deb" ]] || { echo "FAIL: cpack made no sqltail_*.deb"; ls -R "$out"; exit 1; }
dpkg-deb -c "$deb" | awk '{print $1, $6}' > "$out/contents"
dpkg-deb -I "$deb" > "$out/info"
failures=0
expect_file() {  # mode path
  grep -qxF -- "$1 ./$2" "$out/contents" || { echo "FAIL: the package lacks $2 (mode $1)"; failures=$((failures + 1)); }
}
expect_file -rwxr-xr-x usr/bin/sqltail
expect_file -rwxr-xr-x usr/bin/logreader-dump
expect_file -rw-r--r-- usr/lib/systemd/system/sqltail-capture@.service
expect_file -rw-r--r-- usr/lib/systemd/system/sqltail-apply@.service
expect_file -rw-r--r-- usr/lib/sysusers.d/sqltail.conf
expect_file -rw-r--r-- usr/share/doc/sqltail/examples/capture-example.conf
expect_file -rw-r--r-- usr/share/doc/sqltail/examples/apply-example.conf
expect_file -rw-r--r-- usr/share/man/man1/sqltail.1
expect_file -rw-r--r-- usr/share/man/man1/logreader-dump.1
# Only the operator tools: no test programs, no tds-replay or fixture-gen.
if grep -E 'tds-replay|fixture-gen|_test' "$out/contents"; then
  echo "FAIL: the package holds test or development programs"
  failures=$((failures + 1))
fi
for field in "Package: sqltail" "Version: $VERSION" "Architecture: $(dpkg --print-architecture)"; do
  grep -qF " $field" "$out/info" || { echo "FAIL: control lacks '$field'"; failures=$((failures + 1)); }
done
depends=$(sed -n 's/^ Depends: //p' "$out/info")
for lib in librdkafka1 libsybdb5 libboost-program-options libspdlog libfmt libsimdjson libsqlite3 libstdc++6 systemd; do
  [[ "$depends" == *"$lib"* ]] || { echo "FAIL: Depends lacks $lib: $depends"; failures=$((failures + 1)); }
done
for script in postinst postrm; do
  grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " "$out/info" ||
    { echo "FAIL: no executable $script in the control archive"; failures=$((failures + 1)); }
done
# The example configs hold no real secret, only a pointer to where it belongs.
if dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/sqltail/examples/capture-example.conf | grep -qE '^password *='; then
  echo "FAIL: the example capture config holds a password"
  failures=$((failures + 1))
fi
((failures == 0)) && echo "ok   $(basename "$deb"): $(wc -l < "$out/contents") entries; Depends: $depends"
exit $((failures > 0))
