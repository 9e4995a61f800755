#!/usr/bin/env bash
# The Go SDK's suite: builds the library and the sochdb binary if needed, then runs
# `go vet` and `go test -race` in bindings/go (in-process and against a `sochdb serve`
# the tests start), then builds and runs the examples against a `make install` found
# through pkg-config. Exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v go >/dev/null; then
  echo "FAIL: go is not installed"; exit 1
fi
cargo build --release --lib --bins || exit 1
ln -sf libsochdb.so target/release/libsochdb.so.0

status=0
cd bindings/go
echo "--- go vet"
go vet ./... || status=1
echo "--- go test -race (in-process and socket mode)"
go test -race -count=1 ./... || status=1

echo "--- examples against an installed copy, through pkg-config"
# A fixed prefix in the build tree: the go build cache keys on CGO_* variables but not
# on what pkg-config prints, so the prefix must not change between runs.
prefix="$root/target/go-pkgconfig"
rm -rf "$prefix"
if make --no-print-directory -C "$root" install PREFIX="$prefix" >"$root/target/go-pkgconfig.log" 2>&1; then
  if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" \
    go test -tags sochdb_pkgconfig -count=1 -run '^Example' . ; then
    :
  else
    status=1
  fi
else
  cat "$root/target/go-pkgconfig.log"; echo "FAIL: make install"; status=1
fi
exit $status
