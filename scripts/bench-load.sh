#!/usr/bin/env bash
# HTTP load benchmark on loopback: starts `zhengce serve` on the bundled
# corpus, runs wrk with 8 concurrent connections (bounded by time and by a
# request count), prints p50/p99 latency and errors, then restarts the server
# to measure the time to the first answer and reports the serving RSS.
#
# Usage: scripts/bench-load.sh [SECONDS] [MAX_REQUESTS]   (default 20 s, 20000)
#   env PROFILE   debug (default) or release
#   env QUERIES   query texts are taken from this JSONL's "query" field
#                 (default ../shared/eval/dev.jsonl); a few built-in ones otherwise
#   env MODE      retrieval mode for the queries (default hybrid)
#   env COLD=1    make every request's query unique (a number appended), so
#                 none is answered from the server's memo of query vectors
#   env BIN       serve with this zhengce binary instead of building one
#                 (to compare two builds in one sitting)
# Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-20}"
MAX="${2:-20000}"
CONNS=8
PROFILE="${PROFILE:-debug}"
MODE="${MODE:-hybrid}"
command -v wrk >/dev/null || { echo "bench-load: wrk not found (apt-get install wrk)" >&2; exit 2; }

scripts/fetch-model.sh "$PROFILE"
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = "release" ]; then cargo build --quiet --release; else cargo build --quiet; fi
  BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/zhengce"
fi

OUT=bench-out/load
DATA="${ZHENGCE_DATA_DIR:-bench-out/data}"
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR="127.0.0.1:$PORT"

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT

# Starts the server; sets STARTUP to the seconds until /healthz answers.
STARTUP=
start_server() {
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" --data-dir "$DATA" serve --addr "$ADDR" >/dev/null 2>>"$OUT/server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 6000); do
    if curl -fs "http://$ADDR/healthz" >/dev/null 2>&1; then
      t1=$(date +%s.%N); STARTUP=$(python3 -c "print(f'{$t1-$t0:.2f}')"); return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died; see $OUT/server.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "server did not answer in time" >&2; exit 1
}

: > "$OUT/server.log"
start_server   # may ingest the bundled corpus on an empty data dir
first=$STARTUP

# The request paths: URL-encoded queries, cycled through by every connection.
QUERIES="${QUERIES:-}"
[ -n "$QUERIES" ] || for q in ../shared/eval/dev.jsonl /work/shared/eval/dev.jsonl; do [ -f "$q" ] && QUERIES="$q" && break; done
python3 - "$QUERIES" "$MODE" > "$OUT/paths.lua" <<'PY'
import json, sys, urllib.parse
path, mode = sys.argv[1], sys.argv[2]
qs = []
try:
    qs = [json.loads(l)["query"] for l in open(path, encoding="utf-8") if l.strip()]
except (OSError, ValueError, KeyError):
    pass
qs = qs or ["河长制", "老年食堂", "新能源汽车产业", "How are districts supporting elderly care?", "鄉村振興"]
print("paths = {")
for q in qs:
    print("  %s," % json.dumps(f"/api/search?k=10&mode={mode}&q=" + urllib.parse.quote(q)))
print("}")
PY
cat >> "$OUT/paths.lua" <<LUA
cold = ${COLD:-0} == 1
max_per_thread = math.ceil($MAX / 2)
counter = 0
handled = 0
threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = id * 7
end
function request()
  counter = counter + 1
  local p = paths[(counter % #paths) + 1]
  if cold then p = p .. "%20" .. id .. "n" .. counter end
  return wrk.format("GET", p)
end
function response(status, headers, body)
  handled = handled + 1
  if handled >= max_per_thread then wrk.thread:stop() end
end
LUA

# Warm-up: every query once (first use of each code path, page cache).
for p in $(python3 -c "
import re,sys
print(' '.join(re.findall(r'\"(/api/[^\"]+)\"', open('$OUT/paths.lua').read())))"); do
  curl -fs "http://$ADDR$p" >/dev/null
done

timeout $((SECS + 30)) wrk -t2 -c$CONNS -d"${SECS}s" --timeout 5s --latency -s "$OUT/paths.lua" "http://$ADDR" > "$OUT/wrk.txt"
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/"$SERVER_PID"/status)
stop_server
start_server
restart=$STARTUP
restart_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/"$SERVER_PID"/status)
stop_server

python3 - "$OUT/wrk.txt" "$SECS" "$MAX" "$CONNS" "$PROFILE" "$MODE" "$first" "$restart" "$rss_kb" "$restart_rss_kb" <<'PY'
import re, sys
wrk, secs, mx, conns, profile, mode, first, restart, rss, rss2 = sys.argv[1:]
t = open(wrk).read()
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
reqs = re.search(r"(\d+) requests in ([\d.]+)(\w+)", t)
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
import os
print(f"load: GET /api/search mode={mode}{' (cold: unique queries)' if os.environ.get('COLD') == '1' else ' (warm: repeated queries)'}, {conns} connections, <= {secs} s and <= {mx} requests, {profile} build")
print(f"  requests      {reqs.group(1) if reqs else '?'} in {reqs.group(2) + reqs.group(3) if reqs else '?'}"
      f" ({rps.group(1) if rps else '?'} req/s)")
print(f"  latency p50   {ms('50'):.1f} ms")
print(f"  latency p90   {ms('90'):.1f} ms")
print(f"  latency p99   {ms('99'):.1f} ms")
print(f"  errors        {errors}" + (f" (non-2xx {non2xx.group(1)})" if non2xx else "") +
      (f" (socket {sock.group(0)})" if sock else ""))
print(f"  peak RSS while serving   {int(rss) / 1024:.0f} MB")
print(f"first start to /healthz   {first} s (includes ingest on an empty data dir)")
print(f"restart to /healthz       {restart} s (RSS after start {int(rss2) / 1024:.0f} MB)")
PY
