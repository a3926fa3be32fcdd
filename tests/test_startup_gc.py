"""engine.startup_gc: the collector paused for start-up only, and on again wherever tasks run --
in the driver, in mrjob's inline runner, in workers forked from a fresh forkserver or from a
process still in its pause -- checked where the tasks themselves run."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterator

import pytest

from engine import startup_gc

ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Each test leaves the collector on, nothing frozen and no pause pending, as it found them."""
    assert gc.isenabled()
    yield
    startup_gc._paused = False
    gc.unfreeze()
    gc.enable()


def test_pause_then_resume_freezes_start_up_and_turns_collection_on():
    startup_gc.pause()
    assert not gc.isenabled()
    made_in_start_up = [object() for _ in range(3)]  # noqa: F841  (objects alive at resume)
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    startup_gc.resume()  # a second resume changes nothing
    assert gc.isenabled()


def test_a_collector_turned_off_before_start_up_stays_off():
    gc.disable()
    startup_gc.pause()
    startup_gc.resume()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_resume_without_a_pause_changes_nothing():
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_worker_forked_in_the_pause_collects_its_tasks_garbage():
    """A warm server's command forks its own forkserver while paused, a forkserver forks its
    workers while paused: each process forked in the pause resumes."""
    startup_gc.pause()
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: pytest's threads
        pid = os.fork()
    if pid == 0:  # the child reports and ends at once
        os.write(write, b"on" if gc.isenabled() else b"off")
        os._exit(0)
    os.close(write)
    seen = os.read(read, 3)
    os.waitpid(pid, 0)
    os.close(read)
    assert not gc.isenabled() and seen == b"on"


def test_an_inline_sql_job_runs_with_the_collector_on(tmp_path, monkeypatch):
    from mrjob.inline import InlineMRJobRunner

    from engine.sql.session import Session

    seen = []
    run = InlineMRJobRunner._run

    def watched(self):
        seen.append(gc.isenabled())
        return run(self)

    monkeypatch.setattr(InlineMRJobRunner, "_run", watched)
    (tmp_path / "t.txt").write_text("1\n2\n")
    s = Session("redshift", runner="inline")
    startup_gc.pause()
    for st in s.parse(f"create table t (id integer); copy t from '{tmp_path}/t.txt';"):
        s.execute(st)
    assert s.execute(s.parse("select count(*) from t")[0]).rows == [(2,)]
    assert seen == [True]


def test_a_sql_command_that_runs_no_job_turns_collection_on_after_its_first_statement(tmp_path, capsys):
    """EXPLAIN, DDL: no job resumes the collector, so the command does after a statement."""
    from engine.sql.cli import run as sql_cli

    (tmp_path / "t.txt").write_text("1\n")
    startup_gc.pause()
    script = f"create table t (id integer); copy t from '{tmp_path}/t.txt'; select count(*) from t;"
    assert sql_cli(["-c", script, "--explain", "-q"], hive=False) == 0
    assert gc.isenabled() and "Stage" in capsys.readouterr().out


JOB = """\
import gc
from mrjob.job import MRJob


class MRCollector(MRJob):
    def mapper(self, _, line):
        yield "collector on", gc.isenabled()


if __name__ == "__main__":
    MRCollector.run()
"""


@pytest.mark.parametrize("executor", ["serial", "processes"], ids=["in_the_driver", "in_workers"])
def test_python_m_engine_runs_its_tasks_with_the_collector_on(tmp_path, executor):
    """The command pauses collection for its start-up; its tasks, in the driver or in workers
    forked from the forkserver (whose preload pauses it too), run with it on."""
    job = tmp_path / "mr_collector.py"
    job.write_text(JOB)
    data = tmp_path / "in.txt"
    data.write_text("a\nb\n")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--executor", executor, str(job), str(data), "-q"],
        capture_output=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(set(done.stdout.decode().splitlines())) == ['"collector on"\ttrue']
