#!/usr/bin/env bash
# The benchmark harness: SochDB against RocksDB, LMDB and SQLite through their C APIs.
#
#   bash bench/run.sh            full run: 1M keys, median of 3 runs; writes bench/out/,
#                                bench/results.png and the results section of
#                                bench/README.md
#   bash bench/run.sh --quick    a few seconds per engine: checks that every engine runs
#                                every workload correctly (no timing is judged)
#   --no-socket                  leaves out the socket-mode comparison (full run)
#
# Any further arguments go to kvbench (see `bench/build/kvbench --help`), for example
# `--engines rocksdb,lmdb` or `--keys 10000000`. The last line printed is
# "N passed, M failed", counting engine x workload runs; the exit status is non-zero
# when a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
socket=1
args=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --no-socket) socket=0 ;;
    *) args+=("$a") ;;
  esac
done

bash bench/setup.sh

out=bench/out
[ $quick -eq 1 ] && out=bench/out/quick
build=bench/build
mkdir -p "$out" "$build"

bash bench/build.sh >/dev/null

if [ $quick -eq 1 ]; then
  opts=(--keys 20000 --reps 1 --seconds 0.2 --reopen-keys 20000 --timeout 30)
  png="$out/results.png"
  readme=()
else
  opts=(--keys 1000000 --reps 3 --seconds 2 --reopen-keys 500000)
  png=bench/results.png
  readme=(--readme bench/README.md)
fi

runs="$out/runs.jsonl"
rm -f "$runs"
rm -rf "$out/data"
status=0
load_before=$(cut -d' ' -f1 /proc/loadavg)
"$build/kvbench" "${opts[@]}" --dir "$out/data" --out "$runs" ${args[@]+"${args[@]}"} \
  >"$out/summary.txt" || status=$?
rm -rf "$out/data"

# Socket mode: `cargo bench --bench socket` drives `sochdb serve` and Redis the same
# way and prints a table per run; the full run repeats it and the report folds the
# tables in. (Quick mode leaves it out: building the bench target alone takes longer
# than the whole quick run; the lint suite compiles it.)
socket_tables=()
if [ $quick -eq 0 ] && [ $socket -eq 1 ] && [ -f bench/socket.rs ]; then
  socket_passed=0
  socket_failed=0
  for rep in 1 2 3; do
    table="$out/socket-$rep.md"
    if cargo bench --bench socket >"$table" 2>"$out/socket-$rep.err"; then
      socket_tables+=(--socket-table "$table")
      socket_passed=$((socket_passed + 1))
    else
      echo "bench: cargo bench --bench socket failed (run $rep); see $out/socket-$rep.err" >&2
      socket_failed=$((socket_failed + 1))
      status=1
    fi
  done
  echo "$socket_passed passed, $socket_failed failed" >>"$out/summary.txt"
fi

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(findmnt -n -o FSTYPE -T "$out" 2>/dev/null || stat -f -c %T "$out")
load_after=$(cut -d' ' -f1 /proc/loadavg)
machine="$(nproc) cores ($cpu), $mem RAM, Linux $(uname -r), $fs; load average $load_before before the run, $load_after after"

if [ -s "$runs" ]; then
  /usr/bin/python3 bench/report.py --runs "$runs" --json "$out/results.json" \
    --md "$out/results.md" --png "$png" --machine "$machine" ${readme[@]+"${readme[@]}"} \
    ${socket_tables[@]+"${socket_tables[@]}"}
  echo "bench: wrote $out/results.json, $out/results.md and $png" >&2
fi

# One line for everything: the sum of kvbench's and the socket runs' counts.
summary=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ {p += $1; f += $3; n++}
  END {if (n >= 1) print p " passed, " f " failed"}' "$out/summary.txt")
if [ -z "$summary" ]; then
  summary="0 passed, 1 failed"
  status=1
fi
echo "$summary"
exit $status
