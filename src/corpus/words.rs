//! Word segmentation, shared by the corpus stage (is a place name a word
//! here, or part of a longer one?) and the lexical index.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// The process-wide segmenter: its dictionary takes a few hundred ms and
/// tens of MB to load, so every stage uses this one.
pub fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}
