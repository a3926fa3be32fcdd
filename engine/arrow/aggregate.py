"""Declared aggregations in Arrow: partial (map side, the combiner) and final (reduce side)
group-bys over key columns."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from engine.arrow.step import VectorStep


def partial_specs(step: VectorStep) -> list[tuple[str, str, Any, str]]:
    """(input column, Arrow function, options, partial column) for the map side."""
    specs = []
    for name, (column, op) in step.aggregate.items():
        if op == "mean":
            specs.append((column, "sum", None, f"{name}.sum"))
            specs.append((column, "count", pc.CountOptions(mode="only_valid"), f"{name}.count"))
        elif op == "count":
            specs.append((column, "count", pc.CountOptions(mode="all"), f"{name}.count"))
        elif op == "collect":
            specs.append((column, "list", None, f"{name}.list"))
        else:
            specs.append((column, op, None, f"{name}.{op}"))
    return specs


#: Aggregations whose result over only NULLs is NULL.
_NULL_OF_NULLS = frozenset(("sum", "min", "max", "first"))


def partial_aggregate(table: pa.Table, step: VectorStep) -> pa.Table:
    """Group *table* by the keys and compute the partial aggregates (the combiner)."""
    specs = partial_specs(step)
    # A sum/min/max/first over a column of NULLs only (a join's mapper pads the columns
    # of the other table with NULLs) is NULL for every group: not computed, half the
    # group-by's time in such a join; its result type comes from an empty group-by.
    # A column of Arrow's NULL type (a mapper's pa.nulls(n) for a column a file lacks)
    # has no such kernels: its result is NULL, of the NULL type.
    untyped = {i for i, (column, _, _, _) in enumerate(specs) if pa.types.is_null(table.column(column).type)}
    skipped = {
        i
        for i, (column, fn, _, _) in enumerate(specs)
        if fn in _NULL_OF_NULLS
        and (i in untyped or (table.num_rows and table.column(column).null_count == table.num_rows))
    }
    computed = [i for i in range(len(specs)) if i not in skipped]
    grouped = _group_by(table, step.keys, specs, computed)
    if skipped:
        typed = sorted(skipped - untyped)
        types = _group_by(table.slice(0, 0), step.keys, specs, typed).schema if typed else None
        for i in sorted(skipped):
            name = f"__{i}_{specs[i][1]}"
            kind = pa.null() if types is None or i in untyped else types.field(name).type
            grouped = grouped.append_column(name, pa.nulls(grouped.num_rows, kind))
    names = [f"__{i}_{fn}" for i, (_, fn, _, _) in enumerate(specs)]
    return grouped.select([*step.keys, *names]).rename_columns([*step.keys, *(s[3] for s in specs)])


def _group_by(
    table: pa.Table, keys: Sequence[str], specs: list[tuple[str, str, Any, str]], which: Sequence[int]
) -> pa.Table:
    """*table* grouped by *keys* with the partial aggregations *which* of *specs*, named
    ``__<i>_<function>``. Each reads its own alias of its input column (zero-copy), so that
    two on the same column and function (mean's sum and sum) keep distinct names."""
    inputs = table.select(list(keys))
    aggs: list[tuple[Any, ...]] = []
    for i in which:
        column, fn, opts, _ = specs[i]
        inputs = inputs.append_column(f"__{i}", table.column(column))
        aggs.append((f"__{i}", fn, opts) if opts is not None else (f"__{i}", fn))
    return inputs.group_by(list(keys), use_threads=False).aggregate(aggs)


def final_aggregate(partials: pa.Table, step: VectorStep) -> pa.Table:
    """Combine partial aggregates into the declared value columns."""
    keys = list(step.keys)
    final_fn = {"count": "sum", "sum": "sum", "min": "min", "max": "max", "first": "first"}
    aggs = [(partial, final_fn[fn]) for _, fn, _, partial in partial_specs(step) if fn != "list"]
    untyped = [(p, fn) for p, fn in aggs if pa.types.is_null(partials.column(p).type)]  # NULLs only
    computed = [agg for agg in aggs if agg not in untyped]
    grouped = partials.group_by(keys, use_threads=False).aggregate(computed)
    for p, fn in untyped:
        grouped = grouped.append_column(f"{p}_{fn}", pa.nulls(grouped.num_rows))
    grouped = grouped.select([*keys, *(f"{p}_{fn}" for p, fn in aggs)]).rename_columns(
        [*keys, *(p for p, _ in aggs)]
    )
    columns: dict[str, Any] = {k: grouped.column(k) for k in keys}
    for name, (_, op) in step.aggregate.items():
        if op == "mean":
            total = pc.cast(grouped.column(f"{name}.sum"), pa.float64())
            count = pc.cast(grouped.column(f"{name}.count"), pa.float64())
            columns[name] = pc.if_else(
                pc.equal(count, 0), pa.scalar(None, pa.float64()), pc.divide(total, count)
            )
        elif op == "collect":
            columns[name] = _collected(partials, grouped, keys, f"{name}.list")
        else:
            columns[name] = grouped.column(f"{name}.{op}")
    return pa.table(columns)


def _collected(partials: pa.Table, grouped: pa.Table, keys: list[str], partial: str) -> pa.ChunkedArray:
    """Each key's partial lists concatenated in run order, aligned with *grouped*'s rows.

    Arrow can neither ``list``-aggregate nor join list columns, so the partial lists are
    exploded and grouped again. Every partial list holds at least one element, so keys
    first appear in the same order in both groupings; that is checked, not assumed.
    """
    lists = partials.column(partial).combine_chunks()
    exploded = partials.select(keys).take(pc.list_parent_indices(lists))
    exploded = exploded.append_column("__v", pc.list_flatten(lists))
    collected = exploded.group_by(keys, use_threads=False).aggregate([("__v", "list")])
    if not collected.select(keys).equals(grouped.select(keys)):
        raise RuntimeError("internal error: collect() groups are not aligned with the other aggregations")
    return collected.column("__v_list")


def partial(table: pa.Table, step: VectorStep) -> pa.Table:
    """The map side's combine: partial aggregates (if declared), then ``combiner``."""
    if step.aggregate:
        table = partial_aggregate(table, step)
    return step.combiner(table) if step.combiner is not None else table


def final(partials: pa.Table, step: VectorStep) -> pa.Table:
    """The reduce side: final aggregates (if declared), then ``reducer``."""
    if step.aggregate:
        partials = final_aggregate(partials, step)
    return step.reducer(partials) if step.reducer is not None else partials
