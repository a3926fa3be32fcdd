"""Find the MRJob class in a job's ``.py`` file (for ``python -m engine run``)."""

from __future__ import annotations

import inspect
import os

from mrjob.job import MRJob

from engine.errors import JobDefinitionError
from engine.mrjob_bridge import load_job_class, load_job_module


def job_class_in_file(script: str, class_name: str | None = None) -> type:
    """The MRJob subclass defined in *script*: the one named, or the only one."""
    script = os.path.abspath(script)
    if not os.path.isfile(script):
        raise JobDefinitionError(f"job file {script!r} does not exist")
    if class_name:
        return load_job_class(script, class_name)
    module = load_job_module(script)
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, MRJob) and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise JobDefinitionError(
            f"{script} must define exactly one MRJob subclass (found: {names}); name one with --job-class"
        )
    return found[0]
