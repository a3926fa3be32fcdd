"""Parity: job shapes give -r inline's output on the engine, serial and processes, 1 and 3 reducers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from mrjob.examples.mr_count_lines_by_file import MRCountLinesByFile
from mrjob.examples.mr_most_used_word import MRMostUsedWord

from tests.harness import run_engine, run_inline
from tests.jobs.mr_init_final import MRInitFinal
from tests.jobs.mr_map_only import MRMapOnly
from tests.jobs.mr_no_combiner_count import MRNoCombinerCount
from tests.jobs.mr_protocols import MRProtocols
from tests.jobs.mr_raw_files import MRRawFiles
from tests.jobs.mr_sort_values import MRSortValues
from tests.jobs.mr_value_order import MRValueOrder
from tests.jobs.mr_word_count import MRWordCountPlain

MODES = [
    pytest.param("serial", 1, id="serial-1r"),
    pytest.param("serial", 3, id="serial-3r"),
    pytest.param("processes", 1, id="procs-1r"),
    pytest.param("processes", 3, id="procs-3r"),
]

JOBS = [
    MRWordCountPlain,
    MRMostUsedWord,  # multi-step, FILES, reducer-only second step, JSONValueProtocol
    MRInitFinal,
    MRValueOrder,
    MRSortValues,
    MRProtocols,
    MRMapOnly,
    MRCountLinesByFile,  # jobconf_from_env('mapreduce.map.input.file')
    MRRawFiles,
]


def assert_same(engine, inline, reducers: int) -> None:
    if reducers == 1:
        assert engine.output == inline.output  # one reducer: the very same bytes, in key order
    else:
        assert engine.sorted_lines == inline.sorted_lines
    assert inline.lines, "the reference produced no output: the test would prove nothing"


@pytest.mark.parametrize("executor,reducers", MODES)
@pytest.mark.parametrize("job_class", JOBS, ids=lambda c: c.__name__)
def test_job_matches_inline(job_class, executor, reducers, text_inputs):
    args = list(text_inputs)
    if job_class is MRMapOnly:
        args = ["--prefix", "# ", *args]
    inline = run_inline(job_class, args)
    # A tiny split size makes several map tasks even on small inputs.
    engine = run_engine(job_class, args, executor=executor, reducers=reducers, split_size="4K")
    if job_class in (MRInitFinal, MRMapOnly, MRRawFiles):
        # mapper_final/reducer_final and map-only output depend on how many tasks ran;
        # compare what does not.
        if job_class is MRInitFinal:
            _assert_init_final(engine, inline)
            return
        if job_class is MRRawFiles:
            assert sorted(engine.lines) == sorted(inline.lines)
            return
        assert engine.sorted_lines == inline.sorted_lines
        return
    assert_same(engine, inline, reducers)


def _assert_init_final(engine, inline) -> None:
    import json

    def totals(outcome):
        out = {}
        for line in outcome.lines:
            key, value = line.split(b"\t")
            out[json.loads(key)] = json.loads(value)
        return out

    e, i = totals(engine), totals(inline)
    assert {k: v for k, v in e.items() if k != "keys-in-this-reducer"} == {
        k: v for k, v in i.items() if k != "keys-in-this-reducer"
    }
    assert engine.counters[0]["lines"] == inline.counters[0]["lines"]
    assert sum(engine.counters[0]["reducer"].values()) == sum(inline.counters[0]["reducer"].values())


@pytest.mark.parametrize("precombine", [True, False], ids=["precombine", "encoded-combiner"])
@pytest.mark.parametrize("budget", ["1K", "512M"])
def test_combiner_paths_agree(precombine, budget, text_inputs):
    """Map-side hash aggregation and Hadoop's encode-sort-combine give the same answer."""
    inline = run_inline(MRWordCountPlain, text_inputs)
    engine = run_engine(
        MRWordCountPlain,
        text_inputs,
        reducers=1,
        precombine=precombine,
        memory_budget=budget,
        split_size="8K",
    )
    assert engine.output == inline.output
    if budget == "1K":
        assert engine.stats.phases[0].spills > engine.stats.phases[0].tasks


@pytest.mark.parametrize("executor,reducers", MODES)
def test_one_huge_key_and_spills(executor, reducers, tmp_path):
    """200k values of one key through a 64 KB budget: many spills, same answer."""
    path = tmp_path / "hot.txt"
    lines = ["hot " * 50 + "cold"] * 4000
    path.write_text("\n".join(lines) + "\n")
    inline = run_inline(MRNoCombinerCount, [str(path)])
    engine = run_engine(
        MRNoCombinerCount,
        [str(path)],
        executor=executor,
        reducers=reducers,
        memory_budget="64K",
        split_size="64K",
    )
    assert inline.lines == [b'"cold"\t4000', b'"hot"\t200000']
    assert engine.sorted_lines == inline.sorted_lines
    assert engine.stats is not None
    assert engine.stats.phases[0].spills > engine.stats.phases[0].tasks  # forced to spill


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_empty_input(executor, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    inline = run_inline(MRWordCountPlain, [str(empty)])
    engine = run_engine(MRWordCountPlain, [str(empty)], executor=executor, reducers=2)
    assert inline.output == engine.output == b""


def test_compressed_and_directory_inputs(tmp_path, text_inputs):
    """A directory (hidden files skipped), .gz and .bz2 inputs read like plain text."""
    import bz2

    src = Path(text_inputs[0]).read_bytes()
    d = tmp_path / "dir"
    d.mkdir()
    (d / "x.txt.gz").write_bytes(gzip.compress(src))
    (d / "y.txt.bz2").write_bytes(bz2.compress(src))
    (d / "_SUCCESS").write_text("")
    (d / ".hidden").write_text("never read me")
    # Hadoop's FileInputFormat skips _* and .* files in a directory; mrjob's inline
    # runner does not, so it gets the two data files by name.
    inline = run_inline(MRWordCountPlain, [str(d / "x.txt.gz"), str(d / "y.txt.bz2")])
    engine = run_engine(MRWordCountPlain, [str(d)], executor="processes", reducers=1)
    assert engine.output == inline.output
    assert b'"never"' not in engine.output


def test_glob_input(tmp_path, text_inputs):
    pattern = str(Path(text_inputs[0]).parent / "*.txt")
    inline = run_inline(MRWordCountPlain, [pattern])
    engine = run_engine(MRWordCountPlain, [pattern], reducers=1)
    assert engine.output == inline.output
