#!/usr/bin/env bash
# The test command: builds, fetches the model when missing, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh debug
scripts/fetch-lexicon.sh
cargo test --all-targets
