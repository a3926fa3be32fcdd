"""Rows of an Arrow table as the record form's text, a column at a time.

The Arrow form must write the bytes the record form writes: its shuffle keys
(``SqlValueProtocol``'s JSON, ``key_bytes``) and its output lines -- the JSON rows the driver
reads back (``SqlRowsOutputProtocol``), the tsv lines ``python -m engine sql`` prints
(``results.format_value``), Hive's text lines (``results.hive_text_line``). Encoding them one
row at a time in Python costs a few µs a row, more than the rest of a query's reduce side; so
each column becomes a string array with Arrow's casts, the columns are joined element-wise, and
only the values whose text Arrow would spell otherwise go through the record form's own
functions, one by one:

* integers, booleans, dates (ISO, as ``date.isoformat``), and decimals (Arrow's text is
  ``str(Decimal)``; ``format(d, "f")`` where it has no exponent);
* strings: JSON quoting where nothing needs an escape; tsv's four escapes (``\\\\``, ``\\t``,
  ``\\n``, ``\\r``) as substring replacements;
* doubles: Arrow's cast gives the shortest digits that read back, as ``repr`` does, but picks
  another notation. For 1e-4 <= |x| < 1e16, where ``repr`` writes no exponent, Arrow's text is
  ``repr``'s when it has no exponent either (``12`` for ``12.0``: ``.0`` added). The rest
  (zeros, NaN, infinities, exponents) are written by the record form's code;
* timestamps and any other type: the record form's code for each value.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.sql import operators as ops
from engine.sql import protocol
from engine.sql.results import format_value, hive_text_line

_JSON_ESCAPED = r'["\\\x00-\x1f]'
_TSV_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def key_bytes(table: pa.Table, names: Sequence[str]) -> pa.Array:
    """Each row's key -- the list of the *names* columns' values -- as ``SqlValueProtocol``
    encodes it (the bytes the record form's shuffle partitions and sorts by), each value
    ``operators.canonical`` (``-0.0`` is ``0.0``)."""
    return _json_rows(table, names, canonical=True)


def row_json(table: pa.Table, names: Sequence[str]) -> pa.Array:
    """Each row (the *names* columns) as ``SqlRowsOutputProtocol`` writes it: its JSON list."""
    return _json_rows(table, names, canonical=False)


def tsv_lines(table: pa.Table, names: Sequence[str], dialect: str) -> pa.Array:
    """Each row as ``results.write_rows`` prints it in ``tsv`` (without the line end):
    ``format_value`` of each value, joined by tabs."""
    return _text_lines(table, names, "\t", "NULL", dialect, True, lambda v: format_value(v, dialect))


def hive_lines(table: pa.Table, names: Sequence[str]) -> pa.Array:
    """Each row as ``results.hive_text_line`` writes it (without the line end): fields joined
    by ``\\x01``, NULL as ``\\N``, strings raw."""
    return _text_lines(table, names, "\x01", "\\N", "hive", False, lambda v: hive_text_line((v,))[:-1])


def _text_lines(
    table: pa.Table,
    names: Sequence[str],
    sep: str,
    null: str,
    dialect: str,
    escape: bool,
    write: Callable[[Any], str],
) -> pa.Array:
    """The *names* columns' text (strings tsv-escaped if *escape*) joined by *sep*, NULL as
    *null*; *write* writes each value of a type without a column-wise text."""
    texts = []
    for name in names:
        column = table.column(name).combine_chunks()
        text = _plain_text(column, dialect, escape)
        if text is None:
            text = _by_value(column, write)
        texts.append(pc.fill_null(text, null) if column.null_count else text)
    return _joined(texts, sep, table.num_rows).cast(pa.binary())


# ------------------------------------------------------------------------------- JSON


def _json_rows(table: pa.Table, names: Sequence[str], canonical: bool) -> pa.Array:
    texts = [_json_text(table.column(name).combine_chunks(), canonical) for name in names]
    joined = _joined(texts, ",", table.num_rows)
    return pc.binary_join_element_wise("[", joined, "]", "").cast(pa.binary())


def _json_text(column: pa.Array, canonical: bool) -> pa.Array:
    """``protocol.dumps`` of each value of *column* (``null`` for NULL)."""
    kind = column.type
    dumps: Callable[[Any], str] = (
        (lambda v: protocol.dumps(ops.canonical(v))) if canonical else protocol.dumps
    )
    if pa.types.is_integer(kind) or pa.types.is_null(kind):
        text = pc.cast(column, pa.string())
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_string(kind):
        text = pc.binary_join_element_wise('"', column, '"', "")
        if _may_hold(column, b'"\\', below=32):
            escape = pc.fill_null(pc.match_substring_regex(column, _JSON_ESCAPED), False)
            text = _replaced(text, column, escape, dumps)
    elif pa.types.is_float64(kind):
        text, slow = _float_text(column)
        text = _replaced(text, column, slow, dumps)
    elif pa.types.is_decimal(kind):
        # Arrow's text is str(Decimal) (exponent and all); an Arrow decimal has no -0
        text = pc.binary_join_element_wise('{"$n":"', pc.cast(column, pa.string()), '"}', "")
    elif pa.types.is_date32(kind):
        text = pc.binary_join_element_wise('{"$d":"', pc.cast(column, pa.string()), '"}', "")
    else:
        text = _by_value(column, dumps)
    return pc.fill_null(text, "null") if column.null_count else text


# ------------------------------------------------------------------------------- tsv, Hive text


def _plain_text(column: pa.Array, dialect: str, escape: bool) -> Optional[pa.Array]:
    """The text ``results`` writes for each value of *column* (NULLs left NULL; strings
    tsv-escaped if *escape*), or ``None`` for a type written value by value."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_null(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_boolean(kind):
        yes, no = ("t", "f") if dialect == "redshift" else ("true", "false")
        return pc.if_else(column, yes, no)
    if pa.types.is_string(kind):
        if escape and _may_hold(column, b"\\\t\n\r"):
            for old, new in _TSV_ESCAPES:  # the backslash first: the others add backslashes
                column = pc.replace_substring(column, old, new)
        return column
    if pa.types.is_float64(kind):
        text, slow = _float_text(column)
        return _replaced(text, column, slow, lambda v: format_value(v, dialect))
    if pa.types.is_decimal(kind):
        text = pc.cast(column, pa.string())
        slow = pc.fill_null(pc.match_substring(text, "E"), False)  # format(d, "f") has none
        return _replaced(text, column, slow, lambda v: format_value(v, dialect))
    if pa.types.is_date32(kind):
        return pc.cast(column, pa.string())
    return None


# ------------------------------------------------------------------------------- shared


def _float_text(column: pa.Array) -> tuple:
    """Doubles as ``repr`` writes them where Arrow's cast can (module docstring), and the mask
    of the values it cannot (NULLs out of it)."""
    text = pc.cast(column, pa.string())
    size = pc.abs(column)
    fixed = pc.and_(pc.greater_equal(size, 1e-4), pc.less(size, 1e16))
    fast = pc.and_(fixed, pc.invert(pc.match_substring(text, "e")))
    whole = pc.invert(pc.match_substring(text, "."))
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    return text, pc.fill_null(pc.invert(fast), False)


def _may_hold(column: pa.Array, chars: bytes, below: int = 0) -> bool:
    """Whether a string of *column* may hold one of the bytes *chars* or a byte below *below*:
    a scan of its data buffer, several times faster than a regex kernel (``False``: none does;
    ``True`` may come from a NULL's bytes)."""
    _, offsets, data = column.buffers()
    if data is None or not len(column):
        return False
    ends = np.frombuffer(offsets, dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)[ends[0] : ends[-1]]
    return bool((below and (raw < below).any()) or any((raw == c).any() for c in chars))


def _replaced(text: pa.Array, column: pa.Array, mask: pa.Array, write: Callable[[Any], str]) -> pa.Array:
    """*text* with the values of *column* under *mask* written by *write*, one by one."""
    if not pc.any(mask).as_py():
        return text
    written = [write(v) for v in column.filter(mask).to_pylist()]
    return pc.replace_with_mask(text, mask, pa.array(written, pa.string()))


def _by_value(column: pa.Array, write: Callable[[Any], str]) -> pa.Array:
    """*write* of each non-NULL value of *column* (NULLs stay NULL)."""
    values: List[Any] = column.to_pylist()
    return pa.array([None if v is None else write(v) for v in values], pa.string())


def _joined(texts: List[pa.Array], sep: str, rows: int) -> pa.Array:
    """The string arrays *texts* joined element-wise by *sep* (*rows* empty strings if none)."""
    if not texts:
        return pa.array([""] * rows, pa.string())
    return texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, sep)
