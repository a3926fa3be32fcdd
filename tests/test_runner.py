"""EngineRunner through mrjob's API and the command lines: -r engine and python -m engine run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import JobDefinitionError
from jobs.wordcount import MRWordCount
from tests.harness import JOBS, map_started, run_engine, run_inline, slow_job_command
from tests.jobs.mr_slow import MRSlow
from tests.jobs.mr_unsupported import MRUnsupported

ROOT = Path(__file__).parent.parent


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, cwd=ROOT, timeout=120, **kwargs)


def test_programmatic_api(text_inputs):
    job = MRWordCount(["-r", "engine", "--num-cores", "2", *text_inputs])
    with job.make_runner() as runner:
        runner.run()
        counts = dict(job.parse_output(runner.cat_output()))
        assert runner.counters() == [{}]
        tmp = runner._get_local_tmp_dir()
    assert not os.path.exists(tmp)  # cleanup() removed the runner's temp dir
    reference = MRWordCount(["-r", "inline", *text_inputs])
    with reference.make_runner() as runner:
        runner.run()
        assert counts == dict(reference.parse_output(runner.cat_output()))
    assert counts["the"] > 100


def test_counters_are_summed_per_step(text_inputs):
    from tests.jobs.mr_init_final import MRInitFinal

    engine = run_engine(MRInitFinal, text_inputs, executor="processes", split_size="4K")
    assert engine.counters[0]["lines"]["seen"] == 2000
    assert engine.counters[0]["lines"]["blank; really"] > 0  # commas become semicolons


def test_unsupported_feature_is_refused_before_any_work(text_inputs):
    with pytest.raises(JobDefinitionError, match="mapper_cmd"):
        run_engine(MRUnsupported, text_inputs)


def test_wordcount_cli_matches_inline_and_local(text_inputs):
    outputs = {}
    for runner in ("inline", "local", "engine"):
        done = cli("jobs/wordcount.py", "-r", runner, *text_inputs)
        assert done.returncode == 0, done.stderr.decode()
        outputs[runner] = sorted(done.stdout.splitlines())
    assert outputs["engine"] == outputs["inline"] == outputs["local"]
    assert len(outputs["engine"]) > 20


def test_engine_run_writes_hadoop_output_and_refuses_to_overwrite(text_inputs, tmp_path):
    out = tmp_path / "out"
    job = str(JOBS / "mr_word_count.py")
    done = cli(
        "-m",
        "engine",
        "run",
        job,
        "--output-dir",
        str(out),
        "--jobconf",
        "mapreduce.job.reduces=3",
        *text_inputs,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b""  # output went to the directory
    assert sorted(os.listdir(out)) == ["_SUCCESS", "_logs", "part-00000", "part-00001", "part-00002"]
    assert sorted(os.listdir(out / "_logs")) == ["history.json", "report.html"]
    assert b"records in" in done.stderr  # the end-of-job summary
    parts = sorted(b"".join((out / f"part-0000{i}").read_bytes() for i in range(3)).splitlines())
    from tests.jobs.mr_word_count import MRWordCountPlain

    assert parts == run_inline(MRWordCountPlain, text_inputs).sorted_lines
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    again = cli("-m", "engine", "run", job, "--output-dir", str(out), *text_inputs)
    assert again.returncode == 1
    message = again.stderr.decode()
    assert "already exists" in message and str(out) in message
    assert "Traceback" not in message
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_missing_input_is_one_clear_line(tmp_path):
    done = cli("jobs/wordcount.py", "-r", "engine", str(tmp_path / "nope.txt"))
    assert done.returncode == 1
    assert "nope.txt" in done.stderr.decode() and "Traceback" not in done.stderr.decode()


def test_stdin_input():
    done = cli("jobs/wordcount.py", "-r", "engine", "-", input=b"b a\na\n")
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(done.stdout.splitlines()) == [b'"a"\t2', b'"b"\t1']


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_driver_leaves_nothing(sig, status, tmp_path, tmp_path_factory):
    data = tmp_path / "in.txt"
    data.write_text("".join(f"line {i}\n" for i in range(400)))
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    started = tmp_path_factory.mktemp("started")  # not in tmp_path: its listing is checked
    proc = subprocess.Popen(
        slow_job_command(out, scratch, data, started),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A shell's background job inherits SIGINT ignored, and Python then keeps it
        # ignored: give the driver the default disposition whatever launched the tests.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    map_started(started, proc)  # the workers are mapping
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err.decode()
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "scratch"]  # no staging dir
    assert os.listdir(scratch) == []  # no temp files
    assert b"interrupted" in err


def test_hung_task_is_killed_after_timeout_and_retried(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a\nb\na\n")
    markers = tmp_path / "m"
    markers.mkdir()
    outcome = run_engine(
        MRSlow,
        ["--sleep", "0", "--hang-once-dir", str(markers), str(data)],
        executor="processes",
        task_timeout=3,
    )
    assert outcome.sorted_lines == [b'"a"\t2', b'"b"\t1']
    assert os.listdir(markers) == ["hung"]
