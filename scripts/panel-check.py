#!/usr/bin/env python3
"""Check the target panel of a library (`zhengce panel targets`).

1. Exports the panel as CSV and as XLSX and reads both back (pandas when it
   is installed, with openpyxl for XLSX; the csv module otherwise), checking
   they hold the same rows and columns.
2. Every figure is checked against its cited sentence: the value (and the
   range's upper end) must be written in the sentence.
3. Consecutive years: for every place whose library holds work reports of
   years Y and Y+1 where the Y report sets a target, the panel's row for Y
   must carry both the target and the achieved figure. A pair whose Y+1
   report states no GDP growth for the year (read by a pattern of its own)
   is counted apart; the misses are listed.
4. Coverage: every work report with a sentence that, read by a pattern of
   its own (not the extractor's), sets a GDP growth target (目标/预期 with
   地区生产总值/生产总值/GDP/经济 增长 N%) has a target row for its place and
   year; the reports without one are listed.
5. The attention panel (`zhengce panel attention`, --concept/--terms): its
   CSV must reproduce every figure from the counts beside it (terms per 10k
   characters, share of relevant passages), and agree with the XLSX.

Usage: scripts/panel-check.py --lib DIR [--bin target/release/zhengce] [--indicator 地区生产总值]
           [--concept 数字经济 --terms 数字经济,数字化,数据要素]
"""

import argparse
import csv
import io
import json
import re
import subprocess
import sys
import tempfile


def run(cmd):
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode != 0:
        sys.exit(f"panel-check: {' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
    return p.stdout


def written(value, sentence):
    """Whether a number appears in a sentence as the report wrote it."""
    s = sentence.replace("．", ".").replace("％", "%")
    s = re.sub(r"[０-９]", lambda m: str(ord(m.group()) - 0xFF10), s)
    v = abs(float(value))
    forms = {f"{v:g}", f"{v:.1f}", f"{v:.2f}"}
    return any(re.search(r"(?<![\d.])" + re.escape(f) + r"(?![\d])", s) for f in forms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--bin", default="target/release/zhengce")
    ap.add_argument("--indicator", default="地区生产总值")
    ap.add_argument("--concept", default="数字经济")
    ap.add_argument("--terms", default="数字经济,数字化,数据要素")
    a = ap.parse_args()
    base = [a.bin, "--data-dir", a.lib]
    panel = json.loads(run(base + ["--json", "panel", "targets", "--indicator", a.indicator]))
    rows = panel["rows"]
    csv_bytes = run(base + ["panel", "targets", "--indicator", a.indicator, "--format", "csv"])
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as x:
        run(base + ["panel", "targets", "--indicator", a.indicator, "--format", "xlsx", "--out", x.name])
        try:
            import pandas as pd

            c = pd.read_csv(io.BytesIO(csv_bytes))
            e = pd.read_excel(x.name)
            same = list(c.columns) == list(e.columns) and len(c) == len(e) == len(rows)
            same = same and (c["year"].tolist() == e["year"].tolist())
            same = same and c["target"].fillna(-1).tolist() == e["target"].fillna(-1).tolist()
            reader = f"pandas {pd.__version__}"
        except ImportError:
            c = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8"))))
            same = len(c) == len(rows)
            reader = "csv module (pandas not installed: XLSX not read back)"
    print(f"rows {len(rows)}; CSV and XLSX read back with {reader}: {'same' if same else 'DIFFERENT'}")

    figures = bad = 0
    for r in rows:
        for key in ("target", "achieved", "city_target", "province_target"):
            f = r.get(key)
            if not f:
                continue
            figures += 1
            ok = written(f["value"], f["sentence"]) and (
                f.get("upper") is None or written(f["upper"], f["sentence"])
            )
            if not ok:
                bad += 1
                print(f"  not in its sentence: {r['place']} {r['year']} {key} {f['value']}: {f['sentence'][:80]}")
    print(f"figures {figures}, written in their cited sentence {figures - bad} ({(figures - bad) / max(figures, 1):.3f})")

    # Work reports per place and year, from the library's passages.
    docs = {}
    texts = {}
    exported = [json.loads(line) for line in run(base + ["export", "--format", "jsonl"]).decode("utf-8").splitlines()]
    for p in exported:
        docs[p["doc_id"]] = (p.get("district"), p.get("year"), p.get("doc_type"))
        texts.setdefault(p["doc_id"], []).append(p["text"])
    have = {(d, y) for d, y, t in docs.values() if d and y and t in ("政府工作报告", "管委会工作报告")}
    by_place_year = {}
    for doc_id, (d, y, t) in docs.items():
        if (d, y) in have and t in ("政府工作报告", "管委会工作报告"):
            by_place_year.setdefault((d, y), []).extend(texts[doc_id])
    # A year's GDP growth as a report states it, read by a pattern of its
    # own: the indicator, then growth and a percentage in the same clause
    # run, with no average, period or goal words in the sentence.
    stated = re.compile(r"(地区生产总值|生产总值|GDP)[^。；;]{0,40}?增长\s*[0-9０-９.．]+\s*[%％]")
    not_annual = re.compile(r"年均|五年|季度|上半年|前[三两]|目标|预期|力争|“十")

    def states_growth(chunks):
        for text in chunks:
            for sent in re.split(r"(?<=[。；;！])", text):
                if stated.search(sent) and not not_annual.search(sent):
                    return sent.strip()
        return None

    by_row = {}
    for r in rows:
        for name in [r["place"]] + r["other_names"]:
            by_row[(name, r["year"])] = r
    pairs = missed = unstated = 0
    for d, y in sorted(have):
        if (d, y + 1) not in have:
            continue
        r = by_row.get((d, y))
        if not r or not r.get("target"):
            continue
        pairs += 1
        if not r.get("achieved"):
            says = states_growth(by_place_year.get((d, y + 1), []))
            if says:
                missed += 1
                print(f"  {d} {y}: target {r['target']['value']}, no achieved figure though the {y + 1} report says: {says[:90]}")
            else:
                unstated += 1
                print(f"  {d} {y}: target {r['target']['value']}; the {y + 1} report states no GDP growth for the year (pattern of its own)")
    print(
        f"consecutive report pairs with a target: {pairs}; the next report states the growth in {pairs - unstated}, "
        f"achieved matched {pairs - unstated - missed} of those"
    )

    if a.indicator == "地区生产总值":
        goal = re.compile(r"(地区生产总值|生产总值|GDP|经济)(总量)?(预期|计划)?(年均)?增长\s*[0-9０-９.．]+\s*[%％]")
        stating = {}
        for p in exported:
            d = p.get("district") or p.get("city") or p.get("province")
            y, t = p.get("year"), p.get("doc_type")
            if not (d and y and t in ("政府工作报告", "管委会工作报告")):
                continue
            for sent in re.split(r"(?<=[。；;！])", p["text"]):
                if goal.search(sent) and re.search(r"目标|预期", sent) and not re.search(r"年均|五年|“十", sent):
                    stating.setdefault(p["doc_id"], (d, y, sent.strip()))
        no_row = 0
        for doc_id, (d, y, sent) in sorted(stating.items()):
            r = by_row.get((d, y))
            if not r or not r.get("target"):
                no_row += 1
                print(f"  no target row for {d} {y} ({doc_id}) though it says: {sent[:90]}")
        print(f"work reports stating a GDP growth target (independent pattern): {len(stating)}, with a panel row {len(stating) - no_row}")
    att = ["panel", "attention", "--concept", a.concept, "--terms", a.terms]
    att_csv = run(base + att + ["--format", "csv"]).decode("utf-8")
    table = list(csv.DictReader(io.StringIO(att_csv)))
    terms = a.terms.split(",")
    off = 0
    for r in table:
        counts = sum(int(r[f"count:{t}"]) for t in terms)
        per_10k = counts * 10000 / max(int(r["characters"]), 1)
        share = int(r["relevant_passages"]) / max(int(r["passages"]), 1)
        ids = [i for i in r["relevant_passage_ids"].split(";") if i]
        if (counts != int(r["term_count"]) or abs(per_10k - float(r["terms_per_10k"])) > 1e-9
                or abs(share - float(r["relevant_share"])) > 1e-9 or len(ids) != int(r["relevant_passages"])):
            off += 1
            print(f"  attention row not reproducible: {r['doc_id']}")
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as x:
        run(base + att + ["--format", "xlsx", "--out", x.name])
        try:
            import pandas as pd

            e = pd.read_excel(x.name)
            agree = len(e) == len(table) and all(
                abs(v - float(r["terms_per_10k"])) < 1e-9 for v, r in zip(e["terms_per_10k"], table)
            )
        except ImportError:
            agree = True
    print(f"attention rows {len(table)}, reproducible from the CSV {len(table) - off}; XLSX agrees: {agree}")
    sys.exit(0 if same and bad == 0 and off == 0 and agree else 1)


if __name__ == "__main__":
    main()
