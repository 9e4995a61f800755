#!/usr/bin/env bash
# Runs the C suite: in-process, against a `sochdb serve` it starts, the examples, the
# suite again under valgrind (both modes), and an install linked through pkg-config.
# Usage: run.sh OUT_DIR SOCHDB_BIN. Ends with "c suite: N passed, M failed".
set -u
out=$1
bin=$2
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d /tmp/sochdb-c.XXXXXX)
server_pid=
passed=0
failed=0

cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Runs a step; counts the assertions it reports ("N passed, M failed"), or the step
# itself when it reports none.
step() {
  local name=$1; shift
  echo "--- $name"
  local log="$tmp/step.log"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    if [ "$rc" -ne 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ]; then
      echo "FAIL $name: exit status $rc"; failed=$((failed + 1))
    fi
  elif [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit status $rc"; failed=$((failed + 1))
  fi
}

start_server() {
  local dir=$1 sock=$2
  "$bin" serve --db "$dir" --socket "$sock" 2>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [ -S "$sock" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: sochdb serve did not start:"; cat "$tmp/server.log"
  return 1
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid"
  local rc=$?
  server_pid=
  return $rc
}

# Runs a step against a fresh `sochdb serve` (its own directory), then stops the server
# and checks that it exits cleanly.
served=0
with_server() {
  local name=$1; shift
  served=$((served + 1))
  local sock="$tmp/served$served.sock"
  if ! start_server "$tmp/served$served" "$sock"; then
    failed=$((failed + 1))
    return
  fi
  step "$name" "$@" "$sock"
  if stop_server; then passed=$((passed + 1)); else echo "FAIL: sochdb serve exit status"; failed=$((failed + 1)); fi
}

# 1. In-process.
mkdir -p "$tmp/inproc"
step "suite, in-process" "$out/test_api" inproc "$tmp/inproc"

# 2. Socket mode, against a server this script starts.
with_server "suite, socket mode" "$out/test_api" socket

# 3. The examples.
step "example kv" "$out/examples/kv" "$tmp/ex-kv"
step "example txn_retry" "$out/examples/txn_retry" "$tmp/ex-bank"
step "example iterate" "$out/examples/iterate" "$tmp/ex-iter"
step "example table_query" "$out/examples/table_query" "$tmp/ex-table"
with_server "example connect" "$out/examples/connect"

# 4. Under valgrind: no invalid access, no leak.
if ! command -v valgrind >/dev/null; then
  echo "installing valgrind"
  (apt-get update -qq && apt-get install -y -qq valgrind) >/dev/null 2>&1 || true
fi
if command -v valgrind >/dev/null; then
  vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --track-origins=no)
  mkdir -p "$tmp/vg"
  step "suite under valgrind, in-process" "${vg[@]}" "$out/test_api" inproc "$tmp/vg"
  with_server "suite under valgrind, socket mode" "${vg[@]}" "$out/test_api" socket
else
  echo "FAIL: valgrind is not available"; failed=$((failed + 1))
fi

# 5. Install, then build and run an example through pkg-config.
prefix="$tmp/prefix"
install_check() {
  make --no-print-directory -C "$root" install PREFIX="$prefix" >/dev/null || return 1
  readelf -d "$prefix/lib/libsochdb.so.0" | grep -q 'SONAME.*\[libsochdb.so.0\]' || { echo "bad soname"; return 1; }
  [ -L "$prefix/lib/libsochdb.so" ] && [ -L "$prefix/lib/libsochdb.so.0" ] || { echo "missing symlinks"; return 1; }
  # shellcheck disable=SC2046
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -Wall -Werror "$here/examples/kv.c" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs sochdb) -o "$tmp/kv-installed" || return 1
  readelf -d "$tmp/kv-installed" | grep -q 'NEEDED.*\[libsochdb.so.0\]' || { echo "not linked to the soname"; return 1; }
  LD_LIBRARY_PATH="$prefix/lib" "$tmp/kv-installed" "$tmp/ex-installed"
}
step "make install + pkg-config" install_check

echo "C suite totals (assertions and steps):"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
