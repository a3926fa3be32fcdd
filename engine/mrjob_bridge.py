"""The one module that knows how mrjob runs a job: loading a job file, a fresh job per
substep as Hadoop Streaming starts one, and capturing its counters and status.

Everything else in the engine asks this module for a job instance; protocol access
(including mrjob's private ``_pick_protocol_instances``) stays in ``engine.precombine``,
whose encoders this module does not need.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from typing import Any, Callable, Iterable

from engine.errors import JobDefinitionError
from engine.plan import JobPlan

Counters = dict[str, dict[str, int]]


def merge_counters(into: Counters, other: Counters) -> None:
    """Add *other*'s ``{group: {name: value}}`` counters into *into*, as mrjob sums tasks'."""
    for group, names in other.items():
        target = into.setdefault(group, {})
        for name, value in names.items():
            target[name] = target.get(name, 0) + value


_JOB_CLASSES: dict[tuple[str, str], type] = {}


def load_job_module(script: str) -> Any:
    """Import a job's file under a private module name, so its ``__main__`` guard does
    not fire; the script's directory goes on ``sys.path`` as Python does for a script."""
    digest = hashlib.sha1(script.encode()).hexdigest()[:12]
    module_name = f"_engine_job_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, script)
        if spec is None or spec.loader is None:
            raise JobDefinitionError(f"cannot import job file {script!r}: is it a .py file?")
        module = importlib.util.module_from_spec(spec)
        script_dir = os.path.dirname(script)
        if script_dir not in sys.path:
            sys.path.insert(0, script_dir)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module


def load_job_class(script: str, class_name: str) -> type:
    """The job class *class_name* of *script*; cached per process."""
    cache_key = (script, class_name)
    if cache_key not in _JOB_CLASSES:
        module = load_job_module(script)
        job_class = getattr(module, class_name, None)
        if not isinstance(job_class, type):
            raise JobDefinitionError(f"job file {script!r} defines no class {class_name!r}")
        _JOB_CLASSES[cache_key] = job_class
    return _JOB_CLASSES[cache_key]


class TaskCounters:
    """Counters of one task, per step, with mrjob's ``increment_counter`` rules."""

    def __init__(self) -> None:
        self.by_step: dict[int, Counters] = {}
        self.status: str | None = None

    def incrementer(self, step: int) -> Callable[..., None]:
        """A replacement for ``job.increment_counter`` that records into *step*."""
        counters = self.by_step.setdefault(step, {})

        def increment_counter(group: Any, counter: Any, amount: int = 1) -> None:
            if not isinstance(amount, int):
                raise TypeError(f"amount must be an integer, not {amount!r}")
            group = str(group).replace(",", ";")
            counter = str(counter).replace(",", ";")
            names = counters.setdefault(group, {})
            names[counter] = names.get(counter, 0) + amount

        return increment_counter

    def set_status(self, msg: str) -> None:
        """Replacement for ``job.set_status``: keep the latest message."""
        self.status = str(msg)


def make_job(
    plan: JobPlan,
    step: int,
    substep: str,
    counters: TaskCounters,
    extra: Iterable[str] = (),
    job_class: type | None = None,
) -> Any:
    """A fresh job instance as Hadoop Streaming would start it for *substep* of *step*
    (of *job_class*, or the plan's class loaded from its file)."""
    job_class = job_class or load_job_class(plan.job_script, plan.job_class)
    job = job_class(args=[*plan.job_args, f"--step-num={step}", f"--{substep}", *extra])
    job.increment_counter = counters.incrementer(step)
    job.set_status = counters.set_status
    return job
