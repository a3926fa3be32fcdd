"""DuckDB reference loaders and the labs' original queries.

``load_tickit`` reads the TICKIT text files the way Redshift ``COPY ... delimiter '|'``
does (no quoting or escaping, empty field = NULL, ``TRUE``/``FALSE`` booleans, the
DDL's column types, the sales file tab-delimited with unpadded ``M/D/YYYY HH:MI:SS``
times parsed by ``strptime``). ``load_cloudfront`` applies the Hive RegexSerDe of the
EMR tutorial to every line of the log files. The ``*_SQL`` constants are the original
query texts from the labs; where DuckDB needs a dialect edit, the edit is the smallest
possible and stated next to the constant. ``run_query`` runs one and returns its rows.

The tables' facts -- columns, types, file names, delimiters, time formats, the regex --
are not restated here: they come from ``jobs/tickit_schema.py`` and
``jobs/cloudfront_os_requests.py``, the modules the jobs read their input with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import duckdb

from jobs import cloudfront_os_requests as cloudfront_job
from jobs.tickit_schema import (
    DEFAULT_DATEFORMAT,
    DEFAULT_TIMEFORMAT,
    TABLES,
    decimal_precision_scale,
    kind_of,
    strptime_format,
)

PathLike = Union[str, Path]

# ------------------------------------------------------------------------ TICKIT DDL

_DUCKDB_TYPES = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def duckdb_type(ddl_type: str) -> str:
    """A Redshift DDL type as DuckDB's: char/varchar -> VARCHAR; smallint, integer,
    decimal(p,s), boolean, date, timestamp unchanged."""
    kind = kind_of(ddl_type)
    if kind == "string":
        return "VARCHAR"
    if kind == "decimal":
        precision, scale = decimal_precision_scale(ddl_type)
        return f"DECIMAL({precision},{scale})"
    return _DUCKDB_TYPES[ddl_type.strip().lower()]


#: Columns of each TICKIT table with DuckDB's types, from the Redshift DDL's
#: (``jobs/tickit_schema.py``).
TICKIT_COLUMNS: Dict[str, List[Tuple[str, str]]] = {
    t.name: [(c.name, duckdb_type(c.type)) for c in t.columns] for t in TABLES.values()
}

#: Text file of each table (the real sample's names).
TICKIT_FILES: Dict[str, str] = {t.name: t.file for t in TABLES.values()}

#: DuckDB ``read_csv``'s own time and date formats, given to it for every table; a table
#: whose COPY ``timeformat`` differs (sales) reads its timestamps as text and parses them
#: with ``strptime``, which takes month and day without zero padding.
_CSV_TIMESTAMP_FORMAT = strptime_format(DEFAULT_TIMEFORMAT)
_CSV_DATE_FORMAT = strptime_format(DEFAULT_DATEFORMAT)

# ------------------------------------------------------------------------- queries

#: The lab's challenge (unchanged).
CHALLENGE_SQL = (
    "SELECT firstname, lastname FROM users WHERE liketheatre AND likeclassical AND lastname = 'Smith';"
)

#: Find total sales on a given calendar date (unchanged; ``date`` is a usable table
#: name in DuckDB as in Redshift).
TOTAL_SALES_ON_DATE_SQL = (
    "SELECT sum(qtysold) FROM sales, date WHERE sales.dateid = date.dateid AND caldate = '2008-01-05';"
)

#: Find top 10 buyers by quantity (unchanged). The generator makes the 11 largest
#: totals strictly decreasing, so LIMIT 10 and the final order are unambiguous.
TOP_BUYERS_SQL = """SELECT firstname, lastname, total_quantity
FROM (SELECT buyerid, sum(qtysold) total_quantity FROM sales
      GROUP BY buyerid ORDER BY total_quantity desc limit 10) Q, users
WHERE Q.buyerid = userid ORDER BY Q.total_quantity desc;"""

#: Find events in the 99.9 percentile in terms of all time gross sales (unchanged;
#: DuckDB, like Redshift, accepts the un-aliased derived table).
PERCENTILE_EVENTS_SQL = """SELECT eventname, total_price
FROM (SELECT eventid, total_price, ntile(1000) over(order by total_price desc) as percentile
      FROM (SELECT eventid, sum(pricepaid) total_price FROM sales GROUP BY eventid)) Q, event E
WHERE Q.eventid = E.eventid AND percentile = 1
ORDER BY total_price desc;"""

#: The Hive script's query. Edit: only the SELECT of ``INSERT OVERWRITE DIRECTORY
#: '${OUTPUT}/os_requests/' SELECT ...`` is kept (the output directory is the job's
#: concern); the SELECT itself is unchanged.
HIVE_OS_REQUESTS_SQL = (
    "SELECT os, COUNT(*) count FROM cloudfront_logs "
    "WHERE dateobject BETWEEN '2014-07-05' AND '2014-08-05' GROUP BY os"
)

#: All lab queries by short name.
QUERIES: Dict[str, str] = {
    "challenge": CHALLENGE_SQL,
    "total_sales_on_date": TOTAL_SALES_ON_DATE_SQL,
    "top_buyers": TOP_BUYERS_SQL,
    "percentile_events": PERCENTILE_EVENTS_SQL,
    "hive_os_requests": HIVE_OS_REQUESTS_SQL,
}

# --------------------------------------------------------------------- CloudFront

#: The Hive script's ``input.regex`` as Java sees it (``jobs/cloudfront_os_requests.py``).
HIVE_INPUT_REGEX = cloudfront_job.HIVE_INPUT_REGEX

#: The same regex for RE2 (DuckDB), which has no lookahead: ``^(?!#)([^ ]+)`` became
#: ``^([^ #][^ ]*)`` (see ``jobs/cloudfront_os_requests.py``); the rest is the original.
RE2_INPUT_REGEX = cloudfront_job.RE2_INPUT_REGEX

_HIVE_TO_DUCKDB = {"DATE": "DATE", "STRING": "VARCHAR", "INT": "INTEGER"}
#: Columns of the Hive table (lower-case, as Hive stores them) and their DuckDB types.
CLOUDFRONT_COLUMNS: List[Tuple[str, str]] = [(n, _HIVE_TO_DUCKDB[t]) for n, t in cloudfront_job.COLUMNS]


def _sql_str(value: Any) -> str:
    """Quote a Python string as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _columns_struct(columns: Sequence[Tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{_sql_str(n)}: {_sql_str(t)}" for n, t in columns) + "}"


def tickit_text_sql(table: str, path: PathLike) -> str:
    """The ``SELECT`` reading one TICKIT text file as Redshift ``COPY`` does, from the
    table's facts in ``jobs/tickit_schema.py`` (``load_tickit``'s tables, the bench's views).

    No header, no quote or escape character, an empty field is NULL, booleans
    ``TRUE``/``FALSE``, the DDL's types; timestamps and dates in ``read_csv``'s formats
    (COPY's defaults) unless the table's ``timeformat``/``dateformat`` differs, as the
    sales times ``M/D/YYYY HH:MI:SS`` do: those are read as text and go through
    ``strptime`` with the table's format.
    """
    t = TABLES[table]
    read_cols: List[Tuple[str, str]] = []
    select: List[str] = []
    for column, (name, typ) in zip(t.columns, TICKIT_COLUMNS[table]):
        own, csv = {
            "timestamp": (t.timestamp_format, _CSV_TIMESTAMP_FORMAT),
            "date": (t.date_format, _CSV_DATE_FORMAT),
        }.get(column.kind, (None, None))
        if own == csv:
            read_cols.append((name, typ))
            select.append(name)
        else:
            read_cols.append((name, "VARCHAR"))
            parsed = f"strptime({name}, {_sql_str(own)})"
            if column.kind == "date":
                parsed = f"CAST({parsed} AS DATE)"
            select.append(f"{parsed} AS {name}")
    return (
        f"SELECT {', '.join(select)} FROM read_csv("
        f"{_sql_str(path)}, delim = {_sql_str(t.delimiter)}, header = false, quote = '', "
        f"escape = '', nullstr = '', auto_detect = false, "
        f"timestampformat = {_sql_str(_CSV_TIMESTAMP_FORMAT)}, dateformat = {_sql_str(_CSV_DATE_FORMAT)}, "
        f"columns = {_columns_struct(read_cols)})"
    )


def tickit_parquet_sql(path: PathLike) -> str:
    """The ``SELECT`` reading one TICKIT Parquet file (its types are the DDL's already)."""
    return f"SELECT * FROM read_parquet({_sql_str(path)})"


def load_tickit(con: duckdb.DuckDBPyConnection, text_dir: PathLike) -> Dict[str, int]:
    """Create the seven TICKIT tables in ``con`` from the text files in ``text_dir``.

    Reads as Redshift ``COPY`` with ``delimiter '|'`` (``'\\t'`` for sales) would
    (``tickit_text_sql``). Existing tables of the same names are replaced. Returns the
    row count per table.
    """
    base = Path(text_dir)
    counts: Dict[str, int] = {}
    for table, t in TABLES.items():
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS {tickit_text_sql(table, base / t.file)}')
        counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts


def load_tickit_parquet(con: duckdb.DuckDBPyConnection, parquet_dir: PathLike) -> Dict[str, int]:
    """Create the seven TICKIT tables from ``parquet_dir/<table>.parquet``."""
    base = Path(parquet_dir)
    counts: Dict[str, int] = {}
    for table, t in TABLES.items():
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS {tickit_parquet_sql(base / t.parquet_file)}')
        counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts


def cloudfront_files(text_dir: PathLike) -> List[Path]:
    """The log files of ``text_dir``: ``*.log`` and ``*.gz``, sorted by name."""
    base = Path(text_dir)
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith((".log", ".gz")))


def cloudfront_text_lines_sql(files: Sequence[PathLike]) -> str:
    """A relation of the log files' lines (one ``line`` column; gzip read as such)."""
    file_list = "[" + ", ".join(_sql_str(p) for p in files) + "]"
    return (
        f"read_csv({file_list}, delim = {_sql_str(chr(1))}, header = false, quote = '',"
        f"                escape = '', auto_detect = false, columns = {{'line': 'VARCHAR'}},"
        f"                compression = 'auto')"
    )


def cloudfront_parquet_lines_sql(path: PathLike) -> str:
    """A relation of the lines of ``data/cloudfront.py``'s Parquet file: each row joined
    back into its log line with tabs (NULL -> ''), as the job does."""
    cols = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in cloudfront_job.PARQUET_COLUMNS)
    return f"(SELECT concat_ws(chr(9), {cols}) AS line FROM read_parquet({_sql_str(path)}))"


def cloudfront_logs_sql(lines: str, columns: Optional[Sequence[str]] = None) -> str:
    """The ``SELECT`` of ``cloudfront_logs`` from ``lines`` (a relation with one ``line``
    column), as Hive's RegexSerDe reads it: a line the regex matches as a whole gives the
    13 groups, cast to the Hive types (an uncastable INT becomes NULL, as in Hive); a line
    it does not match gives a row of NULLs. ``columns``: only those (default all)."""
    names = [n for n, _ in CLOUDFRONT_COLUMNS]
    struct_names = "[" + ", ".join(_sql_str(n) for n in names) + "]"
    casts = []
    for name, typ in CLOUDFRONT_COLUMNS:
        if columns is not None and name not in columns:
            continue
        expr = f"CASE WHEN ok THEN g.{name} END"
        casts.append(f"TRY_CAST({expr} AS {typ}) AS {name}" if typ != "VARCHAR" else f"{expr} AS {name}")
    return (
        f"SELECT {', '.join(casts)} FROM ("
        f"  SELECT regexp_full_match(line, {_sql_str(RE2_INPUT_REGEX)}) AS ok,"
        f"         regexp_extract(line, {_sql_str(RE2_INPUT_REGEX)}, {struct_names}) AS g"
        f"  FROM {lines}"
        ")"
    )


def load_cloudfront(con: duckdb.DuckDBPyConnection, text_dir: PathLike) -> int:
    """Create ``cloudfront_logs`` from the log files in ``text_dir``; return its row count.

    Every line of every file (``*.log`` or gzip ``*.gz``) becomes one row, as with
    Hive's RegexSerDe (``cloudfront_logs_sql``): the ``#Version``/``#Fields`` headers and
    malformed lines give rows of NULLs, which the query's date filter then drops. Empty
    lines are skipped.
    """
    files = cloudfront_files(text_dir)
    if not files:
        raise FileNotFoundError(f"no *.log or *.gz files in {text_dir}")
    table = cloudfront_job.HIVE_TABLE
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {cloudfront_logs_sql(cloudfront_text_lines_sql(files))}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> List[tuple]:
    """Run ``sql`` on ``con`` and return all result rows as tuples."""
    return [tuple(r) for r in con.execute(sql).fetchall()]


# ------------------------------------------------------------ tie-broken variants
# Where ORDER BY ... LIMIT or ntile cuts through equal values, SQL leaves the choice open;
# the jobs break ties on a stated key, and these variants add exactly that key.


def edit_sql(sql: str, old: str, new: str) -> str:
    """*sql* with *old* replaced by *new*; *old* must occur (a dialect or tie-break edit)."""
    assert old in sql, f"{old!r} not in the original SQL"
    return sql.replace(old, new)


def top_buyers_sql(k: int = 10) -> str:
    """The original query, ties broken on buyerid (the jobs break them the same way)."""
    sql = edit_sql(
        TOP_BUYERS_SQL,
        "ORDER BY total_quantity desc limit 10",
        f"ORDER BY total_quantity desc, buyerid limit {k}",
    )
    return edit_sql(sql, "ORDER BY Q.total_quantity desc;", "ORDER BY Q.total_quantity desc, Q.buyerid;")


def percentile_sql() -> str:
    """The original query, ties broken on eventid (inside ntile and in the final order)."""
    sql = edit_sql(
        PERCENTILE_EVENTS_SQL,
        "over(order by total_price desc)",
        "over(order by total_price desc, eventid)",
    )
    return edit_sql(sql, "ORDER BY total_price desc;", "ORDER BY total_price desc, Q.eventid;")
