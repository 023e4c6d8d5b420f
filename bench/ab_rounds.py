#!/usr/bin/python3
"""Interleaved A/B rounds of two or more bench_monarch binaries (e.g. before and after a change).

usage: ab_rounds.py ROUNDS FILTER BINARY [BINARY ...]

Each round runs every binary once, in turn, pinned to core 1 (taskset -c 1), with
OPENBLAS_CORETYPE unset and OPENBLAS_NUM_THREADS=1, three repetitions, on the benchmarks matching
FILTER (a Google Benchmark regex; include handmade/ and dense_blas/ to get the ratios).
Interleaving spreads the shared machine's drift over all binaries. Printed per binary: each
Monarch benchmark's median time per round, and its speedup over the hand-made baseline and
over OpenBLAS taken in the same process, with the median over the rounds. Other environment
variables (MONARCH_BENCH_BATCHES, MONARCH_BENCH_TILE, ...) pass through.
"""
import collections
import json
import os
import statistics
import subprocess
import sys


def run_once(binary, pattern):
    """{benchmark name: median real time} of one pinned run."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run(
        ["taskset", "-c", "1", binary, "--benchmark_filter=" + pattern, "--benchmark_format=json",
         "--benchmark_min_time=0.1", "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"],
        env=env, capture_output=True, text=True, check=True).stdout
    data = json.loads(out[out.index("{"):])  # skip the openblas_get_corename() line
    return {b["run_name"]: b["real_time"] for b in data["benchmarks"] if b.get("aggregate_name") == "median"}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, pattern, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    results = collections.defaultdict(lambda: collections.defaultdict(list))
    for _ in range(rounds):
        for binary in binaries:
            times = run_once(binary, pattern)
            for name, t in times.items():
                if not name.startswith("monarch/"):
                    continue
                results[binary][name + " time (ns)"].append(t)
                for base in ("handmade", "dense_blas"):
                    other = times.get(name.replace("monarch/", base + "/", 1))
                    if other is not None:
                        results[binary][name + " vs " + base].append(other / t)
    for binary in binaries:
        print(binary)
        for name, values in sorted(results[binary].items()):
            print("  %-55s %s  median %.4g" % (name, " ".join("%.4g" % v for v in values), statistics.median(values)))


if __name__ == "__main__":
    main()
