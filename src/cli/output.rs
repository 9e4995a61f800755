//! How keys, values and results are printed: text for people, JSON on request.

use std::io::Write;

/// Bytes as one line of text: UTF-8 as is, except that `\`, tab, newline and carriage
/// return are escaped, and bytes that are not UTF-8 or are control characters are
/// written `\xNN`.
pub fn text(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Bytes as JSON: a string when they are UTF-8, else `{"hex": "..."}`.
pub fn json_bytes(b: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(b) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            serde_json::json!({ "hex": hex })
        }
    }
}

/// Writes to stdout, turning a closed pipe (`sochdb scan | head`) into a quiet stop.
pub fn out(bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_would_break_a_line() {
        assert_eq!(text(b"plain"), "plain");
        assert_eq!(text(b"a\tb\nc\\"), "a\\tb\\nc\\\\");
        assert_eq!(text(&[0x66, 0xff, 0x00]), "f\\xff\\x00");
        assert_eq!(text("é".as_bytes()), "é");
        assert_eq!(json_bytes(b"x"), serde_json::json!("x"));
        assert_eq!(json_bytes(&[0xff]), serde_json::json!({"hex": "ff"}));
    }
}
