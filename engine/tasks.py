"""Run one task inside a worker: read its input, run the job's substeps, write its sink.

A job is a chain of *waves* separated by shuffles. Wave 0 maps input splits; each later
wave has one task per partition of the previous shuffle, which reduces that partition and
then runs the following steps' mappers, so a multi-step job passes between steps through
sorted runs on local disk, never through an extra map-only pass. Between substeps records
travel as encoded lines, decoded and encoded with the job's own protocols, so every
substep sees exactly what Hadoop Streaming would hand it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from mrjob.compat import translate_jobconf_for_all_versions

from engine.errors import JobDefinitionError
from engine.formats import SKIPPED_COUNTER, SplitReader, TextPartWriter
from engine.plan import JobPlan
from engine.precombine import (
    PreCombiner,
    combiner_for,
    exact_key_encoder,
    exact_protocol,
    instance_write,
    protocol_write,
)
from engine.shuffle import MapOutputCollector, merge_runs
from engine.splits import InputSplit

Counters = dict[str, dict[str, int]]


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


@dataclass(frozen=True)
class Task:
    """One unit of work: a split (wave 0) or a partition's runs (later waves)."""

    task_id: str
    wave: Wave
    index: int
    num_partitions: int
    split: InputSplit | None = None
    runs: tuple[str, ...] = ()

    def describe(self) -> str:
        """Task id and input, for messages."""
        if self.split is not None:
            return f"task {self.task_id} (input {self.split.describe()})"
        return f"task {self.task_id} (partition {self.index} of step {self.wave.reduce_step})"


@dataclass
class TaskResult:
    """What a successful attempt produced; sent back to the driver."""

    task_id: str
    attempt: int
    records_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    spills: int = 0
    spilled_records: int = 0
    runs: dict[int, str] = field(default_factory=dict)
    run_bytes: dict[int, int] = field(default_factory=dict)
    output_file: str | None = None
    counters: dict[int, Counters] = field(default_factory=dict)
    status: str | None = None
    seconds: float = 0.0


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
    plan: JobPlan, step: int, substep: str, counters: TaskCounters, extra: Iterable[str] = ()
) -> Any:
    """A fresh job instance as Hadoop Streaming would start it for *substep* of *step*."""
    job_class = load_job_class(plan.job_script, plan.job_class)
    job = job_class(args=[*plan.job_args, f"--step-num={step}", f"--{substep}", *extra])
    job.increment_counter = counters.incrementer(step)
    job.set_status = counters.set_status
    return job


def mapped_pairs(
    job: Any, step: int, lines: Iterable[bytes] | None, pairs: Iterable[Any] | None
) -> Iterator[tuple[Any, Any]]:
    """Decode lines (or take pairs) and run the step's mapper; its pairs, not encoded."""
    if pairs is None:
        read, _ = job.pick_protocols(step, "mapper")
        pairs = (read(line) for line in lines or ())
    return job.map_pairs(pairs, step)


def map_stage(
    job: Any, step: int, lines: Iterable[bytes] | None, pairs: Iterable[Any] | None
) -> Iterator[bytes]:
    """Decode lines (or take pairs), run the step's mapper, encode its output."""
    read, write = job.pick_protocols(step, "mapper")
    if pairs is None:
        pairs = (read(line) for line in lines or ())
    for key, value in job.map_pairs(pairs, step):
        yield write(key, value)


def reduce_stage(job: Any, step: int, lines: Iterable[bytes], substep: str = "reducer") -> Iterator[bytes]:
    """Decode sorted lines, run the step's reducer (or combiner), encode its output."""
    read, write = job.pick_protocols(step, substep)
    pairs = (read(line) for line in lines)
    run = job.reduce_pairs if substep == "reducer" else job.combine_pairs
    for key, value in run(pairs, step):
        yield write(key, value)


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
    for name, value in jobconf.items():
        for variant in translate_jobconf_for_all_versions(name):
            env[variant.replace(".", "_")] = value
    if task.split is not None:
        env.update(input_environment(task.split.parts[0] if task.split.parts else task.split))
    return env


def input_environment(split: InputSplit) -> dict[str, str]:
    """``mapreduce.map.input.file``/``.start``/``.length`` of *split*, in every spelling."""
    env = {}
    values = {
        "mapreduce.map.input.file": split.input_uri,
        "mapreduce.map.input.start": str(split.start),
        "mapreduce.map.input.length": str(split.length),
    }
    for name, value in values.items():
        for variant in translate_jobconf_for_all_versions(name):
            env[variant.replace(".", "_")] = value
    return env


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
        for variant in translate_jobconf_for_all_versions("mapreduce.task.output.dir"):
            env[variant.replace(".", "_")] = output
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
        _set_environment(change)
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            _set_environment(saved)
        yield item


def _set_environment(values: dict[str, str | None]) -> None:
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


def run_task(plan: JobPlan, task: Task, attempt: int, attempt_dir: str, job_id: str) -> TaskResult:
    """Run one attempt of *task*, writing runs or the output part into *attempt_dir*."""
    started = time.perf_counter()
    os.makedirs(attempt_dir, exist_ok=True)
    counters = TaskCounters()
    result = TaskResult(task.task_id, attempt)
    with task_context(task_environment(plan, task, attempt, job_id), plan.working_dir, plan.python_path):
        if plan.vectorized:
            _run_vector_task(plan, task, attempt_dir, counters, result)
            result.counters = counters.by_step
            result.seconds = time.perf_counter() - started
            return result
        reader, lines, precombine = _task_pipeline(plan, task, counters)
        wave = task.wave
        if wave.shuffle_step is not None:
            step = wave.shuffle_step
            combiner_job = None
            if plan.steps[step].has_combiner:
                combiner_job = make_job(plan, step, "combiner", counters)
            budget = plan.task_memory_budget
            if precombine is not None and combiner_job is not None:
                # Pre-aggregated groups are combined at each flush; the collector then
                # holds combined records only, so each gets half the budget.
                collector = MapOutputCollector(
                    attempt_dir, task.num_partitions, budget // 2, None, plan.sort_values
                )
                combine = combiner_for(combiner_job, step)
                change = step_environment_change(plan, task, step)
                pre = PreCombiner(
                    instance_write(precombine.protocol),
                    lambda groups: in_environment(combine(groups), change),
                    collector,
                    budget // 2,
                    exact_key_encoder(precombine.protocol),
                    precombine.protocol.read,
                )
                pre.add_pairs(precombine.pairs)
                pre.flush()
            else:
                combiner = None
                if combiner_job is not None:

                    change = step_environment_change(plan, task, step)

                    def combiner(sorted_lines: Iterator[bytes]) -> Iterator[bytes]:
                        return in_environment(
                            reduce_stage(combiner_job, step, sorted_lines, "combiner"), change
                        )

                collector = MapOutputCollector(
                    attempt_dir, task.num_partitions, budget, combiner, plan.sort_values
                )
                collector.add_all(lines)
            result.runs = collector.close()
            result.run_bytes = collector.stats.run_bytes
            result.records_out = collector.stats.records
            result.bytes_out = collector.stats.bytes
            result.spills = collector.stats.spills
            result.spilled_records = collector.stats.spilled_records
        else:
            path = os.path.join(attempt_dir, f"part-{task.index:05d}")
            writer = TextPartWriter(path)
            try:
                writer.write_all(lines)
            finally:
                writer.close()
            result.output_file = path
            result.records_out = writer.records
            result.bytes_out = writer.bytes
        result.records_in = reader()
    result.counters = counters.by_step
    result.status = counters.status
    result.seconds = time.perf_counter() - started
    return result


def _run_vector_task(
    plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters, result: TaskResult
) -> None:
    """A task through the job's vectorized twin (see ``engine.vectorized``).

    Wave 0 maps input batches with step 0's twin; a later wave reduces its partition with
    step *s*'s twin, then maps the result with step *s+1*'s (every step has a reducer).
    """
    from engine import vectorized

    wave = task.wave
    job = make_job(
        plan, wave.reduce_step or 0, "reducer" if wave.reduce_step is not None else "mapper", counters
    )
    twins = job.vector_steps()
    if len(twins) != len(plan.steps):
        raise JobDefinitionError(
            f"vector_steps() gives {len(twins)} steps but steps() has {len(plan.steps)}: "
            "give one VectorStep per step, or no vector_steps()"
        )
    for twin in twins:
        twin.validate()
    budget = plan.task_memory_budget
    reducer: vectorized.PartitionReduce | None = None
    if task.split is not None:
        block = vectorized.block_bytes(budget)
        batches: Iterable[Any] = _input_batches(task.split, twins[0], block)
    else:
        assert wave.reduce_step is not None
        # The reduce side reads its partition in slices within the budget: all of it in
        # a last wave, half when the next step's map side shares the task (the other half).
        if wave.shuffle_step is not None:
            budget = max(1, budget // 2)
        reducer = vectorized.PartitionReduce(twins[wave.reduce_step], task.runs, budget)
    try:
        if reducer is not None and wave.shuffle_step is None:
            assert wave.reduce_step is not None
            path = os.path.join(attempt_dir, f"part-{task.index:05d}")
            writer = TextPartWriter(path)
            try:
                reducer.write_output(
                    writer,
                    _key_write(job, plan, wave.reduce_step),
                    protocol_write(job, wave.reduce_step, "reducer"),
                    attempt_dir,
                )
            finally:
                writer.close()
            result.records_in = reducer.records_in
            result.output_file = path
            result.records_out = writer.records
            result.bytes_out = writer.bytes
            return
        if reducer is not None:
            batches = (b for table in reducer.tables() for b in vectorized.result_batches(table))
        step = wave.shuffle_step
        assert step is not None
        runs, stats = vectorized.map_and_shuffle(
            twins[step], batches, _key_write(job, plan, step), task.num_partitions, budget, attempt_dir
        )
    finally:
        if reducer is not None:
            reducer.close()
    result.runs = runs
    result.run_bytes = stats.run_bytes
    result.records_in = stats.records_in if reducer is None else reducer.records_in
    result.records_out = stats.records_out
    result.spills = stats.spills


def _input_batches(split: InputSplit, twin: Any, block: int) -> Iterator[Any]:
    """The split's Arrow batches; a ``combined`` split's parts one after another, each
    read with its own task variables (a text reader may pick its table by file name)."""
    from engine import vectorized

    if split.kind != "combined":
        yield from vectorized.input_batches(split, twin.columns, block, twin.text_reader)
        return
    for part in split.parts:
        _set_environment(input_environment(part))
        yield from vectorized.input_batches(part, twin.columns, block, twin.text_reader)


def _key_write(job: Any, plan: JobPlan, step: int) -> Callable[[Any, Any], bytes]:
    """The encoder whose key bytes partition and order *step*'s reducer input.

    That is the step's mapper output protocol; a step without a mapper passes the
    previous reducer's lines through, encoded with the internal protocol.
    """
    if plan.steps[step].has_mapper:
        return protocol_write(job, step, "mapper")
    return instance_write(job.internal_protocol())


def _task_pipeline(
    plan: JobPlan, task: Task, counters: TaskCounters
) -> tuple[Callable[[], int], Iterator[bytes], MapOutput | None]:
    """Chain the task's source and substeps.

    Returns the records-read getter, the output lines, and — when the last mapper's output
    may be pre-aggregated before its combiner (see ``engine.precombine``) — that mapper's
    unencoded pairs instead of lines.
    """
    jobs: dict[tuple[int, str], Any] = {}
    if task.split is None or task.split.kind != "combined":
        return _split_pipeline(plan, task, task.split, counters, jobs)
    return _combined_pipeline(plan, task, task.split.parts, counters, jobs)


def _combined_pipeline(
    plan: JobPlan,
    task: Task,
    parts: tuple[InputSplit, ...],
    counters: TaskCounters,
    jobs: dict[tuple[int, str], Any],
) -> tuple[Callable[[], int], Iterator[bytes], MapOutput | None]:
    """A ``combined`` split: each part through the same job instances, one after another.

    Each part gets its own task variables (``mapreduce.map.input.file``…) and its own
    ``mapper_init``/``mapper_final`` (``map_pairs`` runs them per call), so a job sees
    what it would with one task per file; only the task's overhead is shared.
    """
    first = _split_pipeline(plan, task, parts[0], counters, jobs)
    counts: list[Callable[[], int]] = []

    def each() -> Iterator[Any]:
        for index, part in enumerate(parts):
            pipeline = first if index == 0 else _split_pipeline(plan, task, part, counters, jobs)
            records, lines, output = pipeline
            counts.append(records)
            _set_environment(input_environment(part))
            yield from output.pairs if output is not None else lines

    def records_in() -> int:
        return sum(count() for count in counts)

    if first[2] is not None:
        return records_in, iter(()), MapOutput(each(), first[2].protocol)
    return records_in, each(), None


def _split_pipeline(
    plan: JobPlan,
    task: Task,
    split: InputSplit | None,
    counters: TaskCounters,
    jobs: dict[tuple[int, str], Any],
) -> tuple[Callable[[], int], Iterator[bytes], MapOutput | None]:
    """``_task_pipeline`` over one split (or the task's runs); *jobs* caches job instances."""

    def job_for(step: int, substep: str, extra: tuple[str, ...] = ()) -> Any:
        if extra:  # mapper_raw: the file is an argument; never combined, so never shared
            return make_job(plan, step, substep, counters, extra)
        if (step, substep) not in jobs:
            jobs[step, substep] = make_job(plan, step, substep, counters)
        return jobs[step, substep]

    wave = task.wave
    lines: Iterator[bytes] | None = None
    pairs: Iterator[Any] | None = None
    map_steps = list(wave.map_steps)
    raw_lines = False  # lines still straight from the input split (not yet decoded)
    if split is not None:
        split_reader = SplitReader(split)
        records_in: Callable[[], int] = lambda: split_reader.records  # noqa: E731
        if split.kind == "parquet":
            pairs = split_reader.parquet_pairs()
        elif split.kind == "whole":
            pairs = iter(())
        else:
            lines = split_reader.lines()
            raw_lines = True
    else:
        merged = _Counted(merge_runs(task.runs, plan.sort_values))
        records_in = merged.count
        assert wave.reduce_step is not None
        job = job_for(wave.reduce_step, "reducer")
        change = step_environment_change(plan, task, wave.reduce_step)
        lines = in_environment(reduce_stage(job, wave.reduce_step, merged), change)
    for step in map_steps:
        if not plan.steps[step].has_mapper:
            continue  # Hadoop Streaming's identity mapper: lines pass unchanged
        extra: tuple[str, ...] = ()
        if plan.steps[step].mapper_raw:
            assert split is not None
            extra = (split.path, split.path)
        job = job_for(step, "mapper", extra)
        change = step_environment_change(plan, task, step)
        if raw_lines and lines is not None:
            pairs = _decode_input(plan, job, step, split_reader, lines, counters)
            lines, raw_lines = None, False
        if step == wave.shuffle_step and plan.precombine and plan.steps[step].has_combiner:
            protocol = exact_protocol(job, step)
            if protocol is not None:
                mapped = in_environment(mapped_pairs(job, step, lines, pairs), change)
                return records_in, iter(()), MapOutput(mapped, protocol)
        lines = in_environment(map_stage(job, step, lines, pairs), change)
        pairs = None
    if pairs is not None:
        raise JobDefinitionError(
            "Parquet input needs a mapper in the first step: rows are (None, dict) pairs, not lines"
        )
    assert lines is not None
    return records_in, lines, None


def _decode_input(
    plan: JobPlan, job: Any, step: int, reader: SplitReader, lines: Iterator[bytes], counters: TaskCounters
) -> Iterator[Any]:
    """The job's input protocol over the split's lines: a line it cannot decode is an
    ``InputError`` naming file and line, or skipped and counted (``--skip-bad-records``)."""
    read, _ = job.pick_protocols(step, "mapper")
    increment = counters.incrementer(step)
    return reader.decoded(read, lines, plan.skip_bad_records, lambda: increment(*SKIPPED_COUNTER))


@dataclass
class MapOutput:
    """A mapper's unencoded output pairs and the protocol that encodes them."""

    pairs: Iterator[tuple[Any, Any]]
    protocol: Any


class _Counted:
    """Wraps an iterator and counts what passed through it."""

    def __init__(self, iterator: Iterator[bytes]) -> None:
        self._iterator = iterator
        self.n = 0

    def __iter__(self) -> Iterator[bytes]:
        n = 0
        for item in self._iterator:
            n += 1
            yield item
        self.n = n

    def count(self) -> int:
        """How many items were read."""
        return self.n
