"""Run a job on mrjob's inline runner or on the engine and return its output lines."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from engine.progress import JobStats
from engine.runner import EngineRunner

TESTS = Path(__file__).parent
JOBS = TESTS / "jobs"

T = TypeVar("T")


@dataclass
class Outcome:
    """Output bytes of a job run, and what the runner reported."""

    output: bytes
    counters: list[dict[str, dict[str, int]]]
    stats: JobStats | None = None

    @property
    def lines(self) -> list[bytes]:
        return self.output.splitlines()

    @property
    def sorted_lines(self) -> list[bytes]:
        return sorted(self.output.splitlines())


def run_inline(job_class: type, args: Sequence[str]) -> Outcome:
    """The reference: mrjob's inline runner with one core (one reducer, sorted output)."""
    job = job_class(args=["-r", "inline", "--num-cores", "1", *args])
    with job.make_runner() as runner:
        runner.run()
        return Outcome(b"".join(runner.cat_output()), runner.counters())


def run_engine(
    job_class: type,
    args: Sequence[str],
    executor: str = "serial",
    reducers: int | None = None,
    workers: int = 2,
    **engine_opts: Any,
) -> Outcome:
    """The same job on the engine, built the way ``python -m engine run`` builds it."""
    extra = ["--num-cores", str(workers)]
    if reducers is not None:
        extra += ["--jobconf", f"mapreduce.job.reduces={reducers}"]
    job = job_class(args=[*extra, *args])
    kwargs = job._runner_kwargs()
    kwargs.update(mrjob_cls=job_class, executor=executor, **engine_opts)
    with EngineRunner(**kwargs) as runner:
        runner.run()
        return Outcome(b"".join(runner.cat_output()), runner.counters(), runner.stats)


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 60.0,
    what: str = "the condition",
    proc: subprocess.Popen | None = None,
) -> T:
    """Poll *predicate* until it returns something true, and return that: how a test waits
    for another process to get somewhere (a file appears, a process is in a state).

    After *timeout* seconds (generous: never reached when things work, even on a loaded
    machine) raise ``AssertionError`` naming *what* was waited for; sooner if *proc* (the
    process expected to make it true) exits first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            status = proc.returncode
            raise AssertionError(f"{what}: the process exited first (status {status}){_stderr(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def _stderr(proc: subprocess.Popen) -> str:
    """What an exited *proc* wrote to its stderr pipe (if it has one), for a failure message."""
    try:
        _, err = proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):  # a child still holds the pipe open
        return ""
    if isinstance(err, bytes):
        err = err.decode(errors="replace")
    return f":\n{err[-2000:]}" if err else ""


def slow_job_command(out: Path, scratch: Path, data: Path, started: Path | None = None) -> list[str]:
    """``python -m engine run`` of the slow-mapper job, for tests that interrupt a driver.
    With *started*, each map task creates a file in that directory as it starts, so the
    test can wait for the job to be mapping (see ``map_started``)."""
    marker = ["--started-dir", str(started)] if started is not None else []
    return [
        sys.executable, "-m", "engine", "run", str(JOBS / "mr_slow.py"), *marker,
        "--output-dir", str(out), "--local-tmp-dir", str(scratch), str(data),
    ]  # fmt: skip


def map_started(started: Path, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Wait until a map task of ``mr_slow.py --started-dir STARTED`` has started."""
    wait_for(lambda: any(started.iterdir()), timeout, f"a map task to start (a file in {started})", proc)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A real moto server on 127.0.0.1 and a free port; stopped when the block ends."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
