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

import json.encoder
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from mrjob.protocol import PickleProtocol, RapidJSONProtocol, SimpleJSONProtocol, StandardJSONProtocol

from engine.mrjob_bridge import Encoder, Read, Write, mr_step, step_protocols
from engine.shuffle import MapOutputCollector

#: Protocols whose decode(encode(k, v)) == (k, v), same types, for the types below.
EXACT_PROTOCOLS = (StandardJSONProtocol, SimpleJSONProtocol, RapidJSONProtocol, PickleProtocol)
#: Value types that survive those protocols' round trip unchanged.
EXACT_VALUE_TYPES = frozenset({str, int, float, bool, type(None)})
#: Estimated bytes per new key and per appended value.
KEY_OVERHEAD = 150
VALUE_OVERHEAD = 40

Pairs = Iterable[tuple[Any, Any]]
#: Encodes a str key as the protocol would, for ordering (None: use the protocol's write).
KeyEncoder = Callable[[str], Any]


def exact_key_encoder(write_protocol: Any) -> KeyEncoder | None:
    """A fast encoder of str keys that sorts like the protocol's key bytes.

    The standard JSON protocol writes a str key as ``json.dumps(key)`` (ASCII-only), which
    is exactly ``encode_basestring_ascii(key)``: its text order is its byte order.
    """
    if type(write_protocol) is StandardJSONProtocol:
        return json.encoder.encode_basestring_ascii
    return None


def combiner_for(
    job: Any, step: int
) -> Callable[[Iterator[tuple[Any, list[Any]]]], Iterator[tuple[Any, Any]]]:
    """Run *step*'s combiner over ``(key, values)`` groups, as ``combine_pairs`` would.

    ``MRJob.combine_pairs`` regroups a flat stream of pairs with ``itertools.groupby``; the
    groups are already formed here, so calling the combiner per group saves that pass
    while keeping its contract: ``combiner_init``, ``combiner(key, values)`` per key in
    key order, ``combiner_final``.
    """
    declared = mr_step(job, step)
    combiner = declared["combiner"]
    init = declared["combiner_init"]
    final = declared["combiner_final"]

    def run(groups: Iterator[tuple[Any, list[Any]]]) -> Iterator[tuple[Any, Any]]:
        if init:
            yield from init() or ()
        for key, values in groups:
            yield from combiner(key, iter(values)) or ()
        if final:
            yield from final() or ()

    return run


def exact_protocol(job: Any, step: int) -> Any | None:
    """The mapper's output protocol if this job's map output may be pre-aggregated: one
    of ``EXACT_PROTOCOLS``, and the one mrjob picks (not a job's own ``pick_protocols``)."""
    protocols = step_protocols(job, step, "mapper")
    if protocols is None:
        return None
    _, write_protocol = protocols
    return write_protocol if isinstance(write_protocol, EXACT_PROTOCOLS) else None


class PreCombiner:
    """Buffers map output pairs by key within a budget; flushes through the combiner.

    Pairs of a str key and an exact value are grouped as they are. Every other pair is
    encoded and decoded once, as Hadoop's spill would, and grouped by its encoded key
    (a str key with, say, a list value joins its key's group; an int or ``None`` key gets a
    group of its own): so the combiner sees every record, exactly once per flush, whatever
    the key and value types.
    """

    def __init__(
        self,
        write: Write | Encoder,
        combine: Callable[[Iterator[tuple[Any, list[Any]]]], Iterator[tuple[Any, Any]]],
        collector: MapOutputCollector,
        budget_bytes: int,
        encode_key: KeyEncoder | None,
        read: Read,
    ) -> None:
        self.write = write.write if isinstance(write, Encoder) else write  # the plain function: hot loops
        self.read = read
        self.encode_key = encode_key
        self.combine = combine
        self.collector = collector
        self.budget = budget_bytes
        self.records = 0
        self.flushes = 0
        self._groups: dict[str, list[Any]] = {}
        #: Groups of keys that are not str, by encoded key: [decoded key, values].
        self._others: dict[bytes, tuple[Any, list[Any]]] = {}
        self._size = 0

    def add_pairs(self, pairs: Pairs) -> None:
        """Group the pairs in memory, flushing through the combiner past the budget."""
        groups = self._groups
        exact_types = EXACT_VALUE_TYPES
        size = self._size
        budget = self.budget
        records = 0
        for key, value in pairs:
            records += 1
            if type(key) is str and type(value) in exact_types:
                try:
                    groups[key].append(value)
                    size += VALUE_OVERHEAD
                except KeyError:
                    groups[key] = [value]
                    size += len(key) + KEY_OVERHEAD
            else:
                size += self._add_encoded(key, value)
            if size > budget:
                self._size = size
                self.flush()
                groups = self._groups
                size = 0
        self._size = size
        self.records += records

    def _add_encoded(self, key: Any, value: Any) -> int:
        """Group a pair as the combiner would read it back from a spill; its size estimate."""
        line = self.write(key, value)
        key, value = self.read(line)
        if type(key) is str:
            values = self._groups.setdefault(key, [])
            values.append(value)
            return len(line) + (KEY_OVERHEAD if len(values) == 1 else VALUE_OVERHEAD)
        tab = line.find(b"\t")
        key_bytes = line if tab < 0 else line[:tab]
        group = self._others.get(key_bytes)
        if group is None:
            self._others[key_bytes] = (key, [value])
            return len(line) + KEY_OVERHEAD
        group[1].append(value)
        return len(line) + VALUE_OVERHEAD

    def flush(self) -> None:
        """Run the combiner over the buffered groups, in encoded-key order."""
        if not self._groups and not self._others:
            return
        write = self.write
        encode_key = self.encode_key if not self._others else None
        if encode_key is not None:
            ordered: list[tuple[Any, Any, list[Any]]] = [
                (encode_key(key), key, values) for key, values in self._groups.items()
            ]
        else:
            ordered = []
            for key, values in self._groups.items():
                line = write(key, values[0])
                tab = line.find(b"\t")
                ordered.append((line if tab < 0 else line[:tab], key, values))
            ordered.extend((key_bytes, key, values) for key_bytes, (key, values) in self._others.items())
        self._groups = {}
        self._others = {}
        self._size = 0
        ordered.sort(key=itemgetter(0))
        groups = ((key, values) for _, key, values in ordered)
        self.collector.add_all(write(k, v) for k, v in self.combine(groups))
        self.flushes += 1
