#!/usr/bin/env bash
# Runs the Monarch benchmark suite the way docs/performance.md reports it:
#   bench/run_bench.sh [build-dir] [out-prefix] [extra Google Benchmark args...]
# writes <out-prefix>_1t.json (single thread, pinned to core 1) and <out-prefix>_2t.json (Monarch
# on 1 and 2 threads, pinned to cores 0-1), then prints the tables and draws <out-prefix>_speedup.png
# (bench/plot_bench.py). The JSON is build output: out-prefix defaults to <build-dir>/bench/results.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-$BUILD/bench/results}
shift $(( $# >= 2 ? 2 : $# ))
BIN="$BUILD/bench/bench_monarch"

# OPENBLAS_CORETYPE=Haswell (set in some environments) forces OpenBLAS's AVX2 kernels and would
# inflate every ratio on an AVX-512 machine: compare against its best kernel instead.
unset OPENBLAS_CORETYPE
# The published tables use the policy's own choices on every batch size: drop tuning overrides.
unset MONARCH_BENCH_TILE MONARCH_BENCH_NONTEMPORAL MONARCH_BENCH_BATCHES
export OPENBLAS_NUM_THREADS=1
COMMON=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.05
        --benchmark_out_format=json)

# Single thread: every variant, pinned to one core (medians of the repetitions are reported).
taskset -c 1 "$BIN" "${COMMON[@]}" --benchmark_filter='^(monarch|handmade|dense_eigen|dense_blas)/' \
  --benchmark_out="${OUT}_1t.json" "$@" | grep -E 'openblas_get_corename|_median' || true
# Threads: Monarch on one and on two threads in the same run, on two cores.
taskset -c 0,1 "$BIN" "${COMMON[@]}" --benchmark_filter='^monarch(_2t)?/f32/.*/(256|1024|4096)(/real_time)?$' \
  --benchmark_out="${OUT}_2t.json" "$@" | grep -E '_median' || true

/usr/bin/python3 "$(dirname "$0")/plot_bench.py" "${OUT}_1t.json" "${OUT}_2t.json" --png "${OUT}_speedup.png"
