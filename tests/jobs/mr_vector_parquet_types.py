"""Per-key statistics of Parquet rows whose files may type a column differently.

Each row is ``{"k": key, "v": integer or None, "w": anything or None}`` (``w`` may be
missing from a file). The record reducer computes what the Arrow twin's aggregations
compute: the sum, min, max and first of the non-null ``v``s, every ``w`` (in map task
order, then row order; a missing one is None) and the number of rows. The twin hands the file's columns to
the aggregations as they are, whatever their Arrow types, so that the engine has to
reconcile a dictionary-encoded ``k`` with a plain one, an int32 ``v`` with an int64 one,
and a missing ``w`` with a present one.
"""

from mrjob.job import MRJob


class MRVectorParquetTypes(MRJob):
    def mapper(self, _, row):
        yield row["k"], [row["v"], row.get("w")]

    def reducer(self, key, values):
        values = list(values)
        known = [v for v, _ in values if v is not None]
        yield (
            key,
            [
                sum(known) if known else None,
                min(known) if known else None,
                max(known) if known else None,
                known[0] if known else None,
                [w for _, w in values],
                len(values),
            ],
        )

    def vector_steps(self):
        from engine.arrow import VectorStep

        return [
            VectorStep(
                columns=("k", "v", "w"),
                mapper=self.columns_of_batch,
                keys=("k",),
                aggregate={
                    "sum": ("v", "sum"),
                    "min": ("v", "min"),
                    "max": ("v", "max"),
                    "first": ("v", "first"),
                    "ws": ("w", "collect"),
                    "n": ("v", "count"),
                },
            )
        ]

    @staticmethod
    def columns_of_batch(batch):
        """The batch's columns as the file types them; a missing ``w`` is a NULL column."""
        import pyarrow as pa

        names = batch.schema.names
        w = batch.column("w") if "w" in names else pa.nulls(batch.num_rows)
        return pa.table({"k": batch.column("k"), "v": batch.column("v"), "w": w})


if __name__ == "__main__":
    MRVectorParquetTypes.run()
