//! Bytes → text: encoding detection, binary/empty rejection, line-ending and
//! escaped-newline normalisation.

use encoding_rs::{Encoding, BIG5, GB18030, UTF_16BE, UTF_16LE, UTF_8};

/// Decoded text and the name of the encoding it came in.
pub struct Decoded {
    pub text: String,
    pub encoding: String,
}

/// Why bytes could not be read as a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeProblem {
    Empty,
    Binary(String),
}

impl std::fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeProblem::Empty => write!(f, "empty file (no text)"),
            DecodeProblem::Binary(why) => write!(f, "not a text file ({why})"),
        }
    }
}

pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeProblem> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DecodeProblem::Empty);
    }
    let (encoding, body) = sniff(bytes);
    let (text, had_errors) = decode_with(encoding, body);
    let name = encoding_name(encoding);
    check_textual(&text, had_errors)?;
    let text = normalise_newlines(&text);
    if text.trim().is_empty() {
        return Err(DecodeProblem::Empty);
    }
    Ok(Decoded {
        text,
        encoding: name,
    })
}

/// A report exported as a table (CSV or TSV): the long free-text cell is the
/// document, and the row's short cells with Chinese text (a title column, a
/// province) are title-block lines for the metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReport {
    pub head: Vec<String>,
    pub text: String,
}

/// Below this many characters a cell is a field (title, date, link), not the
/// report's text.
const FREE_TEXT_CHARS: usize = 200;

/// Reads a `.csv`/`.tsv` file's text as one report. `None` when the file is
/// no table with a free-text column (it is then read as plain text); an
/// error when several rows hold report text, since one file is one document.
pub fn table_report(file: &str, text: &str) -> Option<Result<TableReport, String>> {
    let lower = file.to_ascii_lowercase();
    let delimiter = if lower.ends_with(".csv") {
        b','
    } else if lower.ends_with(".tsv") {
        b'\t'
    } else {
        return None;
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
            // A file that is not valid CSV is read as plain text.
            Err(_) => return None,
        }
    }
    let long = |c: &String| c.chars().count() >= FREE_TEXT_CHARS;
    let with_text: Vec<&Vec<String>> = rows.iter().filter(|r| r.iter().any(long)).collect();
    match with_text.len() {
        0 => None,
        1 => {
            let row = with_text[0];
            let body = row
                .iter()
                .max_by_key(|c| c.chars().count())
                .expect("a row with a long cell");
            let head = row
                .iter()
                .filter(|c| !long(c))
                .map(|c| c.trim())
                .filter(|c| c.chars().count() <= 60 && c.chars().any(super::text::is_cjk))
                .map(str::to_string)
                .collect();
            Some(Ok(TableReport {
                head,
                text: body.clone(),
            }))
        }
        n => Some(Err(format!(
            "{n} table rows hold report text; one report per file is read (save each row as its own file)"
        ))),
    }
}

/// Picks the encoding: BOM first, then BOM-less UTF-16 (NUL bytes at every
/// other position), then strict UTF-8, then a statistical guess among the
/// legacy CJK encodings.
fn sniff(bytes: &[u8]) -> (&'static Encoding, &[u8]) {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return (enc, &bytes[bom_len..]);
    }
    if let Some(enc) = bomless_utf16(bytes) {
        return (enc, bytes);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return (UTF_8, bytes);
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(bytes, true);
    let guess = det.guess(None, chardetng::Utf8Detection::Deny);
    // GBK is a subset of GB18030; decode the superset so that nothing a GBK
    // file holds is lost and GB18030-only characters survive too.
    let guess = if guess == encoding_rs::GBK {
        GB18030
    } else {
        guess
    };
    // GB and Big5 share byte ranges, so a statistical guess can confuse
    // them; the decoding that yields more common Han characters wins.
    let mut best = (guess, plausibility(guess, bytes));
    // BOM-less UTF-16 of Chinese text has no NUL bytes to give it away.
    let utf16: &[&'static Encoding] = if bytes.len().is_multiple_of(2) {
        &[UTF_16LE, UTF_16BE]
    } else {
        &[]
    };
    for &enc in [UTF_8, GB18030, BIG5].iter().chain(utf16) {
        if enc != guess {
            let score = plausibility(enc, bytes);
            if score > best.1 {
                best = (enc, score);
            }
        }
    }
    (best.0, bytes)
}

/// Share of decoded characters (less four times the undecodable ones) that are ASCII, common punctuation or among
/// the 3,755 most common Han characters (once folded to simplified).
fn plausibility(enc: &'static Encoding, bytes: &[u8]) -> f64 {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let (text, _) = enc.decode_without_bom_handling(sample);
    let folded = crate::corpus::script::to_simplified(&text);
    let mut good = 0usize;
    let mut total = 0usize;
    let mut broken = 0usize;
    for c in folded.chars() {
        total += 1;
        if c == '\u{FFFD}' {
            broken += 1;
        } else if c.is_ascii()
            || matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFFEF | 0x2010..=0x2027)
        {
            good += 1;
        } else if crate::corpus::text::is_cjk(c) {
            let mut buf = [0u8; 4];
            let (bytes, _, unmappable) = encoding_rs::GBK.encode(c.encode_utf8(&mut buf));
            if !unmappable && bytes.len() == 2 && (0xB0..=0xD7).contains(&bytes[0]) {
                good += 1;
            }
        }
    }
    (good as f64 - 4.0 * broken as f64) / total.max(1) as f64
}

fn bomless_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    if bytes.len() < 8 {
        return None;
    }
    let pairs = bytes.len() / 2;
    let even_zero = bytes.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_zero = bytes.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    // Chinese UTF-16 has few NULs; ASCII-heavy UTF-16 has NULs on one side only.
    if odd_zero * 10 > pairs * 3 && even_zero * 20 < pairs {
        Some(UTF_16LE)
    } else if even_zero * 10 > pairs * 3 && odd_zero * 20 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> (String, bool) {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    (text.into_owned(), had_errors)
}

fn encoding_name(enc: &'static Encoding) -> String {
    if enc == UTF_16LE {
        "UTF-16LE".into()
    } else if enc == UTF_16BE {
        "UTF-16BE".into()
    } else if enc == BIG5 {
        "Big5".into()
    } else if enc == GB18030 {
        "GB18030".into()
    } else {
        enc.name().to_string()
    }
}

/// Rejects what is not text: NUL or other control bytes, or a decode that
/// produced many replacement characters.
fn check_textual(text: &str, had_errors: bool) -> Result<(), DecodeProblem> {
    let mut total = 0usize;
    let mut control = 0usize;
    let mut replacement = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\u{FFFD}' {
            replacement += 1;
        } else if c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{0C}') {
            control += 1;
        }
    }
    if total == 0 {
        return Err(DecodeProblem::Empty);
    }
    if control * 100 > total {
        return Err(DecodeProblem::Binary(format!(
            "{control} control characters in {total}"
        )));
    }
    if had_errors && replacement * 20 > total {
        return Err(DecodeProblem::Binary(format!(
            "{replacement} undecodable sequences in {total} characters"
        )));
    }
    Ok(())
}

/// CRLF and CR become LF. A file saved with its line breaks escaped (`\r\n`
/// or `\n` as literal text, typical of JSON or database dumps) gets them back
/// when it has (almost) no real line breaks.
fn normalise_newlines(text: &str) -> String {
    let mut t = text.replace("\r\n", "\n").replace('\r', "\n");
    let real = t.matches('\n').count();
    let escaped = t.matches("\\n").count();
    if escaped >= 3 && real * 10 < escaped {
        t = t
            .replace("\\r\\n", "\n")
            .replace("\\n", "\n")
            .replace("\\r", "\n");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_common_encodings() {
        let s = "南明区将深入实施“强省会”行动，推动经济实现质的有效提升和量的合理增长。".repeat(4);
        let (gb, _, _) = GB18030.encode(&s);
        let d = decode(&gb).unwrap();
        assert_eq!(d.text, s);
        assert_eq!(d.encoding, "GB18030");
        let t = "麒麟區將深入實施強省會行動，推動經濟實現質的有效提升和量的合理增長。".repeat(4);
        let (big5, _, _) = BIG5.encode(&t);
        let d = decode(&big5).unwrap();
        assert_eq!(d.text, t);
        assert_eq!(d.encoding, "Big5");
        let mut le = vec![0xFF, 0xFE];
        le.extend(s.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode(&le).unwrap().encoding, "UTF-16LE");
        assert_eq!(decode(&le).unwrap().text, s);
    }

    #[test]
    fn bomless_utf16_of_chinese() {
        let s = "南明区将深入实施“强省会”行动，推动经济实现质的有效提升和量的合理增长。".repeat(8);
        let be: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        let d = decode(&be).unwrap();
        assert_eq!(
            (d.encoding.as_str(), d.text.as_str()),
            ("UTF-16BE", s.as_str())
        );
    }

    #[test]
    fn rejects_empty_and_binary() {
        assert_eq!(decode(b"").err(), Some(DecodeProblem::Empty));
        assert_eq!(decode(b"  \n\t ").err(), Some(DecodeProblem::Empty));
        let bin: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 256) as u8).collect();
        assert!(matches!(decode(&bin), Err(DecodeProblem::Binary(_))));
    }

    #[test]
    fn restores_escaped_newlines() {
        let d = decode("第一段。\\r\\n第二段。\\r\\n第三段。\\r\\n第四段。".as_bytes()).unwrap();
        assert_eq!(d.text, "第一段。\n第二段。\n第三段。\n第四段。");
    }
}
