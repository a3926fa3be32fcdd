"""The last step's output: rows encoded as the job's protocol, sorted by key bytes, merged
from sorted slices and written from Arrow buffers."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine.arrow import keys as arrow_keys
from engine.arrow.keys import row_keys, row_values, step_keys
from engine.arrow.read import batch_rows
from engine.arrow.step import VectorStep
from engine.commit import slice_path
from engine.formats import TextPartWriter
from engine.mrjob_bridge import writes_standard_json

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
                yield merged.take(arrow_keys.byte_order(merged.column("key")))
    finally:
        for f in files:
            f.close()


def merge_passes(paths: list[str], level: int, work_dir: str) -> list[str]:
    """Merge groups of ``MERGE_FAN_IN`` sorted streams into one each until at most that
    many are left (each pass reads and writes every row once more)."""
    passes = 0
    while len(paths) > MERGE_FAN_IN:
        passes += 1
        merged: list[str] = []
        for i in range(0, len(paths), MERGE_FAN_IN):
            group = paths[i : i + MERGE_FAN_IN]
            out = slice_path(work_dir, len(merged), passes)
            writer = None
            try:
                for table in _merge_rounds(group, level):
                    if writer is None:
                        writer = ipc.new_stream(out, table.schema)
                    rows = batch_rows(table.nbytes, table.num_rows, level // 4)
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
    group_keys = step_keys(table, step, key_write)
    order = arrow_keys.byte_order(group_keys)  # stable, byte order
    return group_keys.take(order), output_lines(step, table.take(order), write)


def output_lines(
    step: VectorStep, table: pa.Table, write: Callable[[Any, Any], bytes]
) -> pa.Array | list[bytes]:
    """*table*'s rows, in its order, encoded as the last step's (output key, output value)
    lines: a binary array for the standard JSON protocol, else a list of lines."""
    if step.output_bytes is not None:
        return step.output_bytes(table)
    out_keys = list(step.output_keys or step.keys)
    out_values = list(step.output_values or step.aggregate)
    if step.value is None and writes_standard_json(write):
        key_bytes = arrow_keys.json_key_bytes([table.column(k) for k in out_keys])
        value_bytes = arrow_keys.json_key_bytes([table.column(v) for v in out_values])
        if key_bytes is not None and value_bytes is not None:
            return pc.binary_join_element_wise(key_bytes, value_bytes, b"\t")
    keys = row_keys(table, out_keys)
    values = row_values(table, step)
    return [write(k, v) for k, v in zip(keys, values)]


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
    writer.write_all(iter([memoryview(ended.buffers()[2])[start : stop - 1]]))  # type: ignore[list-item]
    writer.records += len(ended) - 1
