#!/usr/bin/env python3
"""Fits and evaluates the hit relevance estimate (src/search/relevance.rs).

Usage:
    zhengce --data-dir LIB eval eval/relevance-judged.jsonl --relevance-features --out F.jsonl
    python3 scripts/fit-relevance.py eval/relevance-judged.jsonl F.jsonl [--min-grade 1] [--fit]

F.jsonl holds, per judged passage, the evidence search weighs and the
estimate the current build gives. Without --fit the script evaluates that
estimate; with --fit it fits a logistic regression on the train split
(standard library only: Newton's method with a small L2 penalty) and prints
the coefficients in the order of `COEFFICIENTS` in relevance.rs, then
evaluates the fitted model. Evaluation is on the held-out split (never used
for fitting) and, for reference, on train: ROC AUC, precision and recall of
the >= 0.5 cut, and calibration (predicted vs observed rate per band).
A passage counts as relevant when its grade is >= --min-grade (default 1).
"""
import argparse
import json
import math
import sys


def inputs(f):
    # Must match Features::inputs in src/search/relevance.rs.
    return [f["z"], f["lexical"], f["heading"], f["lexical_weight"],
            f["lexical"] * f["lexical_weight"], f["pairs"], f["sentence"], f["gap"],
            f["other_year"]]


def sigmoid(x):
    if x < -40:
        return 0.0
    if x > 40:
        return 1.0
    return 1.0 / (1.0 + math.exp(-x))


def solve(a, b):
    """Gaussian elimination with partial pivoting (small dense systems)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            continue
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-12 else 0.0 for i in range(n)]


def fit(xs, ys, l2=1.0, iters=50):
    """Logistic regression by Newton's method; the intercept is not penalised."""
    d = len(xs[0]) + 1
    w = [0.0] * d
    rows = [[1.0] + x for x in xs]
    for _ in range(iters):
        g = [0.0] * d
        h = [[0.0] * d for _ in range(d)]
        for x, y in zip(rows, ys):
            p = sigmoid(sum(wi * xi for wi, xi in zip(w, x)))
            for i in range(d):
                g[i] += (p - y) * x[i]
                for j in range(d):
                    h[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(1, d):
            g[i] += l2 * w[i]
            h[i][i] += l2
        step = solve(h, g)
        w = [wi - si for wi, si in zip(w, step)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return w


def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    # Mann-Whitney U with average ranks for ties.
    ranks = [0.0] * len(pairs)
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    r = sum(rk for rk, (_, y) in zip(ranks, pairs) if y)
    return (r - pos * (pos + 1) / 2) / (pos * neg)


def report(name, preds, labels):
    n = len(labels)
    pos = sum(labels)
    tp = sum(1 for p, y in zip(preds, labels) if p >= 0.5 and y)
    fp = sum(1 for p, y in zip(preds, labels) if p >= 0.5 and not y)
    fn = pos - tp
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / pos if pos else float("nan")
    below = [y for p, y in zip(preds, labels) if p < 0.5]
    print(f"{name}: {n} judged passages, {pos} relevant; ROC AUC {auc(preds, labels):.3f}; "
          f">=0.5: precision {prec:.3f} recall {rec:.3f} (tp {tp} fp {fp} fn {fn}); "
          f"relevant among <0.5: {sum(below)}/{len(below)}")
    bands = [(0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01)]
    print("  band        n   mean predicted   observed relevant")
    for lo, hi in bands:
        sel = [(p, y) for p, y in zip(preds, labels) if lo <= p < hi]
        if not sel:
            continue
        mp = sum(p for p, _ in sel) / len(sel)
        ob = sum(y for _, y in sel) / len(sel)
        print(f"  {lo:.1f}-{min(hi, 1.0):.1f} {len(sel):6d}   {mp:14.3f}   {ob:17.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("judged")
    ap.add_argument("features")
    ap.add_argument("--min-grade", type=int, default=1)
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--l2", type=float, default=1.0)
    a = ap.parse_args()
    split = {}
    for line in open(a.judged, encoding="utf-8"):
        if line.strip():
            q = json.loads(line)
            split[str(q["id"])] = q.get("split", "train")
    rows = {"train": [], "heldout": []}
    for line in open(a.features, encoding="utf-8"):
        if not line.strip():
            continue
        r = json.loads(line)
        s = split.get(str(r["id"]), "train")
        rows["heldout" if s == "heldout" else "train"].append(r)
    for s in rows:
        qs = {str(r["id"]) for r in rows[s]}
        print(f"{s}: {len(qs)} queries, {len(rows[s])} passages")
    label = lambda r: 1 if r["grade"] >= a.min_grade else 0
    if a.fit:
        xs = [inputs(r["features"]) for r in rows["train"]]
        ys = [label(r) for r in rows["train"]]
        w = fit(xs, ys, l2=a.l2)
        print("COEFFICIENTS: [" + ", ".join(f"{x:.4f}" for x in w) + "]")
        predict = lambda r: sigmoid(w[0] + sum(wi * xi for wi, xi in zip(w[1:], inputs(r["features"]))))
    else:
        predict = lambda r: r["relevance"]
    for s in ("train", "heldout"):
        if rows[s]:
            report(s, [predict(r) for r in rows[s]], [label(r) for r in rows[s]])


if __name__ == "__main__":
    sys.exit(main())
