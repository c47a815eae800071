#!/usr/bin/env bash
# What the tests need from the system, installed with apt-get when missing (as
# root, or through sudo); idempotent. The browser test (tests/browser.rs)
# drives headless Chromium and needs CJK fonts to render the page
# (CHROME=/path/to/chromium skips the browser check); scripts/schemathesis.sh
# installs the fuzzer into a Python virtual environment (python3-venv), and
# the panel export test (tests/service.rs) reads CSV and XLSX with pandas and
# openpyxl from another, target/test-venv, made here.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
if [ -z "${CHROME:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  need+=(chromium)
fi
# Not `fc-list | grep -q`: grep stops at the first match, fc-list dies of
# SIGPIPE, and under pipefail the fonts would always look missing.
[ -n "$(fc-list 2>/dev/null | grep "Noto Sans CJK")" ] || need+=(fonts-noto-cjk)
python3 -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)

# pandas and openpyxl, pinned, in a virtual environment of their own.
test_venv() {
  local venv="${CARGO_TARGET_DIR:-target}/test-venv"
  if ! "$venv/bin/python" -c "import pandas, openpyxl" 2>/dev/null; then
    echo "fetch-test-tools: installing pandas and openpyxl into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "pandas==2.2.3" "numpy==2.1.3" "openpyxl==3.1.5"
  fi
}

if [ "${#need[@]}" -eq 0 ]; then
  test_venv
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "fetch-test-tools: the tests need ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  }
  SUDO=sudo
fi
echo "fetch-test-tools: installing ${need[*]} for the tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig
test_venv
