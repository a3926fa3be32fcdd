"""The environment of a task: the variables Hadoop Streaming sets for it, its working
directory and ``sys.path``, and each substep's own step variables.

A reduce task also runs the next step's mapper, and the two run interleaved (the
reducer's output feeds the mapper lazily); ``in_environment`` gives each substep its
own step's jobconf around each of its records.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from mrjob.compat import translate_jobconf_for_all_versions

from engine.plan import JobPlan
from engine.splits import InputSplit

if TYPE_CHECKING:
    from engine.tasks import Task


#: The task's share of ``--memory-budget`` in bytes, for a twin that sizes what it holds by it.
TASK_BUDGET_VAR = "ENGINE_TASK_MEMORY_BUDGET"


def task_environment(plan: JobPlan, task: Task, attempt: int, job_id: str) -> dict[str, str]:
    """Environment variables Hadoop sets for a task (jobconf names with ``.`` → ``_``).

    They are those of the task's first substep; a later substep of another step (a
    reduce task running the next step's mapper) sees its own step's through
    ``step_environment_change``.
    """
    is_map = task.wave.reduce_step is None
    kind = "m" if is_map else "r"
    jobconf = {
        "mapreduce.job.id": job_id,
        "mapreduce.task.id": f"task_{job_id}_{kind}_{task.index:06d}",
        "mapreduce.task.attempt.id": f"attempt_{job_id}_{kind}_{task.index:06d}_{attempt - 1}",
        "mapreduce.task.ismap": str(is_map).lower(),
        "mapreduce.task.partition": str(task.index),
        "mapreduce.job.local.dir": plan.working_dir,
    }
    env = dict(plan.env)
    env.update(step_environment(plan, first_step(task)))
    env.update(jobconf_environment(jobconf))
    env[TASK_BUDGET_VAR] = str(plan.task_memory_budget)
    split = getattr(task, "split", None)  # a MapTask's
    if split is not None:
        env.update(input_environment(split.parts[0] if split.parts else split))
    return env


def input_environment(split: InputSplit) -> dict[str, str]:
    """``mapreduce.map.input.file``/``.start``/``.length`` of *split*, in every spelling."""
    return jobconf_environment(
        {
            "mapreduce.map.input.file": split.input_uri,
            "mapreduce.map.input.start": str(split.start),
            "mapreduce.map.input.length": str(split.length),
        }
    )


def jobconf_environment(jobconf: Mapping[str, str]) -> dict[str, str]:
    """Hadoop's task variables for *jobconf*: each name in every Hadoop version's
    spelling, with ``.`` → ``_`` (what ``jobconf_from_env`` reads)."""
    return {
        variant.replace(".", "_"): value
        for name, value in jobconf.items()
        for variant in translate_jobconf_for_all_versions(name)
    }


def first_step(task: Task) -> int:
    """The step of the task's first substep (its reducer, else its first mapper)."""
    wave = task.wave
    return wave.reduce_step if wave.reduce_step is not None else wave.map_steps[0]


def step_environment(plan: JobPlan, step: int) -> dict[str, str]:
    """The variables that belong to *step*: its own jobconf and its output directory."""
    env = {name.replace(".", "_"): value for name, value in plan.steps[step].jobconf}
    if plan.output_dir or plan.scratch_dir:
        last = step == len(plan.steps) - 1
        output = plan.output_dir if last else os.path.join(plan.scratch_dir, f"step-{step + 1}")
        env.update(jobconf_environment({"mapreduce.task.output.dir": output}))
    return env


def step_environment_change(plan: JobPlan, task: Task, step: int) -> dict[str, str | None]:
    """What a substep of *step* must set (``None``: unset) to see its own step's variables.

    Empty when every step of the task agrees (the common case: no per-step jobconf), so
    nothing is wrapped. Otherwise every substep gets the full assignment of the names in
    play, since an upstream substep runs inside its downstream one's ``next()``.
    """
    wave = task.wave
    steps = ([wave.reduce_step] if wave.reduce_step is not None else []) + list(wave.map_steps)
    job_env = dict(plan.env)
    envs = {s: {**job_env, **step_environment(plan, s)} for s in steps}
    names = set().union(*envs.values()) if envs else set()
    differing = {n for n in names if len({env.get(n) for env in envs.values()}) > 1}
    if not differing:
        return {}
    target = envs.get(step, {**job_env, **step_environment(plan, step)})
    return {name: target.get(name) for name in differing}


def in_environment(items: Iterator[Any], change: dict[str, str | None]) -> Iterator[Any]:
    """*items*, each produced with *change* applied to ``os.environ`` and undone after.

    Substeps of one task run interleaved (a reducer's output feeds the next step's mapper
    lazily), so each one's variables are set around every step of its generator, the
    way each Hadoop Streaming process has its own environment.
    """
    if not change:
        return items
    return _in_environment(items, change)


def _in_environment(items: Iterator[Any], change: dict[str, str | None]) -> Iterator[Any]:
    environ = os.environ
    while True:
        saved = {name: environ.get(name) for name in change}
        set_environment(change)
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            set_environment(saved)
        yield item


def set_environment(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def task_context(env: dict[str, str], working_dir: str, python_path: Iterable[str] = ()) -> Iterator[None]:
    """Set the task's environment, working directory and ``sys.path``; restore them afterwards."""
    saved_env = os.environ.copy()
    saved_cwd = os.getcwd()
    saved_path = list(sys.path)
    os.environ.update(env)
    sys.path[0:0] = [p for p in python_path if p not in sys.path]
    if working_dir:
        os.chdir(working_dir)
        sys.path.insert(0, working_dir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
