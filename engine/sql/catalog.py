"""Tables: what a script's DDL (or ``--table``) says about them, and how a row is read from a file.

A ``TableDef`` is everything a mapper needs to turn an input record into a typed row, so it
travels inside the serialized plan. Three storage formats, as Hive and Redshift's ``COPY`` read
them (tables are always read in place; nothing is copied or moved):

``delimited``  text, fields split on one delimiter (Hive's default ``\\x01``, ``FIELDS TERMINATED
               BY``, ``COPY ... DELIMITER``); NULL is ``\\N`` in Hive, an empty field in Redshift.
               A line with another number of fields, or a value that a column the query reads
               cannot hold, is an error naming the file and the record (``COPY`` refuses such a
               file; so does the engine for both dialects -- a silent NULL would hide a wrong
               DDL). Columns the query does not read are not converted (``RowReader``'s *used*;
               DuckDB, reading a file in place, does the same).
``regex``      Hive's ``RegexSerDe``: the whole line must match ``input.regex`` (Java semantics:
               ``\\s`` is ASCII whitespace); group ``i`` feeds column ``i``, cast leniently; a line
               that does not match is a row of NULLs (Hive's rule, not an error).
``parquet``    the files' own column types; columns found by name.

Which table a record belongs to: the mapper's input file (``mapreduce.map.input.file``) lies
under one of the table's locations (``table_for_path``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from engine.sql.regex_serde import LineRegex
from engine.sql.types import SqlType, from_string, parse_bool


@dataclass(frozen=True)
class TableDef:
    """One table: its columns and types, storage format and where its files are."""

    name: str
    columns: Tuple[Tuple[str, str], ...]  # (lower-case name, str(SqlType))
    format: str = "delimited"  # delimited | regex | parquet
    locations: Tuple[str, ...] = ()  # files or directories (local paths or s3:// URIs)
    delimiter: str = "\x01"
    null_marker: Optional[str] = "\\N"  # the text that is NULL (None: only an empty field is)
    empty_is_null: bool = False  # Redshift COPY: an empty field is NULL
    regex: str = ""
    timeformat: str = "%Y-%m-%d %H:%M:%S"
    dateformat: str = "%Y-%m-%d"
    ignore_header: int = 0
    lenient: bool = False  # a value that does not convert is NULL (RegexSerDe), not an error
    extra: Tuple[Tuple[str, str], ...] = field(default=())

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def types(self) -> Tuple[SqlType, ...]:
        return tuple(from_string(t) for _, t in self.columns)

    def to_json(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "columns": [list(c) for c in self.columns],
            "format": self.format,
            "locations": list(self.locations),
            "delimiter": self.delimiter,
            "null_marker": self.null_marker,
            "empty_is_null": self.empty_is_null,
            "regex": self.regex,
            "timeformat": self.timeformat,
            "dateformat": self.dateformat,
            "ignore_header": self.ignore_header,
            "lenient": self.lenient,
        }

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> TableDef:
        d = dict(d)
        d["columns"] = tuple(tuple(c) for c in d["columns"])
        d["locations"] = tuple(d["locations"])
        return cls(**d)


def normalize_location(path: str) -> str:
    """A location or input path as the mapper compares them: ``file://`` dropped, absolute."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    if "://" in path:
        return path.rstrip("/")
    return os.path.abspath(path)


def location_holds(location: str, path: str) -> bool:
    """Whether *path* (a file, or another location) is *location* or lies under it."""
    p, loc = normalize_location(path), normalize_location(location)
    return p == loc or p.startswith(loc.rstrip("/") + "/")


def table_for_path(tables: Sequence[TableDef], path: str) -> List[int]:
    """The indexes of the tables whose locations hold *path* (a file the job reads)."""
    return [i for i, t in enumerate(tables) if any(location_holds(loc, path) for loc in t.locations)]


# ---------------------------------------------------------------------------------- value reading


def _converter(t: SqlType, table: TableDef) -> Callable[[str], Any]:
    """Text field -> value of type *t* (``ValueError`` if it is not one)."""
    k = t.kind
    if k == "string":
        return lambda s: s
    if k == "int":
        return lambda s: int(s.strip())
    if k == "double":
        return lambda s: float(s.strip())
    if k == "decimal":
        q = Decimal(1).scaleb(-t.scale)

        def to_decimal(s: str) -> Decimal:
            try:
                return Decimal(s.strip()).quantize(q, rounding=ROUND_HALF_UP)
            except InvalidOperation:
                raise ValueError(f"not a decimal: {s!r}") from None

        return to_decimal
    if k == "boolean":
        return parse_bool
    if k == "date":
        fmt = table.dateformat
        if fmt == "%Y-%m-%d":
            return lambda s: dt.date.fromisoformat(s.strip())
        return lambda s: dt.datetime.strptime(s.strip(), fmt).date()
    if k == "timestamp":
        fmt = table.timeformat
        return lambda s: dt.datetime.strptime(s.strip(), fmt)
    raise ValueError(f"no reader for type {t}")


def _unread(value: Any) -> None:
    """The value of a column the query does not read."""
    return None


def _from_parquet(t: SqlType) -> Callable[[Any], Any]:
    k = t.kind
    if k == "decimal":
        q = Decimal(1).scaleb(-t.scale)
        return lambda v: Decimal(v).quantize(q, rounding=ROUND_HALF_UP)
    if k == "date":
        return lambda v: v.date() if isinstance(v, dt.datetime) else v
    if k == "timestamp":
        return lambda v: (
            v.replace(tzinfo=None) if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
        )
    if k == "int":
        return int
    if k == "double":
        return float
    return lambda v: v


class RowReader:
    """Turns one input record of a table into a tuple of typed values (all columns, in order)."""

    def __init__(self, table: TableDef, used: Optional[Sequence[int]] = None) -> None:
        """*used*: the columns the query reads (``stages.pipe_columns``); the others are NULL,
        their text not converted (``None``: every column)."""
        self.table = table
        types = table.types
        keep = set(range(len(types)) if used is None else used)
        self._text = [_converter(t, table) if i in keep else _unread for i, t in enumerate(types)]
        self._parquet_by_name = [
            (name, _from_parquet(t) if i in keep else _unread)
            for i, (name, t) in enumerate(zip(table.names, types))
        ]
        self._n = len(types)
        self._rx: Optional[LineRegex] = None
        if table.format == "regex":
            self._rx = LineRegex(table.regex)

    def read(self, value: Any, where: str) -> List[Any]:
        """The row of *value* (a text line or a Parquet row dict); *where* names the file for errors."""
        t = self.table
        if isinstance(value, dict):
            return [
                None if (v := _get(value, name)) is None else conv(v) for name, conv in self._parquet_by_name
            ]
        if self._rx is not None:
            groups = self._rx.match(value)
            if groups is None:
                return [None] * self._n
            return [self._lenient(conv, g) for conv, g in zip(self._text, groups)]
        fields = value.split(t.delimiter)
        if len(fields) != self._n:
            raise ValueError(
                f"table {t.name}: a line of {where} has {len(fields)} fields, the table has {self._n} "
                f"columns ({t.name}'s DDL and the file disagree; check the delimiter "
                f"{t.delimiter!r}): {value[:200]!r}"
            )
        null, empty_is_null = t.null_marker, t.empty_is_null
        out: List[Any] = []
        for conv, f, (name, typ) in zip(self._text, fields, t.columns):
            if f == null or (empty_is_null and f == ""):  # null is None when only "" is NULL
                out.append(None)
                continue
            try:
                out.append(conv(f))
            except ValueError:
                if t.lenient:
                    out.append(None)
                    continue
                raise ValueError(
                    f"table {t.name}: column {name} ({typ}) cannot hold {f!r} in a line of {where}: "
                    f"{value[:200]!r} (fix the file or the column's type in the DDL)"
                ) from None
        return out

    def group_value(self, i: int, group: str) -> Any:
        """Column *i*'s value of a regex group's text: NULL if its type cannot hold it."""
        return self._lenient(self._text[i], group)

    @staticmethod
    def _lenient(conv: Callable[[str], Any], g: Optional[str]) -> Any:
        if g is None:
            return None
        try:
            return conv(g)
        except ValueError:
            return None


def _get(row: Dict[str, Any], name: str) -> Any:
    """Column *name* (lower case, as SQL names it) of a Parquet row, whatever its case in the file
    (``adRevenue``): SQL's names are case-insensitive."""
    if name in row:
        return row[name]
    for key, value in row.items():
        if key.lower() == name:
            return value
    return None


def location_files(table: TableDef) -> List[str]:
    """The files of a table's local locations, listed as the engine lists a job's inputs
    (``engine.splits.list_input_files``: hidden files skipped, links followed once)."""
    from engine.splits import list_input_files

    return list_input_files(list(table.locations))


def local_size(table: TableDef) -> Optional[int]:
    """The bytes of a table's files; ``None`` if a location is not a local path or cannot be
    listed (then the job's own input listing says why)."""
    from engine.errors import InputError

    if any("://" in loc and not loc.startswith("file://") for loc in table.locations):
        return None
    try:
        return sum(os.path.getsize(f) for f in location_files(table))
    except (InputError, OSError):
        return None


def read_records(table: TableDef) -> Iterator[Tuple[str, Any]]:
    """Every record of a table's local files, as a mapper would get it: ``(file, line)`` (the line
    without its end, the first ``ignore_header`` lines of each file skipped) or, for Parquet,
    ``(file, row dict)``."""
    import bz2
    import gzip

    for f in location_files(table):
        if table.format == "parquet":
            import pyarrow.parquet as pq

            for row in pq.read_table(f).to_pylist():
                yield f, row
            continue
        opener: Any = gzip.open if f.endswith(".gz") else bz2.open if f.endswith(".bz2") else open
        with opener(f, "rt", encoding="utf-8", newline="") as lines:
            for n, line in enumerate(lines):
                if n < table.ignore_header:
                    continue
                line = line[:-1] if line.endswith("\n") else line
                yield f, line[:-1] if line.endswith("\r") else line
