"""A wave where the two pipelines meet: a step reduced on one, the next step mapped on the other.

A job's twin may leave some steps to their mrjob methods (``vector_steps()`` gives ``None``
for them: ``JobPlan.record_steps``); the other steps run on Arrow. A wave that reduces step
*r* and maps step *r + 1* on different pipelines runs each half on its own step's, and hands
the rows across as mrjob hands them from step to step: as step *r*'s reducer output, encoded
with its protocol and decoded by step *r + 1*'s mapper::

    Arrow reduce -> record map   each result table of step r's twin (its final aggregation and
                                 reducer, within the budget: engine.arrow.shuffle.PartitionReduce)
                                 -> its twin's to_pairs -> step r's reducer output protocol ->
                                 the record pipeline's map side and shuffle (engine.records.map_reduced:
                                 step r+1's mapper, its combiner or pre-combiner, the sorted runs)
    record reduce -> Arrow map   step r's sorted runs merged and reduced (engine.records.reduce_stage)
                                 -> step r+1's mapper input protocol -> batch_pairs(budget) pairs at a time
                                 -> its twin's from_pairs -> the Arrow map side and shuffle
                                 (engine.arrow.shuffle.map_and_shuffle)

Each half gets half the task's budget, as in a wave that runs on one pipeline. Map tasks and
waves whose halves share a pipeline never come here (``engine.tasks.task_pipeline``).
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable, Iterator

from engine.arrow.pipeline import half_budget, step_key_write
from engine.arrow.shuffle import PartitionReduce, map_and_shuffle, result_batches
from engine.environment import in_environment, step_environment_change
from engine.mrjob_bridge import TaskCounters, make_job, step_codecs
from engine.plan import JobPlan
from engine.records import Counted, map_reduced, reduce_stage
from engine.shuffle import merge_runs
from engine.tasks import ReduceTask, Task, TaskCounts, TaskOutput

#: The most of a record reducer's pairs that become one input table of the next step's twin,
#: and the bytes a pair is reckoned to hold as Python objects (a row of a dozen values).
BATCH_PAIRS = 1 << 16
PAIR_BYTES = 1 << 10


def batch_pairs(budget: int) -> int:
    """How many pairs a table is made of within *budget* bytes (16 at the least)."""
    return max(16, min(BATCH_PAIRS, budget // PAIR_BYTES))


def map_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Never called: a map task runs on step 1's own pipeline."""
    raise AssertionError(f"{task.describe()} is a map task: it runs on one pipeline")  # pragma: no cover


def reduce_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Reduce the task's partition on its step's pipeline, map the rows on the next step's."""
    assert isinstance(task, ReduceTask)
    reduced, mapped = task.wave.reduce_step, task.wave.shuffle_step
    assert reduced is not None and mapped is not None
    if plan.step_pipeline(reduced) == "arrow":
        return _arrow_to_records(plan, task, reduced, attempt_dir, counters)
    return _records_to_arrow(plan, task, reduced, mapped, attempt_dir, counters)


def _arrow_to_records(
    plan: JobPlan, task: ReduceTask, step: int, attempt_dir: str, counters: TaskCounters
) -> TaskOutput:
    """Step *step* reduced by its twin; its rows, as its reducer's lines, mapped by the records."""
    job = make_job(plan, step, "reducer", counters)
    twin = job.vector_steps()[step]
    _, write = step_codecs(job, step, "reducer")
    half = half_budget(plan)
    reducer = PartitionReduce(twin, task.runs, half)
    try:
        lines = (write(key, value) for table in reducer.tables() for key, value in twin.to_pairs(table))
        return map_reduced(plan, task, attempt_dir, counters, lines, lambda: reducer.records_in, half)
    finally:
        reducer.close()


def _records_to_arrow(
    plan: JobPlan, task: ReduceTask, reduced: int, mapped: int, attempt_dir: str, counters: TaskCounters
) -> TaskOutput:
    """Step *reduced* reduced by its record methods; its pairs, a table at a time, mapped by
    step *mapped*'s twin into the next shuffle."""
    reducer_job = make_job(plan, reduced, "reducer", counters)
    merged = Counted(merge_runs(task.runs, plan.sort_values))
    lines = in_environment(
        reduce_stage(reducer_job, reduced, merged), step_environment_change(plan, task, reduced)
    )
    job = make_job(plan, mapped, "mapper", counters)
    twin = job.vector_steps()[mapped]
    read, _ = step_codecs(job, mapped, "mapper")
    pairs = (read(line) for line in lines)
    half = half_budget(plan)
    chunks = _chunks(pairs, batch_pairs(half))
    batches = (b for chunk in chunks for b in result_batches(twin.from_pairs(chunk)))
    runs, stats = map_and_shuffle(
        twin, batches, step_key_write(job, plan, mapped), task.num_partitions, half, attempt_dir
    )
    counts = TaskCounts(
        records_in=merged.count(),
        records_out=stats.records_out,
        spills=stats.spills,
        spilled_bytes=stats.spilled_bytes,
    )
    return TaskOutput(counts, runs=runs, run_bytes=dict(stats.run_bytes))


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """*items* in lists of *size* (the last one shorter; none for no items)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
