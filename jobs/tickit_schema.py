"""The TICKIT tables of the Redshift lab: the one statement of their facts.

Per table: its name, the columns in order with their types as the lab's ``create table``
writes them (``integer``, ``smallint``, ``char(8)``, ``varchar(30)``, ``decimal(8,2)``,
``boolean``, ``date``, ``timestamp``; ``distkey``/``sortkey`` and ``default`` left
out, being no fact of the data), the real sample's text file and the ``COPY`` options
that load it: ``delimiter '|'`` (``'\\t'`` for ``sales_tab.txt``), ``timeformat
'YYYY-MM-DD HH:MI:SS'`` (COPY's default; ``'MM/DD/YYYY HH:MI:SS'`` for sales, where
month and day are not zero-padded) and the default ``dateformat 'YYYY-MM-DD'``.

Everything else derives from here, so that the two sides of the labs' proof (the job
equals DuckDB on the same files) cannot drift apart:

* the jobs' field positions, value kinds and delimiters (``jobs/tickit_rows.py``);
* the generator's text lines and Parquet types (``data/tickit.py``: ``integer`` ->
  int32, ``smallint`` -> int16, ``decimal(p,s)`` -> decimal128(p, s), ...);
* DuckDB's tables and the benchmark's views (``data/duckdb_sql.py``,
  ``bench/queries.py``), their column types and ``read_csv`` options;
* the SQL text of the tables (``create_table_sql``), for a SQL front end.

``tests/test_lab_schema.py`` checks every side against this module, and this module
against the lab's DDL.

Shipped with the jobs to Hadoop/EMR: stdlib only, Python 3.9.
"""

from __future__ import annotations

import re
from typing import Dict, NamedTuple, Tuple

#: COPY's default ``timeformat`` (also the event table's, as the lab writes it).
DEFAULT_TIMEFORMAT = "YYYY-MM-DD HH:MI:SS"
#: COPY's default ``dateformat``.
DEFAULT_DATEFORMAT = "YYYY-MM-DD"

#: What a column holds, by its DDL type (``kind_of``).
KINDS = ("integer", "decimal", "boolean", "date", "timestamp", "string")

_DECIMAL = re.compile(r"(?:decimal|numeric)\((\d+),\s*(\d+)\)")
_CHARACTER = re.compile(r"(?:char|character|varchar|character varying)\(\d+\)")
_KIND_OF = {
    "smallint": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
# Redshift datetime format elements -> strptime's (DuckDB's strptime takes the same).
# COPY reads HH as the hour of the day, 00..23: the sample's 20:00:00 loads with it.
_FORMAT_ELEMENTS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH24": "%H", "HH": "%H", "MI": "%M", "SS": "%S"}
_FORMAT_ELEMENT = re.compile("|".join(sorted(_FORMAT_ELEMENTS, key=len, reverse=True)))


def kind_of(ddl_type: str) -> str:
    """The kind (one of ``KINDS``) of a DDL type; ``ValueError`` for a type no side knows."""
    t = ddl_type.strip().lower()
    if t in _KIND_OF:
        return _KIND_OF[t]
    if _DECIMAL.fullmatch(t):
        return "decimal"
    if _CHARACTER.fullmatch(t):
        return "string"
    raise ValueError(f"DDL type {ddl_type!r} is not one the TICKIT readers know")


def decimal_precision_scale(ddl_type: str) -> Tuple[int, int]:
    """``(8, 2)`` for ``decimal(8,2)``."""
    m = _DECIMAL.fullmatch(ddl_type.strip().lower())
    if not m:
        raise ValueError(f"{ddl_type!r} is not a decimal type")
    return int(m.group(1)), int(m.group(2))


def strptime_format(redshift_format: str) -> str:
    """A COPY ``timeformat``/``dateformat`` as a strptime format (``'MM/DD/YYYY'`` ->
    ``'%m/%d/%Y'``); ``ValueError`` for an element it does not know."""
    if any(re.search("[A-Za-z%]", rest) for rest in _FORMAT_ELEMENT.split(redshift_format)):
        raise ValueError(f"unknown element in the datetime format {redshift_format!r}")
    return _FORMAT_ELEMENT.sub(lambda m: _FORMAT_ELEMENTS[m.group(0)], redshift_format)


class Column(NamedTuple):
    """One column: its name and its type as the lab's DDL writes it."""

    name: str
    type: str
    not_null: bool = False

    @property
    def kind(self) -> str:
        """``integer``, ``decimal``, ``boolean``, ``date``, ``timestamp`` or ``string``."""
        return kind_of(self.type)


class Table(NamedTuple):
    """One TICKIT table: its columns in file order and how its text file is read."""

    name: str
    columns: Tuple[Column, ...]
    file: str  # the real sample's text file (COPY's source)
    delimiter: str  # COPY's delimiter
    timeformat: str = DEFAULT_TIMEFORMAT  # COPY's timeformat, Redshift notation
    dateformat: str = DEFAULT_DATEFORMAT  # COPY's dateformat, Redshift notation

    @property
    def names(self) -> Tuple[str, ...]:
        """The column names in file order."""
        return tuple(c.name for c in self.columns)

    @property
    def parquet_file(self) -> str:
        """The table's Parquet file name (``users.parquet``): named after the table."""
        return f"{self.name}.parquet"

    @property
    def timestamp_format(self) -> str:
        """``timeformat`` as a strptime (and DuckDB ``strptime``) format."""
        return strptime_format(self.timeformat)

    @property
    def date_format(self) -> str:
        """``dateformat`` as a strptime (and DuckDB ``strptime``) format."""
        return strptime_format(self.dateformat)

    def column(self, name: str) -> Column:
        """The column called ``name``; ``KeyError`` if the table has none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _cols(*spec: str) -> Tuple[Column, ...]:
    """Columns from ``"name type"`` / ``"name type not null"`` strings, as the DDL reads."""
    out = []
    for s in spec:
        name, rest = s.split(" ", 1)
        not_null = rest.endswith(" not null")
        out.append(Column(name, rest[: -len(" not null")] if not_null else rest, not_null))
    return tuple(out)


_LIKES = (
    "likesports",
    "liketheatre",
    "likeconcerts",
    "likejazz",
    "likeclassical",
    "likeopera",
    "likerock",
    "likevegas",
    "likebroadway",
    "likemusicals",
)

#: The seven tables in the DDL's order.
TABLES: Dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "users",
            _cols(
                "userid integer not null",
                "username char(8)",
                "firstname varchar(30)",
                "lastname varchar(30)",
                "city varchar(30)",
                "state char(2)",
                "email varchar(100)",
                "phone char(14)",
                *(f"{like} boolean" for like in _LIKES),
            ),
            file="allusers_pipe.txt",
            delimiter="|",
        ),
        Table(
            "venue",
            _cols(
                "venueid smallint not null",
                "venuename varchar(100)",
                "venuecity varchar(30)",
                "venuestate char(2)",
                "venueseats integer",
            ),
            file="venue_pipe.txt",
            delimiter="|",
        ),
        Table(
            "category",
            _cols(
                "catid smallint not null",
                "catgroup varchar(10)",
                "catname varchar(10)",
                "catdesc varchar(50)",
            ),
            file="category_pipe.txt",
            delimiter="|",
        ),
        Table(
            "date",
            _cols(
                "dateid smallint not null",
                "caldate date not null",
                "day character(3) not null",
                "week smallint not null",
                "month character(5) not null",
                "qtr character(5) not null",
                "year smallint not null",
                "holiday boolean",
            ),
            file="date2008_pipe.txt",
            delimiter="|",
        ),
        Table(
            "event",
            _cols(
                "eventid integer not null",
                "venueid smallint not null",
                "catid smallint not null",
                "dateid smallint not null",
                "eventname varchar(200)",
                "starttime timestamp",
            ),
            file="allevents_pipe.txt",
            delimiter="|",
            timeformat="YYYY-MM-DD HH:MI:SS",
        ),
        Table(
            "listing",
            _cols(
                "listid integer not null",
                "sellerid integer not null",
                "eventid integer not null",
                "dateid smallint not null",
                "numtickets smallint not null",
                "priceperticket decimal(8,2)",
                "totalprice decimal(8,2)",
                "listtime timestamp",
            ),
            file="listings_pipe.txt",
            delimiter="|",
        ),
        Table(
            "sales",
            _cols(
                "salesid integer not null",
                "listid integer not null",
                "sellerid integer not null",
                "buyerid integer not null",
                "eventid integer not null",
                "dateid smallint not null",
                "qtysold smallint not null",
                "pricepaid decimal(8,2)",
                "commission decimal(8,2)",
                "saletime timestamp",
            ),
            file="sales_tab.txt",
            delimiter="\t",
            timeformat="MM/DD/YYYY HH:MI:SS",
        ),
    )
}


def create_table_sql(table: str) -> str:
    """The table's Redshift DDL, as the lab writes it less ``distkey``/``sortkey``/``default``."""
    t = TABLES[table]
    cols = ", ".join(f"{c.name} {c.type}{' not null' if c.not_null else ''}" for c in t.columns)
    return f"create table {t.name}({cols});"
