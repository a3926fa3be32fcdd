"""Faults: killed workers are replaced and their tasks re-run; a failing task fails the job cleanly."""

from __future__ import annotations

import os

import pytest

from engine.errors import TaskFailedError
from tests.harness import run_engine, run_inline
from tests.jobs.mr_crash import MRCrash


@pytest.mark.parametrize("mode", ["kill-map-once", "kill-reduce-once"])
def test_sigkilled_worker_is_replaced_and_output_identical(mode, text_inputs, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    args = ["--crash-mode", mode, "--marker-dir", str(markers), *text_inputs]
    clean = run_inline(MRCrash, ["--crash-mode", "none", *text_inputs])
    engine = run_engine(MRCrash, args, executor="processes", reducers=2, split_size="8K")
    assert engine.sorted_lines == clean.sorted_lines
    assert os.listdir(markers) == [mode.split("-")[1]]  # the kill really happened


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_raising_mapper_retries_then_fails_with_no_output(executor, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("fine line\nthis line goes boom\nfine again\n")
    out = tmp_path / "out"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with pytest.raises(TaskFailedError) as info:
        run_engine(
            MRCrash,
            ["--crash-mode", "raise", "--output-dir", str(out), str(data)],
            executor=executor,
            max_attempts=2,
            local_tmp_dir=str(scratch),
        )
    message = str(info.value)
    assert "task s0-m-00000" in message and str(data) in message  # names the task and split
    assert "failed 2 time(s)" in message
    assert "ValueError: mapper hit a boom line" in message  # the worker's traceback
    assert "Traceback" in message
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "tmp"]  # no staging dir left
    assert os.listdir(scratch) == []  # no temp files left
