"""The commit protocol: existing output refused, aborts leave nothing, exactly one job wins."""

from __future__ import annotations

import os

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
