"""Find and remove what a driver killed outright (``kill -9``, a lost machine) left behind.

A driver that is told to stop cleans up after itself; one that is killed cannot. So each
running job leaves a note of what it owns — a *lock* holding the driver's pid, its start
time and host, and the paths it would remove — in two places a later run looks at:

    <scratch>/<job-id>/driver.json                          beside the job's scratch files
    <output-parent>/.<name>.<job-id>.staging/_driver.json   inside the staging directory

A later job sweeps the output's parent directory and the temporary directory for such
locks, and removes the paths of every lock whose driver is gone (as Hadoop cleans a dead
job's staging area), saying what it removed; ``python -m engine clean`` does the same on
demand. A lock of another host is never acted on (a shared filesystem): its driver may be
alive there. The start time guards against a reused pid.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

SCRATCH_LOCK = "driver.json"
STAGING_LOCK = "_driver.json"


@dataclass(frozen=True)
class Lock:
    """What one driver owns, as written in its lock file."""

    path: str
    job_id: str
    pid: int
    start_time: str
    host: str
    owned: tuple[str, ...]

    def driver_alive(self) -> bool:
        """True unless the driver is surely gone (a lock of another host counts as alive)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's live process
        return process_start_time(self.pid) == self.start_time


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, from the state (field 3)
    on; ``None`` without it (not Linux, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else ``""``."""
    fields = proc_stat(pid)
    return fields[19].decode() if fields else ""


def write_locks(job_id: str, scratch: str, staging: str, extra_owned: Sequence[str] = ()) -> None:
    """Record this process as the owner of *scratch*, *staging* and *extra_owned*."""
    owned = [staging, scratch, *extra_owned]
    body = json.dumps(
        {
            "job_id": job_id,
            "pid": os.getpid(),
            "start_time": process_start_time(os.getpid()),
            "host": socket.gethostname(),
            "owned": owned,
        }
    )
    for path in (os.path.join(scratch, SCRATCH_LOCK), os.path.join(staging, STAGING_LOCK)):
        with open(path, "w") as f:
            f.write(body)


def read_lock(path: str) -> Lock | None:
    """The lock at *path*, or ``None`` if it is unreadable (being written, or not ours)."""
    try:
        with open(path) as f:
            data = json.load(f)
        return Lock(
            path,
            str(data["job_id"]),
            int(data["pid"]),
            str(data["start_time"]),
            str(data["host"]),
            tuple(str(p) for p in data["owned"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_locks(directories: Iterable[str]) -> list[Lock]:
    """Locks in *directories*: staging dirs in them, and job scratch dirs one level down."""
    found: dict[str, Lock] = {}
    for directory in directories:
        patterns = (
            os.path.join(glob.escape(directory), ".*.staging", STAGING_LOCK),
            os.path.join(glob.escape(directory), "job_*", SCRATCH_LOCK),
            os.path.join(glob.escape(directory), "*", "job_*", SCRATCH_LOCK),
        )
        for pattern in patterns:
            for path in glob.glob(pattern):
                lock = read_lock(path)
                if lock is not None:
                    found.setdefault(lock.job_id, lock)
    return list(found.values())


def sweep(directories: Iterable[str], dry_run: bool = False) -> list[str]:
    """Remove what dead drivers own under *directories*; returns the paths removed."""
    removed = []
    for lock in find_locks(directories):
        if lock.driver_alive():
            continue
        for path in lock.owned:
            if not os.path.lexists(path) or not _may_remove(lock, path):
                continue
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        if lock.owned:
            log.warning(
                "%s the leftovers of job %s, whose driver (pid %d) is gone: %s",
                "would remove" if dry_run else "removed",
                lock.job_id,
                lock.pid,
                ", ".join(p for p in lock.owned if p in removed),
            )
    return removed


def _may_remove(lock: Lock, path: str) -> bool:
    """Only what a driver could have made: a path named after its job (scratch, staging,
    S3 scratch) or the directory holding its scratch (mrjob's per-run temporary
    directory). A damaged or foreign lock can never send ``rmtree`` elsewhere."""
    path = os.path.abspath(path)
    if lock.job_id and lock.job_id.startswith("job_") and lock.job_id in os.path.basename(path):
        return True
    if path in {os.path.abspath(p) for p in ("/", tempfile.gettempdir(), os.path.expanduser("~"))}:
        return False
    scratch = [p for p in lock.owned if os.path.basename(p) == lock.job_id]
    return bool(scratch) and path == os.path.dirname(os.path.abspath(scratch[0]))


def default_directories(output_dir: str = "", scratch_root: str = "") -> list[str]:
    """Where a job's leftovers would be: the output's parent, the scratch root's parent
    (mrjob makes a temporary directory per run there) and the temporary directory."""
    found = [tempfile.gettempdir()]
    if scratch_root:
        found += [os.path.abspath(scratch_root), os.path.dirname(os.path.abspath(scratch_root))]
    if output_dir:
        found.append(os.path.dirname(os.path.abspath(output_dir)))
    return list(dict.fromkeys(found))
