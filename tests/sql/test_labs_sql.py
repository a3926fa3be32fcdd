"""The labs' own SQL, compiled by the engine, gives DuckDB's answer on the same files.

The Redshift lab runs from its original text (``sql/tickit_lab.sql``: the guide's DDL, its COPY
commands pointed at generated files, the four queries unchanged); the Hive lab from the tutorial's
script (``emr/Hive_CloudFront.q``) with ``-d INPUT=... -d OUTPUT=...``. Each runs on mrjob's inline
runner and on the engine (one reducer serially; three reducers in processes with a 64K memory
budget, so that the shuffle spills). DuckDB runs the lab's original SQL (``data/duckdb_sql.py``).

Ties: the generator makes the top buyers' totals strictly decreasing; for the percentile query the
engine's answer to the tie-broken variant (``percentile_sql``: ``, eventid`` in both ORDER BYs) is
compared with DuckDB's to the same text, and the original text's answer with DuckDB's as a set.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from data import cloudfront, duckdb_sql, tickit
from engine.sql.cli import run as sql_cli
from engine.sql.session import Session

ROOT = Path(__file__).resolve().parents[2]
LAB_SQL = ROOT / "sql" / "tickit_lab.sql"
HIVE_SCRIPT = ROOT / "emr" / "Hive_CloudFront.q"
GOLDEN = Path(__file__).resolve().parent / "golden"

MODES = [
    pytest.param("inline", [], id="inline"),
    pytest.param("engine", ["--executor", "serial", "--jobconf", "mapreduce.job.reduces=1"], id="serial-1r"),
    pytest.param(
        "engine",
        [
            "--num-cores",
            "2",
            "--jobconf",
            "mapreduce.job.reduces=3",
            "--memory-budget",
            "64K",
            "--split-size",
            "64K",
            "--sql-arrow-min-bytes",  # the queries that have an Arrow form run on it
            "0",
        ],
        id="procs-3r-spill",
    ),
]


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sql-labs")
    tickit.generate(base / "tickit", scale=0.05, seed=5)
    # the logs alone under the table's LOCATION (the generator also writes a parquet/ copy beside them)
    cloudfront.generate(base / "cloudfront", rows=1500, seed=5, files=3)
    logs = base / "in" / "cloudfront" / "data"
    logs.mkdir(parents=True)
    for log in (base / "cloudfront").glob("*.log"):
        (logs / log.name).write_bytes(log.read_bytes())
    return base


@pytest.fixture(scope="module")
def oracle(lab_data) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, lab_data / "tickit")
    duckdb_sql.load_cloudfront(con, lab_data / "in" / "cloudfront" / "data")
    return con


def lab_script(tickit_dir: Path) -> str:
    """The lab's script with its COPY paths pointed at *tickit_dir* (nothing else changes)."""
    text = LAB_SQL.read_text()
    assert text.count("'data/sample/tickit/") == 7
    return text.replace("'data/sample/tickit/", f"'{tickit_dir}/")


def run_script(text: str, dialect: str, runner: str, job_args: list) -> list:
    """The results of the script's queries, in order."""
    session = Session(dialect, runner=runner, job_args=list(job_args))
    out = []
    for st in session.parse(text):
        result = session.execute(st)
        if result.rows is not None:
            out.append(result)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("runner,job_args", MODES)
def test_redshift_lab_script_equals_duckdb(lab_data, oracle, runner, job_args):
    results = run_script(lab_script(lab_data / "tickit"), "redshift", runner, job_args)
    assert [r.columns for r in results] == [
        ["firstname", "lastname"],
        ["sum"],
        ["firstname", "lastname", "total_quantity"],
        ["eventname", "total_price"],
    ]
    challenge, total, top, percentile = (r.rows for r in results)
    assert sorted(challenge) == sorted(duckdb_sql.run_query(oracle, duckdb_sql.CHALLENGE_SQL))
    assert challenge, "the generated data has Smiths who like theatre and classical"
    assert total == duckdb_sql.run_query(oracle, duckdb_sql.TOTAL_SALES_ON_DATE_SQL)
    assert top == duckdb_sql.run_query(oracle, duckdb_sql.TOP_BUYERS_SQL)
    assert len(top) == 10
    assert sorted(percentile) == sorted(duckdb_sql.run_query(oracle, duckdb_sql.PERCENTILE_EVENTS_SQL))
    assert percentile


@pytest.mark.parametrize("runner,job_args", MODES[:2])
def test_tie_broken_percentile_equals_duckdb_in_order(lab_data, oracle, runner, job_args):
    script = lab_script(lab_data / "tickit").split("-- The challenge")[0] + duckdb_sql.percentile_sql()
    (result,) = run_script(script, "redshift", runner, job_args)
    assert result.rows == duckdb_sql.run_query(oracle, duckdb_sql.percentile_sql())


def _hive_rows(out_dir: Path) -> list:
    parts = sorted(out_dir.glob("0*_0"))
    assert parts and [p.name for p in parts] == [f"{i:06d}_0" for i in range(len(parts))]
    rows = []
    for p in parts:
        for line in p.read_text().splitlines():
            os_name, count = line.split("\x01")
            rows.append((os_name, int(count)))
    return rows


@pytest.mark.parametrize("runner,job_args", MODES)
def test_hive_script_writes_duckdb_answer(lab_data, oracle, tmp_path, runner, job_args, capsys):
    out = tmp_path / "out"
    argv = ["-f", str(HIVE_SCRIPT), "-d", f"INPUT={lab_data / 'in'}", "-d", f"OUTPUT={out}", "-r", runner]
    assert sql_cli(argv + job_args, hive=True) == 0
    target = out / "os_requests"
    assert (target / "_SUCCESS").exists()
    expected = duckdb_sql.run_query(oracle, duckdb_sql.HIVE_OS_REQUESTS_SQL)
    assert sorted(_hive_rows(target)) == sorted(expected)
    assert capsys.readouterr().out == ""  # INSERT OVERWRITE DIRECTORY prints no rows


def test_hive_insert_overwrite_replaces_the_directory(lab_data, tmp_path):
    out = tmp_path / "out"
    (out / "os_requests").mkdir(parents=True)
    (out / "os_requests" / "stale_0").write_text("old\n")
    argv = ["-f", str(HIVE_SCRIPT), "-d", f"INPUT={lab_data / 'in'}", "-d", f"OUTPUT={out}"]
    assert sql_cli(argv + ["--executor", "serial", "-q"], hive=True) == 0
    names = sorted(p.name for p in (out / "os_requests").iterdir())
    assert "stale_0" not in names and "_SUCCESS" in names
    assert not [p for p in out.iterdir() if p.name.startswith(".sql-")]  # no staging left behind


# ------------------------------------------------------------------------------ EXPLAIN goldens


def _explain(text: str, dialect: str) -> str:
    session = Session(dialect)
    (*ddl, query) = session.parse(text)
    for st in ddl:
        session.execute(st)
    out = session.explain(query, analyze=False).explain
    return out.replace(str(ROOT) + "/", "")


def _lab_explains() -> dict:
    script = LAB_SQL.read_text()
    head, queries = script.split("-- The challenge")
    names = ["challenge", "total_sales_on_date", "top_buyers", "percentile_events"]
    texts = [q.strip() for q in re.split(r";\s*\n", queries) if q.strip() and "SELECT" in q]
    out = {n: (head + "\n" + t + ";", "redshift") for n, t in zip(names, texts)}
    hive = HIVE_SCRIPT.read_text().replace("${INPUT}", "data/sample").replace("${OUTPUT}", "out")
    out["hive_os_requests"] = (hive, "hive")
    return out


@pytest.mark.parametrize("name", sorted(_lab_explains()))
def test_explain_of_each_lab_query_is_pinned(name):
    """The stage plan of each lab query, as reviewed (tests/sql/golden/NAME.explain). To re-pin
    after a deliberate planner change: ENGINE_SQL_REPIN=1 pytest tests/sql/test_labs_sql.py."""
    import os

    text, dialect = _lab_explains()[name]
    got = _explain(text, dialect)
    path = GOLDEN / f"{name}.explain"
    if os.environ.get("ENGINE_SQL_REPIN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got)
    assert got == path.read_text()


def test_explain_shows_hive_layout_and_one_shuffle_per_group_by():
    text, dialect = _lab_explains()["hive_os_requests"]
    got = _explain(text, dialect)
    assert got.startswith("STAGE DEPENDENCIES:\n  Stage-1 is a root stage\n")
    assert got.count("Stage: Stage-") == 2  # one MapReduce stage and the fetch
    assert "Group By Operator (partial, in the combiner)" in got
    assert "predicate: ((dateobject >= DATE '2014-07-05') AND (dateobject <= DATE '2014-08-05'))" in got
