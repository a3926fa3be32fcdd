"""Run tasks on worker processes (or serially), retrying failed attempts.

The process pool is our own rather than ``concurrent.futures``: it must know which task a
worker was running when the worker died (SIGKILL, OOM killer), replace that worker and
re-run only that task, and kill a worker whose task runs past ``--task-timeout``.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import reprlib
import shutil
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from engine.errors import EngineError, InputError, JobDefinitionError, JobInterrupted, TaskFailedError
from engine.plan import JobPlan
from engine.tasks import Task, TaskResult, run_task

log = logging.getLogger(__name__)

#: Called with each successful result as soon as it arrives.
OnDone = Callable[[TaskResult], None]
#: Chooses the directory of one attempt of a task.
AttemptDir = Callable[[Task, int], str]


class Executor(Protocol):
    """Runs every task to success (retrying) or raises ``TaskFailedError``."""

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run *tasks*; results come back in task order."""

    def close(self) -> None:
        """Stop any workers."""


@dataclass
class _Failure:
    summary: str
    traceback: str
    #: ``error`` is retried; ``input``, ``job``, ``encode`` and ``nospace`` would fail the
    #: same way again, so the job fails at once.
    kind: str = "error"


def _failure_message(task: Task, attempts: int, failure: _Failure) -> str:
    return (
        f"{task.describe()} failed {attempts} time(s); last error: {failure.summary}. "
        "Fix the job or its input and run it again (no output was written)"
    )


def describe_exception(exc: BaseException, tb: str) -> _Failure:
    """Classify a failed attempt's exception (in the process that raised it)."""
    if isinstance(exc, InputError):
        return _Failure(str(exc), "", "input")
    if isinstance(exc, JobDefinitionError):
        return _Failure(str(exc), "", "job")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _Failure(f"{type(exc).__name__}: {exc}", "", "nospace")
    summary = f"{type(exc).__name__}: {exc}"
    encode = _encode_failure(exc)
    if encode is not None:
        return _Failure(f"{encode} ({summary})", tb, "encode")
    return _Failure(summary, tb)


def _encode_failure(exc: BaseException) -> str | None:
    """If *exc* escaped a protocol's ``write(key, value)``, say which record it could not
    encode. Found from the traceback, so the hot loops carry no extra ``try``."""
    if not isinstance(exc, (TypeError, ValueError, AttributeError, OverflowError, RecursionError)):
        return None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "write":
            local = frame.f_locals
            protocol = local.get("self")
            if (
                protocol is not None
                and "key" in local
                and callable(getattr(protocol, "read", None))
                and callable(getattr(protocol, "write", None))
            ):
                short = reprlib.Repr()
                short.maxstring = short.maxother = 60
                return (
                    f"{type(protocol).__name__} cannot encode the record with key "
                    f"{short.repr(local['key'])} and value {short.repr(local.get('value'))}: "
                    "yield keys and values that protocol can encode (e.g. a list, not a set, "
                    "for JSON) or set the job's INTERNAL_PROTOCOL/OUTPUT_PROTOCOL"
                )
        tb = tb.tb_next
    return None


def _fatal_error(task: Task, attempt: int, failure: _Failure) -> EngineError:
    """The error of a task that is not retried because it would fail the same way."""
    if failure.kind == "input":
        return InputError(f"task {task.task_id}: {failure.summary} (not retried; no output was written)")
    if failure.kind == "job":
        return JobDefinitionError(f"task {task.task_id}: {failure.summary}")
    if failure.kind == "nospace":
        return TaskFailedError(
            f"{task.describe()} ran out of disk space ({failure.summary}): free space on that disk "
            "or point --local-tmp-dir at a bigger one, then run the job again (no output was written)"
        )
    return TaskFailedError(
        f"{task.describe()} failed on attempt {attempt}, not retried: {failure.summary}. "
        "Fix the job and run it again (no output was written)",
        failure.traceback,
    )


class _RetryBook:
    """Attempt bookkeeping shared by both executors."""

    def __init__(self, plan: JobPlan) -> None:
        self.max_attempts = max(1, plan.max_attempts)

    def after_failure(self, task: Task, attempt: int, failure: _Failure, attempt_path: str) -> bool:
        """Clean the failed attempt; True if the task gets another attempt."""
        shutil.rmtree(attempt_path, ignore_errors=True)
        if failure.kind != "error":
            raise _fatal_error(task, attempt, failure)
        if attempt >= self.max_attempts:
            raise TaskFailedError(_failure_message(task, attempt, failure), failure.traceback)
        log.warning("%s attempt %d failed (%s); retrying", task.describe(), attempt, failure.summary)
        return True


class SerialExecutor:
    """Runs tasks one after another in this process: same code path, easy to debug."""

    def __init__(self, plan: JobPlan, job_id: str) -> None:
        self.plan = plan
        self.job_id = job_id
        self.book = _RetryBook(plan)

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run each task until it succeeds or runs out of attempts."""
        results = []
        for task in tasks:
            attempt = 1
            while True:
                path = attempt_dir(task, attempt)
                try:
                    result = run_task(self.plan, task, attempt, path, self.job_id)
                except JobInterrupted:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                except Exception as exc:
                    failure = describe_exception(exc, traceback.format_exc())
                    del exc  # the traceback holds the task's frames
                    self.book.after_failure(task, attempt, failure, path)
                    attempt += 1
                    continue
                on_done(result)
                results.append(result)
                break
        return results

    def close(self) -> None:
        """Nothing to stop."""


def _worker_main(conn: multiprocessing.connection.Connection, plan: JobPlan, job_id: str) -> None:
    """Loop of one worker process: receive a task, run it, send back the outcome."""
    # The driver handles Ctrl-C and stops us itself; don't die mid-write on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task, attempt, path = message
        try:
            result = run_task(plan, task, attempt, path, job_id)
        except BaseException as exc:  # report everything; the driver decides
            failure = describe_exception(exc, traceback.format_exc())
            del exc
            conn.send(("error", failure, ""))
        else:
            conn.send(("ok", result, ""))


class _Worker:
    def __init__(self, ctx: Any, plan: JobPlan, job_id: str, number: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, plan, job_id), name=f"engine-worker-{number}", daemon=True
        )
        self.process.start()
        child.close()
        self.task: Task | None = None
        self.attempt = 0
        self.path = ""
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
        self.process.join(5)
        self.conn.close()


#: setuptools' switch between its own ``distutils`` and the standard library's.
DISTUTILS_VAR = "SETUPTOOLS_USE_DISTUTILS"


def _context() -> Any:
    """forkserver, started: workers fork from a clean server that preloaded the engine, so
    they start fast and never inherit the driver's threads (pyarrow's pools)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "engine.tasks",
            "engine.vectorized",
            "mrjob.job",
            "mrjob.protocol",
            "pyarrow.acero",
            "pyarrow.parquet",
        ]
    )
    # On Python < 3.12 the forkserver imports the standard library's ``distutils`` (which
    # mrjob imports) rather than setuptools' replacement, whose imports cost ~0.18 s
    # before the first task can start. ensure_running() starts it once.
    saved = os.environ.get(DISTUTILS_VAR)
    if saved is None and sys.version_info < (3, 12):
        os.environ[DISTUTILS_VAR] = "stdlib"
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            os.environ.pop(DISTUTILS_VAR, None)
    return ctx


def warm_up() -> None:
    """Start the forkserver now, so its imports overlap the driver's planning."""
    _context()


class ProcessExecutor:
    """A pool of worker processes; a dead or hung worker is replaced and its task re-run."""

    def __init__(self, plan: JobPlan, job_id: str, workers: int) -> None:
        self.plan = plan
        self.job_id = job_id
        self.size = max(1, workers)
        self.book = _RetryBook(plan)
        self._ctx = _context()
        self._spawned = 0
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.plan, self.job_id, self._spawned)
        self._spawned += 1
        return worker

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run all tasks on the pool; returns results in task order."""
        task_list = list(tasks)
        order = {task.task_id: i for i, task in enumerate(task_list)}
        results: dict[str, TaskResult] = {}
        # Largest splits first, so that the last wave of a map phase is of small tasks and
        # no worker idles while another finishes a big one (results keep task order).
        by_size = sorted(task_list, key=lambda t: -(t.split.length if t.split is not None else 0))
        pending: deque[tuple[Task, int]] = deque((task, 1) for task in by_size)
        while len(self._workers) < min(self.size, len(task_list)):
            self._workers.append(self._spawn())
        timeout = self.plan.task_timeout
        while pending or any(w.task is not None for w in self._workers):
            for worker in self._workers:
                if worker.task is None and pending:
                    task, attempt = pending.popleft()
                    worker.task, worker.attempt = task, attempt
                    worker.path = attempt_dir(task, attempt)
                    worker.started = time.monotonic()
                    worker.conn.send((task, attempt, worker.path))
            busy = [w for w in self._workers if w.task is not None]
            waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = set(multiprocessing.connection.wait(waitables, timeout=0.5))
            for worker in busy:
                failure: _Failure | None = None
                if worker.conn in ready:
                    try:
                        kind, payload, remote_tb = worker.conn.recv()
                    except (EOFError, OSError):
                        failure = self._death(worker)
                    else:
                        if kind == "ok":
                            results[payload.task_id] = payload
                            on_done(payload)
                            worker.task = None
                            continue
                        failure = payload
                elif worker.process.sentinel in ready:
                    failure = self._death(worker)
                elif timeout and time.monotonic() - worker.started > timeout:
                    failure = _Failure(f"timed out after {timeout:g} s (--task-timeout); worker killed", "")
                    worker.stop(kill=True)
                if failure is None:
                    continue
                task, attempt = worker.task, worker.attempt
                assert task is not None
                worker.task = None
                if not worker.process.is_alive():
                    self._replace(worker)
                self.book.after_failure(task, attempt, failure, worker.path)
                pending.append((task, attempt + 1))
        return sorted(results.values(), key=lambda r: order[r.task_id])

    def _death(self, worker: _Worker) -> _Failure:
        worker.process.join(5)
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        return _Failure(f"worker process {worker.process.pid} {how}", "")

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        self._workers[self._workers.index(worker)] = self._spawn()

    def close(self) -> None:
        """Ask idle workers to exit; kill the rest."""
        for worker in self._workers:
            if worker.task is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in self._workers:
            worker.process.join(1 if worker.task is None else 0)
            worker.stop(kill=True)
        self._workers = []


def make_executor(kind: str, plan: JobPlan, job_id: str) -> Executor:
    """``processes`` (default) or ``serial``."""
    if kind == "serial":
        return SerialExecutor(plan, job_id)
    if kind == "processes":
        return ProcessExecutor(plan, job_id, plan.workers)
    raise ValueError(f"unknown executor {kind!r}: use 'processes' or 'serial'")


def worker_pids(executor: Executor) -> list[int]:
    """PIDs of live workers (tests use it to kill one)."""
    if isinstance(executor, ProcessExecutor):
        return [w.process.pid for w in executor._workers if w.process.pid and w.process.is_alive()]
    return [os.getpid()]
