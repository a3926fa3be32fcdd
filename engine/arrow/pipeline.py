"""The Arrow pipeline: a task through the job's vectorized twin, a batch at a time.

A map task reads its split as record batches (``engine.arrow.read``), maps them with step
0's twin and shuffles them into IPC runs (``engine.arrow.shuffle``); a reduce task reduces
its partition with step *s*'s twin, in slices within the budget, then either writes the
output part (``engine.arrow.output``) or maps the result with step *s+1*'s twin into the
next shuffle. A map-only job (one step, no reducer) writes its map tasks' rows to the parts
in the mapper's order (``_map_output``). The twins were checked when the job
was planned (``EngineRunner``): here they are only run.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from engine.arrow.output import output_lines, write_lines
from engine.arrow.read import block_bytes, input_batches
from engine.arrow.shuffle import PartitionReduce, map_and_shuffle, result_batches
from engine.arrow.step import mapped_tables
from engine.commit import part_path
from engine.environment import input_environment, set_environment
from engine.formats import TextPartWriter
from engine.mrjob_bridge import TaskCounters, internal_write, make_job, protocol_write
from engine.plan import JobPlan
from engine.splits import InputSplit
from engine.tasks import MapTask, Task, TaskCounts, TaskOutput


def map_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Map the task's split with step 0's twin into partitioned IPC runs."""
    return _run(plan, task, attempt_dir, counters)


def reduce_task(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Reduce the task's partition with its step's twin, into the part or the next runs."""
    return _run(plan, task, attempt_dir, counters)


def _run(plan: JobPlan, task: Task, attempt_dir: str, counters: TaskCounters) -> TaskOutput:
    """Wave 0 maps input batches with step 0's twin; a later wave reduces its partition with
    step *s*'s twin, then maps the result with step *s+1*'s (every step has a reducer)."""
    wave = task.wave
    job = make_job(
        plan, wave.reduce_step or 0, "reducer" if wave.reduce_step is not None else "mapper", counters
    )
    twins = job.vector_steps()
    budget = plan.task_memory_budget
    reducer: PartitionReduce | None = None
    if isinstance(task, MapTask):
        batches: Iterable[Any] = _input_batches(task.split, twins[0], block_bytes(budget))
    else:
        assert wave.reduce_step is not None
        # The reduce side reads its partition in slices within the budget: all of it in
        # a last wave, half when the next step's map side shares the task (the other half).
        if wave.shuffle_step is not None:
            budget = half_budget(plan)
        reducer = PartitionReduce(twins[wave.reduce_step], task.runs, budget)
    try:
        if reducer is None and wave.shuffle_step is None:
            return _map_output(job, plan, twins[0], task, batches, attempt_dir)
        if reducer is not None and wave.shuffle_step is None:
            assert wave.reduce_step is not None
            path = part_path(attempt_dir, task.index)
            writer = TextPartWriter(path)
            try:
                reducer.write_output(
                    writer,
                    step_key_write(job, plan, wave.reduce_step),
                    protocol_write(job, wave.reduce_step, "reducer"),
                    attempt_dir,
                )
            finally:
                writer.close()
            counts = TaskCounts(
                records_in=reducer.records_in, records_out=writer.records, bytes_out=writer.bytes
            )
            return TaskOutput(counts, output_file=path)
        if reducer is not None:
            batches = (b for table in reducer.tables() for b in result_batches(table))
        step = wave.shuffle_step
        assert step is not None
        runs, stats = map_and_shuffle(
            twins[step], batches, step_key_write(job, plan, step), task.num_partitions, budget, attempt_dir
        )
    finally:
        if reducer is not None:
            reducer.close()
    counts = TaskCounts(
        records_in=stats.records_in if reducer is None else reducer.records_in,
        records_out=stats.records_out,
        spills=stats.spills,
        spilled_bytes=stats.spilled_bytes,
    )
    return TaskOutput(counts, runs=runs, run_bytes=dict(stats.run_bytes))


def _map_output(
    job: Any, plan: JobPlan, twin: Any, task: Task, batches: Iterable[Any], attempt_dir: str
) -> TaskOutput:
    """A map-only job's map task: each batch mapped, its rows written to the task's part in
    the mapper's order, as the record path's map-only task writes its mapper's output."""
    write = protocol_write(job, 0, "mapper")
    path = part_path(attempt_dir, task.index)
    writer = TextPartWriter(path)
    records_in = 0
    try:
        for batch in batches:
            records_in += batch.num_rows
            mapped = twin.mapper(batch) if twin.mapper is not None else pa.Table.from_batches([batch])
            for table in mapped_tables(mapped):  # none: the mapper holds the batch's rows back
                write_lines(writer, output_lines(twin, table, write))
        held = twin.mapper_final() if twin.mapper_final is not None else None
        for table in mapped_tables(held):
            write_lines(writer, output_lines(twin, table, write))
    finally:
        writer.close()
    counts = TaskCounts(records_in=records_in, records_out=writer.records, bytes_out=writer.bytes)
    return TaskOutput(counts, output_file=path)


def _input_batches(split: InputSplit, twin: Any, block: int) -> Iterator[Any]:
    """The split's Arrow batches; a ``combined`` split's parts one after another, each
    read with its own task variables (a text reader may pick its table by file name)."""
    if split.kind != "combined":
        yield from input_batches(split, twin.columns, block, twin.text_reader)
        return
    for part in split.parts:
        set_environment(input_environment(part))
        yield from input_batches(part, twin.columns, block, twin.text_reader)


def half_budget(plan: JobPlan) -> int:
    """What each half of a wave that reduces one step and maps the next holds: half the task's
    budget (``engine.arrow.boundary`` gives its two pipelines the same shares)."""
    return max(1, plan.task_memory_budget // 2)


def step_key_write(job: Any, plan: JobPlan, step: int) -> Callable[[Any, Any], bytes]:
    """The encoder whose key bytes partition and order *step*'s reducer input.

    That is the step's mapper output protocol; a step without a mapper passes the
    previous reducer's lines through, encoded with the internal protocol.
    """
    if plan.steps[step].has_mapper:
        return protocol_write(job, step, "mapper")
    return internal_write(job)
