//! SochDB's own query output decoded by the reference TOON decoder (the npm package
//! `@toon-format/toon`, run by `tests/toon/decode.mjs`) gives back exactly the rows that
//! were stored, including text that needs quoting and floats at the edges.
//!
//! The package is installed into `target/toon-node` with npm when it is missing. Without
//! node or npm this test fails with a message saying so; it never skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value as Json;
use sochdb::backend::{
    Backend, ColumnDef, ColumnType, QueryRequest, QueryResult, RowWriteMode, TableSchema, Value,
};
use sochdb::kernel::{Database, DbOptions};

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// The installed package directory, installing it with npm if needed.
fn decoder_package() -> PathBuf {
    let prefix = target_dir().join("toon-node");
    let pkg = prefix.join("node_modules/@toon-format/toon");
    if pkg.join("package.json").is_file() {
        return pkg;
    }
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg("@toon-format/toon")
        .status()
        .unwrap_or_else(|e| {
            panic!("npm is required to install the reference TOON decoder and could not run: {e}")
        });
    assert!(
        status.success(),
        "`npm install --prefix {} @toon-format/toon` failed ({status})",
        prefix.display()
    );
    assert!(
        pkg.join("package.json").is_file(),
        "npm did not install {}",
        pkg.display()
    );
    pkg
}

fn decode_all(docs: &[String]) -> Vec<Json> {
    let pkg = decoder_package();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toon/decode.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&pkg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node is required to run the reference TOON decoder: {e}"));
    let input = serde_json::to_vec(docs).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "decoder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "decoder output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Checks one decoded cell against the stored value.
fn same(decoded: &Json, stored: &Value) -> bool {
    match (stored, decoded) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Text(a), Json::String(b)) => a == b,
        (Value::Binary(a), Json::String(b)) => {
            base64::engine::general_purpose::STANDARD.encode(a) == *b
        }
        (Value::Int64(a), Json::Number(n)) => n.as_f64() == Some(*a as f64),
        (Value::UInt64(a), Json::Number(n)) => n.as_f64() == Some(*a as f64),
        (Value::Float64(a), Json::Null) => !a.is_finite(),
        // -0 is rendered as 0, which compares equal.
        (Value::Float64(a), Json::Number(n)) => n.as_f64() == Some(*a),
        _ => false,
    }
}

fn check(result: &QueryResult, decoded: &Json, stored: &[Vec<Value>]) {
    let what = format!("{} from:\n{}", result.name, result.to_toon());
    let obj = decoded
        .as_object()
        .unwrap_or_else(|| panic!("{what}: decoded {decoded}"));
    assert!(
        obj.get("__error").is_none(),
        "{what}: decoder error {decoded}"
    );
    assert_eq!(obj.len(), 1, "{what}");
    let rows = obj[&result.name]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: {decoded}"));
    assert_eq!(rows.len(), stored.len(), "{what}");
    for (row, want) in rows.iter().zip(stored) {
        let row = row.as_object().unwrap();
        assert_eq!(row.len(), result.columns.len(), "{what}");
        for (col, v) in result.columns.iter().zip(want) {
            let got = &row[col];
            assert!(
                same(got, v),
                "{what}\ncolumn {col}: stored {v:?}, decoded {got}"
            );
        }
    }
    // The JSON rendering carries the same data.
    let json: Json = serde_json::from_str(&result.to_json()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), stored.len());
}

const TRICKY: &[&str] = &[
    "plain",
    "a,b",
    "say \"hi\"",
    "-lead",
    "- item",
    "-",
    "true",
    "false",
    "null",
    "42",
    "-3.14",
    "1e-6",
    "05",
    "+1",
    ".5",
    "1.",
    "1e",
    "0",
    "0x10",
    "1_000",
    "Infinity",
    "NaN",
    "",
    " padded ",
    "  ",
    "tab\there",
    "line1\nline2",
    "cr\rhere",
    "back\\slash",
    "[x]",
    "{y}",
    "key: value",
    "a:b",
    "#hash",
    "#",
    "café ☃ 🚀",
    "中文",
    "\u{1}ctrl",
    "x\u{7f}del",
    "a|b",
    "\u{a0}nbsp",
    "\u{feff}bom",
    "[3]: x,y",
    "trailing,",
    "\"",
    "'single'",
    "١٢٣",
    "e5",
];

const FLOATS: &[f64] = &[
    0.1,
    1e-7,
    1e21,
    1e300,
    5e-324,
    -0.0,
    0.30000000000000004,
    123456789.125,
    f64::MAX,
    f64::MIN_POSITIVE,
    9007199254740992.0,
    -2.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

const INTS: &[i64] = &[0, -1, 7, 9007199254740991, -9007199254740991];

#[test]
fn reference_decoder_reads_back_the_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    let col = |name: &str, ty| ColumnDef {
        name: name.into(),
        ty,
        nullable: true,
    };
    db.create_table(&TableSchema {
        name: "mixed".into(),
        columns: vec![
            col("text", ColumnType::Text),
            col("float", ColumnType::Float64),
            col("int", ColumnType::Int64),
            col("flag", ColumnType::Bool),
            col("bytes", ColumnType::Binary),
            col("full name", ColumnType::Text),
            col("u", ColumnType::UInt64),
        ],
    })
    .unwrap();
    let n = TRICKY.len().max(FLOATS.len());
    let mut stored = Vec::new();
    for i in 0..n {
        let row = vec![
            TRICKY
                .get(i)
                .map_or(Value::Null, |s| Value::Text((*s).into())),
            FLOATS.get(i).map_or(Value::Null, |f| Value::Float64(*f)),
            INTS.get(i).map_or(Value::Null, |v| Value::Int64(*v)),
            if i % 3 == 2 {
                Value::Null
            } else {
                Value::Bool(i % 2 == 0)
            },
            Value::Binary((0..i as u8).map(|b| b.wrapping_mul(37)).collect()),
            Value::Text(TRICKY[(i * 7) % TRICKY.len()].into()),
            Value::UInt64(i as u64 * 1_000_003),
        ];
        let names = ["text", "float", "int", "flag", "bytes", "full name", "u"];
        let values: Vec<(String, Value)> = names
            .iter()
            .map(|s| s.to_string())
            .zip(row.iter().cloned())
            .collect();
        db.write_row(None, "mixed", None, &values, RowWriteMode::Insert)
            .unwrap();
        stored.push(row);
    }
    // Path-shaped keys with tricky text, a name that needs quoting, and an empty result.
    for (i, s) in TRICKY.iter().enumerate() {
        db.put(None, format!("notes/{i:03}/body").as_bytes(), s.as_bytes())
            .unwrap();
    }
    let table = db
        .query(
            None,
            &QueryRequest {
                source: "mixed".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    let notes = db
        .query(
            None,
            &QueryRequest {
                source: "notes".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    let quoted = QueryResult {
        name: "notes/000".into(),
        ..notes.clone()
    };
    let empty = db
        .query(
            None,
            &QueryRequest {
                source: "nothing/here".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    // The query returns the stored rows (floats compared bit for bit: NaN included).
    let bits = |rows: &[Vec<Value>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::Float64(f) => format!("f{:x}", f.to_bits()),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(bits(&table.rows), bits(&stored));
    let notes_rows: Vec<Vec<Value>> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, s)| vec![Value::Text(format!("{i:03}")), Value::Text((*s).into())])
        .collect();
    assert_eq!(notes.rows, notes_rows);

    let docs: Vec<String> = [&table, &notes, &quoted, &empty]
        .iter()
        .map(|r| r.to_toon())
        .collect();
    let decoded = decode_all(&docs);
    assert_eq!(decoded.len(), 4);
    check(&table, &decoded[0], &stored);
    check(&notes, &decoded[1], &notes_rows);
    check(&quoted, &decoded[2], &notes_rows);
    check(&empty, &decoded[3], &[]);
}
