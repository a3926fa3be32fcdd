"""The on-disk layout of a job, and Hadoop's commit protocol.

    <tmp>/<job-id>/                       scratch: removed when the job ends
        driver.json                       the driver's lock: a later run cleans up after
                                          a killed driver (engine.leftovers)
        attempts/<task>.attempt-<n>/      a map or shuffle-writing attempt:
            p00003.run / p00003.arrow       its sorted run for partition 3 (run_path)
            p00003-spill0001.run|.arrow     a spill, merged into the run (spill_path)
            sorted-00000.arrow ...          the Arrow reduce's sorted slices (slice_path)
        committed/<task>/                 the runs of the attempt that won (one rename)
    <tmp>/<job-id>-s3/                    S3 inputs staged, S3 output before its upload
    <output-parent>/.<name>.<job-id>.staging/    on the output's filesystem
        _temporary/<task>.attempt-<n>/    an attempt writing output: its part file
        _driver.json                      the driver's lock (engine.leftovers), removed last
        part-00000 ...                    committed parts (one rename each)
        _SUCCESS                          written last, then staging is renamed to <name>

A task attempt writes into its own directory; the driver commits the first attempt to
finish by renaming it into place, so a straggling or killed attempt can never mix into
the output. Parts are written on the output's filesystem (as Hadoop's FileOutputCommitter
writes under ``<output>/_temporary``), so that every commit is a ``rename`` even when the
scratch directory is on another filesystem (a tmpfs ``/tmp``, ``/dev/shm``). The job
commit writes ``_SUCCESS`` into staging and renames staging onto the output path, which
must not exist: a reader sees no output, or all of it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass
from typing import Sequence

from engine.errors import CommitError
from engine.leftovers import STAGING_LOCK

SUCCESS_MARKER = "_SUCCESS"
#: Attempts writing output parts, inside staging (Hadoop's ``_temporary``).
TEMPORARY_DIR = "_temporary"


@dataclass(frozen=True)
class JobDirs:
    """Where a job keeps its temporary, staged and final files."""

    job_id: str
    scratch: str
    staging: str
    output: str

    def attempt_dir(self, task_id: str, attempt: int) -> str:
        """Private directory of one task attempt."""
        return os.path.join(self.scratch, "attempts", f"{task_id}.attempt-{attempt}")

    def output_attempt_dir(self, task_id: str, attempt: int) -> str:
        """Private directory of an attempt that writes an output part: inside staging."""
        return os.path.join(self.staging, TEMPORARY_DIR, f"{task_id}.attempt-{attempt}")

    def committed_dir(self, task_id: str) -> str:
        """Where a task's committed runs live until the job ends."""
        return os.path.join(self.scratch, "committed", task_id)


def part_path(attempt_dir: str, partition: int) -> str:
    """The output part a task of *partition* writes in its attempt directory."""
    return os.path.join(attempt_dir, f"part-{partition:05d}")


def run_path(attempt_dir: str, partition: int, suffix: str = ".run") -> str:
    """An attempt's sorted run for *partition* (``.arrow`` on the Arrow pipeline)."""
    return os.path.join(attempt_dir, f"p{partition:05d}{suffix}")


def spill_path(attempt_dir: str, partition: int, spill: int, suffix: str = ".run") -> str:
    """One spill of an attempt's map output for *partition*, merged into its run."""
    return os.path.join(attempt_dir, f"p{partition:05d}-spill{spill:04d}{suffix}")


def slice_path(attempt_dir: str, index: int, merge_pass: int | None = None) -> str:
    """A sorted slice of the Arrow reduce's output (or of a merge pass), before the part."""
    stem = "sorted" if merge_pass is None else f"sorted-pass{merge_pass}"
    return os.path.join(attempt_dir, f"{stem}-{index:05d}.arrow")


def check_output_dir(output_dir: str, input_files: list[str], input_dirs: Sequence[str] = ()) -> None:
    """Refuse an output path that exists, would contain an input, or would sit inside an
    input directory (a later run over that directory would read this output back)."""
    output = os.path.abspath(output_dir)
    if os.path.lexists(output):
        raise CommitError(
            f"output directory {output_dir!r} already exists; choose a new path or remove it "
            "(the engine never overwrites output)"
        )
    for path in input_files:
        parent = os.path.dirname(os.path.abspath(path))
        if parent == output or parent.startswith(output + os.sep):
            raise CommitError(f"output directory {output_dir!r} would contain the input {path!r}")
    where = os.path.realpath(os.path.dirname(output))
    for directory in input_dirs:
        inside = os.path.realpath(directory)
        if where == inside or where.startswith(inside.rstrip(os.sep) + os.sep):
            raise CommitError(
                f"output directory {output_dir!r} is inside the input directory {directory!r}; "
                "a later run would read the output as input: choose a path outside it"
            )
    parent = os.path.dirname(output)
    while parent and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise CommitError(
            f"output directory {output_dir!r} cannot be created: {parent!r} is a file, not a "
            "directory; choose another output path"
        )


def prepare_job_dirs(output_dir: str, scratch_root: str, job_id: str) -> JobDirs:
    """Create scratch and staging directories for a job writing to *output_dir*."""
    output = os.path.abspath(output_dir)
    parent = os.path.dirname(output)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise CommitError(f"cannot create the output's parent {parent!r}: {exc.strerror}") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommitError(f"output directory {output_dir!r} is not writable: check {parent!r}'s permissions")
    dirs = JobDirs(
        job_id=job_id,
        scratch=os.path.join(os.path.abspath(scratch_root), job_id),
        staging=os.path.join(parent, f".{os.path.basename(output)}.{job_id}.staging"),
        output=output,
    )
    for path, what in ((dirs.scratch, "scratch (--local-tmp-dir)"), (dirs.staging, "staging")):
        try:
            os.makedirs(path)
        except OSError as exc:
            abort_job(dirs)
            raise CommitError(f"cannot create the job's {what} directory {path!r}: {exc.strerror}") from exc
    return dirs


def commit_task_dir(attempt_dir: str, committed_dir: str) -> None:
    """Make an attempt's runs the task's committed runs (one rename)."""
    os.makedirs(os.path.dirname(committed_dir), exist_ok=True)
    os.rename(attempt_dir, committed_dir)


def commit_task_output(attempt_file: str, dirs: JobDirs) -> str:
    """Move an attempt's part file into staging; returns its new path."""
    final = os.path.join(dirs.staging, os.path.basename(attempt_file))
    os.rename(attempt_file, final)
    return final


def commit_job(dirs: JobDirs) -> None:
    """Write ``_SUCCESS`` and rename staging onto the output path, atomically."""
    shutil.rmtree(os.path.join(dirs.staging, TEMPORARY_DIR), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(dirs.staging, STAGING_LOCK))
    marker = os.path.join(dirs.staging, SUCCESS_MARKER)
    try:
        with open(marker, "wb") as f:
            os.fsync(f.fileno())
    except OSError as exc:
        raise CommitError(f"cannot write {marker!r}: {exc.strerror}; no output was committed") from exc
    try:
        os.rename(dirs.staging, dirs.output)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            raise CommitError(
                f"output directory {dirs.output!r} appeared while the job ran (another job "
                "wrote it first); this job's output was discarded"
            ) from exc
        raise CommitError(f"cannot commit output to {dirs.output!r}: {exc.strerror}") from exc
    _fsync_dir(os.path.dirname(dirs.output))


def abort_job(dirs: JobDirs) -> None:
    """Remove everything the job wrote; the output path is left untouched."""
    shutil.rmtree(dirs.staging, ignore_errors=True)
    cleanup_scratch(dirs)


def cleanup_scratch(dirs: JobDirs) -> None:
    """Remove the job's temporary files."""
    shutil.rmtree(dirs.scratch, ignore_errors=True)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
