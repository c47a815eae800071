#!/usr/bin/env python3
"""Admission control under heavy find-similar load, on loopback.

Starts `zhengce serve` on a copy of a library, measures uncached searches
alone, then the same kind of searches while four heavy `POST /api/similar`
requests run at once (a 2,000-character text and ten 2,000-character
negatives each, cut from the bundled reports). Prints the searches' median
and p95 latency in both phases and what each heavy request got (status,
seconds, Retry-After). The target: searches beside the heavy requests stay
at or under 100 ms p95, or the heavy requests get 503.

Usage: scripts/bench-admission.py --bin BIN --data LIBRARY_DIR [-- SERVE_ARGS...]
  --data is copied to a temporary directory first (the library is not written).
  SERVE_ARGS go to `zhengce serve` (e.g. --max-inflight-chars 100000).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def corpus_text():
    d = os.path.join(ROOT, "data", "corpus")
    parts = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            parts.append("".join(f.read().split()))
    return "".join(parts)


def request(url, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if body else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status, time.perf_counter() - t0, None
    except urllib.error.HTTPError as e:
        payload = e.read()
        if e.code >= 400:
            json.loads(payload)  # every error carries the JSON body
        return e.code, time.perf_counter() - t0, e.headers.get("Retry-After")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--searches", type=int, default=60)
    ap.add_argument("serve_args", nargs="*")
    a = ap.parse_args()

    text = corpus_text()
    fragments = [text[i : i + 12] for i in range(0, len(text) - 12, 97)]
    heavy_bodies = []
    for h in range(4):
        base = h * 22_000
        chunk = lambda j: text[(base + j * 2000) % (len(text) - 2000) :][:2000]
        heavy_bodies.append(
            {"text": chunk(0), "negative": [chunk(j) for j in range(1, 11)], "k": 5}
        )

    tmp = tempfile.mkdtemp(prefix="bench-admission-")
    data = os.path.join(tmp, "lib")
    shutil.copytree(a.data, data)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen(
        [a.bin, "--data-dir", data, "serve", "--addr", f"127.0.0.1:{port}", "--no-bootstrap"]
        + a.serve_args,
        stdout=log,
        stderr=log,
    )
    try:
        for _ in range(1200):
            try:
                if request(base + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit(f"server exited; see {log.name}")
            time.sleep(0.1)
        used = iter(range(len(fragments)))

        def search():
            # A fragment not asked before: the query memo cannot answer it.
            q = fragments[next(used)]
            url = base + "/api/search?" + urllib.parse.urlencode({"q": q, "k": 10})
            status, secs, _ = request(url)
            assert status == 200, status
            return secs

        for _ in range(5):
            search()  # warm-up
        alone = [search() for _ in range(a.searches)]

        heavy = [None] * 4

        def run_heavy(i):
            heavy[i] = request(base + "/api/similar", heavy_bodies[i], timeout=300)

        threads = [threading.Thread(target=run_heavy, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        beside = []
        while any(t.is_alive() for t in threads) and len(beside) < 10 * a.searches:
            beside.append(search())
            time.sleep(0.05)
        for t in threads:
            t.join()
        metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    print(f"serve args: {a.serve_args or '(defaults)'}")
    ms = lambda s: f"{1000 * s:.1f}"
    print(f"uncached search alone:        n={len(alone)} median {ms(statistics.median(alone))} ms, p95 {ms(pct(alone, 95))} ms")
    if beside:
        print(f"uncached search beside heavy: n={len(beside)} median {ms(statistics.median(beside))} ms, p95 {ms(pct(beside, 95))} ms")
    for i, (status, secs, retry) in enumerate(heavy):
        print(f"heavy similar {i}: {status} in {secs:.2f} s" + (f" (Retry-After {retry})" if retry else ""))
    for line in metrics.splitlines():
        if line.startswith("zhengce_encoder_"):
            print(line)


if __name__ == "__main__":
    main()
