#!/usr/bin/env python3
"""Turns kvbench's JSON lines into results.json, a Markdown report and a PNG chart.

    report.py --runs RUNS.jsonl --json OUT.json --md OUT.md [--png OUT.png]
              [--readme README.md] [--machine TEXT]

Every figure is the median over the repetitions of a run, with the spread (min-max)
shown; every SochDB figure is also given as a ratio to each peer, computed repetition by
repetition (the same run's numbers) and then taken at the median. With --readme, the
part of README.md between the results markers is replaced by the Markdown report.
"""

import argparse
import json
import statistics
import sys
from collections import OrderedDict

ENGINE_ORDER = ["sochdb", "rocksdb", "lmdb", "sqlite", "redis", "raw"]
SUBJECT = "sochdb"
# Not an engine: pwrite + fdatasync of one record per commit, the device's floor.
FLOOR = "raw"
BEGIN_MARK = "<!-- results:begin -->"
END_MARK = "<!-- results:end -->"

# Workload order in the tables and the chart, and what a row's latency measures.
WORKLOAD_NOTES = OrderedDict(
    [
        ("fill_seq", "bulk load in key order, 1000 puts per commit; latency per commit"),
        ("fill_random", "bulk load in random order, 1000 puts per commit; latency per commit"),
        ("overwrite", "every key rewritten in random order, 1000 per commit; latency per commit"),
        ("read_hit", "random get of a present key"),
        ("read_miss", "random get of an absent key"),
        ("seek_next10", "seek to a random key, then 10 next"),
        ("scan", "every key in order; ops = entries"),
        ("commit_t1", "one put per commit, 1 thread"),
        ("commit_t16", "one put per commit, 16 threads"),
        ("rmw_t4", "transaction: read 2 random keys, write both; 4 threads"),
        ("read_while_writing", "random gets by 1 thread while 1 thread puts"),
        ("reopen", "open after SIGKILL with a memtable's worth in the log"),
    ]
    + [
        (f"socket_{op}_c{c}_p{p}",
         f"{op.upper()} over a Unix socket, {c} client{'s' if c > 1 else ''}, "
         f"{'no pipelining' if p == 1 else f'pipeline depth {p}'}")
        for op in ("get", "put")
        for c in (1, 16, 50)
        for p in (1, 16)
    ]
)
ENGINE_NOTES = OrderedDict(
    [
        (FLOOR, "not an engine: pwrite + fdatasync of one 116-byte record per commit into a "
                "pre-written file, the device's floor for a durable commit"),
    ]
)

# The goals: (workload, durability, peer or None for best peer, minimum ratio,
# what is compared).
GOALS = [
    ("commit_t1", "sync", None, 1.0, "durable commits, 1 writer: >= best peer"),
    ("commit_t1", "sync", FLOOR, 0.9, "durable commits, 1 writer: >= 0.9x raw pwrite+fdatasync"),
    ("commit_t16", "sync", "rocksdb", 1.5, "durable commits, 16 writers: >= 1.5x RocksDB"),
    ("fill_random", "none", "rocksdb", 1.5, "fill random (bulk): >= 1.5x RocksDB"),
    ("read_hit", "read", "lmdb", 1.0, "random read hit: >= LMDB"),
    ("seek_next10", "read", "lmdb", 1.0, "seek + 10 next: >= LMDB"),
]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load_runs(path):
    runs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"report.py: {path}:{n}: not JSON: {e}")
    return runs


def load_socket_tables(paths):
    """Rows of `cargo bench --bench socket` tables (one table per repetition), as runs.

    A table row is: op | clients | pipeline | SochDB ops/s | p50 µs | p99 µs |
    Redis ops/s | p50 µs | p99 µs | SochDB / Redis; "-" where a side did not run."""
    import subprocess

    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        redis_version = next((p[2:] for p in out.split() if p.startswith("v=")), "")
    except OSError:
        redis_version = ""
    runs = []
    for rep, path in enumerate(paths, 1):
        with open(path) as f:
            for line in f:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) != 10 or cells[0] not in ("GET", "PUT"):
                    continue
                op, clients, depth = cells[0].lower(), int(cells[1]), int(cells[2])
                for engine, version, (ops, p50, p99) in (
                    ("sochdb", "serve", cells[3:6]),
                    ("redis", redis_version, cells[6:9]),
                ):
                    if ops == "-":
                        continue
                    runs.append({
                        "engine": engine, "version": version,
                        "workload": f"socket_{op}_c{clients}_p{depth}",
                        "durability": "sync" if op == "put" else "read",
                        "threads": clients, "rep": rep, "keys": None, "ok": True, "ops": None,
                        "ops_per_sec": float(ops), "p50_us": float(p50), "p99_us": float(p99),
                        "peak_rss_kb": 0, "note": "",
                    })
        if not any(r["rep"] == rep for r in runs):
            sys.exit(f"report.py: {path} holds no socket benchmark rows")
    return runs


def engine_key(e):
    return (ENGINE_ORDER.index(e) if e in ENGINE_ORDER else len(ENGINE_ORDER), e)


def workload_key(w):
    names = list(WORKLOAD_NOTES)
    return names.index(w) if w in names else len(names)


def durability_key(d):
    order = ["sync", "buffered", "none", "read"]
    return order.index(d) if d in order else len(order)


def aggregate(runs):
    """Groups runs by (workload, durability, engine) and summarises each group."""
    groups = OrderedDict()
    for r in runs:
        groups.setdefault((r["workload"], r["durability"], r["engine"]), []).append(r)
    rows = []
    for (w, d, e), rs in groups.items():
        ok = [r for r in rs if r["ok"]]
        rates = [r["ops_per_sec"] for r in ok if r.get("ops_per_sec") is not None]
        reopen = [r["reopen_ms"] for r in ok if r.get("reopen_ms") is not None]
        row = {
            "workload": w,
            "durability": d,
            "engine": e,
            "version": rs[0].get("version"),
            "threads": rs[0]["threads"],
            "keys": rs[0]["keys"],
            "runs": len(rs),
            "failed": len(rs) - len(ok),
            "notes": sorted({r["note"] for r in rs if r.get("note")}),
            "ops_per_sec": median(rates),
            "ops_per_sec_min": min(rates) if rates else None,
            "ops_per_sec_max": max(rates) if rates else None,
            "p50_us": median([r.get("p50_us") for r in ok]),
            "p99_us": median([r.get("p99_us") for r in ok]),
            "writer_ops_per_sec": median([r.get("writer_ops_per_sec") for r in ok]),
            "conflicts": median([r.get("conflicts") for r in ok]),
            "reopen_ms": median(reopen),
            "reopen_ms_min": min(reopen) if reopen else None,
            "reopen_ms_max": max(reopen) if reopen else None,
            "disk_per_live": median([r.get("disk_per_live") for r in ok]),
            "peak_rss_mib": median([r["peak_rss_kb"] / 1024 for r in ok]),
            "per_rep": {str(r["rep"]): r.get("ops_per_sec") for r in ok},
        }
        rows.append(row)
    rows.sort(
        key=lambda r: (workload_key(r["workload"]), r["workload"], durability_key(r["durability"]),
                       engine_key(r["engine"]))
    )
    # SochDB's ratio to each peer: per repetition, then the median.
    index = {(r["workload"], r["durability"], r["engine"]): r for r in rows}
    for r in rows:
        if r["engine"] != SUBJECT:
            continue
        r["ratio"] = {}
        for peer in ENGINE_ORDER[1:]:
            p = index.get((r["workload"], r["durability"], peer))
            if not p:
                continue
            if r["workload"] == "reopen":
                a, b = p.get("reopen_ms"), r.get("reopen_ms")
                r["ratio"][peer] = a / b if a and b else None
                continue
            ratios = [
                mine / p["per_rep"][rep]
                for rep, mine in r["per_rep"].items()
                if mine and p["per_rep"].get(rep)
            ]
            r["ratio"][peer] = median(ratios)
    return rows


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e4:
        return f"{x / 1e3:.0f} k"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt_us(x):
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x / 1000:.1f} ms"
    if x >= 10:
        return f"{x:.0f} µs"
    return f"{x:.1f} µs"


def fmt_ms(x):
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def fmt_num(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def throughput_table(rows):
    """Rows of ops/s, spread and latency, with SochDB's ratio to each peer present."""
    engines = sorted({r["engine"] for r in rows}, key=engine_key)
    peers = [e for e in engines if e != SUBJECT]
    has_subject = SUBJECT in engines
    out = []
    head = ["workload", "durability", "engine", "ops/s", "spread", "p50", "p99"]
    if has_subject:
        head += [f"SochDB / {p}" for p in peers]
    head.append("notes")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for r in rows:
        note = ""
        if r["failed"]:
            note = f"**{r['failed']} of {r['runs']} runs failed**: " + "; ".join(r["notes"])
        elif r["workload"] == "read_while_writing" and r["writer_ops_per_sec"]:
            note = f"writer {fmt_rate(r['writer_ops_per_sec'])}/s"
        elif r["workload"] == "rmw_t4" and r["conflicts"]:
            n = r["conflicts"]
            note = f"{n:.0f} conflict{'s' if n != 1 else ''} retried"
        spread = (
            f"{fmt_rate(r['ops_per_sec_min'])}-{fmt_rate(r['ops_per_sec_max'])}"
            if r["runs"] > 1 and r["ops_per_sec_min"] is not None
            else "-"
        )
        cells = [
            r["workload"],
            r["durability"],
            r["engine"],
            fmt_rate(r["ops_per_sec"]),
            spread,
            fmt_us(r["p50_us"]),
            fmt_us(r["p99_us"]),
        ]
        if has_subject:
            ratio = r.get("ratio", {})
            cells += [fmt_ratio(ratio.get(p)) if r["engine"] == SUBJECT else "" for p in peers]
        cells.append(note)
        out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(rows, machine):
    is_socket = lambda r: r["workload"].startswith("socket_")
    kv_rows = [r for r in rows if not is_socket(r)]
    engines = sorted({r["engine"] for r in kv_rows}, key=engine_key)
    has_subject = SUBJECT in engines
    reps = max((r["runs"] for r in kv_rows), default=0)
    keys = next((r["keys"] for r in kv_rows if r["keys"]), 0)
    versions = ", ".join(
        f"{e} {next(r['version'] for r in kv_rows if r['engine'] == e)}" for e in engines
    )
    redis = next((r["version"] for r in rows if r["engine"] == "redis"), None)
    if redis:
        versions += f"; socket mode: `sochdb serve` and redis {redis}"
    out = []
    out.append(
        f"{keys:,} keys of 16 bytes, 100-byte values; median of {reps} "
        f"run{'s' if reps != 1 else ''} (spread: min-max of ops/s). Engines: {versions}."
    )
    if machine:
        out.append(f"Machine: {machine}.")
    if not has_subject:
        out.append(
            "\nSochDB's rows are pending the C ABI (`include/sochdb.h`): the table shows the "
            "peers only, and the ratio columns appear once SochDB runs in the same harness."
        )
    out.append("")
    out += throughput_table([r for r in kv_rows if r["workload"] != "reopen"])
    out.append("")
    present = {r["workload"] for r in rows}
    out.append(
        "Workloads: "
        + "; ".join(f"`{w}`: {n}" for w, n in WORKLOAD_NOTES.items()
                    if w in present and not w.startswith("socket_"))
        + "."
    )
    for e, n in ENGINE_NOTES.items():
        if e in engines:
            out.append(f"`{e}`: {n}.")
    socket_rows = [r for r in rows if is_socket(r)]
    if socket_rows:
        out.append("")
        out.append("Socket mode:")
        out.append("")
        out += throughput_table(socket_rows)
        out.append("")
        out.append(
            "`socket_OP_cN_pM` (from `cargo bench --bench socket`, see below): GET or PUT "
            "(Redis SET) of 100-byte values over a Unix socket by N connections with M "
            "requests in flight each, random keys of a 10,000-key space all present before "
            "the GET rows; `sochdb serve` with its default sync-per-commit-group against "
            "`redis-server` with `appendonly yes`, `appendfsync always`. Latency of a "
            "pipelined request is its batch's round trip."
        )

    # Space, memory and reopen, one row per engine.
    out.append("")
    out.append(
        "| engine | disk / live bytes after fill_seq | after fill_random "
        "| after overwrite + compaction | reopen after crash | peak RSS (max over workloads) |"
    )
    out.append("|---|---|---|---|---|---|")
    idx = {(r["workload"], r["durability"], r["engine"]): r for r in rows}
    for e in [e for e in engines if any(idx.get((w, "none", e)) for w in ("fill_seq", "reopen"))
              or idx.get(("reopen", "buffered", e))]:
        def disk(w):
            r = idx.get((w, "none", e))
            return fmt_num(r["disk_per_live"]) if r else "-"

        ro = idx.get(("reopen", "buffered", e))
        reopen = "-"
        if ro and ro["reopen_ms"] is not None:
            reopen = fmt_ms(ro["reopen_ms"])
            if ro["runs"] > 1:
                reopen += f" ({fmt_ms(ro['reopen_ms_min'])}-{fmt_ms(ro['reopen_ms_max'])})"
        if ro and ro["failed"]:
            reopen += f" **{ro['failed']} failed**"
        rss = [r["peak_rss_mib"] for r in rows if r["engine"] == e and r["peak_rss_mib"]]
        out.append(
            f"| {e} | {disk('fill_seq')} | {disk('fill_random')} | {disk('overwrite')} "
            f"| {reopen} | {max(rss):.0f} MiB |" if rss else f"| {e} | - | - | - | - | - |"
        )

    # Peak resident memory per workload.
    out.append("")
    out.append("Peak resident memory (MiB) of the process running each workload:")
    out.append("")
    engines = [e for e in engines if e != FLOOR and any(
        r["engine"] == e and not r["workload"].startswith("socket_") for r in rows)]
    out.append("| workload | durability | " + " | ".join(engines) + " |")
    out.append("|---|---|" + "---|" * len(engines))
    seen = []
    for r in rows:
        if r["workload"].startswith("socket_"):
            continue
        k = (r["workload"], r["durability"])
        if k in seen:
            continue
        seen.append(k)
        cells = []
        for e in engines:
            x = idx.get((k[0], k[1], e))
            cells.append(fmt_num(x["peak_rss_mib"], 0) if x and x["peak_rss_mib"] else "-")
        out.append(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " |")

    # The goals of the benchmark issue.
    out.append("")
    if has_subject:
        out.append("Goals (SochDB's ratio in the same run):")
        out.append("")
        out.append("| goal | measured | met |")
        out.append("|---|---|---|")
        for w, d, peer, need, text in GOALS:
            r = idx.get((w, d, SUBJECT))
            ratios = (r or {}).get("ratio", {})
            if peer is None:
                vals = [v for p, v in ratios.items() if v is not None and p != FLOOR]
                got = min(vals) if vals else None
            else:
                got = ratios.get(peer)
            met = "-" if got is None else ("yes" if got >= need else "no")
            out.append(f"| {text} | {fmt_ratio(got)} | {met} |")
        one, many = idx.get(("commit_t1", "sync", SUBJECT)), idx.get(("commit_t16", "sync", SUBJECT))
        if one and many and one["ops_per_sec"] and many["ops_per_sec"]:
            got = many["ops_per_sec"] / one["ops_per_sec"]
            out.append(
                f"| durable commits, 16 writers: >= 10x SochDB's single writer | {fmt_ratio(got)} "
                f"| {'yes' if got >= 10 else 'no'} |"
            )
        mine, theirs = idx.get(("overwrite", "none", SUBJECT)), idx.get(("overwrite", "none", "rocksdb"))
        if mine and theirs and mine["disk_per_live"] and theirs["disk_per_live"]:
            out.append(
                f"| overwrite, disk bytes per live byte after compaction: <= RocksDB's "
                f"({theirs['disk_per_live']:.2f}) | {mine['disk_per_live']:.2f} "
                f"| {'yes' if mine['disk_per_live'] <= theirs['disk_per_live'] else 'no'} |"
            )
        ro = idx.get(("reopen", "buffered", SUBJECT))
        if ro and ro["reopen_ms"] is not None:
            out.append(
                f"| reopen after a crash with a full memtable: < 1 s | {fmt_ms(ro['reopen_ms'])} "
                f"| {'yes' if ro['reopen_ms'] < 1000 else 'no'} |"
            )
    return "\n".join(out) + "\n"


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = sorted({r["engine"] for r in rows}, key=engine_key)
    cats = []
    for r in rows:
        k = (r["workload"], r["durability"])
        if r["workload"] != "reopen" and not r["workload"].startswith("socket_") and k not in cats:
            cats.append(k)
    idx = {(r["workload"], r["durability"], r["engine"]): r for r in rows}
    engines = [e for e in engines if any((w, d, e) in idx for w, d in cats)]
    colors = {"sochdb": "#d62728", "rocksdb": "#1f77b4", "lmdb": "#2ca02c", "sqlite": "#9467bd",
              "redis": "#ff7f0e", FLOOR: "#7f7f7f"}
    width = 0.8 / max(len(engines), 1)
    fig, ax = plt.subplots(figsize=(max(10, 0.9 * len(cats)), 5.5), dpi=110)
    for j, e in enumerate(engines):
        xs, ys, lo, hi = [], [], [], []
        for i, k in enumerate(cats):
            r = idx.get((k[0], k[1], e))
            if not r or r["ops_per_sec"] is None:
                continue
            xs.append(i + (j - (len(engines) - 1) / 2) * width)
            ys.append(r["ops_per_sec"])
            lo.append(r["ops_per_sec"] - (r["ops_per_sec_min"] or r["ops_per_sec"]))
            hi.append((r["ops_per_sec_max"] or r["ops_per_sec"]) - r["ops_per_sec"])
        ax.bar(xs, ys, width, label=e, color=colors.get(e), yerr=[lo, hi], capsize=2,
               error_kw={"elinewidth": 0.8})
    ax.set_yscale("log")
    ax.set_ylabel("operations per second (log scale)")
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels([f"{w}\n{d}" for w, d in cats], rotation=45, ha="right", fontsize=8)
    keys = next((r["keys"] for r in rows if r["keys"]), 0)
    reps = max((r["runs"] for r in rows), default=0)
    ax.set_title(
        f"kvbench: {keys:,} keys (16 bytes), 100-byte values; "
        f"bars: median of {reps} run{'s' if reps != 1 else ''}, whiskers: min-max"
    )
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def update_readme(path, md):
    with open(path) as f:
        text = f.read()
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        sys.exit(f"report.py: {path} has no {BEGIN_MARK} ... {END_MARK} section")
    text = text[: start + len(BEGIN_MARK)] + "\n" + md + text[end:]
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--png")
    ap.add_argument("--readme")
    ap.add_argument("--machine", default="")
    ap.add_argument("--socket-table", action="append", default=[],
                    help="a table printed by `cargo bench --bench socket` (repeatable)")
    a = ap.parse_args()
    runs = load_runs(a.runs) + load_socket_tables(a.socket_table)
    if not runs:
        sys.exit(f"report.py: {a.runs} holds no runs")
    rows = aggregate(runs)
    with open(a.json, "w") as f:
        json.dump({"machine": a.machine, "rows": rows}, f, indent=1)
        f.write("\n")
    md = markdown(rows, a.machine)
    with open(a.md, "w") as f:
        f.write(md)
    if a.png:
        chart(rows, a.png)
    if a.readme:
        update_readme(a.readme, md)


if __name__ == "__main__":
    main()
