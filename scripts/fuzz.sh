#!/usr/bin/env bash
# Configures and builds the fuzzers through CMake (MONARCH_BUILD_FUZZERS: clang++ with
# -fsanitize=fuzzer,address,undefined; see fuzz/CMakeLists.txt) in their own build directory and
# runs each for a bounded time, starting from the seed corpora in fuzz/corpus/. Fails on any
# crash, sanitizer report or undocumented exception.
#   scripts/fuzz.sh [SECONDS_PER_FUZZER=30]     (three fuzzers: 90 s of fuzzing plus the build)
#   env: CXX (default clang++), BUILD_DIR (default build-fuzz), JOBS (fuzzer processes, default 1)
#        REGEN_CORPUS=1 also rebuilds fuzz/corpus/ with fuzz/make_corpus.cpp
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
fuzzers=(npy safetensors structured)
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

echo "== configuring $build"
# Only the fuzzers: no tests, benchmarks, examples or install rules.
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DCMAKE_BUILD_TYPE=None \
  -DMONARCH_BUILD_FUZZERS=ON -DMONARCH_WERROR=ON -DMONARCH_BUILD_TESTS=OFF -DMONARCH_BUILD_BENCHMARKS=OFF \
  -DMONARCH_BUILD_EXAMPLES=OFF -DMONARCH_INSTALL=OFF >/dev/null
targets=("${fuzzers[@]/#/fuzz_}")
if [[ ${REGEN_CORPUS:-0} == 1 ]]; then targets+=(make_corpus); fi
echo "== building ${targets[*]}"
nice cmake --build "$build" --target "${targets[@]}"

if [[ ${REGEN_CORPUS:-0} == 1 ]]; then
  rm -rf "$root/fuzz/corpus"
  "$build/fuzz/make_corpus" "$root/fuzz/corpus"
fi

status=0
for target in "${fuzzers[@]}"; do
  exe="$build/fuzz/fuzz_$target"
  # New inputs go to a scratch corpus in the build dir; the checked-in seeds are only read.
  mkdir -p "$build/corpus_$target" "$build/artifacts_$target"
  echo "== running fuzz_$target for ${seconds}s"
  parallel=()
  if [[ ${JOBS:-1} -gt 1 ]]; then parallel=(-jobs="$JOBS" -workers="$JOBS"); fi  # logs: fuzz-N.log in $build
  # libFuzzer's progress lines and dictionary go to a log; CI shows its final stats, or all of
  # it when the run fails.
  log="$build/fuzz_$target.log"
  if (cd "$build" && nice "$exe" -max_total_time="$seconds" "${parallel[@]}" \
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
