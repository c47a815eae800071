#!/usr/bin/env bash
# Warm single-client HTTP search latency: serves DATA with BIN on a loopback
# port, asks every query of ../shared/eval/dev.jsonl once to warm up, then 5
# more times flat and grouped by district, and prints the median of each.
# Run it for two builds in one sitting to compare them (the machine's load
# moves absolute figures).
#
# Usage: scripts/bench-warm.sh BIN DATA_DIR [PORT] [QUERIES.jsonl]
set -euo pipefail
BIN=$1; DATA=$2; PORT=${3:-7901}
QUERIES=${4:-$(dirname "$0")/../../shared/eval/dev.jsonl}
"$BIN" --data-dir "$DATA" serve --addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT
for _ in $(seq 120); do curl -s "http://127.0.0.1:$PORT/api/stats" >/dev/null && break; sleep 1; done
python3 - "$PORT" "$QUERIES" <<'PY'
import json, statistics, sys, time, urllib.parse, urllib.request
port, path = sys.argv[1], sys.argv[2]
qs = [json.loads(l)["query"] for l in open(path, encoding="utf-8") if l.strip()]
def get(q, grouped=False):
    args = {"q": q, "k": "10", **({"group": "district"} if grouped else {})}
    t = time.perf_counter()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode(args)).read()
    return (time.perf_counter() - t) * 1000
for q in qs:
    get(q); get(q, True)
flat = [get(q) for _ in range(5) for q in qs]
grouped = [get(q, True) for _ in range(5) for q in qs]
print(f"warm flat p50 {statistics.median(flat):.1f} ms, grouped p50 {statistics.median(grouped):.1f} ms ({len(flat)} requests each)")
PY
