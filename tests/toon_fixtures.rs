//! The TOON encoder against the official encode fixtures (`shared/spec/toon-fixtures/`
//! beside the repository) that apply to query results:
//!
//! - a root object with one field holding a uniform array of objects with primitive
//!   values (a tabular result), or an empty array (an empty result);
//! - a primitive (a single cell);
//! - a flat object of primitives (`key: value` lines exercise key and cell quoting).
//!
//! Every applicable case must match the expected text exactly. Inputs are read with a
//! small order-preserving reader (field order decides column order), which leaves the
//! decoding of string and number tokens to serde_json.

use std::path::{Path, PathBuf};

use sochdb::backend::{QueryResult, Value};
use sochdb::kernel::toon::{push_key, push_value};

/// A JSON value that keeps object fields in document order.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut r = JsonReader {
            s: text.as_bytes(),
            pos: 0,
        };
        let v = r.value();
        r.ws();
        assert_eq!(r.pos, r.s.len(), "trailing text in fixture");
        v
    }

    fn as_object(&self) -> Option<&Vec<(String, Json)>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

struct JsonReader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> String {
        self.ws();
        let start = self.pos;
        assert_eq!(self.s[start], b'"');
        let mut i = start + 1;
        while self.s[i] != b'"' {
            i += if self.s[i] == b'\\' { 2 } else { 1 };
        }
        self.pos = i + 1;
        serde_json::from_slice(&self.s[start..self.pos]).unwrap()
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.pos] {
            b'{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        let k = self.string();
                        assert!(self.eat(b':'));
                        fields.push((k, self.value()));
                        if self.eat(b'}') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Object(fields)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if self.eat(b']') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Array(items)
            }
            b'"' => Json::String(self.string()),
            _ => {
                let start = self.pos;
                while self.pos < self.s.len() && !b",]} \t\r\n".contains(&self.s[self.pos]) {
                    self.pos += 1;
                }
                match serde_json::from_slice(&self.s[start..self.pos]).unwrap() {
                    serde_json::Value::Null => Json::Null,
                    serde_json::Value::Bool(b) => Json::Bool(b),
                    serde_json::Value::Number(n) => Json::Number(n),
                    other => panic!("unexpected token {other}"),
                }
            }
        }
    }
}

fn fixtures_dir() -> PathBuf {
    if let Ok(p) = std::env::var("SOCHDB_TOON_FIXTURES") {
        return PathBuf::from(p);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in manifest.ancestors() {
        let candidate = dir.join("shared/spec/toon-fixtures");
        if candidate.join("encode").is_dir() {
            return candidate;
        }
    }
    panic!(
        "TOON fixtures not found: expected shared/spec/toon-fixtures/encode beside the \
         repository (or set SOCHDB_TOON_FIXTURES)"
    );
}

fn cell(v: &Json) -> Option<Value> {
    Some(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::String(s) => Value::Text(s.clone()),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int64(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt64(u)
            } else {
                Value::Float64(n.as_f64()?)
            }
        }
        Json::Array(_) | Json::Object(_) => return None,
    })
}

fn render_cell(v: &Value) -> String {
    let mut s = String::new();
    push_value(&mut s, v);
    s
}

/// The query result a fixture input stands for, if it is tabular.
fn as_result(input: &Json) -> Option<QueryResult> {
    let obj = input.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let (name, arr) = obj.iter().next()?;
    let arr = arr.as_array()?;
    if arr.is_empty() {
        return Some(QueryResult {
            name: name.clone(),
            columns: vec![],
            rows: vec![],
        });
    }
    let first = arr[0].as_object()?;
    if first.is_empty() {
        return None;
    }
    let columns: Vec<String> = first.iter().map(|(k, _)| k.clone()).collect();
    let mut rows = Vec::new();
    for item in arr {
        let o = item.as_object()?;
        if o.len() != columns.len() {
            return None;
        }
        let row = columns
            .iter()
            .map(|c| item.get(c).and_then(cell))
            .collect::<Option<Vec<_>>>()?;
        rows.push(row);
    }
    Some(QueryResult {
        name: name.clone(),
        columns,
        rows,
    })
}

/// `key: value` lines for a flat object of primitives.
fn as_flat_object(input: &Json) -> Option<String> {
    let obj = input.as_object()?;
    if obj.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    for (k, v) in obj {
        let v = cell(v)?;
        let mut line = String::new();
        push_key(&mut line, k);
        line.push_str(": ");
        line.push_str(&render_cell(&v));
        lines.push(line);
    }
    Some(lines.join("\n"))
}

fn default_options(test: &Json) -> bool {
    match test.get("options") {
        None => true,
        Some(o) => o.as_object().is_some_and(|o| {
            o.iter()
                .all(|(k, v)| k == "delimiter" && v.as_str() == Some(","))
        }),
    }
}

#[test]
fn encoder_matches_every_applicable_fixture() {
    let dir = fixtures_dir().join("encode");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixture files in {}", dir.display());
    let (mut tabular, mut cells, mut objects) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let doc = Json::parse(&std::fs::read_to_string(file).unwrap());
        for test in doc.get("tests").and_then(Json::as_array).unwrap() {
            if !default_options(test) || test.get("shouldError").is_some() {
                continue;
            }
            let name = test.get("name").and_then(Json::as_str).unwrap_or("?");
            let Some(input) = test.get("input") else {
                continue;
            };
            let Some(expected) = test.get("expected").and_then(Json::as_str) else {
                continue;
            };
            let got = if let Some(r) = as_result(input) {
                tabular += 1;
                r.to_toon()
            } else if let Some(v) = cell(input) {
                cells += 1;
                render_cell(&v)
            } else if let Some(text) = as_flat_object(input) {
                objects += 1;
                text
            } else {
                continue;
            };
            if got != expected {
                failures.push(format!(
                    "{} / {name}:\n  expected {expected:?}\n  got      {got:?}",
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    eprintln!("fixtures applied: {tabular} tabular, {cells} cells, {objects} flat objects");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Guards against the loader silently matching nothing.
    assert!(tabular >= 8, "only {tabular} tabular fixtures applied");
    assert!(cells >= 30, "only {cells} cell fixtures applied");
    assert!(objects >= 20, "only {objects} object fixtures applied");
}
