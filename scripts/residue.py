#!/usr/bin/env python3
"""Counts cleaning residue in `zhengce inspect --json` output.

    zhengce inspect --json FILES... > out.jsonl
    scripts/residue.py out.jsonl [--show N] [--strict]

Per passage it flags, by rules written apart from the cleaner's (so this is a
check, not a restatement):
  chrome     a line made of portal field labels and values (时间/作者/来源/阅读/
             评论/内容摘要/责任编辑/发布…), share/print/close links, 相关报道/相关链接
  disclaimer 免责声明 / 版权所有 / 转载请注明 / 本网站
  watermark  links, e-mail, 微信公众号/关注/扫码 lines, a short non-prose string
             repeated in 3+ passages of one document
  pagenum    `— 2 —`, `- 3 -`, `第 3 页`, `3/12` standing alone or at a line end
  midword    a passage ending without sentence-final punctuation (mid-sentence)
and per source file it checks that every numbered list item (`1.`, `1、`,
`(1)`, `①`) of the source is in some passage's text, or heads a section
whose first passage continues it (`heading only`: kept only as a section
heading; `lost`: nowhere). Sources are read from the `file` field (UTF-8, else
GB18030; CSV exports: the longest cell of each row).
"""
import csv
import io
import json
import re
import sys
from collections import Counter, defaultdict

LABELS = ("时间", "日期", "作者", "来源", "阅读", "评论", "内容摘要", "摘要", "责任编辑",
          "编辑", "发布", "发布时间", "浏览", "点击", "字号", "打印", "关闭", "分享",
          "收藏", "阅读量", "浏览次数", "点击数", "信息来源", "文章来源", "稿源")
LABEL_LINE = re.compile(r"^(?:\s*(?:%s)\s*[:：]\s*\S{0,30}\s*){1,}$" % "|".join(LABELS))
LABEL_ANY = re.compile(r"(?:^|\s)(?:%s)\s*[:：]" % "|".join(LABELS))
CHROME = re.compile(r"(?:^|\n|>>)\s*(?:相关报道|相关链接|相关阅读|相关新闻|相关附件|上一篇|下一篇)|扫一扫在手机|返回顶部|打印本页|关闭窗口|分享到[:：]|【打印】|【关闭】|【字体|登录注册|返回手机版")
DISCLAIMER = re.compile(r"免责声明|版权所有|转载请注明|本网站|本站|版权归|如有侵权|联系删除")
WATERMARK = re.compile(r"https?://|www\.|\.com\b|\.cn\b|@\w+\.|微信公众号|关注我们|QQ群|微信号")
PAGENUM = re.compile(r"(?:^|\n)\s*(?:[—–\-－]{1,2}\s*\d{1,3}\s*[—–\-－]{1,2}|第\s*\d{1,3}\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d{1,3}\s*/\s*\d{1,3})\s*(?:\n|$)"
                     r"|[—–－]\s*\d{1,3}\s*[—–－]")
FINAL = set("。！？；…”’」』）)》：:.!?;】")
ITEM = re.compile(r"^\s*(?:(\d{1,2})[.．、](?!\d)|[(（](\d{1,2})[)）]|([①-⑳]))\s*(.+)$")
ATTACHMENT = re.compile(r"\.(?:docx?|pdf|xlsx?|wps|zip|rar|et)\s*$", re.I)
CJK = re.compile(r"[\u4e00-\u9fff]")


def read_source(path):
    raw = open(path, "rb").read()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("utf-8", "replace")
    if path.lower().endswith((".csv", ".tsv")):
        delim = "\t" if path.lower().endswith(".tsv") else ","
        rows = list(csv.reader(io.StringIO(text), delimiter=delim))
        cells = [max(r, key=len) for r in rows[1:] if r]
        text = "\n".join(cells)
    return text


def key(s):
    """The first 10 Han characters: what must survive of an item."""
    return "".join(CJK.findall(s))[:10]


def list_items(text):
    items = []
    for line in text.splitlines():
        m = ITEM.match(line)
        # A numbered attachment link (`1．附件1：名词解释.doc`) is page chrome.
        if not m or ATTACHMENT.search(line):
            continue
        k = key(m.group(4))
        if len(k) >= 4:
            items.append((line.strip()[:40], k))
    return items


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = 0
    if "--show" in sys.argv:
        show = int(sys.argv[sys.argv.index("--show") + 1])
        args = [a for a in args if a != str(show)]
    totals = Counter()
    examples = defaultdict(list)
    docs = 0
    for path in args:
        for line in open(path, encoding="utf-8"):
            d = json.loads(line)
            docs += 1
            ps = d["passages"]
            totals["passages"] += len(ps)
            shorts = Counter()
            for p in ps:
                for l in set(p["text"].split("\n")):
                    if 4 <= len(l) <= 30 and not re.search(r"[。！？；，]", l):
                        shorts[l] += 1
            for p in ps:
                t = p["text"]
                lines = t.split("\n")
                kinds = []
                if any(LABEL_LINE.match(l) or (len(l) < 80 and len(LABEL_ANY.findall(l)) >= 2) for l in lines) or CHROME.search(t):
                    kinds.append("chrome")
                if DISCLAIMER.search(t):
                    kinds.append("disclaimer")
                # A mark is a line of its own (or a link); prose may name a 公众号.
                if any(WATERMARK.search(l) and (len(l) < 40 or re.search(r"https?://|www\.", l)) for l in lines) \
                        or any(shorts[l] >= 3 for l in lines):
                    kinds.append("watermark")
                if PAGENUM.search(t):
                    kinds.append("pagenum")
                if t.rstrip()[-1:] not in FINAL:
                    kinds.append("midsentence")
                for k in kinds:
                    totals[k] += 1
                    examples[k].append((d["file"], p["id"], t[-120:] if k == "midsentence" else t[:160]))
            try:
                src = read_source(d["file"])
            except OSError:
                continue
            cjk = lambda s: "".join(CJK.findall(s))
            body = cjk("".join((p.get("term") or "") + p["text"] for p in ps))
            # A numbered heading with its first paragraph: `1.经济增长。全年…`
            opened = cjk("".join((p["section_path"][-1] if p["section_path"] else "") + p["text"] for p in ps))
            heads = cjk("".join("".join(p["section_path"]) for p in ps))
            for shown, k in list_items(src):
                totals["items"] += 1
                if k in body or k in opened:
                    continue
                kind = "items_heading_only" if k in heads else "items_lost"
                totals[kind] += 1
                examples[kind].append((d["file"], "", shown))
    residue = sum(totals[k] for k in ("chrome", "disclaimer", "watermark", "pagenum"))
    print(f"documents {docs}  passages {totals['passages']}")
    for k in ("chrome", "disclaimer", "watermark", "pagenum", "midsentence"):
        print(f"  {k:12} {totals[k]:6}  ({100 * totals[k] / max(1, totals['passages']):.2f}% of passages)")
    print(f"  residue      {residue:6}")
    print(f"  list items {totals['items']}: lost {totals['items_lost']}, heading only {totals['items_heading_only']}")
    if show:
        for k, ex in examples.items():
            print(f"\n== {k}")
            for f, i, t in ex[:show]:
                print(f"  {f} {i}: {t!r}")
    if "--strict" in sys.argv and (residue or totals["items_lost"] or totals["items_heading_only"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
