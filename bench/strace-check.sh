#!/usr/bin/env bash
# Checks that each engine syncs where its durability label says it does.
#
#   bash bench/strace-check.sh [--engines a,b]
#
# For every engine and mode (1 writer sync, 1 writer buffered, 16 writers sync) kvbench
# runs the commit workload twice under `strace -f`, once with few and once with more
# commits; the difference between the two traces, divided by the difference in commits,
# gives the sync system calls (fsync, fdatasync, sync_file_range, msync) per commit,
# free of whatever opening, loading and closing cost. Writes through a descriptor opened
# with O_SYNC or O_DSYNC are synchronous too (LMDB writes its meta page that way); they
# are counted in a column of their own. Prints a Markdown table (also written to
# bench/out/strace.md).
set -euo pipefail
cd "$(dirname "$0")/.."

engines_arg=()
[ $# -ge 2 ] && [ "$1" = "--engines" ] && engines_arg=(--engines "$2")

bash bench/setup.sh
built=$(bash bench/build.sh)
engines=${engines_arg[1]:-$built}
engines=${engines//,/ }

out=bench/out
work=$(mktemp -d "${TMPDIR:-/tmp}/kvbench-strace.XXXXXX")
trap 'rm -rf "$work"' EXIT
few=100
more=300

trace() { # engine workload ops -> trace file and JSON line
  local tag="$1-${2//\//-}-$3"
  rm -rf "$work/data"
  strace -f -qq -o "$work/$tag.trace" \
    -e trace=openat,open,close,fsync,fdatasync,sync_file_range,msync,write,pwrite64,writev,pwritev,pwritev2 \
    bench/build/kvbench --engines "$1" --workloads "$2" --keys 20000 --ops "$3" --seconds 0 \
    --dir "$work/data" --out "$work/$tag.json" >/dev/null 2>"$work/$tag.err" || {
    echo "strace-check: $1 $2 failed:" >&2
    cat "$work/$tag.err" >&2
    exit 1
  }
}

rows=()
for e in $engines; do
  for w in commit_t1/sync commit_t1/buffered commit_t16/sync; do
    # --ops limits each thread: the 16-writer runs take fewer per thread.
    case "$w" in commit_t16/*) a=20 b=60 ;; *) a=$few b=$more ;; esac
    trace "$e" "$w" $a
    trace "$e" "$w" $b
    rows+=("$e $w $a $b")
  done
done

mkdir -p "$out"
/usr/bin/python3 - "$work" "${rows[@]}" <<'EOF' | tee "$out/strace.md"
import json, re, sys

work, rows = sys.argv[1], sys.argv[2:]
SYNC = {"fsync", "fdatasync", "sync_file_range", "msync"}
WRITE = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
line_re = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
unfinished_re = re.compile(r"^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>$")
resumed_re = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\d+)")


def calls(path):
    """(call, arguments, return value) of every finished call, joining the halves that
    strace -f splits when threads interleave."""
    pending = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = line_re.match(line)
            if m:
                yield m.group(2), m.group(3), int(m.group(4))
                continue
            m = unfinished_re.match(line)
            if m:
                pending[m.group(1)] = (m.group(2), m.group(3))
                continue
            m = resumed_re.match(line)
            if m:
                call, args = pending.pop(m.group(1), (m.group(2), ""))
                yield call, args + m.group(3), int(m.group(4))


def count(path):
    """Sync calls, and writes through O_SYNC/O_DSYNC descriptors, in one trace."""
    syncs = dsync_writes = 0
    dsync_fds = set()
    for call, args, ret in calls(path):
        if call in SYNC and ret >= 0:
            syncs += 1
        elif call in ("openat", "open") and ret >= 0:
            if "O_DSYNC" in args or "O_SYNC" in args:
                dsync_fds.add(ret)
            else:
                dsync_fds.discard(ret)
        elif call == "close":
            dsync_fds.discard(int(args.split(",")[0]) if args.strip().isdigit() else -1)
        elif call in WRITE and ret >= 0:
            fd = int(args.split(",")[0])
            if fd in dsync_fds:
                dsync_writes += 1
    return syncs, dsync_writes


def ops(path):
    with open(path) as f:
        return sum(json.loads(l)["ops"] for l in f if l.strip())


print("| engine | workload | durability | sync calls per commit | O_DSYNC writes per commit |")
print("|---|---|---|---|---|")
for row in rows:
    engine, wl, few, more = row.split(" ")
    name, dur = wl.split("/")
    tag = lambda n: f"{work}/{engine}-{name}-{dur}-{n}"
    s1, d1 = count(tag(few) + ".trace")
    s2, d2 = count(tag(more) + ".trace")
    n = ops(tag(more) + ".json") - ops(tag(few) + ".json")
    if n <= 0:
        sys.exit(f"strace-check: {engine} {wl}: no more commits in the longer run")
    print(f"| {engine} | {name} | {dur} | {(s2 - s1) / n:.2f} | {(d2 - d1) / n:.2f} |")
EOF
