"""The suite's reports: a Markdown section for bench/RESULTS.md, a PNG chart, JSON."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.queries import Query

MiB = 2**20
LABELS = {
    "engine": "engine (record)",
    "engine-vec": "engine (vectorized)",
    "duckdb": "DuckDB",
    "inline": "mrjob -r inline",
    "local": "mrjob -r local",
}
HEADER = """# Benchmark results

Each section is one run of `python -m bench` (or `python -m bench.wordcount`), appended
by the run itself: the machine, the versions, the exact command, then the figures. Wall
times include process start-up (every system runs as its own process, as a user would
run it); every answer was checked equal to DuckDB's before its time counted. Compare
ratios within one section: the machine is shared and absolute times drift between runs.
"""


def _fmt_rate(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def _systems(cells, q: str, w: int) -> list[str]:
    return [s for s in LABELS if (q, s, w) in cells]


def markdown(
    command, machine, versions, args, qs: list[Query], workers, cells, twins, mrjob_for, mem, elapsed
) -> str:
    out = [
        "",
        f"## {time.strftime('%Y-%m-%d %H:%M')}: `{command}`",
        "",
        f"- Machine: {machine['cores']} cores, {machine['ram']} RAM, {machine['cpu']} ({machine['os']})",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Command: `{command}` ({args.repeat} timed run(s) per cell plus one memory-sampled run, "
        "interleaved; "
        f"suite took {elapsed / 60:.1f} min)",
        "- Data: "
        + "; ".join(
            f"{q.title}: {q.rows:,} rows, {q.bytes / 1e6:.1f} MB ({', '.join(p.name for p in q.inputs)})"
            for q in qs
        ),
        "",
        "`× DuckDB` is the median wall time over DuckDB's at the same worker/thread count (lower is "
        "better; 1.0 = as fast as DuckDB). Throughput is input rows (text lines) and input bytes "
        "per second of median wall time. Peak memory is the peak sum of PSS over the process tree "
        "(RSS sum in brackets, which counts pages shared by forked workers once per process), "
        "sampled every 20 ms in a separate, untimed run: sampling slows what it samples.",
        "",
        "| query | system | workers | median s | min–max s | × DuckDB | rows/s | MB/s | peak MiB PSS (RSS) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for q in qs:
        for w in workers:
            duck = cells.get((q.name, "duckdb", w))
            duck_med = duck.median() if duck else None
            for s in LABELS:
                if s == "engine-vec" and not twins[q.name]:
                    out.append(f"| {q.name} | {LABELS[s]} | {w} | no twin | | | | | |")
                    continue
                cell = cells.get((q.name, s, w))
                if cell is None:
                    continue
                if cell.errors:
                    out.append(f"| {q.name} | {LABELS[s]} | {w} | **VOID: {cell.errors[0]}** | | | | | |")
                    continue
                med = cell.median()
                ratio = f"{med / duck_med:.2f}" if duck_med else "–"
                out.append(
                    f"| {q.name} | {LABELS[s]} | {w} | {med:.2f} "
                    f"| {min(cell.times):.2f}–{max(cell.times):.2f} "
                    f"| {ratio} | {_fmt_rate(q.rows / med)} | {q.bytes / 1e6 / med:.1f} "
                    f"| {cell.peak_pss / MiB:.0f} ({cell.peak_rss / MiB:.0f}) |"
                )
    inner = [
        f"{q.name} {w}: {min(c.inner):.2f}"
        for q in qs
        for w in workers
        if (c := cells.get((q.name, "duckdb", w))) and c.inner
    ]
    if inner:
        out += [
            "",
            "DuckDB's time inside its process (connect → last row, s, best run): " + "; ".join(inner) + ".",
        ]
    skipped = [q.name for q in qs if not mrjob_for[q.name]]
    if skipped:
        out += [
            "",
            f"mrjob's runners were not run on {', '.join(skipped)}: they run on text inputs of fewer than "
            f"{args.mrjob_max_rows:,} rows (`--with-mrjob yes`: any size), never on Parquet (engine only).",
        ]

    if len(workers) > 1:
        out += [
            "",
            "Scaling: median wall seconds by workers (DuckDB: threads), and the speed-up from "
            f"{workers[0]} to "
            f"{workers[-1]}.",
            "",
            "| query | system | "
            + " | ".join(f"{w}" for w in workers)
            + f" | speed-up {workers[0]}→{workers[-1]} |",
            "| --- | --- | " + " | ".join("---:" for _ in workers) + " | ---: |",
        ]
        for q in qs:
            for s in ("engine", "engine-vec", "duckdb"):
                meds = [cells[(q.name, s, w)].median() if (q.name, s, w) in cells else None for w in workers]
                if all(m is None for m in meds):
                    continue
                first, last = meds[0], meds[-1]
                speed = f"{first / last:.2f}×" if first and last else "–"
                out.append(
                    f"| {q.name} | {LABELS[s]} | "
                    + " | ".join(f"{m:.2f}" if m else "–" for m in meds)
                    + f" | {speed} |"
                )

    wmax = workers[-1]
    targets = []
    for q in qs:
        if q.name not in ("wordcount", "cloudfront", "top_buyers"):
            continue
        duck = cells.get((q.name, "duckdb", wmax))
        vec = cells.get((q.name, "engine-vec", wmax))
        if not twins[q.name]:
            targets.append(f"{q.name}: no vectorized twin yet")
        elif duck and vec and duck.median() and vec.median():
            r = vec.median() / duck.median()
            verdict = "≤ 1.5×" if r <= 1.5 else "> 1.5×"
            if q.rows >= 10_000_000:
                targets.append(f"{q.name}: {r:.2f}× at {q.rows:,} rows — {'met' if r <= 1.5 else 'missed'}")
            else:
                targets.append(
                    f"{q.name}: {r:.2f}× ({verdict}) at only {q.rows:,} rows — not the target's size"
                )
    if targets:
        out += ["", f"Target vectorized ≤ 1.5× DuckDB ({wmax} workers): " + "; ".join(targets) + "."]

    if mem is not None:
        out += ["", "### Memory-bound run", ""]
        out.append(
            f"`tests/jobs/mr_no_combiner_count.py` (no combiner: every word is a record in the shuffle) on "
            f"{mem.text_bytes / 1e6:.0f} MB of text, {mem.records:,} map output records, "
            f"{mem.map_output_bytes / 2**20:.0f} MiB of map output = "
            f"{mem.map_output_bytes / mem.budget:.1f}× the budget (`--memory-budget {args.memory_budget}`), "
            f"{mem.workers} workers."
        )
        if mem.runs:
            pss = max(r[1] for r in mem.runs)
            rss = max(r[2] for r in mem.runs)
            secs = sorted(r[0] for r in mem.runs)
            limit = mem.budget + 300 * MiB
            out += [
                "",
                "| budget | peak PSS (tree) | peak RSS (tree sum) | budget + 300 MiB | target | wall s |",
                "| ---: | ---: | ---: | ---: | --- | ---: |",
                f"| {mem.budget / MiB:.0f} MiB | {pss / MiB:.0f} MiB | {rss / MiB:.0f} MiB "
                f"| {limit / MiB:.0f} MiB "
                f"| {'met' if pss <= limit else 'MISSED'} (PSS){'' if rss <= limit else '; RSS sum over'} "
                f"| {secs[len(secs) // 2]:.1f} |",
            ]
            if mem.summary:
                out += ["", "```", mem.summary, "```"]
        if mem.errors:
            out += ["", f"**Memory-bound run void: {'; '.join(mem.errors)}**"]
    return "\n".join(out) + "\n"


def append(path: Path, text: str) -> None:
    if not path.exists() or not path.read_text().strip():
        path.write_text(HEADER)
    with open(path, "a") as f:
        f.write(text)


def as_json(command, qs, workers, cells, twins, mem) -> dict[str, Any]:
    return {
        "command": command,
        "workers": workers,
        "queries": {q.name: {"rows": q.rows, "bytes": q.bytes, "twin": twins[q.name]} for q in qs},
        "cells": [
            {
                "query": q,
                "system": s,
                "workers": w,
                "times": c.times,
                "inner": c.inner,
                "peak_pss": c.peak_pss,
                "peak_rss": c.peak_rss,
                "errors": c.errors,
            }
            for (q, s, w), c in cells.items()
        ],
        "memory_bound": None
        if mem is None
        else {
            "budget": mem.budget,
            "map_output_bytes": mem.map_output_bytes,
            "records": mem.records,
            "runs": mem.runs,
            "errors": mem.errors,
        },
    }


def chart(path: Path, qs: list[Query], workers, cells, twins, command) -> Path | None:
    """Ratios to DuckDB (largest worker count) and the scaling curves; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    wmax = workers[-1]
    systems = [
        s for s in ("engine", "engine-vec", "inline", "local") if any((q.name, s, wmax) in cells for q in qs)
    ]
    colors = {
        "engine": "#1f77b4",
        "engine-vec": "#2ca02c",
        "inline": "#ff7f0e",
        "local": "#d62728",
        "duckdb": "#7f7f7f",
    }
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 7.5))

    # left: wall time / DuckDB's, per query and system
    height = 0.8 / max(1, len(systems))
    for i, s in enumerate(systems):
        ys, xs = [], []
        for j, q in enumerate(qs):
            cell, duck = cells.get((q.name, s, wmax)), cells.get((q.name, "duckdb", wmax))
            if cell and duck and cell.median() and duck.median():
                ys.append(j + (i - (len(systems) - 1) / 2) * height)
                xs.append(cell.median() / duck.median())
        bars = ax1.barh(ys, xs, height=height * 0.95, color=colors[s], label=LABELS[s])
        ax1.bar_label(bars, labels=[f"{x:.1f}×" for x in xs], fontsize=8, padding=2)
    ax1.set_xscale("log")
    ax1.axvline(1, color=colors["duckdb"], lw=1.5, label="DuckDB (= 1)")
    ax1.axvline(1.5, color=colors["duckdb"], lw=1, ls="--", label="target 1.5×")
    ticks = [f"{q.title}\n{q.rows:,} rows" + ("" if twins[q.name] else "\n(no vectorized twin)") for q in qs]
    ax1.set_yticks(range(len(qs)), ticks, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel(f"wall time ÷ DuckDB's, {wmax} workers / threads (log scale; lower is better)")
    ax1.set_title("Time relative to DuckDB")
    ax1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax1.set_xlim(right=ax1.get_xlim()[1] * 2)

    # right: speed-up from the smallest worker count
    styles = {"engine": "-", "engine-vec": "-.", "duckdb": ":"}
    markers = "osD^vP*X"
    for j, q in enumerate(qs):
        for s, ls in styles.items():
            meds = [(w, cells[(q.name, s, w)].median()) for w in workers if (q.name, s, w) in cells]
            meds = [(w, m) for w, m in meds if m]
            if len(meds) < 2:
                continue
            base = meds[0][1]
            ax2.plot(
                [w for w, _ in meds],
                [base / m for _, m in meds],
                ls=ls,
                marker=markers[j % len(markers)],
                color=colors[s],
                label=f"{q.name} · {LABELS[s]}",
                alpha=0.85,
            )
    ax2.plot(workers, [w / workers[0] for w in workers], color="black", lw=0.8, ls="--", label="ideal")
    ax2.set_xticks(workers)
    ax2.set_xlabel("workers (engine) / threads (DuckDB)")
    ax2.set_ylabel(f"speed-up over {workers[0]} worker(s)")
    ax2.set_title("Scaling")
    if len(workers) < 2:
        ax2.text(0.5, 0.5, "one worker count only\n(--workers 1,2,…)", ha="center", transform=ax2.transAxes)
    else:
        ax2.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    fig.suptitle(command, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
