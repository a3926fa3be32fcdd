"""engine.sql.vector_text: an Arrow table's rows as the record form's text, a column at a time.

Each function is checked against the record form's own code on the same values: the key bytes
against ``protocol.dumps`` of canonical values, the output rows against ``protocol.dumps``, the
tsv lines against ``results.format_value``, the Hive lines against ``results.hive_text_line``:
generated values of every type the compiler gives a column (NULLs among them), doubles of every
magnitude (zeros, subnormals, NaN, infinities), decimals of scales 0..12 (those Arrow writes with
an exponent), strings with quotes, backslashes, control characters and non-ASCII text.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, List

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sql import operators as ops
from engine.sql import protocol
from engine.sql.results import format_value, hive_text_line
from engine.sql.vector_text import hive_lines, key_bytes, row_json, tsv_lines

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_TRICKY_TEXT = st.sampled_from(
    ['say "hi"', "back\\slash", "tab\tin", "new\nline", "cr\r", "\x01\x1f", "日本", ""]
)
_FLOATS = st.one_of(
    st.floats(),
    st.floats(min_value=-1e17, max_value=1e17),
    st.sampled_from([0.0, -0.0, 12.0, 1e16, 1e15, 9999999999999998.0, 1e-4, 9.999e-5, 0.1, 1 / 3]),
)


def _decimals(scale: int) -> st.SearchStrategy:
    return st.integers(-(10**15), 10**15).map(lambda n: Decimal(n).scaleb(-scale))


#: (Arrow type, values) for each type a column of the Arrow form may have.
_COLUMNS = st.one_of(
    st.tuples(st.just(pa.int64()), st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=12)),
    st.tuples(st.just(pa.int16()), st.lists(st.none() | st.integers(-(2**15), 2**15 - 1), max_size=12)),
    st.tuples(st.just(pa.bool_()), st.lists(st.none() | st.booleans(), max_size=12)),
    st.tuples(st.just(pa.string()), st.lists(st.none() | _TEXT | _TRICKY_TEXT, max_size=12)),
    st.tuples(st.just(pa.float64()), st.lists(st.none() | _FLOATS, max_size=12)),
    st.integers(0, 12).flatmap(
        lambda s: st.tuples(st.just(pa.decimal128(38, s)), st.lists(st.none() | _decimals(s), max_size=12))
    ),
    st.tuples(st.just(pa.date32()), st.lists(st.none() | st.dates(), max_size=12)),
    st.tuples(st.just(pa.timestamp("us")), st.lists(st.none() | st.datetimes(), max_size=12)),
    st.tuples(st.just(pa.null()), st.lists(st.none(), max_size=12)),
)


def _table(columns: List[Any]) -> pa.Table:
    n = min(len(values) for _, values in columns)
    return pa.table({f"o{i}": pa.array(values[:n], kind) for i, (kind, values) in enumerate(columns)})


def _rows(table: pa.Table) -> List[tuple]:
    return list(zip(*(table.column(n).to_pylist() for n in table.schema.names))) if table.num_columns else []


@settings(max_examples=300)
@given(st.lists(_COLUMNS, min_size=1, max_size=3), st.sampled_from(["hive", "redshift"]))
def test_tsv_lines_are_format_values_joined_by_tabs(columns: List[Any], dialect: str) -> None:
    table = _table(columns)
    want = ["\t".join(format_value(v, dialect) for v in row).encode() for row in _rows(table)]
    assert tsv_lines(table, table.schema.names, dialect).to_pylist() == want


@settings(max_examples=300)
@given(st.lists(_COLUMNS, min_size=1, max_size=3))
def test_row_json_is_the_output_protocols_line(columns: List[Any]) -> None:
    table = _table(columns)
    want = [protocol.SqlRowsOutputProtocol().write(None, list(row)) for row in _rows(table)]
    assert row_json(table, table.schema.names).to_pylist() == want


@settings(max_examples=300)
@given(st.lists(_COLUMNS, min_size=1, max_size=3))
def test_key_bytes_are_the_protocols_bytes_of_canonical_values(columns: List[Any]) -> None:
    table = _table(columns)
    want = [protocol.dumps([ops.canonical(v) for v in row]).encode() for row in _rows(table)]
    assert key_bytes(table, table.schema.names).to_pylist() == want


@settings(max_examples=200)
@given(st.lists(_COLUMNS, min_size=1, max_size=3))
def test_hive_lines_are_hive_text_lines(columns: List[Any]) -> None:
    table = _table(columns)
    want = [hive_text_line(row)[:-1].encode() for row in _rows(table)]
    assert hive_lines(table, table.schema.names).to_pylist() == want


def test_the_values_arrow_spells_otherwise() -> None:
    table = pa.table(
        {
            "db": pa.array([12.0, -0.0, 1e16, 2.5e-5, 51255482385.67197, float("nan"), None]),
            "dc": pa.array(
                [Decimal("1E-7"), Decimal("0E-7"), Decimal("-1.5000000")] + [None] * 4, pa.decimal128(9, 7)
            ),
        }
    )
    assert tsv_lines(table, ["db", "dc"], "redshift").to_pylist() == [
        b"12.0\t0.0000001",
        b"-0.0\t0.0000000",
        b"10000000000000000.0\t-1.5000000",
        b"2.5e-05\tNULL",
        b"51255482385.67197\tNULL",
        b"NaN\tNULL",
        b"NULL\tNULL",
    ]
    keys = key_bytes(table, ["db"]).to_pylist()
    assert keys[:3] == [b"[12.0]", b"[0.0]", b"[1e+16]"]  # a key's -0.0 is 0.0; an output's is not
    assert row_json(table, ["db"]).to_pylist()[1] == b"[-0.0]"


@pytest.mark.parametrize("rows", [0, 3])
def test_rows_without_columns(rows: int) -> None:
    table = pa.table({"x": pa.array([1] * rows)}).select([])
    assert row_json(table, []).to_pylist() == [b"[]"] * rows
    assert tsv_lines(table, [], "hive").to_pylist() == [b""] * rows


def test_dates_of_every_year_width() -> None:
    days = [dt.date(1, 1, 1), dt.date(999, 12, 31), dt.date(2008, 1, 5), dt.date(9999, 12, 31)]
    table = pa.table({"d": pa.array(days, pa.date32())})
    assert tsv_lines(table, ["d"], "hive").to_pylist() == [format_value(d).encode() for d in days]
    assert row_json(table, ["d"]).to_pylist() == [protocol.dumps([d]).encode() for d in days]
