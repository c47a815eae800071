#!/usr/bin/env bash
# Retrieval quality on an evaluation query set: runs `zhengce eval` in dense,
# lexical and hybrid mode, scores each with score.py and prints one markdown
# table (hit@1/5/10, MRR@10, district coverage; overall and per query type).
#
# Usage: scripts/eval.sh [QUERIES.jsonl]
#   QUERIES   default: ../shared/eval/dev.jsonl (beside the repository)
#   env ZHENGCE_DATA_DIR  library to query (default bench-out/data; the
#                         bundled corpus is ingested into it when missing)
#   env SCORER            score.py (default: next to QUERIES)
#   env PROFILE           debug (default) or release build
set -euo pipefail
cd "$(dirname "$0")/.."

QUERIES="${1:-}"
if [ -z "$QUERIES" ]; then
  for q in ../shared/eval/dev.jsonl /work/shared/eval/dev.jsonl; do
    if [ -f "$q" ]; then QUERIES="$q"; break; fi
  done
fi
[ -n "$QUERIES" ] && [ -f "$QUERIES" ] || { echo "eval: no query file (give one as the first argument)" >&2; exit 2; }
SCORER="${SCORER:-$(dirname "$QUERIES")/score.py}"
[ -f "$SCORER" ] || { echo "eval: scorer $SCORER not found (set SCORER)" >&2; exit 2; }

PROFILE="${PROFILE:-debug}"
scripts/fetch-model.sh "$PROFILE"
scripts/fetch-lexicon.sh
if [ "$PROFILE" = "release" ]; then cargo build --quiet --release; else cargo build --quiet; fi
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/zhengce"

DATA="${ZHENGCE_DATA_DIR:-bench-out/data}"
OUT="bench-out/eval"
mkdir -p "$OUT"
# Idempotent: documents already in the library are skipped, not re-embedded.
"$BIN" --data-dir "$DATA" ingest data/corpus >&2

for mode in dense lexical hybrid; do
  "$BIN" --data-dir "$DATA" eval "$QUERIES" --mode "$mode" --out "$OUT/results-$mode.jsonl" >&2
  python3 "$SCORER" "$QUERIES" "$OUT/results-$mode.jsonl" --json > "$OUT/score-$mode.json"
done

python3 - "$OUT" "$QUERIES" <<'PY'
import json, sys
out, queries = sys.argv[1], sys.argv[2]
modes = ["dense", "lexical", "hybrid"]
scores = {m: json.load(open(f"{out}/score-{m}.json"))["summary"] for m in modes}
groups = list(scores["hybrid"].keys())
def cell(v):
    return "–" if v is None else f"{v:.3f}"
print(f"Queries: `{queries}`; `similar` queries run find-similar (dense + lexical, fused) in every mode.\n")
print("| type | n | mode | hit@1 | hit@5 | hit@10 | MRR@10 | district coverage@10 |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for g in groups:
    for m in modes:
        r = scores[m][g]
        print(f"| {g} | {r['n']} | {m} | {cell(r['hit@1'])} | {cell(r['hit@5'])} | "
              f"{cell(r['hit@10'])} | {cell(r['MRR@10'])} | {cell(r['dist@10'])} |")
PY
