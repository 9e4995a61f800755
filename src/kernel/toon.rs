//! Query results rendered as TOON (Token-Oriented Object Notation, spec version 4).
//!
//! A result is one object field named after its source holding a tabular array:
//!
//! ```text
//! users[2]{id,name}:
//!   1,Alice
//!   2,"Bob, Jr."
//! ```
//!
//! Quoting follows the spec's rules for the comma delimiter; numbers are canonical
//! decimals without exponent; NaN and infinities are `null`; binary cells are standard
//! base64 (with padding) rendered as strings. An empty result is `name: []`. There is no
//! trailing newline. See `docs/query.md`.

use base64::Engine as _;

use crate::backend::{QueryResult, Value};

/// The delimiter SochDB uses between cells.
pub const DELIMITER: char = ',';

impl QueryResult {
    /// The result as a TOON document (no trailing newline).
    pub fn to_toon(&self) -> String {
        let mut out = String::new();
        push_key(&mut out, &self.name);
        if self.rows.is_empty() {
            out.push_str(": []");
            return out;
        }
        out.push('[');
        out.push_str(&self.rows.len().to_string());
        out.push(']');
        if self.columns.is_empty() {
            // Rows without fields are empty objects: one bare hyphen each.
            out.push(':');
            for _ in &self.rows {
                out.push_str("\n  -");
            }
            return out;
        }
        out.push('{');
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(DELIMITER);
            }
            push_key(&mut out, c);
        }
        out.push_str("}:");
        for row in &self.rows {
            out.push_str("\n  ");
            for i in 0..self.columns.len() {
                if i > 0 {
                    out.push(DELIMITER);
                }
                push_value(&mut out, row.get(i).unwrap_or(&Value::Null));
            }
        }
        out
    }
}

/// Appends a key (the result name or a field name): bare when it matches
/// `^[A-Za-z_][A-Za-z0-9_.]*$`, quoted and escaped otherwise.
pub fn push_key(out: &mut String, key: &str) {
    let mut chars = key.chars();
    let bare = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if bare {
        out.push_str(key);
    } else {
        push_quoted(out, key);
    }
}

/// Appends a cell value.
pub fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int64(i) => out.push_str(&i.to_string()),
        Value::UInt64(u) => out.push_str(&u.to_string()),
        Value::Float64(f) => match format_f64(*f) {
            Some(s) => out.push_str(&s),
            None => out.push_str("null"),
        },
        Value::Text(s) => push_string(out, s),
        Value::Binary(b) => push_string(out, &base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// A float in canonical decimal form: the shortest digits that read back to the same
/// value, never an exponent, no trailing zeros, `-0` as `0`; `None` for NaN and
/// infinities (rendered as `null`).
pub fn format_f64(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some("0".into());
    }
    // Rust's `Display` for f64 prints the shortest round-trip digits in plain decimal.
    Some(format!("{f}"))
}

/// Appends a string cell, quoted when the spec requires it.
pub fn push_string(out: &mut String, s: &str) {
    if needs_quotes(s) {
        push_quoted(out, s);
    } else {
        out.push_str(s);
    }
}

/// True when a string value must be quoted to read back as the same string.
pub fn needs_quotes(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().next_back()) else {
        return true; // empty
    };
    if is_space(first) || is_space(last) {
        return true;
    }
    if matches!(s, "true" | "false" | "null") || first == '-' || first == '#' {
        return true;
    }
    if looks_numeric(s) {
        return true;
    }
    s.chars().any(|c| {
        matches!(c, ':' | '"' | '\\' | '[' | ']' | '{' | '}' | DELIMITER) || c.is_control()
    })
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// True for text a decoder could read as a number: an optional sign, digits with an
/// optional fraction (or a fraction alone), and an optional exponent. This covers the
/// spec's numeric-like forms (`42`, `-3.14`, `1e-6`, `05`, `+1`) and the lenient forms
/// host parsers accept (`1.`, `.5`).
pub fn looks_numeric(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Appends `s` in double quotes with the spec's escapes: `\\ \" \n \r \t`, and `\u00XX`
/// for other control characters.
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(v: Value) -> String {
        let mut s = String::new();
        push_value(&mut s, &v);
        s
    }

    #[test]
    fn numbers() {
        assert_eq!(cell(Value::Float64(95.5)), "95.5");
        assert_eq!(cell(Value::Float64(1.0)), "1");
        assert_eq!(cell(Value::Float64(-0.0)), "0");
        assert_eq!(cell(Value::Float64(1e-7)), "0.0000001");
        assert_eq!(cell(Value::Float64(1e21)), "1000000000000000000000");
        assert_eq!(cell(Value::Float64(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(cell(Value::Float64(f64::NAN)), "null");
        assert_eq!(cell(Value::Float64(f64::NEG_INFINITY)), "null");
        assert_eq!(cell(Value::Int64(i64::MIN)), "-9223372036854775808");
        assert_eq!(cell(Value::UInt64(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn strings() {
        for (s, want) in [
            ("hello", "hello"),
            ("", "\"\""),
            ("true", "\"true\""),
            ("05", "\"05\""),
            ("1e-6", "\"1e-6\""),
            ("+1", "\"+1\""),
            (".5", "\".5\""),
            ("-x", "\"-x\""),
            ("#x", "\"#x\""),
            ("a,b", "\"a,b\""),
            ("a|b", "a|b"),
            (" a", "\" a\""),
            ("a\u{1}b", "\"a\\u0001b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("café ☃", "café ☃"),
            ("1e", "1e"),
            ("e5", "e5"),
        ] {
            assert_eq!(cell(Value::Text(s.into())), want, "{s:?}");
        }
        assert_eq!(cell(Value::Binary(vec![0xFB, 0xFF])), "+/8=");
        assert_eq!(cell(Value::Binary(vec![])), "\"\"");
    }

    #[test]
    fn whole_results() {
        let r = QueryResult {
            name: "users".into(),
            columns: vec!["id".into(), "full name".into()],
            rows: vec![
                vec![Value::Int64(1), Value::Text("Bob, Jr.".into())],
                vec![Value::Int64(2), Value::Null],
            ],
        };
        assert_eq!(
            r.to_toon(),
            "users[2]{id,\"full name\"}:\n  1,\"Bob, Jr.\"\n  2,null"
        );
        let empty = QueryResult {
            name: "docs/1".into(),
            columns: vec!["a".into()],
            rows: vec![],
        };
        assert_eq!(empty.to_toon(), "\"docs/1\": []");
    }
}
