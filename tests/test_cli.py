"""The command lines as a new user meets them: -q, --help, where switches go, signals,
refusals and the end-of-job summary, each checked against what mrjob itself does."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mrjob.logs.counters import _format_counters

from tests.harness import JOBS, map_started, run_inline, slow_job_command, wait_for
from tests.jobs.mr_init_final import MRInitFinal

ROOT = Path(__file__).parent.parent
WORD_COUNT = str(JOBS / "mr_word_count.py")


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, cwd=ROOT, timeout=120, **kwargs)


def engine(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return cli("-m", "engine", "run", *args, **kwargs)


def inline_lines(job: str, *args: str) -> list[bytes]:
    done = cli(job, "-r", "inline", *args)
    assert done.returncode == 0, done.stderr.decode()
    return sorted(done.stdout.splitlines())


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.decode().splitlines() if line.startswith("ERROR")]


# --- -q and the summary ----------------------------------------------------------------------


def test_quiet_after_the_job_file_is_as_quiet_as_mrjob(text_inputs):
    done = engine(WORD_COUNT, "-q", *text_inputs)
    assert done.returncode == 0, done.stderr.decode()
    reference = cli(WORD_COUNT, "-r", "inline", "-q", *text_inputs)
    assert done.stderr == reference.stderr == b""
    assert sorted(done.stdout.splitlines()) == sorted(reference.stdout.splitlines())


def test_the_summary_is_printed_once(text_inputs):
    done = engine(WORD_COUNT, *text_inputs)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.count(b"finished in") == 1
    assert done.stderr.count(b"step 1 map:") == 1


def test_quiet_still_prints_the_refusal_that_stops_the_job(text_inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for args in (["jobs/wordcount.py", "-r", "engine", "-q"], ["-m", "engine", "run", "-q", WORD_COUNT]):
        done = cli(*args, "--output-dir", str(out), *text_inputs)
        assert done.returncode == 1
        err = done.stderr.decode()
        assert "already exists" in err and str(out) in err, err
        assert len(err.strip().splitlines()) == 1, err  # the error alone: -q hides the rest


# --- where switches go ------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["before", "after"])
def test_engine_switches_work_on_either_side_of_the_job_file(side, text_inputs):
    switches = ["--split-size", "4K", "--executor", "serial"]
    args = (
        [*switches, WORD_COUNT, *text_inputs] if side == "before" else [WORD_COUNT, *switches, *text_inputs]
    )
    done = engine(*args)
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(done.stdout.splitlines()) == inline_lines(WORD_COUNT, *text_inputs)
    err = done.stderr.decode()
    map_tasks = int(re.search(r"step 1 map: (\d+) task", err).group(1))
    total = sum(os.path.getsize(p) for p in text_inputs)
    assert map_tasks >= total // 4096  # --split-size 4K was obeyed
    assert "in this process (--executor serial" in err


def test_runner_after_the_job_file_is_refused_with_the_command_to_use(text_inputs):
    done = engine(WORD_COUNT, "-r", "inline", *text_inputs)
    assert done.returncode == 2
    [line] = error_lines(done)
    assert "-r inline" in line and done.stdout == b""
    command = line.split("inline runner: ", 1)[1]
    rerun = subprocess.run(shlex.split(command), capture_output=True, cwd=ROOT, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert sorted(rerun.stdout.splitlines()) == inline_lines(WORD_COUNT, *text_inputs)


def test_unknown_switch_is_quoted_with_its_value(text_inputs):
    done = engine(WORD_COUNT, "--frobnicate", "4M", *text_inputs)
    assert done.returncode == 2
    [line] = error_lines(done)
    assert "--frobnicate" in line and "4M" in line and "python -m engine run" in line


def test_mrjob_switch_before_the_job_file_says_where_it_goes(text_inputs, tmp_path):
    done = engine("--output-dir", str(tmp_path / "out"), WORD_COUNT, *text_inputs)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "unrecognized arguments: --output-dir" in err and "after" in err
    assert "Traceback" not in err


def test_usage_names_the_command_not_main_py():
    done = engine(WORD_COUNT, "--help")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert out.startswith("usage: python -m engine run") and "__main__.py" not in out
    assert "--memory-budget" in out  # a plain MRJob's help, then the engine's switches


# --- --help -----------------------------------------------------------------------------------


def test_help_for_the_engine_runner():
    done = cli("jobs/wordcount.py", "--help", "-r", "engine")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    for switch in ("--memory-budget", "--executor", "--local-tmp-dir", "--num-cores", "--jobconf"):
        assert switch in out


def test_plain_help_lists_engine_among_the_runners():
    from mrjob.options import _RUNNER_ALIASES

    done = cli("jobs/wordcount.py", "--help")
    assert done.returncode == 0, done.stderr.decode()
    choices = re.search(r"-r \{([a-z,]+)\}", done.stdout.decode()).group(1).split(",")
    assert choices == sorted(_RUNNER_ALIASES | {"engine"})


def test_help_texts_hold_no_rst_markup():
    jobs = sorted(p for p in (ROOT / "jobs").glob("*.py") if p.name not in ("__init__.py", "tickit_rows.py"))
    commands = [["-m", "engine", "--help"], ["-m", "engine", "run", "--help"]]
    commands += [[str(job), "--help"] for job in jobs]
    for command in commands:
        done = cli(*command)
        assert done.returncode == 0, done.stderr.decode()
        for markup in ("``", ":py:", ":option:", ":mrjob"):
            assert markup not in done.stdout.decode(), (command, markup)


# --- the programmatic API from an unguarded script --------------------------------------------

UNGUARDED = """\
import json, sys
sys.path.insert(0, {root!r})
from jobs.wordcount import MRWordCount

job = MRWordCount(["-r", {runner!r}, "--num-cores", "2", *{inputs!r}])
with job.make_runner() as runner:
    runner.run()
    counts = dict(job.parse_output(runner.cat_output()))
print(json.dumps(counts, sort_keys=True))
"""


def test_readme_api_snippet_works_without_a_main_guard(text_inputs, tmp_path):
    results = {}
    for runner in ("inline", "engine"):
        script = tmp_path / f"unguarded_{runner}.py"
        script.write_text(UNGUARDED.format(root=str(ROOT), runner=runner, inputs=text_inputs))
        done = subprocess.run([sys.executable, str(script)], capture_output=True, cwd=tmp_path, timeout=120)
        err = done.stderr.decode()
        assert done.returncode == 0, err
        assert "Traceback" not in err and "bootstrapping" not in err, err
        [line] = done.stdout.splitlines()  # the script ran once, not once more per worker
        results[runner] = json.loads(line)
    assert results["engine"] == results["inline"] and results["engine"]["the"] > 100


# --- signals ----------------------------------------------------------------------------------


def _slow_driver(
    tmp_path: Path, lines: int, started: Path | None = None, **popen
) -> tuple[subprocess.Popen, Path, Path]:
    data = tmp_path / "in.txt"
    data.write_text("".join(f"line {i}\n" for i in range(lines)))
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen(
        slow_job_command(out, scratch, data, started),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )
    wait_for(
        lambda: any(p.name.startswith("mr_slow") for p in scratch.iterdir()),
        what="mrjob's temp dir in --local-tmp-dir",
        proc=proc,
    )
    return proc, out, scratch


def test_sighup_is_handled_like_sigterm(tmp_path, tmp_path_factory):
    """Closing the terminal: no staging beside the output, mrjob's temp dir removed."""
    started = tmp_path_factory.mktemp("started")  # not in tmp_path: its listing is checked
    proc, out, scratch = _slow_driver(tmp_path, 400, started)
    map_started(started, proc)  # the workers are mapping
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, err.decode()
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "scratch"]  # no .out.job_….staging
    assert os.listdir(scratch) == []  # mrjob's temp dir and the engine's scratch are gone
    assert b"interrupted" in err and b"Traceback" not in err


def test_sighup_ignored_as_under_nohup_lets_the_job_finish(tmp_path):
    proc, out, _ = _slow_driver(tmp_path, 30, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert (out / "_SUCCESS").exists()


def _forkserver_of(pgid: int) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if b"forkserver" in cmdline and int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
            return True
    return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the forkserver through /proc")
def test_ctrl_c_during_start_up_prints_one_clean_line(text_inputs, tmp_path):
    """Ctrl-C reaches the whole foreground process group, the forkserver too. A
    sitecustomize makes the forkserver's start-up slow (as heavy imports are), so the
    signal lands while it starts: it must not print a KeyboardInterrupt traceback."""
    slow = tmp_path / "slow_site"
    slow.mkdir()
    starting = tmp_path / "forkserver-starting"  # written as its slow start-up begins
    (slow / "sitecustomize.py").write_text(
        "import time\n"
        "with open('/proc/self/cmdline', 'rb') as f:\n"
        "    if b'forkserver' in f.read():\n"
        f"        open({str(starting)!r}, 'w').close()\n"
        "        time.sleep(3)\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(slow), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--executor", "processes", WORD_COUNT, *text_inputs],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for(starting.exists, what="the forkserver to begin its slow start-up", proc=proc)
    assert _forkserver_of(proc.pid)  # in the driver's process group, so the Ctrl-C reaches it
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "interrupted" in errors[0], text


# --- refusals ---------------------------------------------------------------------------------

STEP_JOB = """\
from mrjob.job import MRJob
from mrjob.step import {cls}


class MRJob{cls}(MRJob):
    def steps(self):
        return [{cls}({args})]


if __name__ == "__main__":
    MRJob{cls}.run()
"""


@pytest.mark.parametrize(
    "cls,args,kind", [("JarStep", "jar='x.jar'", "jar"), ("SparkStep", "spark=print", "spark")]
)
def test_refused_step_names_the_mrjob_runners_that_run_it(cls, args, kind, tmp_path, text_inputs):
    from mrjob.dataproc import DataprocJobRunner
    from mrjob.emr import EMRJobRunner
    from mrjob.hadoop import HadoopJobRunner
    from mrjob.inline import InlineMRJobRunner
    from mrjob.local import LocalMRJobRunner
    from mrjob.spark.runner import SparkMRJobRunner

    runners = {
        r.alias: r
        for r in (
            DataprocJobRunner,
            EMRJobRunner,
            HadoopJobRunner,
            InlineMRJobRunner,
            LocalMRJobRunner,
            SparkMRJobRunner,
        )
    }
    job = tmp_path / f"mr_{kind}.py"
    job.write_text(STEP_JOB.format(cls=cls, args=args))
    done = engine(str(job), *text_inputs)
    assert done.returncode == 1
    [line] = error_lines(done)
    named = set(re.findall(r"-r (\w+)", line))
    assert named == {alias for alias, runner in runners.items() if kind in runner._STEP_TYPES}


def test_cmd_refusal_gives_the_command_that_runs_the_job(text_inputs):
    job = str(JOBS / "mr_unsupported.py")
    for done in (engine(job, *text_inputs), engine("-q", job, *text_inputs)):
        assert done.returncode == 1
        [line] = error_lines(done)
        assert "mapper_cmd" in line
        command = line.split("runs shell commands: ", 1)[1]
        assert "-r local" in command and all(path in command for path in text_inputs)
    rerun = subprocess.run(shlex.split(command), capture_output=True, cwd=ROOT, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert rerun.stdout and b"Running step 1 of 1" in rerun.stderr  # mrjob's local runner ran it


# --- the summary in mrjob's words -------------------------------------------------------------


def test_counters_are_laid_out_as_mrjob_logs_them(text_inputs):
    done = engine(str(JOBS / "mr_init_final.py"), "--split-size", "4K", *text_inputs)
    assert done.returncode == 0, done.stderr.decode()
    [counters] = run_inline(MRInitFinal, text_inputs).counters
    assert _format_counters(counters) in done.stderr.decode()


def test_steps_are_numbered_as_mrjob_numbers_them(text_inputs, tmp_path):
    tickit = ROOT / "data" / "sample" / "tickit"
    inputs = [str(tickit / "sales_tab.txt"), str(tickit / "date2008_pipe.txt")]
    job = "jobs/tickit_total_sales.py"
    steps = {}
    for runner in ("inline", "engine"):
        done = cli(job, "-r", runner, *inputs)
        assert done.returncode == 0, done.stderr.decode()
        steps[runner] = set(re.findall(r"Running step (\d+ of \d+)", done.stderr.decode()))
    assert steps["engine"] == steps["inline"] == {"1 of 2", "2 of 2"}


@pytest.mark.parametrize("extra", [[], ["--no-vectorize"]], ids=["vectorized", "record"])
def test_summary_words_serial_run(extra):
    done = cli("jobs/wordcount.py", "-r", "engine", "--executor", "serial", *extra, "data/sample/words.txt")
    assert done.returncode == 0, done.stderr.decode()
    err = done.stderr.decode()
    assert "in this process (--executor serial" in err and "workers" not in err
    assert not re.search(r"\b1 (tasks|records|splits|input files)\b", err)
    assert "(0 records)" not in err and "spill" not in err  # one run per map task: no spill


# --- option values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "switches,needle",
    [
        (["--memory-budget", "10"], "--memory-budget 10"),
        (["--split-size", "0"], "--split-size 0"),
    ],
)
def test_bad_sizes_name_the_switch(switches, needle, text_inputs):
    done = engine(*switches, WORD_COUNT, *text_inputs)
    assert done.returncode == 1
    [line] = error_lines(done)
    assert needle in line


def test_the_workers_import_mrjob_without_setuptools(tmp_path: Path) -> None:
    """The workers' forkserver imports mrjob without setuptools too (the standard library's
    distutils below 3.12, setuptools' copy alone from 3.12: engine.worker_preload)."""
    job = tmp_path / "mr_modules.py"
    job.write_text(
        "import sys\n"
        "from mrjob.job import MRJob\n\n\n"
        "class MRModules(MRJob):\n"
        "    def mapper(self, _, line):\n"
        "        yield 'setuptools', 'setuptools' in sys.modules\n"
        "        yield 'distutils', 'distutils' in sys.modules\n\n\n"
        "if __name__ == '__main__':\n"
        "    MRModules.run()\n"
    )
    data = tmp_path / "in.txt"
    data.write_text("a\n")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--executor", "processes", str(job), str(data), "-q"],
        capture_output=True, cwd=ROOT, timeout=120, env={**os.environ, "ENGINE_SERVER": "off"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(done.stdout.decode().splitlines()) == ['"distutils"\ttrue', '"setuptools"\tfalse']


def test_python_m_engine_imports_mrjob_without_setuptools():
    """``python -m engine`` has mrjob import the standard library's distutils (~0.15 s less than
    setuptools' replacement, which imports pkg_resources) on Pythons that still have one, and
    setuptools' copy of it without setuptools itself on 3.12+; mrjob's version compare works."""
    code = (
        "import sys\n"
        "from engine.__main__ import _distutils_without_setuptools\n"
        "_distutils_without_setuptools()\n"
        "import mrjob.job\n"
        "from mrjob.compat import version_gte\n"
        "from mrjob.util import which\n"
        "import distutils.spawn\n"
        "assert version_gte('2.10.1', '2.9') and not version_gte('2.9', '2.10.1')\n"
        "assert which('python3') and callable(distutils.spawn.find_executable)\n"
        "print('setuptools' in sys.modules, 'distutils' in sys.modules, distutils.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and b"distutils" not in done.stderr, done.stderr.decode()  # no warning
    setuptools_loaded, distutils_loaded, where = done.stdout.decode().split()
    assert distutils_loaded == "True" and setuptools_loaded == "False"
    if sys.version_info >= (3, 12):
        assert where.endswith(os.path.join("setuptools", "_distutils", "__init__.py")), where
