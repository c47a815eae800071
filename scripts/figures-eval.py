#!/usr/bin/env python3
"""Answer cards on a figure-question set: top-1 accuracy on questions whose
figure a report states, no-card rate on those whose figure it does not.

    python3 scripts/figures-eval.py eval/figures.jsonl --data-dir DIR [--bin zhengce] [--per-query]

A stated question counts as answered right when the card's figure, kind and
qualifier are the expected ones and its sentence holds the anchor (compared
after folding to simplified script when `opencc` is unavailable: anchors are
written in the report's own script). Scores are printed per split (dev,
heldout) and over all.
"""
import argparse
import json
import subprocess
import sys


def card(binary, data_dir, query):
    out = subprocess.run(
        [binary, "--data-dir", data_dir, "search", query, "--json", "--k", "5"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out).get("answer")


def right(item, a):
    if a is None:
        return False
    return (
        abs(a["figure"] - item["value"]) < 1e-6
        and a["kind"] == item["kind"]
        and a.get("qualifier") == item["qualifier"]
        and a["unit"] == item["unit"]
        and item["anchor"] in a["sentence"]
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("queries")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--bin", default="target/release/zhengce")
    ap.add_argument("--per-query", action="store_true")
    args = ap.parse_args()
    items = [json.loads(l) for l in open(args.queries, encoding="utf-8") if l.strip()]
    tally = {}
    for it in items:
        a = card(args.bin, args.data_dir, it["query"])
        ok = right(it, a) if it["stated"] else a is None
        for split in (it["split"], "all"):
            t = tally.setdefault(split, {"stated": [0, 0], "unstated": [0, 0]})
            t["stated" if it["stated"] else "unstated"][0] += ok
            t["stated" if it["stated"] else "unstated"][1] += 1
        if args.per_query:
            got = None if a is None else f'{a["figure"]}{a["unit"]}{a.get("qualifier") or ""} {a["kind"]} {a["year"]} {a["place"]}'
            print(f'{"ok " if ok else "BAD"} {it["id"]} {it["split"]:8} {it["query"]} -> {got}')
    for split in ("dev", "heldout", "all"):
        if split not in tally:
            continue
        s, u = tally[split]["stated"], tally[split]["unstated"]
        print(
            f"{split:8} stated: right figure on top {s[0]}/{s[1]} = {s[0] / max(s[1], 1):.2f}; "
            f"unstated: no card {u[0]}/{u[1]} = {u[0] / max(u[1], 1):.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
