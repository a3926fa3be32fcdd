"""Turn a query's result rows into text: the formats the SQL front end prints and writes.

A row is a tuple of Python values, one per column: ``None`` (SQL NULL), ``bool``, ``int``, ``float``,
``decimal.Decimal``, ``str``, ``datetime.date`` or ``datetime.datetime``. Any other type is refused with a
``TypeError`` rather than printed as some ``repr``. Columns come as a sequence of names, and every row must
have exactly that many values (a ``ValueError`` otherwise).

Scalar text (:func:`format_value`, shared by every format unless noted):

* NULL is ``NULL``; booleans are ``true``/``false`` for the ``hive`` dialect (as Hive's CLI prints them)
  and ``t``/``f`` for ``redshift`` (as psql prints them);
* integers print as themselves; a Decimal prints as its exact text, trailing zeros kept
  (``Decimal('12.50')`` is ``12.50``) and never in exponent notation (``Decimal('1E+2')`` is ``100``);
* a float prints as Python's ``repr`` (the shortest text that reads back as the same float), except that an
  integral float always prints with ``.0`` and no exponent (``12.0``, ``1e16`` as ``10000000000000000.0``);
  NaN and infinities print as ``NaN``, ``Infinity`` and ``-Infinity``;
* a date is ``YYYY-MM-DD``; a timestamp is ``YYYY-MM-DD HH:MM:SS``, followed by ``.ffffff`` with its trailing
  zeros trimmed only when the microseconds are nonzero (``12:00:00.5``). A timestamp's time zone, if any, is
  not printed;
* a string prints as itself, except that in ``tsv`` and ``table`` output (where a row must stay one line and
  its fields stay apart) a backslash, tab, newline and carriage return inside it are escaped as ``\\\\``,
  ``\\t``, ``\\n`` and ``\\r``.

The formats of :func:`write_rows`:

``tsv``
    One line per row, fields separated by a tab, no header line; values as above (NULL as ``NULL``, strings
    escaped). An empty result prints nothing. This is what the CLI prints when its output is not a terminal.
``csv``
    A header line of the column names, then one record per row written by the stdlib's ``csv.writer``
    (RFC 4180 quoting: a field holding a comma, quote, CR or LF is quoted, quotes doubled), each record ended
    by ``\\n`` (as ``psql --csv`` and DuckDB end them). NULL is an empty field, so it reads back the same as
    an empty string; strings are written unescaped (quoting carries their tabs and newlines). An empty
    result prints just the header.
``jsonl``
    One JSON object per row, ``{"col": value, ...}`` with the keys in column order; a later duplicate
    column name gets the suffix ``_2``, ``_3``... (never one that another column already has). Integers and
    finite floats are JSON numbers; a finite Decimal is a JSON number written with its exact text
    (``0.10`` stays ``0.10``: ``json.loads(line, parse_float=Decimal)`` gives back the same Decimal); NaN and
    infinite floats or Decimals are ``null``; booleans are ``true``/``false`` in every dialect; NULL is
    ``null``; dates and timestamps are JSON strings in the text above; non-ASCII text is written as itself,
    not as ``\\u`` escapes.
``table``
    Aligned columns like psql's: a header line of the column names (centred), a rule of ``-`` with ``+`` at
    the column separators, the rows with columns separated by `` | ``, then a footer ``(N rows)`` (``(1
    row)``). A column whose non-NULL values are all numbers is right-aligned, any other left-aligned; NULL is
    shown as ``NULL``; widths count East Asian wide characters as two columns. Lines carry no trailing
    blanks. The rows are buffered to measure the columns. This is what the CLI prints to a terminal.

:func:`hive_text_line` writes one line of a Hive text table as ``INSERT OVERWRITE DIRECTORY`` writes it
(LazySimpleSerDe's defaults): fields joined by ``\\x01``, NULL as ``\\N``, the other values as above in the
``hive`` dialect, and strings written raw: Hive escapes nothing unless the table says ``ESCAPED BY``, so a
string holding ``\\x01`` or a newline makes the line ambiguous there as it does here.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import unicodedata
from decimal import Decimal
from typing import Iterable, List, Sequence, Set, TextIO

FORMATS = ("table", "tsv", "csv", "jsonl")
DIALECTS = ("hive", "redshift")

_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NUMBER_TYPES = (int, float, Decimal)


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r} (expected one of {', '.join(DIALECTS)})")


def _format_float(value: float) -> str:
    """A float's text: ``repr``, but integral floats as ``12.0`` without an exponent; NaN/inf spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(float(value))  # float(): a subclass's repr (numpy's) may not be the plain one
    if value.is_integer() and ("e" in text or "E" in text):
        # The shortest round-tripping digits, written out in full: 1e+16 -> 10000000000000000.0
        return format(Decimal(text), "f") + ".0"
    return text


def _format_decimal(value: Decimal) -> str:
    """A Decimal's exact text, trailing zeros kept, never in exponent notation."""
    return format(value, "f")


def _format_timestamp(value: datetime.datetime) -> str:
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text


def _format_date(value: datetime.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _raw_text(value: object, dialect: str, null: str) -> str:
    """A value's text with strings unescaped and NULL as ``null``; the common core of every format."""
    if value is None:
        return null
    if isinstance(value, bool):  # before int: bool is an int
        if dialect == "redshift":
            return "t" if value else "f"
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, Decimal):
        return _format_decimal(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.datetime):  # before date: datetime is a date
        return _format_timestamp(value)
    if isinstance(value, datetime.date):
        return _format_date(value)
    raise TypeError(f"cannot format a result value of type {type(value).__name__}: {value!r}")


def format_value(value: object, dialect: str = "hive") -> str:
    """The ``tsv`` text of one value (see the module docstring): NULL as ``NULL``, strings escaped.

    Booleans are ``true``/``false`` for ``dialect="hive"`` and ``t``/``f`` for ``"redshift"``. A backslash,
    tab, newline or carriage return inside a string is escaped as ``\\\\``, ``\\t``, ``\\n`` or ``\\r``.
    """
    _check_dialect(dialect)
    if isinstance(value, str):
        return value.translate(_TSV_ESCAPES)
    return _raw_text(value, dialect, "NULL")


def hive_text_line(row: tuple) -> str:
    """One line of a Hive text file as ``INSERT OVERWRITE DIRECTORY`` writes it, ending in ``\\n``.

    Fields are joined by ``\\x01``, NULL is ``\\N``, booleans ``true``/``false``, dates, timestamps, Decimals
    and floats as in :func:`format_value`; strings are written raw (Hive's default escapes nothing).
    """
    return "\x01".join(_raw_text(value, "hive", "\\N") for value in row) + "\n"


def default_format(stream: TextIO) -> str:
    """``table`` when ``stream`` is a terminal, ``tsv`` otherwise (a pipe or a file)."""
    return "table" if stream.isatty() else "tsv"


def _json_keys(columns: Sequence[str]) -> List[str]:
    """Column names made unique for JSON keys: a later duplicate gets ``_2``, ``_3``... (never a name in use).

    Every name as given is reserved, so ``["a", "a", "a_2"]`` gives ``["a", "a_3", "a_2"]``.
    """
    reserved = set(columns)
    used: Set[str] = set()
    keys = []
    for name in columns:
        key = name
        if key in used:
            n = 2
            while f"{name}_{n}" in reserved or f"{name}_{n}" in used:
                n += 1
            key = f"{name}_{n}"
        used.add(key)
        keys.append(key)
    return keys


def _json_value(value: object, dialect: str) -> str:
    """A value as JSON text; Decimals as exact JSON numbers, non-finite numbers as ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return json.dumps(float(value)) if math.isfinite(value) else "null"
    if isinstance(value, Decimal):
        return _format_decimal(value) if value.is_finite() else "null"
    return json.dumps(_raw_text(value, dialect, ""), ensure_ascii=False)


def _display_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide/fullwidth characters 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, align: str) -> str:
    fill = width - _display_width(text)
    if align == "right":
        return " " * fill + text
    if align == "center":
        left = fill // 2
        return " " * left + text + " " * (fill - left)
    return text + " " * fill


def _write_table(rows: Iterable[tuple], columns: Sequence[str], out: TextIO, dialect: str) -> int:
    ncols = len(columns)
    cells: List[List[str]] = []
    numeric = [True] * ncols
    seen_value = [False] * ncols
    for row in rows:
        _check_row(row, ncols)
        line = []
        for i, value in enumerate(row):
            if value is not None:
                seen_value[i] = True
                if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
                    numeric[i] = False
            line.append(format_value(value, dialect))
        cells.append(line)
    aligns = ["right" if numeric[i] and seen_value[i] else "left" for i in range(ncols)]
    widths = [_display_width(name) for name in columns]
    for line in cells:
        for i, text in enumerate(line):
            widths[i] = max(widths[i], _display_width(text))

    def render(texts: Sequence[str], col_aligns: Sequence[str]) -> str:
        parts = [" " + _pad(t, widths[i], col_aligns[i]) + " " for i, t in enumerate(texts)]
        return "|".join(parts).rstrip() + "\n"

    out.write(render([format_value(name, dialect) for name in columns], ["center"] * ncols))
    out.write("+".join("-" * (w + 2) for w in widths) + "\n")
    for line in cells:
        out.write(render(line, aligns))
    n = len(cells)
    out.write(f"({n} {'row' if n == 1 else 'rows'})\n")
    return n


def _check_row(row: tuple, ncols: int) -> None:
    if len(row) != ncols:
        raise ValueError(f"a result row has {len(row)} values for {ncols} columns: {row!r}")


def write_rows(
    rows: Iterable[tuple], columns: Sequence[str], fmt: str, out: TextIO, dialect: str = "hive"
) -> int:
    """Write ``rows`` (tuples of values, one per name in ``columns``) to ``out`` as ``fmt``.

    ``fmt`` is ``table``, ``tsv``, ``csv`` or ``jsonl`` and ``dialect`` ``hive`` or ``redshift`` (it decides
    how booleans print in the text formats); the module docstring describes each format. Rows are streamed
    except for ``table``, which buffers them to measure its columns. Returns the number of rows written.
    """
    _check_dialect(dialect)
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
    ncols = len(columns)
    if fmt == "table":
        return _write_table(rows, columns, out, dialect)
    count = 0
    if fmt == "tsv":
        for row in rows:
            _check_row(row, ncols)
            out.write("\t".join(format_value(value, dialect) for value in row) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(list(columns))
        for row in rows:
            _check_row(row, ncols)
            writer.writerow([_raw_text(value, dialect, "") for value in row])
            count += 1
    else:  # jsonl
        keys = [json.dumps(key, ensure_ascii=False) for key in _json_keys(columns)]
        for row in rows:
            _check_row(row, ncols)
            fields = ", ".join(f"{key}: {_json_value(value, dialect)}" for key, value in zip(keys, row))
            out.write("{" + fields + "}\n")
            count += 1
    return count


__all__ = ["DIALECTS", "FORMATS", "default_format", "format_value", "hive_text_line", "write_rows"]
