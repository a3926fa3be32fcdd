"""The vectorized (Arrow) path: a job's map side on record batches, a declared aggregation
on the reduce side, and Arrow IPC shuffle files.

A job offers a twin of its record methods with ``vector_steps()``::

    def vector_steps(self):
        from engine.arrow import VectorStep
        return [VectorStep(mapper=self.words_in_batch, keys=("word",),
                           aggregate={"count": ("word", "count")})]

``mapper`` takes a ``pyarrow.RecordBatch`` (text input: one string column ``line`` with
the line endings stripped as mrjob strips them; Parquet: the file's columns, or
``columns``) and returns a table holding the key column(s) and the aggregated inputs.
``aggregate`` maps each output value column to ``(input column, operation)``; the
operations (sum, count, min, max, mean, first, collect) run inside Arrow: partially on
the map side (the combiner), then finally on the reduce side. ``reducer``, if given, is an
Arrow function applied to the aggregated table of whole key groups of a reduce partition:
the whole partition, or, when it is larger than the task's memory budget, each of the
slices it is reduced in (an mrjob reducer sees one key at a time, so one that computes
what its record form computes gives the same result either way). The result's rows
become the job's output pairs — key: the key column (a list if several), value: the value
column (a list if several, or ``value(row)``) — encoded with the job's output protocol,
partitioned by the same hash of the same encoded key and sorted by the same key bytes as
the record path, so both paths write identical parts.

Memory: both sides stay within the task's share of ``--memory-budget``. A map task
buffers mapped rows up to a ``WORK_FACTOR``-th of it, combines them and writes each
partition's rows ordered by a sub-bucket of the key's hash (``BUCKETS``, the rows per
bucket in the run's metadata); a task that flushed several times merges its spills
bucket by bucket into one run per partition. A reduce task reads a small partition
whole, a large one a range of buckets (whole key groups) at a time; the last step's
slices are sorted by key bytes and merged into the part, written from Arrow buffers.

Parquet files may type a column differently: a dictionary column is read as its values,
and types that hold the same Python values (int32 and int64, string and large_string, a
NULL column and any other) are unified where the rows meet; others (string and struct,
int and double) are an ``InputError`` naming the column and both files, not retried.

The record form stays the reference: it runs on every mrjob runner, and tests prove the
two forms agree. ``--no-vectorize`` forces the record path.

Modules, in the order a record passes through them: ``read`` (a split as batches),
``step`` (the twin's declaration and its mapper), ``aggregate`` (partial and final
aggregations), ``keys`` (key bytes and CRC-32 partitions, as the record path encodes
them), ``shuffle`` (IPC runs, the reduce of a partition in slices), ``output`` (sorted,
encoded lines of the last step), ``text`` (text blocks as Arrow lines or delimited
columns); ``pipeline`` runs a task's map or reduce on them.
"""

from __future__ import annotations

from engine.arrow.step import VectorStep, one_group

__all__ = ["VectorStep", "one_group"]
