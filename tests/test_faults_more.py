"""More faults: attempts killed after writing, a task that fails once, a full disk, two
jobs racing for one output path, and random jobs that must match mrjob's inline runner."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.shuffle
from engine.errors import TaskFailedError
from tests.conftest import WORDS
from tests.harness import JOBS, run_engine, run_inline
from tests.jobs.mr_flaky import MRFlaky
from tests.jobs.mr_word_count import MRWordCountPlain

ROOT = Path(__file__).parent.parent


def _clean_run(text_inputs: list[str]) -> list[bytes]:
    return run_inline(MRFlaky, text_inputs).sorted_lines


@pytest.mark.parametrize(
    "mode,opts",
    [
        # reduce writes ~1.4 MB of its part (past the writer's buffer), then is SIGKILLed
        ("kill-reduce-after-output", {"reducers": 1}),
        # map spills several runs into its attempt dir (tiny budget), then is SIGKILLed
        ("kill-map-after-spill", {"memory_budget": "16K", "reducers": 2}),
    ],
)
def test_attempt_killed_after_writing_leaves_no_trace(mode, opts, text_inputs, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "out"
    args = ["--fault-mode", mode, "--marker-dir", str(markers), "--output-dir", str(out), *text_inputs]
    engine = run_engine(
        MRFlaky, args, executor="processes", split_size="64K", local_tmp_dir=str(scratch), **opts
    )
    assert os.listdir(markers) == [mode.split("-")[1]]  # the kill really happened
    assert engine.sorted_lines == _clean_run(text_inputs)  # the killed attempt's bytes are gone
    parts = sorted(os.listdir(out))
    assert parts == ["_SUCCESS", "_logs"] + [f"part-{i:05d}" for i in range(opts["reducers"])]
    assert os.listdir(scratch) == []  # attempt dirs and runs removed
    assert sorted(os.listdir(tmp_path)) == ["in", "markers", "out", "scratch"]  # no staging left


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_task_failing_on_its_first_attempt_only(executor, text_inputs, tmp_path, caplog):
    markers = tmp_path / "markers"
    markers.mkdir()
    args = ["--fault-mode", "raise-map-once", "--marker-dir", str(markers), *text_inputs]
    engine = run_engine(MRFlaky, args, executor=executor, reducers=3, split_size="16K")
    assert engine.sorted_lines == _clean_run(text_inputs)
    assert os.listdir(markers) == ["map"]
    assert "attempt 1 failed (RuntimeError: transient failure on the first attempt); retrying" in caplog.text


def test_disk_full_while_spilling(monkeypatch, text_inputs, tmp_path):
    """An injected ENOSPC after a run was half written: one clear error naming the task,
    not retried (every attempt shares the disk), nothing left behind."""
    calls = []
    real_write_run = engine.shuffle.write_run

    def write_run_then_fill_the_disk(path, lines):
        calls.append(path)
        if len(calls) < 3:
            return real_write_run(path, lines)
        with open(path, "wb") as f:
            f.write(b"half a run")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(engine.shuffle, "write_run", write_run_then_fill_the_disk)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "out"
    with pytest.raises(TaskFailedError) as info:
        run_engine(
            MRWordCountPlain,
            ["--output-dir", str(out), *text_inputs],
            executor="serial",
            memory_budget="8K",
            local_tmp_dir=str(scratch),
        )
    message = str(info.value)
    assert message.startswith("task s0-m-00000 (input ")
    assert "No space left on device" in message and "free space" in message
    assert "--local-tmp-dir" in message and "\n" not in message
    assert len(calls) == 3  # failed at once, no retries on a full disk
    assert not out.exists()
    assert os.listdir(scratch) == []
    assert sorted(os.listdir(tmp_path)) == ["in", "scratch"]


def test_two_jobs_writing_the_same_output_path(text_inputs, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "engine",
        "run",
        str(JOBS / "mr_word_count.py"),
        "--output-dir",
        str(out),
        "--jobconf",
        "mapreduce.job.reduces=2",
        *text_inputs,
    ]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert ("already exists" in loser) or ("another job wrote it first" in loser), loser
    assert "Traceback" not in loser
    assert sorted(os.listdir(out)) == ["_SUCCESS", "_logs", "part-00000", "part-00001"]
    lines = sorted(b"".join((out / f"part-0000{i}").read_bytes() for i in range(2)).splitlines())
    assert lines == run_inline(MRWordCountPlain, text_inputs).sorted_lines
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]  # the loser's staging is gone


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    files=st.lists(
        st.lists(
            st.lists(st.sampled_from([*WORDS, "Über", "naïve", "x'y"]), max_size=12).map(" ".join),
            max_size=60,
        ),
        min_size=1,
        max_size=3,
    ),
    crlf=st.booleans(),
    split_size=st.integers(16, 4096),
    reducers=st.integers(1, 5),
    budget=st.sampled_from(["1K", "4K", "64K", "16M"]),
    precombine=st.booleans(),
)
def test_random_word_counts_match_inline(files, crlf, split_size, reducers, budget, precombine):
    newline = "\r\n" if crlf else "\n"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, lines in enumerate(files):
            path = os.path.join(tmp, f"in-{i}.txt")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write("".join(line + newline for line in lines))
            paths.append(path)
        engine = run_engine(
            MRWordCountPlain,
            paths,
            executor="serial",
            reducers=reducers,
            split_size=str(split_size),
            memory_budget=budget,
            precombine=precombine,
        )
        assert engine.sorted_lines == run_inline(MRWordCountPlain, paths).sorted_lines
