"""The compiled SQL job (``engine.sql.job.SqlJob``) on mrjob's other runners gives DuckDB's answer.

The Redshift lab's top-buyers query (``sql/tickit_lab.sql``: GROUP BY, ORDER BY ... LIMIT, a join,
ORDER BY -- four steps, rows carried from step to step) on the embedded sample
(``data/sample/tickit``), run by a ``Session`` on ``-r local`` (subprocess tasks), ``-r spark`` (a
real local pyspark, as ``tests/test_spark_runner.py`` runs it) and ``-r emr`` against a moto server
(as ``tests/test_emr_lab.py`` runs ``MRWordCount``: the tables on moto's S3, the steps run by
``tests/emr_streaming.py``'s stand-in under Python 3.9 where there is one, EMR 7's Python, with
only ``emr/package.py``'s archive and mrjob importable by the tasks besides the job script).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from data import duckdb_sql
from engine.sql.session import Session
from tests.test_emr_lab import BUCKET, REGION, _client, _lab, _python39, endpoint, moto_url  # noqa: F401
from tests.test_spark_runner import spark_args, spark_env  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "tickit"
#: the files the top-buyers query reads
QUERY_FILES = ("allusers_pipe.txt", "sales_tab.txt")


@pytest.fixture(scope="module")
def expected() -> list:
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, SAMPLE)
    rows = duckdb_sql.run_query(con, duckdb_sql.TOP_BUYERS_SQL)
    assert len(rows) == 10
    return rows


@pytest.fixture
def label():
    """A job label; mrjob's setup-wrapper.sh (local, EMR) leaves /tmp/wrapper.lock.LABEL.* behind."""
    label = f"sql-runners-{os.getpid()}"
    yield label
    for lock in Path("/tmp").glob(f"wrapper.lock.{label}.*"):
        lock.unlink()


def top_buyers(runner: str, job_args: list, tickit: str) -> list:
    """The lab's DDL and COPY commands (paths pointed at *tickit*), then its top-buyers query."""
    text = (ROOT / "sql" / "tickit_lab.sql").read_text().split("-- The challenge")[0]
    assert text.count("'data/sample/tickit/") == 7
    text = text.replace("'data/sample/tickit/", f"'{tickit}/") + duckdb_sql.TOP_BUYERS_SQL
    # no broadcast join (where the runner would allow one): four steps, rows carried between them
    session = Session("redshift", runner=runner, job_args=list(job_args), broadcast_limit=0)
    *ddl, query = session.parse(text)
    for st in ddl:
        session.execute(st)
    assert len(session.compile(query).stages) == 4
    result = session.execute(query)
    assert result.columns == ["firstname", "lastname", "total_quantity"]
    return result.rows


@pytest.mark.slow
def test_local_runner(expected, tmp_path, label):
    # one core: a reducer and two map splits a step, half the task processes of two cores
    args = ["--num-cores", "1", "--local-tmp-dir", str(tmp_path), "--label", label]
    assert top_buyers("local", args, str(SAMPLE)) == expected


@pytest.mark.slow
def test_spark_runner(expected, spark_env):  # noqa: F811
    assert top_buyers("spark", spark_args(spark_env), str(SAMPLE)) == expected


@pytest.mark.slow
def test_emr_runner_against_moto(expected, endpoint, tmp_path, monkeypatch, label):  # noqa: F811
    from emr.package import build_archive
    from tests.emr_streaming import StepExecutor

    assert _lab(endpoint, "create-bucket") == 0
    s3 = _client("s3", endpoint)
    for name in QUERY_FILES:
        s3.upload_file(str(SAMPLE / name), BUCKET, f"input/tickit/{name}")
    monkeypatch.chdir(ROOT)  # emr/mrjob.conf's py_files path is relative to the repo root
    build_archive()
    (tmp_path / "mrjob").mkdir()
    args = ["--conf-path", "emr/mrjob.conf", "--region", REGION, "--label", label]
    args += ["--cloud-tmp-dir", f"s3://{BUCKET}/tmp/mrjob/", "--local-tmp-dir", str(tmp_path / "mrjob")]
    args += ["--check-cluster-every", "0.1"]
    args += ["--cloud-fs-sync-secs", "0", "--jobconf", "mapreduce.job.reduces=2"]
    # between steps: S3, not EMR's default hdfs:///tmp/mrjob/ (the stand-in has no HDFS)
    args += ["--step-output-dir", f"s3://{BUCKET}/tmp/step-output/"]
    for service in ("s3", "emr", "iam", "ec2"):
        args += [f"--{service}-endpoint", endpoint]
    executor = StepExecutor(endpoint, REGION, python_bin=_python39()).start()
    try:
        rows = top_buyers("emr", args, f"s3://{BUCKET}/input/tickit")
    finally:
        executor.stop()
    assert executor.errors == []
    assert [r["state"] for r in executor.ran] == ["COMPLETED"] * 4
    assert rows == expected
    assert _lab(endpoint, "teardown") == 0
