"""What a substep sees of its environment, and when combiners run, against mrjob's
inline runner (the reference: mrjob's own simulation of Hadoop Streaming)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.harness import JOBS, run_engine, run_inline
from tests.jobs.mr_combiner_keys import MRCombinerKeys
from tests.jobs.mr_step_env import MRStepEnv

ROOT = Path(__file__).parent.parent


@pytest.fixture
def words(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("apple avocado banana\ncherry apple\n\nblueberry a\n")
    return path


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_each_substep_sees_its_own_steps_jobconf_files_and_cache_variables(tmp_path, words, executor):
    extra = tmp_path / "extra.dat"
    extra.write_text("hello\n")
    extra.chmod(0o644)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "inside.txt").write_text("x")
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "inside.txt", arcname="inside.txt")
    args = ["--extra", f"file://{extra}", "--archives", f"file://{archive}#arch", str(words)]
    expected = run_inline(MRStepEnv, args).sorted_lines
    got = run_engine(MRStepEnv, args, executor=executor, reducers=1).sorted_lines
    assert got == expected
    # what the reference says, spelled out (so the comparison cannot be vacuous)
    assert b'"mapper 2"\t["[\'two\', \'2\']"]' in got  # step 2's mapper, in a reduce task of step 1
    # step 1's reducer keeps its own (its value then passes through step 2's mapper)
    assert b'"reducer 1"\t["[[\'one\', None], \'two\']"]' in got
    assert b'"file"\t["[\'extra.dat\', \'0o500\', \'hello\\\\n\']"]' in got  # a copy, u+rx
    assert b'"combiner 2"\t["[\'two\', \'2\']"]' in got
    assert any(line.startswith(b'"archive"') and b"inside.txt" in line for line in got)
    assert any(line.startswith(b'"mapreduce.job.cache.files"\t') and b"extra.dat" in line for line in got)
    assert extra.stat().st_mode & 0o777 == 0o644  # the user's file is untouched


@pytest.mark.parametrize("precombine", [True, False])
def test_the_combiner_runs_once_per_record_whatever_the_key_type(tmp_path, words, precombine):
    # gzip: one map task on both runners (mrjob's inline runner cuts text in two per core)
    one_split = tmp_path / "words.txt.gz"
    one_split.write_bytes(gzip.compress(words.read_bytes()))
    inline = run_inline(MRCombinerKeys, [str(one_split)])
    engine = run_engine(MRCombinerKeys, [str(one_split)], reducers=1, precombine=precombine)
    assert engine.sorted_lines == inline.sorted_lines
    assert engine.counters == inline.counters
    assert inline.counters[0]["combiner"]["calls"] > 4  # it did run, on every kind of key


def test_output_dir_variable_names_the_output_of_the_last_step(tmp_path, words):
    out = tmp_path / "out"
    run_engine(MRStepEnv, ["--output-dir", str(out), str(words)], reducers=1)
    text = b"".join(p.read_bytes() for p in sorted(out.glob("part-*")))
    assert b'"output dir"\t["out"]' in text


def _run_job_file(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("kind", ["zip", "py"])
def test_py_files_are_importable_in_tasks_as_on_mrjobs_local_runner(tmp_path, words, kind):
    """-r local is the reference here: mrjob's inline runner ignores --py-files."""
    source = "def tag(word):\n    return word.upper() + '!'\n"
    if kind == "zip":
        py_file = tmp_path / "helpers.zip"
        with zipfile.ZipFile(py_file, "w") as archive:
            archive.writestr("helper_from_py_files.py", source)
    else:
        py_file = tmp_path / "helper_from_py_files.py"
        py_file.write_text(source)
    job = str(JOBS / "mr_py_files.py")
    local = _run_job_file(job, "-r", "local", "-q", "--py-files", str(py_file), str(words))
    engine = _run_job_file("-m", "engine", "run", "-q", job, "--py-files", str(py_file), str(words))
    assert local.returncode == 0, local.stderr.decode()
    assert engine.returncode == 0, engine.stderr.decode()
    assert sorted(engine.stdout.splitlines()) == sorted(local.stdout.splitlines())
    assert b'"APPLE!"\t2' in engine.stdout


def test_setup_commands_are_refused_not_silently_skipped(tmp_path, words):
    marker = tmp_path / "ran"
    job = str(JOBS / "mr_py_files.py")
    done = _run_job_file("-m", "engine", "run", job, "--setup", f"touch {marker}", str(words))
    assert done.returncode == 1 and b"--setup" in done.stderr and b"-r local" in done.stderr
    assert not marker.exists()
