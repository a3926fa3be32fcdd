"""Deterministic generators and DuckDB reference loaders for the two labs' data sets.

``data.tickit`` writes the Redshift TICKIT sample (text files in the real names and
formats, plus Parquet), ``data.cloudfront`` writes CloudFront access logs as read by
the EMR Hive tutorial, and ``data.duckdb_sql`` loads both into DuckDB and holds the
labs' original queries as the reference answers.
"""
