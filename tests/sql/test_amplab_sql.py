"""The AMPLab Big Data Benchmark's queries 1-3, as published, compiled by the engine (Hive dialect).

Every variant of ``data.amplab.VARIANTS`` (1A-1C scan, 2A-2C aggregation, 3A-3C join) runs from its
published text over the tables of ``data.amplab.hive_ddl`` (comma-delimited text, two part files a
table) on generated data, and is compared with DuckDB running the same text over the same files
(``data.amplab.load_duckdb``). Each variant runs on mrjob's inline runner; the three 'A' variants
also on the engine, in processes with three reducers.

Queries 1 and 2 compare as multisets of rows; query 3 (``ORDER BY totalRevenue DESC LIMIT 1``) as its
one row. Floats compare with a relative tolerance of 1e-9: ``SUM(adRevenue)`` adds the same doubles
in another order (each value is a whole number of millionths, so the exact sums agree and the float
sums differ in their last bits); everything else compares exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from data import amplab
from engine.sql.session import Session

RANKINGS, USERVISITS, FILES, SEED = 3_000, 30_000, 2, 0
REL_TOL = 1e-9

ENGINE_ARGS = ["--num-cores", "2", "--jobconf", "mapreduce.job.reduces=3"]
CASES = [pytest.param(v, "inline", [], id=f"{v}-inline") for v in amplab.VARIANTS]
CASES += [pytest.param(v, "engine", ENGINE_ARGS, id=f"{v}-engine-3r") for v in amplab.VARIANTS if v[1] == "A"]

#: The column names Hive gives each query's result (lower-case names; ``_cN`` for an expression).
HIVE_COLUMNS = {
    "1": ["pageurl", "pagerank"],
    "2": ["_c0", "_c1"],
    "3": ["sourceip", "totalrevenue", "avgpagerank"],
}


@pytest.fixture(scope="module")
def amplab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("amplab")
    amplab.generate(base, rankings=RANKINGS, uservisits=USERVISITS, seed=SEED, files=FILES)
    return base


@pytest.fixture(scope="module")
def oracle(amplab_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    counts = amplab.load_duckdb(con, amplab_dir)
    assert counts == {"rankings": RANKINGS, "uservisits": USERVISITS}
    return con


def engine_result(base: Path, sql: str, runner: str, job_args: list[str]):
    """The query's result on the engine, the tables defined by ``hive_ddl`` first."""
    session = Session("hive", runner=runner, job_args=list(job_args))
    for statement in session.parse(amplab.hive_ddl(base)):
        session.execute(statement)
    (query,) = session.parse(sql)
    return session.execute(query)


def _split(row: tuple) -> tuple[tuple, tuple]:
    """(the values that compare exactly, the floats), each in column order."""
    exact = tuple(v for v in row if not isinstance(v, float))
    floats = tuple(v for v in row if isinstance(v, float))
    return exact, floats


def _close(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(math.isclose(g, w, rel_tol=REL_TOL) for g, w in zip(got, want))


def assert_same_multiset(got: list[tuple], want: list[tuple]) -> None:
    """Equal as multisets of rows, floats within REL_TOL: the rows are grouped by their exact
    values, and within a group the float parts are paired in sorted order."""
    assert len(got) == len(want)
    groups_got, groups_want = defaultdict(list), defaultdict(list)
    for rows, groups in ((got, groups_got), (want, groups_want)):
        for row in rows:
            exact, floats = _split(tuple(row))
            groups[exact].append(floats)
    assert groups_got.keys() == groups_want.keys(), sorted(set(groups_got) ^ set(groups_want))[:5]
    for key, floats in groups_got.items():
        pairs = zip(sorted(floats), sorted(groups_want[key]))
        bad = [(g, w) for g, w in pairs if not _close(g, w)]
        assert not bad, (key, bad[:5])


def assert_same_row(got: tuple, want: tuple) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, float):
            assert isinstance(g, float) and math.isclose(g, w, rel_tol=REL_TOL), (got, want)
        else:
            assert g == w, (got, want)


@pytest.mark.parametrize("variant,runner,job_args", CASES)
def test_amplab_query_equals_duckdb(amplab_dir, oracle, variant, runner, job_args):
    sql = amplab.VARIANTS[variant]
    result = engine_result(amplab_dir, sql, runner, job_args)
    want = [tuple(r) for r in oracle.execute(sql).fetchall()]
    assert want, f"{variant}: DuckDB's answer is empty: the comparison would prove nothing"
    assert result.columns == HIVE_COLUMNS[variant[0]]
    if variant[0] == "3":
        assert len(want) == 1
        assert len(result.rows) == 1, result.rows
        assert_same_row(result.rows[0], want[0])
    else:
        assert_same_multiset(result.rows, want)


def test_the_variants_are_the_published_queries():
    """The texts under test: the three queries with the published parameters (not edited here)."""
    assert set(amplab.VARIANTS) == {f"{q}{x}" for q in "123" for x in "ABC"}
    assert amplab.VARIANTS["1A"] == "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 1000"
    assert "GROUP BY SUBSTR(sourceIP, 1, 8)" in amplab.VARIANTS["2A"]
    assert "FROM Rankings AS R, UserVisits AS UV" in amplab.VARIANTS["3A"]
    assert "Date('2010-01-01')" in amplab.VARIANTS["3C"]
