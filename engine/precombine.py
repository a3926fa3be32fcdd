"""Map-side hash aggregation: group map output by key *before* encoding it.

Hadoop encodes every map output record, sorts the spill, decodes it again and runs the
combiner. When the combiner would receive exactly the objects the mapper emitted (string
keys; str/int/float/bool/None values; a protocol whose round trip returns them unchanged),
the engine can skip the encode → sort → decode per record: it appends each value to a
dict keyed by the key, and at each flush runs the job's own combiner over the groups in
encoded-key order. The combiner sees what it would have seen under Hadoop — the same keys
and values, values in emission order — while the per-record cost drops to one dict append.
Anything else (other types, other protocols) takes the encoded path unchanged.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from mrjob.job import MRJob
from mrjob.protocol import PickleProtocol, RapidJSONProtocol, SimpleJSONProtocol, StandardJSONProtocol

from engine.shuffle import MapOutputCollector

#: Protocols whose decode(encode(k, v)) == (k, v), same types, for the types below.
EXACT_PROTOCOLS = (StandardJSONProtocol, SimpleJSONProtocol, RapidJSONProtocol, PickleProtocol)
#: Value types that survive those protocols' round trip unchanged.
EXACT_VALUE_TYPES = frozenset({str, int, float, bool, type(None)})
#: Estimated bytes per new key and per appended value.
KEY_OVERHEAD = 150
VALUE_OVERHEAD = 40

Pairs = Iterable[tuple[Any, Any]]
Write = Callable[[Any, Any], bytes]


def exact_write(job: Any, step: int) -> Write | None:
    """The mapper's encoder if this job's map output may be pre-aggregated, else None."""
    if type(job).pick_protocols is not MRJob.pick_protocols:
        return None  # the job chooses protocols itself; don't second-guess it
    try:
        _, write_protocol = job._pick_protocol_instances(step, "mapper")
    except Exception:
        return None
    if not isinstance(write_protocol, EXACT_PROTOCOLS):
        return None
    return write_protocol.write


class PreCombiner:
    """Buffers map output pairs by key within a budget; flushes through the combiner."""

    def __init__(
        self,
        write: Write,
        combine: Callable[[Iterator[tuple[Any, Any]]], Iterator[tuple[Any, Any]]],
        collector: MapOutputCollector,
        budget_bytes: int,
    ) -> None:
        self.write = write
        self.combine = combine
        self.collector = collector
        self.budget = budget_bytes
        self.records = 0
        self.flushes = 0
        self._groups: dict[str, list[Any]] = {}
        self._size = 0

    def add_pairs(self, pairs: Pairs) -> None:
        """Group exact pairs in memory; encode the others straight into the collector."""
        groups = self._groups
        exact_types = EXACT_VALUE_TYPES
        write = self.write
        collector = self.collector
        size = self._size
        budget = self.budget
        records = 0
        for key, value in pairs:
            records += 1
            if type(key) is str and type(value) in exact_types:
                values = groups.get(key)
                if values is None:
                    groups[key] = [value]
                    size += len(key) + KEY_OVERHEAD
                else:
                    values.append(value)
                    size += VALUE_OVERHEAD
                if size > budget:
                    self._size = size
                    self.flush()
                    groups = self._groups
                    size = 0
            else:
                collector.add_all((write(key, value),))
        self._size = size
        self.records += records

    def flush(self) -> None:
        """Run the combiner over the buffered groups, in encoded-key order."""
        if not self._groups:
            return
        write = self.write
        ordered = []
        for key, values in self._groups.items():
            line = write(key, values[0])
            tab = line.find(b"\t")
            ordered.append((line if tab < 0 else line[:tab], key, values))
        self._groups = {}
        self._size = 0
        ordered.sort(key=itemgetter(0))
        pairs = ((key, value) for _, key, values in ordered for value in values)
        self.collector.add_all(write(k, v) for k, v in self.combine(pairs))
        self.flushes += 1
