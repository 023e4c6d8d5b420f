#!/usr/bin/env bash
# Builds and runs the whole test suite in the configurations the project promises. The default
# set covers every promise with as few builds as possible (a 2-core machine has 90 minutes):
#   gcc-native     g++ -O3 -march=native (the SIMD kernels), tests + benchmarks + examples, -Werror
#   clang-sanitize clang++ with AddressSanitizer + UndefinedBehaviorSanitizer, plain x86-64 (the
#                  portable kernels), tests + examples, -Werror: clang's warnings, the sanitizers
#                  and the generic flags in one build
#   fuzz           libFuzzer on the file parsers for a bounded time (scripts/fuzz.sh)
# More configurations, by name: gcc-generic, clang-native, sanitize (g++ + ASan/UBSan, native).
# MONARCH_CONFIGS="gcc-native sanitize" runs those instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/deps.sh
monarch_ensure_deps test

configs=${MONARCH_CONFIGS:-"clang-sanitize gcc-native fuzz"}
passed=0 failed=0
summary=()

run_config() {  # name, then cmake arguments
  local name=$1; shift
  local dir="build/test-$name" start=$SECONDS
  echo "=== [$name] configure + build"
  cmake -S . -B "$dir" -G Ninja -DMONARCH_WERROR=ON "$@" >/dev/null
  cmake --build "$dir"
  echo "=== [$name] ctest"
  local log="$dir/ctest.log" rc=0
  (cd "$dir" && ctest --output-on-failure --timeout 1500 -j "$(nproc)") 2>&1 | tee "$log" || rc=$?
  local total fails
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  fails=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
  total=${total:-0}; fails=${fails:-0}
  [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ] && fails=1
  passed=$((passed + total - fails)); failed=$((failed + fails))
  summary+=("$name: $((total - fails))/$total passed in $((SECONDS - start)) s")
}

for config in $configs; do
  case $config in
    gcc-native)   run_config gcc-native -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DMONARCH_ARCH=native ;;
    gcc-generic)  run_config gcc-generic -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DMONARCH_ARCH=generic \
                    -DMONARCH_BUILD_BENCHMARKS=OFF ;;
    clang-native) run_config clang-native -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DMONARCH_ARCH=native ;;
    # -O1 -g1: line tables for the reports at a fraction of a full debug build's compile time.
    sanitize)     run_config sanitize -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" \
                    -DMONARCH_ARCH=native -DMONARCH_SANITIZE=ON -DMONARCH_BUILD_BENCHMARKS=OFF ;;
    clang-sanitize) run_config clang-sanitize -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" \
                    -DMONARCH_ARCH=generic -DMONARCH_SANITIZE=ON -DMONARCH_BUILD_BENCHMARKS=OFF ;;
    fuzz)
      if [ -x scripts/fuzz.sh ] || [ -f scripts/fuzz.sh ]; then
        start=$SECONDS
        if bash scripts/fuzz.sh; then passed=$((passed + 1)); summary+=("fuzz: passed in $((SECONDS - start)) s")
        else failed=$((failed + 1)); summary+=("fuzz: FAILED"); fi
      fi ;;
    *) echo "unknown configuration: $config" >&2; exit 2 ;;
  esac
done

echo
printf '%s\n' "${summary[@]}"
echo "all configurations: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
