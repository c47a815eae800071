#!/usr/bin/env python3
"""Pool candidate passages for the judged relevance set and assemble/check it (stdlib only).

The set (eval/relevance-judged.jsonl) is made in three steps:

  pool      run every query of eval/relevance-queries.jsonl through a built binary over a
            library: hybrid top 15 ∪ dense top 10 ∪ lexical top 10 (place inference left on,
            as a user gets it). Writes the pool (full passage texts) to --pool.
  show      print one query's pooled passages in full, numbered, for a person to judge.
  assemble  read the grades a person wrote (--grades: lines "r001 20100..." with one digit per
            pooled passage in pool order, or "r001 PASSAGE_ID GRADE"), choose for each passage
            an anchor, and write eval/relevance-judged.jsonl. A passage already judged in the
            output keeps its grade when the pool is re-run and its position changes.
  check     verify every anchor is >= 10 characters, occurs verbatim in its passage exactly
            once and (when --export is given) in no other passage of the library.

Anchors are chosen against a library export (`zhengce export`, one passage a line) so that an
anchor names one passage library-wide, not only within its query's pool: a scorer that credits a
result by "text contains anchor" then credits exactly the judged passage.

The split is by query, decided from the query ids alone (never from results or scores) and
stored in the query file, so queries added later never move an earlier query between parts:
within each stratum (kind × language) of a batch of queries, queries are ordered by sha256 of
their id and every third, from the first, is held out (`splits`).

Usage (--pool, default bench-out/relevance-pool.jsonl, goes before the subcommand)
  scripts/pool-judgments.py pool --bin BIN --data-dir LIB [--only r001 r002 ...]
  scripts/pool-judgments.py show r001 [r002 ...]
  scripts/pool-judgments.py assemble --grades eval/relevance-grades.txt --export EXPORT.jsonl
  scripts/pool-judgments.py check [--export EXPORT.jsonl]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERIES = os.path.join(ROOT, "eval", "relevance-queries.jsonl")
JUDGED = os.path.join(ROOT, "eval", "relevance-judged.jsonl")
POOL = os.path.join(ROOT, "bench-out", "relevance-pool.jsonl")
MODES = (("hybrid", 15), ("dense", 10), ("lexical", 10))
MIN_ANCHOR = 10


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def splits(queries, stratified=True):
    """Query id -> "train" | "heldout", from ids and strata only.

    A batch too small to fill its strata (each stratum one query) is split as one stratum, else
    every one-query stratum would be held out."""
    strata = defaultdict(list)
    for q in queries:
        strata[(q["kind"], q["lang"]) if stratified else None].append(q["id"])
    out = {}
    for ids in strata.values():
        ids.sort(key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        for n, i in enumerate(ids):
            out[i] = "heldout" if n % 3 == 0 else "train"
    return out


def search(binary, data_dir, query, mode, k):
    cmd = [binary, "--data-dir", data_dir, "search", query, "--json", "--k", str(k), "--mode", mode]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"search failed ({mode}) for {query!r}: {res.stderr.strip()}")
    return json.loads(res.stdout)["hits"]


def cmd_pool(args):
    rows = []
    for q in read_jsonl(QUERIES):
        if args.only and q["id"] not in args.only:
            continue
        cands = {}
        for mode, k in MODES:
            for rank, h in enumerate(search(args.bin, args.data_dir, q["query"], mode, k), 1):
                c = cands.setdefault(h["passage_id"], {
                    "passage_id": h["passage_id"], "doc_id": h["doc_id"],
                    "district": h.get("district"), "city": h.get("city"),
                    "province": h.get("province"), "year": h.get("year"),
                    "section_path": h.get("section_path") or [], "text": h["text"], "ranks": {}})
                c["ranks"][mode] = rank
        rows.append({**q, "candidates": list(cands.values())})
        print(f"{q['id']}: {len(cands)} pooled", file=sys.stderr)
    if args.only and os.path.exists(args.pool):
        keep = [r for r in read_jsonl(args.pool) if r["id"] not in args.only]
        rows = sorted(keep + rows, key=lambda r: r["id"])
    write_jsonl(args.pool, rows)
    print(f"{sum(len(r['candidates']) for r in rows)} passages over {len(rows)} queries -> {args.pool}")


def cmd_show(args):
    pool = {r["id"]: r for r in read_jsonl(args.pool)}
    for qid in args.ids:
        r = pool[qid]
        print(f"=== {qid} [{r['lang']}/{r['kind']}] {r['query']}")
        for n, c in enumerate(r["candidates"]):
            place = c["district"] or c["city"] or c["province"] or "national"
            sec = " > ".join(c["section_path"])[-24:]
            print(f"[{n}] {place} {c['year']} | {sec}\n{c['text']}")
        print()


def library_texts(export):
    texts = {}
    for r in read_jsonl(export):
        texts[r.get("passage_id") or r.get("id")] = r["text"]
    return texts


def pick_anchor(text, others_blob):
    """Shortest-first window of the passage found once in it and nowhere else in the library.

    Windows start after a punctuation mark where possible (they read as the start of a clause)."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch in "，。；：、！？,.;:"]
    starts += [i for i in range(len(text)) if i not in set(starts)]
    for length in (14, 20, 28, 40):
        for s in starts:
            w = text[s:s + length]
            if len(w) < length or w != w.strip() or "\n" in w:
                continue
            if text.count(w) == 1 and w not in others_blob:
                return w
    return None


def cmd_assemble(args):
    queries = read_jsonl(QUERIES)
    split = splits(queries)
    split.update({q["id"]: q["split"] for q in queries if q.get("split")})
    pool = {r["id"]: r for r in read_jsonl(args.pool)}
    previous = {}
    if os.path.exists(JUDGED):
        for r in read_jsonl(JUDGED):
            previous[r["id"]] = {j["passage_id"]: j for j in r["judged"]}
    grades = defaultdict(dict)
    with open(args.grades, encoding="utf-8") as f:
        for line in f:
            parts = line.split("#", 1)[0].split()
            if not parts:
                continue
            qid = parts[0]
            cands = pool[qid]["candidates"]
            if len(parts) == 3:
                grades[qid][parts[1]] = int(parts[2])
            else:
                digits = "".join(parts[1:])
                if len(digits) != len(cands) or set(digits) - set("012"):
                    raise SystemExit(f"{qid}: {len(digits)} grades for {len(cands)} pooled passages")
                for c, g in zip(cands, digits):
                    grades[qid][c["passage_id"]] = int(g)
    texts = library_texts(args.export)
    blob_all = "\x00".join(texts.values())
    out = []
    for q in queries:
        if q["id"] not in pool or q["id"] not in grades and q["id"] not in previous:
            continue
        judged = []
        for c in pool[q["id"]]["candidates"]:
            pid = c["passage_id"]
            prev = previous.get(q["id"], {}).get(pid)
            g = grades[q["id"]].get(pid, prev["grade"] if prev else None)
            if g is None:
                raise SystemExit(f"{q['id']}: passage {pid} is pooled but not judged")
            anchor = prev["anchor"] if prev else None
            shared = bool(prev and prev.get("anchor_shared"))
            if anchor is None:
                # the passage's own text is removed once from the blob so "elsewhere" means other passages
                others = blob_all.replace(c["text"], "", 1)
                anchor = pick_anchor(c["text"], others)
                if anchor is None:
                    # A passage whose whole text recurs elsewhere (a stock sentence such as
                    # "2026年是“十五五”开局之年。") has no library-unique window: its whole
                    # text is the anchor and the record says it is shared.
                    anchor, shared = c["text"].strip(), True
                    if len(anchor) < MIN_ANCHOR or c["text"].count(anchor) != 1:
                        raise SystemExit(f"{q['id']}: no usable anchor in {pid}")
            row = {"passage_id": pid, "doc_id": c["doc_id"],
                   "district": c["district"] or c["city"] or c["province"],
                   "year": c["year"], "anchor": anchor, "grade": g}
            if shared:
                row["anchor_shared"] = True
            judged.append(row)
        out.append({"id": q["id"], "query": q["query"], "lang": q["lang"], "kind": q["kind"],
                    "split": split[q["id"]], "topic": q["topic"], "judged": judged})
    write_jsonl(JUDGED, out)
    print(f"{len(out)} queries, {sum(len(r['judged']) for r in out)} judged -> {JUDGED}")


def cmd_check(args):
    rows = read_jsonl(JUDGED)
    pool = {r["id"]: {c["passage_id"]: c["text"] for c in r["candidates"]}
            for r in read_jsonl(args.pool)} if os.path.exists(args.pool) else {}
    texts = library_texts(args.export) if args.export else {}
    bad = 0
    for r in rows:
        for j in r["judged"]:
            text = texts.get(j["passage_id"]) or pool.get(r["id"], {}).get(j["passage_id"])
            a = j["anchor"]
            problem = None
            if text is None:
                problem = "passage text unavailable"
            elif len(a) < MIN_ANCHOR:
                problem = "anchor shorter than 10 characters"
            elif text.count(a) != 1:
                problem = f"anchor occurs {text.count(a)} times in its passage"
            elif texts and not j.get("anchor_shared") and any(
                    a in t for p, t in texts.items() if p != j["passage_id"]):
                problem = "anchor also occurs in another passage of the library"
            if problem:
                bad += 1
                print(f"{r['id']} {j['passage_id']}: {problem}")
    n = sum(len(r["judged"]) for r in rows)
    grades = Counter(j["grade"] for r in rows for j in r["judged"])
    print(f"{len(rows)} queries, {n} judged, grades {dict(sorted(grades.items()))}, {bad} anchor problems")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", default=POOL)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--bin", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--only", nargs="*", help="re-pool only these query ids")
    s = sub.add_parser("show")
    s.add_argument("ids", nargs="+")
    a = sub.add_parser("assemble")
    a.add_argument("--grades", required=True)
    a.add_argument("--export", required=True, help="`zhengce export` of the pooled library")
    c = sub.add_parser("check")
    c.add_argument("--export")
    args = ap.parse_args()
    if args.cmd == "pool":
        cmd_pool(args)
    elif args.cmd == "show":
        cmd_show(args)
    elif args.cmd == "assemble":
        cmd_assemble(args)
    else:
        sys.exit(cmd_check(args))


if __name__ == "__main__":
    main()
