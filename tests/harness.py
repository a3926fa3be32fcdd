"""Run a job on mrjob's inline runner or on the engine and return its output lines."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from engine.progress import JobStats
from engine.runner import EngineRunner

TESTS = Path(__file__).parent
JOBS = TESTS / "jobs"


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


def slow_job_command(out: Path, scratch: Path, data: Path) -> list[str]:
    """``python -m engine run`` of the slow-mapper job, for tests that interrupt a driver."""
    return [
        sys.executable, "-m", "engine", "run", str(JOBS / "mr_slow.py"),
        "--output-dir", str(out), "--local-tmp-dir", str(scratch), str(data),
    ]  # fmt: skip


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
