#!/usr/bin/env python3
"""How far inferred metadata can be trusted: per-field accuracy, and accuracy
by confidence band, of `zhengce inspect --json` output against a labelled
corpus's truth.json (wide-dev's format, scored by its check.py rules).

Usage:
    zhengce inspect --json DIR/docs > out.jsonl
    scripts/meta-calibration.py out.jsonl DIR        # DIR holds truth.json and check.py

A confidence means something when the high bands are nearly always right and
the low bands often wrong; the last table says how many wrong fields a
researcher would find among those flagged (< 0.6) and among the rest.
"""
import importlib.util
import json
import os
import sys


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    out_path, corpus = argv
    spec = importlib.util.spec_from_file_location("check", os.path.join(corpus, "check.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    truth = json.load(open(os.path.join(corpus, "truth.json"), encoding="utf-8"))
    got = {}
    for line in open(out_path, encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            got[os.path.basename(d["file"]).rsplit(".", 1)[0]] = d["metadata"]
    bands = [(0.0, 0.6), (0.6, 0.8), (0.8, 0.9), (0.9, 1.01)]
    print("field      right/n    " + "  ".join(f"[{a:.1f},{min(b, 1):.1f}{']' if b > 1 else ')'}" for a, b in bands))
    flagged = [0, 0]
    rest = [0, 0]
    for f in check.FIELDS:
        right = 0
        per = [[0, 0] for _ in bands]
        for k, t in truth.items():
            m = got.get(k, {})
            ok = k in got and check.field_ok(f, t, m.get(f))
            right += ok
            conf = m.get("confidence") or {}
            if m.get(f) is None and f not in conf:
                # Nothing claimed (a province report has no city): no band.
                continue
            c = conf.get(f, 0.0)
            for i, (a, b) in enumerate(bands):
                if a <= c < b:
                    per[i][0] += ok
                    per[i][1] += 1
            bucket = flagged if c < 0.6 else rest
            bucket[0] += ok
            bucket[1] += 1
        cells = "  ".join(f"{r:>4}/{n:<4}" + (f" {r / n:.2f}" if n else "     ") for r, n in per)
        print(f"{f:<10} {right:>3}/{len(truth):<5} {cells}")
    print()
    print(f"fields flagged (< 0.6): {flagged[1]}, of them right {flagged[0]}")
    print(f"fields not flagged:     {rest[1]}, of them right {rest[0]}"
          f" ({rest[0] / max(rest[1], 1):.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
