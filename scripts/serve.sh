#!/usr/bin/env bash
# The run command: builds (release), fetches the model when missing, and serves
# the bundled corpus and the multi-year demo reports (ingesting them on the
# first start).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh release
scripts/fetch-lexicon.sh
exec target/release/zhengce serve --corpus data/corpus --corpus data/demo "$@"
