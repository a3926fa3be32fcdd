"""The Arrow pipeline's reduce side within the memory budget: a partition larger than the
budget is reduced in slices of whole key groups, and the output is still the record
path's (and mrjob's inline runner's) byte for byte."""

from __future__ import annotations

import random

import pytest

from engine.arrow import output, shuffle
from jobs.wordcount import MRWordCount
from tests.harness import run_engine, run_inline


@pytest.fixture
def slices(monkeypatch):
    """How many slices each reduce task of the Arrow pipeline read its partition in
    (serial executor: the tasks run in this process)."""
    seen: list[int] = []
    init = shuffle.PartitionReduce.__init__

    def counting(self, *args, **kwargs):
        init(self, *args, **kwargs)
        seen.append(len(self.ranges))

    monkeypatch.setattr(shuffle.PartitionReduce, "__init__", counting)
    return seen


@pytest.fixture
def many_words(tmp_path):
    """~12k distinct words (and some repeated ones, some non-ASCII), 10 to a line."""
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzé"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9))) for _ in range(12000)]
    common = words[:50]
    stream = words + [rng.choice(common) for _ in range(8000)]
    rng.shuffle(stream)
    path = tmp_path / "many.txt"
    path.write_text("\n".join(" ".join(stream[i : i + 10]) for i in range(0, len(stream), 10)) + "\n")
    return str(path)


@pytest.mark.parametrize("fan_in", [64, 3], ids=["one-merge", "merge-passes"])
@pytest.mark.parametrize("reducers", [1, 3])
def test_wordcount_reduced_in_slices_equals_record_path_and_inline(
    many_words, slices, monkeypatch, reducers, fan_in
):
    monkeypatch.setattr(output, "MERGE_FAN_IN", fan_in)
    if fan_in == 3:  # and runs opened for each read, not held open
        monkeypatch.setattr(shuffle, "OPEN_RUNS", 2)
    opts = dict(executor="serial", reducers=reducers, memory_budget="64K", split_size="16K")
    vector = run_engine(MRWordCount, [many_words], **opts)
    assert slices and min(slices) > 4, slices  # every partition in several slices, merged
    record = run_engine(MRWordCount, [many_words], vectorize=False, **opts)
    assert vector.output == record.output  # same parts, same order, same bytes
    if fan_in == 3:
        assert max(slices) > 9  # at least two merge passes
    reduce_phase = vector.stats.phases[-1]
    assert reduce_phase.records_out == len(vector.lines)  # lines written as one buffer, counted
    assert vector.stats.phases[0].spills > vector.stats.phases[0].tasks  # map tasks merged spills
    if reducers == 1:
        assert vector.output == run_inline(MRWordCount, [many_words]).output


def test_wordcount_in_one_slice_with_the_default_budget(many_words, slices):
    vector = run_engine(MRWordCount, [many_words], executor="serial", reducers=2)
    assert slices == [1, 1]
    assert vector.output == run_engine(MRWordCount, [many_words], reducers=2, vectorize=False).output


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_top_buyers_reduced_in_slices_equals_record_path(tmp_path_factory, slices, executor):
    """Two steps: step 1's reduce (per buyer, then step 2's map) works in slices; step 2
    has one key, so one slice holds it whole."""
    from data.tickit import generate
    from jobs.tickit_top_buyers import MRTickitTopBuyers

    out = tmp_path_factory.mktemp("tickit")
    generate(out, scale=0.02, seed=9)
    for inputs in ([str(out / "sales_tab.txt"), str(out / "allusers_pipe.txt")], [str(out / "parquet")]):
        slices.clear()
        args = ["--k", "25", *inputs]
        opts = dict(executor=executor, reducers=2, memory_budget="24K", split_size="16K")
        vector = run_engine(MRTickitTopBuyers, args, **opts)
        if executor == "serial":
            assert max(slices) > 4, slices  # step 1's partitions
        record = run_engine(MRTickitTopBuyers, args, vectorize=False, **opts)
        assert vector.output == record.output
        assert len(vector.lines) == 25


def test_merge_of_sorted_slices_keeps_rows_of_a_key_in_order(tmp_path):
    """``merge_sorted`` over streams with disjoint keys, several rows a key."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from engine.formats import TextPartWriter

    rng = random.Random(3)
    keys = sorted({bytes(rng.choice(b"abc\x80") for _ in range(rng.randint(0, 4))) for _ in range(300)})
    streams: list[list[tuple[bytes, bytes]]] = [[] for _ in range(4)]
    expected = []
    for key in keys:
        rows = [(key, key + b"\t%d" % i) for i in range(rng.randint(1, 3))]
        streams[rng.randrange(4)].extend(rows)
        expected.extend(line for _, line in rows)
    paths = []
    for n, rows in enumerate(streams):
        table = pa.table({"key": pa.array([k for k, _ in rows], pa.binary()), "line": [v for _, v in rows]})
        path = str(tmp_path / f"s{n}.arrow")
        with ipc.new_stream(path, table.schema) as out:
            out.write_table(table, max_chunksize=7)
        paths.append(path)
    writer = TextPartWriter(str(tmp_path / "part"))
    output.merge_sorted(paths, writer, level=64)
    writer.close()
    assert (tmp_path / "part").read_bytes() == b"".join(line + b"\n" for line in expected)
    assert writer.records == len(expected)
