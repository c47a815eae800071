#!/usr/bin/env bash
# The test command: builds, fetches what the tests need when missing (the
# model, the lexicon, Chromium and CJK fonts for the browser test, Python's
# venv for schemathesis), runs every test, then holds the API to its OpenAPI
# description with schemathesis (release server over the bundled corpus in a
# temporary library).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh debug
scripts/fetch-lexicon.sh
scripts/fetch-test-tools.sh
cargo test --all-targets
scripts/schemathesis.sh
