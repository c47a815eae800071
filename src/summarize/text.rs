//! Sentence spans and content words: the units summaries are built from.

use crate::index::lexical::jieba;

/// Byte spans of the sentences of `text`: ends at 。！？!?； (and a closing
/// quote or bracket right after one stays with its sentence).
pub fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '。' | '！' | '？' | '!' | '?' | '；' | ';') {
            let mut end = i + c.len_utf8();
            while let Some(&(j, q)) = chars.peek() {
                if matches!(q, '”' | '’' | '」' | '』' | '）' | ')' | '"') {
                    end = j + q.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            if !text[start..end].trim().is_empty() {
                out.push((start, end));
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    out
}

/// Content words of simplified text: jieba words without punctuation, digits
/// alone, or one-character function words.
pub fn words(simplified: &str) -> Vec<String> {
    jieba()
        .cut(simplified, false)
        .into_iter()
        .map(|t| t.word)
        .filter(|w| {
            let n = w.chars().count();
            n >= 2 && w.chars().any(|c| c.is_alphabetic()) && !STOP.contains(w)
        })
        .map(str::to_string)
        .collect()
}

/// Words so frequent in government reports that they say nothing about a topic.
const STOP: &[&str] = &[
    "我们",
    "进一步",
    "持续",
    "全面",
    "加快",
    "推进",
    "推动",
    "深入",
    "坚持",
    "不断",
    "积极",
    "着力",
    "加强",
    "以及",
    "工作",
    "一批",
    "实现",
    "开展",
    "完成",
    "更加",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_keep_closing_quotes() {
        let t = "他说“好。”然后走了！最后";
        let spans: Vec<&str> = sentence_spans(t)
            .into_iter()
            .map(|(a, b)| &t[a..b])
            .collect();
        assert_eq!(spans, vec!["他说“好。”", "然后走了！", "最后"]);
    }

    #[test]
    fn words_drop_punctuation_and_stopwords() {
        let w = words("加快推进老年食堂建设，2024年。");
        assert!(w.contains(&"老年".to_string()) || w.contains(&"老年食堂".to_string()));
        assert!(!w.iter().any(|x| x == "加快" || x == "，" || x == "2024"));
    }
}
