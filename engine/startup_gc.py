"""The cyclic garbage collector, paused while a process starts up, and kept out of its exit.

Starting a SQL command imports sqlglot, mrjob and the engine (the workers' forkserver pyarrow
too): ~100k objects that live as long as the process, and next to no garbage among them. Yet the
collector runs a pass every 700 allocations, and every tenth pass scans the older objects too:
~35 ms of the ~0.2 s a command's imports take, ~40 ms of the forkserver's (best of 6, with the
collector on and off). At exit, the interpreter's last collection scans every object the command
still holds, only to free memory that the OS takes back anyway: ~45 ms of a 0.27 s query more.

1. ``pause()``: first thing in ``python -m engine`` and in the forkserver's preload
   (``engine.worker_preload``): no collection while the modules load and the query is planned.
2. ``resume()``: before a job's tasks run (``engine.driver.run_job``; the SQL session, before a
   job on one of mrjob's runners), after a SQL command's first statement (one may run no job),
   and in every process forked during the pause (``os.register_at_fork``): each worker the
   forkserver forks (the forkserver itself, which only forks, stays paused), a
   ``multiprocessing`` pool of the user's that shares it, a forkserver that a warm server's
   command forks of itself (``engine.warm_server``). What start-up made is frozen first
   (``gc.freeze``: moved to a generation that no pass scans, so a worker does not touch the
   pages it shares with the forkserver to collect them), then the collector is back on: a
   task's garbage is collected as ever. It undoes ``pause()``'s pause only; a process whose
   collector was off already keeps it off.
3. ``freeze_for_exit()``: at the end of a SQL command (which runs no code of the user's in this
   process) and of the forkserver (which only forks), the objects left are frozen, and the
   last collection has nothing to scan. Not after ``python -m engine run JOB.py``: a frozen
   cycle is never collected, so a file the job left open in one would not be flushed at exit.
"""

from __future__ import annotations

import gc
import os

#: Whether ``pause()`` turned the collector off (and ``resume()`` has not turned it on again).
_paused = False
#: Whether this process has ``resume`` run in every child it forks (registered once).
_at_fork = False


def pause() -> None:
    """Turn the cyclic collector off for start-up, if it is on; a process forked meanwhile
    resumes it at once (``os.register_at_fork``)."""
    global _paused, _at_fork
    if gc.isenabled():
        gc.disable()
        _paused = True
        if not _at_fork:
            os.register_at_fork(after_in_child=resume)
            _at_fork = True


def resume() -> None:
    """Freeze what start-up made and turn the collector on again, if ``pause()`` turned it off."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def freeze_for_exit() -> None:
    """Spare the interpreter's last collection the objects this process still holds."""
    gc.freeze()
