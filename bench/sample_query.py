"""A query over the embedded sample data beside a DuckDB process: the engine cold, and on its warm server.

    python -m bench.sample_query --repeat 9
    python -m bench.sample_query --queries total_sales,cloudfront

Each run is its own process, timed from start to exit, the systems interleaved (this machine is
shared and noisy): DuckDB (``bench.duckrun``, the query over the same files), ``python -m engine
sql|hive`` on the lab's own script with ``ENGINE_SERVER=off`` (a cold process: its imports, then
the query), and the same command handed to a warm server (``engine.warm_server``) that this
benchmark starts on a socket of its own before the first run and stops after the last. Every
engine answer is checked against DuckDB's. Prints a Markdown table of medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from bench import queries
from bench.measure import compile_bytecode, warm_server
from bench.suite import ROOT, Runner

SAMPLE = ROOT / "data" / "sample"
#: The sample's queries, by name (``bench.queries``).
QUERIES: Dict[str, Callable[[], queries.Query]] = {
    "total_sales": lambda: queries.total_sales(SAMPLE / "tickit"),
    "top_buyers": lambda: queries.top_buyers(SAMPLE / "tickit"),
    "percentile": lambda: queries.percentile(SAMPLE / "tickit"),
    "cloudfront": lambda: queries.cloudfront_os(SAMPLE / "cloudfront" / "data"),
}
SYSTEMS = ("duckdb", "engine-sql cold", "engine-sql warm")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", default="total_sales,top_buyers,percentile")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="sq-", dir="/tmp") as tmp:  # a short path: a socket's
        cold = Runner(600, Path(tmp))
        cold.env["ENGINE_SERVER"] = "off"
        warm = Runner(600, Path(tmp))
        warm.env["ENGINE_SERVER"] = "on"
        warm.env["ENGINE_SERVER_SOCKET"] = os.path.join(tmp, "s", "server.sock")
        with warm_server(warm.env) as check_served:
            rows = [_measure(name, QUERIES[name](), cold, warm, args) for name in args.queries.split(",")]
            check_served(len(rows) * (args.repeat + 1))
    print()
    print(f"{args.workers} workers / DuckDB threads; median of {args.repeat} runs, interleaved")
    print()
    print("| query | system | seconds | × DuckDB |")
    print("| --- | --- | ---: | ---: |")
    for name, medians in rows:
        for system in SYSTEMS:
            print(
                f"| {name} | {system} | {medians[system]:.2f} | {medians[system] / medians['duckdb']:.2f} |"
            )
    return 0


def _measure(name: str, query: queries.Query, cold: Runner, warm: Runner, args: Any) -> tuple:
    times: Dict[str, List[float]] = {s: [] for s in SYSTEMS}
    for round_ in range(args.repeat + 1):  # round 0: the answers checked, not timed
        m, want, _ = cold.duckdb(query, args.workers)
        if m.returncode:
            raise SystemExit(f"duckdb failed on {name}: {m.stderr.decode()[-2000:]}")
        results = {"duckdb": m}
        agrees = query.sql_agrees or (lambda a, b: a == b)
        for system, runner in (("engine-sql cold", cold), ("engine-sql warm", warm)):
            m, got = runner.sql(query, args.workers)
            if m.returncode or not agrees(got, want):
                raise SystemExit(
                    f"{system} on {name}: status {m.returncode}, rows {got!r}, DuckDB's {want!r}\n"
                    + m.stderr.decode()[-2000:]
                )
            results[system] = m
        if round_:
            for system, m in results.items():
                times[system].append(m.seconds)
    medians = {s: statistics.median(t) for s, t in times.items()}
    print(f"{name}: " + ", ".join(f"{s} {v:.2f} s" for s, v in medians.items()), flush=True)
    return name, medians


if __name__ == "__main__":
    raise SystemExit(main())
