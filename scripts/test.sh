#!/usr/bin/env bash
# The test command: builds, fetches the model when missing, runs every test,
# then holds the API to its OpenAPI description with schemathesis (release
# server over the bundled corpus in a temporary library).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh debug
scripts/fetch-lexicon.sh
cargo test --all-targets
scripts/schemathesis.sh
