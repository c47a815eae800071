#!/usr/bin/env bash
# The test command: builds, fetches what the tests need when missing (the
# model, the lexicon, Chromium and CJK fonts for the browser test), runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh debug
scripts/fetch-lexicon.sh
scripts/fetch-browser.sh
cargo test --all-targets
