#!/usr/bin/env python3
"""Scores eval/english.jsonl, eval/paraphrase.jsonl (or any set with wide-dev items) with the
shared score.py, which only knows the bundled documents: items whose doc is "wide-dev/NNNN" are
accepted as documents of no listed district (they carry no "districts" key).

Usage: scripts/score-sets.py SCORE_PY QUERIES.jsonl RESULTS.jsonl [--split dev|heldout] [score.py flags]
"""
import importlib.util
import json
import os
import sys
import tempfile

score_py, queries, results, *rest = sys.argv[1:]
split = None
if "--split" in rest:
    i = rest.index("--split")
    split = rest[i + 1]
    del rest[i:i + 2]
spec = importlib.util.spec_from_file_location("score", score_py)
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)
known = score.doc_district
score.doc_district = lambda doc: known(doc) or ("wide-dev" if str(doc).startswith("wide-dev/") else None)
if split:
    rows = [l for l in open(queries, encoding="utf-8") if l.strip() and json.loads(l).get("split") == split]
    tmp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    tmp.writelines(rows)
    tmp.close()
    queries = tmp.name
sys.argv = [score_py, queries, results, *rest]
code = score.main()
if split:
    os.unlink(queries)
sys.exit(code)
