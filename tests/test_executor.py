"""Worker faults the process pool must survive, each made for real: a worker SIGKILLed
while idle, a worker SIGSTOPped mid-task, the driver SIGKILLed mid-task, and a task
SIGKILLed on every attempt (the out-of-memory killer's signature).

The jobs are written into each test's tmp_path, so that the workers import only them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.errors import TaskFailedError
from engine.executor import PROMOTE_SECONDS, _Failure, _failure_message
from engine.mrjob_bridge import load_job_class
from engine.plan import JobPlan, StepPlan, Wave
from engine.tasks import ReduceTask
from tests.harness import run_engine, run_inline

ROOT = Path(__file__).parent.parent
#: Progress (CPU time, process state) and parent pids are read from /proc.
linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux's /proc")

HEADER = """
import os
import signal
import time

from mrjob.job import MRJob
from mrjob.step import MRStep


def first_time(directory, name):
    try:
        os.close(os.open(os.path.join(directory, name), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def files(directory, suffix="", prefix=""):
    return [n for n in os.listdir(directory) if n.endswith(suffix) and n.startswith(prefix)]


def wait_until(predicate, what, timeout=60):
    # Poll *predicate*; the deadline is never reached when things work, even on a loaded machine.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.01)
"""

KILL_IDLE = '''
class MRKillIdle(MRJob):
    """Two steps; step 0 has one reducer, which SIGKILLs every other worker (all idle,
    since its wave has one task) at its start or its very end. Step 1 has 3 reducers,
    so the next wave is sent to the dead workers' slots.

    Each map task notes its worker's pid in --pid-dir and waits there until --workers
    pids are noted, so that every worker gets a map task. The test's log handler notes
    there each replaced worker the driver reports (replaced-N)."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--pid-dir", default="")
        self.add_passthru_arg("--kill-at", default="start")
        self.add_passthru_arg("--workers", type=int, default=0)

    def steps(self):
        return [
            MRStep(
                mapper_init=self.note_pid,
                mapper=self.words,
                reducer_init=self.kill_at_start,
                reducer=self.count,
                reducer_final=self.kill_at_end,
                jobconf={"mapreduce.job.reduces": "1"},
            ),
            MRStep(mapper=self.by_count, reducer=self.collect, jobconf={"mapreduce.job.reduces": "3"}),
        ]

    def note_pid(self):
        if self.options.pid_dir:
            open(os.path.join(self.options.pid_dir, f"{os.getpid()}.pid"), "w").close()
            # Hold this worker until every worker has a map task (each gets one at a time).
            workers = self.options.workers
            wait_until(lambda: len(files(self.options.pid_dir, ".pid")) >= workers, "every worker to map")

    def words(self, _, line):
        for word in line.split():
            yield word, 1

    def count(self, word, ones):
        yield word, sum(ones)

    def kill_idle_workers(self, wait):
        if not self.options.pid_dir or not first_time(self.options.pid_dir, "killed"):
            return []
        pids = [int(n[:-4]) for n in files(self.options.pid_dir, ".pid")]
        others = [pid for pid in pids if pid != os.getpid()]
        for pid in others:
            os.kill(pid, signal.SIGKILL)
        while wait and not all(gone(pid) for pid in others):
            time.sleep(0.01)
        with open(os.path.join(self.options.pid_dir, "killed"), "w") as f:
            f.write(" ".join(map(str, others)))
        return others

    def kill_at_start(self):
        if self.options.kill_at == "start":
            others = self.kill_idle_workers(wait=True)
            if others:
                # The driver sees them die while this wave still runs: hold it until the
                # driver has reported each one replaced.
                wait_until(
                    lambda: len(files(self.options.pid_dir, prefix="replaced-")) >= len(others),
                    "the driver to replace the killed idle workers",
                )

    def kill_at_end(self):
        if self.options.kill_at == "end":
            # No wait: the wave ends at once, and the driver mostly finds them dead only when
            # it sends them the next wave's tasks.
            self.kill_idle_workers(wait=False)

    def by_count(self, word, count):
        yield count, word

    def collect(self, count, words):
        yield count, sorted(words)
'''

STALL = '''
class MRStall(MRJob):
    """Word count; the first attempt of the first map task to start writes its pid to
    --pid-dir/stall.pid and then computes (burns CPU) for --busy seconds."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--pid-dir", default="")
        self.add_passthru_arg("--busy", type=float, default=0)

    def mapper_init(self):
        if self.options.pid_dir and first_time(self.options.pid_dir, "started"):
            path = os.path.join(self.options.pid_dir, "stall.pid")
            with open(path + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(path + ".tmp", path)
            end = time.monotonic() + self.options.busy
            while time.monotonic() < end:
                sum(range(1000))

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, ones):
        yield word, sum(ones)
'''

SLEEPY = '''
class MRSleepy(MRJob):
    """Each map task notes its worker's pid in --pid-dir, then sleeps a minute."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--pid-dir", default="")

    def mapper_init(self):
        open(os.path.join(self.options.pid_dir, f"{os.getpid()}.pid"), "w").close()
        time.sleep(60)

    def mapper(self, _, line):
        yield line, 1

    def reducer(self, key, ones):
        yield key, sum(ones)
'''

SUICIDAL = '''
class MRSuicidal(MRJob):
    """Every map attempt SIGKILLs its own worker, as the out-of-memory killer would."""

    def mapper(self, _, line):
        os.kill(os.getpid(), signal.SIGKILL)
        yield line, 1

    def reducer(self, key, ones):
        yield key, sum(ones)
'''


def job_file(tmp_path: Path, source: str) -> Path:
    """Write *source* (after the shared helpers) as a job file in *tmp_path*."""
    path = tmp_path / "job.py"
    path.write_text(HEADER + textwrap.dedent(source))
    return path


def job_class(tmp_path: Path, source: str, name: str) -> type:
    return load_job_class(str(job_file(tmp_path, source)), name)


def dead(pid: int) -> bool:
    """True if *pid* no longer runs (gone, or a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def parent(pid: int) -> int:
    """The parent pid of *pid* (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cpu_ticks(pid: int) -> int:
    """The CPU time *pid* has used, in clock ticks (user + system; Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class NoteReplaced(logging.Handler):
    """Creates *directory*/replaced-N for each worker the driver reports replaced, so that
    a job's task can wait for the driver to have seen a worker die."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "replaced (no task attempt lost)" in record.getMessage():
            self.count += 1
            (self.directory / f"replaced-{self.count}").touch()


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("kill_at", ["start", "end"])
def test_worker_killed_while_idle_is_replaced_without_charging_a_task(kill_at, text_inputs, tmp_path, caplog):
    """Issue #11 item 3: the dead idle workers are replaced (noticed while idle, or when
    the next wave is sent to them); with --max-attempts 1 a charged attempt fails the job."""
    job = job_class(tmp_path, KILL_IDLE, "MRKillIdle")
    pids = tmp_path / "pids"
    pids.mkdir()
    args = ["--pid-dir", str(pids), "--kill-at", kill_at, "--workers", "3", *text_inputs]
    note = NoteReplaced(pids)
    logging.getLogger().addHandler(note)
    try:
        engine = run_engine(job, args, executor="processes", workers=3, split_size="16K", max_attempts=1)
    finally:
        logging.getLogger().removeHandler(note)
    assert engine.sorted_lines == run_inline(job, text_inputs).sorted_lines
    killed = (pids / "killed").read_text().split()
    assert len(killed) == 2  # the two workers not running the wave's only task
    replaced = [r.getMessage() for r in caplog.records if "replaced (no task attempt lost)" in r.getMessage()]
    assert len(replaced) == 2, caplog.text
    assert all(f"worker process {pid} killed by signal SIGKILL" in caplog.text for pid in killed)
    assert "retrying" not in caplog.text


@linux_only
def test_sigstopped_worker_is_killed_after_no_progress_and_retried(text_inputs, tmp_path, caplog):
    """Item 7: a worker stopped mid-task warns, naming the task and that it is stopped,
    then is killed after the no-progress limit (here 2 s) and its task is retried."""
    job = job_class(tmp_path, STALL, "MRStall")
    pids = tmp_path / "pids"
    pids.mkdir()
    pid_file = pids / "stall.pid"
    stopped: list[int] = []

    def stop_it() -> None:
        if wait_for(pid_file.exists, 60):
            pid = int(pid_file.read_text())
            stopped.append(pid)
            ticks = cpu_ticks(pid)  # it wrote its pid file, then computes
            if wait_for(lambda: cpu_ticks(pid) > ticks, 60):  # it is computing
                os.kill(pid, signal.SIGSTOP)

    stopper = threading.Thread(target=stop_it, daemon=True)
    stopper.start()
    args = ["--pid-dir", str(pids), "--busy", "30", "--jobconf", "mapreduce.task.timeout=2000", *text_inputs]
    try:
        engine = run_engine(job, args, executor="processes", split_size="32K")
    finally:
        stopper.join(30)
        for pid in stopped:
            if not dead(pid):  # never leave a stopped process behind
                os.kill(pid, signal.SIGKILL)
    assert stopped
    assert engine.sorted_lines == run_inline(job, text_inputs).sorted_lines
    pid = stopped[0]
    warnings = [r.getMessage() for r in caplog.records if "has made no progress for" in r.getMessage()]
    assert warnings, caplog.text
    assert f"worker process {pid} is stopped (SIGSTOP?)" in warnings[0]
    assert warnings[0].startswith("task s0-m-0000") and "attempt 1" in warnings[0]
    assert "mapreduce.task.timeout" in warnings[0]
    assert "attempt 1 failed (made no progress for" in caplog.text
    assert f"worker process {pid} is stopped (SIGSTOP?)); worker killed" in caplog.text


@linux_only
def test_busy_task_is_progress_not_a_stall(text_inputs, tmp_path, caplog):
    """Progress is CPU time, not wall time: a task computing for 3 s under a 1 s
    no-progress limit is neither warned about nor killed (--max-attempts 1)."""
    job = job_class(tmp_path, STALL, "MRStall")
    pids = tmp_path / "pids"
    pids.mkdir()
    args = ["--pid-dir", str(pids), "--busy", "3", "--jobconf", "mapreduce.task.timeout=1000", *text_inputs]
    engine = run_engine(job, args, executor="processes", max_attempts=1)
    assert (pids / "stall.pid").exists()
    assert engine.sorted_lines == run_inline(job, text_inputs).sorted_lines
    assert "no progress" not in caplog.text


@linux_only
def test_workers_exit_when_the_driver_is_sigkilled(text_inputs, tmp_path):
    """Item 10: kill -9 of the driver mid-task; every worker exits within ~2 s."""
    script = job_file(tmp_path, SLEEPY)
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            str(script),
            "--executor",
            "processes",
            "--num-cores",
            "2",
            "--pid-dir",
            str(pids),
        ]
        + ["--output-dir", str(tmp_path / "out"), *text_inputs],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        assert wait_for(lambda: len(os.listdir(pids)) == 2, 60), "the workers did not start"
        workers = [int(name[:-4]) for name in os.listdir(pids)]
        assert not any(dead(pid) for pid in workers)
        parents = {parent(pid) for pid in workers}
        assert len(parents) == 1 and driver.pid not in parents  # the forkserver's children
        forkserver = parents.pop()
        driver.kill()
        # Checked before the driver is reaped: a zombie driver counts as gone too.
        started = time.monotonic()
        assert wait_for(lambda: all(dead(pid) for pid in workers), 5), "workers outlived the driver"
        assert time.monotonic() - started < 3
        # With its last worker gone the forkserver exits too: nothing of the job runs on.
        assert wait_for(lambda: dead(forkserver), 5), "the forkserver outlived the job"
    finally:
        driver.kill()
        driver.wait(30)
        for pid in workers:
            if not dead(pid):
                os.kill(pid, signal.SIGKILL)


def test_task_sigkilled_on_every_attempt_points_at_memory(tmp_path):
    """Item 12: the last attempt died of a SIGKILL the engine did not send, so the error
    names the out-of-memory killer and the switches that lower memory."""
    job = job_class(tmp_path, SUICIDAL, "MRSuicidal")
    data = tmp_path / "in.txt"
    data.write_text("a\nb\n")
    out = tmp_path / "out"
    with pytest.raises(TaskFailedError) as info:
        run_engine(job, ["--output-dir", str(out), str(data)], executor="processes", max_attempts=2)
    message = str(info.value)
    assert message.startswith("task s0-m-00000 (input ")
    assert "failed 2 time(s)" in message and "killed by signal SIGKILL" in message
    assert "out-of-memory killer" in message
    assert "--memory-budget (now 512M" in message and "--num-cores (now 2)" in message
    assert "--no-vectorize" not in message  # the job has no Arrow twin
    assert "Fix the job" not in message
    assert not out.exists()


def test_sigkill_message_names_no_vectorize_only_for_a_twin():
    """The hint's switches follow the plan: --no-vectorize only when a twin ran."""
    wave = Wave(0, None, (0,), None)
    task = ReduceTask("s0-r-00003", wave, 3, 0)
    killed = _Failure("worker process 7 killed by signal SIGKILL", "", signum=signal.SIGKILL)
    raised = _Failure("ValueError: boom", "")
    steps = (StepPlan(0, True, False, False, True),)
    plan = JobPlan("job.py", "MRJob", (), steps, workers=8, memory_budget=3 << 30, vectorized=True)
    message = _failure_message(task, 4, killed, plan)
    assert "--memory-budget (now 3G" in message and "--num-cores (now 8)" in message
    assert "--no-vectorize" in message
    assert "Fix the job or its input" in _failure_message(task, 4, raised, plan)


# ---------------------------------------------------------------- --executor auto (small jobs "uber")


def test_default_executor_runs_a_small_job_in_the_driver_and_gives_inline_output(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("the cat\nthe dog\n")
    done = subprocess.run(
        [sys.executable, "jobs/wordcount.py", "-r", "engine", str(data)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    err = done.stderr.decode()
    assert "in this process while its tasks are quick (--executor auto, a small input)" in err
    assert "worker processes" not in err  # a quick job never starts them
    assert sorted(done.stdout.decode().splitlines()) == sorted(run_inline_lines(data))


def run_inline_lines(path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "jobs/wordcount.py", "-r", "inline", str(path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return done.stdout.decode().splitlines()


SLOW_MAPPER_JOB = """
import time

from mrjob.job import MRJob


class MRSlowWords(MRJob):
    def mapper_init(self):
        time.sleep(SECONDS)  # each map task costs this much, as a slow parser would

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRSlowWords.run()
"""


def test_auto_moves_the_rest_of_a_slow_small_job_to_worker_processes(tmp_path):
    job = tmp_path / "mr_slow_words.py"
    job.write_text(SLOW_MAPPER_JOB.replace("SECONDS", repr(PROMOTE_SECONDS / 2)))
    data = tmp_path / "in.txt"
    data.write_text("".join(f"w{i % 7} x{i % 3}\n" for i in range(4000)))  # 8K splits: 3 or more
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(job), "--num-cores", "2", "--split-size", "8K"]
        + ["--output-dir", str(out), str(data)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=120,
    )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "the rest run in 2 worker processes" in err
    history = json.loads((out / "_logs" / "history.json").read_text())
    maps = sorted((a for a in history["attempts"] if a["kind"] == "map"), key=lambda a: a["start"])
    assert len(maps) >= 3
    # the first ran in the driver; it showed the rest would take over PROMOTE_SECONDS: workers ran them
    assert maps[0]["pid"] not in {a["pid"] for a in maps[1:]}
    lines = sorted(p.read_text() for p in out.glob("part-*"))
    got = sorted(line for text in lines for line in text.splitlines())
    inline = subprocess.run(
        [sys.executable, str(job), "-r", "inline", str(data)], capture_output=True, timeout=120, check=True
    )
    assert got == sorted(inline.stdout.decode().splitlines())


@pytest.mark.parametrize(
    "switches",
    [["--task-timeout", "60"], ["--jobconf", "mapreduce.task.timeout=60000"]],
    ids=["task-timeout", "no-progress-timeout"],
)
def test_auto_runs_a_small_job_on_workers_when_a_timeout_is_set(tmp_path, caplog, switches):
    from jobs.wordcount import MRWordCount

    data = tmp_path / "in.txt"
    data.write_text("the cat\n")
    job = MRWordCount(["-r", "engine", "--num-cores", "2", *switches, str(data)])
    with caplog.at_level(logging.INFO, logger="engine.driver"), job.make_runner() as runner:
        runner.run()
        assert b"".join(runner.cat_output())
    assert "2 worker processes" in caplog.text and "in this process" not in caplog.text
