"""The benchmark's queries: each one an mrjob job file and the same query for DuckDB.

A query knows its inputs (the same files for every system), the job's arguments, the
DuckDB statements (views over the same files, then the query, with the tie-breaks that
``tests/test_lab_jobs.py`` adds to the original SQL), and how to turn the job's output
lines and DuckDB's rows into one comparable Python value.

DuckDB reads the files through views, as a DuckDB user would query them (no table is
materialised first); the views are ``data/duckdb_sql.py``'s loaders' SELECTs (same
``read_csv`` options, same types, same RegexSerDe emulation, all derived from the tables'
facts in ``jobs/``), restricted to the tables the query reads.

A query the labs wrote in SQL also knows how ``engine-sql`` runs it: the lab's own script
text on ``python -m engine sql``/``hive`` (``-r engine``), each run in a scratch directory of
its own (``Query.sql``), its rows turned into the same comparable value (``Query.from_sql``).
The TICKIT queries run as ``sql/tickit_lab.sql`` has them: its DDL and its seven COPY
commands, their paths pointed at the benchmark's files, then the one query, its text
unchanged (``lab_script``); the CloudFront query runs the EMR tutorial's script
``emr/Hive_CloudFront.q`` itself, ``-d INPUT=`` a directory of links to the benchmark's logs
and ``-d OUTPUT=`` the scratch directory, whose Hive text files are read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from data import duckdb_sql
from data.duckdb_sql import _sql_str, percentile_sql, top_buyers_sql
from jobs.cloudfront_os_requests import HIVE_TABLE
from jobs.tickit_schema import TABLES

ROOT = Path(__file__).resolve().parent.parent
LAB_SQL = ROOT / "sql" / "tickit_lab.sql"  # the Redshift lab's script
HIVE_SCRIPT = ROOT / "emr" / "Hive_CloudFront.q"  # the EMR tutorial's Hive script
LAB_PATH_PREFIX = "'data/sample/tickit/"  # the lab's COPY paths start so (the embedded sample)

#: ``--with-sql auto`` runs engine-sql only on inputs of fewer rows than these (seconds to half a
#: minute a run on 2 cores): the SQL path reads and evaluates rows one at a time in Python,
#: ~0.1 ms a TICKIT row and ~35 µs a CloudFront line (``engine.sql.regex_serde`` splits the
#: tutorial's lines on tabs instead of backtracking through its regex, 1-4 ms a line).
SQL_AUTO_MAX_ROWS = {"tickit": 250_000, "cloudfront": 1_000_000}

#: The comment line above each lab query in sql/tickit_lab.sql, by benchmark query name.
LAB_QUERY_COMMENTS = {
    "total_sales": "-- Find total sales on a given calendar date.",
    "top_buyers": "-- Find top 10 buyers by quantity.",
    "percentile": "-- Find events in the 99.9 percentile in terms of all time gross sales.",
}


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
    # engine-sql (None: no SQL text for this query, or not on these inputs): sql(scratch)
    # writes what the run needs under the empty directory scratch and returns the arguments
    # of ``python -m engine``; from_sql(stdout, scratch) turns what the run wrote into the answer
    sql: Callable[[Path], list[str]] | None = None
    from_sql: Callable[[bytes, Path], Any] | None = None
    sql_max_rows: int = 0  # --with-sql auto: run engine-sql only below this many input rows
    # is engine-sql's answer right, given DuckDB's (None: equal); where the lab's original text
    # leaves the order of ties open and DuckDB runs a tie-broken variant
    sql_agrees: Callable[[Any, Any], bool] | None = None

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


# ---------------------------------------------------------------------- engine-sql


def lab_query(name: str) -> str:
    """The lab's query *name* (``LAB_QUERY_COMMENTS``) as sql/tickit_lab.sql writes it, up to its ``;``."""
    text = LAB_SQL.read_text()
    comment = LAB_QUERY_COMMENTS[name]
    if comment not in text:
        raise ValueError(f"{LAB_SQL}: no line {comment!r}")
    body = text.split(comment, 1)[1]
    return body[: body.index(";") + 1].strip()


def lab_script(tk_dir: Path, name: str) -> str:
    """sql/tickit_lab.sql's DDL and COPY commands, their paths pointed at *tk_dir*, then the
    lab's query *name*: the lab's own text, nothing else changed."""
    head = LAB_SQL.read_text().split("-- The challenge", 1)[0]
    if head.count(LAB_PATH_PREFIX) != len(TABLES):
        raise ValueError(f"{LAB_SQL}: expected {len(TABLES)} COPY paths starting {LAB_PATH_PREFIX}")
    head = head.replace(LAB_PATH_PREFIX, "'" + str(Path(tk_dir).resolve()) + "/")
    return f"{head.rstrip()}\n\n{lab_query(name)}\n"


def _plain_sql_value(value: Any) -> Any:
    """A value of engine-sql's JSON lines as ``bench/duckrun.py`` prints DuckDB's (decimals: 2 places)."""
    return f"{value:.2f}" if isinstance(value, Decimal) else value


def parse_jsonl_rows(stdout: bytes) -> list[list[Any]]:
    """``python -m engine sql --format jsonl``'s rows, values in column order (decimals exact)."""
    return [
        [_plain_sql_value(v) for v in json.loads(line, parse_float=Decimal).values()]
        for line in stdout.splitlines()
        if line.strip()
    ]


def _tickit_sql(name: str, tk_dir: Path) -> Callable[[Path], list[str]]:
    def argv(scratch: Path) -> list[str]:
        script = scratch / f"{name}.sql"
        script.write_text(lab_script(tk_dir, name))
        return ["sql", "--dialect", "redshift", "-f", str(script), "--format", "jsonl", "-q"]

    return argv


def hive_output_rows(directory: Path) -> list[list[str | None]]:
    """The rows of an ``INSERT OVERWRITE DIRECTORY``'s Hive text files (``\\x01``, NULL ``\\N``)."""
    parts = sorted(p for p in directory.iterdir() if p.name.endswith("_0"))
    if not (directory / "_SUCCESS").exists() or not parts:
        raise ValueError(f"{directory}: no committed Hive output")
    return [
        [None if f == "\\N" else f for f in line.split("\x01")]
        for p in parts
        for line in p.read_text(encoding="utf-8").splitlines()
    ]


def _cloudfront_sql(logs: list[Path]) -> tuple[Callable[[Path], list[str]], Callable[[bytes, Path], Any]]:
    """engine-sql of the CloudFront query: the tutorial's script, as the tutorial runs it."""

    def argv(scratch: Path) -> list[str]:
        data = scratch / "input" / "cloudfront" / "data"  # the script's LOCATION '${INPUT}/cloudfront/data'
        data.mkdir(parents=True)
        for log in logs:  # the logs alone (the benchmark's directory also holds parquet/)
            (data / log.name).symlink_to(log.resolve())
        return [
            "hive", "-f", str(HIVE_SCRIPT), "-d", f"INPUT={scratch / 'input'}",
            "-d", f"OUTPUT={scratch / 'output'}", "-q",
        ]  # fmt: skip

    def answer(stdout: bytes, scratch: Path) -> Any:
        rows = hive_output_rows(scratch / "output" / "os_requests")
        return sorted((os_name, int(count)) for os_name, count in rows)

    return argv, answer


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
    query = Query(
        name="cloudfront",
        title="CloudFront OS counts",
        job=ROOT / "jobs" / "cloudfront_os_requests.py",
        job_args=[],
        inputs=list(inputs),
        duckdb_sql=[setup, duckdb_sql.HIVE_OS_REQUESTS_SQL],
        from_job=lambda pairs: sorted(pairs),
        from_duckdb=lambda rows: sorted(_tuples(rows)),
    )
    if fmt == "text":  # the tutorial's table is a RegexSerDe over the text logs
        query.sql, query.from_sql = _cloudfront_sql(query.inputs)
        query.sql_max_rows = SQL_AUTO_MAX_ROWS["cloudfront"]
    return query


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
    sql_agrees: Callable[[Any, Any], bool] | None = None,
) -> Query:
    if fmt == "parquet":
        inputs = [tk_dir / "parquet" / TABLES[t].parquet_file for t in tables]
        setup = [_tickit_parquet_view(t, p) for t, p in zip(tables, inputs)]
    else:
        inputs = [tk_dir / TABLES[t].file for t in tables]
        setup = [_tickit_view(t, p) for t, p in zip(tables, inputs)]
    query = Query(
        name=name,
        title=title,
        job=ROOT / "jobs" / job,
        job_args=[],
        inputs=inputs,
        duckdb_sql=[*setup, sql],
        from_job=from_job,
        from_duckdb=from_duckdb,
    )
    if fmt == "text":  # the lab COPYs its text files (the Parquet copies are the bench's own)
        query.sql = _tickit_sql(name, tk_dir)
        query.from_sql = lambda stdout, scratch: from_duckdb(parse_jsonl_rows(stdout))
        query.sql_max_rows = SQL_AUTO_MAX_ROWS["tickit"]
        query.sql_agrees = sql_agrees
    return query


def _same_events_ties_in_any_order(answer: list[tuple], reference: list[tuple]) -> bool:
    """The percentile answer of the lab's original text against DuckDB's tie-broken one: the
    same rows, and in order of total_price descending (the text leaves the order of equal
    totals open; the tie-broken variant orders them by eventid)."""
    if not isinstance(answer, list) or sorted(answer) != sorted(reference):
        return False
    totals = [Decimal(total) for _, total in answer]
    return totals == sorted(totals, reverse=True)


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
        sql_agrees=_same_events_ties_in_any_order,
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
