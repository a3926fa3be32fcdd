"""Run tasks on worker processes (or serially), retrying failed attempts.

The process pool is our own rather than ``concurrent.futures``: it must know which task a
worker was running when the worker died (SIGKILL, OOM killer), replace that worker and
re-run only that task, replace a worker that dies while idle without charging any task
an attempt, kill a worker whose task runs past ``--task-timeout`` or makes no progress
for Hadoop's ``mapreduce.task.timeout`` (10 minutes by default), and have every worker
exit as soon as the driver is gone.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import reprlib
import shutil
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Protocol

from engine import forkserver
from engine.errors import EngineError, InputError, JobDefinitionError, JobInterrupted, TaskFailedError
from engine.leftovers import proc_stat
from engine.plan import JobPlan
from engine.tasks import MapTask, Task, TaskResult, run_task

if TYPE_CHECKING:
    from engine.history import History

log = logging.getLogger(__name__)

#: Hadoop's ``mapreduce.task.timeout``: an attempt whose worker makes no progress (uses no
#: CPU and does no I/O, e.g. stopped by SIGSTOP or stuck on a frozen NFS read) this long
#: is killed and retried. ``--jobconf mapreduce.task.timeout=MS`` changes it (0: never).
DEFAULT_NO_PROGRESS_TIMEOUT = 600.0
#: jobconf names of that limit, in milliseconds (Hadoop 2+, Hadoop 1).
NO_PROGRESS_JOBCONF = ("mapreduce.task.timeout", "mapred.task.timeout")
#: Seconds of no progress between two warnings about the same attempt.
NO_PROGRESS_WARNING_S = 60.0
#: How often the driver samples a busy worker's CPU and I/O counters.
SAMPLE_S = 0.5
#: Exit status of a worker that found its driver gone.
DRIVER_GONE_STATUS = 75

#: Called with each successful result as soon as it arrives; returns the committed result.
OnDone = Callable[[TaskResult], TaskResult]
#: Chooses the directory of one attempt of a task.
AttemptDir = Callable[[Task, int], str]


class Executor(Protocol):
    """Runs every task to success (retrying) or raises ``TaskFailedError``; tells ``history``
    (when set) of every attempt as it ends."""

    history: History | None

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run *tasks*; results come back in task order."""

    def close(self) -> None:
        """Stop any workers."""


#: How a failed attempt failed: ``error`` is retried, the others would fail the same way again.
FailureKind = Literal["error", "input", "job", "encode", "nospace"]


@dataclass
class _Failure:
    summary: str
    traceback: str
    #: ``error`` is retried; ``input``, ``job``, ``encode`` and ``nospace`` would fail the
    #: same way again, so the job fails at once.
    kind: FailureKind = "error"
    #: The signal that killed the worker, when no one in the engine sent it.
    signum: int = 0
    #: The worker was killed (by a signal, or by the engine: a timeout, no progress).
    killed: bool = False


def _size_text(size: int) -> str:
    """``512M`` for 536870912: sizes as ``--memory-budget`` takes them."""
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _failure_message(task: Task, attempts: int, failure: _Failure, plan: JobPlan | None = None) -> str:
    head = f"{task.describe()} failed {attempts} time(s); last error: {failure.summary}. "
    if failure.signum == signal.SIGKILL and plan is not None:
        # Nobody in the engine sent it (its own kills carry their reason), so it is most
        # likely the kernel's OOM killer: name the switches that lower memory, with their values.
        twin = ""
        if plan.vectorized:
            twin = ", or --no-vectorize (the Arrow twin holds batches and key groups in memory)"
        return head + (
            "A SIGKILL the engine did not send is most often the out-of-memory killer (see "
            "`dmesg`): lower the memory the job uses with a smaller --memory-budget (now "
            f"{_size_text(plan.memory_budget)}, shared by the workers) or fewer workers with "
            f"--num-cores (now {plan.workers}){twin}, or free memory on the machine, then run the "
            "job again (no output was written)"
        )
    return head + "Fix the job or its input and run it again (no output was written)"


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
        self.plan = plan
        self.max_attempts = max(1, plan.max_attempts)

    def after_failure(self, task: Task, attempt: int, failure: _Failure, attempt_path: str) -> bool:
        """Clean the failed attempt; True if the task gets another attempt."""
        shutil.rmtree(attempt_path, ignore_errors=True)
        if failure.kind != "error":
            raise _fatal_error(task, attempt, failure)
        if attempt >= self.max_attempts:
            raise TaskFailedError(_failure_message(task, attempt, failure, self.plan), failure.traceback)
        log.warning("%s attempt %d failed (%s); retrying", task.describe(), attempt, failure.summary)
        return True


class SerialExecutor:
    """Runs tasks one after another in this process: same code path, easy to debug."""

    def __init__(self, plan: JobPlan, job_id: str) -> None:
        self.plan = plan
        self.job_id = job_id
        self.book = _RetryBook(plan)
        self.history: History | None = None

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run each task until it succeeds or runs out of attempts."""
        results = []
        for task in tasks:
            attempt = 1
            while True:
                path = attempt_dir(task, attempt)
                started = time.monotonic()
                try:
                    result = run_task(self.plan, task, attempt, path, self.job_id)
                except JobInterrupted:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                except Exception as exc:
                    failure = describe_exception(exc, traceback.format_exc())
                    del exc  # the traceback holds the task's frames
                    if self.history is not None:
                        ended = time.monotonic()
                        pid = os.getpid()
                        self.history.attempt(task, attempt, 0, pid, started, ended, "failed", failure.summary)
                    self.book.after_failure(task, attempt, failure, path)
                    attempt += 1
                    continue
                if self.history is not None:
                    ended = time.monotonic()
                    pid = os.getpid()
                    self.history.attempt(task, attempt, 0, pid, started, ended, "succeeded", result=result)
                results.append(on_done(result))
                break
        return results

    def close(self) -> None:
        """Nothing to stop."""


def _exit_with_driver(driver_alive: multiprocessing.connection.Connection) -> None:
    """Exit this worker at once when the driver process is gone (``kill -9`` included).

    Only the driver holds the write end of *driver_alive* and never writes to it, so the
    read end turns readable (EOF) exactly when the driver exits, however it dies. Blocking
    on it costs no CPU, which keeps a hung task's CPU time still for the no-progress watch.
    """
    try:
        driver_alive.poll(None)
    except (OSError, EOFError):
        pass
    os._exit(DRIVER_GONE_STATUS)


# The messages on a worker's pipe. Driver -> worker: a ``_RunAttempt``, or ``None`` to exit.
# Worker -> driver: ``_Started`` as the attempt begins, then its ``TaskResult`` or ``_Failure``.


@dataclass(frozen=True)
class _RunAttempt:
    task: Task
    attempt: int
    attempt_dir: str


@dataclass(frozen=True)
class _Started:
    """The worker has the task and is about to run it (from now on it counts as an attempt)."""


def _worker_main(
    conn: multiprocessing.connection.Connection,
    plan: JobPlan,
    job_id: str,
    driver_alive: multiprocessing.connection.Connection | None = None,
) -> None:
    """Loop of one worker process: receive a task, run it, send back the outcome."""
    # The driver handles Ctrl-C and stops us itself; don't die mid-write on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if driver_alive is not None:
        # Our parent is the forkserver, which outlives a killed driver (every worker holds
        # its "alive" pipe), so neither getppid() nor PR_SET_PDEATHSIG would notice.
        threading.Thread(
            target=_exit_with_driver, args=(driver_alive,), name="engine-driver-watch", daemon=True
        ).start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        # Before any of the task's code runs: a worker dead before this line never began
        # the task, and the driver does not charge the task an attempt for it.
        conn.send(_Started())
        try:
            result = run_task(plan, message.task, message.attempt, message.attempt_dir, job_id)
        except BaseException as exc:  # report everything; the driver decides
            failure = describe_exception(exc, traceback.format_exc())
            del exc
            conn.send(failure)
        else:
            conn.send(result)


def _proc_sample(pid: int) -> tuple[str, tuple[int, ...]] | None:
    """The state letter of process *pid* and counters that grow while it works: CPU ticks
    (all threads) and bytes read and written (any file, pipe or socket). ``None`` without
    ``/proc/<pid>`` (not Linux, or the process is gone)."""
    fields = proc_stat(pid)  # from the state on: utime is the 14th field, stime the 15th
    if fields is None:
        return None
    counters = [int(fields[11]) + int(fields[12])]
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            counters += [int(line.split()[1]) for line in f if line.startswith((b"rchar:", b"wchar:"))]
    except OSError:  # /proc/<pid>/io can be unreadable (hardened kernels): CPU time alone
        pass
    return fields[0].decode(), tuple(counters)


def _state_words(state: str) -> str:
    """What a worker with no progress is doing, from its /proc state letter."""
    if state in ("T", "t"):
        return "is stopped (SIGSTOP?)"
    if state == "D":
        return "is blocked in the kernel on I/O (a frozen disk or NFS mount?)"
    if state == "":
        return "may be working: without /proc its progress cannot be seen"
    return "uses no CPU and does no I/O"


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def no_progress_limit(plan: JobPlan) -> tuple[float | None, bool]:
    """Seconds without progress after which an attempt is killed (``None``: never), and
    whether the job set it (``--jobconf mapreduce.task.timeout=MS``, as in Hadoop)."""
    env = dict(plan.env)
    for name in NO_PROGRESS_JOBCONF:
        raw = env.get(name.replace(".", "_"))
        if raw is None:
            continue
        try:
            millis = float(raw)
        except ValueError:
            raise JobDefinitionError(
                f"--jobconf {name}={raw!r} is not a number of milliseconds (0: no limit)"
            ) from None
        return (millis / 1000 if millis > 0 else None), True
    return DEFAULT_NO_PROGRESS_TIMEOUT, False


class _Worker:
    def __init__(self, ctx: Any, plan: JobPlan, job_id: str, number: int, driver_alive: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, plan, job_id, driver_alive),
            name=f"engine-worker-{number}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.task: Task | None = None
        #: Whether the worker said it received ``task`` (only then is the task charged).
        self.acked = False
        self.attempt = 0
        self.path = ""
        self.started = 0.0
        # The no-progress watch: when the counters last moved, and when we last warned.
        self.mark: tuple[int, ...] | None = None
        self.progress_at = 0.0
        self.warned_at = 0.0
        self.sampled_at = 0.0

    def begin(self, task: Task, attempt: int, path: str) -> None:
        """Record that this worker now runs *attempt* of *task*."""
        self.task, self.attempt, self.path = task, attempt, path
        self.acked = False
        now = time.monotonic()
        self.started = self.progress_at = self.warned_at = self.sampled_at = now
        self.mark = None

    def stop(self, kill: bool = False) -> None:
        if self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
        self.process.join(5)
        self.conn.close()


class ProcessExecutor:
    """A pool of worker processes; a dead, hung or stalled worker is replaced and its task re-run."""

    def __init__(self, plan: JobPlan, job_id: str, workers: int) -> None:
        self.plan = plan
        self.job_id = job_id
        self.size = max(1, workers)
        self.book = _RetryBook(plan)
        limit, explicit = no_progress_limit(plan)
        self._sees_progress = os.path.exists(f"/proc/{os.getpid()}/stat")
        # Without /proc only wall time is known: a long task is not a stalled one, so only
        # a limit the job set kills there; the default just warns.
        self.no_progress = limit if (self._sees_progress or explicit) else None
        self.warn_every = NO_PROGRESS_WARNING_S
        if self.no_progress:  # a short limit (tests) still warns once before the kill
            self.warn_every = min(NO_PROGRESS_WARNING_S, self.no_progress / 2)
        self._ctx = forkserver.context()
        # Workers watch the read end; the write end lives only here (see _exit_with_driver).
        self._driver_alive, self._driver_alive_w = self._ctx.Pipe(duplex=False)
        self._spawned = 0
        self._idle_deaths = 0
        self._workers: list[_Worker] = []
        self.history: History | None = None

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.plan, self.job_id, self._spawned, self._driver_alive)
        self._spawned += 1
        return worker

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run all tasks on the pool; returns results in task order."""
        task_list = list(tasks)
        order = {task.task_id: i for i, task in enumerate(task_list)}
        results: dict[str, TaskResult] = {}
        # Largest splits first, so that the last wave of a map phase is of small tasks and
        # no worker idles while another finishes a big one (results keep task order).
        by_size = sorted(task_list, key=lambda t: -(t.split.length if isinstance(t, MapTask) else 0))
        pending: deque[tuple[Task, int]] = deque((task, 1) for task in by_size)
        while len(self._workers) < min(self.size, len(task_list)):
            self._workers.append(self._spawn())
        self._idle_deaths = 0
        timeout = self.plan.task_timeout
        while pending or any(w.task is not None for w in self._workers):
            self._assign(pending, attempt_dir)
            busy = [w for w in self._workers if w.task is not None]
            # Idle workers' sentinels too: one killed between tasks is replaced at once.
            waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in self._workers]
            ready = set(multiprocessing.connection.wait(waitables, timeout=SAMPLE_S))
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.task is None:
                    if worker.process.sentinel in ready:
                        self._lost(worker, self._death(worker).summary, "while idle")
                    continue
                failure: _Failure | None = None
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        failure = self._death(worker)
                    else:
                        if isinstance(message, _Started):
                            worker.acked, worker.progress_at = True, now
                            continue
                        if isinstance(message, TaskResult):
                            self._tell(worker, now, "succeeded", result=message)
                            results[message.task_id] = on_done(message)
                            worker.task = None
                            self._idle_deaths = 0
                            continue
                        failure = message
                elif worker.process.sentinel in ready:
                    failure = self._death(worker)
                elif timeout and now - worker.started > timeout:
                    failure = _Failure(
                        f"timed out after {timeout:g} s (--task-timeout); worker killed", "", killed=True
                    )
                    worker.stop(kill=True)
                else:
                    failure = self._watch(worker, now)
                if failure is None:
                    continue
                task, attempt = worker.task, worker.attempt
                assert task is not None
                if worker.acked:
                    self._tell(worker, now, "killed" if failure.killed else "failed", failure.summary)
                worker.task = None
                if not worker.acked:
                    # Dead (or frozen) before it read the task, e.g. killed while idle just
                    # before the send: the task never ran, so it keeps its attempt number.
                    shutil.rmtree(worker.path, ignore_errors=True)
                    pending.appendleft((task, attempt))
                    worker.stop(kill=True)
                    self._lost(worker, failure.summary, f"before it started {task.task_id}")
                    continue
                if not worker.process.is_alive():
                    self._replace(worker)
                self.book.after_failure(task, attempt, failure, worker.path)
                pending.append((task, attempt + 1))
        return sorted(results.values(), key=lambda r: order[r.task_id])

    def _tell(self, worker: _Worker, now: float, state: str, error: str | None = None,
              result: TaskResult | None = None) -> None:
        """The history (if any) of the attempt *worker* ran, which ended at *now*."""
        if self.history is not None and worker.task is not None:
            self.history.attempt(
                worker.task, worker.attempt, self._workers.index(worker), worker.process.pid or 0,
                worker.started, now, state, error, result,
            )

    def _assign(self, pending: deque[tuple[Task, int]], attempt_dir: AttemptDir) -> None:
        """Give each idle worker a pending task. A worker found dead never received its
        task, so the task goes back to the front of the queue with the same attempt."""
        for index in range(len(self._workers)):
            while pending and self._workers[index].task is None:
                worker = self._workers[index]
                task, attempt = pending.popleft()
                path = attempt_dir(task, attempt)
                if worker.process.is_alive():
                    try:
                        worker.conn.send(_RunAttempt(task, attempt, path))
                    except OSError:  # BrokenPipeError: it died after the check
                        pass
                    else:
                        worker.begin(task, attempt, path)
                        break
                pending.appendleft((task, attempt))
                self._lost(worker, self._death(worker).summary, f"before it was sent {task.task_id}")

    def _lost(self, worker: _Worker, how: str, when: str) -> None:
        """Replace a worker lost while it held no started task; no task is charged."""
        self._idle_deaths += 1
        # Workers dying before any task (e.g. at start-up) would otherwise respawn forever.
        if self._idle_deaths > 2 * self.size + 2:
            raise TaskFailedError(
                f"worker processes keep dying before they run a task (last: {how} {when}); "
                "check the machine's memory and process limits (no output was written)"
            )
        log.warning("%s %s; replaced (no task attempt lost)", how, when)
        if self.history is not None:
            self.history.worker_lost(self._workers.index(worker), worker.process.pid or 0, how, when)
        self._replace(worker)

    def _watch(self, worker: _Worker, now: float) -> _Failure | None:
        """Hadoop's no-progress timeout: progress is the worker's CPU time or I/O bytes
        growing (or a result arriving); warn about a stalled attempt every ``warn_every``
        seconds, kill it after ``no_progress`` seconds (the caller retries it)."""
        if now - worker.sampled_at < SAMPLE_S:
            return None
        worker.sampled_at = now
        state = ""
        if self._sees_progress:
            sample = _proc_sample(worker.process.pid or 0)
            if sample is None:
                return None  # it just exited: its sentinel will tell
            state, mark = sample
            if mark != worker.mark:
                worker.mark, worker.progress_at, worker.warned_at = mark, now, now
                return None
        stalled = now - worker.progress_at
        task = worker.task
        assert task is not None
        doing = f"worker process {worker.process.pid} {_state_words(state)}"
        limit_switch = "--jobconf mapreduce.task.timeout=MS"
        if self.no_progress and stalled >= self.no_progress:
            worker.stop(kill=True)
            return _Failure(
                f"made no progress for {_seconds(stalled)} ({doing}); worker killed "
                f"(the no-progress limit, {limit_switch}, is {_seconds(self.no_progress)})",
                "",
                killed=True,
            )
        if now - worker.warned_at >= self.warn_every:
            worker.warned_at = now
            then = (
                f"it is killed and retried after {_seconds(self.no_progress)} without progress"
                if self.no_progress
                else "no-progress limit off"
            )
            log.warning(
                "%s attempt %d has %s %s: %s; %s (%s)",
                task.describe(),
                worker.attempt,
                "made no progress for" if self._sees_progress else "run for",
                _seconds(stalled),
                doing,
                then,
                limit_switch,
            )
        return None

    def _death(self, worker: _Worker) -> _Failure:
        worker.process.join(5)
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        signum = -code if code is not None and code < 0 else 0
        return _Failure(f"worker process {worker.process.pid} {how}", "", signum=signum, killed=bool(signum))

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
        # Any worker still running sees EOF here and exits (see _exit_with_driver).
        self._driver_alive_w.close()
        self._driver_alive.close()


#: ``AutoExecutor``: when the tasks run so far in this process, at their mean time, leave more
#: than this many seconds for the rest of the wave, the rest of the job moves to worker processes.
PROMOTE_SECONDS = 1.0


class AutoExecutor:
    """``--executor auto`` on a small input: tasks run in this process, one after another, until
    the ones done show that the rest of a wave would take more than ``PROMOTE_SECONDS``; from
    then on (that wave's remaining tasks, and every later wave) they run in worker processes.
    A word count of a few KB never pays for the workers; a few hundred KB of lines parsed by a
    slow regex does not wait for one process."""

    def __init__(self, plan: JobPlan, job_id: str) -> None:
        self.plan = plan
        self.job_id = job_id
        self.history: History | None = None
        self.serial = SerialExecutor(plan, job_id)
        self.workers: ProcessExecutor | None = None

    def run(self, tasks: Iterable[Task], attempt_dir: AttemptDir, on_done: OnDone) -> list[TaskResult]:
        """Run *tasks* here while they are quick, the rest on workers; results in task order."""
        tasks = list(tasks)
        results: list[TaskResult] = []
        started = time.monotonic()
        self.serial.history = self.history
        for done, task in enumerate(tasks):
            if self.workers is None and done and self.plan.workers > 1:
                each = (time.monotonic() - started) / done
                if each * (len(tasks) - done) > PROMOTE_SECONDS:
                    workers = self.plan.workers
                    log.info("the tasks take %.2f s each: the rest run in %d worker processes", each, workers)
                    with forkserver.sigint_ignored():  # the forkserver leaves Ctrl-C to the driver
                        self.workers = ProcessExecutor(self.plan, self.job_id, workers)
            if self.workers is not None:
                self.workers.history = self.history
                return results + self.workers.run(tasks[done:], attempt_dir, on_done)
            results += self.serial.run([task], attempt_dir, on_done)
        return results

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()


def make_executor(kind: str, plan: JobPlan, job_id: str) -> Executor:
    """``processes``, ``serial`` or ``auto`` (``AutoExecutor``; ``forkserver.choose_executor`` picks)."""
    if kind == "auto":
        return AutoExecutor(plan, job_id)
    if kind == "serial":
        return SerialExecutor(plan, job_id)
    if kind == "processes":
        return ProcessExecutor(plan, job_id, plan.workers)
    raise ValueError(f"unknown executor {kind!r}: use 'processes' or 'serial'")
