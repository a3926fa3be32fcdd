"""The external sort equals sorted(); spills change nothing; partitioning is stable across processes."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.shuffle import MapOutputCollector, key_of, merge_runs, partition_of, read_run

keys = st.binary(min_size=0, max_size=6).map(lambda b: b.replace(b"\t", b"").replace(b"\n", b""))
values = st.binary(max_size=8).map(lambda b: b.replace(b"\n", b""))


def collect(tmp_path, lines, partitions, budget, sort_values=False, combiner=None):
    collector = MapOutputCollector(str(tmp_path), partitions, budget, combiner, sort_values)
    collector.add_all(lines)
    runs = collector.close()
    return {p: list(read_run(path)) for p, path in runs.items()}, collector.stats


@settings(max_examples=100, deadline=None)
@given(
    pairs=st.lists(st.tuples(keys, values), max_size=300),
    budget=st.integers(1, 4000),
    parts=st.integers(1, 4),
)
def test_external_sort_is_a_stable_sort_by_key(tmp_path_factory, pairs, budget, parts):
    lines = [k + b"\t" + v for k, v in pairs]
    runs, stats = collect(tmp_path_factory.mktemp("r"), lines, parts, budget)
    for p in range(parts):
        expected = sorted((line for line in lines if partition_of(key_of(line), parts) == p), key=key_of)
        assert runs.get(p, []) == expected
    assert stats.records == len(lines)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(keys, values), max_size=200), budget=st.integers(1, 2000))
def test_sort_values_orders_whole_records(tmp_path_factory, pairs, budget):
    lines = [k + b"\t" + v for k, v in pairs]
    runs, _ = collect(tmp_path_factory.mktemp("r"), lines, 1, budget, sort_values=True)
    assert runs.get(0, []) == sorted(lines, key=lambda line: (key_of(line), line))


def test_tiny_budget_spills_and_combines_to_the_same_totals(tmp_path):
    def combiner(sorted_lines):
        current, total = None, 0
        for line in sorted_lines:
            key, value = line.split(b"\t")
            if key != current and current is not None:
                yield current + b"\t" + str(total).encode()
                total = 0
            current = key
            total += int(value)
        if current is not None:
            yield current + b"\t" + str(total).encode()

    lines = [b"k%d\t1" % (i % 37) for i in range(5000)]
    runs, stats = collect(tmp_path, lines, 3, budget=2000, combiner=combiner)
    assert stats.spills > 10
    totals = {}
    for run in runs.values():
        for line in run:
            key, value = line.split(b"\t")
            totals[key] = totals.get(key, 0) + int(value)
    assert totals == {b"k%d" % i: len([j for j in range(5000) if j % 37 == i]) for i in range(37)}
    assert sum(len(r) for r in runs.values()) == 37  # combined again during the final merge


def test_merge_is_stable_across_runs(tmp_path):
    a, b = tmp_path / "a.run", tmp_path / "b.run"
    a.write_bytes(b"k\t1\nk\t2\nz\t1\n")
    b.write_bytes(b"a\t0\nk\t3\n")
    assert list(merge_runs([str(a), str(b)])) == [b"a\t0", b"k\t1", b"k\t2", b"k\t3", b"z\t1"]


def test_lines_without_tab_and_with_newlines():
    assert key_of(b"no tab here") == b"no tab here"
    assert key_of(b"k\tv\tw") == b"k"


def test_partitioning_agrees_between_processes():
    keys = [b"", b"a", b'"hadoop"', "ünïcode".encode(), b"x" * 1000]
    mine = [partition_of(k, 7) for k in keys]
    code = f"from engine.shuffle import partition_of; print([partition_of(k, 7) for k in {keys!r}])"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        assert out.strip() == str(mine)
