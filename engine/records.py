"""The record pipeline: a task through the job's own mrjob methods, a record at a time.

It is the reference definition of a job (what every mrjob runner runs). A map task reads
its split (``engine.formats.SplitReader``), decodes lines with the job's input protocol,
runs the mappers of its wave; a reduce task merges its partition's sorted runs
(``engine.shuffle.merge_runs``), runs the step's reducer, then the next steps' mappers.
Either ends in the shuffle of the next reducer (``MapOutputCollector``, with the combiner
on each spill, or the pre-combiner of ``engine.precombine``) or in an output part.
Between substeps records travel as encoded lines, decoded and encoded with the job's own
protocols, so every substep sees exactly what Hadoop Streaming would hand it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from engine.commit import part_path
from engine.environment import in_environment, input_environment, set_environment, step_environment_change
from engine.errors import JobDefinitionError
from engine.formats import SKIPPED_COUNTER, SplitReader, TextPartWriter
from engine.mrjob_bridge import TaskCounters, instance_write, make_job, step_codecs
from engine.plan import JobPlan
from engine.precombine import PreCombiner, combiner_for, exact_key_encoder, exact_protocol
from engine.shuffle import MapOutputCollector, merge_runs
from engine.splits import InputSplit
from engine.tasks import MapTask, ReduceTask, Task, TaskCounts, TaskOutput


def map_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Map the task's split through the wave's mappers into partitioned runs (or a part)."""
    return _run(plan, task, attempt_dir, counters)


def reduce_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Reduce the task's partition, then run the next steps' mappers, into runs or a part."""
    return _run(plan, task, attempt_dir, counters)


def map_reduced(
    plan: JobPlan,
    task: ReduceTask,
    attempt_dir: str,
    counters: TaskCounters,
    reduced: Iterator[bytes],
    records_in: Callable[[], int],
    budget: int,
) -> TaskOutput:
    """A reduce task's map side and sink over *reduced*, the lines its reduce side put out
    on the other pipeline (``engine.arrow.boundary``); *records_in* counts what that read,
    and the map side's shuffle holds *budget* bytes (what the reduce side leaves it)."""
    return _run(plan, task, attempt_dir, counters, (reduced, records_in), budget)


def _run(
    plan: JobPlan,
    task: Task,
    attempt_dir: str,
    counters: TaskCounters,
    reduced: tuple[Iterator[bytes], Callable[[], int]] | None = None,
    budget: int | None = None,
) -> TaskOutput:
    """The task's substeps from its source (split, runs or *reduced* lines) to its sink (runs or
    part), the shuffle within *budget* (default: the task's)."""
    reader, lines, precombine = _task_pipeline(plan, task, counters, reduced)
    wave = task.wave
    if wave.shuffle_step is None:
        path = part_path(attempt_dir, task.index)
        writer = TextPartWriter(path)
        try:
            writer.write_all(lines)
        finally:
            writer.close()
        counts = TaskCounts(records_in=reader(), records_out=writer.records, bytes_out=writer.bytes)
        return TaskOutput(counts, output_file=path)
    step = wave.shuffle_step
    combiner_job = None
    if plan.steps[step].has_combiner:
        combiner_job = make_job(plan, step, "combiner", counters)
    budget = plan.task_memory_budget if budget is None else budget
    change = step_environment_change(plan, task, step)
    if precombine is not None and combiner_job is not None:
        # Pre-aggregated groups are combined at each flush; the collector then holds
        # combined records only, so each gets half the budget.
        collector = MapOutputCollector(attempt_dir, task.num_partitions, budget // 2, None, plan.sort_values)
        combine = combiner_for(combiner_job, step)
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

            def combiner(sorted_lines: Iterator[bytes]) -> Iterator[bytes]:
                return in_environment(reduce_stage(combiner_job, step, sorted_lines, "combiner"), change)

        collector = MapOutputCollector(attempt_dir, task.num_partitions, budget, combiner, plan.sort_values)
        collector.add_all(lines)
    runs = collector.close()
    stats = collector.stats
    counts = TaskCounts(
        records_in=reader(),
        records_out=stats.records,
        bytes_out=stats.bytes,
        spills=stats.spills,
        spilled_records=stats.spilled_records,
        spilled_bytes=stats.spilled_bytes,
    )
    return TaskOutput(counts, runs=runs, run_bytes=dict(stats.run_bytes))


def mapped_pairs(
    job: Any, step: int, lines: Iterable[bytes] | None, pairs: Iterable[Any] | None
) -> Iterator[tuple[Any, Any]]:
    """Decode lines (or take pairs) and run the step's mapper; its pairs, not encoded."""
    if pairs is None:
        read, _ = step_codecs(job, step, "mapper")
        pairs = (read(line) for line in lines or ())
    return job.map_pairs(pairs, step)


def map_stage(
    job: Any, step: int, lines: Iterable[bytes] | None, pairs: Iterable[Any] | None
) -> Iterator[bytes]:
    """Decode lines (or take pairs), run the step's mapper, encode its output."""
    _, write = step_codecs(job, step, "mapper")
    for key, value in mapped_pairs(job, step, lines, pairs):
        yield write(key, value)


def reduce_stage(job: Any, step: int, lines: Iterable[bytes], substep: str = "reducer") -> Iterator[bytes]:
    """Decode sorted lines, run the step's reducer (or combiner), encode its output."""
    read, write = step_codecs(job, step, substep)
    pairs = (read(line) for line in lines)
    run = job.reduce_pairs if substep == "reducer" else job.combine_pairs
    for key, value in run(pairs, step):
        yield write(key, value)


def _task_pipeline(
    plan: JobPlan,
    task: Task,
    counters: TaskCounters,
    reduced: tuple[Iterator[bytes], Callable[[], int]] | None = None,
) -> tuple[Callable[[], int], Iterator[bytes], MapOutput | None]:
    """Chain the task's source and substeps.

    Returns the records-read getter, the output lines, and — when the last mapper's output
    may be pre-aggregated before its combiner (see ``engine.precombine``) — that mapper's
    unencoded pairs instead of lines.
    """
    jobs: dict[tuple[int, str], Any] = {}
    split = task.split if isinstance(task, MapTask) else None
    if split is None or split.kind != "combined":
        return _split_pipeline(plan, task, split, counters, jobs, reduced)
    return _combined_pipeline(plan, task, split.parts, counters, jobs)


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
            set_environment(input_environment(part))
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
    reduced: tuple[Iterator[bytes], Callable[[], int]] | None = None,
) -> tuple[Callable[[], int], Iterator[bytes], MapOutput | None]:
    """``_task_pipeline`` over one split (or the task's runs, or the *reduced* lines another
    pipeline's reduce side put out); *jobs* caches job instances."""

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
    elif reduced is not None:
        lines, records_in = reduced
    else:
        assert isinstance(task, ReduceTask)
        merged = Counted(merge_runs(task.runs, plan.sort_values))
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
    read, _ = step_codecs(job, step, "mapper")
    increment = counters.incrementer(step)
    return reader.decoded(read, lines, plan.skip_bad_records, lambda: increment(*SKIPPED_COUNTER))


@dataclass
class MapOutput:
    """A mapper's unencoded output pairs and the protocol that encodes them."""

    pairs: Iterator[tuple[Any, Any]]
    protocol: Any


class Counted:
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
