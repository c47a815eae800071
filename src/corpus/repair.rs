//! Repairs of converter damage: pinyin annotations and mojibake spans.
//!
//! Faulty simplified→traditional web converters annotate characters with
//! their reading (`報(bào)告`) and, where a byte sequence failed to convert,
//! leave a `?` followed by a run of mis-decoded characters (`麒麟?yún)^`,
//! `?！熬G美城市`) that can swallow punctuation. The annotations are removed;
//! the runs are unrecoverable and are cut out, and both are counted.

use std::sync::LazyLock;

use regex::Regex;

use super::script;
use super::text::is_cjk;

static PINYIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[(（]([a-zA-ZāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿêÊ]{1,7})[)）]").expect("valid regex")
});
static SYLLABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[bpmfdtnlgkhjqxrzcsyw]|zh|ch|sh)?(?:[aeiouvü]{1,3})(?:n|ng|r)?$")
        .expect("valid regex")
});

static LOST_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\?[^\s?(（]{0,8}?[(（](qū|xiàn|shì|qí|zhōu|shěng)[)）]").expect("valid regex")
});

/// Restores the administrative suffix of a place name lost to a conversion
/// failure: in `麒麟?yún)^(qū)` the reading `(qū)` survives the lost
/// character, and `麒麟` + 区 is a division, so the run becomes `区` (`區` in
/// traditional text). Returns the text and how many names were restored.
pub fn restore_division_suffixes(text: &str, traditional: bool) -> (String, u64) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut count = 0;
    for m in LOST_SUFFIX.captures_iter(text) {
        let whole = m.get(0).expect("group 0");
        let (simplified, trad) = match &m[1] {
            "qū" => ("区", "區"),
            "xiàn" => ("县", "縣"),
            "shì" => ("市", "市"),
            "qí" => ("旗", "旗"),
            "zhōu" => ("州", "州"),
            _ => ("省", "省"),
        };
        let before: Vec<char> = text[..whole.start()].chars().rev().take(6).collect();
        let names_division = (2..=before.len().min(6)).any(|k| {
            let stem: String = before[..k].iter().rev().collect();
            !super::metadata::TABLE
                .lookup(&(script::to_simplified(&stem) + simplified))
                .is_empty()
        });
        if names_division {
            out.push_str(&text[last..whole.start()]);
            out.push_str(if traditional { trad } else { simplified });
            last = whole.end();
            count += 1;
        }
    }
    out.push_str(&text[last..]);
    (out, count)
}

const TONED: &str = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ";

/// Removes `(pīnyīn)` annotations; returns the text and how many went.
pub fn remove_pinyin(text: &str) -> (String, u64) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut count = 0;
    for m in PINYIN.captures_iter(text) {
        let whole = m.get(0).expect("group 0");
        let inner = &m[1];
        let prev = text[..whole.start()].chars().next_back();
        let toned = inner.chars().any(|c| TONED.contains(c));
        // Toneless syllables (neutral tone) count only right after a Han
        // character, so that `(EOD)` or `(km)` stay.
        let plain = inner.chars().all(|c| c.is_ascii_lowercase() || c == 'ü')
            && SYLLABLE.is_match(inner)
            && prev.is_some_and(is_cjk);
        if toned || plain {
            out.push_str(&text[last..whole.start()]);
            last = whole.end();
            count += 1;
        }
    }
    out.push_str(&text[last..]);
    (out, count)
}

/// Cuts out mojibake runs that start at a stray `?` (or U+FFFD); returns the
/// text and the number of runs cut. `traditional` makes simplified-only
/// characters suspect, as a traditional text should not hold them next to a
/// conversion failure.
pub fn excise_mojibake(text: &str, traditional: bool) -> (String, u64) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut spans = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c == '?' && {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            !prev.is_ascii() || (!next.is_ascii() && next != '\n')
        }) || c == '\u{FFFD}';
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        let end = span_end(&chars, i, traditional);
        spans += 1;
        i = end + 1;
    }
    (out, spans)
}

/// Index of the last character of the run starting at `start`: the run goes
/// on while a suspect character appears within the next few characters.
fn span_end(chars: &[char], start: usize, traditional: bool) -> usize {
    const WINDOW: usize = 5;
    const MAX: usize = 60;
    let mut last = start;
    let mut j = start + 1;
    while j < chars.len() && j <= start + MAX {
        let window = &chars[j..(j + WINDOW).min(chars.len())];
        let found = window
            .iter()
            .take_while(|&&c| c != '\n')
            .enumerate()
            .find(|&(o, &c)| is_suspect(c, j + o == last + 1, traditional))
            .map(|(o, _)| j + o);
        match found {
            Some(k) => {
                last = k;
                j = k + 1;
            }
            None => break,
        }
    }
    last
}

fn is_suspect(c: char, after_suspect: bool, traditional: bool) -> bool {
    let u = c as u32;
    if c.is_ascii_alphabetic()
        || matches!(
            c,
            '?' | '^'
                | '@'
                | '~'
                | '`'
                | '|'
                | '\\'
                | '$'
                | '#'
                | '&'
                | '*'
                | '_'
                | ')'
                | '('
                | '\u{FFFD}'
        )
    {
        return true;
    }
    if matches!(u, 0x2030..=0x2BFF)
        && !matches!(
            c,
            '※' | '→'
                | '←'
                | '↑'
                | '↓'
                | '√'
                | '×'
                | '△'
                | '○'
                | '●'
                | '■'
                | '□'
                | '★'
                | '☆'
                | '◆'
                | '◇'
                | '▲'
                | '①'..='⑳'
        )
    {
        return true;
    }
    if matches!(u, 0x00C0..=0x02FF | 0x0370..=0x04FF | 0x2500..=0x259F | 0xE000..=0xF8FF | 0xAC00..=0xD7AF | 0x3040..=0x312F | 0xFF61..=0xFFDC)
    {
        return true;
    }
    if is_cjk(c) {
        return is_rare_han(c, traditional);
    }
    // Punctuation is swallowed into runs, but only right after a suspect.
    after_suspect && !c.is_ascii_digit() && !c.is_whitespace()
}

/// Outside the 3,755 most common characters (GB2312 level 1) once folded to
/// simplified, or a simplified-only form inside traditional text.
fn is_rare_han(c: char, traditional: bool) -> bool {
    let s = c.to_string();
    if traditional && script::to_traditional(&s) != s {
        return true;
    }
    let folded = script::to_simplified(&s);
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&folded);
    if unmappable || bytes.len() != 2 {
        return true;
    }
    !(0xB0..=0xD7).contains(&bytes[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_annotations_go_acronyms_stay() {
        let (t, n) = remove_pinyin("政府工作報(bào)告，生態(tài)環境(EOD)項目（xiàng）和(de)");
        assert_eq!(t, "政府工作報告，生態環境(EOD)項目和");
        assert_eq!(n, 4);
        let (t, n) = remove_pinyin("发展(2023年6月14日摄)");
        assert_eq!((t.as_str(), n), ("发展(2023年6月14日摄)", 0));
    }

    #[test]
    fn lost_division_suffix_is_restored() {
        let (t, n) = restore_division_suffixes("2023年曲靖市麒麟?yún)^(qū)政府工作報(bào)告", true);
        assert_eq!((t.as_str(), n), ("2023年曲靖市麒麟區政府工作報(bào)告", 1));
        // Not a place name before the run: left for the mojibake repair.
        let (t, n) = restore_division_suffixes("入運營?！皡^(qū)管校聘", true);
        assert_eq!((t.as_str(), n), ("入運營?！皡^(qū)管校聘", 0));
    }

    #[test]
    fn mojibake_runs_are_cut() {
        let (t, _) = remove_pinyin("曲靖市麒麟?yún)^(qū)人民政府");
        let (t, n) = excise_mojibake(&t, true);
        assert_eq!((t.as_str(), n), ("曲靖市麒麟人民政府", 1));
        let (t, n) = excise_mojibake("加快實施?！熬G美城市”建設成效顯著", true);
        assert_eq!((t.as_str(), n), ("加快實施美城市”建設成效顯著", 1));
        let (t, n) = excise_mojibake("深挖發展?jié)摿Γ鸵欢軌蛟诎l展中贏得主動", true);
        assert_eq!((t.as_str(), n), ("深挖發展展中贏得主動", 1));
        let (t, n) = excise_mojibake("What? No.", false);
        assert_eq!((t.as_str(), n), ("What? No.", 0));
    }
}
