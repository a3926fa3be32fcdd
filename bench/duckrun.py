"""DuckDB side of the benchmark, run as its own process so its time and memory compare with a job's.

    python -m bench.duckrun THREADS SPEC.json

SPEC.json is a list of SQL statements: views over the input files, then the query (last).
Prints one JSON object: ``{"rows": [...], "seconds": <connect to last row fetched>}``;
decimals are printed with two places and dates as ISO strings, as the jobs print them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
import time


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def main(argv: list[str]) -> int:
    threads, spec = int(argv[0]), argv[1]
    with open(spec) as f:
        statements = json.load(f)
    started = time.perf_counter()
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    for sql in statements[:-1]:
        con.execute(sql)
    rows = con.execute(statements[-1]).fetchall()
    seconds = time.perf_counter() - started
    json.dump({"rows": [list(r) for r in rows], "seconds": seconds}, sys.stdout, default=_plain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
