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
import zlib
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine.errors import InputError, JobDefinitionError
from engine.formats import READ_BUFFER
from engine.splits import InputSplit

#: Bytes of text per record batch.
TEXT_BLOCK = 8 << 20
#: Rows per Parquet record batch.
PARQUET_BATCH_ROWS = 1 << 17
#: Aggregations a job may declare, with the partial (map-side) and final (reduce-side) steps.
OPERATIONS = ("sum", "count", "min", "max", "mean", "first", "collect")


@dataclass(frozen=True)
class VectorStep:
    """The vectorized twin of one mrjob step (mapper + combiner + reducer)."""

    mapper: Callable[[pa.RecordBatch], Any]
    keys: Sequence[str]
    aggregate: Mapping[str, tuple[str, str]]
    reducer: Callable[[pa.Table], pa.Table] | None = None
    value: Callable[[dict[str, Any]], Any] | None = None
    columns: Sequence[str] | None = None

    def validate(self) -> None:
        """Refuse unknown operations and empty declarations."""
        if not self.keys:
            raise JobDefinitionError("a VectorStep needs at least one key column")
        if not self.aggregate:
            raise JobDefinitionError("a VectorStep needs at least one aggregated value column")
        for name, (_column, op) in self.aggregate.items():
            if op not in OPERATIONS:
                raise JobDefinitionError(
                    f"vectorized aggregation {name!r} uses {op!r}; choose one of {', '.join(OPERATIONS)}"
                )
            if name in self.keys:
                raise JobDefinitionError(f"value column {name!r} has the name of a key column")


def has_vector_twin(job_class: type) -> bool:
    """Whether the job class offers ``vector_steps()``."""
    return callable(getattr(job_class, "vector_steps", None))


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


def partial_aggregate(table: pa.Table, step: VectorStep) -> pa.Table:
    """Group *table* by the keys and compute the partial aggregates (the combiner)."""
    specs = _partial_specs(step)
    # Each aggregation reads its own alias of its input column (zero-copy), so that two
    # of them on the same column and function (mean's sum and sum) keep distinct names.
    inputs = table.select(list(step.keys))
    aggs: list[tuple[Any, ...]] = []
    for i, (column, fn, opts, _) in enumerate(specs):
        inputs = inputs.append_column(f"__{i}", table.column(column))
        aggs.append((f"__{i}", fn, opts) if opts is not None else (f"__{i}", fn))
    grouped = inputs.group_by(list(step.keys), use_threads=False).aggregate(aggs)
    names = [f"__{i}_{fn}" for i, (_, fn, _, _) in enumerate(specs)]
    return grouped.select([*step.keys, *names]).rename_columns([*step.keys, *(s[3] for s in specs)])


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
    split: InputSplit, columns: Sequence[str] | None, block_bytes: int = TEXT_BLOCK
) -> Iterator[pa.RecordBatch]:
    """Record batches of a split: ``line`` batches for text, column batches for Parquet.

    *block_bytes* bounds a text batch (and, at ~100 bytes a row, a Parquet batch), so a
    small memory budget gets small batches.
    """
    if split.kind == "parquet":
        import pyarrow.parquet as pq

        if not split.row_groups:
            return
        try:
            pf = pq.ParquetFile(split.path)
            yield from pf.iter_batches(
                row_groups=list(split.row_groups),
                columns=list(columns) if columns else None,
                batch_size=max(1024, min(PARQUET_BATCH_ROWS, block_bytes // 100)),
            )
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"cannot read Parquet {split.describe()}: {exc}") from exc
        return
    if split.kind == "text":
        blocks = _text_blocks(split, block_bytes)
    else:
        blocks = _compressed_blocks(split.path, block_bytes)
    line_no = 0
    for block in blocks:
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        try:
            array = pa.array(lines, type=pa.binary()).cast(pa.string())
        except pa.ArrowInvalid as exc:
            bad = next(i for i, line in enumerate(lines) if not _is_utf8(line))
            raise InputError(
                f"{split.path} line {line_no + bad + 1} (in {split.describe()}) is not valid UTF-8; "
                "fix the file or read it with a bytes protocol"
            ) from exc
        line_no += len(lines)
        # mrjob strips trailing \r and \n from each line (rstrip(b'\r\n')).
        yield pa.RecordBatch.from_arrays([pc.utf8_rtrim(array, characters="\r")], names=["line"])


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text_blocks(split: InputSplit, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines: every line that starts inside the split, nothing else."""
    end = split.start + split.length
    with open(split.path, "rb", buffering=READ_BUFFER) as f:
        pos = split.start
        if split.start > 0:
            f.seek(split.start - 1)
            pos = split.start - 1 + len(f.readline())
        carry = b""
        while pos < end:
            chunk = f.read(min(block_bytes, end - pos))
            if not chunk:
                break
            pos += len(chunk)
            data = carry + chunk
            carry = b""
            if pos >= end:
                if not data.endswith(b"\n"):
                    data += f.readline()  # the last line started before the end
                yield data
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            yield data[: cut + 1]
            carry = data[cut + 1 :]
        if carry:
            yield carry


def _compressed_blocks(path: str, block_bytes: int) -> Iterator[bytes]:
    import bz2
    import gzip

    opener = gzip.open if path.lower().endswith(".gz") else bz2.open
    carry = b""
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(block_bytes):
                data = carry + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                yield data[: cut + 1]
                carry = data[cut + 1 :]
    except (EOFError, OSError) as exc:
        raise InputError(
            f"compressed input {path!r} is corrupt or truncated ({exc}); re-copy the file"
        ) from exc
    if carry:
        yield carry


# ----------------------------------------------------------------------------- keys


def encoded_keys(table: pa.Table, step: VectorStep, write: Callable[[Any, Any], bytes]) -> list[bytes]:
    """Each row's key, encoded as the job's protocol encodes it (the bytes Hadoop sorts)."""
    keys = row_keys(table, step)
    out = []
    for key in keys:
        line = write(key, None)
        tab = line.find(b"\t")
        out.append(line if tab < 0 else line[:tab])
    return out


def row_keys(table: pa.Table, step: VectorStep) -> list[Any]:
    """The mrjob key of each row: the key column's value, or a list of them."""
    columns = [table.column(k).to_pylist() for k in step.keys]
    if len(columns) == 1:
        return columns[0]
    return [list(values) for values in zip(*columns)]


def row_values(table: pa.Table, step: VectorStep) -> list[Any]:
    """The mrjob value of each row."""
    names = list(step.aggregate)
    if step.value is not None:
        return [step.value(row) for row in table.to_pylist()]
    columns = [table.column(n).to_pylist() for n in names]
    if len(columns) == 1:
        return columns[0]
    return [list(values) for values in zip(*columns)]


# ---------------------------------------------------------------------------------- tasks


@dataclass
class VectorMapStats:
    """What a vectorized map task did."""

    records_in: int = 0
    records_out: int = 0
    spills: int = 0
    run_bytes: dict[int, int] | None = None


def run_vector_map(
    step: VectorStep,
    split: InputSplit,
    write: Callable[[Any, Any], bytes],
    num_partitions: int,
    budget: int,
    run_dir: str,
) -> tuple[dict[int, str], VectorMapStats]:
    """Map a split in batches, aggregate partially within *budget*, write IPC runs."""
    step.validate()
    stats = VectorMapStats(run_bytes={})
    writers: dict[int, Any] = {}
    paths: dict[int, str] = {}
    pending: list[pa.Table] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if not pending:
            return
        partial = partial_aggregate(pa.concat_tables(pending, promote_options="default"), step)
        pending, pending_bytes = [], 0
        stats.spills += 1
        stats.records_out += partial.num_rows
        if num_partitions == 1:
            _append(writers, paths, run_dir, 0, partial)
            return
        parts = [zlib.crc32(k) % num_partitions for k in encoded_keys(partial, step, write)]
        order = sorted(range(len(parts)), key=parts.__getitem__)
        ordered = partial.take(pa.array(order, type=pa.int64()))
        start = 0
        for p, count in _runs_of(sorted(parts)):
            _append(writers, paths, run_dir, p, ordered.slice(start, count))
            start += count

    block = max(4096, min(TEXT_BLOCK, budget // 4))
    for batch in input_batches(split, step.columns, block):
        stats.records_in += batch.num_rows
        mapped = step.mapper(batch)
        if isinstance(mapped, pa.RecordBatch):
            mapped = pa.Table.from_batches([mapped])
        pending.append(mapped)
        pending_bytes += mapped.nbytes
        if pending_bytes > budget:
            flush()
    flush()
    for p, writer in writers.items():
        writer.close()
        assert stats.run_bytes is not None
        stats.run_bytes[p] = os.path.getsize(paths[p])
    return paths, stats


def _runs_of(sorted_parts: list[int]) -> Iterator[tuple[int, int]]:
    """(partition, count) for each run of equal values."""
    start = 0
    for i in range(1, len(sorted_parts) + 1):
        if i == len(sorted_parts) or sorted_parts[i] != sorted_parts[start]:
            yield sorted_parts[start], i - start
            start = i


def _append(writers: dict[int, Any], paths: dict[int, str], run_dir: str, p: int, table: pa.Table) -> None:
    if p not in writers:
        paths[p] = os.path.join(run_dir, f"p{p:05d}.arrow")
        writers[p] = ipc.new_stream(paths[p], table.schema)
    writers[p].write_table(table)


def run_vector_reduce(
    step: VectorStep, runs: Sequence[str], write: Callable[[Any, Any], bytes]
) -> tuple[list[bytes], int]:
    """Final aggregation of a partition's runs; returns sorted output lines and rows read."""
    tables = [ipc.open_stream(path).read_all() for path in runs]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return [], 0
    partials = pa.concat_tables(tables, promote_options="default")
    table = final_aggregate(partials, step)
    if step.reducer is not None:
        table = step.reducer(table)
    lines = [write(k, v) for k, v in zip(row_keys(table, step), row_values(table, step))]
    keyed = []
    for line in lines:
        tab = line.find(b"\t")
        keyed.append((line if tab < 0 else line[:tab], line))
    keyed.sort(key=itemgetter(0))
    return [line for _, line in keyed], partials.num_rows
