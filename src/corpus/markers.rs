//! Numbering that opens a line (`一、`, `（一）`, `1.`, `(1)`, `①`, `A `,
//! `第一章`, `■`). Both cleaning (is a numbered line body text or furniture?)
//! and structure (is it a heading, and at which depth?) read it, so it sits
//! below both.

use std::sync::LazyLock;

use regex::Regex;

use super::text::is_cjk;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Chapter,
    Cn1,
    Cn2,
    Num,
    NumParen,
    Circled,
    Letter,
    Column,
}

static MARKERS: LazyLock<Vec<(Marker, Regex)>> = LazyLock::new(|| {
    let m = |s: &str| Regex::new(s).expect("valid regex");
    vec![
        (
            Marker::Chapter,
            m(r"^第[一二三四五六七八九十百零〇]{1,4}(?:章|部分|篇|节|節)"),
        ),
        (Marker::Cn1, m(r"^[一二三四五六七八九十]{1,3}[、.．]")),
        (Marker::Cn2, m(r"^[(（][一二三四五六七八九十]{1,3}[)）]")),
        (Marker::Num, m(r"^\d{1,2}[.．、]")),
        (Marker::NumParen, m(r"^[(（]\d{1,2}[)）]")),
        (Marker::Circled, m(r"^[①-⑳]")),
        (Marker::Letter, m(r"^[A-H](?:[ 、.．]+)")),
        (Marker::Column, m(r"^[■□●◆◇▲▶★☆]")),
    ]
});

/// The numbering a line starts with, and the marker's length in bytes.
pub fn heading_marker(line: &str) -> Option<(Marker, usize)> {
    for (marker, re) in MARKERS.iter() {
        if let Some(m) = re.find(line) {
            let next = line[m.end()..].chars().next();
            let ok = match marker {
                // `1.5亿元` is a number, not an item.
                Marker::Num => next.is_some_and(|c| !c.is_ascii_digit()),
                Marker::Letter => next.is_some_and(is_cjk),
                _ => next.is_some(),
            };
            if ok {
                return Some((*marker, m.end()));
            }
        }
    }
    None
}
