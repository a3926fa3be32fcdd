"""Every Parquet row's ``w`` under its key ``k``, through a vectorized table step (no
aggregation: the rows reach the reduce side as the files type them, nested types too)."""

from mrjob.job import MRJob


class MRVectorParquetRows(MRJob):
    def mapper(self, _, row):
        yield row["k"], row.get("w")

    def reducer(self, key, values):
        for value in values:
            yield key, value

    def vector_steps(self):
        from engine.arrow import VectorStep

        return [
            VectorStep(columns=("k", "w"), mapper=self.columns_of_batch, keys=("k",), output_values=("w",))
        ]

    @staticmethod
    def columns_of_batch(batch):
        """The batch's columns as the file types them; a missing ``w`` is a NULL column."""
        import pyarrow as pa

        w = batch.column("w") if "w" in batch.schema.names else pa.nulls(batch.num_rows)
        return pa.table({"k": batch.column("k"), "w": w})


if __name__ == "__main__":
    MRVectorParquetRows.run()
