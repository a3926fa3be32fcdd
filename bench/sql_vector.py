"""Compiled SQL on its Arrow form beside DuckDB: AMPLab query 2 over text and Parquet.

    python -m bench.sql_vector --uservisits 10000000 --repeat 3 --record-max-rows 1000000

Each system is its own process, timed from start to exit, the runs interleaved (this machine is
shared and noisy): DuckDB (``bench.duckrun``, ``--workers`` threads, the query over the same
files), ``python -m engine sql`` on the query's Arrow form (``engine.sql.vector``), and, up to
``--record-max-rows``, the same compiled query with ``--no-vectorize`` (the record form). Text is
the AMPLab generator's comma-separated part files read as a Hive table (``data.amplab.hive_ddl``);
Parquet is the same rows written by DuckDB (one file, row groups of 1M rows), read with ``--table``.
Every engine answer is checked against DuckDB's (group count, and each group's sum within 1e-9).
Prints a Markdown table of medians and ratios to DuckDB, and the peak memory of each process tree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from bench.measure import run_measured
from data import amplab

QUERIES = {v: amplab.VARIANTS[v] for v in ("2A", "2C")}


def _prepare(base: Path, rows: int, files: int) -> Path:
    """The text tables (generated once per row count) and the uservisits Parquet file."""
    if not (base / "uservisits").is_dir():
        amplab.generate(base, rankings=max(1000, rows // 10), uservisits=rows, seed=0, files=files)
    parquet = base / "uservisits.parquet"
    if not parquet.exists():
        import duckdb

        con = duckdb.connect()
        source = amplab.duckdb_read_sql(amplab.part_files(base, "uservisits"), "uservisits")
        tmp = parquet.with_suffix(".tmp")
        con.execute(f"COPY (SELECT * FROM {source}) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
        os.replace(tmp, parquet)
    return parquet


def _commands(
    base: Path, parquet: Path, fmt: str, sql: str, workers: int, scratch: Path
) -> Dict[str, List[str]]:
    py = sys.executable
    if fmt == "text":
        source = amplab.duckdb_read_sql(amplab.part_files(base, "uservisits"), "uservisits")
        script = scratch / "query.sql"
        script.write_text(amplab.hive_ddl(base) + "\n" + sql + ";\n")
        engine = [py, "-m", "engine", "sql", "--dialect", "hive", "-f", str(script)]
    else:
        source = f"read_parquet('{parquet}')"
        engine = [py, "-m", "engine", "sql", "-c", sql, "--table", f"uservisits={parquet}"]
    spec = scratch / f"duck-{fmt}.json"
    spec.write_text(json.dumps([f"CREATE VIEW uservisits AS SELECT * FROM {source}", sql]))
    engine += ["--format", "tsv", "--quiet", "--num-cores", str(workers)]
    return {
        "duckdb": [py, "-m", "bench.duckrun", str(workers), str(spec)],
        "engine-sql": engine,
        "engine-sql --no-vectorize": [*engine, "--no-vectorize"],
    }


def _answer(system: str, stdout: bytes) -> Dict[str, float]:
    if system == "duckdb":
        return {k: float(v) for k, v in json.loads(stdout)["rows"]}
    out = {}
    for line in stdout.decode().splitlines():
        key, value = line.split("\t")
        out[key] = float(value)
    return out


def _check(got: Dict[str, float], want: Dict[str, float], what: str) -> None:
    if got.keys() != want.keys():
        raise SystemExit(f"{what}: {len(got)} groups, DuckDB has {len(want)}")
    for k, v in want.items():
        if not math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-9):
            raise SystemExit(f"{what}: group {k!r} sums to {got[k]!r}, DuckDB says {v!r}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uservisits", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="text,parquet")
    ap.add_argument("--record-max-rows", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "bench-amplab"))
    args = ap.parse_args(argv)
    base = Path(args.data_dir) / f"uv{args.uservisits}"
    parquet = _prepare(base, args.uservisits, args.files)
    results: List[Tuple[str, str, str, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for fmt in args.formats.split(","):
            for name, sql in QUERIES.items():
                commands = _commands(base, parquet, fmt, sql, args.workers, scratch)
                if args.uservisits > args.record_max_rows:
                    commands.pop("engine-sql --no-vectorize")
                times: Dict[str, List[float]] = {s: [] for s in commands}
                peaks: Dict[str, int] = {}
                want: Dict[str, float] = {}
                for round_ in range(args.repeat + 1):  # round 0: memory sampled, answers checked
                    for system, argv_ in commands.items():
                        m = run_measured(argv_, sample_memory=round_ == 0, timeout=3600)
                        if m.returncode:
                            raise SystemExit(
                                f"{system} failed on {name} ({fmt}): {m.stderr.decode()[-2000:]}"
                            )
                        if round_ == 0:
                            peaks[system] = m.peak_pss or m.peak_rss
                            answer = _answer(system, m.stdout)
                            if system == "duckdb":
                                want = answer
                            else:
                                _check(answer, want, f"{system} on {name} ({fmt})")
                        else:
                            times[system].append(m.seconds)
                duck = statistics.median(times["duckdb"])
                for system, ts in times.items():
                    med = statistics.median(ts)
                    results.append((fmt, name, system, med, med / duck, peaks[system]))
                print(
                    f"{fmt} {name}: "
                    + ", ".join(f"{s} {statistics.median(t):.2f} s" for s, t in times.items())
                )
    print()
    setup = f"{args.workers} workers / DuckDB threads; median of {args.repeat}"
    print(f"uservisits rows: {args.uservisits:,}; {setup}")
    print()
    print("| format | query | system | seconds | × DuckDB | peak memory (MiB) |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for fmt, name, system, med, ratio, peak in results:
        print(f"| {fmt} | {name} | {system} | {med:.2f} | {ratio:.2f} | {peak / 2**20:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
