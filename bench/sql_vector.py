"""Compiled SQL on its Arrow form beside DuckDB: AMPLab queries 1-3 over text and Parquet.

    python -m bench.sql_vector --uservisits 10000000 --repeat 3 --record-max-rows 1000000
    python -m bench.sql_vector --queries 1A,2A,2C,3A,3C,J

Each system is its own process, timed from start to exit, the runs interleaved (this machine is
shared and noisy): DuckDB (``bench.duckrun``, ``--workers`` threads, the query over the same
files), ``python -m engine sql`` on the query's Arrow form (``engine.sql.vector``), and, up to
``--record-max-rows``, the same compiled query with ``--no-vectorize`` (the record form). Text is
the AMPLab generator's comma-separated part files read as Hive tables (``data.amplab.hive_ddl``;
rankings has a tenth of uservisits' rows); Parquet is the same rows written by DuckDB (a file a
table, row groups of 1M rows), read with ``--table``. The join of query 3 is broadcast where
rankings' files are at most Hive's 25 MB, else shuffled (``engine.sql.vector.ShuffledJoin``).
Query ``J`` (``MORE_QUERIES``) joins every visit to its page, a join no filter makes selective: the
broadcast hash index's probe, or the shuffled join's reduce side, at 10M rows. Query ``M`` regroups
2A's rows in a stage that has no Arrow form: that stage runs on the record form, the scan on Arrow.
Every engine answer is checked against DuckDB's (the same rows by their first column, each number
within 1e-9). With ``--warm``, the same command also runs handed to a warm server
(``engine.warm_server``, started on a socket of this run's own and stopped at its end): "engine-sql
warm"; its peak memory is not measured (the command's process is the server's child, not the
client's).
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

from bench.measure import compile_bytecode, run_measured, warm_server
from data import amplab

TABLES = ("rankings", "uservisits")
#: Queries beside AMPLab's (``data.amplab.VARIANTS``), by name.
MORE_QUERIES = {
    "J": "SELECT COUNT(*), SUM(R.pageRank) FROM Rankings AS R JOIN UserVisits AS UV "
    "ON R.pageURL = UV.destURL",
    # 2A, then its prefixes regrouped by a LIKE of a computed pattern, which has no Arrow
    # kernel yet: stage 1 on Arrow, stage 2 on the record form (the per-stage fallback)
    "M": "SELECT CASE WHEN p LIKE CONCAT(SUBSTR(p, 1, 1), '%9%') THEN 'y' ELSE 'n' END, SUM(r) "
    "FROM (SELECT SUBSTR(sourceIP, 1, 8) AS p, SUM(adRevenue) AS r FROM uservisits "
    "GROUP BY SUBSTR(sourceIP, 1, 8)) q GROUP BY CASE WHEN p LIKE CONCAT(SUBSTR(p, 1, 1), '%9%') "
    "THEN 'y' ELSE 'n' END",
}
#: DuckDB's rows of a query whose top row may tie (``_check``).
TIES = 10


def _prepare(base: Path, rows: int, files: int) -> Path:
    """The text tables (generated once per row count) and a Parquet file of each, beside them."""
    if not (base / "uservisits").is_dir():
        amplab.generate(base, rankings=max(1000, rows // 10), uservisits=rows, seed=0, files=files)
    for table in TABLES:
        parquet = base / f"{table}.parquet"
        if not parquet.exists():
            import duckdb

            con = duckdb.connect()
            source = amplab.duckdb_read_sql(amplab.part_files(base, table), table)
            tmp = parquet.with_suffix(".tmp")
            con.execute(f"COPY (SELECT * FROM {source}) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
            os.replace(tmp, parquet)
    return base


def _commands(base: Path, fmt: str, sql: str, workers: int, scratch: Path) -> Dict[str, List[str]]:
    py = sys.executable
    if fmt == "text":
        sources = {t: amplab.duckdb_read_sql(amplab.part_files(base, t), t) for t in TABLES}
        script = scratch / "query.sql"
        script.write_text(amplab.hive_ddl(base) + "\n" + sql + ";\n")
        engine = [py, "-m", "engine", "sql", "--dialect", "hive", "-f", str(script)]
    else:
        sources = {t: f"read_parquet('{base / f'{t}.parquet'}')" for t in TABLES}
        engine = [py, "-m", "engine", "sql", "-c", sql]
        for t in TABLES:
            engine += ["--table", f"{t}={base / f'{t}.parquet'}"]
    spec = scratch / f"duck-{fmt}.json"
    # query 3's top row may tie: DuckDB gives its top ten, of which the engine's must be one (_check)
    duck_sql = sql.replace("LIMIT 1", f"LIMIT {TIES}")
    spec.write_text(
        json.dumps([*(f"CREATE VIEW {t} AS SELECT * FROM {s}" for t, s in sources.items()), duck_sql])
    )
    engine += ["--format", "tsv", "--quiet", "--num-cores", str(workers)]
    return {
        "duckdb": [py, "-m", "bench.duckrun", str(workers), str(spec)],
        "engine-sql": engine,
        "engine-sql warm": engine,
        "engine-sql --no-vectorize": [*engine, "--no-vectorize"],
    }


def _env(system: str, socket: str) -> Dict[str, str]:
    """A system's environment: engine-sql warm's names the warm server's socket, the others none."""
    if system == "engine-sql warm":
        return {**os.environ, "ENGINE_SERVER_SOCKET": socket, "ENGINE_SERVER": "on"}
    return {**os.environ, "ENGINE_SERVER": "off"}


def _answer(system: str, stdout: bytes) -> Dict[str, List[float]]:
    """Each row's numbers by its first column (a URL, an IP or its prefix: unique in each answer)."""
    if system == "duckdb":
        rows = [[str(r[0]), *r[1:]] for r in json.loads(stdout)["rows"]]
    else:
        rows = [line.split("\t") for line in stdout.decode().splitlines()]
    return {r[0]: [float(v) for v in r[1:]] for r in rows}


def _check(got: Dict[str, List[float]], want: Dict[str, List[float]], what: str, top: bool) -> None:
    """*got* has *want*'s rows; or, for a *top* query (ORDER BY ... LIMIT 1), its row is one of
    DuckDB's top rows (``TIES``) with the top row's first number: any of a tie is right."""
    if top:
        first = next(iter(want.values()))
        ((k, v),) = got.items()
        if k not in want or not math.isclose(v[0], first[0], rel_tol=1e-9, abs_tol=1e-9):
            raise SystemExit(f"{what}: row {k!r} {v!r} is not DuckDB's top row {first!r}")
        want = {k: want[k]}
    if got.keys() != want.keys():
        raise SystemExit(f"{what}: {len(got)} rows, DuckDB has {len(want)}")
    for k, v in want.items():
        if len(got[k]) != len(v) or not all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(got[k], v)
        ):
            raise SystemExit(f"{what}: row {k!r} is {got[k]!r}, DuckDB says {v!r}")


def _run_all(
    args: argparse.Namespace, base: Path, queries: Dict[str, str], scratch: Path, socket: str
) -> List[Tuple[str, str, str, float, float, int]]:
    """Every query on every format, the systems interleaved: (format, query, system, median
    seconds, × DuckDB, peak bytes) each."""
    results: List[Tuple[str, str, str, float, float, int]] = []
    for fmt in args.formats.split(","):
        for name, sql in queries.items():
            commands = _commands(base, fmt, sql, args.workers, scratch)
            if args.uservisits > args.record_max_rows:
                commands.pop("engine-sql --no-vectorize")
            if not args.warm:
                commands.pop("engine-sql warm")
            times: Dict[str, List[float]] = {s: [] for s in commands}
            peaks: Dict[str, int] = {}
            want: Dict[str, List[float]] = {}
            for round_ in range(args.repeat + 1):  # round 0: memory sampled, answers checked
                for system, argv_ in commands.items():
                    env = _env(system, socket)
                    m = run_measured(argv_, env=env, sample_memory=round_ == 0, timeout=3600)
                    if m.returncode:
                        raise SystemExit(f"{system} failed on {name} ({fmt}): {m.stderr.decode()[-2000:]}")
                    if round_ == 0:
                        peaks[system] = m.peak_pss or m.peak_rss
                        answer = _answer(system, m.stdout)
                        if system == "duckdb":
                            want = answer
                        else:
                            _check(answer, want, f"{system} on {name} ({fmt})", "LIMIT 1" in sql)
                    else:
                        times[system].append(m.seconds)
            duck = statistics.median(times["duckdb"])
            for system, ts in times.items():
                med = statistics.median(ts)
                results.append((fmt, name, system, med, med / duck, peaks[system]))
            print(
                f"{fmt} {name}: " + ", ".join(f"{s} {statistics.median(t):.2f} s" for s, t in times.items())
            )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uservisits", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="text,parquet")
    ap.add_argument(
        "--queries",
        default="1A,2A,2C,3A",
        help="AMPLab variants (data.amplab.VARIANTS), or J, M (MORE_QUERIES)",
    )
    ap.add_argument("--record-max-rows", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "bench-amplab"))
    ap.add_argument("--warm", action="store_true", help="also run each query on a warm server")
    args = ap.parse_args(argv)
    compile_bytecode()
    base = Path(args.data_dir) / f"uv{args.uservisits}"
    _prepare(base, args.uservisits, args.files)
    queries = {v: MORE_QUERIES.get(v) or amplab.VARIANTS[v] for v in args.queries.split(",")}
    with tempfile.TemporaryDirectory(prefix="sv-", dir="/tmp") as tmp:  # short: a socket's path
        scratch = Path(tmp)
        socket = str(scratch / "s" / "server.sock")
        if not args.warm:
            results = _run_all(args, base, queries, scratch, socket)
        else:
            with warm_server(_env("engine-sql warm", socket)) as check_served:
                results = _run_all(args, base, queries, scratch, socket)
                check_served(sum(1 for r in results if r[2] == "engine-sql warm") * (args.repeat + 1))
    print()
    setup = f"{args.workers} workers / DuckDB threads; median of {args.repeat}"
    print(f"uservisits rows: {args.uservisits:,}; {setup}")
    print()
    print("| format | query | system | seconds | × DuckDB | peak memory (MiB) |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for fmt, name, system, med, ratio, peak in results:
        memory = f"{peak / 2**20:.0f}" if system != "engine-sql warm" else "n/a"
        print(f"| {fmt} | {name} | {system} | {med:.2f} | {ratio:.2f} | {memory} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
