"""DuckDB reference loaders and the labs' original queries.

``load_tickit`` reads the TICKIT text files the way Redshift ``COPY ... delimiter '|'``
does (no quoting or escaping, empty field = NULL, ``TRUE``/``FALSE`` booleans, the
DDL's column types, the sales file tab-delimited with unpadded ``M/D/YYYY HH:MI:SS``
times parsed by ``strptime``). ``load_cloudfront`` applies the Hive RegexSerDe of the
EMR tutorial to every line of the log files. The ``*_SQL`` constants are the original
query texts from the labs; where DuckDB needs a dialect edit, the edit is the smallest
possible and stated next to the constant. ``run_query`` runs one and returns its rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import duckdb

PathLike = Union[str, Path]

# ------------------------------------------------------------------------ TICKIT DDL

#: Columns of each TICKIT table with the Redshift DDL's types, mapped to DuckDB
#: (char/varchar -> VARCHAR; smallint, integer, decimal(8,2), boolean, date,
#: timestamp unchanged).
TICKIT_COLUMNS: Dict[str, List[Tuple[str, str]]] = {
    "users": [
        ("userid", "INTEGER"),
        ("username", "VARCHAR"),
        ("firstname", "VARCHAR"),
        ("lastname", "VARCHAR"),
        ("city", "VARCHAR"),
        ("state", "VARCHAR"),
        ("email", "VARCHAR"),
        ("phone", "VARCHAR"),
        ("likesports", "BOOLEAN"),
        ("liketheatre", "BOOLEAN"),
        ("likeconcerts", "BOOLEAN"),
        ("likejazz", "BOOLEAN"),
        ("likeclassical", "BOOLEAN"),
        ("likeopera", "BOOLEAN"),
        ("likerock", "BOOLEAN"),
        ("likevegas", "BOOLEAN"),
        ("likebroadway", "BOOLEAN"),
        ("likemusicals", "BOOLEAN"),
    ],
    "venue": [
        ("venueid", "SMALLINT"),
        ("venuename", "VARCHAR"),
        ("venuecity", "VARCHAR"),
        ("venuestate", "VARCHAR"),
        ("venueseats", "INTEGER"),
    ],
    "category": [
        ("catid", "SMALLINT"),
        ("catgroup", "VARCHAR"),
        ("catname", "VARCHAR"),
        ("catdesc", "VARCHAR"),
    ],
    "date": [
        ("dateid", "SMALLINT"),
        ("caldate", "DATE"),
        ("day", "VARCHAR"),
        ("week", "SMALLINT"),
        ("month", "VARCHAR"),
        ("qtr", "VARCHAR"),
        ("year", "SMALLINT"),
        ("holiday", "BOOLEAN"),
    ],
    "event": [
        ("eventid", "INTEGER"),
        ("venueid", "SMALLINT"),
        ("catid", "SMALLINT"),
        ("dateid", "SMALLINT"),
        ("eventname", "VARCHAR"),
        ("starttime", "TIMESTAMP"),
    ],
    "listing": [
        ("listid", "INTEGER"),
        ("sellerid", "INTEGER"),
        ("eventid", "INTEGER"),
        ("dateid", "SMALLINT"),
        ("numtickets", "SMALLINT"),
        ("priceperticket", "DECIMAL(8,2)"),
        ("totalprice", "DECIMAL(8,2)"),
        ("listtime", "TIMESTAMP"),
    ],
    "sales": [
        ("salesid", "INTEGER"),
        ("listid", "INTEGER"),
        ("sellerid", "INTEGER"),
        ("buyerid", "INTEGER"),
        ("eventid", "INTEGER"),
        ("dateid", "SMALLINT"),
        ("qtysold", "SMALLINT"),
        ("pricepaid", "DECIMAL(8,2)"),
        ("commission", "DECIMAL(8,2)"),
        ("saletime", "TIMESTAMP"),
    ],
}

#: Text file of each table (the real sample's names).
TICKIT_FILES: Dict[str, str] = {
    "users": "allusers_pipe.txt",
    "venue": "venue_pipe.txt",
    "category": "category_pipe.txt",
    "date": "date2008_pipe.txt",
    "event": "allevents_pipe.txt",
    "listing": "listings_pipe.txt",
    "sales": "sales_tab.txt",
}

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

#: The Hive script's ``input.regex`` as Java sees it (after Hive's string unescaping).
HIVE_INPUT_REGEX = (
    r"^(?!#)([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+"
    r"([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+[^\(]+[\(]([^\;]+).*\%20([^\/]+)[\/](.*)$"
)

#: The same regex for RE2 (DuckDB), which has no lookahead. The only edit:
#: ``^(?!#)([^ ]+)`` became ``^([^ #][^ ]*)`` -- group 1 is still one or more non-space
#: characters, and its first character (the line's first) may not be ``#``, which is
#: exactly what the lookahead asserted. Everything else is byte-for-byte the original.
RE2_INPUT_REGEX = HIVE_INPUT_REGEX.replace(r"^(?!#)([^ ]+)", r"^([^ #][^ ]*)", 1)

#: Columns of the Hive table (lower-case, as Hive stores them) and their types.
CLOUDFRONT_COLUMNS: List[Tuple[str, str]] = [
    ("dateobject", "DATE"),
    ("time", "VARCHAR"),
    ("location", "VARCHAR"),
    ("bytes", "INTEGER"),
    ("requestip", "VARCHAR"),
    ("method", "VARCHAR"),
    ("host", "VARCHAR"),
    ("uri", "VARCHAR"),
    ("status", "INTEGER"),
    ("referrer", "VARCHAR"),
    ("os", "VARCHAR"),
    ("browser", "VARCHAR"),
    ("browserversion", "VARCHAR"),
]


def _sql_str(value: Any) -> str:
    """Quote a Python string as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _columns_struct(columns: Sequence[Tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{_sql_str(n)}: {_sql_str(t)}" for n, t in columns) + "}"


def load_tickit(con: duckdb.DuckDBPyConnection, text_dir: PathLike) -> Dict[str, int]:
    """Create the seven TICKIT tables in ``con`` from the text files in ``text_dir``.

    Reads as Redshift ``COPY`` with ``delimiter '|'`` (``'\\t'`` for sales) would: no
    header, no quote or escape character, an empty field is NULL, booleans
    ``TRUE``/``FALSE``, timestamps ``YYYY-MM-DD HH:MI:SS`` except the sales times
    ``M/D/YYYY HH:MI:SS`` which go through ``strptime('%m/%d/%Y %H:%M:%S')``.
    Existing tables of the same names are replaced. Returns the row count per table.
    """
    base = Path(text_dir)
    counts: Dict[str, int] = {}
    for table, columns in TICKIT_COLUMNS.items():
        path = base / TICKIT_FILES[table]
        delim = "\t" if table == "sales" else "|"
        read_cols = [(n, "VARCHAR" if (table == "sales" and n == "saletime") else t) for n, t in columns]
        select = ", ".join(
            "strptime(saletime, '%m/%d/%Y %H:%M:%S') AS saletime"
            if (table == "sales" and n == "saletime")
            else n
            for n, _ in columns
        )
        con.execute(
            f'CREATE OR REPLACE TABLE "{table}" AS SELECT {select} FROM read_csv('
            f"{_sql_str(path)}, delim = {_sql_str(delim)}, header = false, quote = '', "
            f"escape = '', nullstr = '', auto_detect = false, "
            f"timestampformat = '%Y-%m-%d %H:%M:%S', dateformat = '%Y-%m-%d', "
            f"columns = {_columns_struct(read_cols)})"
        )
        counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts


def load_tickit_parquet(con: duckdb.DuckDBPyConnection, parquet_dir: PathLike) -> Dict[str, int]:
    """Create the seven TICKIT tables from ``parquet_dir/<table>.parquet``."""
    base = Path(parquet_dir)
    counts: Dict[str, int] = {}
    for table in TICKIT_COLUMNS:
        path = base / f"{table}.parquet"
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM read_parquet({_sql_str(path)})')
        counts[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts


def cloudfront_files(text_dir: PathLike) -> List[Path]:
    """The log files of ``text_dir``: ``*.log`` and ``*.gz``, sorted by name."""
    base = Path(text_dir)
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith((".log", ".gz")))


def load_cloudfront(con: duckdb.DuckDBPyConnection, text_dir: PathLike) -> int:
    """Create ``cloudfront_logs`` from the log files in ``text_dir``; return its row count.

    Every line of every file (``*.log`` or gzip ``*.gz``) becomes one row, as with
    Hive's RegexSerDe: a line the regex matches as a whole gives the 13 groups, cast
    to the Hive types (an uncastable INT becomes NULL, as in Hive); a line it does not
    match -- the ``#Version``/``#Fields`` headers and malformed lines -- gives a row
    of NULLs, which the query's date filter then drops. Empty lines are skipped.
    """
    files = cloudfront_files(text_dir)
    if not files:
        raise FileNotFoundError(f"no *.log or *.gz files in {text_dir}")
    file_list = "[" + ", ".join(_sql_str(p) for p in files) + "]"
    names = [n for n, _ in CLOUDFRONT_COLUMNS]
    struct_names = "[" + ", ".join(_sql_str(n) for n in names) + "]"
    casts = []
    for name, typ in CLOUDFRONT_COLUMNS:
        expr = f"CASE WHEN ok THEN g.{name} END"
        casts.append(f"TRY_CAST({expr} AS {typ}) AS {name}" if typ != "VARCHAR" else f"{expr} AS {name}")
    con.execute(
        "CREATE OR REPLACE TABLE cloudfront_logs AS "
        f"SELECT {', '.join(casts)} FROM ("
        f"  SELECT regexp_full_match(line, {_sql_str(RE2_INPUT_REGEX)}) AS ok,"
        f"         regexp_extract(line, {_sql_str(RE2_INPUT_REGEX)}, {struct_names}) AS g"
        f"  FROM read_csv({file_list}, delim = {_sql_str(chr(1))}, header = false, quote = '',"
        f"                escape = '', auto_detect = false, columns = {{'line': 'VARCHAR'}},"
        f"                compression = 'auto')"
        ")"
    )
    return con.execute("SELECT count(*) FROM cloudfront_logs").fetchone()[0]


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
