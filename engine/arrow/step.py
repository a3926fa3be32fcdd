"""A twin's declaration: ``VectorStep`` (mapper, keys, aggregations, table steps) and
``one_group``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from engine.errors import JobDefinitionError

if TYPE_CHECKING:  # the driver validates declarations without importing pyarrow
    import pyarrow as pa

#: Aggregations a job may declare, with the partial (map-side) and final (reduce-side) steps.
OPERATIONS = ("sum", "count", "min", "max", "mean", "first", "collect")


@dataclass(frozen=True)
class VectorStep:
    """The vectorized twin of one mrjob step (mapper + combiner + reducer).

    * ``mapper``: record batch → table (``None``: pass the batch on; steps after the first
      get the previous step's result table in batches). A mapper may return ``None`` for a
      batch whose rows it holds back; ``mapper_final`` (if given) is called once after the
      task's last batch (once a task, where mrjob's is once a file of a combined split) and
      returns what is still held (a table, or ``None``). Either may return an iterable of
      tables instead, taken one at a time (``mapped_tables``): rows released at once need not
      be one table.
    * ``keys``: the columns that group and partition rows (the step's mrjob key).
    * ``aggregate``: ``{output column: (input column, operation)}``; empty: no grouping,
      the partition's rows are handed to ``reducer`` as they are.
    * ``combiner``: an Arrow function applied to each map-side partial table (e.g. a
      per-task top-k), ``reducer``: to each reduce slice's final table (whole key groups:
      the partition, or a part of it within the memory budget).
    * ``output_keys``/``output_values`` (last step): the columns whose values become the
      output key and value (default ``keys`` and the ``aggregate`` columns; a list when
      several), or ``value(row)`` for the value.
    * ``columns``: Parquet columns to read (projection); each file gives those it has, so
      a join names the columns it needs from all its tables.
    * ``text_reader``: text input read as columns rather than lines: called with each
      block of whole lines (bytes, valid UTF-8), it returns the mapper's input table, or
      ``None`` to get that block as ``line`` batches (``engine.arrow.text.delimited``
      parses delimited lines at C++ speed).
    * ``key_bytes``: each row's key bytes (table → binary array), for a job whose
      protocol is not mrjob's JSON (``engine.sql.vector``): they partition and order the
      rows as the job's record form does. Default: the keys encoded by the protocol.
    * ``output_bytes`` (last step): each row's output line (table → binary array, no line
      ends), for a job whose output protocol is its own; it replaces ``output_keys``,
      ``output_values`` and ``value``, which encode a row at a time.
    * ``to_pairs`` / ``from_pairs``: where the next (previous) step runs its record methods
      (``vector_steps()`` gives ``None`` for it; ``engine.arrow.boundary``): the reducer's
      result table as the ``(key, value)`` pairs the step's record reducer would yield, and
      a list of the previous record reducer's pairs as this step's mapper input table.
    """

    keys: Sequence[str]
    aggregate: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    mapper: Callable[[pa.RecordBatch], Any] | None = None
    mapper_final: Callable[[], Any] | None = None
    combiner: Callable[[pa.Table], pa.Table] | None = None
    reducer: Callable[[pa.Table], pa.Table] | None = None
    output_keys: Sequence[str] | None = None
    output_values: Sequence[str] | None = None
    value: Callable[[dict[str, Any]], Any] | None = None
    columns: Sequence[str] | None = None
    text_reader: Callable[[bytes], pa.Table | None] | None = None
    key_bytes: Callable[[pa.Table], pa.Array] | None = None
    output_bytes: Callable[[pa.Table], pa.Array] | None = None
    to_pairs: Callable[[pa.Table], Iterable[tuple[Any, Any]]] | None = None
    from_pairs: Callable[[Sequence[tuple[Any, Any]]], pa.Table] | None = None

    def validate(self) -> None:
        """Refuse unknown operations and impossible declarations."""
        if not self.keys:
            raise JobDefinitionError("a VectorStep needs at least one key column")
        for name, (_column, op) in self.aggregate.items():
            if op not in OPERATIONS:
                raise JobDefinitionError(
                    f"vectorized aggregation {name!r} uses {op!r}; choose one of {', '.join(OPERATIONS)}"
                )
            if name in self.keys:
                raise JobDefinitionError(f"value column {name!r} has the name of a key column")
        writes = self.output_values is not None or self.value is not None or self.output_bytes is not None
        if not self.aggregate and not writes:
            raise JobDefinitionError(
                "a VectorStep without aggregate needs output_values, value or output_bytes"
            )


def one_group(batch: pa.RecordBatch, key: str = "all") -> pa.Table:
    """*batch* with a null key column: every row in one group, as an mrjob ``None`` key."""
    import pyarrow as pa

    return pa.Table.from_batches([batch]).append_column(key, pa.nulls(batch.num_rows, pa.int8()))


def mapped_tables(mapped: Any) -> Iterator[Any]:
    """What a twin's ``mapper`` or ``mapper_final`` returned, as the tables to take in turn:
    none for ``None``, a table (or record batch) itself, else each table of the iterable, made
    as it is taken, so that a mapper releasing many held batches at once has one batch's output
    at a time in memory, not all of them (``engine.sql.vector._ProbeAhead``)."""
    if mapped is None:
        return iter(())
    if hasattr(mapped, "schema"):  # a table or a record batch
        return iter((mapped,))
    return iter(mapped)
