//! Literals of the pickle opcodes: little-endian integers of any width, protocol-0 string
//! lines (quoted with Python escapes, or raw-unicode-escape).
use super::machine::Node;

pub(crate) fn le_int(bytes: &[u8]) -> Node {
    if bytes.len() > 8 {
        return Node::BigInt(bytes.to_vec());
    }
    let mut v: i64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        v |= (*b as i64) << (8 * i);
    }
    let n = bytes.len();
    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
        v -= 1i64 << (8 * n);
    }
    Node::Int(v)
}

/// The text of a protocol-0 string literal (`'abc'` or `"abc"`, Python escapes).
pub(crate) fn unquote(line: &str) -> String {
    let t = line.trim();
    let inner = if t.len() >= 2 && (t.starts_with('\'') || t.starts_with('"')) { &t[1..t.len() - 1] } else { t };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&h, 16).map(|b| b as char).unwrap_or('?'));
            }
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// Python's raw-unicode-escape (protocol 0 UNICODE): only `\uXXXX` / `\UXXXXXXXX` escape.
pub(crate) fn raw_unicode(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let n = match tail.chars().next() {
            Some('u') => 4,
            Some('U') => 8,
            _ => 0,
        };
        match (n > 0).then(|| tail.get(1..1 + n)).flatten().and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                rest = &tail[1 + n..];
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

