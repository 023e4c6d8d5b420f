#!/usr/bin/python3
"""Turns bench_monarch JSON (from bench/run_bench.sh) into speedup tables and a PNG chart.

usage: plot_bench.py RESULTS_1T.json [RESULTS_2T.json] [--png CHART.png]

The JSON is build output (bench/run_bench.sh writes it under the build directory); the chart goes
beside the first file unless --png names another path (docs/monarch_speedup.png is the tracked one).

Every ratio is formed from medians of the same run (same process, same JSON file):
  speedup vs X   = median time of X / median time of Monarch   (CPU time, single thread)
  FLOP ratio     = dense FLOPs / Monarch FLOPs
  efficiency     = speedup vs OpenBLAS / FLOP ratio
  2-thread gain  = real time on 1 thread / real time on 2 threads (from the second file)
"""
import argparse
import json
import os
from collections import defaultdict


def load_medians(path):
    """{(variant, scalar, shape, batch): benchmark entry} for the median aggregates."""
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        variant, scalar, shape, batch = b["run_name"].split("/")[:4]
        out[(variant, scalar, shape, int(batch))] = b
    return data.get("context", {}), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("one_thread")
    ap.add_argument("two_thread", nargs="?")
    ap.add_argument("--png", help="chart path (default: <RESULTS_1T without _1t.json>_speedup.png)")
    args = ap.parse_args()
    if args.png is None:
        stem = args.one_thread[:-len("_1t.json")] if args.one_thread.endswith("_1t.json") else args.one_thread
        args.png = stem + "_speedup.png"

    ctx, med = load_medians(args.one_thread)
    print("openblas core: %s, monarch path f32: %s" % (ctx.get("openblas_corename", "n/a"),
                                                        ctx.get("monarch_kernel_path_f32", "?")))
    rows = defaultdict(dict)  # (scalar, shape) -> batch -> metrics
    for (variant, scalar, shape, batch), b in med.items():
        if variant != "monarch":
            continue
        t = b["cpu_time"]
        m = {"time_us": t / 1e3 if b["time_unit"] == "ns" else t, "gflops": b["GFLOPS"],
             "flop_ratio": b["dense_GFLOPS"] / b["GFLOPS"]}
        for other in ("dense_blas", "dense_eigen", "handmade"):
            o = med.get((other, scalar, shape, batch))
            if o is not None:
                m["vs_" + other] = o["cpu_time"] / t
        if "vs_dense_blas" in m:
            m["efficiency"] = m["vs_dense_blas"] / m["flop_ratio"]
            m["blas_gflops"] = med[("dense_blas", scalar, shape, batch)]["GFLOPS"]
        rows[(scalar, shape)][batch] = m

    print("\n| scalar | shape | batch | Monarch time (us) | Monarch GFLOP/s | FLOP ratio | OpenBLAS GFLOP/s |"
          " speedup vs OpenBLAS | efficiency | speedup vs Eigen dense | speedup vs hand-made |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda m, k, f="%.2f": (f % m[k]) if k in m else "n/a"
    for (scalar, shape) in sorted(rows):
        for batch in sorted(rows[(scalar, shape)]):
            m = rows[(scalar, shape)][batch]
            print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                scalar, shape, batch, fmt(m, "time_us", "%.1f"), fmt(m, "gflops", "%.1f"), fmt(m, "flop_ratio", "%.1f"),
                fmt(m, "blas_gflops", "%.1f"), fmt(m, "vs_dense_blas"), fmt(m, "efficiency"), fmt(m, "vs_dense_eigen"),
                fmt(m, "vs_handmade")))

    if args.two_thread:
        _, med2 = load_medians(args.two_thread)
        print("\n| shape (f32) | batch | 1 thread (us) | 2 threads (us) | 2-thread speedup |")
        print("|---|---:|---:|---:|---:|")
        for (variant, scalar, shape, batch), b in sorted(med2.items()):
            if variant != "monarch_2t":
                continue
            one = med2.get(("monarch", scalar, shape, batch))
            if one is None:
                continue
            print("| %s | %d | %.1f | %.1f | %.2f |" % (shape, batch, one["real_time"] / 1e3, b["real_time"] / 1e3,
                                                      one["real_time"] / b["real_time"]))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: apt-get install -y python3-matplotlib; no chart written)")
        return
    shapes = sorted({shape for (_, shape) in rows})
    fig, axes = plt.subplots(1, len(shapes), figsize=(4.2 * len(shapes), 4.2), squeeze=False)
    for ax, shape in zip(axes[0], shapes):
        for scalar, style in (("f32", "-"), ("f64", "--")):
            data = rows.get((scalar, shape))
            if not data:
                continue
            batches = sorted(data)
            for key, color, label in (("vs_dense_blas", "C0", "vs OpenBLAS"), ("vs_dense_eigen", "C1", "vs Eigen dense"),
                                      ("vs_handmade", "C2", "vs hand-made")):
                ys = [data[b].get(key) for b in batches]
                if all(y is not None for y in ys):
                    ax.plot(batches, ys, style, color=color, marker="o", ms=3, label="%s %s" % (label, scalar))
            ax.axhline(data[batches[0]]["flop_ratio"], color="gray", lw=0.8, ls=":", label="FLOP ratio")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_title(shape)
        ax.set_xlabel("batch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("speedup of Monarch apply (x)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle("Monarch apply vs dense GEMM and the hand-made baseline (1 thread, medians)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print("\nchart: %s" % os.path.abspath(args.png))


if __name__ == "__main__":
    main()
