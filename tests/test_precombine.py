"""The pre-combiner hands the combiner every record once, grouped, in encoded-key order."""

from __future__ import annotations

import json

from mrjob.protocol import JSONProtocol

from engine.mrjob_bridge import instance_write
from engine.precombine import PreCombiner
from engine.shuffle import MapOutputCollector, merge_runs


def _run(tmp_path, pairs, budget=1 << 20):
    protocol = JSONProtocol()
    calls: list[tuple[object, list]] = []

    def combine(groups):
        for key, values in groups:
            values = list(values)
            calls.append((key, values))
            yield key, sum(v if isinstance(v, int) else sum(v) for v in values)

    collector = MapOutputCollector(str(tmp_path), 1, budget, None)
    pre = PreCombiner(instance_write(protocol), combine, collector, budget, None, protocol.read)
    pre.add_pairs(pairs)
    pre.flush()
    runs = collector.close()
    lines = list(merge_runs([runs[0]])) if runs else []
    return calls, [protocol.read(line) for line in lines], pre


def test_groups_reach_the_combiner_in_encoded_key_order_whatever_the_key_type(tmp_path):
    pairs = [("b", 1), (2, 1), (None, 1), ("a", [1, 2]), ("b", 1), (10, 1), ([1, "x"], 1), ("a", 1), (2, 1)]
    calls, output, pre = _run(tmp_path, pairs)
    keys = [key for key, _ in calls]
    assert [json.dumps(k) for k in keys] == sorted(json.dumps(k) for k in keys)  # one flush, byte order
    assert dict((json.dumps(k), v) for k, v in calls) == {
        '"a"': [[1, 2], 1],  # a str key's list value joins its group, in emission order
        '"b"': [1, 1],
        "10": [1],
        "2": [1, 1],
        "null": [1],
        '[1, "x"]': [1],
    }
    assert pre.records == len(pairs) and pre.flushes == 1
    assert sorted(json.dumps(k) for k, _ in output) == sorted(json.dumps(k) for k in keys)


def test_a_tiny_budget_flushes_often_and_still_combines_every_record_once(tmp_path):
    pairs = [(i % 7, 1) for i in range(500)] + [(str(i % 5), 1) for i in range(500)]
    calls, output, pre = _run(tmp_path, pairs, budget=300)
    assert pre.flushes > 10
    assert sum(len(values) for _, values in calls) == len(pairs)  # every record, once
    totals: dict[str, int] = {}
    for key, value in output:
        totals[json.dumps(key)] = totals.get(json.dumps(key), 0) + value
    expected = {str(i): 500 // 7 + (i < 500 % 7) for i in range(7)}
    expected.update({f'"{i}"': 100 for i in range(5)})
    assert totals == expected
