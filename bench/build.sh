#!/usr/bin/env bash
# Builds bench/build/kvbench (gcc -O2) against the peers' Debian libraries, and against
# libsochdb from target/release once include/sochdb.h carries the C ABI. Prints the
# engines built in.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p bench/build
sources=(bench/kvbench.c bench/drivers/rocksdb.c bench/drivers/lmdb.c bench/drivers/sqlite.c)
flags=()
libs=(-lrocksdb -llmdb -lsqlite3 -lpthread)
engines="rocksdb lmdb sqlite"
if grep -q 'sochdb_open' include/sochdb.h; then
  if [ ! -e target/release/libsochdb.so.0 ]; then
    make --no-print-directory build >&2
  fi
  sources+=(bench/drivers/sochdb.c)
  flags+=(-DKV_WITH_SOCHDB -Iinclude)
  libs+=(-Ltarget/release -lsochdb "-Wl,-rpath,$PWD/target/release")
  engines="sochdb $engines"
else
  echo "bench: include/sochdb.h has no sochdb_open yet: SochDB is pending the C ABI; building the peers only" >&2
fi
rocksdb_version=$(awk '/^#define ROCKSDB_(MAJOR|MINOR|PATCH)/ {print $3}' \
  /usr/include/rocksdb/version.h | paste -sd.)
gcc -O2 -std=gnu11 -Wall -Wextra -DKV_ROCKSDB_VERSION="\"$rocksdb_version\"" ${flags[@]+"${flags[@]}"} \
  -o bench/build/kvbench "${sources[@]}" "${libs[@]}"
echo "$engines"
