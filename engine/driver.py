"""``run_job()``: the one orchestrator of a job, wave by wave, then the commit."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
import uuid
from dataclasses import replace
from typing import Iterator, Mapping, Sequence

from engine import commit, leftovers, startup_gc
from engine.errors import InputError, JobInterrupted
from engine.executor import Executor, make_executor
from engine.formats import check_skipped
from engine.history import History
from engine.mrjob_bridge import Counters
from engine.plan import JobPlan, Wave, plan_waves
from engine.progress import JobStats, PhaseStats, ProgressBar, plural
from engine.s3 import is_s3
from engine.splits import (
    InputSplit,
    check_unchanged,
    file_stamps,
    input_directories,
    list_input_files,
    make_splits,
)
from engine.tasks import MapTask, ReduceTask, Task, TaskResult

log = logging.getLogger(__name__)


def new_job_id() -> str:
    """A unique, sortable job id like Hadoop's ``job_<time>_<n>``."""
    return time.strftime("job_%Y%m%d%H%M%S_") + uuid.uuid4().hex[:8]


def run_job(
    plan: JobPlan,
    input_paths: Sequence[str],
    output_dir: str,
    scratch_root: str,
    executor: str = "processes",
    job_id: str | None = None,
    progress: ProgressBar | None = None,
    also_owned: Sequence[str] = (),
    history: History | None = None,
    write_history: bool = False,
    report_path: str | None = None,
) -> JobStats:
    """Run *plan* over *input_paths* and commit Hadoop-style output to *output_dir*.

    *also_owned* are directories of the caller's that a later run may remove should this
    driver be killed outright (see ``engine.leftovers``). *history* (``engine.history``) is
    told of every attempt and phase; with *write_history* it is committed with the output as
    ``_logs/history.json`` and ``_logs/report.html``; *report_path* gets the report page too,
    also of a failed job.

    Raises ``InputError``/``CommitError``/``TaskFailedError``/``JobInterrupted``; on any
    failure the output path is left as it was and temporary files are removed.
    """
    startup_gc.resume()  # the tasks' garbage is collected (engine.startup_gc)
    job_id = job_id or new_job_id()
    logs = _Logs(history, write_history, report_path, output_dir)
    if history is not None:
        history.job["id"] = job_id
    try:
        if not any(is_s3(p) for p in (*input_paths, output_dir)):
            return _run_local_job(
                plan, input_paths, output_dir, scratch_root, executor, job_id, progress, None, also_owned,
                logs,
            )
        from engine.s3 import S3Job

        remote = S3Job(os.path.join(os.path.abspath(scratch_root), f"{job_id}-s3"), job_id)
        try:
            if is_s3(output_dir):
                remote.check_output(output_dir)
                local_output = os.path.join(remote.scratch, "output")
            else:
                local_output = output_dir
            local_inputs, uris = remote.stage_inputs(input_paths)
            stats = _run_local_job(
                replace(plan, output_dir=output_dir),
                local_inputs,
                local_output,
                scratch_root,
                executor,
                job_id,
                progress,
                uris,
                (*also_owned, remote.scratch),
                logs,
            )
            if is_s3(output_dir):
                remote.publish(local_output, output_dir)
                stats.output_dir = output_dir
            return stats
        finally:
            shutil.rmtree(remote.scratch, ignore_errors=True)
    except BaseException as exc:  # a failed job's report, where --report asked for it
        logs.failed(exc)
        raise


def _run_local_job(
    plan: JobPlan,
    input_paths: Sequence[str],
    output_dir: str,
    scratch_root: str,
    executor: str,
    job_id: str,
    progress: ProgressBar | None,
    uris: Mapping[str, str] | None,
    also_owned: Sequence[str],
    logs: _Logs,
) -> JobStats:
    """``run_job`` on local paths; *uris* maps staged local copies to their S3 URIs."""
    started = time.perf_counter()
    files = list_input_files(input_paths)
    commit.check_output_dir(output_dir, files, input_directories(input_paths))
    splits = make_splits(files, plan.workers, plan.split_size, whole_files=plan.steps[0].mapper_raw)
    if uris:
        splits = [_with_uris(s, uris) for s in splits]
    if not splits:
        raise InputError("the job has no input files: give at least one path")
    stamps = file_stamps(splits)  # checked again before the commit: a changed input fails the job
    waves = plan_waves(plan)
    progress = progress or ProgressBar()
    leftovers.sweep(leftovers.default_directories(output_dir, scratch_root))
    dirs = commit.prepare_job_dirs(output_dir, scratch_root, job_id)
    leftovers.write_locks(job_id, dirs.scratch, dirs.staging, also_owned)
    plan = replace(plan, output_dir=plan.output_dir or dirs.output, scratch_dir=dirs.scratch)
    stats = JobStats(job_id, dirs.output, [Counters() for _ in plan.steps])
    pool: Executor | None = None
    try:
        with _interrupts_raise():
            pool = make_executor(executor, plan, job_id)
            pool.history = logs.history
            log.info(
                "job %s: %s, %s, %s, %s",
                job_id,
                plural(len(plan.steps), "step"),
                plural(len(files), "input file"),
                plural(len(splits), "split"),
                _IN_THIS_PROCESS.get(executor) or plural(plan.workers, "worker process", "worker processes"),
            )
            runs: list[list[str]] = []
            for wave in waves:
                tasks = _wave_tasks(plan, wave, splits, runs)
                results = _run_wave(pool, dirs, wave, tasks, stats, progress, logs.history)
                if wave.reduce_step is None:
                    check_skipped(stats.counters, plan.skip_bad_records)
                previous = runs
                runs = [[] for _ in range(_partitions(plan, wave))]
                for result in results:
                    for partition, path in sorted(result.runs.items()):
                        runs[partition].append(path)
                _drop_runs(previous)
            pool.close()
            for path, planned in stamps.items():
                check_unchanged(path, planned)
            logs.before_commit(stats, dirs.staging)
            commit.commit_job(dirs)
            logs.committed()
    except BaseException:
        if pool is not None:
            pool.close()
        commit.abort_job(dirs)
        raise
    commit.cleanup_scratch(dirs)
    stats.seconds = time.perf_counter() - started
    log.info("%s", stats.summary())
    return stats


#: Where the driver's first line says the tasks run, for the executors that use this process.
_IN_THIS_PROCESS = {
    "serial": "in this process (--executor serial)",
    "auto": "in this process while its tasks are quick (--executor auto, a small input)",
}


def _with_uris(split: InputSplit, uris: Mapping[str, str]) -> InputSplit:
    """*split* (and its parts) naming the S3 objects its staged local files came from."""
    parts = tuple(_with_uris(part, uris) for part in split.parts)
    return replace(split, uri=uris.get(split.path, ""), parts=parts)


def _partitions(plan: JobPlan, wave: Wave) -> int:
    """Reducers of the shuffle that ends *wave* (0 when it writes output)."""
    return plan.steps[wave.shuffle_step].num_reducers if wave.shuffle_step is not None else 0


def _wave_tasks(plan: JobPlan, wave: Wave, splits: list, runs: list[list[str]]) -> list[Task]:
    partitions = _partitions(plan, wave)
    if wave.reduce_step is None:
        step = wave.map_steps[0]
        return [
            MapTask(f"s{step}-m-{i:05d}", wave, i, partitions, split) for i, split in enumerate(splits)
        ]
    return [
        ReduceTask(f"s{wave.reduce_step}-r-{p:05d}", wave, p, partitions, tuple(paths))
        for p, paths in enumerate(runs)
    ]


def _run_wave(
    pool: Executor,
    dirs: commit.JobDirs,
    wave: Wave,
    tasks: list[Task],
    stats: JobStats,
    progress: ProgressBar,
    history: History | None = None,
) -> list[TaskResult]:
    phase = PhaseStats(_phase_name(wave), tasks=len(tasks))
    if history is not None:
        history.phase = phase.name
    log.info("%s", _wave_start_line(wave, len(stats.counters), len(tasks)))
    started = time.perf_counter()
    progress.start(phase.name, len(tasks))
    done = 0

    def on_done(result: TaskResult) -> TaskResult:
        """Commit a task's first successful attempt; the committed result is kept."""
        nonlocal done
        if result.output_file is not None:
            committed = replace(result, output_file=commit.commit_task_output(result.output_file, dirs))
            shutil.rmtree(dirs.output_attempt_dir(result.task_id, result.attempt), ignore_errors=True)
        else:
            directory = dirs.committed_dir(result.task_id)
            commit.commit_task_dir(dirs.attempt_dir(result.task_id, result.attempt), directory)
            runs = {p: os.path.join(directory, os.path.basename(path)) for p, path in result.runs.items()}
            committed = replace(result, runs=runs)
        for step, groups in result.counters.items():
            stats.counters[step].merge(groups)
        log.debug(
            "task %s attempt %d: %.2f s, done at %.2f s",
            result.task_id,
            result.attempt,
            result.seconds,
            time.perf_counter() - started,
        )
        if result.status:
            log.debug("task %s status: %s", result.task_id, result.status)
        phase.counts += result.counts
        phase.shuffled_bytes += sum(result.run_bytes.values())
        done += 1
        progress.update(done, phase.records_in)
        return committed

    # An attempt writing output works on the output's filesystem, so its commit is a rename.
    attempt_dir = dirs.attempt_dir if wave.shuffle_step is not None else dirs.output_attempt_dir
    results = pool.run(tasks, lambda task, attempt: attempt_dir(task.task_id, attempt), on_done)
    progress.finish()
    phase.seconds = time.perf_counter() - started
    stats.phases.append(phase)
    if history is not None:
        history.add_phase(phase, tasks, results, wave.reduce_step)
    log.debug(
        "%s: %d tasks, %d records in, %d out, %.2f s",
        phase.name,
        phase.tasks,
        phase.records_in,
        phase.records_out,
        phase.seconds,
    )
    return results


def _phase_name(wave: Wave) -> str:
    """A wave in mrjob's words, steps numbered from 1: ``step 1 map``,
    ``step 1 reduce + step 2 map``, ``step 2 reduce``."""
    parts = []
    if wave.reduce_step is not None:
        parts.append(f"step {wave.reduce_step + 1} reduce")
    if wave.map_steps:
        first, last = wave.map_steps[0] + 1, wave.map_steps[-1] + 1
        parts.append(f"step {first} map" if first == last else f"steps {first}-{last} map")
    return " + ".join(parts)


def _wave_start_line(wave: Wave, steps: int, tasks: int) -> str:
    """``Running step 1 of 2: reduce, then step 2's map, 4 tasks...`` (as mrjob's
    ``Running step 1 of 2...``)."""
    if wave.reduce_step is not None:
        own, what, later = wave.reduce_step, ["reduce"], wave.map_steps
    else:
        own, what, later = wave.map_steps[0], ["map"], wave.map_steps[1:]
    what += [f"then step {m + 1}'s map" for m in later]
    return f"Running step {own + 1} of {steps}: {', '.join(what)}, {plural(tasks, 'task')}..."


def _drop_runs(runs: list[list[str]]) -> None:
    """Free the disk of a wave's inputs once the next wave has committed."""
    for paths in runs:
        for path in paths:
            with contextlib.suppress(OSError):
                os.remove(path)


@contextlib.contextmanager
def _interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM, SIGHUP (the terminal closed) and Ctrl-C into ``JobInterrupted`` so
    cleanup runs and exit codes are right (143, 129, 130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        raise JobInterrupted(signum)

    caught = [signal.SIGTERM]
    # Under nohup (SIGHUP ignored) the job is meant to outlive the terminal: leave it so.
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        caught.append(signal.SIGHUP)
    previous = {signum: signal.signal(signum, on_signal) for signum in caught}
    try:
        yield
    except KeyboardInterrupt:
        raise JobInterrupted(signal.SIGINT) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Logs:
    """What the driver writes of a run's history (``engine.history``), and where."""

    def __init__(
        self, history: History | None, write: bool, report_path: str | None, output_dir: str
    ) -> None:
        self.history = history
        self.write = write and history is not None
        self.report_path = report_path if history is not None else None
        self.output_dir = output_dir
        self.done = False

    def before_commit(self, stats: JobStats, staging: str) -> None:
        """The logs go into the staging directory, so that the job's commit commits them with the parts."""
        if self.history is None:
            return
        from engine.history import write_logs

        self.history.counters = [dict(c) for c in stats.counters]
        self.history.finish("succeeded", output_dir=self.output_dir)
        if self.write:
            write_logs(self.history, staging)

    def committed(self) -> None:
        """After the commit: ``--report FILE`` (a commit that fails gets the failed job's report)."""
        if self.history is not None and self.report_path:
            from engine.report import write_report

            write_report(self.history.to_json(), self.report_path)
        self.done = True

    def failed(self, exc: BaseException) -> None:
        """A failed job leaves no output; its report goes to ``--report FILE`` if given."""
        if self.history is None or self.done or not self.report_path:
            return
        from engine.report import write_report

        self.history.finish("failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        try:
            write_report(self.history.to_json(), self.report_path)
        except Exception as report_error:  # the job's own error is what matters
            log.warning("could not write the report %s: %s", self.report_path, report_error)
        else:
            log.error("the report of the failed job is %s", self.report_path)
