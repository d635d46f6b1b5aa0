#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan for FUZZ_SECONDS each (default 120).
# New crashers land in .run/fuzz/<target>/; add a minimised one to tests/fuzz/corpus/<target>/ with the fix.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${FUZZ_SECONDS:-120}
command -v clang++-14 > /dev/null || apt-get install -y -qq clang-14 libclang-rt-14-dev > /dev/null
CC=clang-14 CXX=clang++-14 cmake -S "$repo" -B "$repo/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSQLTAIL_FUZZ=ON -DSQLTAIL_SANITIZE=ON > /dev/null
cmake --build "$repo/build-fuzz" --target fuzz_log_record fuzz_record fuzz_text_inputs
for target in fuzz_log_record fuzz_record fuzz_text_inputs; do
  work="$repo/.run/fuzz/$target"
  mkdir -p "$work/corpus"
  cp -n "$repo/tests/fuzz/corpus/$target/"* "$work/corpus/" 2> /dev/null || true
  echo "fuzz: $target for $seconds s"
  (cd "$work" && "$repo/build-fuzz/bin/$target" -max_total_time="$seconds" -print_final_stats=1 corpus) 2>&1 |
    grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* > /dev/null 2>&1; then
    echo "fuzz: $target found a failing input in $work"
    exit 1
  fi
done
echo "fuzz: no crash, no sanitizer report"
