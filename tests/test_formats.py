"""SplitReader.blocks(): the one reading of a split both pipelines share."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import formats
from engine.errors import InputError
from engine.formats import SplitReader
from engine.splits import InputSplit, text_splits

lines_st = st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    lines=lines_st,
    split_size=st.integers(1, 120),
    block=st.integers(1, 64),
    crlf=st.booleans(),
    last_end=st.booleans(),
    pread=st.booleans(),
)
def test_blocks_of_all_splits_tile_the_file_in_whole_lines(
    tmp_path_factory, lines, split_size, block, crlf, last_end, pread
):
    # pread: each block read at its size (up to formats._line_end), else read, then completed
    end = b"\r\n" if crlf else b"\n"
    data = end.join(lines) + (end if lines and last_end else b"")
    path = tmp_path_factory.mktemp("f") / "f.txt"
    path.write_bytes(data)
    splits = text_splits(str(path), len(data), split_size)
    had, formats._HAS_PREAD = formats._HAS_PREAD, pread
    try:
        blocks = [b for s in splits for b in SplitReader(s).blocks(block)]
    finally:
        formats._HAS_PREAD = had
    assert b"".join(blocks) == data
    assert all(b.endswith(b"\n") for b in blocks[:-1])  # whole lines only
    read = [line for s in splits for line in SplitReader(s).lines()]
    pieces = data.split(b"\n")
    if pieces[-1] == b"":  # after the last line end (or an empty file)
        pieces.pop()
    assert read == [line.rstrip(b"\r") for line in pieces]


def test_compressed_blocks_are_whole_lines_and_damage_is_named(tmp_path):
    good = tmp_path / "a.txt.gz"
    good.write_bytes(gzip.compress(b"x y\n" * 5000 + b"last"))
    split = InputSplit(str(good), "compressed", 0, good.stat().st_size)
    blocks = list(SplitReader(split).blocks(1000))
    assert b"".join(blocks) == b"x y\n" * 5000 + b"last"
    assert all(b.endswith(b"\n") for b in blocks[:-1])
    bad = tmp_path / "b.txt.gz"
    bad.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"b\.txt\.gz.*corrupt or truncated after \d+ lines"):
        list(SplitReader(InputSplit(str(bad), "compressed", 0, bad.stat().st_size)).lines())


def test_a_parquet_split_is_read_page_by_page_not_its_row_group_whole(tmp_path):
    # A row group of one poorly compressible ~16 MB column: read a batch at a time, the task
    # holds the batch and a page buffer, not the column chunk too (pyarrow's pre_buffer).
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.arrow.read import input_batches

    values = pa.array([os.urandom(8).hex() for _ in range(1 << 20)])
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"s": values}), path, row_group_size=1 << 20, compression="none")
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0).total_compressed_size
    assert chunk > 16 << 20
    split = InputSplit(str(path), "parquet", 0, chunk, (0,))
    before = pa.total_allocated_bytes()
    peak = rows = 0
    for batch in input_batches(split, ["s"], block_bytes=1 << 20):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
        del batch
    assert rows == 1 << 20
    assert peak < chunk // 4, (peak, chunk)
