"""The vectorized (Arrow) twins give the record path's output, byte for byte."""

from __future__ import annotations

import random
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.arrow import VectorStep
from engine.arrow.aggregate import final_aggregate, partial_aggregate
from engine.arrow.read import input_batches
from engine.errors import InputError, JobDefinitionError
from engine.splits import text_splits
from jobs.wordcount import MRWordCount
from tests.harness import run_engine, run_inline
from tests.jobs.mr_vector_stats import MRVectorStats

MODES = [("serial", 1), ("serial", 3), ("processes", 1), ("processes", 3)]


@pytest.fixture
def stats_input(tmp_path):
    rng = random.Random(7)
    lines = []
    for i in range(3000):
        key = rng.choice(["a", "b", "c", "d", "", "ü", "k;with"])
        value = "" if rng.random() < 0.2 else str(rng.randint(-50, 50))
        lines.append(f"{key},{value}" if i % 97 else "no comma here")
    lines.append("nullsonly,")
    path = tmp_path / "stats.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("executor,reducers", MODES)
@pytest.mark.parametrize("budget", ["2K", "512M"], ids=["spilling", "in-memory"])
def test_every_aggregation_matches_the_record_path(stats_input, executor, reducers, budget):
    opts = dict(executor=executor, reducers=reducers, memory_budget=budget, split_size="16K")
    vector = run_engine(MRVectorStats, [stats_input], **opts)
    record = run_engine(MRVectorStats, [stats_input], vectorize=False, **opts)
    assert vector.output == record.output  # same partitions, same order, same bytes
    assert vector.lines and b'"nullsonly"\t[null, 1, null, null, null, null, [null]]' in vector.lines
    assert b"null\t" in vector.output  # the null key forms a group of its own
    if budget == "2K":
        assert vector.stats.phases[0].spills > vector.stats.phases[0].tasks
    if reducers == 1:
        assert vector.output == run_inline(MRVectorStats, [stats_input]).output


@pytest.mark.parametrize("executor,reducers", MODES)
def test_wordcount_twin_matches_inline(text_inputs, executor, reducers):
    vector = run_engine(MRWordCount, text_inputs, executor=executor, reducers=reducers, split_size="8K")
    record = run_engine(MRWordCount, text_inputs, executor=executor, reducers=reducers, vectorize=False)
    assert vector.output == record.output if reducers == 1 else vector.sorted_lines == record.sorted_lines
    assert vector.sorted_lines == run_inline(MRWordCount, text_inputs).sorted_lines


def test_wordcount_twin_on_unicode_and_compressed(tmp_path):
    import gzip

    text = "Ünïcode wörds_and numbers ²³ 42 it's ÉTÉ été\r\n\nnaïve café-au-lait\n" * 50
    (tmp_path / "u.txt.gz").write_bytes(gzip.compress(text.encode()))
    vector = run_engine(MRWordCount, [str(tmp_path / "u.txt.gz")], reducers=1)
    assert vector.output == run_inline(MRWordCount, [str(tmp_path / "u.txt.gz")]).output


def test_empty_input_and_empty_partitions(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert run_engine(MRWordCount, [str(empty)], reducers=3).output == b""
    one = tmp_path / "one.txt"
    one.write_text("word\n")
    outcome = run_engine(MRWordCount, [str(one)], reducers=4)
    assert outcome.lines == [b'"word"\t1']


def test_text_batches_cover_every_line_once(tmp_path):
    data = b"".join(b"line %d\r\n" % i if i % 3 else b"\n" for i in range(5000))
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    for size in (1, 7, 1000, len(data)):
        got = [
            line
            for split in text_splits(str(path), len(data), size)
            for batch in input_batches(split, None)
            for line in batch.column("line").to_pylist()
        ]
        assert got == [line.rstrip(b"\r").decode() for line in data.split(b"\n")[:-1]]


def test_non_utf8_text_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    split = text_splits(str(path), path.stat().st_size, 1 << 20)[0]
    with pytest.raises(InputError, match="line 3"):
        list(input_batches(split, None))


def test_parquet_input_batches_with_projection(tmp_path):
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), tmp_path / "t.parquet", row_group_size=2)
    from engine.splits import make_splits

    splits = make_splits([str(tmp_path / "t.parquet")], workers=1, split_size=1)
    batches = [b for s in splits for b in input_batches(s, ["b"])]
    assert [b.schema.names for b in batches] == [["b"], ["b"]]
    assert sum(b.num_rows for b in batches) == 3


def test_partial_then_final_equals_one_aggregation():
    step = VectorStep(
        mapper=lambda b: b,
        keys=("k",),
        aggregate={"s": ("v", "sum"), "n": ("v", "count"), "l": ("v", "collect")},
    )
    table = pa.table({"k": ["x", "y", "x", "x"], "v": [1, None, 3, 4]})
    halves = pa.concat_tables(
        [partial_aggregate(table.slice(0, 2), step), partial_aggregate(table.slice(2), step)]
    )
    final = final_aggregate(halves, step).sort_by("k").to_pylist()
    assert final == [{"k": "x", "s": 8, "n": 3, "l": [1, 3, 4]}, {"k": "y", "s": None, "n": 1, "l": [None]}]


def test_unknown_aggregation_is_refused():
    step = VectorStep(mapper=lambda b: b, keys=("k",), aggregate={"m": ("v", "median")})
    with pytest.raises(JobDefinitionError, match="median"):
        step.validate()


def test_cloudfront_twin_matches_record_path(tmp_path):
    """Generated logs (text and Parquet) plus edge-case lines: the RE2 twin gives the record answer."""
    from data.cloudfront import generate
    from jobs.cloudfront_os_requests import MRCloudFrontOSRequests
    from tests.test_lab_jobs import EDGE_LINES, GOOD

    generate(tmp_path / "cf", rows=3000, seed=3, files=2)
    edge = [
        *EDGE_LINES,
        GOOD.replace("(MacOS;", "(Win%20NT/5;").replace("%20IE/3.0.9", ""),  # group 11 must backtrack
        GOOD.replace("2014-07-05", "2014-07-32"),  # not a date: NULL, dropped
        GOOD.replace("2014-07-05", "2014-08-05"),  # the window's last day counts
        GOOD.replace("2014-07-05", "2014-08-06"),
    ]
    (tmp_path / "edge.log").write_text("\n".join(edge) + "\n")
    text = sorted(str(p) for p in (tmp_path / "cf").glob("*.log")) + [str(tmp_path / "edge.log")]
    for inputs in (text, [str(tmp_path / "cf" / "parquet")]):
        vector = run_engine(MRCloudFrontOSRequests, inputs, reducers=2, executor="processes")
        record = run_engine(MRCloudFrontOSRequests, inputs, reducers=2, vectorize=False)
        assert vector.sorted_lines == record.sorted_lines
        assert len(vector.lines) >= 6  # six OS values, plus what odd edge lines parse to


@pytest.fixture(scope="module")
def tickit_dir(tmp_path_factory):
    from data.tickit import generate

    out = tmp_path_factory.mktemp("tickit")
    generate(out, scale=0.02, seed=5)
    return out


@pytest.mark.parametrize("executor,reducers", MODES)
def test_top_buyers_two_step_twin_matches_record_path(tickit_dir, executor, reducers):
    from jobs.tickit_top_buyers import MRTickitTopBuyers

    text = [str(tickit_dir / "sales_tab.txt"), str(tickit_dir / "allusers_pipe.txt")]
    for inputs in (text, [str(tickit_dir / "parquet")]):
        args = ["--k", "7", *inputs]
        opts = dict(executor=executor, reducers=reducers, memory_budget="64K", split_size="32K")
        vector = run_engine(MRTickitTopBuyers, args, **opts)
        record = run_engine(MRTickitTopBuyers, args, vectorize=False, **opts)
        assert vector.output == record.output  # same part, same order
        assert len(vector.lines) == 7


@pytest.mark.parametrize("executor,reducers", [("serial", 1), ("processes", 3)])
@pytest.mark.parametrize("job", ["challenge", "total_sales", "percentile_events"])
def test_tickit_twins_match_record_path(tickit_dir, job, executor, reducers):
    from jobs.tickit_challenge import MRTickitChallenge
    from jobs.tickit_percentile_events import MRTickitPercentileEvents
    from jobs.tickit_total_sales import MRTickitTotalSales

    job_class, tables = {
        "challenge": (MRTickitChallenge, ("allusers_pipe.txt",)),
        "total_sales": (MRTickitTotalSales, ("sales_tab.txt", "date2008_pipe.txt")),
        "percentile_events": (MRTickitPercentileEvents, ("sales_tab.txt", "allevents_pipe.txt")),
    }[job]
    for inputs in ([str(tickit_dir / t) for t in tables], [str(tickit_dir / "parquet")]):
        opts = dict(executor=executor, reducers=reducers, memory_budget="64K", split_size="32K")
        vector = run_engine(job_class, inputs, **opts)
        record = run_engine(job_class, inputs, vectorize=False, **opts)
        assert vector.output == record.output
        assert vector.lines


def test_top_buyers_twin_on_crlf_text_equals_the_record_path(tickit_dir, tmp_path):
    """Blocks holding \\r are read as lines, not by the CSV reader: same answer."""
    from jobs.tickit_top_buyers import MRTickitTopBuyers

    inputs = []
    for name in ("sales_tab.txt", "allusers_pipe.txt"):
        data = (tickit_dir / name).read_bytes()
        (tmp_path / name).write_bytes(data.replace(b"\n", b"\r\n") if name.startswith("sales") else data)
        inputs.append(str(tmp_path / name))
    opts = dict(executor="serial", reducers=2, memory_budget="64K", split_size="32K")
    vector = run_engine(MRTickitTopBuyers, inputs, **opts)
    assert vector.output == run_engine(MRTickitTopBuyers, inputs, vectorize=False, **opts).output
    assert len(vector.lines) == 10


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorized", "record"])
def test_tickit_line_with_missing_fields_fails_both_paths_naming_it(tickit_dir, tmp_path, vectorize):
    from engine.errors import EngineError
    from jobs.tickit_top_buyers import MRTickitTopBuyers

    lines = (tickit_dir / "sales_tab.txt").read_bytes().splitlines(keepends=True)
    lines[100] = b"\t".join(lines[100].split(b"\t")[:5]) + b"\n"
    (tmp_path / "sales_tab.txt").write_bytes(b"".join(lines))
    with pytest.raises(EngineError) as info:
        run_engine(
            MRTickitTopBuyers,
            [str(tmp_path / "sales_tab.txt"), str(tickit_dir / "allusers_pipe.txt")],
            vectorize=vectorize,
            max_attempts=1,
        )
    message = str(info.value)
    assert "sales_tab.txt" in message and re.search(r"has 5 fields", message)
    assert all(field in message for field in lines[100].decode().split())
    if vectorize:  # the CSV path names the line and fails at once (an input error)
        assert "sales_tab.txt line 101 " in message and "not retried" in message


def test_aggregations_over_only_nulls_equal_arrow_s_own():
    """The all-NULL shortcut of partial_aggregate gives what Arrow's group-by gives."""
    step = VectorStep(
        keys=("k",),
        aggregate={
            "s": ("v", "sum"),
            "f": ("n", "first"),
            "lo": ("n", "min"),
            "c": ("n", "count"),
            "m": ("i", "mean"),
            "l": ("n", "collect"),
        },
    )
    table = pa.table(
        {"k": [2, 1, 2], "v": [1, 2, 3], "n": pa.nulls(3, pa.string()), "i": pa.nulls(3, pa.int32())}
    )
    got = partial_aggregate(table, step)
    inputs = table.select(["k"])
    aggs = []
    for name, (column, fn) in {
        "s.sum": ("v", "sum"),
        "f.first": ("n", "first"),
        "lo.min": ("n", "min"),
        "c.count": ("n", "count"),
        "m.sum": ("i", "sum"),
        "m.count": ("i", "count"),
        "l.list": ("n", "list"),
    }.items():
        inputs = inputs.append_column(name, table.column(column))
        mode = "all" if name == "c.count" else "only_valid"
        aggs.append((name, fn, pc.CountOptions(mode=mode)) if fn == "count" else (name, fn))
    want = inputs.group_by("k", use_threads=False).aggregate(aggs)
    want = want.rename_columns([n.rsplit("_", 1)[0] if n != "k" else n for n in want.column_names])
    assert got.schema == want.select(got.column_names).schema
    assert got.sort_by("k").to_pylist() == want.select(got.column_names).sort_by("k").to_pylist()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("aZ09_' \t-.,!\"\\\x00\x7fé²ÉΩ"), max_size=25),
        max_size=20,
    )
)
def test_wordcount_twin_tokenizes_as_the_mapper(lines):
    """Both the ASCII fast path and the regex path give the record mapper's words (not for
    context-dependent lower-casing such as a final Σ: see the README's caveats)."""
    from jobs.wordcount import WORD_RE

    batch = pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], names=["line"])
    got = MRWordCount([]).words_in_batch(batch).column("word").to_pylist()
    assert got == [w.lower() for line in lines for w in WORD_RE.findall(line)]
