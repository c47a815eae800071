#!/usr/bin/env python3
"""Serving memory under a scripted mixed load, on loopback.

Starts `zhengce serve` on a copy of a library and drives it through the
kinds of work a user gives it, reading the server's resident memory
(VmRSS) after each phase and its high-water mark (VmHWM) at the end:

  fresh       after start-up and one search
  search      400 searches: Chinese, traditional, English, grouped, filtered,
              each made unique so none is answered from the query cache
  similar     6 find-similar requests with 2,000-character texts and ten
              2,000-character negatives, one after another (each is as much
              text as admission lets in at once)
  summarize   16 topic summaries (each with what districts share), 2 document
              summaries
  panels      targets, the target panel and the attention panel (JSON, CSV, XLSX)
  ingest      two 40-paragraph uploads, each deleted again
  again       the search phase once more (does memory return to a level?)

The target (issue #15): RSS <= 600 MB after the whole load, on the bundled
corpus, release build.

Usage: scripts/bench-memory.py --bin BIN --data LIBRARY_DIR [-- SERVE_ARGS...]
  --data is copied to a temporary directory first (the library is not written).
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def corpus_paragraphs():
    d = os.path.join(ROOT, "data", "corpus")
    paras = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            paras += [p.strip() for p in f.read().splitlines() if len(p.strip()) >= 40]
    return paras


def call(base, path, body=None, method=None, headers=None, timeout=600):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data else "GET"))
    if data is not None and not isinstance(body, bytes):
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_parallel(jobs, workers):
    """Runs the callables in `jobs` on `workers` threads; returns statuses."""
    out, lock, it = [], threading.Lock(), iter(jobs)

    def worker():
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            s = job()
            with lock:
                out.append(s)

    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


QUESTIONS = [
    "河长制", "老年食堂", "新能源汽车产业", "鄉村振興", "長者飯堂", "营商环境优化",
    "地区生产总值预期增长", "招商引资重大项目", "城市更新和老旧小区改造", "教育优质均衡发展",
    "How are districts supporting elderly care?", "hydrogen energy industry",
    "Which districts plan to build elderly canteens?", "GDP growth target 2024",
    "生态环境保护和污染防治", "数字经济核心产业", "医疗卫生服务体系", "就业和社会保障",
]


def search_jobs(base, n, rnd):
    jobs = []
    for i in range(n):
        q = rnd.choice(QUESTIONS) + f" {uuid.uuid4().hex[:6]}"
        params = {"q": q, "k": str(rnd.choice([10, 20, 50]))}
        if i % 3 == 1:
            params["group"] = "district"
        if i % 5 == 2:
            params["year"] = "2023-2024"
        if i % 7 == 3:
            params["mode"] = rnd.choice(["dense", "lexical"])
        path = "/api/search?" + urllib.parse.urlencode(params)
        jobs.append(lambda p=path: call(base, p)[0])
    return jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("serve_args", nargs="*")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    paras = corpus_paragraphs()
    tmp = tempfile.mkdtemp(prefix="zhengce-mem-")
    data = os.path.join(tmp, "lib")
    shutil.copytree(a.data, data)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "server.log"), "w")
    proc = subprocess.Popen(
        [a.bin, "--data-dir", data, "serve", "--addr", f"127.0.0.1:{port}", *a.serve_args],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    rows = []
    try:
        for _ in range(600):
            try:
                if call(base, "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("server did not start")

        def mark(name, statuses, t0):
            bad = [s for s in statuses if s >= 500 and s != 503]
            rows.append((name, status(proc.pid, "VmRSS"), len(statuses), len(bad), time.time() - t0))

        t0 = time.time()
        mark("fresh", [call(base, "/api/search?q=" + urllib.parse.quote("河长制"))[0]], t0)

        t0 = time.time()
        mark("search", run_parallel(search_jobs(base, 400, rnd), 8), t0)

        def similar_job():
            text = "".join(rnd.sample(paras, 12))[:2000]
            negs = ["".join(rnd.sample(paras, 12))[:2000] for _ in range(10)]
            return call(base, "/api/similar", {"text": text, "negative": negs, "k": 20})[0]

        t0 = time.time()
        mark("similar", run_parallel([similar_job for _ in range(6)], 1), t0)

        docs = json.loads(call(base, "/api/documents")[1])
        doc_ids = [d["doc_id"] for d in (docs["documents"] if isinstance(docs, dict) else docs)]
        topics = ["河长制", "养老服务", "新能源汽车", "营商环境", "乡村振兴", "城市更新",
                  "教育", "医疗", "就业", "生态环境", "数字经济", "招商引资"]
        jobs = [lambda t=t: call(base, "/api/summarize", {"query": t})[0] for t in topics]
        jobs += [lambda t=t: call(base, "/api/summarize",
                                  {"query": t, "filters": {"year_from": 2023, "year_to": 2024}})[0]
                 for t in topics[:4]]
        jobs += [lambda d=d: call(base, "/api/summarize", {"doc_id": d})[0] for d in doc_ids[:2]]
        t0 = time.time()
        mark("summarize", run_parallel(jobs, 4), t0)

        jobs = [lambda: call(base, "/api/targets")[0]]
        for fmt in ["json", "csv", "xlsx"]:
            jobs.append(lambda f=fmt: call(base, f"/api/panel/targets?format={f}")[0])
            jobs.append(lambda f=fmt: call(
                base, "/api/panel/attention?" + urllib.parse.urlencode(
                    {"terms": "养老,托育,河长制", "format": f}))[0])
        t0 = time.time()
        mark("panels", run_parallel(jobs, 2), t0)

        t0 = time.time()
        statuses = []
        for i in range(2):
            text = "\n".join(rnd.sample(paras, min(40, len(paras))))
            body = {"text": text, "file": f"mem-{i}.txt",
                    "meta": {"district": "测试区", "year": 2024}}
            s, b = call(base, "/api/documents", body)
            statuses.append(s)
            if s in (200, 201):
                did = json.loads(b)["doc_id"]
                statuses.append(call(base, f"/api/documents/{did}", method="DELETE")[0])
        mark("ingest", statuses, t0)

        t0 = time.time()
        mark("again", run_parallel(search_jobs(base, 400, rnd), 8), t0)
        peak = status(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"serving memory, {os.path.basename(a.bin)} on {a.data} (load {os.getloadavg()[0]:.2f})")
    print(f"  {'phase':<10}{'RSS MB':>8}{'requests':>10}{'5xx':>5}{'seconds':>9}   (5xx: errors other than 503)")
    for name, rss, n, bad, secs in rows:
        print(f"  {name:<10}{rss:>8.0f}{n:>10}{bad:>5}{secs:>9.1f}")
    print(f"  peak RSS (VmHWM) {peak:.0f} MB; after the whole load {rows[-1][1]:.0f} MB (target <= 600)")
    if any(r[3] for r in rows):
        sys.exit("5xx answers during the load")


if __name__ == "__main__":
    main()
