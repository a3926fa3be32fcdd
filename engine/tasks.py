"""Tasks and the one task runner: what a worker is asked to do, and ``run_task``.

A job is a chain of *waves* separated by shuffles. Wave 0 maps input splits; each later
wave has one task per partition of the previous shuffle, which reduces that partition and
then runs the following steps' mappers, so a multi-step job passes between steps through
sorted runs on local disk, never through an extra map-only pass.

``run_task`` does what every task shares — its directory, its environment (Hadoop's task
variables, working directory, ``sys.path``), its counters and timing — and hands the
work to the pipeline of the steps it runs, chosen when the job was planned
(``JobPlan.step_pipeline``, ``task_pipeline``):

    records   engine.records          the job's mrjob methods, a record at a time
    arrow     engine.arrow.pipeline   the job's vectorized twin, a batch at a time
    boundary  engine.arrow.boundary   a wave that reduces a step on one and maps the next on the other

Each pipeline has the same two entry points, ``map_task`` (a split into partitioned runs,
or an output part) and ``reduce_task`` (a partition's runs into the next step's runs, or
an output part), and returns a ``TaskOutput``. The pipelines are imported when a task
first runs: the driver imports this module for the task types and needs neither.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Mapping, Union

from engine.environment import task_context, task_environment
from engine.mrjob_bridge import Counters, TaskCounters
from engine.plan import JobPlan, Wave
from engine.splits import InputSplit

#: The module of each pipeline (``task_pipeline``).
PIPELINES = {
    "records": "engine.records",
    "arrow": "engine.arrow.pipeline",
    "boundary": "engine.arrow.boundary",
}


@dataclass(frozen=True)
class MapTask:
    """Map one input split (wave 0), into *num_partitions* runs (0: an output part)."""

    task_id: str
    wave: Wave
    index: int
    num_partitions: int
    split: InputSplit

    def describe(self) -> str:
        """Task id and input, for messages."""
        return f"task {self.task_id} (input {self.split.describe()})"


@dataclass(frozen=True)
class ReduceTask:
    """Reduce partition *index* of a step from its sorted *runs* (a later wave)."""

    task_id: str
    wave: Wave
    index: int
    num_partitions: int
    runs: tuple[str, ...] = ()

    def describe(self) -> str:
        """Task id and input, for messages."""
        return f"task {self.task_id} (partition {self.index} of step {self.wave.reduce_step})"


#: A unit of work handed to a worker.
Task = Union[MapTask, ReduceTask]


@dataclass(frozen=True)
class TaskCounts:
    """What one task (or a phase, summed) read, wrote and spilled."""

    records_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    spills: int = 0
    spilled_records: int = 0
    spilled_bytes: int = 0  # the sizes of the run files the spills wrote

    def __add__(self, other: TaskCounts) -> TaskCounts:
        return TaskCounts(
            self.records_in + other.records_in,
            self.records_out + other.records_out,
            self.bytes_out + other.bytes_out,
            self.spills + other.spills,
            self.spilled_records + other.spilled_records,
            self.spilled_bytes + other.spilled_bytes,
        )


@dataclass(frozen=True)
class TaskOutput:
    """What a pipeline wrote for a task: sorted runs by partition, or one output part."""

    counts: TaskCounts
    runs: Mapping[int, str] = field(default_factory=dict)
    run_bytes: Mapping[int, int] = field(default_factory=dict)
    output_file: str | None = None


@dataclass(frozen=True)
class TaskResult:
    """What a successful attempt produced; sent back to the driver, which commits it and
    keeps the committed copy (``dataclasses.replace``), never rewriting this one."""

    task_id: str
    attempt: int
    counts: TaskCounts = TaskCounts()
    runs: Mapping[int, str] = field(default_factory=dict)
    run_bytes: Mapping[int, int] = field(default_factory=dict)
    output_file: str | None = None
    counters: Mapping[int, Counters] = field(default_factory=dict)
    status: str | None = None
    seconds: float = 0.0
    #: the task process's peak resident memory so far, in bytes (a worker's: over the tasks it ran)
    peak_rss: int = 0


def run_task(plan: JobPlan, task: Task, attempt: int, attempt_dir: str, job_id: str) -> TaskResult:
    """Run one attempt of *task*, writing runs or the output part into *attempt_dir*."""
    started = time.perf_counter()
    os.makedirs(attempt_dir, exist_ok=True)
    counters = TaskCounters()
    pipeline = importlib.import_module(PIPELINES[task_pipeline(plan, task)])
    entry = pipeline.map_task if isinstance(task, MapTask) else pipeline.reduce_task
    with task_context(task_environment(plan, task, attempt, job_id), plan.working_dir, plan.python_path):
        output = entry(plan, task, attempt_dir, counters)
    return TaskResult(
        task.task_id,
        attempt,
        output.counts,
        output.runs,
        output.run_bytes,
        output.output_file,
        counters.by_step,
        counters.status,
        time.perf_counter() - started,
        peak_rss(),
    )


def task_pipeline(plan: JobPlan, task: Task) -> str:
    """The pipeline that runs *task* (``PIPELINES``): its steps', or ``boundary`` for a wave
    whose reduced step and mapped step run on different ones."""
    wave = task.wave
    if isinstance(task, MapTask) or wave.reduce_step is None:
        return plan.step_pipeline(0)
    reduced = plan.step_pipeline(wave.reduce_step)
    if wave.shuffle_step is None or plan.step_pipeline(wave.shuffle_step) == reduced:
        return reduced
    return "boundary"


def peak_rss() -> int:
    """This process's peak resident set size in bytes (``getrusage``; 0 where unavailable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB, macOS bytes
