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
Arrow function applied to each reduce partition's aggregated table. The result's rows
become the job's output pairs — key: the key column (a list if several), value: the value
column (a list if several, or ``value(row)``) — encoded with the job's output protocol,
partitioned by the same hash of the same encoded key and sorted by the same key bytes as
the record path, so both paths write identical parts.

The record form stays the reference: it runs on every mrjob runner, and tests prove the
two forms agree. ``--no-vectorize`` forces the record path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine import arrow_keys, arrow_text
from engine.errors import InputError, JobDefinitionError
from engine.formats import READ_BUFFER, is_corrupt_compressed, open_compressed
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
      per-task top-k), ``reducer``: to each reduce partition's final table.
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
    skipped = {
        i
        for i, (column, fn, _, _) in enumerate(specs)
        if fn in _NULL_OF_NULLS and table.num_rows and table.column(column).null_count == table.num_rows
    }
    computed = [i for i in range(len(specs)) if i not in skipped]
    grouped = _group_by(table, step.keys, specs, computed)
    if skipped:
        types = _group_by(table.slice(0, 0), step.keys, specs, sorted(skipped)).schema
        for i in sorted(skipped):
            name = f"__{i}_{specs[i][1]}"
            grouped = grouped.append_column(name, pa.nulls(grouped.num_rows, types.field(name).type))
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
    grouped = partials.group_by(keys, use_threads=False).aggregate(aggs)
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
    as lines.
    """
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
        yield from pf.iter_batches(
            row_groups=list(split.row_groups),
            columns=wanted,
            batch_size=max(1024, min(PARQUET_BATCH_ROWS, block_bytes // 100)),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read Parquet {split.describe()}: {exc}") from exc


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


# ---------------------------------------------------------------------------------- tasks


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
    """Map batches, combine within *budget*, partition by the encoded key, write IPC runs."""
    stats = ShuffleStats()
    writers: dict[int, Any] = {}
    paths: dict[int, str] = {}
    pending: list[pa.Table] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if not pending:
            return
        table = partial(pa.concat_tables(pending, promote_options="default"), step)
        pending, pending_bytes = [], 0
        stats.spills += 1
        stats.records_out += table.num_rows
        if num_partitions == 1:
            _append(writers, paths, run_dir, 0, table)
            return
        parts = arrow_keys.partitions(encoded_keys(table, step.keys, write), num_partitions)
        ordered = table.take(pa.array(np.argsort(parts, kind="stable")))
        start = 0
        for p, count in enumerate(np.bincount(parts, minlength=num_partitions).tolist()):
            if count:
                _append(writers, paths, run_dir, p, ordered.slice(start, count))
                start += count

    for batch in batches:
        stats.records_in += batch.num_rows
        mapped = step.mapper(batch) if step.mapper is not None else batch
        if isinstance(mapped, pa.RecordBatch):
            mapped = pa.Table.from_batches([mapped])
        pending.append(mapped)
        pending_bytes += mapped.nbytes
        if pending_bytes > budget:
            flush()
    flush()
    for p, writer in writers.items():
        writer.close()
        stats.run_bytes[p] = os.path.getsize(paths[p])
    return paths, stats


def _append(writers: dict[int, Any], paths: dict[int, str], run_dir: str, p: int, table: pa.Table) -> None:
    if p not in writers:
        paths[p] = os.path.join(run_dir, f"p{p:05d}.arrow")
        writers[p] = ipc.new_stream(paths[p], table.schema)
    writers[p].write_table(table)


def reduce_partition(step: VectorStep, runs: Sequence[str]) -> tuple[pa.Table | None, int]:
    """A partition's runs, finally aggregated and reduced; ``None`` if it is empty."""
    tables = [t for t in (ipc.open_stream(path).read_all() for path in runs) if t.num_rows]
    if not tables:
        return None, 0
    partials = pa.concat_tables(tables, promote_options="default")
    return final(partials, step), partials.num_rows


def output_lines(
    step: VectorStep,
    table: pa.Table | None,
    key_write: Callable[[Any, Any], bytes],
    write: Callable[[Any, Any], bytes],
) -> list[bytes]:
    """The final step's output lines, ordered as the record path orders them.

    The record path's reducer sees its keys in key-byte order and emits its rows in its
    own order within a key; so here: rows sorted (stably) by the encoded group key, in
    the reducer's order within a key, then encoded as (output key, output value).
    """
    if table is None or table.num_rows == 0:
        return []
    order = pc.sort_indices(encoded_keys(table, step.keys, key_write))  # stable, byte order
    table = table.take(order)
    out_keys = list(step.output_keys or step.keys)
    out_values = list(step.output_values or step.aggregate)
    if step.value is None and writes_standard_json(write):
        key_bytes = arrow_keys.json_key_bytes([table.column(k) for k in out_keys])
        value_bytes = arrow_keys.json_key_bytes([table.column(v) for v in out_values])
        if key_bytes is not None and value_bytes is not None:
            return pc.binary_join_element_wise(key_bytes, value_bytes, b"\t").to_pylist()
    keys = row_keys(table, out_keys)
    values = row_values(table, step)
    return [write(k, v) for k, v in zip(keys, values)]


def result_batches(table: pa.Table | None, rows: int = PARQUET_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """A reduce result in batches, as the next step's mapper input."""
    if table is not None:
        yield from table.to_batches(max_chunksize=rows)
