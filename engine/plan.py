"""Turn an mrjob job (its step descriptions and runner options) into a validated ``JobPlan``.

Everything the engine cannot run is refused here, before any worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from engine.errors import JobDefinitionError
from engine.options import DEFAULT_MEMORY_BUDGET as DEFAULT_MEMORY_BUDGET  # re-exported
from engine.options import defaults, resolve_one
from engine.options import parse_size as parse_size  # re-exported

#: The engine options' defaults (``engine.options``), as ``JobPlan``'s.
_DEFAULTS = defaults()
#: Keys of the reducer-count jobconf in Hadoop 2+ and Hadoop 1.
REDUCES_JOBCONF = ("mapreduce.job.reduces", "mapred.reduce.tasks")


@dataclass(frozen=True)
class StepPlan:
    """What one mrjob streaming step runs; each flag says a Python substep exists."""

    index: int
    has_mapper: bool
    mapper_raw: bool
    has_combiner: bool
    has_reducer: bool
    num_reducers: int = 1
    jobconf: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobPlan:
    """Everything a worker needs to run any task of a job; crosses process boundaries."""

    job_script: str
    job_class: str
    job_args: tuple[str, ...]
    steps: tuple[StepPlan, ...]
    workers: int
    memory_budget: int
    max_attempts: int = _DEFAULTS["max_attempts"]
    task_timeout: float | None = _DEFAULTS["task_timeout"]
    sort_values: bool = False
    split_size: int | None = _DEFAULTS["split_size"]
    precombine: bool = _DEFAULTS["precombine"]
    #: Input lines the input protocol cannot decode that the job may skip (0: none).
    skip_bad_records: int = _DEFAULTS["skip_bad_records"]
    vectorized: bool = False
    #: Steps of a vectorized job that run their record methods: its twin has none for them
    #: (``None`` in ``vector_steps()``); a wave where the two meet is ``engine.arrow.boundary``'s.
    record_steps: tuple[int, ...] = ()
    working_dir: str = ""
    env: tuple[tuple[str, str], ...] = field(default=())
    #: Where the last step's output goes (the user's path or URI) and the job's scratch
    #: directory: tasks see them as ``mapreduce.task.output.dir`` (set by the driver).
    output_dir: str = ""
    scratch_dir: str = ""
    #: ``--py-files`` as tasks put them on ``sys.path`` (after the working directory).
    python_path: tuple[str, ...] = ()

    @property
    def pipeline(self) -> Literal["records", "arrow", "mixed"]:
        """How tasks run the job: its mrjob methods (``records``), its twin (``arrow``), or its
        twin with some steps left to their mrjob methods (``mixed``, ``record_steps``)."""
        if not self.vectorized:
            return "records"
        return "mixed" if self.record_steps else "arrow"

    def step_pipeline(self, step: int) -> Literal["records", "arrow"]:
        """How tasks run *step*: on its mrjob methods or on its twin."""
        return "arrow" if self.vectorized and step not in self.record_steps else "records"

    @property
    def task_memory_budget(self) -> int:
        """The shuffle buffer of one task: the budget shared by the workers."""
        return max(1, self.memory_budget // max(1, self.workers))


@dataclass(frozen=True)
class Wave:
    """One phase of the job: optionally a reducer, then mappers, then a shuffle or output."""

    index: int
    reduce_step: int | None
    map_steps: tuple[int, ...]
    shuffle_step: int | None

    @property
    def name(self) -> str:
        """``map``, ``reduce`` or ``reduce+map`` for progress lines."""
        if self.reduce_step is None:
            return "map"
        return "reduce+map" if self.map_steps else "reduce"


def plan_waves(plan: JobPlan) -> tuple[Wave, ...]:
    """Group the job's steps into waves, one shuffle between each pair."""
    waves: list[Wave] = []
    reduce_step: int | None = None
    map_steps: list[int] = []
    for step in plan.steps:
        map_steps.append(step.index)
        if step.has_reducer:
            waves.append(Wave(len(waves), reduce_step, tuple(map_steps), step.index))
            reduce_step, map_steps = step.index, []
    waves.append(Wave(len(waves), reduce_step, tuple(map_steps), None))
    return tuple(waves)


def step_plans(
    steps_desc: Sequence[Mapping[str, Any]],
    jobconfs: Sequence[Mapping[str, Any]] = (),
    default_reducers: int = 1,
) -> tuple[StepPlan, ...]:
    """Validate mrjob step descriptions; refuse what the engine does not run.

    *jobconfs* are each step's effective jobconf (they set the reducer count).
    """
    plans = []
    count = len(steps_desc)
    for index, desc in enumerate(steps_desc):
        kind = desc.get("type")
        where = f"step {index + 1} of {count}"
        if kind != "streaming":
            runners = [f"-r {name}" for name in OTHER_STEP_RUNNERS.get(str(kind), ())]
            on = ", ".join(runners[:-1]) + f" or {runners[-1]}" if runners else "other runners"
            raise _refusal(
                f"{where} is a {kind!r} step; the engine runs only Python mapper/combiner/reducer "
                f"steps. mrjob runs {kind} steps on {on}",
                runners[0] if runners else "",
            )
        for substep in ("mapper", "combiner", "reducer"):
            sub = desc.get(substep)
            if sub is None:
                continue
            if sub.get("type") != "script":
                raise _refusal(
                    f"{where}'s {substep} is a {sub.get('type')!r} substep ({substep}_cmd, a shell "
                    "command); the engine runs only Python methods. mrjob's local runner runs shell "
                    "commands",
                    "-r local",
                )
            if sub.get("pre_filter"):
                raise _refusal(
                    f"{where}'s {substep} has a {substep}_pre_filter (a shell command); the engine "
                    "does not run shell commands. mrjob's local runner does",
                    "-r local",
                )
        jobconf = tuple(sorted((str(k), str(v)) for k, v in (desc.get("jobconf") or {}).items()))
        plans.append(
            StepPlan(
                index=index,
                has_mapper="mapper" in desc,
                mapper_raw=bool(desc.get("input_manifest")),
                has_combiner="combiner" in desc,
                has_reducer="reducer" in desc,
                num_reducers=num_reducers_from(
                    jobconfs[index] if index < len(jobconfs) else {}, default_reducers
                ),
                jobconf=jobconf,
            )
        )
    if not plans:
        raise JobDefinitionError("the job has no steps: define mapper/reducer or steps()")
    for plan in plans[1:]:
        if plan.mapper_raw:
            raise JobDefinitionError(
                f"step {plan.index + 1} uses mapper_raw, which mrjob allows only in the first step"
            )
    return tuple(plans)


#: Where mrjob 0.7.4 runs the step types the engine refuses (its runners' ``_STEP_TYPES``).
#: (``inline`` and ``local`` run Spark steps on a local pyspark.)
OTHER_STEP_RUNNERS = {
    "jar": ("hadoop", "emr", "dataproc"),
    "spark": ("spark", "emr", "hadoop", "local", "inline"),
    "spark_jar": ("spark", "emr", "hadoop", "local"),
    "spark_script": ("spark", "emr", "hadoop", "local"),
}
#: Stands for the job's command line in refusals; ``engine.job`` and ``python -m engine``
#: replace it by the exact command (``JobDefinitionError.rerun_with`` holds the runner).
RERUN_PLACEHOLDER = "python JOB.py {runner} [options] INPUT..."


def _refusal(message: str, runner: str) -> JobDefinitionError:
    """A refusal ending with the command that runs the job on *runner* (``-r local``)."""
    if not runner:
        return JobDefinitionError(message)
    command = RERUN_PLACEHOLDER.format(runner=runner)
    error = JobDefinitionError(f"{message}: {command}")
    error.rerun_with = runner  # type: ignore[attr-defined]
    return error


def num_reducers_from(jobconf: Mapping[str, Any], default: int) -> int:
    """The reducer count from ``mapreduce.job.reduces`` (or its Hadoop 1 name)."""
    for name in REDUCES_JOBCONF:
        if name in jobconf and jobconf[name] is not None:
            try:
                value = int(jobconf[name])
            except ValueError:
                raise JobDefinitionError(
                    f"--jobconf {name}={jobconf[name]!r} is not a whole number"
                ) from None
            if value < 1:
                raise JobDefinitionError(f"--jobconf {name}={value}: the engine needs at least one reducer")
            return value
    return default


def validate_workers(num_cores: int | None) -> int:
    """Worker processes to start: ``--num-cores`` or every core (``engine.options``)."""
    return resolve_one("num_cores", num_cores)


def has_vector_twin(job_class: type) -> bool:
    """Whether the job class offers ``vector_steps()`` (its Arrow twin, ``engine.arrow``).

    Here rather than in ``engine.arrow`` so that planning does not import pyarrow and
    NumPy into the driver, which needs neither (~0.1 s of start-up and of exit).
    """
    return callable(getattr(job_class, "vector_steps", None))
