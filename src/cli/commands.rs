//! The data commands: get, put, del, scan, query, tables, stats, checkpoint, compact,
//! verify, import.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sochdb::backend::{Filter, FilterOp, QueryRequest, ScanOptions, ScanRange, TableSchema, Value};
use sochdb::storage::BatchOp;

use super::CliError;
use super::args::Args;
use super::local;
use super::output::{json_bytes, out, text};
use super::progress::Progress;
use super::target::Target;

/// `get KEY`: prints the value; exit status 1 when the key is absent.
pub fn get(t: &Target, a: &Args) -> Result<(), CliError> {
    let key = &a.expect_positional(1, "one KEY").map_err(CliError::Usage)?[0];
    match t.db.get(None, key.as_bytes())? {
        Some(v) if a.flag("json") => {
            let j = serde_json::json!({ "key": key, "value": json_bytes(&v) });
            out(format!("{j}\n").as_bytes())?;
            Ok(())
        }
        Some(mut v) => {
            v.push(b'\n');
            out(&v)?;
            Ok(())
        }
        None => Err(CliError::NotFound(format!("key {key:?} is absent"))),
    }
}

/// `put KEY VALUE`, `put KEY -` (value from stdin) or `put KEY --file PATH`.
pub fn put(t: &Target, a: &Args) -> Result<(), CliError> {
    let (key, value) = match (a.positional.as_slice(), a.value("file")) {
        ([k], Some(f)) => {
            let v = std::fs::read(f).map_err(|e| {
                CliError::Db(sochdb::Error::io(format!("reading value file {f}"), e))
            })?;
            (k, v)
        }
        ([k, v], None) if v == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::Db(sochdb::Error::io("reading the value from stdin", e)))?;
            (k, buf)
        }
        ([k, v], None) => (k, v.as_bytes().to_vec()),
        _ => {
            return Err(CliError::Usage(
                "expected KEY VALUE, KEY - (value from stdin), or KEY --file PATH".into(),
            ));
        }
    };
    t.db.put(None, key.as_bytes(), &value)?;
    Ok(())
}

/// `del KEY...`: deletes each key (an absent key is not an error).
pub fn del(t: &Target, a: &Args) -> Result<(), CliError> {
    if a.positional.is_empty() {
        return Err(CliError::Usage("expected at least one KEY".into()));
    }
    for k in &a.positional {
        t.db.delete(None, k.as_bytes())?;
    }
    Ok(())
}

/// `scan [PREFIX] [--start K] [--end K] [--reverse] [--limit N]`: one line per pair
/// (`key<TAB>value`), or JSON lines with `--json`.
pub fn scan(t: &Target, a: &Args) -> Result<(), CliError> {
    let range = match (a.positional.as_slice(), a.value("start"), a.value("end")) {
        ([], None, None) => ScanRange::Prefix(Vec::new()),
        ([p], None, None) => ScanRange::Prefix(p.as_bytes().to_vec()),
        ([], start, end) => ScanRange::Range {
            start: start.unwrap_or("").as_bytes().to_vec(),
            end: end.map(|e| e.as_bytes().to_vec()),
        },
        _ => {
            return Err(CliError::Usage(
                "give a PREFIX or --start/--end, not both (and at most one PREFIX)".into(),
            ));
        }
    };
    let opts = ScanOptions {
        range,
        reverse: a.flag("reverse"),
        limit: a.number("limit").map_err(CliError::Usage)?,
    };
    let mut cur = t.db.scan(None, &opts)?;
    let stdout = std::io::stdout();
    let mut o = std::io::BufWriter::new(stdout.lock());
    let json = a.flag("json");
    let keys_only = a.flag("keys-only");
    while let Some((k, v)) = cur.next_entry()? {
        let line = if json {
            let j = if keys_only {
                serde_json::json!({ "key": json_bytes(&k) })
            } else {
                serde_json::json!({ "key": json_bytes(&k), "value": json_bytes(&v) })
            };
            format!("{j}\n")
        } else if keys_only {
            format!("{}\n", text(&k))
        } else {
            format!("{}\t{}\n", text(&k), text(&v))
        };
        o.write_all(line.as_bytes())?;
    }
    o.flush()?;
    Ok(())
}

/// Parses a `--where` condition: `COLUMN OP VALUE` with OP one of `= != < <= > >=`.
/// The value is a number, `true`/`false`, `null`, a `"quoted"` text, or else text.
pub fn parse_filter(s: &str) -> Result<Filter, CliError> {
    let ops = [
        ("!=", FilterOp::Ne),
        ("<=", FilterOp::Le),
        (">=", FilterOp::Ge),
        ("=", FilterOp::Eq),
        ("<", FilterOp::Lt),
        (">", FilterOp::Gt),
    ];
    let Some((at, sym, op)) = ops
        .iter()
        .filter_map(|(sym, op)| s.find(sym).map(|i| (i, *sym, *op)))
        .min_by_key(|(i, sym, _)| (*i, std::cmp::Reverse(sym.len())))
    else {
        return Err(CliError::Usage(format!(
            "--where {s:?}: expected COLUMN OP VALUE with OP one of = != < <= > >="
        )));
    };
    let column = s[..at].trim();
    let raw = s[at + sym.len()..].trim();
    if column.is_empty() {
        return Err(CliError::Usage(format!(
            "--where {s:?}: the column is missing"
        )));
    }
    let value = if raw == "null" {
        Value::Null
    } else if raw == "true" || raw == "false" {
        Value::Bool(raw == "true")
    } else if let Ok(i) = raw.parse::<i64>() {
        Value::Int64(i)
    } else if let Ok(u) = raw.parse::<u64>() {
        Value::UInt64(u)
    } else if let Ok(f) = raw.parse::<f64>() {
        Value::Float64(f)
    } else if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        Value::Text(raw[1..raw.len() - 1].to_string())
    } else {
        Value::Text(raw.to_string())
    };
    Ok(Filter {
        column: column.to_string(),
        op,
        value,
    })
}

/// `query SOURCE [--columns a,b] [--where C] [--limit N] [--offset N]`: TOON, or JSON.
pub fn query(t: &Target, a: &Args) -> Result<(), CliError> {
    let source = &a
        .expect_positional(1, "one SOURCE (a table or a path)")
        .map_err(CliError::Usage)?[0];
    let columns = match a.value("columns") {
        Some(c) => c
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    };
    let filters = a
        .values("where")
        .iter()
        .map(|w| parse_filter(w))
        .collect::<Result<Vec<_>, _>>()?;
    let req = QueryRequest {
        source: source.clone(),
        columns,
        filters,
        limit: a.number("limit").map_err(CliError::Usage)?,
        offset: a.number("offset").map_err(CliError::Usage)?.unwrap_or(0),
    };
    let res = t.db.query(None, &req)?;
    let mut s = local::render(&res, a.flag("json"));
    s.push('\n');
    out(s.as_bytes())?;
    Ok(())
}

fn schema_json(s: &TableSchema) -> serde_json::Value {
    serde_json::json!({
        "name": s.name,
        "columns": s.columns.iter().map(|c| serde_json::json!({
            "name": c.name,
            "type": c.ty.name(),
            "nullable": c.nullable,
        })).collect::<Vec<_>>(),
    })
}

/// `tables` lists the tables; `tables NAME` describes one.
pub fn tables(t: &Target, a: &Args) -> Result<(), CliError> {
    let json = a.flag("json");
    match a.positional.as_slice() {
        [] => {
            let names = t.db.list_tables()?;
            let s = if json {
                format!("{}\n", serde_json::json!(names))
            } else {
                names.iter().map(|n| format!("{n}\n")).collect()
            };
            out(s.as_bytes())?;
        }
        [name] => {
            let schema = t.db.describe_table(name)?;
            let s = if json {
                format!("{:#}\n", schema_json(&schema))
            } else {
                let mut s = format!("table {}\n", schema.name);
                for c in &schema.columns {
                    s.push_str(&format!(
                        "  {}  {}{}\n",
                        c.name,
                        c.ty.name(),
                        if c.nullable { "  nullable" } else { "" }
                    ));
                }
                s
            };
            out(s.as_bytes())?;
        }
        _ => return Err(CliError::Usage("expected at most one table NAME".into())),
    }
    Ok(())
}

/// `stats`: the figures as a JSON object.
pub fn stats(t: &Target, _a: &Args) -> Result<(), CliError> {
    let m = t.db.stats()?;
    out(format!("{:#}\n", serde_json::Value::Object(m)).as_bytes())?;
    Ok(())
}

/// Runs `f` while a thread reports the elapsed time once a second.
fn with_ticker<T>(what: &'static str, f: impl FnOnce() -> T) -> (T, Progress) {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = Arc::clone(&done);
    let ticker = std::thread::spawn(move || {
        let mut p = Progress::new(what);
        while !d2.load(Ordering::Relaxed) {
            p.update(|| "running".into());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let progress = Progress::new(what);
    let r = f();
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    (r, progress)
}

/// `checkpoint`: flushes, syncs and trims the log, with a progress line.
pub fn checkpoint(t: &Target, _a: &Args) -> Result<(), CliError> {
    let (r, p) = with_ticker("checkpoint", || t.db.checkpoint());
    r?;
    p.finish("done");
    Ok(())
}

/// `compact`: a full manual compaction, with a progress line, then the bytes on disk
/// before and after and what the compactions read and wrote (from the statistics; in
/// socket mode they include the server's own compactions meanwhile).
pub fn compact(t: &Target, a: &Args) -> Result<(), CliError> {
    a.expect_positional(0, "no argument")
        .map_err(CliError::Usage)?;
    let before = t.db.stats()?;
    let (r, p) = with_ticker("compact", || t.db.compact());
    r?;
    let after = t.db.stats()?;
    let figure = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        m.get(k).and_then(serde_json::Value::as_u64)
    };
    let delta = |k: &str| Some(figure(&after, k)?.saturating_sub(figure(&before, k)?));
    let summary = match (
        figure(&before, "file_bytes"),
        figure(&after, "file_bytes"),
        delta("compaction_bytes_read"),
        delta("compaction_bytes_written"),
    ) {
        (Some(b), Some(a), Some(read), Some(written)) => format!(
            "done, {} -> {} on disk (compactions read {}, wrote {})",
            megabytes(b),
            megabytes(a),
            megabytes(read),
            megabytes(written)
        ),
        _ => "done".to_string(),
    };
    p.finish(&summary);
    Ok(())
}

/// Bytes in megabytes with one decimal (`12.3 MB`).
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `verify --db DIR` (or `verify DIR`): the storage engine's check of every file, block
/// and log record, without opening the database; non-zero exit on any problem.
pub fn verify_files(a: &Args) -> Result<(), CliError> {
    let dir = match (a.value("db"), a.expect_positional(1, "DIR")) {
        (Some(d), Err(_)) => PathBuf::from(d),
        (None, Ok(p)) => PathBuf::from(&p[0]),
        _ => {
            return Err(CliError::Usage(
                "give the database directory once: verify DIR, or verify --db DIR".into(),
            ));
        }
    };
    let (r, p) = with_ticker("verify", || sochdb::storage::verify(&dir));
    let report = r?;
    p.finish(if report.is_ok() {
        "done"
    } else {
        "problems found"
    });
    println!("{report}");
    if report.is_ok() {
        Ok(())
    } else {
        Err(CliError::Other(format!(
            "{} problem(s) in {}",
            report.problems.len(),
            dir.display()
        )))
    }
}

/// `verify --socket PATH`: reads every key and every table row through the server, so
/// that every stored byte passes the engine's checks; reports the counts.
pub fn verify(t: &Target, _a: &Args) -> Result<(), CliError> {
    let mut p = Progress::new("verify");
    let mut cur = t.db.scan(
        None,
        &ScanOptions {
            range: ScanRange::Prefix(Vec::new()),
            reverse: false,
            limit: None,
        },
    )?;
    let (mut keys, mut bytes) = (0u64, 0u64);
    let mut last: Option<Vec<u8>> = None;
    while let Some((k, v)) = cur.next_entry()? {
        if last.as_ref().is_some_and(|l| *l >= k) {
            return Err(CliError::Other(format!(
                "verify: keys out of order after key {}",
                text(last.as_deref().unwrap_or_default())
            )));
        }
        keys += 1;
        bytes += (k.len() + v.len()) as u64;
        p.update(|| format!("{keys} keys, {bytes} bytes read"));
        last = Some(k);
    }
    let tables = t.db.list_tables()?;
    let mut rows = 0u64;
    for name in &tables {
        let schema = t.db.describe_table(name)?;
        let res = t.db.query(
            None,
            &QueryRequest {
                source: name.clone(),
                ..QueryRequest::default()
            },
        )?;
        if res.rows.iter().any(|r| r.len() != schema.columns.len()) {
            return Err(CliError::Other(format!(
                "verify: a row of table {name} does not have its {} columns",
                schema.columns.len()
            )));
        }
        rows += res.rows.len() as u64;
        p.update(|| format!("table {name}: {} rows", res.rows.len()));
    }
    p.finish(&format!(
        "OK: {keys} keys ({bytes} bytes), {} tables with {rows} rows",
        tables.len()
    ));
    Ok(())
}

/// One parsed line of an import file.
fn import_line(line: &str, n: usize, path: &Path) -> Result<Option<BatchOp>, CliError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let bad = |why: String| CliError::Other(format!("{}:{n}: {why}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    for k in obj.keys() {
        if k != "key" && k != "value" {
            return Err(bad(format!("unknown field {k:?} (expected key and value)")));
        }
    }
    let bytes = |field: &str, j: &serde_json::Value| -> Result<Vec<u8>, CliError> {
        match j {
            serde_json::Value::String(s) => Ok(s.as_bytes().to_vec()),
            serde_json::Value::Object(o) if o.len() == 1 => {
                let hex = o.get("hex").and_then(|h| h.as_str()).ok_or_else(|| {
                    bad(format!("{field}: expected a string or {{\"hex\": ...}}"))
                })?;
                decode_hex(hex).ok_or_else(|| bad(format!("{field}: invalid hex {hex:?}")))
            }
            _ => Err(bad(format!(
                "{field}: expected a string or {{\"hex\": ...}}"
            ))),
        }
    };
    let key = bytes(
        "key",
        obj.get("key")
            .ok_or_else(|| bad("missing \"key\"".into()))?,
    )?;
    sochdb::storage::check_key(&key).map_err(|e| bad(e.to_string()))?;
    let value = obj
        .get("value")
        .ok_or_else(|| bad("missing \"value\" (null deletes the key)".into()))?;
    if value.is_null() {
        return Ok(Some(BatchOp::Delete { key }));
    }
    let value = bytes("value", value)?;
    sochdb::storage::check_value(&value).map_err(|e| bad(e.to_string()))?;
    Ok(Some(BatchOp::Put { key, value }))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn open_lines(path: &Path) -> Result<std::io::Lines<BufReader<std::fs::File>>, CliError> {
    let f = std::fs::File::open(path)
        .map_err(|e| CliError::Db(sochdb::Error::io(format!("opening {}", path.display()), e)))?;
    Ok(BufReader::new(f).lines())
}

/// `import FILE [--batch N]`: JSON lines `{"key": K, "value": V}` (a `null` value
/// deletes K; K and V are strings, or `{"hex": "..."}` for bytes). The whole file is
/// checked before anything is written; then it is written in atomic batches.
pub fn import(t: &Target, a: &Args) -> Result<(), CliError> {
    let path = Path::new(
        &a.expect_positional(1, "one FILE")
            .map_err(CliError::Usage)?[0],
    )
    .to_path_buf();
    let batch: usize = a.number("batch").map_err(CliError::Usage)?.unwrap_or(1000);
    if batch == 0 {
        return Err(CliError::Usage("--batch must be at least 1".into()));
    }
    let read_err = |e: std::io::Error| {
        CliError::Db(sochdb::Error::io(format!("reading {}", path.display()), e))
    };
    let mut p = Progress::new("import");
    let mut total = 0usize;
    for (i, line) in open_lines(&path)?.enumerate() {
        if import_line(&line.map_err(read_err)?, i + 1, &path)?.is_some() {
            total += 1;
        }
        p.update(|| format!("checked {} lines", i + 1));
    }
    let (mut done, mut puts, mut dels) = (0usize, 0usize, 0usize);
    let mut ops = Vec::with_capacity(batch);
    let flush = |ops: &mut Vec<BatchOp>, done: &mut usize| -> Result<(), CliError> {
        if !ops.is_empty() {
            t.db.write_batch(ops)?;
            *done += ops.len();
            ops.clear();
        }
        Ok(())
    };
    for (i, line) in open_lines(&path)?.enumerate() {
        if let Some(op) = import_line(&line.map_err(read_err)?, i + 1, &path)? {
            match op {
                BatchOp::Put { .. } => puts += 1,
                BatchOp::Delete { .. } => dels += 1,
            }
            ops.push(op);
            if ops.len() >= batch {
                flush(&mut ops, &mut done)?;
                p.update(|| {
                    format!(
                        "{done} of {total} records written ({:.0}%)",
                        100.0 * done as f64 / total.max(1) as f64
                    )
                });
            }
        }
    }
    flush(&mut ops, &mut done)?;
    p.finish(&format!("{done} records ({puts} puts, {dels} deletes)"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = parse_filter("age>=18").unwrap();
        assert_eq!(
            (f.column.as_str(), f.op, f.value),
            ("age", FilterOp::Ge, Value::Int64(18))
        );
        let f = parse_filter("name = \"Bob\"").unwrap();
        assert_eq!(f.value, Value::Text("Bob".into()));
        let f = parse_filter("x!=null").unwrap();
        assert_eq!((f.op, f.value), (FilterOp::Ne, Value::Null));
        let f = parse_filter("s<0.5").unwrap();
        assert_eq!(f.value, Value::Float64(0.5));
        assert!(parse_filter("nothing").is_err());
        assert!(parse_filter("=3").is_err());
    }

    #[test]
    fn import_lines_parse_and_fail_clearly() {
        let p = Path::new("f.jsonl");
        assert_eq!(
            import_line(r#"{"key":"a","value":"b"}"#, 1, p).unwrap(),
            Some(BatchOp::Put {
                key: b"a".to_vec(),
                value: b"b".to_vec()
            })
        );
        assert_eq!(
            import_line(r#"{"key":{"hex":"00ff"},"value":null}"#, 1, p).unwrap(),
            Some(BatchOp::Delete { key: vec![0, 255] })
        );
        assert_eq!(import_line("  ", 1, p).unwrap(), None);
        let e = import_line(r#"{"key":"a"}"#, 7, p).unwrap_err().to_string();
        assert!(e.contains("f.jsonl:7"), "{e}");
        assert!(import_line(r#"{"key":"a","value":1}"#, 1, p).is_err());
        assert!(import_line(r#"{"key":"a","value":"b","x":1}"#, 1, p).is_err());
        assert!(import_line(r#"[1]"#, 1, p).is_err());
    }
}
