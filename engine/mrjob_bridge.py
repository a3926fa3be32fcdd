"""The one module that knows how mrjob runs a job: loading a job file, a fresh job per
substep as Hadoop Streaming starts one, a substep's protocols, and capturing its counters
and status.

Everything else in the engine asks this module for a job instance; for a substep's
protocols (``step_codecs``: the read/write functions the job picks; ``step_protocols``:
the instances behind them, through mrjob's private ``_pick_protocol_instances``); for the
``Encoder`` of a substep's output (``protocol_write``, ``internal_write``); for a step's
declared methods (``mr_step``, mrjob's private ``_get_step``); and keeps counters as
``Counters``. The tasks' calls of mrjob's protocol API and private methods are all here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json.encoder
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from mrjob.job import MRJob
from mrjob.protocol import StandardJSONProtocol
from mrjob.step import MRStep

from engine.errors import JobDefinitionError
from engine.plan import JobPlan

#: A protocol's ``read(line) -> (key, value)`` and ``write(key, value) -> bytes``.
Read = Callable[[bytes], tuple[Any, Any]]
Write = Callable[[Any, Any], bytes]


class Counters(dict[str, dict[str, int]]):
    """One step's counters, ``{group: {name: value}}``: a plain dict to mrjob's APIs (and
    to pickle, across the worker pipe), with ``merge`` to sum another's into it."""

    __slots__ = ()

    def merge(self, other: Mapping[str, Mapping[str, int]]) -> Counters:
        """Add *other*'s counts into these, as mrjob sums tasks'; returns self."""
        for group, names in other.items():
            target = self.setdefault(group, {})
            for name, value in names.items():
                target[name] = target.get(name, 0) + value
        return self


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
        counters = self.by_step.setdefault(step, Counters())

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


def step_codecs(job: Any, step: int, substep: str) -> tuple[Read, Write]:
    """The ``(read, write)`` functions *substep* of *step* decodes its input and encodes
    its output with: mrjob's public ``pick_protocols``, so a job that overrides it is heard."""
    read, write = job.pick_protocols(step, substep)
    return read, write


def step_protocols(job: Any, step: int, substep: str) -> tuple[Any, Any] | None:
    """The ``(read, write)`` protocol instances of *substep* of *step*, from mrjob's private
    ``_pick_protocol_instances``; ``None`` when the job overrides ``pick_protocols`` (its
    functions may not be those instances' methods) or mrjob cannot pick them."""
    if type(job).pick_protocols is not MRJob.pick_protocols:
        return None  # the job chooses protocols itself; don't second-guess it
    try:
        read_protocol, write_protocol = job._pick_protocol_instances(step, substep)
    except Exception:
        return None
    return read_protocol, write_protocol


def mr_step(job: Any, step: int) -> MRStep:
    """*step* of *job* as the ``MRStep`` it declared (mrjob's private ``_get_step``):
    its ``combiner``, ``combiner_init``… by name."""
    return job._get_step(step, MRStep)


@dataclass(frozen=True)
class Encoder:
    """A protocol's ``write(key, value) -> bytes``, and what it is: ``standard_json`` says
    it is mrjob's standard JSON protocol, which Arrow can encode column by column."""

    write: Write
    standard_json: bool = False
    name: str = ""

    def __call__(self, key: Any, value: Any) -> bytes:
        return self.write(key, value)


def fast_json_write(write: Write) -> Write:
    """``StandardJSONProtocol.write`` with a shortcut for the commonest pairs.

    ``json.dumps`` of a str is ``encode_basestring_ascii`` of it, of an int its
    ``int.__repr__`` and of ``None`` ``null``; calling those directly skips the encoder's
    Python-level set-up. Any other pair goes through *write* unchanged.
    """
    encode_str = json.encoder.encode_basestring_ascii
    int_repr = int.__repr__

    def simple(x: Any) -> str | None:
        kind = type(x)
        if kind is str:
            return encode_str(x)
        if kind is int:
            return int_repr(x)
        if x is None:
            return "null"
        return None

    def write_fast(key: Any, value: Any) -> bytes:
        if type(key) is str and type(value) is int:  # the commonest pair, inlined
            return (encode_str(key) + "\t" + int_repr(value)).encode()
        k = simple(key)
        if k is not None:
            v = simple(value)
            if v is not None:
                return (k + "\t" + v).encode()
        return write(key, value)

    return write_fast


def writes_standard_json(write: Write | Encoder) -> bool:
    """Whether *write* is the standard JSON protocol's encoder (an ``Encoder`` saying so):
    then Arrow can encode whole columns the same way."""
    return isinstance(write, Encoder) and write.standard_json


def instance_write(protocol: Any) -> Encoder:
    """*protocol*'s encoder, with the JSON shortcut where it is exact."""
    name = type(protocol).__name__
    if type(protocol) is StandardJSONProtocol:
        return Encoder(fast_json_write(protocol.write), True, name)
    return Encoder(protocol.write, False, name)


def protocol_write(job: Any, step: int, substep: str) -> Encoder:
    """The encoder of *substep*'s output, with the JSON shortcut where it is exact."""
    _, write = step_codecs(job, step, substep)
    protocols = step_protocols(job, step, substep)
    if protocols is None:
        return Encoder(write)
    return instance_write(protocols[1])  # mrjob's pick_protocols gives protocol.write


def internal_write(job: Any) -> Encoder:
    """The encoder of *job*'s internal protocol (``job.internal_protocol()``), which
    carries records between steps."""
    return instance_write(job.internal_protocol())
