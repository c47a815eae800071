#!/usr/bin/env bash
# The browser test (tests/browser.rs) drives headless Chromium and needs CJK
# fonts to render the page: installs both with apt-get when missing (as root,
# or through sudo). Idempotent. CHROME=/path/to/chromium skips the check.
set -euo pipefail
need=()
if [ -z "${CHROME:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  need+=(chromium)
fi
fc-list 2>/dev/null | grep -q "Noto Sans CJK" || need+=(fonts-noto-cjk)
[ "${#need[@]}" -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "fetch-browser: the browser test needs ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  }
  SUDO=sudo
fi
echo "fetch-browser: installing ${need[*]} for the browser test" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig
