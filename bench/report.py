"""The suite's reports: a Markdown section for bench/RESULTS.md, a PNG chart, JSON."""

from __future__ import annotations

import math
import os
import platform
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.queries import Query

MiB = 2**20
LABELS = {
    "engine": "engine (record)",
    "engine-vec": "engine (vectorized)",
    "engine-sql": "engine (SQL)",
    "engine-sql-warm": "engine (SQL, warm server)",
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


def markdown(
    command,
    machine,
    versions,
    args,
    qs: list[Query],
    workers,
    cells,
    twins,
    mrjob_for,
    mem,
    elapsed,
    sql_for: dict[str, str | None] | None = None,
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
                peak = (
                    "n/a"
                    if s == "engine-sql-warm"
                    else f"{cell.peak_pss / MiB:.0f} ({cell.peak_rss / MiB:.0f})"
                )
                out.append(
                    f"| {q.name} | {LABELS[s]} | {w} | {med:.2f} "
                    f"| {min(cell.times):.2f}–{max(cell.times):.2f} "
                    f"| {ratio} | {_fmt_rate(q.rows / med)} | {q.bytes / 1e6 / med:.1f} "
                    f"| {peak} |"
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
    out += sql_markdown(qs, workers, cells, sql_for)
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
            limit = mem.pss_limit
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


SqlRatio = tuple[str, float, "float | None", "float | None", "float | None"]


def sql_ratios(qs: list[Query], workers, cells, system: str = "engine-sql") -> list[SqlRatio]:
    """Per query *system* (engine-sql or engine-sql-warm) ran on (at the largest worker count):
    (query, its median s, ÷ DuckDB's, ÷ the hand-written job's record path, ÷ its vectorized
    twin) -- None where that has no median."""
    wmax = workers[-1]
    out = []
    for q in qs:
        cell = cells.get((q.name, system, wmax))
        med = cell.median() if cell else None
        if not med:
            continue
        others = []
        for s in ("duckdb", "engine", "engine-vec"):
            c = cells.get((q.name, s, wmax))
            m = c.median() if c else None
            others.append(med / m if m else None)
        out.append((q.name, med, *others))
    return out


def sql_markdown(qs: list[Query], workers, cells, sql_for: dict[str, str | None] | None) -> list[str]:
    """Lines on engine-sql (and engine-sql-warm): its time over DuckDB's and the hand-written
    job's, and where it did not run."""
    out: list[str] = []

    def r(x: float | None) -> str:
        return f"{x:.2f}" if x else "–"

    for system in ("engine-sql", "engine-sql-warm"):
        ratios = sql_ratios(qs, workers, cells, system)
        if not ratios:
            continue
        how = "" if system == "engine-sql" else " handed to a warm server (`python -m engine server`)"
        out += [
            "",
            f"{LABELS[system]}, the labs' own SQL text compiled by the engine's SQL front end{how}, at "
            f"{workers[-1]} worker(s): its median wall time ÷ DuckDB's and ÷ the hand-written job's on the "
            "same engine (record path; vectorized twin).",
            "",
            f"| query | {LABELS[system]} median s | ÷ DuckDB | ÷ engine (record) | ÷ engine (vectorized) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        out += [f"| {n} | {m:.2f} | {r(d)} | {r(e)} | {r(v)} |" for n, m, d, e, v in ratios]
    why = {q.name: sql_for[q.name] for q in qs if sql_for and sql_for.get(q.name)}
    if why and any(w != "not in --systems" for w in why.values()):
        out += ["", "engine (SQL) was not run on " + "; ".join(f"{n} ({w})" for n, w in why.items()) + "."]
    return out


def append(path: Path, text: str) -> None:
    if not path.exists() or not path.read_text().strip():
        path.write_text(HEADER)
    with open(path, "a") as f:
        f.write(text)


def as_json(command, qs, workers, cells, twins, mem) -> dict[str, Any]:
    return {
        "command": command,
        "workers": workers,
        "queries": {
            q.name: {"title": q.title, "rows": q.rows, "bytes": q.bytes, "twin": twins[q.name]} for q in qs
        },
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


def _short(n: float) -> str:
    """455000 -> 455k, 10400000 -> 10.4M (figures for a chart's labels)."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            text = f"{n / div:.1f}" if n < 10 * div else f"{n / div:.0f}"
            return text.removesuffix(".0") + unit
    return f"{n:.0f}"


def _secs(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s" if x < 100 else f"{x:.0f} s"


def _ratio(x: float) -> str:
    return f"{x:.2f}×" if x < 1 else f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def _geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def machine_line(machine: dict[str, str] | None = None) -> str:
    """'2 cores, AMD EPYC, Linux-6.1-x86_64' (cores from os.cpu_count(), the rest from platform)."""
    machine = machine or {}
    cores = machine.get("cores") or str(os.cpu_count())
    cpu = machine.get("cpu") or platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.machine()}".strip()
    ram = machine.get("ram")
    return f"{cores} cores, {cpu}" + (f", {ram} RAM" if ram and ram != "?" else "") + f", {system}"


def speedups(qs: list[Query], workers, cells, system: str) -> dict[str, list[float]]:
    """Per query, the speed-up of *system* at each worker count over its first (None: no median)."""
    out = {}
    for q in qs:
        meds = [c.median() if (c := cells.get((q.name, system, w))) else None for w in workers]
        if meds[0] and all(meds):
            out[q.name] = [meds[0] / m for m in meds]
    return out


def _systems(qs: list[Query], cells, workers: int) -> list[str]:
    """The timed systems (besides DuckDB) that ran some query at *workers*, in table order."""
    systems = ("engine", "engine-vec", "engine-sql", "engine-sql-warm", "inline", "local")
    return [s for s in systems if any((q.name, s, workers) in cells for q in qs)]


def summary(qs: list[Query], workers, cells, twins, mem=None) -> str:
    """A compact table for the terminal: each system's median wall time ÷ DuckDB's at the largest
    worker count, DuckDB's own seconds, and (with several worker counts) each system's scaling."""
    wmax = workers[-1]
    systems = _systems(qs, cells, wmax)
    width = max([len("query"), *(len(q.name) for q in qs)])
    head = f"{'query':<{width}}  {'DuckDB':>8}" + "".join(f"  {s:>10}" for s in systems)
    lines = [
        f"Median wall time ÷ DuckDB's at {wmax} worker(s)/thread(s) (lower is better; DuckDB: seconds):",
        head,
    ]
    for q in qs:
        duck = cells.get((q.name, "duckdb", wmax))
        duck_med = duck.median() if duck else None
        row = f"{q.name:<{width}}  {(_secs(duck_med) if duck_med else 'VOID'):>8}"
        for s in systems:
            cell = cells.get((q.name, s, wmax))
            if s == "engine-vec" and not twins.get(q.name, True):
                text = "no twin"
            elif cell is None:
                text = "–"
            elif cell.errors:
                text = "VOID"
            elif duck_med and cell.median():
                text = _ratio(cell.median() / duck_med)
            else:
                text = "–"
            row += f"  {text:>10}"
        lines.append(row)
    lines.append(
        "engine = record path (--no-vectorize), engine-vec = vectorized twin, engine-sql = the labs' SQL "
        "compiled by the engine (engine-sql-warm: on a warm server), inline/local = mrjob's runners"
    )
    if len(workers) > 1:
        parts = []
        for s in ("duckdb", "engine", "engine-vec"):
            ups = speedups(qs, workers, cells, s)
            if ups:
                parts.append(f"{LABELS[s]} {_geomean([u[-1] for u in ups.values()]):.2f}×")
        if parts:
            lines.append(
                f"Speed-up {workers[0]}→{wmax} workers (geometric mean over queries): " + ", ".join(parts)
            )
    void = sorted(f"{q} {s} w={w}: {c.errors[0]}" for (q, s, w), c in cells.items() if c.errors)
    if void:
        lines.append("VOID (failed or wrong answer): " + "; ".join(void))
    if mem is not None:
        void_mem = bool(getattr(mem, "errors", None))
        lines.append("Memory-bound run: " + ("VOID, see above" if void_mem else "figures in the full report"))
    return "\n".join(lines)


OUT_HEADER = """# Benchmark report: one run

Written by the run itself (and rewritten by the next one); `--record` appends the same
section to the tracked bench/RESULTS.md. Wall times include process start-up; every answer
was checked equal to DuckDB's before its time counted.
"""


def write(path: Path, text: str) -> Path:
    """*text* (one run's section) as a Markdown file of its own, replacing what was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OUT_HEADER + text)
    return path


COLORS = {
    "engine": "#4c78a8",
    "engine-vec": "#54a24b",
    "engine-sql": "#b279a2",
    "engine-sql-warm": "#9d755d",
    "inline": "#f58518",
    "local": "#e45756",
    "duckdb": "#555555",
}
#: a legend under an axes' tick labels and x label (padding in font sizes, whatever the height)
_BELOW_AXIS = {
    "loc": "upper center",
    "bbox_to_anchor": (0.5, 0),
    "borderaxespad": 4.2,
    "frameon": False,
    "fontsize": 8.5,
}
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85}
NICE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def chart(path: Path, *args: Any, **kwargs: Any) -> Path | None:
    """Draw :func:`figure` (same arguments) to the PNG *path*; None (and no file) without
    matplotlib."""
    fig = figure(*args, **kwargs)
    if fig is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def figure(
    qs: list[Query],
    workers,
    cells,
    twins,
    command,
    machine: dict[str, str] | None = None,
    repeat: int | None = None,
):
    """The run as one matplotlib Figure (None without matplotlib). Left: each system's median
    wall time ÷ DuckDB's per query at the largest worker count, as bars from the 1× line (DuckDB)
    labelled with the ratio and the seconds, whiskers min–max over the timed runs. Right, with
    several worker counts: each system's speed-up over the smallest count (geometric mean over
    the queries) beside the ideal line. The title names the data sizes, the worker counts and
    the machine."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    except ImportError:
        return None
    wmax = workers[-1]
    systems = _systems(qs, cells, wmax)
    scaling = len(workers) > 1
    n_bars = sum(1 for q in qs for s in systems if (q.name, s, wmax) in cells) + len(qs)
    height = max(5.5, 0.24 * n_bars + 3.0)
    fig = Figure(figsize=(15 if scaling else 11, height), layout="constrained")
    if scaling:
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
    else:
        ax1 = fig.subplots()

    # left: wall time ÷ DuckDB's, one group of bars per query
    slot = 0.8 / max(1, len(systems))
    lows, highs = [1.0], [1.0]
    labelled: set[str] = set()
    for j, q in enumerate(qs):
        duck = cells.get((q.name, "duckdb", wmax))
        duck_med = duck.median() if duck else None
        placed = [s for s in systems if (q.name, s, wmax) in cells]
        for i, s in enumerate(placed):
            y = j + (i - (len(placed) - 1) / 2) * slot
            cell = cells[(q.name, s, wmax)]
            if not duck_med or cell.errors or not cell.median():
                why = (cell.errors or (duck.errors if duck else None) or ["no DuckDB time"])[0]
                void = f"{LABELS[s]}: VOID ({why})"
                ax1.text(1.04, y, void, va="center", fontsize=8, color="#b00020", bbox=_LABEL_BOX)
                continue
            med = cell.median()
            ratio = med / duck_med
            lo, hi = min(cell.times) / duck_med, max(cell.times) / duck_med
            lows.append(lo)
            highs.append(hi)
            ax1.barh(  # from the 1× line: left of it faster than DuckDB, right of it slower
                y,
                ratio - 1,
                left=1,
                height=slot * 0.9,
                color=COLORS[s],
                label=None if s in labelled else LABELS[s],
                zorder=2,
            )
            labelled.add(s)
            if len(cell.times) > 1:
                ax1.errorbar(
                    ratio, y, xerr=[[ratio - lo], [hi - ratio]], fmt="none", ecolor="#222222",
                    elinewidth=1, capsize=3, zorder=3,
                )
            text = f"{_ratio(ratio)}  {_secs(med)}"
            x, ha = (max(hi, 1) * 1.05, "left") if ratio >= 1 else (min(lo, 1) / 1.05, "right")
            ax1.text(x, y, text, va="center", ha=ha, fontsize=8.5, zorder=4, bbox=_LABEL_BOX)
    # room for the labels beside the bars: about a factor of 3 on a log axis
    # and the 1× line never at an edge: at least 0.5× to 2× shown
    lo_lim = min(min(lows) / (3.2 if min(lows) < 1 else 1.6), 0.4)
    hi_lim = max(max(highs) * (3.2 if max(highs) > 1 else 1.6), 2.5)
    ax1.set_xscale("log")
    ax1.set_xlim(lo_lim, hi_lim)
    ticks = [t for t in NICE_RATIOS if lo_lim <= t <= hi_lim]
    ax1.xaxis.set_major_locator(FixedLocator(ticks))
    ax1.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax1.xaxis.set_minor_locator(NullLocator())
    ax1.grid(axis="x", color="#dddddd", zorder=0)
    ax1.axvline(1, color=COLORS["duckdb"], lw=2, zorder=3, label="DuckDB = 1×")
    top = -0.95  # headroom above the first bars for the 1× line's label
    ax1.text(
        1,
        (top - 0.5) / 2,
        "← faster     DuckDB = 1×     slower →",
        ha="center",
        va="center",
        fontsize=9,
        color="#333333",
        bbox={"facecolor": "white", "edgecolor": "#999999", "boxstyle": "round,pad=0.3"},
        zorder=5,
    )
    if lo_lim < 1.5 < hi_lim:
        ax1.axvline(1.5, color=COLORS["duckdb"], lw=1, ls="--", zorder=1, label="target: vectorized ≤ 1.5×")
    ylabels = []
    for q in qs:
        duck = cells.get((q.name, "duckdb", wmax))
        duck_med = duck.median() if duck else None
        label = f"{q.title}\n{_short(q.rows)} rows, {q.bytes / 1e6:.0f} MB" if q.bytes >= 1e6 else (
            f"{q.title}\n{_short(q.rows)} rows, {q.bytes / 1e3:.0f} kB"
        )
        label += f"\nDuckDB {_secs(duck_med)}" if duck_med else "\nDuckDB: VOID"
        if not twins.get(q.name, True):
            label += "\n(no vectorized twin)"
        ylabels.append(label)
    ax1.set_yticks(range(len(qs)), ylabels, fontsize=9)
    ax1.set_ylim(len(qs) - 0.5, top)
    ax1.set_xlabel(
        f"median wall time ÷ DuckDB's at {wmax} worker(s) / thread(s)  (log scale; left of 1× = faster)"
    )
    if repeat == 1:
        how = "bar: 1 timed run each (no whiskers: --repeat 1)"
    else:
        how = f"bar: median of {repeat or 'the'} timed runs, whisker: min–max"
    ax1.set_title(f"Time relative to DuckDB · {how}", fontsize=10)
    ax1.legend(**_BELOW_AXIS, ncol=3)

    # right: speed-up over the smallest worker count, one line per system
    if scaling:
        markers = {"duckdb": "s", "engine": "o", "engine-vec": "D"}
        for s in ("duckdb", "engine", "engine-vec"):
            ups = speedups(qs, workers, cells, s)
            if not ups:
                continue
            curves = list(ups.values())
            mean = [_geomean([c[k] for c in curves]) for k in range(len(workers))]
            label = f"{LABELS[s]}: {mean[-1]:.2f}× at {wmax} ({len(ups)} queries)"
            ax2.plot(workers, mean, marker=markers[s], color=COLORS[s], lw=2, label=label)
        ideal = [w / workers[0] for w in workers]
        ax2.plot(workers, ideal, color="black", lw=1, ls="--", label="ideal (linear)")
        ax2.set_xticks(workers)
        ax2.set_xlim(workers[0] - 0.1 * (wmax - workers[0]), wmax + 0.1 * (wmax - workers[0]))
        ax2.set_ylim(bottom=0)
        ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax2.grid(color="#eeeeee")
        ax2.set_xlabel("workers (engine) / threads (DuckDB)")
        ax2.set_ylabel(f"speed-up over {workers[0]} worker(s)")
        ax2.set_title("Scaling: speed-up, geometric mean over the queries", fontsize=10)
        ax2.legend(**_BELOW_AXIS, ncol=1)

    sizes = ", ".join(f"{q.name} {_short(q.rows)} rows" for q in qs)
    lines = [
        f"mr-engine vs DuckDB at workers {', '.join(map(str, workers))} — data: {sizes}",
        f"machine: {machine_line(machine)} — {time.strftime('%Y-%m-%d')}",
    ]
    width = 150 if scaling else 110
    title = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.suptitle(title, fontsize=10.5)
    fig.supxlabel(textwrap.shorten(command, 200), fontsize=7.5, color="#666666")
    return fig
