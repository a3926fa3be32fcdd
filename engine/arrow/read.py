"""A split as Arrow record batches (text lines, parsed text, Parquet columns), the sizes
of batches within a memory budget, and Parquet schemas unified across files."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import pyarrow as pa

from engine.arrow import text as arrow_text
from engine.errors import InputError, JobDefinitionError
from engine.formats import SplitReader, parquet_file
from engine.splits import InputSplit

#: Bytes of text per record batch.
TEXT_BLOCK = 8 << 20


#: Rows per Parquet record batch.
PARQUET_BATCH_ROWS = 1 << 17


#: A group-by, key encoding and sort of a table take a few times its size (a group-by
#: of distinct strings ~7x): the map side buffers budget / WORK_FACTOR bytes of mapped
#: rows before it combines them, and the reduce side reads a partition whole when its
#: runs hold at most that, else in ranges of buckets of about that size.
WORK_FACTOR = 8


META_SOURCE = b"engine.source"  # the input file the run was mapped from ("" after step 0)


def block_bytes(budget: int) -> int:
    """Bytes of input per batch for a map task with *budget*: a batch's mapped table
    and its temporaries stay within the map side's share (``WORK_FACTOR``)."""
    return max(4096, min(TEXT_BLOCK, budget // (2 * WORK_FACTOR)))


def batch_rows(nbytes: int, rows: int, target: int) -> int:
    """Rows per IPC batch for batches of about *target* bytes."""
    return max(1, target // max(1, nbytes // max(1, rows)))


def batch_target(budget: int) -> int:
    return max(1 << 10, min(4 << 20, budget // 64))


def input_batches(
    split: InputSplit,
    columns: Sequence[str] | None,
    block_bytes: int = TEXT_BLOCK,
    text_reader: Callable[[bytes], pa.Table | None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of a split: ``line`` batches for text, column batches for Parquet.

    *block_bytes* bounds a text batch (and, at ~100 bytes a row, a Parquet batch), so a
    small memory budget gets small batches. *text_reader* (``VectorStep.text_reader``)
    turns a block of text lines into columns; where it gives ``None``, the block is read
    as lines. Each batch's schema metadata names its file (for ``map_and_shuffle``).
    """
    mark = {META_SOURCE: (split.uri or split.path).encode()}
    for batch in _split_batches(split, columns, block_bytes, text_reader):
        yield batch.replace_schema_metadata(mark)


def _split_batches(
    split: InputSplit,
    columns: Sequence[str] | None,
    block_bytes: int,
    text_reader: Callable[[bytes], pa.Table | None] | None,
) -> Iterator[pa.RecordBatch]:
    if split.kind == "parquet":
        yield from _parquet_batches(split, columns, block_bytes)
        return
    blocks = SplitReader(split).blocks(block_bytes)
    line_no = 0
    if text_reader is not None:
        # A split without a line still gets a (empty) batch: a mapper sees every map task,
        # as an mrjob mapper_final runs on each (a SQL aggregate without GROUP BY has a row
        # over no rows, engine.sql.vector._with_empty_row).
        blocks = _at_least_one(blocks)
    for block in blocks:
        try:
            if text_reader is not None:
                arrow_text.check_utf8(block)
                table = text_reader(block)
                if table is not None:
                    line_no += table.num_rows
                    if not table.num_rows:
                        yield pa.RecordBatch.from_pylist([], schema=table.schema)
                    yield from table.combine_chunks().to_batches()
                    continue
            lines = arrow_text.lines(block)
        except arrow_text.NotUTF8 as exc:
            raise InputError(
                f"{split.path} line {line_no + exc.line + 1} (in {split.describe()}) is not valid UTF-8; "
                "fix the file or read it with a bytes protocol"
            ) from exc
        except arrow_text.BadLine as exc:
            raise InputError(
                f"{split.path} line {line_no + exc.line + 1} (in {split.describe()}) {exc.reason}; "
                "fix or remove that line"
            ) from exc
        line_no += len(lines)
        yield pa.RecordBatch.from_arrays([lines], names=["line"])


def _at_least_one(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """*blocks*, or one empty block if there are none."""
    empty = True
    for block in blocks:
        empty = False
        yield block
    if empty:
        yield b""


def _parquet_batches(
    split: InputSplit, columns: Sequence[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    try:
        pf = parquet_file(split.path)
        wanted = None
        if columns:
            # A job reading several tables names the columns it needs from any of
            # them; each file gives those it has (maybe none: rows without columns),
            # found by their exact name, else whatever their case (SQL names them so).
            present = set(pf.schema_arrow.names)
            by_lower = {name.lower(): name for name in pf.schema_arrow.names}
            wanted = [
                c if c in present else by_lower[c.lower()]
                for c in columns
                if c in present or c.lower() in by_lower
            ]
        empty = True
        for batch in pf.iter_batches(
            row_groups=list(split.row_groups),
            columns=wanted,
            batch_size=max(1024, min(PARQUET_BATCH_ROWS, block_bytes // 100)),
            use_threads=False,
        ):
            empty = False
            yield _dictionaries_decoded(batch)
        if empty:  # no rows: one empty batch, as a text split without lines gets one
            schema = pf.schema_arrow
            fields = [schema.field(n) for n in (wanted if wanted is not None else schema.names)]
            yield _dictionaries_decoded(pa.RecordBatch.from_pylist([], schema=pa.schema(fields)))
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read Parquet {split.describe()}: {exc}") from exc


def _dictionaries_decoded(batch: pa.RecordBatch) -> pa.RecordBatch:
    """*batch* with its dictionary-encoded columns as plain columns of their values: the
    values the record path sees, and one type whether a file stored a column with a
    dictionary or not."""
    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    columns = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """A type holding every value of *a* and of *b* as the same Python value (what the
    record path sees), or ``None``: integers widen, floats widen, decimals of one scale widen,
    ``string`` and ``large_string`` (``binary``, ``large_binary``) meet, a dictionary is its
    values, a NULL column takes any type, timestamps of one time zone take the finer unit (not ns).
    An integer and a float do not meet: ``1`` and ``1.0`` are different output."""
    if pa.types.is_dictionary(a):
        a = a.value_type
    if pa.types.is_dictionary(b):
        b = b.value_type
    if a == b:
        return a
    if pa.types.is_null(a) or pa.types.is_null(b):
        return b if pa.types.is_null(a) else a
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        if pa.types.is_signed_integer(a) == pa.types.is_signed_integer(b):
            return a if a.bit_width >= b.bit_width else b
        signed, unsigned = (a, b) if pa.types.is_signed_integer(a) else (b, a)
        if signed.bit_width > unsigned.bit_width:
            return signed
        width = 2 * unsigned.bit_width
        return {16: pa.int16(), 32: pa.int32(), 64: pa.int64()}.get(width)
    if pa.types.is_floating(a) and pa.types.is_floating(b):
        return a if a.bit_width >= b.bit_width else b
    if pa.types.is_decimal128(a) and pa.types.is_decimal128(b) and a.scale == b.scale:
        return a if a.precision >= b.precision else b  # not another scale: 1.5 would print 1.50
    lists = (pa.types.is_list, pa.types.is_large_list)
    if any(f(a) for f in lists) and any(f(b) for f in lists):  # collect()'s partial lists
        item = _common_type(a.value_type, b.value_type)
        if item is None:
            return None
        large = pa.types.is_large_list(a) or pa.types.is_large_list(b)
        return pa.large_list(item) if large else pa.list_(item)
    texts = (pa.string(), pa.large_string())
    if a in texts and b in texts:
        return pa.large_string()
    blobs = (pa.binary(), pa.large_binary())
    if a in blobs and b in blobs:
        return pa.large_binary()
    units = ("s", "ms", "us")  # not ns: Python's datetime stops at microseconds
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and a.tz == b.tz:
        if a.unit in units and b.unit in units:
            return a if units.index(a.unit) >= units.index(b.unit) else b
    return None


def unify_schemas(
    schemas: Sequence[pa.Schema], sources: Sequence[str], describe: Callable[[str], str] = repr
) -> pa.Schema:
    """One schema for tables of *schemas* (columns in order of first appearance, each of
    the ``_common_type`` of its types). Types that do not meet are an ``InputError``
    naming the column and the two input files (*sources*, ``""`` for the output of an
    earlier step: then the twin's mapper is at fault, a ``JobDefinitionError``); both
    would fail the same way again, so neither is retried."""
    fields: dict[str, tuple[pa.DataType, str]] = {}
    for schema, source in zip(schemas, sources):
        for f in schema:
            if f.name not in fields:
                kind = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
                fields[f.name] = (kind, source)
                continue
            kind, first = fields[f.name]
            common = _common_type(kind, f.type)
            if common is None:
                raise _type_conflict(describe(f.name), kind, first, f.type, source)
            fields[f.name] = (common, first)
    return pa.schema([(name, kind) for name, (kind, _) in fields.items()])


def _type_conflict(column: str, a: pa.DataType, source_a: str, b: pa.DataType, source_b: str) -> Exception:
    if source_a and source_b:
        return InputError(
            f"column {column} is {a} in {source_a} but {b} in {source_b}; the vectorized (Arrow) "
            "pipeline needs one type per column and these do not unify without changing values: "
            "give the files one type, or run with --no-vectorize"
        )
    return JobDefinitionError(
        f"the vectorized twin's map output column {column} is {a} in one task and {b} in another; "
        "make its mapper give one type"
    )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """*table* with *schema*'s columns in its order: cast where the type differs, NULLs
    where a column is missing; no schema metadata."""
    if table.schema.equals(schema):
        return table.replace_schema_metadata(None) if table.schema.metadata else table
    n = table.num_rows
    names = set(table.column_names)
    columns = []
    for f in schema:
        if f.name not in names:
            columns.append(pa.nulls(n, f.type))
        else:
            column = table.column(f.name)
            columns.append(column if column.type == f.type else column.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def concat(tables: Sequence[pa.Table], sources: Sequence[str]) -> pa.Table:
    """*tables* as one table, their schemas unified (``unify_schemas``)."""
    first = tables[0].schema
    if all(t.schema.equals(first) for t in tables[1:]):
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    schema = unify_schemas([t.schema for t in tables], sources)
    return pa.concat_tables([conform(t, schema) for t in tables])
