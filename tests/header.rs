//! The checked-in `include/sochdb.h` must equal what cbindgen generates from `src/ffi`.

#[test]
fn checked_in_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/sochdb.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/sochdb.h");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == checked_in,
        "include/sochdb.h is stale: run `make header` and commit the result"
    );
}
