"""Reading TICKIT rows in a job: which table a map task reads, and its values.

The TICKIT jobs are reduce-side joins: every mapper sees rows of several tables and
tells them apart by the input file, as Hadoop Streaming jobs do, through
``mapreduce.map.input.file``. Text files keep the real sample's names
(``allusers_pipe.txt``, ``sales_tab.txt`` ... optionally ``.gz``/``.bz2``); Parquet
files are named after their table (``users.parquet``, ``sales.parquet`` ...).

A row reaches the mapper as ``(None, line)`` from text (``|``-delimited, ``sales``
tab-delimited, as Redshift ``COPY`` reads them) or as ``(None, row_dict)`` from Parquet
on the engine (pyarrow's Python values). ``fields()`` turns either into the same
normalised Python values, so a job's output is identical for both formats:

======================  =====================================================
DDL type                value
======================  =====================================================
integer, smallint       ``int``
decimal(8,2)            ``int`` cents (exact; JSON cannot encode ``Decimal``)
boolean                 ``True`` / ``False`` (``TRUE``/``FALSE`` in text)
date                    ``'YYYY-MM-DD'``
timestamp               ``'YYYY-MM-DD HH:MM:SS'`` (sales' ``M/D/YYYY`` too)
char, varchar           ``str``
======================  =====================================================

An empty text field and a Parquet null are both ``None`` (SQL NULL), as with
``COPY``'s empty-as-NULL reading of this data. The tables' facts (file names, columns
and their DDL types, delimiters, time formats) are ``jobs/tickit_schema.py``'s.

This module is shipped with the jobs to Hadoop/EMR: stdlib and mrjob only, Python 3.9.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from mrjob.compat import jobconf_from_env

from jobs.tickit_schema import TABLES

INPUT_FILE_VAR = "mapreduce.map.input.file"

#: Text file name of each table, as in the real sample (``jobs/tickit_schema.py``).
TEXT_FILES: Dict[str, str] = {t.name: t.file for t in TABLES.values()}
_TABLE_OF_TEXT = {name: table for table, name in TEXT_FILES.items()}
_COMPRESSION_SUFFIXES = (".gz", ".bz2")
_PARQUET_SUFFIXES = (".parquet", ".parq")

# Column kinds: i = integer, m = money (decimal(8,2)), b = boolean, d = date,
# t = timestamp, s = string.
_KIND_CODES = {"integer": "i", "decimal": "m", "boolean": "b", "date": "d", "timestamp": "t", "string": "s"}
#: Columns of each table in file order with their kind (from the Redshift DDL types in
#: ``jobs/tickit_schema.py``).
SCHEMA: Dict[str, Tuple[Tuple[str, str], ...]] = {
    t.name: tuple((c.name, _KIND_CODES[c.kind]) for c in t.columns) for t in TABLES.values()
}
_INDEX = {t: {name: i for i, (name, _) in enumerate(cols)} for t, cols in SCHEMA.items()}
_KIND = {t: dict(cols) for t, cols in SCHEMA.items()}
#: COPY's delimiter of each table's text file.
_DELIMITER = {t.name: t.delimiter for t in TABLES.values()}

_TRUE = frozenset(("true", "t", "1", "y", "yes", "on"))
_FALSE = frozenset(("false", "f", "0", "n", "no", "off"))
_CENT = Decimal(1)


def table_of_path(path: str) -> Optional[str]:
    """The TICKIT table a file holds, by its name; ``None`` if the name is not known."""
    name = os.path.basename(path.rstrip("/"))
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name in _TABLE_OF_TEXT:
        return _TABLE_OF_TEXT[name]
    for suffix in _PARQUET_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in SCHEMA:
            return name[: -len(suffix)]
    return None


class TableReader:
    """Tells a mapper which table its current input file holds (cached per file)."""

    def __init__(self, wanted: Sequence[str]) -> None:
        self.wanted = frozenset(wanted)
        self._path: Optional[str] = None
        self._table: Optional[str] = None

    def table(self) -> str:
        """The table of the current input file; ``ValueError`` if the name is unknown."""
        path = jobconf_from_env(INPUT_FILE_VAR)
        if path != self._path:
            if not path:
                raise ValueError(
                    f"{INPUT_FILE_VAR} is not set: this join needs its tables as named files (not stdin)"
                )
            table = table_of_path(path)
            if table is None:
                raise ValueError(
                    f"input file {path!r} is not a TICKIT table: name text files as the "
                    f"real sample does ({', '.join(sorted(_TABLE_OF_TEXT))}) and Parquet "
                    "files <table>.parquet"
                )
            self._path, self._table = path, table
        return self._table  # type: ignore[return-value]


def money_cents(value: Any) -> int:
    """A decimal(8,2) value (text or ``Decimal``) as integer cents, rounded half up."""
    d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    return int(d.scaleb(2).quantize(_CENT, rounding=ROUND_HALF_UP))


def format_cents(cents: int) -> str:
    """Integer cents as ``'1234.50'`` (``'-0.05'`` for negatives)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _text_bool(s: str) -> bool:
    low = s.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {s!r}")


_ISO_DATE = "%Y-%m-%d"
_ISO_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def _text_date(s: str, fmt: str = _ISO_DATE) -> str:
    """A date field read with the table's ``dateformat`` (strptime notation), as ISO."""
    if fmt == _ISO_DATE:
        return dt.date.fromisoformat(s.strip()).isoformat()
    return dt.datetime.strptime(s.strip(), fmt).date().isoformat()


def _text_timestamp(s: str, fmt: str = _ISO_TIMESTAMP) -> str:
    """A timestamp field read with the table's ``timeformat`` (sales: ``M/D/YYYY
    HH:MI:SS``, month and day not zero-padded), as ``YYYY-MM-DD HH:MM:SS``."""
    return dt.datetime.strptime(s.strip(), fmt).strftime(_ISO_TIMESTAMP)


def _converters(table: str) -> Dict[str, Callable[[str], Any]]:
    """Text field -> value, per column of ``table`` (its kind and COPY formats)."""
    t = TABLES[table]
    by_kind: Dict[str, Callable[[str], Any]] = {
        "i": int,
        "m": money_cents,
        "b": _text_bool,
        "d": lambda s: _text_date(s, t.date_format),
        "t": lambda s: _text_timestamp(s, t.timestamp_format),
        "s": lambda s: s,
    }
    return {name: by_kind[kind] for name, kind in SCHEMA[table]}


_FROM_TEXT: Dict[str, Dict[str, Callable[[str], Any]]] = {table: _converters(table) for table in SCHEMA}


def _from_arrow(table: str, kind: str, v: Any) -> Any:
    if kind == "i" or kind == "s":
        return v
    if kind == "m":
        return money_cents(v)
    if kind == "b":
        return bool(v)
    if kind == "d":
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        return _text_date(str(v), TABLES[table].date_format)
    if kind == "t":
        if isinstance(v, dt.datetime):
            return v.strftime(_ISO_TIMESTAMP)
        return _text_timestamp(str(v), TABLES[table].timestamp_format)
    raise AssertionError(kind)


def fields(table: str, value: Any, names: Sequence[str]) -> Tuple[Any, ...]:
    """The normalised values of columns ``names`` of one row of ``table``.

    ``value`` is a text line (``str``) or a Parquet row (``dict``). Raises
    ``ValueError`` for a text line with the wrong number of fields.
    """
    kinds = _KIND[table]
    if isinstance(value, dict):
        out = []
        for name in names:
            v = value.get(name)
            out.append(None if v is None else _from_arrow(table, kinds[name], v))
        return tuple(out)
    parts = value.split(_DELIMITER[table])
    if len(parts) != len(SCHEMA[table]):
        raise ValueError(
            f"{table} row has {len(parts)} fields, expected {len(SCHEMA[table])}: {value[:200]!r}"
        )
    index = _INDEX[table]
    convert = _FROM_TEXT[table]
    out = []
    for name in names:
        s = parts[index[name]]
        # COPY reads an empty field as NULL (DuckDB's nullstr '' likewise).
        out.append(None if s == "" else convert[name](s))
    return tuple(out)


def arrow_fields(table: str, batch: Any, names: Sequence[str]) -> Dict[str, Any]:
    """Columns ``names`` of a record batch of ``table`` as Arrow arrays, for vectorized twins.

    Text batches (one ``line`` column) are split on the table's delimiter, an empty field
    is NULL. Integers become int64, strings and dates (ISO ``YYYY-MM-DD``) strings, money
    integer cents; Parquet batches give their columns cast the same way. The same values
    as ``fields``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kinds = _KIND[table]
    unsupported = [n for n in names if kinds[n] not in ("i", "s", "d", "m", "b")]
    if TABLES[table].date_format != _ISO_DATE:  # dates are passed on as their text
        unsupported += [n for n in names if kinds[n] == "d"]
    if unsupported:
        raise ValueError(
            f"arrow_fields reads integer, string, date, money and boolean columns, not {unsupported}"
        )
    target = {"i": pa.int64(), "s": pa.string(), "d": pa.string(), "m": pa.decimal128(18, 2), "b": pa.bool_()}

    def finish(kind: str, column: Any) -> Any:
        if kind == "b" and pa.types.is_string(column.type):  # as _text_bool
            low = pc.utf8_lower(pc.utf8_trim_whitespace(column))
            true = pc.is_in(low, value_set=pa.array(sorted(_TRUE)))
            false = pc.is_in(low, value_set=pa.array(sorted(_FALSE)))
            if not pc.all(pc.or_kleene(pc.or_(true, false), pc.is_null(column))).as_py():
                raise ValueError(f"not a boolean in a {table} row")
            return pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), true)
        if kind == "m":  # integer cents, as money_cents
            return pc.cast(pc.multiply(pc.cast(column, target["m"]), pa.scalar(100, pa.int64())), pa.int64())
        return pc.cast(column, target[kind])

    if "line" not in batch.schema.names:
        return {n: finish(kinds[n], batch.column(n)) for n in names}
    lines = batch.column("line")
    parts = pc.split_pattern(lines, _DELIMITER[table])
    expected = len(SCHEMA[table])
    if len(lines) and not pc.all(pc.equal(pc.list_value_length(parts), expected)).as_py():
        raise ValueError(f"a {table} row does not have {expected} fields")
    out = {}
    for name in names:
        text = pc.list_element(parts, _INDEX[table][name])
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        out[name] = finish(kinds[name], text)
    return out


def arrow_text_reader(columns: Sequence[str]) -> Callable[[bytes], Any]:
    """A ``VectorStep.text_reader`` for TICKIT text files: a block of lines of the current
    input file's table parsed into those of ``columns`` the table has (integers as int64,
    the rest as strings for ``arrow_fields`` to convert), at C++ speed.

    A table with none of them gives its first column, so that every row is still counted
    as read. Other files (not TICKIT tables) are refused as ``TableReader`` refuses them.
    """
    reader = TableReader(SCHEMA)
    layouts: Dict[str, Tuple[str, list, dict]] = {}  # table -> (delimiter, fields, wanted types)

    def layout(table: str) -> Tuple[str, list, dict]:
        import pyarrow as pa  # here, not above: the driver validates twins without pyarrow

        names = [name for name, _ in SCHEMA[table]]
        wanted = [n for n in columns if n in _KIND[table]] or names[:1]
        types = {n: pa.int64() if _KIND[table][n] == "i" else pa.string() for n in wanted}
        return _DELIMITER[table], names, types

    def read(block: bytes) -> Any:
        from engine.arrow.text import BadLine, delimited

        table = reader.table()
        if table not in layouts:
            layouts[table] = layout(table)
        try:
            return delimited(block, *layouts[table])
        except BadLine:
            raise  # the engine names the file and line
        except ValueError as exc:
            raise ValueError(f"{table} row: {exc}") from exc

    return read


def split_tagged(tagged: Any) -> Tuple[Optional[int], list]:
    """A reduce-side join's values: the sum of the ``["S", n]`` amounts (``None`` if
    there are none) and the other tagged values, in their order."""
    total: Optional[int] = None
    other = []
    for value in tagged:
        if value[0] == "S":
            total = value[1] if total is None else total + value[1]
        else:
            other.append(value)
    return total, other
