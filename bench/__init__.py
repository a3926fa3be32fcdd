"""Benchmarks: the engine beside mrjob's runners (and DuckDB) on the same data, in one run."""
