//! Character classes and small text measures shared by the stages.

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2FA1F | 0xF900..=0xFAFF)
}

/// Ends a sentence: `。！？；`, their ASCII forms and the ellipsis.
pub fn is_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '…')
}

/// Closes a quotation or bracket; kept with the sentence it ends.
pub fn is_closing(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '」' | '』' | '）' | ')' | '】' | '》' | '〉' | '"' | '\''
    )
}

/// Chinese or ASCII punctuation of any kind.
pub fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 | 0x2010..=0x206F)
}

/// Shape of one line: what it is made of.
#[derive(Debug, Default, Clone, Copy)]
pub struct Shape {
    pub chars: usize,
    pub cjk: usize,
    pub digits: usize,
    pub latin: usize,
    pub sentence_punct: usize,
}

impl Shape {
    pub fn of(line: &str) -> Shape {
        let mut s = Shape::default();
        for c in line.chars() {
            if c.is_whitespace() {
                continue;
            }
            s.chars += 1;
            if is_cjk(c) {
                s.cjk += 1;
            } else if c.is_ascii_digit() {
                s.digits += 1;
            } else if c.is_alphabetic() {
                s.latin += 1;
            }
            if matches!(c, '。' | '！' | '？' | '；' | '，' | '!' | '?' | ';')
                || (c == ',' && s.cjk > 0)
            {
                s.sentence_punct += 1;
            }
        }
        s
    }

    /// Running prose: enough Han characters and sentence punctuation.
    pub fn is_prose(&self) -> bool {
        self.cjk >= 12 && self.sentence_punct >= 1 && self.cjk * 2 >= self.chars
    }
}

/// Counts characters (not bytes).
/// Whether a line (in simplified script) names a kind of document: a
/// report, plan, communiqué, outlook… (`…政府工作报告`, `…统计公报`).
pub fn names_document_kind(simplified: &str) -> bool {
    const KINDS: [&str; 12] = [
        "报告", "计划", "规划", "纲要", "展望", "回顾", "公报", "通知", "意见", "决定", "方案",
        "总结",
    ];
    KINDS.iter().any(|k| simplified.contains(k))
}

pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Removes sentence-final punctuation and colons from the end of a heading.
pub fn trim_heading_end(s: &str) -> String {
    s.trim()
        .trim_end_matches(['。', '；', ';', '：', ':', '，', ','])
        .trim()
        .to_string()
}
