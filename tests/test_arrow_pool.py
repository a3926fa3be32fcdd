"""engine.arrow_pool: the engine's processes take Arrow's memory from the system allocator, unless
the user chose one; ``python -m engine`` sets it before anything allocates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine import arrow_pool

ROOT = Path(__file__).parent.parent


def test_the_default_is_the_system_allocator_and_a_users_choice_stays(monkeypatch):
    monkeypatch.setenv(arrow_pool.ARROW_POOL_VAR, "")  # so that the test's end restores what was there
    monkeypatch.delenv(arrow_pool.ARROW_POOL_VAR)
    arrow_pool.default()

    assert os.environ[arrow_pool.ARROW_POOL_VAR] == "system"
    monkeypatch.setenv(arrow_pool.ARROW_POOL_VAR, "mimalloc")
    arrow_pool.default()
    assert os.environ[arrow_pool.ARROW_POOL_VAR] == "mimalloc"


def test_python_m_engine_allocates_from_it_in_its_own_process(tmp_path):
    # a job run in the driver (--executor serial) reports the pool its mapper's process uses
    job = tmp_path / "pool_job.py"
    job.write_text(
        "from mrjob.job import MRJob\n"
        "class PoolJob(MRJob):\n"
        "    def mapper(self, _, line):\n"
        "        import pyarrow\n"
        "        yield pyarrow.default_memory_pool().backend_name, 1\n"
        "if __name__ == '__main__':\n"
        "    PoolJob.run()\n"
    )
    (tmp_path / "in.txt").write_text("x\n")
    env = {k: v for k, v in os.environ.items() if k != arrow_pool.ARROW_POOL_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(job), "--executor", "serial", str(tmp_path / "in.txt")],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ['"system"', "1"]
