//! Traditional ↔ simplified folding (OpenCC dictionaries via `ferrous-opencc`).
//!
//! Users search in either script, so every passage carries a simplified-folded
//! copy and queries are folded the same way. The converters are built once per
//! process: building one parses its dictionaries.

use std::sync::LazyLock;

use ferrous_opencc::config::BuiltinConfig;
use ferrous_opencc::OpenCC;

static T2S: LazyLock<Option<OpenCC>> =
    LazyLock::new(|| OpenCC::from_config(BuiltinConfig::T2s).ok());
static S2T: LazyLock<Option<OpenCC>> =
    LazyLock::new(|| OpenCC::from_config(BuiltinConfig::S2tw).ok());

/// Folds to simplified characters; text without Han characters is returned as is.
pub fn to_simplified(text: &str) -> String {
    match T2S.as_ref() {
        Some(cc) if text.chars().any(super::text::is_cjk) => cc.convert(text),
        _ => text.to_string(),
    }
}

/// Converts to traditional characters in Taiwan's standard forms (為, 群,
/// 眾: the forms Big5 holds); used to spot simplified-only characters and to
/// build test variants.
pub fn to_traditional(text: &str) -> String {
    match S2T.as_ref() {
        Some(cc) if text.chars().any(super::text::is_cjk) => cc.convert(text),
        _ => text.to_string(),
    }
}

/// "traditional" when a noticeable share of the Han characters change under
/// the simplified fold, else "simplified". A traditional report converted by a
/// faulty tool keeps some simplified forms, hence a low threshold; simplified
/// text changes almost nowhere.
pub fn detect_script(text: &str, folded: &str) -> &'static str {
    let mut cjk = 0usize;
    let mut changed = 0usize;
    for (a, b) in text.chars().zip(folded.chars()) {
        if super::text::is_cjk(a) {
            cjk += 1;
            if a != b {
                changed += 1;
            }
        }
    }
    if cjk > 0 && changed * 100 >= cjk * 4 {
        "traditional"
    } else {
        "simplified"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_traditional_and_keeps_simplified() {
        assert_eq!(to_simplified("政府工作報告"), "政府工作报告");
        assert_eq!(to_simplified("乾淨的頭髮"), "干净的头发");
        assert_eq!(to_simplified("干部和群众"), "干部和群众");
        assert_eq!(to_simplified("GDP growth"), "GDP growth");
        assert_eq!(
            detect_script("麒麟區人民政府", &to_simplified("麒麟區人民政府")),
            "traditional"
        );
        assert_eq!(
            detect_script("南明区人民政府", "南明区人民政府"),
            "simplified"
        );
    }
}
