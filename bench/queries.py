"""The benchmark's queries: each one an mrjob job file and the same query for DuckDB.

A query knows its inputs (the same files for every system), the job's arguments, the
DuckDB statements (views over the same files, then the query, with the tie-breaks that
``tests/test_lab_jobs.py`` adds to the original SQL), and how to turn the job's output
lines and DuckDB's rows into one comparable Python value.

DuckDB reads the files through views, as a DuckDB user would query them (no table is
materialised first); the views are ``data/duckdb_sql.py``'s loaders' SELECTs (same
``read_csv`` options, same types, same RegexSerDe emulation, all derived from the tables'
facts in ``jobs/``), restricted to the tables the query reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from data import duckdb_sql
from data.duckdb_sql import _sql_str, percentile_sql, top_buyers_sql
from jobs.cloudfront_os_requests import HIVE_TABLE
from jobs.tickit_schema import TABLES

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Query:
    """One benchmark query over one data set."""

    name: str  # short id: wordcount, cloudfront, top_buyers, total_sales, percentile
    title: str
    job: Path  # the job file, run through its command line
    job_args: list[str]
    inputs: list[Path]
    duckdb_sql: list[str]  # setup statements, then the query (last)
    from_job: Callable[[list[tuple[Any, Any]]], Any]  # parsed output pairs -> answer
    from_duckdb: Callable[[list[list[Any]]], Any]  # DuckDB's rows (JSON-decoded) -> answer
    rows: int = 0  # input records (lines of text), for throughput
    bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def job_class(self) -> type:
        """The job's class, imported from its file (to see whether it has a vector twin)."""
        from engine.jobfile import job_class_in_file

        return job_class_in_file(str(self.job), None)

    def has_twin(self) -> bool:
        return callable(getattr(self.job_class(), "vector_steps", None))


def parse_pairs(stdout: bytes) -> list[tuple[Any, Any]]:
    """The job's output lines as (key, value), JSON-decoded (as tests/test_lab_jobs.py does)."""
    pairs = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        key, value = line.split(b"\t", 1)
        pairs.append((json.loads(key), json.loads(value)))
    return pairs


def _tuples(rows):
    return [tuple(r) for r in rows]


# ---------------------------------------------------------------------- DuckDB views


def _tickit_view(table: str, path: Path) -> str:
    """``CREATE VIEW`` reading one TICKIT text file as ``duckdb_sql.load_tickit`` does."""
    return f'CREATE OR REPLACE VIEW "{table}" AS {duckdb_sql.tickit_text_sql(table, path)}'


def _tickit_parquet_view(table: str, path: Path) -> str:
    return f'CREATE OR REPLACE VIEW "{table}" AS {duckdb_sql.tickit_parquet_sql(path)}'


def _cloudfront_view(lines: str, columns: tuple[str, ...] | None = None) -> str:
    """``cloudfront_logs`` as a view over ``lines``: ``duckdb_sql.load_cloudfront``'s SELECT."""
    return f"CREATE OR REPLACE VIEW {HIVE_TABLE} AS {duckdb_sql.cloudfront_logs_sql(lines, columns)}"


#: Word count in SQL: the job's ``[\w']+`` on str (Unicode letters, digits, ``_``, ``'``),
#: lower-cased per word, as ``jobs/wordcount.py``'s mapper does.
WORDCOUNT_SQL = (
    "SELECT word, count(*) FROM (SELECT lower(unnest(regexp_extract_all(line, '[\\p{{L}}\\p{{N}}_'']+')))"
    " AS word FROM read_csv({src}, delim = {delim}, header = false, quote = '', escape = '',"
    " auto_detect = false, columns = {{'line': 'VARCHAR'}})) GROUP BY word"
)

#: ``line.split()`` word count (the memory-bound job, tests/jobs/mr_no_combiner_count.py)
#: and the size of its map output: one ``"word"\\t1\\n`` line per word (JSON protocol).
SPLIT_COUNT_SQL = (
    "SELECT word, count(*) FROM (SELECT unnest(string_split_regex(trim(line), '\\s+')) AS word"
    " FROM read_csv({src}, delim = {delim}, header = false, quote = '', escape = '',"
    " auto_detect = false, columns = {{'line': 'VARCHAR'}})) WHERE word <> '' GROUP BY word"
)


def _text_src(paths: list[Path]) -> dict[str, str]:
    return {"src": "[" + ", ".join(_sql_str(p) for p in paths) + "]", "delim": _sql_str(chr(1))}


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


# --------------------------------------------------------------------------- queries


def wordcount(words_dir: Path) -> Query:
    inputs = [words_dir / "words.txt"]
    return Query(
        name="wordcount",
        title="word count",
        job=ROOT / "jobs" / "wordcount.py",
        job_args=[],
        inputs=inputs,
        duckdb_sql=[WORDCOUNT_SQL.format(**_text_src(inputs))],
        from_job=lambda pairs: sorted(pairs),
        from_duckdb=lambda rows: sorted(_tuples(rows)),
    )


def no_combiner_count(words_dir: Path) -> Query:
    """The memory-bound query: whitespace word count with no combiner (one record per word)."""
    inputs = [words_dir / "words.txt"]
    return Query(
        name="no_combiner_count",
        title="word count without a combiner",
        job=ROOT / "tests" / "jobs" / "mr_no_combiner_count.py",
        job_args=[],
        inputs=inputs,
        duckdb_sql=[SPLIT_COUNT_SQL.format(**_text_src(inputs))],
        from_job=lambda pairs: sorted(pairs),
        from_duckdb=lambda rows: sorted(_tuples(rows)),
    )


def cloudfront_os(cf_dir: Path, fmt: str = "text") -> Query:
    if fmt == "parquet":
        inputs = [cf_dir / "parquet" / "part-0.parquet"]
        # the job joins a Parquet row back into its line with tabs (NULL -> ''), then parses it
        setup = _cloudfront_view(duckdb_sql.cloudfront_parquet_lines_sql(inputs[0]), ("dateobject", "os"))
    else:
        inputs = duckdb_sql.cloudfront_files(cf_dir)
        setup = _cloudfront_view(duckdb_sql.cloudfront_text_lines_sql(inputs))
    return Query(
        name="cloudfront",
        title="CloudFront OS counts",
        job=ROOT / "jobs" / "cloudfront_os_requests.py",
        job_args=[],
        inputs=list(inputs),
        duckdb_sql=[setup, duckdb_sql.HIVE_OS_REQUESTS_SQL],
        from_job=lambda pairs: sorted(pairs),
        from_duckdb=lambda rows: sorted(_tuples(rows)),
    )


def _tickit_query(
    name: str,
    title: str,
    job: str,
    tables: tuple[str, ...],
    sql: str,
    from_job,
    from_duckdb,
    tk_dir: Path,
    fmt: str,
) -> Query:
    if fmt == "parquet":
        inputs = [tk_dir / "parquet" / TABLES[t].parquet_file for t in tables]
        setup = [_tickit_parquet_view(t, p) for t, p in zip(tables, inputs)]
    else:
        inputs = [tk_dir / TABLES[t].file for t in tables]
        setup = [_tickit_view(t, p) for t, p in zip(tables, inputs)]
    return Query(
        name=name,
        title=title,
        job=ROOT / "jobs" / job,
        job_args=[],
        inputs=inputs,
        duckdb_sql=[*setup, sql],
        from_job=from_job,
        from_duckdb=from_duckdb,
    )


def top_buyers(tk_dir: Path, fmt: str = "text") -> Query:
    return _tickit_query(
        "top_buyers",
        "TICKIT top 10 buyers",
        "tickit_top_buyers.py",
        ("sales", "users"),
        top_buyers_sql(10),
        lambda pairs: [(k[0], k[1], v) for k, v in pairs],
        _tuples,
        tk_dir,
        fmt,
    )


def total_sales(tk_dir: Path, fmt: str = "text") -> Query:
    return _tickit_query(
        "total_sales",
        "TICKIT total sales on 2008-01-05",
        "tickit_total_sales.py",
        ("sales", "date"),
        duckdb_sql.TOTAL_SALES_ON_DATE_SQL,
        lambda pairs: [tuple(p) for p in pairs],
        lambda rows: [("2008-01-05", n) for (n,) in rows],
        tk_dir,
        fmt,
    )


def percentile(tk_dir: Path, fmt: str = "text") -> Query:
    return _tickit_query(
        "percentile",
        "TICKIT 99.9 percentile events",
        "tickit_percentile_events.py",
        ("sales", "event"),
        percentile_sql(),
        lambda pairs: [tuple(p) for p in pairs],
        _tuples,
        tk_dir,
        fmt,
    )


def finish(query: Query) -> Query:
    """Fill in the input size (records = text lines, or Parquet rows)."""
    from bench.datasets import count_lines

    query.bytes = _size(query.inputs)
    rows = 0
    for p in query.inputs:
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows += pq.ParquetFile(p).metadata.num_rows
        else:
            rows += count_lines([p])
    query.rows = rows
    return query
