#!/usr/bin/env bash
# Builds the .npy and .safetensors fuzzers with clang++ -fsanitize=fuzzer,address,undefined in
# their own build directory and runs each for a bounded time, starting from the seed corpora in
# fuzz/corpus/. Fails on any crash, sanitizer report or undocumented exception.
#   scripts/fuzz.sh [SECONDS_PER_FUZZER=60]
#   env: CXX (default clang++), BUILD_DIR (default build-fuzz), JOBS (fuzzer processes, default 1)
#        REGEN_CORPUS=1 also rebuilds fuzz/corpus/ with fuzz/make_corpus.cpp
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
cxx=${CXX:-clang++}
mkdir -p "$build"
eigen=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
# -fno-sanitize-recover makes every UBSan finding fatal, so libFuzzer reports it as a crash.
flags=(-std=c++17 -g -O1 -Wall -Wextra -Wpedantic -Werror -I"$root/include" $eigen
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

if [[ ${REGEN_CORPUS:-0} == 1 ]]; then
  "$cxx" -std=c++17 -O1 -I"$root/include" $eigen "$root/fuzz/make_corpus.cpp" -o "$build/make_corpus"
  rm -rf "$root/fuzz/corpus"
  "$build/make_corpus" "$root/fuzz/corpus"
fi

status=0
for target in npy safetensors; do
  echo "== building fuzz_$target"
  nice "$cxx" "${flags[@]}" "$root/fuzz/fuzz_$target.cpp" -o "$build/fuzz_$target"
  # New inputs go to a scratch corpus in the build dir; the checked-in seeds are only read.
  mkdir -p "$build/corpus_$target" "$build/artifacts_$target"
  echo "== running fuzz_$target for ${seconds}s"
  parallel=()
  if [[ ${JOBS:-1} -gt 1 ]]; then parallel=(-jobs="$JOBS" -workers="$JOBS"); fi  # logs: fuzz-N.log in $build
  # libFuzzer's progress lines and dictionary go to a log; CI shows its final stats, or all of
  # it when the run fails.
  log="$build/fuzz_$target.log"
  if (cd "$build" && nice "$build/fuzz_$target" -max_total_time="$seconds" "${parallel[@]}" \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts_$target/" "$build/corpus_$target" "$root/fuzz/corpus/$target") \
        >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || tail -n 5 "$log"
  else
    cat "$log"
    echo "fuzz_$target FAILED: reproducer in $build/artifacts_$target/" >&2
    status=1
  fi
done
exit $status
