"""Splits cover every line exactly once, whatever the split size; inputs are listed as Hadoop does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.formats import SplitReader
from engine.splits import list_input_files, make_splits, pick_split_size, text_splits

line_text = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(line_text, max_size=60), split_size=st.integers(1, 200), trailing=st.booleans())
def test_text_splits_read_every_line_once(tmp_path_factory, lines, split_size, trailing):
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    path = tmp_path_factory.mktemp("s") / "f.txt"
    path.write_bytes(data)
    splits = text_splits(str(path), len(data), split_size)
    read = [line for split in splits for line in SplitReader(split).lines()]
    assert read == data.splitlines()
    # the splits tile the file: contiguous, no gaps, no overlap
    assert sum(s.length for s in splits) == len(data)
    assert all(a.start + a.length == b.start for a, b in zip(splits, splits[1:]))


def test_directory_listing_skips_hidden_and_sorts(tmp_path):
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".a.txt.crc").write_text("")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.txt").write_text("c\n")
    files = list_input_files([str(tmp_path)])
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.txt", "b.txt", "c.txt"]


@pytest.mark.parametrize(
    "make_path,message",
    [
        (lambda d: str(d / "missing.txt"), "does not exist"),
        (lambda d: str(d / "*.nothing"), "matches no file"),
        (lambda d: str(d / "emptydir"), "holds no readable file"),
    ],
)
def test_missing_inputs_are_named(tmp_path, make_path, message):
    (tmp_path / "emptydir").mkdir()
    path = make_path(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        list_input_files([path])
    assert path in str(info.value)


def test_compressed_files_are_one_split_and_parquet_splits_by_row_group(tmp_path):
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    gz = tmp_path / "x.txt.gz"
    gz.write_bytes(gzip.compress(b"a\nb\n" * 1000))
    table = pa.table({"n": list(range(1000))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=100)
    splits = make_splits([str(gz), str(tmp_path / "t.parquet")], workers=2, split_size=1)
    kinds = [s.kind for s in splits]
    assert kinds == ["compressed"] + ["parquet"] * 10
    rows = [row["n"] for s in splits[1:] for _, row in SplitReader(s).parquet_pairs()]
    assert rows == list(range(1000))


def test_split_size_aims_for_two_splits_per_worker():
    assert pick_split_size(10, 4) == 1 << 20  # never below 1 MiB
    assert pick_split_size(400 << 20, 2) == (100 << 20) + 1  # two splits per worker
    assert pick_split_size(100 << 30, 2) == 128 << 20  # never above a Hadoop block


def test_parquet_splits_group_row_groups_by_bytes_on_disk_without_passing_the_size(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(10_000))}), path, row_group_size=1000)
    meta = pq.ParquetFile(path).metadata
    on_disk = [meta.row_group(i).column(0).total_compressed_size for i in range(meta.num_row_groups)]
    size = int(max(on_disk) * 2.5)  # room for two row groups, not three
    splits = make_splits([str(path)], workers=2, split_size=size)
    assert [s.row_groups for s in splits] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert all(s.length <= size for s in splits)
    one = make_splits([str(path)], workers=2, split_size=1)  # a row group bigger than the size
    assert [s.row_groups for s in one] == [(i,) for i in range(10)]
