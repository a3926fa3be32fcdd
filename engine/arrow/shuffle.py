"""The Arrow shuffle: map output partitioned and sub-bucketed by the key's CRC-32, spilled
as IPC runs within the budget, and a partition's runs reduced in slices of whole key
groups."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.arrow import keys as arrow_keys
from engine.arrow import output
from engine.arrow.aggregate import final, partial, partial_specs
from engine.arrow.keys import step_keys
from engine.arrow.output import merge_passes, merge_sorted, sorted_output, write_lines
from engine.arrow.read import (
    META_SOURCE,
    PARQUET_BATCH_ROWS,
    WORK_FACTOR,
    batch_rows,
    batch_target,
    concat,
    conform,
    unify_schemas,
)
from engine.arrow.step import VectorStep, mapped_tables
from engine.commit import run_path, slice_path, spill_path
from engine.errors import JobDefinitionError
from engine.formats import TextPartWriter

#: Sub-buckets of a partition. A run's rows are ordered by a second hash of their key
#: (stably, so a key's rows keep their order) and its schema records how many rows each
#: bucket holds: a partition larger than the reduce's memory budget is reduced a range
#: of buckets (whole key groups) at a time, each range within the budget.
BUCKETS = 1024


_META_BUCKETS = b"engine.bucket_rows"  # int64 rows per bucket


_META_BATCH = b"engine.batch_rows"  # rows of every IPC batch but the last


class _RunWriter:
    """Writes one run: an Arrow IPC file of batches of exactly ``batch_rows`` rows (the
    last may hold fewer), so that a reader finds any row range without an index."""

    def __init__(
        self, path: str, schema: pa.Schema, counts: np.ndarray, source: str, batch_rows: int
    ) -> None:
        meta = {
            _META_BUCKETS: counts.astype(np.int64).tobytes(),
            _META_BATCH: str(batch_rows).encode(),
            META_SOURCE: source.encode(),
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
        self.source = meta[META_SOURCE].decode()
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
        path, table.schema, counts, source, batch_rows(table.nbytes, table.num_rows, batch_target(budget))
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


def _each_made(mapped: Any, where: str) -> Iterator[Any]:
    """The tables of what a mapper returned (``mapped_tables``), each made inside
    ``_kernels_of(where)``: an iterable makes its tables as they are taken."""
    tables = mapped_tables(mapped)
    while True:
        with _kernels_of(where):
            table = next(tables, None)
        if table is None:
            return
        yield table


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
        counts = np.sum([r.counts for r in runs], axis=0)
        nbytes = sum(r.bytes for r in runs)
        rows = sum(r.rows for r in runs)
        source = _joined(r.source for r in runs)
        writer = _RunWriter(out, schema, counts, source, batch_rows(nbytes, rows, batch_target(budget)))
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


@dataclass
class ShuffleStats:
    """What a vectorized map side wrote."""

    records_in: int = 0
    records_out: int = 0
    spills: int = 0
    spilled_bytes: int = 0
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
        crc = arrow_keys.crc32(step_keys(table, step, write))
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
                path = spill_path(run_dir, p, stats.spills - 1, ".arrow")
                _write_spill(path, ordered.slice(start, count), counts[p], source, budget)
                stats.spilled_bytes += os.path.getsize(path)
                spills[p].append(path)
                start += count
        del table, ordered
        _release_memory()

    def add(mapped: Any, source: str) -> None:
        nonlocal pending_bytes
        if isinstance(mapped, pa.RecordBatch):
            mapped = pa.Table.from_batches([mapped])
        if mapped.schema.metadata:
            mapped = mapped.replace_schema_metadata(None)
        pending.append(mapped)
        pending_sources.append(source)
        pending_bytes += mapped.nbytes
        if pending_bytes > budget // WORK_FACTOR:
            flush()

    held_sources: list[str] = []  # the input files of the batches a mapper holds rows of
    for batch in batches:
        stats.records_in += batch.num_rows
        source = (batch.schema.metadata or {}).get(META_SOURCE, b"").decode()
        held_sources.append(source)
        where = f"mapper (input {source})" if source else "mapper"
        with _kernels_of(where):
            mapped = step.mapper(batch) if step.mapper is not None else batch
        sources = _joined(held_sources)
        for table in _each_made(mapped, where):  # none: the mapper holds the batch's rows back
            add(table, sources)
            held_sources = []
    if step.mapper_final is not None:
        source = _joined(held_sources)
        where = f"mapper_final (input {source})" if source else "mapper_final"
        with _kernels_of(where):
            mapped = step.mapper_final()
        for table in _each_made(mapped, where):
            add(table, source)
    flush()
    paths: dict[int, str] = {}
    for p, files in enumerate(spills):
        if not files:
            continue
        paths[p] = run_path(run_dir, p, ".arrow")
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
        for name, fn, _, partial_column in partial_specs(self.step):
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
        level = max(1 << 12, self.budget // (WORK_FACTOR * min(output.MERGE_FAN_IN, len(self.ranges))))
        paths: list[str] = []
        try:
            for table in self.tables():
                keys, lines = sorted_output(self.step, table, key_write, write)
                if not len(keys):
                    continue
                if isinstance(lines, list):
                    lines = pa.array(lines, pa.binary())
                sorted_run = pa.table({"key": keys, "line": lines})
                path = slice_path(work_dir, len(paths))
                rows = batch_rows(sorted_run.nbytes, sorted_run.num_rows, level // 4)
                with ipc.new_stream(path, sorted_run.schema) as out:
                    out.write_table(sorted_run, max_chunksize=rows)
                paths.append(path)
                del keys, lines, sorted_run, table
            paths = merge_passes(paths, level, work_dir)
            merge_sorted(paths, writer, level)
        finally:
            for path in paths:
                with contextlib.suppress(OSError):
                    os.remove(path)


def result_batches(table: pa.Table | None, rows: int = PARQUET_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """A reduce result in batches, as the next step's mapper input."""
    if table is not None:
        yield from table.to_batches(max_chunksize=rows)
