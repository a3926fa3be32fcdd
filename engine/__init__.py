"""A MapReduce engine for mrjob jobs: parallel map, sort-based shuffle, reduce, atomic commit.

Run a job of this repo with ``python jobs/wordcount.py -r engine INPUT``, or any mrjob job
with ``python -m engine run path/to/job.py INPUT``. The public API, imported on first use
(so that ``import engine.job`` on a cluster stays light):

- ``EngineMRJob`` (``engine.job``): the base class adding ``-r engine`` to a job;
- ``EngineRunner`` (``engine.runner``): the mrjob runner, for ``make_runner()`` users;
- ``run_job`` (``engine.driver``): run a ``JobPlan`` over inputs into an output directory;
- ``VectorStep``, ``one_group`` (``engine.arrow``): a job's Arrow twin;
- the errors (``engine.errors``): ``EngineError`` and its subclasses.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EngineMRJob": "engine.job",
    "EngineRunner": "engine.runner",
    "run_job": "engine.driver",
    "JobPlan": "engine.plan",
    "VectorStep": "engine.arrow",
    "one_group": "engine.arrow",
    "EngineError": "engine.errors",
    "InputError": "engine.errors",
    "JobDefinitionError": "engine.errors",
    "TaskFailedError": "engine.errors",
    "CommitError": "engine.errors",
    "JobInterrupted": "engine.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
