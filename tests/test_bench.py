"""Smoke test of the benchmark suite: ``python -m bench --quick`` runs end to end.

Tiny data, one run per cell, nothing recorded: this only keeps bench/ from rotting (every
query runs on the engine, DuckDB and ``-r inline``, and every answer is checked equal to
DuckDB's by the suite itself). No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_quick_runs_and_every_answer_agrees(tmp_path):
    out = tmp_path / "bench.json"
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--no-record",
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        str(out),
    ]
    try:
        import matplotlib  # noqa: F401

        argv += ["--chart", str(tmp_path / "chart.png")]
    except ImportError:
        pass
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["queries"]) == {"wordcount", "cloudfront", "top_buyers", "total_sales", "percentile"}
    ran = {(c["query"], c["system"]) for c in result["cells"] if c["times"] and not c["errors"]}
    for query in result["queries"]:
        assert {(query, "duckdb"), (query, "engine"), (query, "inline")} <= ran, query
    # memory comes from the untimed sampled round, for every cell that ran
    assert all(c["peak_pss"] > 0 for c in result["cells"] if c["times"]), result["cells"]
    assert "| wordcount | engine (record) |" in done.stdout
    if "--chart" in argv:
        assert (tmp_path / "chart.png").stat().st_size > 10_000
