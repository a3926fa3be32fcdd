"""Key bytes and partitions of Arrow tables, computed column-wise.

The vectorized path must partition and order rows exactly as the record path does: by
``zlib.crc32`` of the key as the job's protocol encodes it (``shuffle.partition_of``).
Encoding and hashing one row at a time in Python costs ~2 µs a row, a third of a
vectorized map task. Here both happen on whole columns:

* ``json_key_bytes`` encodes key columns as mrjob's standard JSON protocol does
  (``json.dumps``: ints as their decimal digits, ``None`` as ``null``, strings quoted and
  ASCII-escaped, several keys as ``[a, b]``). Strings that ``json.dumps`` would escape,
  and types whose JSON text Arrow cannot reproduce exactly (floats, nested values), are
  encoded by ``json.dumps`` itself, so the bytes are always the record path's bytes.
* ``crc32`` is zlib's CRC-32 over each value of a binary array, in NumPy: one table
  lookup per byte position over all rows at once (rows sorted by length, so the rows
  still being hashed at position *j* are a prefix).
* ``hash64`` is a faster hash of the same values, eight bytes a step, for hash indexes that
  check every match against the values (``engine.sql.vector``'s broadcast join);
  ``key_hash64`` is the hash such an index uses: polars' (Rust, ~10 ns a 40-byte value against
  ``hash64``'s ~95) where polars is installed, else ``hash64``.
* ``byte_order`` is ``sort_indices`` of key bytes that repeat, sorting each distinct key once.
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.mrjob_bridge import writes_standard_json
from engine.shuffle import key_of

if TYPE_CHECKING:
    from engine.arrow.step import VectorStep


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC_TABLE = _crc_table()
#: Byte positions hashed column-wise; the bytes of longer keys past it go through zlib.
MAX_VECTOR_KEY_BYTES = 256
#: Rows hashed at a time: the NumPy temporaries (a few int64 per row) stay a few MiB.
CRC_CHUNK_ROWS = 1 << 16


def crc32(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``zlib.crc32`` of each value of a binary or string array (no nulls), as uint32."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        raise ValueError("crc32() of an array with nulls")
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    if n > CRC_CHUNK_ROWS:
        return np.concatenate([_crc32(values.slice(i, CRC_CHUNK_ROWS)) for i in range(0, n, CRC_CHUNK_ROWS)])
    return _crc32(values)


def binary_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A binary or string array's value offsets (``len + 1`` of them, into the data) and its
    data buffer's bytes, as NumPy views: no copy of the values."""
    n = len(values)
    if pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type):
        offset_type: Any = np.int64
    else:
        values = values.cast(pa.binary()) if pa.types.is_string(values.type) else values
        offset_type = np.int32
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[values.offset : values.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    return offsets, data


def _crc32(values: pa.Array) -> np.ndarray:
    n = len(values)
    offsets, data = binary_buffers(values)
    starts = offsets[:-1].astype(np.int64)
    lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
    # a stable sort of small integers is a radix sort in NumPy
    sort_key = -lengths.astype(np.int16) if lengths.max() < (1 << 15) else -lengths
    order = np.argsort(sort_key, kind="stable")
    starts, lengths = starts[order], lengths[order]
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    longest = int(lengths[0])
    # active[j]: how many rows (a prefix, lengths descending) have a byte at position j
    active = np.searchsorted(-lengths, -np.arange(min(longest, MAX_VECTOR_KEY_BYTES)), side="left")
    for j, k in enumerate(active.tolist()):
        c = crc[:k]
        crc[:k] = _CRC_TABLE[(c ^ data[starts[:k] + j]) & 0xFF] ^ (c >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    for i in range(int(np.count_nonzero(lengths > MAX_VECTOR_KEY_BYTES))):  # the longest come first
        crc[i] = zlib.crc32(data[starts[i] : starts[i] + lengths[i]].tobytes())
    out = np.empty(n, dtype=np.uint32)
    out[order] = crc
    return out


_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: an odd multiplier that spreads bits
_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)


def hash64(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each value of a binary or string array (no nulls), as uint64: equal
    values, equal hashes. Not CRC-32 (partitions stay ``crc32``'s): eight bytes a step, so
    a few times faster, for a hash index whose matches are checked against the values."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        raise ValueError("hash64() of an array with nulls")
    n = len(values)
    offsets, raw = binary_buffers(values)
    first, end = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    # the values' bytes and 8 zero bytes after them, read as a uint64 at any byte position
    data = np.zeros(end - first + 8, dtype=np.uint8)
    if end > first:
        data[: end - first] = raw[first:end]
    words = np.ndarray(shape=(len(data) - 7,), dtype=np.uint64, buffer=data, strides=(1,))
    out = np.empty(n, dtype=np.uint64)
    for i in range(0, n, CRC_CHUNK_ROWS):  # a chunk's temporaries stay in the CPU's cache
        chunk = offsets[i : i + CRC_CHUNK_ROWS + 1].astype(np.int64) - first
        out[i : i + CRC_CHUNK_ROWS] = _hash64(words, chunk[:-1], chunk[1:] - chunk[:-1])
    return out


#: polars' ``Series.hash`` seed: any fixed one, so that every process of a job hashes alike.
POLARS_SEED = 0x5EED


def key_hash64(values: pa.Array | pa.ChunkedArray, fast: bool = True) -> np.ndarray:
    """A 64-bit hash of each value of a binary or string array (no nulls), as uint64: equal
    values, equal hashes, in every process of one installation; polars' hash of the values where
    polars is installed (a join of 10M visits with 1M pages from Parquet: 2.6 s against 3.2 s,
    bench/RESULTS.md), else ``hash64``. Only for a hash index that checks each match against
    the values and lives for one job: the hashes change with polars' version
    (``key_hash_name``). The array may be read-only. *fast* false: ``hash64`` (no polars import,
    for a few values)."""
    polars = _polars() if fast else None
    if polars is None:
        return hash64(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        raise ValueError("key_hash64() of an array with nulls")
    if not len(values):
        return np.zeros(0, dtype=np.uint64)
    return polars.from_arrow(values).hash(seed=POLARS_SEED).to_numpy()


def key_hash_name(fast: bool = True) -> str:
    """Which hash ``key_hash64`` (*fast*) is in this process: polars' (its version) or ``hash64``."""
    polars = _polars() if fast else None
    return "hash64" if polars is None else f"polars {polars.__version__}"


@functools.cache
def _polars() -> Any:
    """The polars module, imported on first use (~0.13 s: only a process that joins pays it), or
    None where it is not installed (it is an engine dependency from Python 3.11). One thread:
    a worker is one core's share, the engine's parallelism its processes."""
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    try:
        import polars
    except ModuleNotFoundError:
        return None
    return polars


def _hash64(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    h = lengths.astype(np.uint64) * _MIX  # the length first: "a" and "a\0" differ
    rows = np.nonzero(lengths)[0]
    at = 0
    while len(rows):
        word = words[starts[rows] + at]
        left = lengths[rows] - at  # bytes of each value still to hash, >= 1
        short = left < 8
        if short.any():  # keep only the value's own bytes of its last word
            word[short] &= _ALL_BITS >> (np.uint64(8) * (8 - left[short]).astype(np.uint64))
        step = (h[rows] ^ word) * _MIX
        h[rows] = step ^ (step >> np.uint64(29))
        at += 8
        rows = rows[left > 8]
    return h


def byte_order(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``pc.sort_indices(values)`` (stable, by bytes) of a binary or string array: where its
    values repeat (a join's or a reduce slice's key bytes, each key on many rows), each distinct
    value is compared once -- the dictionary sorted, then the rows by their value's rank, an
    integer sort -- about twice as fast for ten rows a key; else the plain sort."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        return pc.sort_indices(values)
    encoded = values.dictionary_encode()
    distinct = len(encoded.dictionary)
    if distinct * 2 > len(values):
        return pc.sort_indices(values)
    by_value = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(distinct, dtype=np.int32)
    rank[by_value] = np.arange(distinct, dtype=np.int32)
    return pa.array(np.argsort(rank[encoded.indices.to_numpy()], kind="stable"))


def partitions(key_bytes: pa.Array, num_partitions: int) -> np.ndarray:
    """``shuffle.partition_of`` of each key: crc32 modulo the partition count."""
    if num_partitions <= 1:
        return np.zeros(len(key_bytes), dtype=np.int64)
    return (crc32(key_bytes) % np.uint32(num_partitions)).astype(np.int64)


# ------------------------------------------------------------------------------- JSON keys

_JSON_NULL = pa.scalar("null", pa.string())


def _json_column(column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    """``json.dumps`` of each value of one column as a string array; ``None`` if Arrow
    cannot give the same text for this type."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_null(kind) or pa.types.is_integer(kind):
        text = pc.cast(column, pa.string())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _json_strings(column.cast(pa.string()))
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, pa.scalar("true"), pa.scalar("false"))
    else:
        return None
    return pc.fill_null(text, _JSON_NULL) if column.null_count else text


def _json_strings(column: pa.Array) -> pa.Array:
    """``json.dumps`` of strings: quoted when nothing needs escaping, else by ``json``."""
    # json.dumps escapes '"', '\\' and every character outside ' '..'~' (ensure_ascii).
    plain = pc.and_(
        pc.ascii_is_printable(column),
        pc.invert(pc.or_(pc.match_substring(column, '"'), pc.match_substring(column, "\\"))),
    )
    plain = pc.or_kleene(plain, pc.equal(pc.binary_length(column), 0))  # "" -> '""'
    quoted = pc.binary_join_element_wise('"', column, '"', "")
    escape = pc.fill_null(pc.invert(plain), False)  # a NULL stays NULL (the caller's "null")
    if not pc.any(escape).as_py():
        return quoted
    escaped = [json.dumps(v) for v in column.filter(escape).to_pylist()]
    return pc.replace_with_mask(quoted, escape, pa.array(escaped, pa.string()))


def json_key_bytes(columns: Sequence[pa.ChunkedArray | pa.Array]) -> pa.Array | None:
    """The standard JSON protocol's key bytes of each row (one column: its value; several:
    the list of their values), or ``None`` when a column's type has no exact Arrow form."""
    texts = []
    for column in columns:
        text = _json_column(column)
        if text is None:
            return None
        texts.append(text)
    if len(texts) == 1:
        return texts[0].cast(pa.binary())
    joined = pc.binary_join_element_wise(*texts, ", ")
    return pc.binary_join_element_wise("[", joined, "]", "").cast(pa.binary())


def python_key_bytes(keys: Sequence[object], write: Callable[[object, object], bytes]) -> pa.Array:
    """Key bytes through the protocol's own encoder, one row at a time (any protocol)."""
    return pa.array([key_of(write(key, None)) for key in keys], pa.binary())


# ------------------------------------------------------------- keys of whole tables


def step_keys(table: pa.Table, step: VectorStep, write: Callable[[Any, Any], bytes]) -> pa.Array:
    """The key bytes of *table*'s rows for *step*: its own ``key_bytes``, or ``encoded_keys``."""
    if step.key_bytes is not None:
        return step.key_bytes(table)
    return encoded_keys(table, step.keys, write)


def encoded_keys(table: pa.Table, columns: Sequence[str], write: Callable[[Any, Any], bytes]) -> pa.Array:
    """Each row's key (the *columns*), encoded as the job's protocol encodes it: the bytes
    Hadoop sorts and partitions by. Column-wise for the standard JSON protocol."""
    if writes_standard_json(write):
        key_bytes = json_key_bytes([table.column(k) for k in columns])
        if key_bytes is not None:
            return key_bytes
    return python_key_bytes(row_keys(table, columns), write)


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
