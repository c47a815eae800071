#!/usr/bin/env python3
"""hnsw_rs (through `zhengce bench index`) against hnswlib 0.8 on the same data.

Runs `zhengce bench index --sizes N --dump-vectors DIR --json` (the Rust side
builds and measures its HNSW graph and writes the clustered 384-d vectors it
used), then builds hnswlib on exactly those vectors with the same parameters
(inner product on normalised vectors, 2 build threads, single-threaded
queries) and prints both side by side, with the ratios the project targets
(build rate, and query p50 at equal recall). hnswlib always runs the issue's
reference settings (M=16, ef_construction=200); hnsw_rs runs the project's
own unless --m / --ef-construction say otherwise, since its build
parameters are one of the levers and the comparison is at equal recall.

hnswlib and numpy are installed with pip into .cache/bench-venv on first use.

Usage: scripts/bench-hnswlib.py [--n 100000] [--queries 500] [--threads 2]
                                [--m M] [--ef-construction EF] [--cluster-size N]
                                [--bin ZHENGCE]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".cache", "bench-venv")


def ensure_venv():
    try:
        import hnswlib  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py):
        sys.exit("hnswlib/numpy still missing inside " + VENV)
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "numpy", "hnswlib==0.8.0"])
    os.execv(py, [py] + sys.argv)


def percentile(sorted_ms, p):
    i = int(round((len(sorted_ms) - 1) * p))
    return sorted_ms[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "zhengce"))
    ap.add_argument("--m", type=int, help="hnsw_rs links per node (default: the project's)")
    ap.add_argument("--ef-construction", type=int, help="hnsw_rs build ef (default: the project's)")
    ap.add_argument("--cluster-size", type=int, help="vectors per synthetic cluster (default: the project's)")
    ap.add_argument("--ref-m", type=int, default=16, help="hnswlib M (the issue's reference)")
    ap.add_argument("--ref-ef-construction", type=int, default=200)
    args = ap.parse_args()
    ensure_venv()
    import hnswlib
    import numpy as np

    if not os.path.exists(args.bin):
        subprocess.check_call(["cargo", "build", "--release"], cwd=ROOT)
    vec_dir = os.path.join(ROOT, ".cache", "bench-vectors")
    print(f"running hnsw_rs: {args.bin} bench index --sizes {args.n}", file=sys.stderr)
    out = subprocess.check_output(
        [args.bin, "bench", "index", "--sizes", str(args.n), "--queries", str(args.queries),
         "--threads", str(args.threads), "--ef", args.ef, "--no-lexical",
         "--dump-vectors", vec_dir, "--json"]
        + (["--m", str(args.m)] if args.m else [])
        + (["--ef-construction", str(args.ef_construction)] if args.ef_construction else [])
        + (["--cluster-size", str(args.cluster_size)] if args.cluster_size else []))
    rust = json.loads(out)[0]
    dim = rust["dim"]

    base = np.fromfile(os.path.join(vec_dir, f"base-{args.n}.f32"), dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(os.path.join(vec_dir, f"queries-{args.n}.f32"), dtype="<f4").reshape(-1, dim)
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]

    print("running hnswlib", hnswlib.__name__, file=sys.stderr)
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=len(base), ef_construction=args.ref_ef_construction, M=args.ref_m)
    index.set_num_threads(args.threads)
    t, cpu0 = time.perf_counter(), time.process_time()
    index.add_items(base, np.arange(len(base)))
    build, build_cpu = time.perf_counter() - t, time.process_time() - cpu0
    index.set_num_threads(1)
    rows = []
    for ef in [int(e) for e in args.ef.split(",")]:
        index.set_ef(ef)
        times, found = [], 0
        for qi, q in enumerate(queries):
            t = time.perf_counter()
            labels, _ = index.knn_query(q, k=10)
            times.append((time.perf_counter() - t) * 1e3)
            found += len(set(labels[0].tolist()) & set(truth[qi].tolist()))
        times.sort()
        rows.append({"ef": ef, "recall_at_10": found / (10 * len(queries)),
                     "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)})

    h_rate = len(base) / build
    r_rate = rust["dense_inserts_per_sec"]
    print(f"\n{args.n} clustered {dim}-d vectors, {args.threads} build threads, "
          f"{len(queries)} single-threaded queries; hnsw_rs M={rust['m']}, "
          f"ef_construction={rust['ef_construction']}; hnswlib M={args.ref_m}, "
          f"ef_construction={args.ref_ef_construction}")
    print(f"build     hnsw_rs {r_rate:8.0f} inserts/s ({rust['dense_build_secs']:.1f} s)   "
          f"hnswlib {h_rate:8.0f} inserts/s ({build:.1f} s)   hnswlib/hnsw_rs = {h_rate / r_rate:.2f}x")
    r_cpu = rust["dense_build_cpu_secs"]
    print(f"build CPU hnsw_rs {r_cpu:8.1f} CPU-s            hnswlib {build_cpu:8.1f} CPU-s"
          f"            hnsw_rs/hnswlib = {r_cpu / build_cpu:.2f}x")
    print("   ef |  hnsw_rs recall   p50 ms   p99 ms |  hnswlib recall   p50 ms   p99 ms")
    for r, h in zip(rust["dense"], rows):
        print(f" {r['ef']:>4} |  {r['recall_at_10']:>14.4f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} |"
              f"  {h['recall_at_10']:>14.4f} {h['p50_ms']:>8.3f} {h['p99_ms']:>8.3f}")
    # Equal recall: the cheapest row of each library reaching hnswlib's recall at ef=64.
    target = next((h["recall_at_10"] for h in rows if h["ef"] == 64), rows[-1]["recall_at_10"])
    r_ok = [r for r in rust["dense"] if r["recall_at_10"] >= target - 1e-9]
    h_ok = [h for h in rows if h["recall_at_10"] >= target - 1e-9]
    if r_ok and h_ok:
        r_best = min(r_ok, key=lambda r: r["p50_ms"])
        h_best = min(h_ok, key=lambda h: h["p50_ms"])
        print(f"at recall@10 >= {target:.4f}: hnsw_rs p50 {r_best['p50_ms']:.3f} ms (ef {r_best['ef']}), "
              f"hnswlib p50 {h_best['p50_ms']:.3f} ms (ef {h_best['ef']}): "
              f"hnsw_rs/hnswlib = {r_best['p50_ms'] / h_best['p50_ms']:.2f}x")
    else:
        print(f"hnsw_rs does not reach recall {target:.4f} at the measured ef values")


if __name__ == "__main__":
    main()
