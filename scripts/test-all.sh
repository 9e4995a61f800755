#!/usr/bin/env bash
# Runs every test suite in turn and ends with one summary line: "N passed, M failed".
# Each suite still prints its own runner's summary (cargo test, go test, pytest).
set -u
cd "$(dirname "$0")/.."

suites=(lint rust c)
[ -f bindings/go/go.mod ] && suites+=(go)
[ -f bindings/python/pyproject.toml ] && suites+=(python)
[ -x bench/run.sh ] && suites+=(bench)

passed=0
failed=0
failed_names=()
for s in "${suites[@]}"; do
  echo "=== suite: $s ==="
  start=$(date +%s)
  case "$s" in
    lint) make --no-print-directory lint ;;
    rust) make --no-print-directory test-rust ;;
    c) make --no-print-directory test-c ;;
    go) make --no-print-directory test-go ;;
    python) make --no-print-directory test-python ;;
    bench) make --no-print-directory test-bench ;;
  esac
  rc=$?
  echo "=== suite $s: exit $rc in $(( $(date +%s) - start ))s ==="
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$s"); fi
done
[ $failed -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
