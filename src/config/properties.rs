//! Java `Properties` syntax, as `zoo.cfg` is read: natural lines with
//! backslash continuation, `#`/`!` comments, `key=value`, `key: value` and
//! `key value`, and Java's escapes (`\uXXXX` included). Text in, raw entries
//! out; no meaning is given to any key here.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct RawEntry {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

pub(super) fn is_prop_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits into natural lines (`\n`, `\r\n` or `\r`) with 1-based numbers.
pub(super) fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut line) = (0, 0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => {
                out.push((line, &text[start..i]));
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                start = i;
                line += 1;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push((line, &text[start..]));
    }
    out
}

pub(super) fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// `java.util.Properties.load` followed by `QuorumPeerConfig`'s trimming of
/// keys and values. Entries come back in file order, duplicates included.
pub(super) fn parse_java_properties(text: &str, file: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, raw) = lines[i];
        i += 1;
        let first = raw.trim_start_matches(is_prop_ws);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            let Some(&(_, next)) = lines.get(i) else {
                break;
            };
            i += 1;
            logical.push_str(next.trim_start_matches(is_prop_ws));
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let at = || Location::Line {
            file: file.to_string(),
            line: line_no,
        };
        let key = unescape(raw_key).map_err(|p| ConfigError::invalid(at(), raw_key, p))?;
        let key = java_trim(&key).to_string();
        let value = unescape(raw_value).map_err(|p| ConfigError::invalid(at(), &key, p))?;
        out.push(RawEntry {
            value: java_trim(&value).to_string(),
            key,
            line: line_no,
        });
    }
    Ok(out)
}

/// The key ends at the first unescaped `=`, `:` or whitespace; then
/// whitespace, at most one `=`/`:`, and whitespace are skipped.
pub(super) fn split_key_value(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut escaped = false;
    for (idx, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            key_end = idx;
            value_start = idx + 1;
            has_sep = true;
            break;
        }
        if !escaped && is_prop_ws(c) {
            key_end = idx;
            value_start = idx + c.len_utf8();
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut rest = &line[value_start..];
    loop {
        rest = rest.trim_start_matches(is_prop_ws);
        match rest.chars().next() {
            Some(c @ ('=' | ':')) if !has_sep => {
                has_sep = true;
                rest = &rest[c.len_utf8()..];
            }
            _ => break,
        }
    }
    (&line[..key_end], rest)
}

/// Java properties escapes: `\t \n \r \f`, `\uXXXX` (UTF-16, surrogate pairs
/// combined), and `\x` → `x` for anything else.
pub(super) fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_surrogate(&mut out, &mut pending_high);
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('u') => {
                let mut unit: u16 = 0;
                for _ in 0..4 {
                    let d = chars
                        .next()
                        .and_then(|h| h.to_digit(16))
                        .ok_or_else(|| "malformed \\uXXXX escape".to_string())?;
                    unit = unit * 16 + d as u16;
                }
                match (pending_high.take(), unit) {
                    (Some(hi), 0xDC00..=0xDFFF) => {
                        let cp =
                            0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                        out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    (prev, _) => {
                        if prev.is_some() {
                            out.push(char::REPLACEMENT_CHARACTER);
                        }
                        if (0xD800..=0xDBFF).contains(&unit) {
                            pending_high = Some(unit);
                        } else {
                            out.push(
                                char::from_u32(u32::from(unit))
                                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                            );
                        }
                    }
                }
            }
            Some(e) => {
                flush_surrogate(&mut out, &mut pending_high);
                out.push(match e {
                    't' => '\t',
                    'n' => '\n',
                    'r' => '\r',
                    'f' => '\x0c',
                    other => other,
                });
            }
        }
    }
    flush_surrogate(&mut out, &mut pending_high);
    Ok(out)
}

pub(super) fn flush_surrogate(out: &mut String, pending: &mut Option<u16>) {
    if pending.take().is_some() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
}

/// `String.trim()`: strips every char ≤ U+0020 from both ends.
pub(super) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}
