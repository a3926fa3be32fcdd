"""``python -m bench.sample_query``: the sample's query cold, warm and on DuckDB, answers checked."""

from __future__ import annotations

import pytest

from bench import sample_query


def test_one_round_checks_both_engine_runs_against_duckdb(capsys: pytest.CaptureFixture[str]) -> None:
    assert sample_query.main(["--queries", "total_sales", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for system in sample_query.SYSTEMS:
        assert f"| total_sales | {system} |" in out
