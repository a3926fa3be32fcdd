"""Partition, sort, combine, spill and merge map output: bytes in, bytes out.

A record is one encoded line, ``key<TAB>value`` as Hadoop Streaming sees it; the key is
everything before the first tab (the whole line if it has none). Keys sort by their bytes.
Without ``SORT_VALUES`` the sort is stable, so the values of a key keep the order in
which the map tasks (in task order) emitted them, exactly as mrjob's inline runner does.
"""

from __future__ import annotations

import heapq
import os
import zlib
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Iterable, Iterator, Sequence

from engine.commit import run_path, spill_path

#: Estimated bytes of Python overhead per buffered record (tuple + two bytes objects).
RECORD_OVERHEAD = 120
#: Read buffer per run file during a merge.
MERGE_BUFFER = 1 << 16

Combiner = Callable[[Iterator[bytes]], Iterator[bytes]]


def key_of(line: bytes) -> bytes:
    """The Hadoop Streaming key of an encoded line."""
    tab = line.find(b"\t")
    return line if tab < 0 else line[:tab]


def partition_of(key: bytes, num_partitions: int) -> int:
    """Stable hash partitioning: the same key goes to the same reducer in every process."""
    return zlib.crc32(key) % num_partitions if num_partitions > 1 else 0


def split_newlines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """A line holding ``\\n`` is several records to Hadoop Streaming; split it the same way."""
    for line in lines:
        if b"\n" in line:
            yield from line.split(b"\n")
        else:
            yield line


def sort_records(records: list[tuple[bytes, bytes]], sort_values: bool) -> None:
    """Sort ``(key, line)`` pairs in place: by key (stable), or by key then line."""
    if sort_values:
        records.sort()
    else:
        records.sort(key=itemgetter(0))


@dataclass
class SpillStats:
    """What a collector did, for the job summary."""

    records: int = 0
    bytes: int = 0
    spills: int = 0
    spilled_records: int = 0
    spilled_bytes: int = 0
    run_bytes: dict[int, int] = field(default_factory=dict)


class MapOutputCollector:
    """Buffers a map task's output lines per partition within a memory budget.

    When the buffer passes the budget, each partition is sorted, combined and written to
    a sorted run file. ``close()`` merges each partition's runs into one run.
    """

    def __init__(
        self,
        run_dir: str,
        num_partitions: int,
        budget_bytes: int,
        combiner: Combiner | None = None,
        sort_values: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.num_partitions = num_partitions
        self.budget = budget_bytes
        self.combiner = combiner
        self.sort_values = sort_values
        self.stats = SpillStats()
        self._buffers: list[list[tuple[bytes, bytes]]] = [[] for _ in range(num_partitions)]
        self._buffered = 0
        self._runs: list[list[str]] = [[] for _ in range(num_partitions)]

    def add_all(self, lines: Iterable[bytes]) -> None:
        """Partition and buffer every line, spilling whenever the budget is passed."""
        buffers = self._buffers
        n = self.num_partitions
        crc32 = zlib.crc32
        budget = self.budget
        size = self._buffered
        records = 0
        nbytes = 0
        for line in lines:
            if b"\n" in line:
                self._buffered = size
                self.stats.records += records
                self.stats.bytes += nbytes
                records = nbytes = 0
                self.add_all(line.split(b"\n"))
                size = self._buffered
                continue
            tab = line.find(b"\t")
            key = line if tab < 0 else line[:tab]
            buffers[crc32(key) % n if n > 1 else 0].append((key, line))
            records += 1
            nbytes += len(line)
            size += len(line) + len(key) + RECORD_OVERHEAD
            if size > budget:
                self._buffered = size
                self.spill()
                size = 0
        self._buffered = size
        self.stats.records += records
        self.stats.bytes += nbytes

    def spill(self) -> None:
        """Sort, combine and write every non-empty partition buffer as a run."""
        spill_no = self.stats.spills
        for p, records in enumerate(self._buffers):
            if not records:
                continue
            sort_records(records, self.sort_values)
            lines: Iterable[bytes] = (line for _, line in records)
            if self.combiner is not None:
                lines = self._combined(lines)
            path = spill_path(self.run_dir, p, spill_no)
            self.stats.spilled_records += write_run(path, lines)
            self.stats.spilled_bytes += os.path.getsize(path)
            self._runs[p].append(path)
            self._buffers[p] = []
        self._buffered = 0
        self.stats.spills += 1

    def _combined(self, sorted_lines: Iterable[bytes]) -> list[bytes]:
        assert self.combiner is not None
        out = [(key_of(line), line) for line in split_newlines(self.combiner(iter(sorted_lines)))]
        # A combiner may emit keys out of order; runs must stay sorted.
        sort_records(out, self.sort_values)
        return [line for _, line in out]

    def close(self) -> dict[int, str]:
        """Spill what is buffered and leave one sorted run per non-empty partition."""
        if self._buffered or any(self._buffers):
            self.spill()
        final: dict[int, str] = {}
        for p, runs in enumerate(self._runs):
            if not runs:
                continue
            if len(runs) == 1:
                final[p] = runs[0]
            else:
                path = run_path(self.run_dir, p)
                merged: Iterable[bytes] = merge_runs(runs, self.sort_values)
                if self.combiner is not None:
                    merged = self._combined(merged)
                write_run(path, merged)
                for run in runs:
                    os.remove(run)
                final[p] = path
            self.stats.run_bytes[p] = os.path.getsize(final[p])
        return final


def write_run(path: str, lines: Iterable[bytes]) -> int:
    """Write sorted lines to a run file; returns how many were written."""
    count = 0
    with open(path, "wb", buffering=1 << 20) as f:
        write = f.write
        for line in lines:
            write(line)
            write(b"\n")
            count += 1
    return count


def read_run(path: str) -> Iterator[bytes]:
    """The lines of one run file, without their ``\\n``."""
    with open(path, "rb", buffering=MERGE_BUFFER) as f:
        for line in f:
            yield line[:-1]


def merge_runs(paths: Sequence[str], sort_values: bool = False) -> Iterator[bytes]:
    """Stream-merge sorted runs; ties keep the order of *paths* (stable)."""
    if len(paths) == 1:
        return read_run(paths[0])
    iterators = [read_run(p) for p in paths]
    if sort_values:
        return heapq.merge(*iterators, key=_key_and_line)
    return heapq.merge(*iterators, key=key_of)


def _key_and_line(line: bytes) -> tuple[bytes, bytes]:
    return key_of(line), line
