//! Query results rendered as JSON: an array of objects, one per row, with the columns
//! in result order.
//!
//! Integers are exact decimals; floats are the shortest text that reads back to the same
//! value (`95.5`, `87.0`, `1e+21`, `5e-324`: JSON allows exponents, and every JSON parser
//! reads this form), `-0` as `0`; NaN and infinities are `null`; binary cells are
//! standard base64 strings (with padding), as in TOON. See `docs/query.md`.

use base64::Engine as _;

use crate::backend::{QueryResult, Value};

impl QueryResult {
    /// The result as a compact JSON array of objects.
    pub fn to_json(&self) -> String {
        let mut out = String::from("[");
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                out.push(',');
            }
            out.push('{');
            for (i, col) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(&mut out, col);
                out.push(':');
                push_json_value(&mut out, row.get(i).unwrap_or(&Value::Null));
            }
            out.push('}');
        }
        out.push(']');
        out
    }
}

/// Appends a value as JSON.
pub fn push_json_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int64(i) => out.push_str(&i.to_string()),
        Value::UInt64(u) => out.push_str(&u.to_string()),
        Value::Float64(f) => {
            let f = if *f == 0.0 { 0.0 } else { *f };
            match serde_json::Number::from_f64(f) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            }
        }
        Value::Text(s) => push_json_string(out, s),
        Value::Binary(b) => {
            push_json_string(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json's string escaping; serializing a &str cannot fail.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_values() {
        let r = QueryResult {
            name: "t".into(),
            columns: vec!["a".into(), "b\"".into()],
            rows: vec![
                vec![Value::Float64(f64::NAN), Value::Binary(vec![1, 2, 3])],
                vec![Value::Float64(1e21), Value::Text("x\ny".into())],
            ],
        };
        let text = r.to_json();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([
                {"a": null, "b\"": "AQID"},
                {"a": 1e21, "b\"": "x\ny"}
            ])
        );
        assert!(text.starts_with("[{\"a\":null,"), "{text}");
        let floats = QueryResult {
            name: "t".into(),
            columns: vec!["f".into()],
            rows: [87.0, -0.0, 5e-324, f64::MAX, 0.1]
                .iter()
                .map(|f| vec![Value::Float64(*f)])
                .collect(),
        };
        assert_eq!(
            floats.to_json(),
            r#"[{"f":87.0},{"f":0.0},{"f":5e-324},{"f":1.7976931348623157e+308},{"f":0.1}]"#
        );
        let empty = QueryResult::default();
        assert_eq!(empty.to_json(), "[]");
    }
}
