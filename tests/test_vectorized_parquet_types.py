"""Parquet files that type a column differently, on the Arrow pipeline: unified where no
value changes (the record path's output, byte for byte), else one input error naming the
column and both files, not retried."""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import InputError, JobDefinitionError
from tests.harness import run_engine
from tests.jobs.mr_vector_parquet_rows import MRVectorParquetRows
from tests.jobs.mr_vector_parquet_types import MRVectorParquetTypes

KEYS = ["apple", "pear", "fig", "kiwi", "plum", "lime", "date", "yuzu"]


def _rows(n: int, seed: int) -> dict[str, list]:
    return {
        "k": [KEYS[(i * 7 + seed) % len(KEYS)] for i in range(n)],
        "v": [None if (i + seed) % 9 == 0 else (i * 13 + seed) % 101 - 50 for i in range(n)],
        "w": [None if (i + seed) % 4 == 0 else f"w{seed}-{i}" for i in range(n)],
    }


def _write(path, columns: dict[str, pa.Array], row_group_size: int = 40) -> None:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


CASES = {
    # k dictionary-encoded in one file (pyarrow stores the dictionary type), plain in the other
    "dictionary-vs-string": (
        lambda r: {"k": pa.array(r["k"]).dictionary_encode(), "v": pa.array(r["v"]), "w": pa.array(r["w"])},
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"]), "w": pa.array(r["w"])},
    ),
    "int32-vs-int64": (
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"], pa.int32()), "w": pa.array(r["w"])},
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"], pa.int64()), "w": pa.array(r["w"])},
    ),
    "column-missing-from-one-file": (
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"]), "w": pa.array(r["w"])},
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"])},
    ),
    "all-three": (
        lambda r: {"k": pa.array(r["k"]).dictionary_encode(), "v": pa.array(r["v"], pa.int32())},
        lambda r: {"k": pa.array(r["k"]), "v": pa.array(r["v"], pa.int64()), "w": pa.array(r["w"])},
    ),
}


JOBS = {"aggregations": MRVectorParquetTypes, "rows": MRVectorParquetRows}


MODES = {"serial-1-reducer": ("serial", 1, "512M"), "processes-3-reducers-spilling": ("processes", 3, "8K")}


@pytest.mark.parametrize("job", sorted(JOBS))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", sorted(MODES))
def test_parquet_types_that_unify_give_the_record_path_output(tmp_path, job, case, mode):
    executor, reducers, budget = MODES[mode]
    first, second = CASES[case]
    data = tmp_path / "in"
    data.mkdir()
    _write(data / "a.parquet", first(_rows(300, 1)))
    _write(data / "b.parquet", second(_rows(200, 2)))
    if case.startswith("dictionary"):  # the premise: the file really holds a dictionary column
        assert pa.types.is_dictionary(pq.read_schema(data / "a.parquet").field("k").type)
    opts = dict(executor=executor, reducers=reducers, memory_budget=budget, split_size="4K")
    vector = run_engine(JOBS[job], [str(data)], **opts)
    record = run_engine(JOBS[job], [str(data)], vectorize=False, **opts)
    assert vector.output == record.output
    assert len(vector.lines) == (len(KEYS) if job == "aggregations" else 500)


def _string_and_struct(data) -> None:
    rows = _rows(100, 1)
    _write(data / "a.parquet", {"k": pa.array(rows["k"]), "v": pa.array(rows["v"]), "w": pa.array(rows["w"])})
    struct = pa.array([None if w is None else {"x": i, "y": w} for i, w in enumerate(rows["w"])])
    _write(data / "b.parquet", {"k": pa.array(rows["k"]), "v": pa.array(rows["v"]), "w": struct})


@pytest.mark.parametrize("reducers", [1, 3])
def test_parquet_types_that_do_not_unify_fail_once_naming_column_and_files(tmp_path, caplog, reducers):
    data = tmp_path / "in"
    data.mkdir()
    _string_and_struct(data)
    # the record path reads each file's rows as Python values: fine
    record = run_engine(MRVectorParquetRows, [str(data)], vectorize=False, reducers=reducers)
    assert b'{"x": 1, "y": "w1-1"}' in record.output and b'"w1-1"' in record.output
    caplog.set_level(logging.WARNING)
    with pytest.raises(InputError) as info:
        run_engine(MRVectorParquetRows, [str(data)], reducers=reducers, max_attempts=4)
    message = str(info.value)
    assert "column 'w' is string in " in message and "not retried" in message
    assert str(data / "a.parquet") in message and str(data / "b.parquet") in message
    assert "but struct<x: int64, y: string> in " in message and "--no-vectorize" in message
    assert "retrying" not in caplog.text  # failed once


def test_a_type_no_aggregation_takes_fails_once(tmp_path, caplog):
    """A group-by of a struct column has no Arrow kernel: the same on every attempt."""
    data = tmp_path / "in"
    data.mkdir()
    _string_and_struct(data)
    caplog.set_level(logging.WARNING)
    with pytest.raises(JobDefinitionError) as info:
        run_engine(MRVectorParquetTypes, [str(data)], reducers=1, max_attempts=4)
    message = str(info.value)
    assert "map side (input " in message and str(data / "b.parquet") in message
    assert "struct<x: int64, y: string>" in message and "--no-vectorize" in message
    assert "retrying" not in caplog.text


def test_an_int_and_a_float_column_are_refused_not_rounded(tmp_path):
    """int64 and double would unify to double, and 3 would be written 3.0: refused."""
    data = tmp_path / "in"
    data.mkdir()
    rows = _rows(50, 1)
    _write(data / "a.parquet", {"k": pa.array(rows["k"]), "v": pa.array(rows["v"], pa.int64())})
    floats = [None if v is None else float(v) for v in rows["v"]]
    _write(data / "b.parquet", {"k": pa.array(rows["k"]), "v": pa.array(floats, pa.float64())})
    refused = r"column 'v' .* is int64 in .*a\.parquet but double in .*b\.parquet"
    with pytest.raises(InputError, match=refused):
        run_engine(MRVectorParquetTypes, [str(data)], reducers=1)
