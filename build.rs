//! Generates the C header from `src/ffi` with cbindgen.
//!
//! The header is written to `$OUT_DIR/sochdb.h`; the checked-in copy lives in
//! `include/sochdb.h` and `tests/header.rs` fails when the two differ
//! (`make header` refreshes the checked-in copy).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    // The shared library's soname carries the ABI major version, so that programs link
    // against `libsochdb.so.0` and keep working across compatible upgrades.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsochdb.so.0");
    }
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| "target".into()));
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            println!("cargo:warning=cbindgen.toml: {e}");
            std::process::exit(1);
        }
    };
    match cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(out_dir.join("sochdb.h"));
        }
        Err(e) => {
            println!("cargo:warning=cbindgen failed: {e}");
            std::process::exit(1);
        }
    }
}
