"""The vectorized (Arrow) path: a job's map side on record batches, a declared aggregation
on the reduce side, and Arrow IPC shuffle files.

A job offers a twin of its record methods with ``vector_steps()``::

    def vector_steps(self):
        from engine.vectorized import VectorStep
        return [VectorStep(mapper=self.words_in_batch, keys=("word",),
                           aggregate={"count": ("word", "count")})]

``mapper`` takes a ``pyarrow.RecordBatch`` (text input: one string column ``line`` with
the line endings stripped as mrjob strips them; Parquet: the file's columns, or
``columns``) and returns a table holding the key column(s) and the aggregated inputs.
``aggregate`` maps each output value column to ``(input column, operation)``; the
operations (sum, count, min, max, mean, first, collect) run inside Arrow: partially on
the map side (the combiner), then finally on the reduce side. ``reducer``, if given, is an
Arrow function applied to the aggregated table of whole key groups of a reduce partition:
the whole partition, or, when it is larger than the task's memory budget, each of the
slices it is reduced in (an mrjob reducer sees one key at a time, so one that computes
what its record form computes gives the same result either way). The result's rows
become the job's output pairs — key: the key column (a list if several), value: the value
column (a list if several, or ``value(row)``) — encoded with the job's output protocol,
partitioned by the same hash of the same encoded key and sorted by the same key bytes as
the record path, so both paths write identical parts.

Memory: both sides stay within the task's share of ``--memory-budget``. A map task
buffers mapped rows up to a ``WORK_FACTOR``-th of it, combines them and writes each
partition's rows ordered by a sub-bucket of the key's hash (``BUCKETS``, the rows per
bucket in the run's metadata); a task that flushed several times merges its spills
bucket by bucket into one run per partition. A reduce task reads a small partition
whole, a large one a range of buckets (whole key groups) at a time; the last step's
slices are sorted by key bytes and merged into the part, written from Arrow buffers.

Parquet files may type a column differently: a dictionary column is read as its values,
and types that hold the same Python values (int32 and int64, string and large_string, a
NULL column and any other) are unified where the rows meet; others (string and struct,
int and double) are an ``InputError`` naming the column and both files, not retried.

The record form stays the reference: it runs on every mrjob runner, and tests prove the
two forms agree. ``--no-vectorize`` forces the record path.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine import arrow_keys, arrow_text
from engine.errors import InputError, JobDefinitionError
from engine.formats import READ_BUFFER, TextPartWriter, is_corrupt_compressed, open_compressed
from engine.precombine import writes_standard_json
from engine.splits import InputSplit

#: Bytes of text per record batch.
TEXT_BLOCK = 8 << 20
#: Rows per Parquet record batch.
PARQUET_BATCH_ROWS = 1 << 17
#: Aggregations a job may declare, with the partial (map-side) and final (reduce-side) steps.
OPERATIONS = ("sum", "count", "min", "max", "mean", "first", "collect")


@dataclass(frozen=True)
class VectorStep:
    """The vectorized twin of one mrjob step (mapper + combiner + reducer).

    * ``mapper``: record batch → table (``None``: pass the batch on; steps after the first
      get the previous step's result table in batches).
    * ``keys``: the columns that group and partition rows (the step's mrjob key).
    * ``aggregate``: ``{output column: (input column, operation)}``; empty: no grouping,
      the partition's rows are handed to ``reducer`` as they are.
    * ``combiner``: an Arrow function applied to each map-side partial table (e.g. a
      per-task top-k), ``reducer``: to each reduce slice's final table (whole key groups:
      the partition, or a part of it within the memory budget).
    * ``output_keys``/``output_values`` (last step): the columns whose values become the
      output key and value (default ``keys`` and the ``aggregate`` columns; a list when
      several), or ``value(row)`` for the value.
    * ``columns``: Parquet columns to read (projection); each file gives those it has, so
      a join names the columns it needs from all its tables.
    * ``text_reader``: text input read as columns rather than lines: called with each
      block of whole lines (bytes, valid UTF-8), it returns the mapper's input table, or
      ``None`` to get that block as ``line`` batches (``engine.arrow_text.delimited``
      parses delimited lines at C++ speed).
    """

    keys: Sequence[str]
    aggregate: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    mapper: Callable[[pa.RecordBatch], Any] | None = None
    combiner: Callable[[pa.Table], pa.Table] | None = None
    reducer: Callable[[pa.Table], pa.Table] | None = None
    output_keys: Sequence[str] | None = None
    output_values: Sequence[str] | None = None
    value: Callable[[dict[str, Any]], Any] | None = None
    columns: Sequence[str] | None = None
    text_reader: Callable[[bytes], pa.Table | None] | None = None

    def validate(self) -> None:
        """Refuse unknown operations and impossible declarations."""
        if not self.keys:
            raise JobDefinitionError("a VectorStep needs at least one key column")
        for name, (_column, op) in self.aggregate.items():
            if op not in OPERATIONS:
                raise JobDefinitionError(
                    f"vectorized aggregation {name!r} uses {op!r}; choose one of {', '.join(OPERATIONS)}"
                )
            if name in self.keys:
                raise JobDefinitionError(f"value column {name!r} has the name of a key column")
        if not self.aggregate and self.output_values is None and self.value is None:
            raise JobDefinitionError("a VectorStep without aggregate needs output_values or value")


def one_group(batch: pa.RecordBatch, key: str = "all") -> pa.Table:
    """*batch* with a null key column: every row in one group, as an mrjob ``None`` key."""
    return pa.Table.from_batches([batch]).append_column(key, pa.nulls(batch.num_rows, pa.int8()))


# ---------------------------------------------------------------------------- aggregations


def _partial_specs(step: VectorStep) -> list[tuple[str, str, Any, str]]:
    """(input column, Arrow function, options, partial column) for the map side."""
    specs = []
    for name, (column, op) in step.aggregate.items():
        if op == "mean":
            specs.append((column, "sum", None, f"{name}.sum"))
            specs.append((column, "count", pc.CountOptions(mode="only_valid"), f"{name}.count"))
        elif op == "count":
            specs.append((column, "count", pc.CountOptions(mode="all"), f"{name}.count"))
        elif op == "collect":
            specs.append((column, "list", None, f"{name}.list"))
        else:
            specs.append((column, op, None, f"{name}.{op}"))
    return specs


#: Aggregations whose result over only NULLs is NULL.
_NULL_OF_NULLS = frozenset(("sum", "min", "max", "first"))


def partial_aggregate(table: pa.Table, step: VectorStep) -> pa.Table:
    """Group *table* by the keys and compute the partial aggregates (the combiner)."""
    specs = _partial_specs(step)
    # A sum/min/max/first over a column of NULLs only (a join's mapper pads the columns
    # of the other table with NULLs) is NULL for every group: not computed, half the
    # group-by's time in such a join; its result type comes from an empty group-by.
    # A column of Arrow's NULL type (a mapper's pa.nulls(n) for a column a file lacks)
    # has no such kernels: its result is NULL, of the NULL type.
    untyped = {i for i, (column, _, _, _) in enumerate(specs) if pa.types.is_null(table.column(column).type)}
    skipped = {
        i
        for i, (column, fn, _, _) in enumerate(specs)
        if fn in _NULL_OF_NULLS
        and (i in untyped or (table.num_rows and table.column(column).null_count == table.num_rows))
    }
    computed = [i for i in range(len(specs)) if i not in skipped]
    grouped = _group_by(table, step.keys, specs, computed)
    if skipped:
        typed = sorted(skipped - untyped)
        types = _group_by(table.slice(0, 0), step.keys, specs, typed).schema if typed else None
        for i in sorted(skipped):
            name = f"__{i}_{specs[i][1]}"
            kind = pa.null() if types is None or i in untyped else types.field(name).type
            grouped = grouped.append_column(name, pa.nulls(grouped.num_rows, kind))
    names = [f"__{i}_{fn}" for i, (_, fn, _, _) in enumerate(specs)]
    return grouped.select([*step.keys, *names]).rename_columns([*step.keys, *(s[3] for s in specs)])


def _group_by(
    table: pa.Table, keys: Sequence[str], specs: list[tuple[str, str, Any, str]], which: Sequence[int]
) -> pa.Table:
    """*table* grouped by *keys* with the partial aggregations *which* of *specs*, named
    ``__<i>_<function>``. Each reads its own alias of its input column (zero-copy), so that
    two on the same column and function (mean's sum and sum) keep distinct names."""
    inputs = table.select(list(keys))
    aggs: list[tuple[Any, ...]] = []
    for i in which:
        column, fn, opts, _ = specs[i]
        inputs = inputs.append_column(f"__{i}", table.column(column))
        aggs.append((f"__{i}", fn, opts) if opts is not None else (f"__{i}", fn))
    return inputs.group_by(list(keys), use_threads=False).aggregate(aggs)


def final_aggregate(partials: pa.Table, step: VectorStep) -> pa.Table:
    """Combine partial aggregates into the declared value columns."""
    keys = list(step.keys)
    final_fn = {"count": "sum", "sum": "sum", "min": "min", "max": "max", "first": "first"}
    aggs = [(partial, final_fn[fn]) for _, fn, _, partial in _partial_specs(step) if fn != "list"]
    untyped = [(p, fn) for p, fn in aggs if pa.types.is_null(partials.column(p).type)]  # NULLs only
    computed = [agg for agg in aggs if agg not in untyped]
    grouped = partials.group_by(keys, use_threads=False).aggregate(computed)
    for p, fn in untyped:
        grouped = grouped.append_column(f"{p}_{fn}", pa.nulls(grouped.num_rows))
    grouped = grouped.select([*keys, *(f"{p}_{fn}" for p, fn in aggs)]).rename_columns(
        [*keys, *(p for p, _ in aggs)]
    )
    columns: dict[str, Any] = {k: grouped.column(k) for k in keys}
    for name, (_, op) in step.aggregate.items():
        if op == "mean":
            total = pc.cast(grouped.column(f"{name}.sum"), pa.float64())
            count = pc.cast(grouped.column(f"{name}.count"), pa.float64())
            columns[name] = pc.if_else(
                pc.equal(count, 0), pa.scalar(None, pa.float64()), pc.divide(total, count)
            )
        elif op == "collect":
            columns[name] = _collected(partials, grouped, keys, f"{name}.list")
        else:
            columns[name] = grouped.column(f"{name}.{op}")
    return pa.table(columns)


def _collected(partials: pa.Table, grouped: pa.Table, keys: list[str], partial: str) -> pa.ChunkedArray:
    """Each key's partial lists concatenated in run order, aligned with *grouped*'s rows.

    Arrow can neither ``list``-aggregate nor join list columns, so the partial lists are
    exploded and grouped again. Every partial list holds at least one element, so keys
    first appear in the same order in both groupings; that is checked, not assumed.
    """
    lists = partials.column(partial).combine_chunks()
    exploded = partials.select(keys).take(pc.list_parent_indices(lists))
    exploded = exploded.append_column("__v", pc.list_flatten(lists))
    collected = exploded.group_by(keys, use_threads=False).aggregate([("__v", "list")])
    if not collected.select(keys).equals(grouped.select(keys)):
        raise RuntimeError("internal error: collect() groups are not aligned with the other aggregations")
    return collected.column("__v_list")


# ---------------------------------------------------------------------------------- input


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
    mark = {_META_SOURCE: (split.uri or split.path).encode()}
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
    if split.kind == "text":
        blocks = _text_blocks(split, block_bytes)
    else:
        blocks = _compressed_blocks(split.path, block_bytes)
    line_no = 0
    for block in blocks:
        try:
            if text_reader is not None:
                arrow_text.check_utf8(block)
                table = text_reader(block)
                if table is not None:
                    line_no += table.num_rows
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


def _parquet_batches(
    split: InputSplit, columns: Sequence[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    if not split.row_groups:
        return
    try:
        pf = pq.ParquetFile(split.path)
        wanted = None
        if columns:
            # A job reading several tables names the columns it needs from any of
            # them; each file gives those it has (maybe none: rows without columns).
            present = set(pf.schema_arrow.names)
            wanted = [c for c in columns if c in present]
        for batch in pf.iter_batches(
            row_groups=list(split.row_groups),
            columns=wanted,
            batch_size=max(1024, min(PARQUET_BATCH_ROWS, block_bytes // 100)),
        ):
            yield _dictionaries_decoded(batch)
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


def _text_blocks(split: InputSplit, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines: every line that starts inside the split, nothing else.

    Each block is one read of about *block_bytes*, completed to the end of its last line
    (that line started inside the split, so it is this split's): one copy of the bytes.
    """
    end = split.start + split.length
    with open(split.path, "rb", buffering=READ_BUFFER) as f:
        pos = split.start
        if split.start > 0:
            f.seek(split.start - 1)
            pos = split.start - 1 + len(f.readline())
        while pos < end:
            block = f.read(min(block_bytes, end - pos))
            if not block:
                return
            pos += len(block)
            if not block.endswith(b"\n"):
                rest = f.readline()
                pos += len(rest)
                block += rest
            yield block


def _compressed_blocks(path: str, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines of a ``.gz``/``.bz2`` file."""
    return _whole_lines(_compressed_chunks(path, block_bytes))


def _compressed_chunks(path: str, block_bytes: int) -> Iterator[bytes]:
    try:
        with open_compressed(path) as f:
            while chunk := f.read(block_bytes):
                yield chunk
    except (EOFError, OSError, ValueError) as exc:
        if not is_corrupt_compressed(exc):
            raise
        raise InputError(
            f"compressed input {path!r} is corrupt or truncated ({exc}); re-copy the file"
        ) from exc


def _whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut *chunks* so that each block ends at a line end (the last one may not)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        yield data[: cut + 1]
        carry = data[cut + 1 :]
    if carry:
        yield carry


# ----------------------------------------------------------------------------- keys


def encoded_keys(table: pa.Table, columns: Sequence[str], write: Callable[[Any, Any], bytes]) -> pa.Array:
    """Each row's key (the *columns*), encoded as the job's protocol encodes it: the bytes
    Hadoop sorts and partitions by. Column-wise for the standard JSON protocol."""
    if writes_standard_json(write):
        key_bytes = arrow_keys.json_key_bytes([table.column(k) for k in columns])
        if key_bytes is not None:
            return key_bytes
    return arrow_keys.python_key_bytes(row_keys(table, columns), write)


def row_keys(table: pa.Table, columns: Sequence[str]) -> list[Any]:
    """The mrjob key of each row: the column's value, or a list of the columns' values."""
    values = [table.column(k).to_pylist() for k in columns]
    if len(values) == 1:
        return values[0]
    return [list(row) for row in zip(*values)]


def row_values(table: pa.Table, step: VectorStep) -> list[Any]:
    """The mrjob value of each output row."""
    if step.value is not None:
        return [step.value(row) for row in table.to_pylist()]
    return row_keys(table, list(step.output_values or step.aggregate))


# ----------------------------------------------------------------------- column types


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """A type holding every value of *a* and of *b* as the same Python value (what the
    record path sees), or ``None``: integers widen, floats widen, ``string`` and
    ``large_string`` (``binary``, ``large_binary``) meet, a dictionary is its values, a
    NULL column takes any type, timestamps of one time zone take the finer unit (not ns).
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


# ---------------------------------------------------------------------------------- runs

#: Sub-buckets of a partition. A run's rows are ordered by a second hash of their key
#: (stably, so a key's rows keep their order) and its schema records how many rows each
#: bucket holds: a partition larger than the reduce's memory budget is reduced a range
#: of buckets (whole key groups) at a time, each range within the budget.
BUCKETS = 1024
_META_BUCKETS = b"engine.bucket_rows"  # int64 rows per bucket
_META_BATCH = b"engine.batch_rows"  # rows of every IPC batch but the last
_META_SOURCE = b"engine.source"  # the input file the run was mapped from ("" after step 0)
#: A group-by, key encoding and sort of a table take a few times its size (a group-by
#: of distinct strings ~7x): the map side buffers budget / WORK_FACTOR bytes of mapped
#: rows before it combines them, and the reduce side reads a partition whole when its
#: runs hold at most that, else in ranges of buckets of about that size.
WORK_FACTOR = 8


def block_bytes(budget: int) -> int:
    """Bytes of input per batch for a map task with *budget*: a batch's mapped table
    and its temporaries stay within the map side's share (``WORK_FACTOR``)."""
    return max(4096, min(TEXT_BLOCK, budget // (2 * WORK_FACTOR)))


def _batch_rows(nbytes: int, rows: int, target: int) -> int:
    """Rows per IPC batch for batches of about *target* bytes."""
    return max(1, target // max(1, nbytes // max(1, rows)))


def _batch_target(budget: int) -> int:
    return max(1 << 10, min(4 << 20, budget // 64))


class _RunWriter:
    """Writes one run: an Arrow IPC file of batches of exactly ``batch_rows`` rows (the
    last may hold fewer), so that a reader finds any row range without an index."""

    def __init__(
        self, path: str, schema: pa.Schema, counts: np.ndarray, source: str, batch_rows: int
    ) -> None:
        meta = {
            _META_BUCKETS: counts.astype(np.int64).tobytes(),
            _META_BATCH: str(batch_rows).encode(),
            _META_SOURCE: source.encode(),
        }
        self.schema = schema.with_metadata(meta)
        self.batch_rows = batch_rows
        self._writer = ipc.new_file(path, self.schema)
        self._pending: list[pa.Table] = []
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= self.batch_rows:
            self._emit(final=False)

    def _emit(self, final: bool) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        whole = table.num_rows if final else table.num_rows - table.num_rows % self.batch_rows
        if whole:
            self._writer.write_table(
                table.slice(0, whole).combine_chunks().replace_schema_metadata(self.schema.metadata),
                max_chunksize=self.batch_rows,
            )
        rest = table.num_rows - whole
        self._pending = [table.slice(whole)] if rest else []
        self._rows = rest

    def close(self) -> None:
        self._emit(final=True)
        self._writer.close()


#: Files a task keeps open at once: more runs than this are opened for each read.
OPEN_RUNS = 64


class _Run:
    """A run file: its schema, rows per bucket, and any range of its buckets' rows. The
    file stays open if *keep_open* (few runs), else it is opened for each read."""

    def __init__(self, path: str, keep_open: bool = True) -> None:
        self.path = path
        self.bytes = os.path.getsize(path)
        self._file: Any = None
        reader = self._open()
        meta = reader.schema.metadata or {}
        self.counts = np.frombuffer(meta[_META_BUCKETS], dtype=np.int64)
        self.starts = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(self.counts)))
        self.rows = int(self.starts[-1])
        self.batch_rows = int(meta[_META_BATCH])
        self.source = meta[_META_SOURCE].decode()
        self.schema = reader.schema.remove_metadata()
        self._reader = reader if keep_open else None
        if not keep_open:
            self.close()

    def _open(self) -> Any:
        self._file = pa.OSFile(self.path)
        return ipc.open_file(self._file)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        if self._reader is not None:
            yield self._reader
            return
        try:
            yield self._open()
        finally:
            self.close()

    def table(self) -> pa.Table:
        """Every row."""
        with self._reading() as reader:
            return reader.read_all().replace_schema_metadata(None)

    def read(self, first: int, end: int) -> pa.Table | None:
        """The rows of buckets ``first`` to ``end - 1``; ``None`` if there are none."""
        start, stop = int(self.starts[first]), int(self.starts[end])
        if stop <= start:
            return None
        n = self.batch_rows
        with self._reading() as reader:
            batches = [reader.get_batch(i) for i in range(start // n, (stop - 1) // n + 1)]
        table = pa.Table.from_batches(batches).replace_schema_metadata(None)
        return table.slice(start - (start // n) * n, stop - start)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _bucket_ranges(runs: Sequence[_Run], target: int) -> list[tuple[int, int]]:
    """Ranges of buckets whose rows in *runs* hold about *target* bytes each; one range
    when all of them do. A bucket is never cut: its keys' rows stay together."""
    if sum(r.bytes for r in runs) <= target:
        return [(0, BUCKETS)]
    per_bucket = np.zeros(BUCKETS, dtype=np.float64)
    for r in runs:
        per_bucket += r.counts * (r.bytes / max(1, r.rows))
    ranges = []
    first, held = 0, 0.0
    for b, size in enumerate(per_bucket.tolist()):
        held += size
        if held >= target:
            ranges.append((first, b + 1))
            first, held = b + 1, 0.0
    if first < BUCKETS:
        ranges.append((first, BUCKETS))
    return ranges


def _write_spill(path: str, table: pa.Table, counts: np.ndarray, source: str, budget: int) -> None:
    writer = _RunWriter(
        path, table.schema, counts, source, _batch_rows(table.nbytes, table.num_rows, _batch_target(budget))
    )
    writer.write(table)
    writer.close()


@contextlib.contextmanager
def _kernels_of(where: str) -> Iterator[None]:
    """An Arrow kernel that does not take a column's type (a group-by of a struct) fails
    the same way on every attempt: a ``JobDefinitionError`` (not retried) saying where."""
    try:
        yield
    except pa.ArrowNotImplementedError as exc:
        raise JobDefinitionError(
            f"the vectorized twin's {where} needs an Arrow kernel for a type it does not support "
            f"({exc}); make the twin cast that column, or run with --no-vectorize"
        ) from exc


def _release_memory() -> None:
    """Hand memory freed by Arrow back to the system (mimalloc and jemalloc keep it for
    reuse otherwise): after a buffer flush or a reduce slice, the next one is the same
    size, so keeping it would only count in the task's peak without making it faster."""
    pa.default_memory_pool().release_unused()


def _joined(sources: Iterable[str]) -> str:
    """Input files named once each, in order: ``a.parquet, b.parquet``."""
    return ", ".join(dict.fromkeys(name for names in sources for name in names.split(", ") if name))


def _merge_spills(paths: Sequence[str], out: str, budget: int) -> None:
    """One run from a map task's spills of one partition: bucket by bucket, each bucket's
    rows in spill order (a key's rows keep their order); bounded by *budget*."""
    runs: list[_Run] = []
    try:
        runs.extend(_Run(p, keep_open=len(paths) <= OPEN_RUNS) for p in paths)
        schema = unify_schemas([r.schema for r in runs], [r.source for r in runs])
        counts = sum(r.counts for r in runs)
        nbytes = sum(r.bytes for r in runs)
        rows = sum(r.rows for r in runs)
        source = _joined(r.source for r in runs)
        writer = _RunWriter(out, schema, counts, source, _batch_rows(nbytes, rows, _batch_target(budget)))
        for first, end in _bucket_ranges(runs, max(1, budget // WORK_FACTOR)):
            pieces, buckets = [], []
            for r in runs:
                table = r.read(first, end)
                if table is not None:
                    pieces.append(conform(table, schema))
                    buckets.append(np.repeat(np.arange(first, end, dtype=np.uint16), r.counts[first:end]))
            if not pieces:
                continue
            table = pa.concat_tables(pieces)
            order = np.argsort(np.concatenate(buckets), kind="stable")
            writer.write(table.take(pa.array(order)))
        writer.close()
    finally:
        for r in runs:
            r.close()
    for p in paths:
        os.remove(p)


# --------------------------------------------------------------------------------- tasks


def partial(table: pa.Table, step: VectorStep) -> pa.Table:
    """The map side's combine: partial aggregates (if declared), then ``combiner``."""
    if step.aggregate:
        table = partial_aggregate(table, step)
    return step.combiner(table) if step.combiner is not None else table


def final(partials: pa.Table, step: VectorStep) -> pa.Table:
    """The reduce side: final aggregates (if declared), then ``reducer``."""
    if step.aggregate:
        partials = final_aggregate(partials, step)
    return step.reducer(partials) if step.reducer is not None else partials


@dataclass
class ShuffleStats:
    """What a vectorized map side wrote."""

    records_in: int = 0
    records_out: int = 0
    spills: int = 0
    run_bytes: dict[int, int] = field(default_factory=dict)


def map_and_shuffle(
    step: VectorStep,
    batches: Iterable[pa.RecordBatch],
    write: Callable[[Any, Any], bytes],
    num_partitions: int,
    budget: int,
    run_dir: str,
) -> tuple[dict[int, str], ShuffleStats]:
    """Map batches, combine within *budget*, partition by the encoded key, write runs.

    Each flush of the buffer writes one spill per partition, its rows ordered by sub-bucket
    (``BUCKETS``); a task that flushed more than once merges its spills bucket by bucket,
    so it leaves one run per partition. The input files of the batches (``input_batches``
    marks them) go into the runs' metadata, for error messages.
    """
    stats = ShuffleStats()
    spills: list[list[str]] = [[] for _ in range(num_partitions)]
    pending: list[pa.Table] = []
    pending_sources: list[str] = []  # each pending table's input file
    pending_bytes = 0
    slots = num_partitions * BUCKETS
    slot_type = np.uint16 if slots <= 1 << 16 else np.int64  # a stable sort of uint16 is a radix sort

    def flush() -> None:
        nonlocal pending, pending_sources, pending_bytes
        if not pending:
            return
        source = _joined(pending_sources)
        with _kernels_of(f"map side (input {source})" if source else "map side"):
            table = partial(concat(pending, pending_sources), step)
        pending, pending_sources, pending_bytes = [], [], 0
        stats.spills += 1
        stats.records_out += table.num_rows
        if not table.num_rows:
            return
        crc = arrow_keys.crc32(encoded_keys(table, step.keys, write))
        # partition: crc % R, as the record path's; bucket: the rest of the hash
        slot = crc // np.uint32(num_partitions)
        slot %= np.uint32(BUCKETS)
        if num_partitions > 1:
            crc %= np.uint32(num_partitions)
            crc *= np.uint32(BUCKETS)
            slot += crc
        slot = slot.astype(slot_type)
        counts = np.bincount(slot, minlength=slots).reshape(num_partitions, BUCKETS)
        ordered = table.take(pa.array(np.argsort(slot, kind="stable")))
        start = 0
        for p in range(num_partitions):
            count = int(counts[p].sum())
            if count:
                path = os.path.join(run_dir, f"p{p:05d}-spill{stats.spills - 1:04d}.arrow")
                _write_spill(path, ordered.slice(start, count), counts[p], source, budget)
                spills[p].append(path)
                start += count
        del table, ordered
        _release_memory()

    for batch in batches:
        stats.records_in += batch.num_rows
        source = (batch.schema.metadata or {}).get(_META_SOURCE, b"").decode()
        with _kernels_of(f"mapper (input {source})" if source else "mapper"):
            mapped = step.mapper(batch) if step.mapper is not None else batch
        if isinstance(mapped, pa.RecordBatch):
            mapped = pa.Table.from_batches([mapped])
        if mapped.schema.metadata:
            mapped = mapped.replace_schema_metadata(None)
        pending.append(mapped)
        pending_sources.append(source)
        pending_bytes += mapped.nbytes
        if pending_bytes > budget // WORK_FACTOR:
            flush()
    flush()
    paths: dict[int, str] = {}
    for p, files in enumerate(spills):
        if not files:
            continue
        paths[p] = os.path.join(run_dir, f"p{p:05d}.arrow")
        if len(files) == 1:
            os.replace(files[0], paths[p])
        else:
            _merge_spills(files, paths[p], budget)
        stats.run_bytes[p] = os.path.getsize(paths[p])
    return paths, stats


class PartitionReduce:
    """One reduce partition: its runs, finally aggregated and reduced in slices.

    A partition whose runs fit in ``budget / WORK_FACTOR`` bytes is one slice. A larger one
    is read a range of sub-buckets at a time: every slice holds whole key groups (a key's
    rows share its bucket), each key's rows in run order, then row order — as the record
    path's reducer sees its values. ``tables()`` gives the reduced slices in bucket order
    (the next step's mapper input: order does not matter there); ``write_output`` writes
    the last step's part in key-byte order, merging the sorted slices when there are
    several. A single key's rows are never cut, so a key larger than the budget is
    reduced whole (a twin's ``reducer`` gets a table).
    """

    def __init__(self, step: VectorStep, runs: Sequence[str], budget: int) -> None:
        self.step = step
        self.budget = budget
        self.records_in = 0
        self._runs: list[_Run] = []
        try:
            for path in runs:
                self._runs.append(_Run(path, keep_open=len(runs) <= OPEN_RUNS))
            self.schema = unify_schemas(
                [r.schema for r in self._runs], [r.source for r in self._runs], self._describe
            )
        except BaseException:
            self.close()
            raise
        self.ranges = _bucket_ranges(self._runs, max(1, budget // WORK_FACTOR))

    def _describe(self, column: str) -> str:
        """A map output column for messages: the mapper's column it aggregates, if any."""
        for name, fn, _, partial_column in _partial_specs(self.step):
            if partial_column == column:
                return f"{name!r} (its {fn} in the map output, {column!r})"
        return repr(column)

    def close(self) -> None:
        for run in self._runs:
            run.close()

    def _slice(self, first: int, end: int) -> pa.Table | None:
        """The rows of buckets ``first`` to ``end - 1`` of every run, in run order, as the
        map side wrote them (partial aggregates); ``None`` if there are none."""
        whole = len(self.ranges) == 1
        pieces = []
        for run in self._runs:
            table = run.table() if whole else run.read(first, end)
            if table is not None and table.num_rows:
                pieces.append(conform(table, self.schema))
        if not pieces:
            return None
        self.records_in += sum(p.num_rows for p in pieces)
        return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]

    def tables(self) -> Iterator[pa.Table]:
        """Each slice, finally aggregated and reduced (nothing else holds the slice's
        partial rows once its final table is made)."""
        for first, end in self.ranges:
            partials = self._slice(first, end)
            if partials is None:
                continue
            with _kernels_of("reduce side"):
                table = final(partials, self.step)
            del partials
            yield table
            if len(self.ranges) > 1:
                del table
                _release_memory()

    def write_output(
        self,
        writer: TextPartWriter,
        key_write: Callable[[Any, Any], bytes],
        write: Callable[[Any, Any], bytes],
        work_dir: str,
    ) -> None:
        """The last step's part: lines in key-byte order, as the record path writes them."""
        if len(self.ranges) == 1:
            for table in self.tables():
                write_lines(writer, sorted_output(self.step, table, key_write, write)[1])
            return
        # Several slices: each sorted into a scratch run, then all merged; the merge holds
        # about a WORK_FACTOR-th of the budget, in batches of a quarter of each run's share.
        level = max(1 << 12, self.budget // (WORK_FACTOR * min(MERGE_FAN_IN, len(self.ranges))))
        paths = []
        try:
            for table in self.tables():
                keys, lines = sorted_output(self.step, table, key_write, write)
                if not len(keys):
                    continue
                if isinstance(lines, list):
                    lines = pa.array(lines, pa.binary())
                sorted_run = pa.table({"key": keys, "line": lines})
                path = os.path.join(work_dir, f"sorted-{len(paths):05d}.arrow")
                rows = _batch_rows(sorted_run.nbytes, sorted_run.num_rows, level // 4)
                with ipc.new_stream(path, sorted_run.schema) as out:
                    out.write_table(sorted_run, max_chunksize=rows)
                paths.append(path)
                del keys, lines, sorted_run, table
            paths = _merge_passes(paths, level, work_dir)
            merge_sorted(paths, writer, level)
        finally:
            for path in paths:
                with contextlib.suppress(OSError):
                    os.remove(path)


#: Sorted slices merged at once; more are merged in passes.
MERGE_FAN_IN = 64


def merge_sorted(paths: Sequence[str], writer: TextPartWriter, level: int) -> None:
    """Merge IPC streams of ``key``/``line`` rows sorted by ``key`` into *writer*'s part."""
    for table in _merge_rounds(paths, level):
        write_lines(writer, table.column("line"))


def _merge_rounds(paths: Sequence[str], level: int) -> Iterator[pa.Table]:
    """The rows of IPC streams of ``key``/``line`` rows sorted by ``key``, merged: tables
    of rows in key order, one after another.

    No key is in two streams (each holds other buckets). Each stream keeps about *level*
    bytes buffered; each round gives every buffered row up to the smallest last key
    buffered by a stream not yet read to its end (no row still unread can precede them),
    sorted (stably) by key: a sort of a few sorted runs, which Arrow's merge sort does
    fast.
    """
    files = [pa.OSFile(p) for p in paths]
    try:
        readers: list[Any] = [ipc.open_stream(f) for f in files]
        held: list[list[pa.RecordBatch]] = [[] for _ in paths]
        while True:
            for i, reader in enumerate(readers):
                while reader is not None and sum(b.nbytes for b in held[i]) < level:
                    try:
                        held[i].append(reader.read_next_batch())
                    except StopIteration:
                        reader = readers[i] = None
            live = [i for i in range(len(paths)) if held[i]]
            if not live:
                return
            open_ = [i for i in live if readers[i] is not None]
            cutoff = min(held[i][-1].column("key")[-1].as_py() for i in open_) if open_ else None
            if len(live) == 1:
                cutoff = None  # one stream left: its rows are in order
            pieces = []
            for i in live:
                table = pa.Table.from_batches(held[i])
                n = table.num_rows if cutoff is None else _count_at_most(table.column("key"), cutoff)
                pieces.append(table.slice(0, n))
                held[i] = table.slice(n).to_batches() if n < table.num_rows else []
            if len(live) == 1:
                yield pieces[0]
                continue
            merged = pa.concat_tables(pieces)
            if merged.num_rows:
                yield merged.take(pc.sort_indices(merged.column("key")))
    finally:
        for f in files:
            f.close()


def _merge_passes(paths: list[str], level: int, work_dir: str) -> list[str]:
    """Merge groups of ``MERGE_FAN_IN`` sorted streams into one each until at most that
    many are left (each pass reads and writes every row once more)."""
    passes = 0
    while len(paths) > MERGE_FAN_IN:
        passes += 1
        merged = []
        for i in range(0, len(paths), MERGE_FAN_IN):
            group = paths[i : i + MERGE_FAN_IN]
            out = os.path.join(work_dir, f"sorted-pass{passes}-{len(merged):05d}.arrow")
            writer = None
            try:
                for table in _merge_rounds(group, level):
                    if writer is None:
                        writer = ipc.new_stream(out, table.schema)
                    rows = _batch_rows(table.nbytes, table.num_rows, level // 4)
                    writer.write_table(table, max_chunksize=rows)
            finally:
                if writer is not None:
                    writer.close()
            for path in group:
                os.remove(path)
            if writer is not None:
                merged.append(out)
        paths = merged
    return paths


def _count_at_most(keys: pa.ChunkedArray, cutoff: bytes) -> int:
    """How many of the sorted *keys* are ≤ *cutoff* (a binary search)."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid].as_py() <= cutoff:
            lo = mid + 1
        else:
            hi = mid
    return lo


def sorted_output(
    step: VectorStep,
    table: pa.Table,
    key_write: Callable[[Any, Any], bytes],
    write: Callable[[Any, Any], bytes],
) -> tuple[pa.Array, pa.Array | list[bytes]]:
    """The last step's output lines of *table*, ordered as the record path orders them,
    and the group key bytes that order them.

    The record path's reducer sees its keys in key-byte order and emits its rows in its
    own order within a key; so here: rows sorted (stably) by the encoded group key, in
    the reducer's order within a key, then encoded as (output key, output value): a
    binary array for the standard JSON protocol, else a list of lines.
    """
    if table.num_rows == 0:
        return pa.array([], pa.binary()), []
    group_keys = encoded_keys(table, step.keys, key_write)
    order = pc.sort_indices(group_keys)  # stable, byte order
    group_keys = group_keys.take(order)
    table = table.take(order)
    out_keys = list(step.output_keys or step.keys)
    out_values = list(step.output_values or step.aggregate)
    if step.value is None and writes_standard_json(write):
        key_bytes = arrow_keys.json_key_bytes([table.column(k) for k in out_keys])
        value_bytes = arrow_keys.json_key_bytes([table.column(v) for v in out_values])
        if key_bytes is not None and value_bytes is not None:
            return group_keys, pc.binary_join_element_wise(key_bytes, value_bytes, b"\t")
    keys = row_keys(table, out_keys)
    values = row_values(table, step)
    return group_keys, [write(k, v) for k, v in zip(keys, values)]


_NEWLINE = pa.scalar(b"\n", pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


def write_lines(writer: TextPartWriter, lines: pa.Array | pa.ChunkedArray | list[bytes]) -> None:
    """Write output lines (each gets its ``\\n``); a binary array goes out as its buffer."""
    if isinstance(lines, list):
        writer.write_all(iter(lines))
        return
    if isinstance(lines, pa.ChunkedArray):
        for chunk in lines.chunks:
            write_lines(writer, chunk)
        return
    if not len(lines):
        return
    ended = pc.binary_join_element_wise(lines.cast(pa.binary()), _EMPTY, _NEWLINE)
    offsets = np.frombuffer(ended.buffers()[1], dtype=np.int32)[ended.offset : ended.offset + len(ended) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    # One write of the whole buffer (but its last "\n", which write_all adds), counted
    # as the lines it holds.
    writer.write_all(iter([memoryview(ended.buffers()[2])[start : stop - 1]]))
    writer.records += len(ended) - 1


def result_batches(table: pa.Table | None, rows: int = PARQUET_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """A reduce result in batches, as the next step's mapper input."""
    if table is not None:
        yield from table.to_batches(max_chunksize=rows)
