"""``python -m bench.sql_vector``: AMPLab queries on the engine (cold and warm) beside DuckDB, tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import sql_vector


def test_a_tiny_run_checks_the_engine_cold_and_warm_against_duckdb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--uservisits", "2000", "--repeat", "1", "--queries", "2A,J,M", "--formats", "parquet"]
    assert sql_vector.main([*argv, "--warm", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| parquet | 2A | engine-sql |" in out and "| parquet | 2A | engine-sql warm |" in out
    assert "| parquet | 2A | engine-sql --no-vectorize |" in out  # under --record-max-rows
    assert "| parquet | J | engine-sql |" in out
    assert "| parquet | M | engine-sql |" in out  # stage 1 on Arrow, stage 2 on the record form
