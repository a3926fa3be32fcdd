"""Splits cover every line exactly once, whatever the split size; inputs are listed as Hadoop does."""

from __future__ import annotations

import os
from pathlib import Path

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


def test_picked_parquet_splits_come_in_a_multiple_of_the_workers_of_even_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(10_000))}), path, row_group_size=1000)
    for workers in (2, 3, 4, 16):
        splits = make_splits([str(path)], workers=workers)  # one MiB at least: a split a worker
        groups = [s.row_groups for s in splits]
        assert [g for run in groups for g in run] == list(range(10))
        assert len(splits) == min(10, workers)
        assert max(map(len, groups)) - min(map(len, groups)) <= 1  # row groups of about equal bytes
    from engine.splits import _even_parquet_splits

    # ten row groups, five splits' worth of bytes for two workers: six splits, five groups a worker
    groups = [s.row_groups for s in _even_parquet_splits("p", [62] * 10, 128, 2)]
    assert sorted(map(len, groups)) == [1, 1, 2, 2, 2, 2]
    groups = [s.row_groups for s in _even_parquet_splits("p", [100, 1, 1, 1, 1], 26, 2)]
    assert groups == [(0,), (1,), (2,), (3, 4)]  # a large row group alone, the rest shared


# ---------------------------------------------------------------- listing: links, FIFOs, formats


def _counts(job_class, inputs, **kw):
    from tests.harness import run_engine

    return dict(line.split(b"\t") for line in run_engine(job_class, [*map(str, inputs)], **kw).lines)


def test_a_link_to_an_ancestor_directory_is_read_once(tmp_path, caplog):
    from tests.jobs.mr_word_count import MRWordCountPlain as MRWordCount

    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("x y x\n")
    (d / "self").symlink_to(".")
    files = list_input_files([str(d)])
    assert files == [str(d / "a.txt")]
    assert "self" in caplog.text and "already read" in caplog.text
    # the job's counts are those of the one real file (not x41 as with os.walk's followlinks)
    assert _counts(MRWordCount, [d]) == {b'"x"': b"2", b'"y"': b"1"}


def test_two_link_loops_list_in_linear_time(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a\n")
    (d / "sub" / "b.txt").write_text("b\n")
    (d / "self").symlink_to(".")
    (d / "up").symlink_to("../d")
    (d / "sub" / "back").symlink_to("..")
    assert list_input_files([str(d)]) == [str(d / "a.txt"), str(d / "sub" / "b.txt")]


def test_a_link_to_a_file_already_listed_is_skipped_but_an_outside_link_is_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("o\n")
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a\n")
    (d / "b.txt").symlink_to("a.txt")
    (d / "ext").symlink_to(outside)
    assert list_input_files([str(d)]) == [str(d / "a.txt"), str(d / "ext" / "o.txt")]


def test_a_fifo_in_a_directory_is_skipped_and_named(tmp_path, caplog):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a\n")
    os.mkfifo(d / "pipe")
    assert list_input_files([str(d)]) == [str(d / "a.txt")]
    assert str(d / "pipe") in caplog.text and "FIFO" in caplog.text


def test_a_fifo_named_as_input_is_refused_not_called_missing(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="named pipe .FIFO., not a regular file") as info:
        list_input_files([str(tmp_path / "pipe")])
    assert str(tmp_path / "pipe") in str(info.value)


def test_a_broken_link_named_as_input_says_so(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "nothing")
    with pytest.raises(InputError, match="broken symbolic link"):
        list_input_files([str(tmp_path / "gone")])


def test_file_uris_are_local_paths(tmp_path):
    from tests.jobs.mr_word_count import MRWordCountPlain as MRWordCount

    (tmp_path / "a.txt").write_text("p q p\n")
    uri = "file://" + str(tmp_path / "a.txt")
    assert list_input_files([uri]) == [str(tmp_path / "a.txt")]
    assert list_input_files(["file://" + str(tmp_path)]) == [str(tmp_path / "a.txt")]
    assert list_input_files(["file://" + str(tmp_path / "*.txt")]) == [str(tmp_path / "a.txt")]
    assert _counts(MRWordCount, [uri]) == {b'"p"': b"2", b'"q"': b"1"}


def test_a_directory_of_text_beside_its_parquet_copy_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.log").write_text("a\n")
    (tmp_path / "parquet").mkdir()
    pq.write_table(pa.table({"n": [1]}), tmp_path / "parquet" / "part-0.parquet")
    with pytest.raises(InputError, match="both text files .* and Parquet files") as info:
        list_input_files([str(tmp_path)])
    assert "part-0.parquet" in str(info.value) and "a.log" in str(info.value)
    # each side on its own, or both named explicitly, is the user's clear choice
    assert len(list_input_files([str(tmp_path / "parquet")])) == 1
    assert len(list_input_files([str(tmp_path / "a.log"), str(tmp_path / "parquet")])) == 2


# ---------------------------------------------------------------- inputs changed during the job


@pytest.mark.parametrize("when", ["first", "final"])
@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_an_input_truncated_during_the_job_fails_it_naming_the_file(tmp_path, when, executor):
    """While the split is read (the reader notices) or after (the check before the commit)."""
    from tests.harness import run_engine
    from tests.jobs.mr_truncate_input import MRTruncateInput

    log = tmp_path / "access.log"
    log.write_text("alpha beta gamma\n" * 2000)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="changed while the job ran") as info:
        run_engine(MRTruncateInput, ["--when", when, "--output-dir", str(out), str(log)], executor=executor)
    assert str(log) in str(info.value) and "no output was written" in str(info.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["access.log"]  # no staging left either


def test_splits_remember_the_planned_size_and_time(tmp_path):
    from engine.splits import check_unchanged, file_stamps

    path = tmp_path / "a.txt"
    path.write_text("a\nb\n")
    (split,) = make_splits([str(path)], workers=1)
    stamps = file_stamps([split])
    check_unchanged(str(path), stamps[str(path)])  # as planned: fine
    os.utime(path, ns=(split.mtime_ns + 10**9, split.mtime_ns + 10**9))
    with pytest.raises(InputError, match="rewritten"):
        check_unchanged(str(path), stamps[str(path)])
    path.unlink()
    with pytest.raises(InputError, match="disappeared"):
        check_unchanged(str(path), stamps[str(path)])


# ---------------------------------------------------------------- many small files


def _many_files(directory, n):
    directory.mkdir()
    for i in range(n):
        (directory / f"f{i:05d}.txt").write_text(f"w{i % 7} x\nw{i % 3}\n")
    return directory


def test_many_small_files_are_packed_into_few_splits_reading_each_line_once(tmp_path):
    files = list_input_files([str(_many_files(tmp_path / "d", 300))])
    splits = make_splits(files, workers=2)
    assert len(splits) <= 6 and {s.kind for s in splits} == {"combined"}
    parts = [part for s in splits for part in s.parts]
    assert [p.path for p in parts] == [os.path.abspath(f) for f in files]  # each once, in order
    lines = [line for p in parts for line in SplitReader(p).lines()]
    assert lines == [line for f in files for line in Path(f).read_bytes().splitlines()]
    # a handful of files keeps one task each
    assert [s.kind for s in make_splits(files[:5], workers=2)] == ["text"] * 5


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_a_job_over_many_small_files_sees_each_files_variables(tmp_path, executor):
    """mapreduce.map.input.file, mapper_init and mapper_final per file, as with a task each."""
    from tests.harness import run_engine, run_inline
    from tests.jobs.mr_input_files import MRInputFiles

    d = _many_files(tmp_path / "d", 120)
    engine = run_engine(MRInputFiles, [str(d)], executor=executor, reducers=1)
    assert engine.stats.phases[0].tasks <= 6  # packed, about two per worker (120 tasks before)
    assert engine.sorted_lines == run_inline(MRInputFiles, [str(d)]).sorted_lines


def test_the_arrow_twin_over_many_small_files_equals_inline(tmp_path):
    from jobs.wordcount import MRWordCount
    from tests.harness import run_engine, run_inline

    d = _many_files(tmp_path / "d", 150)
    engine = run_engine(MRWordCount, [str(d)], executor="processes", reducers=1)
    assert engine.stats.phases[0].tasks <= 6
    assert engine.sorted_lines == run_inline(MRWordCount, [str(d)]).sorted_lines
