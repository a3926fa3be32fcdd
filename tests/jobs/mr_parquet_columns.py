"""Counts Parquet rows by the set of columns they carry (files may differ in schema)."""

from mrjob.job import MRJob


class MRParquetColumns(MRJob):
    def mapper(self, _, row):
        yield ",".join(sorted(row)), 1

    def reducer(self, columns, counts):
        yield columns, sum(counts)


if __name__ == "__main__":
    MRParquetColumns.run()
