#!/usr/bin/env bash
# The API against its own description: schemathesis (pinned) with every check,
# against a real release server over the bundled corpus, with a bearer token
# so the writes are exercised too. Exits nonzero when any check fails.
#
# The server runs on a free loopback port over a temporary library, so the
# fuzzer's uploads, corrections and deletions touch nothing else.
#
#   scripts/schemathesis.sh                 # library built from data/corpus
#   ZHENGCE_ST_LIBRARY=DIR scripts/schemathesis.sh   # a copy of DIR instead
#
# Environment: ZHENGCE_ST_EXAMPLES (cases per operation, default 60),
# ZHENGCE_ST_SEED (default 1), ZHENGCE_ST_VENV (default target/schemathesis-venv),
# ZHENGCE_BIN (default target/release/zhengce, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.0
examples="${ZHENGCE_ST_EXAMPLES:-60}"
seed="${ZHENGCE_ST_SEED:-1}"
target_dir="${CARGO_TARGET_DIR:-target}"
venv="${ZHENGCE_ST_VENV:-$target_dir/schemathesis-venv}"
bin="${ZHENGCE_BIN:-$target_dir/release/zhengce}"

# The fuzzer, in a virtual environment of its own (works as root or not,
# and leaves the system's Python alone).
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "schemathesis: installing $SCHEMATHESIS_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -z "${ZHENGCE_BIN:-}" ]; then
  scripts/fetch-model.sh release
  scripts/fetch-lexicon.sh
  cargo build --release --quiet --bin zhengce
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

library="$work/library"
if [ -n "${ZHENGCE_ST_LIBRARY:-}" ]; then
  cp -r "$ZHENGCE_ST_LIBRARY" "$library"
fi

# A free loopback port: bind port 0, read it back, let it go.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="st-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
base="http://127.0.0.1:$port"

ZHENGCE_TOKEN="$token" "$bin" serve --addr "127.0.0.1:$port" --data-dir "$library" \
  >"$work/server.log" 2>&1 &
server_pid=$!

ready() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$base/healthz" 2>/dev/null
}
# The first start over an empty library ingests the bundled corpus.
for _ in $(seq 1 600); do
  if ready; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis: the server exited:" >&2
    tail -n 30 "$work/server.log" >&2
    exit 1
  fi
  sleep 0.5
done
ready || { echo "schemathesis: server not ready" >&2; exit 1; }

start=$(date +%s)
# One worker: Hypothesis describes lambdas with ast.parse, which in CPython
# before 3.11.8 can fail from another thread with "AST constructor recursion
# depth mismatch" (CPython issue 106905); it once stopped a run that way.
set +e
"$venv/bin/schemathesis" --no-color --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 60 \
  --suppress-health-check too_slow,filter_too_much \
  --generation-database none \
  --report junit --report-dir "$work/report" 2>&1 | tee "$work/schemathesis.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

if grep -q '"level":"ERROR"\|panicked' "$work/server.log"; then
  echo "schemathesis: the server logged errors:" >&2
  grep '"level":"ERROR"\|panicked' "$work/server.log" | head -n 20 >&2
  status=1
fi
echo "schemathesis $SCHEMATHESIS_VERSION: exit $status after ${elapsed}s (seed $seed, $examples examples per operation)"
exit "$status"
