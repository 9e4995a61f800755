#!/usr/bin/env bash
# Runs the reliability campaigns (docs/reliability.md) and prints their figures.
#
#   bash scripts/campaigns.sh                 quick: the scale the test suite runs
#   bash scripts/campaigns.sh --long          long: each campaign at its long scale
#   bash scripts/campaigns.sh --scale=N       every campaign at scale N
#   ... --update-doc                          also writes the figures into
#                                             docs/reliability.md (between its markers)
#   ... --only=NAME[,NAME]                    only these test files (e.g. power_loss)
#
# SOCHDB_CAMPAIGN_SEED=N replays a run; SOCHDB_CAMPAIGN_VERBOSE=1 prints more.
# Exit status: 0 when every campaign ran with zero violations.
set -euo pipefail
cd "$(dirname "$0")/.."

# Test file, then its scale in a long run (chosen so the whole long run takes about
# ten minutes on a loaded two-core machine).
campaigns=(
    "power_loss 40"
    "kernel_faults 20"
    "crash_campaign 40"
    "fuzz_campaign 40"
    "serializability 40"
    "server_hostility 10"
)

mode=quick
scale_all=""
update=0
only=""
for a in "$@"; do
    case "$a" in
        --long) mode=long ;;
        --scale=*) scale_all="${a#*=}"; mode="scale ${a#*=}" ;;
        --update-doc) update=1 ;;
        --only=*) only=",${a#*=}," ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done

cargo build --release --tests --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
started=$(date +%s)
for entry in "${campaigns[@]}"; do
    read -r test long <<<"$entry"
    if [[ -n "$only" && "$only" != *",$test,"* ]]; then
        continue
    fi
    case "$mode" in
        quick) scale=1 ;;
        long) scale=$long ;;
        *) scale=$scale_all ;;
    esac
    t0=$(date +%s)
    set +e
    SOCHDB_CAMPAIGN_SCALE=$scale cargo test --release --quiet --test "$test" -- \
        --nocapture --test-threads=1 >"$out/$test.log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s)
    # The test harness may print its progress on the same line before a summary.
    grep -oE 'campaign [a-z_]+: [a-z_]+=.*violations=[0-9]+' "$out/$test.log" \
        | sed "s/\$/ seconds=$((t1 - t0))/" \
        | tee -a "$out/figures" || true
    if [[ $rc -ne 0 ]]; then
        failed=1
        echo "== $test failed (scale $scale); its output:" >&2
        grep -v '^sochdb: ' "$out/$test.log" | tail -40 >&2
    fi
done
total=$(( $(date +%s) - started ))
echo "campaigns: $mode run in ${total} s, $( [[ $failed -eq 0 ]] && echo 'no violations' || echo 'FAILURES above')"

if [[ $update -eq 1 ]]; then
    python3 - "$out/figures" "$mode" "$total" <<'EOF'
import re, sys, datetime, platform, os
figures, mode, total = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(figures):
    m = re.match(r'campaign ([a-z_]+): (.*)$', line.strip())
    if not m:
        continue
    pairs = dict(kv.split('=', 1) for kv in m.group(2).split())
    secs = pairs.pop('seconds', '?')
    viol = pairs.pop('violations', '?')
    text = ', '.join(f'{k.replace("_", " ")} {int(v):,}' for k, v in pairs.items())
    rows.append(f'| {m.group(1)} | {text} | {viol} | {secs} |')
when = datetime.date.today().isoformat()
cpus = os.cpu_count()
table = '\n'.join([
    f'Run: {mode}, {when}, {cpus} cores ({platform.machine()}, Linux {platform.release()}), '
    f'{total} s in all (seconds per test file, shared by the campaigns in it).',
    '',
    '| campaign | figures | violations | seconds |',
    '|---|---|---|---|',
    *rows,
])
path = 'docs/reliability.md'
doc = open(path).read()
start, end = '<!-- figures:start -->', '<!-- figures:end -->'
if start not in doc or end not in doc:
    sys.exit(f'{path} lacks the figure markers')
head, rest = doc.split(start, 1)
_, tail = rest.split(end, 1)
open(path, 'w').write(f'{head}{start}\n{table}\n{end}{tail}')
print(f'wrote the figures into {path}')
EOF
fi
exit $failed
