"""Blocks of text lines as Arrow arrays, without a Python object per line.

A block is whole lines of one split (each ending in ``\\n``, the file's last line maybe
not). ``lines`` gives them as a string array, stripped as mrjob strips a line
(``rstrip('\\r\\n')``): NumPy finds the line ends, the array is built over the block's
own bytes, and Arrow validates the UTF-8 and strips the endings in C++. ``delimited``
parses a block of delimited lines straight into typed columns with pyarrow's CSV reader,
for jobs whose twin reads fields rather than lines (``VectorStep.text_reader``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


class NotUTF8(ValueError):
    """A block holds a line that is not valid UTF-8; ``line`` is its 0-based index."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line + 1} of the block is not valid UTF-8")
        self.line = line


class BadLine(ValueError):
    """A delimited line with the wrong number of fields; ``line``: its 0-based index in
    the block, ``reason``: what is wrong with it (the engine adds file and line number)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line + 1} of the block {reason}")
        self.line = line
        self.reason = reason


def _line_starts(block: bytes) -> np.ndarray:
    """Offsets of each line's first byte, and of the block's end (int64)."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + 1
    if not block.endswith(b"\n") and block:
        ends = np.append(ends, len(block))
    return np.concatenate((np.zeros(1, dtype=np.int64), ends.astype(np.int64)))


def lines(block: bytes) -> pa.Array:
    """The block's lines as a string array, line endings stripped; ``NotUTF8`` names a bad line."""
    offsets = _line_starts(block)
    count = len(offsets) - 1
    if len(block) < (1 << 31) - 1:
        kind, offsets = pa.string(), offsets.astype(np.int32)
    else:
        kind = pa.large_string()
    raw = pa.Array.from_buffers(kind, count, [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    if not block.isascii():
        try:
            raw.validate(full=True)
        except pa.ArrowInvalid:
            raise NotUTF8(_first_bad_line(block, offsets)) from None
    return pc.utf8_rtrim(raw, characters="\r\n")


def _first_bad_line(block: bytes, offsets: np.ndarray) -> int:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        return int(np.searchsorted(offsets, exc.start, side="right")) - 1
    raise AssertionError("Arrow rejected UTF-8 that Python accepts")


def check_utf8(block: bytes) -> None:
    """``NotUTF8`` (naming the line) unless the whole block is valid UTF-8."""
    if block.isascii():
        return
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        raise NotUTF8(_first_bad_line(block, _line_starts(block))) from None


def delimited(
    block: bytes,
    delimiter: str,
    names: Sequence[str],
    types: Mapping[str, pa.DataType],
) -> pa.Table | None:
    """The columns *types* names of a block of delimited lines (fields *names*, no quoting,
    an empty field NULL: Redshift ``COPY``'s reading of a delimited file).

    ``None`` when the block holds a ``\\r`` or may hold an empty line, which the CSV reader
    reads otherwise than a Streaming mapper does (a ``\\r`` ends a line there; an empty
    line is a row of NULLs there, a line of one empty field to a mapper): the caller reads
    such a block as lines instead. A line with the wrong number of fields is a
    ``ValueError`` quoting it.
    """
    if b"\r" in block:
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(
                column_names=list(names), use_threads=False, block_size=max(1 << 20, len(block) + 1)
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=False, double_quote=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(types),
                column_types=dict(types),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        _raise_bad_line(block, delimiter, len(names))
        raise ValueError(f"cannot read {len(names)}-field {delimiter!r}-delimited lines: {exc}") from exc
    # An empty line is a row of NULLs to the CSV reader (``ignore_empty_lines=False``); so
    # a block with a row whose every column is NULL may hold one. Rare (a column without
    # empty fields rules it out at once): such a block is read as lines.
    if table.num_rows and all(column.null_count for column in table.columns):
        every_null = pc.is_null(table.column(0))
        for column in table.columns[1:]:
            every_null = pc.and_(every_null, pc.is_null(column))
        if pc.any(every_null).as_py():
            return None
    return table


def _raise_bad_line(block: bytes, delimiter: str, fields: int) -> None:
    """``BadLine`` for the block's first line without *fields* fields, if there is one."""
    sep = delimiter.encode()
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()  # what follows the last line end is not a line
    for index, line in enumerate(lines):
        if line.count(sep) + 1 != fields:
            text = line.decode("utf-8", "replace")
            raise BadLine(index, f"has {line.count(sep) + 1} fields, expected {fields}: {text[:200]!r}")
