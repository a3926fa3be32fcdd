"""The workers' forkserver, started as soon as a command knows its job will need workers.

Workers fork from multiprocessing's forkserver: a clean process that has imported the engine,
mrjob and pyarrow (``engine.worker_preload``, and a SQL query's modules after it), so a worker
starts in milliseconds and inherits none of the driver's threads (pyarrow's pools). Its imports
take ~0.25 s, which the command hides behind its own (sqlglot, mrjob, the job's planning) by
starting it first: ``start_executor`` asks ``choose_executor`` whether the job runs in workers at
all (a small local input runs in the driver, as Hadoop's "uber" jobs do) and starts the
forkserver if so. This module imports nothing heavier than multiprocessing and the engine's
splits, so that a SQL command can call it before anything else: importing ``engine.executor``
(mrjob among it) first would hold the forkserver back by ~50 ms.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Sequence

from engine.arrow_pool import ARROW_POOL, ARROW_POOL_VAR
from engine.errors import InputError
from engine.s3 import is_s3

#: ``--executor auto``: local inputs up to this size in all start in the driver's own process, as
#: Hadoop runs a small job "uber" (in its ApplicationMaster): forking worker processes from a
#: forkserver that has imported the engine costs ~0.3 s, more than two workers save on a few MB
#: -- unless the job spends long on each record, which ``AutoExecutor`` finds out as it goes.
SMALL_INPUT_BYTES = 8 * 1024 * 1024


def choose_executor(kind: str, input_paths: Sequence[str], timeouts_set: bool = False) -> str:
    """The executor that ``--executor KIND`` runs *input_paths* with: ``auto`` stays ``auto``
    (``AutoExecutor``: in this process first) when every input is a local path and they add up
    to at most ``SMALL_INPUT_BYTES``, else it is ``processes``, which is also what a timeout the
    user set (*timeouts_set*: ``--task-timeout``, ``mapreduce.task.timeout``) needs: only a
    worker can be killed. An unreadable path is left for the driver to report (``processes``)."""
    if kind != "auto":
        return kind
    if timeouts_set:
        return "processes"
    from engine.splits import list_input_files

    if not input_paths or any(is_s3(p) or p == "-" for p in input_paths):
        return "processes"
    try:
        files = list_input_files(input_paths)
        total = sum(os.path.getsize(f) for f in files)
    except (InputError, OSError):
        return "processes"
    return "auto" if total <= SMALL_INPUT_BYTES else "processes"


#: setuptools' switch between its own ``distutils`` and the standard library's.
DISTUTILS_VAR = "SETUPTOOLS_USE_DISTUTILS"


#: Set in a command forked by the warm server (``engine.warm_server``): starts the forkserver as
#: a fork of this process, which has the engine imported already, rather than as a fresh
#: interpreter that imports it (~0.45 s); False where it may not (pyarrow's threads started).
fork_forkserver: Callable[[], bool] | None = None


def context(preload: Sequence[str] = ()) -> Any:
    """forkserver, started: workers fork from a clean server that preloaded the engine (and the
    modules in *preload*, where this call starts it), so they start fast and never inherit the
    driver's threads (pyarrow's pools)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    if fork_forkserver is not None and fork_forkserver():
        return ctx
    ctx.set_forkserver_preload(["engine.worker_preload", *preload])
    # On Python < 3.12 the forkserver imports the standard library's ``distutils`` (which
    # mrjob imports) rather than setuptools' replacement, whose imports cost ~0.18 s
    # before the first task can start (3.12+: engine.worker_preload loads setuptools' copy
    # without setuptools). ensure_running() starts it once.
    # The workers' Arrow allocator (engine.arrow_pool) also for a job run by mrjob's launcher
    # (``python job.py -r engine``), whose process did not start as ``python -m engine``.
    wanted = {ARROW_POOL_VAR: ARROW_POOL}
    if sys.version_info < (3, 12):
        wanted[DISTUTILS_VAR] = "stdlib"
    added = {name: value for name, value in wanted.items() if name not in os.environ}
    os.environ.update(added)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for name in added:
            os.environ.pop(name, None)
    return ctx


def start_executor(
    kind: str, input_paths: Sequence[str], timeouts_set: bool = False, preload: Sequence[str] = ()
) -> str:
    """The executor ``choose_executor`` picks for the job, with the forkserver started now if
    it is ``processes`` (importing *preload* too): the runner asks before it plans, a SQL
    session as soon as it has a query's plan (the server's imports then overlap the job's
    set-up)."""
    executor = choose_executor(kind, input_paths, timeouts_set)
    if executor == "processes":
        # The forkserver inherits SIGINT ignored (as the workers it forks do), so a Ctrl-C
        # while it imports does not print its KeyboardInterrupt traceback; the driver alone
        # handles Ctrl-C and stops the workers.
        with sigint_ignored():
            context(preload)  # started now: its imports overlap the driver's planning
    return executor


def start_executor_for_args(
    job_args: Sequence[str], input_paths: Sequence[str], preload: Sequence[str] = ()
) -> str:
    """``start_executor`` for a job given *job_args* (its ``--executor``, ``--task-timeout``,
    ``mapreduce.task.timeout``) and *input_paths*, before the job is made (a SQL session, which
    knows its tables' files before it has a query)."""
    from engine.options import OPTIONS_BY_NAME

    args = list(job_args)
    default = OPTIONS_BY_NAME["executor"].default
    kind = args[args.index("--executor") + 1] if "--executor" in args[:-1] else default
    timeouts = "--task-timeout" in args or any("mapreduce.task.timeout" in a for a in args)
    return start_executor(kind, input_paths, timeouts, preload)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this block (in the main thread), so processes started here inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
