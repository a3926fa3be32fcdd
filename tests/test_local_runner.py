"""The Hadoop Streaming contract: every job in jobs/ under mrjob's -r local runner.

``-r local`` runs each task as a subprocess fed and read through pipes, as Hadoop
Streaming does (``python job.py --mapper --step-num=N``), so a job that passes here is
what a Hadoop or EMR cluster will run. The answers are checked against DuckDB running
the original SQL, like the other runners in tests/test_lab_jobs.py.
"""

from __future__ import annotations

import pytest

from jobs.wordcount import MRWordCount
from tests.harness import Outcome, run_inline
from tests.test_lab_jobs import (  # noqa: F401  (module-scoped fixtures)
    LAB_JOBS,
    MAIN_JOBS,
    SEEDS,
    _check,
    _inputs,
    datasets,
    oracles,
)


def run_local(job_class: type, args: list[str]) -> Outcome:
    job = job_class(["-r", "local", "--num-cores", "2", *args])
    with job.make_runner() as runner:
        runner.run()
        return Outcome(b"".join(runner.cat_output()), runner.counters())


@pytest.mark.slow
@pytest.mark.parametrize("name", MAIN_JOBS)
def test_lab_job_under_local_runner_equals_duckdb(name, datasets, oracles):  # noqa: F811
    lab = LAB_JOBS[name]
    seed = SEEDS[0]
    _check(lab, run_local(lab.job_class, [*lab.args, *_inputs(lab, datasets[seed])]), oracles[seed])


@pytest.mark.slow
def test_wordcount_under_local_runner_equals_inline(text_inputs):
    assert (
        run_local(MRWordCount, text_inputs).sorted_lines == run_inline(MRWordCount, text_inputs).sorted_lines
    )
