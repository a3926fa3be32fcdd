"""Per-key statistics with a vectorized twin: every declared aggregation, nulls included.

Input lines are ``key,value``; an empty key or value is a null. The record reducer
computes exactly what the Arrow aggregations compute: sum/min/max/mean/first skip nulls
(null when a key has no values), count counts rows, collect keeps nulls, in input order.
"""

from mrjob.job import MRJob


class MRVectorStats(MRJob):
    def mapper(self, _, line):
        if "," not in line:
            return
        key, value = line.split(",", 1)
        yield (key or None), (int(value) if value else None)

    def reducer(self, key, values):
        values = list(values)
        known = [v for v in values if v is not None]
        yield (
            key,
            [
                sum(known) if known else None,
                len(values),
                min(known) if known else None,
                max(known) if known else None,
                sum(known) / len(known) if known else None,
                known[0] if known else None,
                values,
            ],
        )

    def vector_steps(self):
        from engine.arrow import VectorStep

        return [
            VectorStep(
                mapper=self.parse_batch,
                keys=("key",),
                aggregate={
                    "sum": ("value", "sum"),
                    "count": ("value", "count"),
                    "min": ("value", "min"),
                    "max": ("value", "max"),
                    "mean": ("value", "mean"),
                    "first": ("value", "first"),
                    "collect": ("value", "collect"),
                },
            )
        ]

    def parse_batch(self, batch):
        import pyarrow as pa
        import pyarrow.compute as pc

        lines = batch.column("line")
        lines = pc.filter(lines, pc.match_substring(lines, ","))
        parts = pc.split_pattern(lines, ",", max_splits=1)
        key = pc.list_element(parts, 0)
        value = pc.list_element(parts, 1)
        null_if_empty = lambda a: pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)  # noqa: E731
        return pa.table({"key": null_if_empty(key), "value": pc.cast(null_if_empty(value), pa.int64())})


if __name__ == "__main__":
    MRVectorStats.run()
