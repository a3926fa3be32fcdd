"""Run a command as a subprocess and measure its wall time and the peak memory of its tree.

Memory is sampled from ``/proc`` every few milliseconds over the whole process tree (the
engine's driver, its forkserver and workers; mrjob's local runner's task processes):

* ``rss``: the largest sum of the tree's resident set sizes seen at one sample. Pages
  shared between forked workers are counted once per process, so this over-states.
* ``pss``: the same with proportional set sizes (a shared page is split between the
  processes that map it) -- the fair figure for comparing a multi-process engine with a
  single-process DuckDB, and the one the reports use.

Sampling starts after the child has exec'd (a process still showing this process's
command line is the fork before ``exec`` and is skipped: it maps this process's memory).
The kernel's ``ru_maxrss`` is no use here: it reports the largest single process only,
and on Linux it includes the parent's memory copied at fork, before ``exec``. Where
``/proc`` is not available (not Linux) that figure is all there is, and both fields hold it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HAVE_PROC = Path("/proc/self/statm").exists()


@dataclass
class Measurement:
    """One finished run: exit status, wall seconds, output, peak memory of the tree (bytes)."""

    returncode: int
    seconds: float
    stdout: bytes
    stderr: bytes
    peak_rss: int
    peak_pss: int


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(k) for k in f.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        pass
    return kids


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(_children(pid))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return b""


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        pass
    return _rss(pid)


def compile_bytecode() -> None:
    """Write the checkout's bytecode before anything is timed, as ``pip install`` does for an
    installed package: this checkout is an editable install, and where ``PYTHONDONTWRITEBYTECODE``
    is set each engine process would compile its ~45 modules again (~0.1 s a process)."""
    import compileall

    root = Path(__file__).resolve().parents[1]
    for package in ("engine", "jobs", "data", "bench"):
        compileall.compile_dir(str(root / package), quiet=1)


def run_measured(
    argv: Sequence[str],
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    interval: float = 0.02,
    timeout: float | None = None,
    sample_memory: bool = True,
) -> Measurement:
    """Run ``argv`` to completion; stdout/stderr go to temporary files (no pipe stalls).

    ``sample_memory=False`` only waits (peaks 0): for timed runs, since reading a
    process's ``smaps_rollup`` walks its page tables under its memory lock, which slows
    a multi-process run more than a single-process one on a small machine.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env else None, stdout=out, stderr=err)
        if sample_memory:
            peak_rss, peak_pss = _wait_sampling(proc, interval, timeout, started)
        else:
            _wait(proc, timeout)
            peak_rss = peak_pss = 0
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measurement(proc.returncode, seconds, out.read(), err.read(), peak_rss, peak_pss)


def _wait(proc: subprocess.Popen, timeout: float | None) -> None:
    """Wait blocking, so the time is taken the moment the child exits (``Popen.wait`` with a
    timeout polls every 50 ms at most); a timer kills the child past *timeout*."""
    killer = threading.Timer(timeout, proc.kill) if timeout is not None else None
    if killer is not None:
        killer.start()
    try:
        proc.wait()
    finally:
        if killer is not None:
            killer.cancel()


def _wait_sampling(
    proc: subprocess.Popen, interval: float, timeout: float | None, started: float
) -> tuple[int, int]:
    """Wait, sampling the tree's memory every *interval*; the peaks (RSS, PSS)."""
    peak_rss = peak_pss = 0
    own = _cmdline(os.getpid()) if HAVE_PROC else b""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if HAVE_PROC and _cmdline(proc.pid) not in (own, b""):
            pids = _tree(proc.pid)
            peak_rss = max(peak_rss, sum(_rss(p) for p in pids))
            peak_pss = max(peak_pss, sum(_pss(p) for p in pids))
        if timeout is not None and time.perf_counter() - started > timeout:
            proc.kill()
        time.sleep(interval)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if not HAVE_PROC:
        kernel = usage.ru_maxrss * 1024  # KiB on Linux
        return kernel, kernel
    return peak_rss, peak_pss


@contextlib.contextmanager
def warm_server(env: Mapping[str, str]) -> Iterator[Callable[[int], None]]:
    """A warm server (``engine.warm_server``) on *env*'s ``ENGINE_SERVER_SOCKET`` for the block,
    stopped after it. Yields ``check(runs)``, which fails the benchmark unless the server ran
    exactly *runs* commands (a client that finds no server runs its command itself)."""
    from engine.warm_client import ask

    command = [sys.executable, "-m", "engine", "server"]
    root = Path(__file__).resolve().parents[1]
    subprocess.run([*command, "start", "--idle-timeout", "3600"], cwd=root, env=dict(env), check=True,
                   capture_output=True)  # fmt: skip

    def check(runs: int) -> None:
        served = (ask("status", env["ENGINE_SERVER_SOCKET"]) or {}).get("served")
        if served != runs:
            raise SystemExit(f"the warm server ran {served} of the {runs} warm runs")

    try:
        yield check
    finally:
        subprocess.run([*command, "stop"], cwd=root, env=dict(env), capture_output=True)
