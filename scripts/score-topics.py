#!/usr/bin/env python3
"""Score topic summaries against the judged topic set (eval/topics.jsonl).

For every topic it runs `zhengce --data-dir D summarize "topic" --json` with the topic's filters on
the library the topic was judged on, and measures, per split (train / heldout / all):

- district precision and recall: a district counts as *covered* when the summary gives it at least
  one sentence; it is right when the judged `mentioned` map names it (its report speaks about the
  topic). Micro-averaged over topics.
- on-topic share: of all summary sentences, those that contain one of the topic's keywords or an
  anchor of the sentence's district. Matching is done on the simplified text: the library's own
  export gives each passage in its original script and simplified, so a sentence is mapped through
  its passage (and, failing that, character by character) before matching.
- empty rate: of the topics no in-scope report speaks about, the share whose summary gives no
  district any sentence.

Every summary sentence is written with its verdict to a TSV (--tsv) so a person can audit the
keyword verdicts: fill the `audit` column with 1 (on topic) or 0 (off topic) and pass the file back
with --audit to get the agreement.

The summarize JSON is read through `districts[].district` and `districts[].sentences[].text` only;
other fields are ignored, so the output may grow.

Usage:
  scripts/score-topics.py eval/topics.jsonl --lib bundled=DIR --lib wide=DIR [--bin zhengce]
      [--split heldout] [--tsv out.tsv] [--per-topic] [--json]
  scripts/score-topics.py --audit out.tsv
"""

import argparse
import collections
import json
import os
import subprocess
import sys

SPLITS = ("train", "heldout")


def die(msg):
    print(f"score-topics: {msg}", file=sys.stderr)
    sys.exit(2)


def load_topics(path):
    topics = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        die(f"cannot read {path}: {e}")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            t = json.loads(line)
        except json.JSONDecodeError as e:
            die(f"{path}:{n}: not JSON: {e}")
        for key in ("id", "topic", "library", "in_scope", "mentioned", "keywords", "split"):
            if key not in t:
                die(f"{path}:{n}: missing field {key!r}")
        if t["split"] not in SPLITS:
            die(f"{path}:{n}: split must be one of {SPLITS}, not {t['split']!r}")
        stray = set(t["mentioned"]) - set(t["in_scope"])
        if stray:
            die(f"{path}:{n}: mentioned units not in in_scope: {sorted(stray)}")
        topics.append(t)
    if not topics:
        die(f"{path}: no topics")
    return topics


def filter_args(filters):
    """The CLI's filter flags for a topic's `filters` object."""
    args = []
    for key in ("district", "city", "province", "doc_type"):
        if filters.get(key):
            args += ["--" + key.replace("_", "-"), str(filters[key])]
    if "year" in filters:
        args += ["--year", str(filters["year"])]
    elif "year_from" in filters or "year_to" in filters:
        lo = filters.get("year_from", "")
        hi = filters.get("year_to", "")
        args += ["--year", str(lo) if lo == hi else f"{lo}-{hi}"]
    known = {"district", "city", "province", "doc_type", "year", "year_from", "year_to"}
    unknown = set(filters) - known
    if unknown:
        die(f"unknown filter keys {sorted(unknown)}")
    return args


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        die(f"cannot run {cmd[0]}: {e}")
    return p


class Simplifier:
    """Maps summary sentences to simplified script using the library's own export.

    A sentence is looked up in its passage's original text; where the passage's simplified text
    has the same length the same slice is taken (exact). Otherwise a character map learnt from the
    export's aligned passages is applied, which handles the one-to-one conversions that make up
    almost all traditional/simplified differences.
    """

    def __init__(self, binary, data_dir):
        p = run([binary, "--data-dir", data_dir, "export"])
        if p.returncode != 0:
            die(f"export failed on {data_dir}: {p.stderr.strip()[:500]}")
        self.passages = {}
        self.charmap = {}
        self.meta = []
        for line in p.stdout.splitlines():
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            text, simp = d.get("text", ""), d.get("text_simplified") or d.get("text", "")
            self.passages[d["passage_id"]] = (text, simp)
            self.meta.append(d)
            if len(text) == len(simp):
                for a, b in zip(text, simp):
                    if a != b:
                        self.charmap[a] = b

    def units(self, filters):
        """Reporting units the library holds under a topic's filters, as summaries name them."""
        lo = filters.get("year", filters.get("year_from"))
        hi = filters.get("year", filters.get("year_to"))
        out = set()
        for d in self.meta:
            if any(filters.get(k) and d.get(k) != filters[k] for k in ("district", "city", "province", "doc_type")):
                continue
            year = d.get("year")
            if (lo is not None and (year is None or year < lo)) or (hi is not None and (year is None or year > hi)):
                continue
            out.add(d.get("district") or d.get("province") or "")
        return out

    def chars(self, s):
        return "".join(self.charmap.get(c, c) for c in s)

    def sentence(self, text, passage_id):
        pair = self.passages.get(passage_id)
        if pair and len(pair[0]) == len(pair[1]):
            i = pair[0].find(text)
            if i >= 0:
                return pair[1][i : i + len(text)]
        return self.chars(text)


def verdict(sentence, simp, topic, district, simplifier):
    """(on_topic, reason) for one summary sentence."""
    low = simp.lower()
    for kw in topic["keywords"]:
        k = simplifier.chars(kw).lower()
        if k and k in low:
            return True, "kw:" + kw
    for anchor in topic["mentioned"].get(district, []):
        a = simplifier.chars(anchor)
        if a in simp or (len(simp) >= 8 and simp in a):
            return True, "anchor"
    return False, "-"


def summarize(binary, data_dir, topic, extra):
    cmd = [binary, "--data-dir", data_dir, "summarize", topic["topic"], "--json"]
    cmd += filter_args(topic.get("filters") or {}) + extra
    p = run(cmd)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[-1:] or ["exit %d" % p.returncode]
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        return None, [f"output is not JSON: {e}"]
    return out, None


def district_sentences(out):
    """[(district, [sentence dicts])] for districts with at least one sentence."""
    res = []
    for d in out.get("districts") or []:
        sents = [s for s in d.get("sentences") or [] if (s.get("text") or "").strip()]
        if sents:
            res.append((d.get("district") or "", sents))
    return res


def common_groups(out):
    """[(districts, [sentence dicts])] of the summary's `in_common` groups, if it has any."""
    res = []
    for g in out.get("in_common") or []:
        sents = [s for s in g.get("sentences") or [] if (s.get("text") or "").strip()]
        res.append((list(g.get("districts") or []), sents))
    return res


def new_tally():
    return collections.Counter()


def fmt(num, den):
    return f"{num / den:.2f}" if den else "n/a"


def report(tallies, as_json):
    rows = {}
    for name, t in tallies.items():
        rows[name] = {
            "topics": t["topics"],
            "district_precision": t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else None,
            "district_recall": t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else None,
            "on_topic_share": t["on"] / t["sents"] if t["sents"] else None,
            "sentences": t["sents"],
            "unmentioned_topics": t["none_topics"],
            "unmentioned_empty_rate": t["none_empty"] / t["none_topics"] if t["none_topics"] else None,
            "exact_district_sets": t["exact"] / t["topics"] if t["topics"] else None,
            "in_common_groups": t["c_groups"],
            "in_common_groups_all_judged": t["c_right"] / t["c_groups"] if t["c_groups"] else None,
            "in_common_on_topic_share": t["c_on"] / t["c_sents"] if t["c_sents"] else None,
            "errors": t["errors"],
        }
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    print(
        f"{'split':<16}{'topics':>7}{'dist_P':>8}{'dist_R':>8}{'on_topic':>9}"
        f"{'sents':>7}{'unmentioned_empty':>19}{'exact_set':>10}{'errors':>7}"
    )
    for name, t in tallies.items():
        empty = f"{t['none_empty']}/{t['none_topics']} ({fmt(t['none_empty'], t['none_topics'])})"
        print(
            f"{name:<16}{t['topics']:>7}{fmt(t['tp'], t['tp'] + t['fp']):>8}"
            f"{fmt(t['tp'], t['tp'] + t['fn']):>8}{fmt(t['on'], t['sents']):>9}{t['sents']:>7}"
            f"{empty:>19}{fmt(t['exact'], t['topics']):>10}{t['errors']:>7}"
        )
    print(f"{'in_common':<16}{'groups':>7}{'all_judged':>11}{'on_topic':>9}{'sents':>7}")
    for name, t in tallies.items():
        print(
            f"{name:<16}{t['c_groups']:>7}{fmt(t['c_right'], t['c_groups']):>11}"
            f"{fmt(t['c_on'], t['c_sents']):>9}{t['c_sents']:>7}"
        )


def write_row(tsv, t, lib, district, judged, text, ok, why):
    clean = " ".join(text.split())
    tsv.write(
        f"{t['id']}\t{t['split']}\t{lib}\t{t['topic']}\t{district}\t{int(judged)}\t{clean}\t"
        f"{'on' if ok else 'off'}\t{why}\t\n"
    )


def audit(path):
    agree = total = 0
    confusion = collections.Counter()
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        try:
            iv, ia = header.index("verdict"), header.index("audit")
        except ValueError:
            die(f"{path}: needs 'verdict' and 'audit' columns")
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) <= ia or cols[ia].strip() not in ("0", "1"):
                continue
            v = cols[iv] == "on"
            a = cols[ia].strip() == "1"
            total += 1
            agree += v == a
            confusion[(v, a)] += 1
    if not total:
        die(f"{path}: no audited rows (fill the audit column with 1 or 0)")
    print(f"audited {total}: agreement {agree / total:.2f} ({agree}/{total})")
    print(
        f"  keyword on / person on {confusion[(True, True)]}, keyword on / person off "
        f"{confusion[(True, False)]}, keyword off / person on {confusion[(False, True)]}, "
        f"keyword off / person off {confusion[(False, False)]}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("topics", nargs="?", help="eval/topics.jsonl")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=DIR",
                    help="data directory of a library named in the topics (bundled, wide)")
    ap.add_argument("--bin", default=os.environ.get("ZHENGCE_BIN", "zhengce"), help="zhengce binary")
    ap.add_argument("--split", choices=SPLITS, help="score one split only")
    ap.add_argument("--tsv", help="write every summary sentence with its verdict here")
    ap.add_argument("--per-topic", action="store_true", help="print one line per topic")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ap.add_argument("--audit", metavar="TSV", help="agreement of an audited TSV, then exit")
    ap.add_argument("--extra", default="", help="extra summarize arguments, space separated")
    args = ap.parse_args()

    if args.audit:
        audit(args.audit)
        return
    if not args.topics:
        die("give the topics file (or --audit TSV)")
    libs = {}
    for spec in args.lib:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            die(f"--lib wants NAME=DIR, not {spec!r}")
        if not os.path.isdir(path):
            die(f"--lib {name}: {path} is not a directory")
        libs[name] = path
    topics = load_topics(args.topics)
    if args.split:
        topics = [t for t in topics if t["split"] == args.split]
    missing = sorted({t["library"] for t in topics} - set(libs))
    if missing:
        die(f"no --lib given for {missing}")
    extra = args.extra.split()

    simplifiers = {}
    scope_checked = set()
    tallies = collections.OrderedDict((k, new_tally()) for k in ("train", "heldout", "all"))
    tsv = open(args.tsv, "w", encoding="utf-8") if args.tsv else None
    if tsv:
        tsv.write("id\tsplit\tlibrary\ttopic\tdistrict\tjudged_mentioned\tsentence\tverdict\treason\taudit\n")

    for t in topics:
        lib = t["library"]
        if lib not in simplifiers:
            simplifiers[lib] = Simplifier(args.bin, libs[lib])
        simp = simplifiers[lib]
        key = (lib, json.dumps(t.get("filters") or {}, sort_keys=True))
        if key not in scope_checked:
            scope_checked.add(key)
            held = simp.units(t.get("filters") or {})
            if held != set(t["in_scope"]):
                print(
                    f"score-topics: warning: {lib} {key[1]} holds units {sorted(held)}, the topic set "
                    f"was judged on {sorted(t['in_scope'])}; the library's metadata differ from the "
                    "judged library, district figures for these topics are not comparable",
                    file=sys.stderr,
                )
        out, err = summarize(args.bin, libs[lib], t, extra)
        mentioned = set(t["mentioned"])
        covered = set()
        on = n = 0
        c_groups = c_right = c_on = c_n = 0
        if err:
            print(f"{t['id']}: summarize failed: {' '.join(err)}", file=sys.stderr)
        else:
            for district, sents in district_sentences(out):
                covered.add(district)
                for s in sents:
                    text = s["text"]
                    ok, why = verdict(text, simp.sentence(text, s.get("passage_id")), t, district, simp)
                    on += ok
                    n += 1
                    if tsv:
                        write_row(tsv, t, lib, district, district in mentioned, text, ok, why)
            for names, sents in common_groups(out):
                c_groups += 1
                c_right += bool(names) and all(x in mentioned for x in names)
                for s in sents:
                    text = s["text"]
                    district = s.get("district") or ""
                    ok, why = verdict(text, simp.sentence(text, s.get("passage_id")), t, district, simp)
                    c_on += ok
                    c_n += 1
                    if tsv:
                        write_row(tsv, t, lib, "in_common:" + district, district in mentioned, text, ok, why)
        tp, fp, fn = len(covered & mentioned), len(covered - mentioned), len(mentioned - covered)
        for name in (t["split"], "all"):
            tl = tallies[name]
            tl["topics"] += 1
            tl["tp"] += tp
            tl["fp"] += fp
            tl["fn"] += fn
            tl["on"] += on
            tl["sents"] += n
            tl["exact"] += covered == mentioned
            tl["c_groups"] += c_groups
            tl["c_right"] += c_right
            tl["c_on"] += c_on
            tl["c_sents"] += c_n
            tl["errors"] += err is not None
            if not mentioned:
                tl["none_topics"] += 1
                tl["none_empty"] += not covered
        if args.per_topic:
            print(
                f"{t['id']} [{t['split']}/{lib}] {t['topic']}: judged {len(mentioned)}/"
                f"{len(t['in_scope'])}, covered {len(covered)} (tp {tp} fp {fp} fn {fn}), "
                f"on-topic {on}/{n}, in_common groups {c_right}/{c_groups} all judged, "
                f"on-topic {c_on}/{c_n}" + (" ERROR" if err else "")
            )
    if tsv:
        tsv.close()
    if args.split:
        tallies = collections.OrderedDict((k, v) for k, v in tallies.items() if v["topics"])
    report(tallies, args.json)


if __name__ == "__main__":
    main()
