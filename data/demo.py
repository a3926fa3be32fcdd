"""The labs' answers on the embedded sample: the engine's jobs next to DuckDB's SQL.

``python -m data.demo`` runs, on ``data/sample/``:

1. the Redshift TICKIT lab's challenge -- ``jobs/tickit_challenge.py`` on the engine and
   the original SQL in DuckDB -- printed side by side;
2. the EMR Hive tutorial's query -- ``jobs/cloudfront_os_requests.py`` on the engine and
   the Hive script's SELECT in DuckDB (over the same RegexSerDe reading) -- as OS counts.

Exits 1 if any answer differs (or is empty), 0 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

import duckdb

from data import duckdb_sql
from jobs.tickit_schema import TABLES

SAMPLE = Path(__file__).resolve().parent / "sample"


def run_job(job_class: type, args: Sequence[str]) -> List[tuple]:
    """Run ``job_class`` with ``-r engine`` on ``args``; return its output as (key, value)."""
    job = job_class(args=["-r", "engine", *args])
    with job.make_runner() as runner:
        runner.run()
        return list(job.parse_output(runner.cat_output()))


def _table(left_title: str, left: Sequence[str], right_title: str, right: Sequence[str]) -> str:
    width = max([len(left_title)] + [len(s) for s in left])
    lines = [f"  {left_title:<{width}}  | {right_title}", f"  {'-' * width}--+-{'-' * len(right_title)}"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append(f"  {a:<{width}}  | {b}")
    return "\n".join(lines)


def challenge(sample: Path) -> bool:
    from jobs.tickit_challenge import MRTickitChallenge

    tickit = sample / "tickit"
    t0 = time.perf_counter()
    engine_rows = [
        (first, last) for first, last in run_job(MRTickitChallenge, [str(tickit / TABLES["users"].file)])
    ]
    t_engine = time.perf_counter() - t0
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, tickit)
    sql_rows = duckdb_sql.run_query(con, duckdb_sql.CHALLENGE_SQL)
    # The SQL has no ORDER BY: show (and compare) both ordered by lastname, firstname.
    sql_rows.sort(key=lambda r: (r[1], r[0]))
    agree = bool(engine_rows) and sorted(engine_rows) == sorted(sql_rows)
    print("Redshift TICKIT lab, the challenge:")
    print(f"  {duckdb_sql.CHALLENGE_SQL}")
    print(
        _table(
            f"engine: jobs/tickit_challenge.py ({t_engine:.1f}s)",
            [f"{a} {b}" for a, b in engine_rows],
            "DuckDB: the SQL above",
            [f"{a} {b}" for a, b in sql_rows],
        )
    )
    print(f"  {len(engine_rows)} rows; {'the answers agree' if agree else 'THE ANSWERS DIFFER'}\n")
    return agree


def cloudfront(sample: Path) -> bool:
    from jobs.cloudfront_os_requests import MRCloudFrontOSRequests

    logs = sample / "cloudfront" / "data"
    t0 = time.perf_counter()
    engine_counts = dict(run_job(MRCloudFrontOSRequests, [str(p) for p in duckdb_sql.cloudfront_files(logs)]))
    t_engine = time.perf_counter() - t0
    con = duckdb.connect()
    duckdb_sql.load_cloudfront(con, logs)
    sql_counts = dict(duckdb_sql.run_query(con, duckdb_sql.HIVE_OS_REQUESTS_SQL))
    agree = bool(engine_counts) and engine_counts == sql_counts
    print("EMR Hive tutorial, requests per OS (CloudFront logs):")
    print(f"  {duckdb_sql.HIVE_OS_REQUESTS_SQL}")
    print(
        f"  {'os':<10}{'engine':>8}{'DuckDB':>8}   (engine: jobs/cloudfront_os_requests.py, {t_engine:.1f}s)"
    )
    for os_name in sorted(set(engine_counts) | set(sql_counts), key=str):
        e, s = engine_counts.get(os_name, "-"), sql_counts.get(os_name, "-")
        print(f"  {os_name!s:<10}{e!s:>8}{s!s:>8}")
    total = sum(engine_counts.values())
    print(f"  {total} requests; {'the answers agree' if agree else 'THE ANSWERS DIFFER'}")
    return agree


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m data.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE, help="sample directory (default data/sample)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mrjob.conf").setLevel(logging.ERROR)  # "No configs specified ..."
    ok = challenge(args.sample)
    ok = cloudfront(args.sample) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
