"""The commit protocol: existing output refused, aborts leave nothing, exactly one job wins."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine import commit
from engine.errors import CommitError


def test_existing_output_dir_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier output")
    with pytest.raises(CommitError, match="already exists"):
        commit.check_output_dir(str(out), [])
    assert (out / "keep.txt").read_text() == "earlier output"


def test_output_inside_an_input_directory_is_refused(tmp_path):
    with pytest.raises(CommitError, match="would contain the input"):
        commit.check_output_dir(str(tmp_path / "in"), [str(tmp_path / "in" / "a.txt")])


def test_job_commit_is_one_rename_with_success_marker(tmp_path):
    dirs = commit.prepare_job_dirs(str(tmp_path / "out"), str(tmp_path / "scratch"), "job_1")
    attempt = dirs.attempt_dir("s0-r-00000", 1)
    os.makedirs(attempt)
    part = os.path.join(attempt, "part-00000")
    with open(part, "w") as f:
        f.write("x\t1\n")
    commit.commit_task_output(part, dirs)
    assert not (tmp_path / "out").exists()  # nothing visible before the job commit
    commit.commit_job(dirs)
    commit.cleanup_scratch(dirs)
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "part-00000"]
    assert sorted(os.listdir(tmp_path)) == ["out", "scratch"]  # no staging dir left
    assert os.listdir(tmp_path / "scratch") == []  # the job's scratch is gone


def test_abort_leaves_nothing_behind(tmp_path):
    dirs = commit.prepare_job_dirs(str(tmp_path / "out"), str(tmp_path / "scratch"), "job_2")
    os.makedirs(dirs.attempt_dir("s0-m-00000", 1))
    commit.abort_job(dirs)
    assert os.listdir(tmp_path) == ["scratch"]
    assert os.listdir(tmp_path / "scratch") == []


def test_second_of_two_concurrent_commits_fails_cleanly(tmp_path):
    first = commit.prepare_job_dirs(str(tmp_path / "out"), str(tmp_path / "s"), "job_a")
    second = commit.prepare_job_dirs(str(tmp_path / "out"), str(tmp_path / "s"), "job_b")
    commit.commit_job(first)
    with pytest.raises(CommitError, match="another job wrote it first"):
        commit.commit_job(second)
    commit.abort_job(second)
    assert os.listdir(tmp_path / "out") == ["_SUCCESS"]


def test_output_on_another_filesystem_than_the_scratch_commits(tmp_path):
    """Scratch on the disk, output on a tmpfs: every commit must still be a rename there."""
    import uuid

    from tests.harness import run_engine, run_inline
    from tests.jobs.mr_word_count import MRWordCountPlain

    shm = "/dev/shm"
    assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev, "needs /dev/shm on a tmpfs of its own"
    words = tmp_path / "w.txt"
    words.write_text("one two two\nthree three three\n" * 50)
    out = os.path.join(shm, f"engine-test-{uuid.uuid4().hex}", "out")
    try:
        for executor in ("serial", "processes"):
            target = f"{out}-{executor}"
            run_engine(
                MRWordCountPlain,
                ["--output-dir", target, "--local-tmp-dir", str(tmp_path / "scratch"), str(words)],
                executor=executor,
            )
            names = os.listdir(target)
            parts = sorted(n for n in names if n.startswith("part-"))
            assert sorted(names) == ["_SUCCESS", "_logs", *parts] and parts  # _logs: the run's history
            text = b"".join(Path(target, p).read_bytes() for p in parts)
            assert sorted(text.splitlines()) == run_inline(MRWordCountPlain, [str(words)]).sorted_lines
            assert not [n for n in os.listdir(os.path.dirname(target)) if n.endswith(".staging")]
    finally:
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)
