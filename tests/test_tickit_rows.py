"""jobs/tickit_rows.py: table names, and text and Parquet rows read as the same values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data import tickit
from jobs.tickit_rows import SCHEMA, fields, format_cents, money_cents, table_of_path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "tickit"


@pytest.mark.parametrize("table", sorted(SCHEMA))
def test_text_and_parquet_rows_agree(table):
    names = [n for n, _ in SCHEMA[table]]
    lines = (SAMPLE / tickit.FILES[table]).read_text().splitlines()
    rows = pq.read_table(SAMPLE / "parquet" / f"{table}.parquet").to_pylist()
    assert len(lines) == len(rows) > 0
    assert [r for r in rows[0]] == names  # the schema's column order is the file's
    for line, row in zip(lines, rows):
        assert fields(table, line, names) == fields(table, row, names), line


def test_normalised_types():
    line = (SAMPLE / "sales_tab.txt").read_text().splitlines()[0]
    salesid, paid, when = fields("sales", line, ("salesid", "pricepaid", "saletime"))
    assert isinstance(salesid, int) and isinstance(paid, int)
    assert len(when) == 19 and when[4] == "-" and when[13] == ":"
    user = "7|ABCDEFGH|Ann|Smith|Kent|WA|a@b.com|(206) 555-0100|TRUE||FALSE|t|f|||||"
    assert fields("users", user, ("userid", "likesports", "liketheatre", "likeconcerts")) == (
        7,
        True,
        None,
        False,
    )
    with pytest.raises(ValueError, match="fields"):
        fields("users", "1|2|3", ("userid",))


def test_table_of_path():
    assert table_of_path("file:///x/y/sales_tab.txt") == "sales"
    assert table_of_path("/x/allusers_pipe.txt.gz") == "users"
    assert table_of_path("hdfs://nn/tickit/parquet/date.parquet") == "date"
    assert table_of_path("/x/words.txt") is None
    assert table_of_path("/x/sales.csv") is None


def test_money():
    assert money_cents("12.50") == 1250
    assert money_cents(Decimal("0.05")) == 5
    assert money_cents("7") == 700
    assert format_cents(123456) == "1234.56"
    assert format_cents(5) == "0.05"
    assert format_cents(-5) == "-0.05"
