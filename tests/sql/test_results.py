"""Tests for engine.sql.results: the tsv, csv, jsonl and table output formats and Hive text lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import List, Sequence

import pytest

from engine.sql.results import default_format, format_value, hive_text_line, write_rows

COLUMNS = ["id", "name", "flag", "price", "day", "ts", "ratio"]
ROWS = [
    (1, "plain", True, Decimal("12.50"), dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), 1.5),
    (
        2,
        "tab\there, new\nline \"q\" ü 日本",
        False,
        Decimal("1E+2"),
        dt.date(1999, 12, 31),
        dt.datetime(2024, 1, 2, 3, 4, 5, 120000),
        12.0,
    ),
    (None, None, None, None, None, None, None),
]


def render(rows: Sequence[tuple], columns: Sequence[str], fmt: str, dialect: str = "hive") -> str:
    out = io.StringIO()
    n = write_rows(iter(rows), columns, fmt, out, dialect)
    assert n == len(rows)
    return out.getvalue()


# -- format_value ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,hive,redshift",
    [
        (None, "NULL", "NULL"),
        (True, "true", "t"),
        (False, "false", "f"),
        (0, "0", "0"),
        (-42, "-42", "-42"),
        (10**20, "100000000000000000000", "100000000000000000000"),
        (Decimal("12.50"), "12.50", "12.50"),
        (Decimal("1E+2"), "100", "100"),
        (Decimal("1.5E-7"), "0.00000015", "0.00000015"),
        (Decimal("0E-2"), "0.00", "0.00"),
        (Decimal("-3.140"), "-3.140", "-3.140"),
        (12.0, "12.0", "12.0"),
        (-0.0, "-0.0", "-0.0"),
        (1e16, "10000000000000000.0", "10000000000000000.0"),
        (0.1, "0.1", "0.1"),
        (1 / 3, repr(1 / 3), repr(1 / 3)),
        (1e-07, "1e-07", "1e-07"),
        (float("nan"), "NaN", "NaN"),
        (float("inf"), "Infinity", "Infinity"),
        (float("-inf"), "-Infinity", "-Infinity"),
        (dt.date(2024, 2, 29), "2024-02-29", "2024-02-29"),
        (dt.date(5, 1, 1), "0005-01-01", "0005-01-01"),
        (dt.datetime(2024, 2, 29, 23, 59, 58), "2024-02-29 23:59:58", "2024-02-29 23:59:58"),
        (dt.datetime(2024, 2, 29, 0, 0, 0, 500000), "2024-02-29 00:00:00.5", "2024-02-29 00:00:00.5"),
        (dt.datetime(2024, 2, 29, 0, 0, 0, 1), "2024-02-29 00:00:00.000001", "2024-02-29 00:00:00.000001"),
        ("héllo wörld ✓", "héllo wörld ✓", "héllo wörld ✓"),
        ("a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e", "a\\tb\\nc\\rd\\\\e"),
        ("", "", ""),
    ],
)
def test_format_value(value: object, hive: str, redshift: str) -> None:
    assert format_value(value) == hive
    assert format_value(value, "hive") == hive
    assert format_value(value, dialect="redshift") == redshift


def test_format_value_refuses_unknown_types_and_dialects() -> None:
    with pytest.raises(TypeError, match="bytes"):
        format_value(b"x")
    with pytest.raises(ValueError, match="dialect"):
        format_value(1, "mysql")


# -- tsv ---------------------------------------------------------------------------------------------------


def test_tsv_hive() -> None:
    assert render(ROWS, COLUMNS, "tsv") == (
        "1\tplain\ttrue\t12.50\t2024-01-02\t2024-01-02 03:04:05\t1.5\n"
        "2\ttab\\there, new\\nline \"q\" ü 日本\tfalse\t100\t1999-12-31\t2024-01-02 03:04:05.12\t12.0\n"
        "NULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\n"
    )


def test_tsv_redshift_booleans() -> None:
    text = render([(True, False, None)], ["a", "b", "c"], "tsv", "redshift")
    assert text == "t\tf\tNULL\n"


def test_tsv_every_row_one_line() -> None:
    lines = render(ROWS, COLUMNS, "tsv").split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(ROWS)
    assert all(len(line.split("\t")) == len(COLUMNS) for line in lines[:-1])


def test_tsv_empty_result_prints_nothing() -> None:
    assert render([], COLUMNS, "tsv") == ""


# -- csv ---------------------------------------------------------------------------------------------------


def test_csv_exact_text() -> None:
    assert render(ROWS, COLUMNS, "csv") == (
        "id,name,flag,price,day,ts,ratio\n"
        "1,plain,true,12.50,2024-01-02,2024-01-02 03:04:05,1.5\n"
        '2,"tab\there, new\nline ""q"" ü 日本",false,100,1999-12-31,2024-01-02 03:04:05.12,12.0\n'
        ",,,,,,\n"
    )


def test_csv_reads_back() -> None:
    text = render(ROWS, COLUMNS, "csv", "redshift")
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert records[0] == COLUMNS
    assert records[1] == ["1", "plain", "t", "12.50", "2024-01-02", "2024-01-02 03:04:05", "1.5"]
    assert records[2][1] == 'tab\there, new\nline "q" ü 日本'
    assert records[2][2] == "f"
    assert records[3] == [""] * len(COLUMNS)
    assert len(records) == 1 + len(ROWS)


def test_csv_empty_result_prints_header() -> None:
    assert render([], ["a", "b,c"], "csv") == 'a,"b,c"\n'


# -- jsonl -------------------------------------------------------------------------------------------------


def test_jsonl_exact_text() -> None:
    ts = dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    rows = [(1, True, None, Decimal("0.10"), 2.5, dt.date(2024, 1, 2), ts, "ü\t\"")]
    cols = ["i", "b", "n", "d", "f", "day", "ts", "s"]
    assert render(rows, cols, "jsonl", "redshift") == (
        '{"i": 1, "b": true, "n": null, "d": 0.10, "f": 2.5, "day": "2024-01-02", '
        '"ts": "2024-01-02 03:04:05.000006", "s": "ü\\t\\""}\n'
    )


def parse_timestamp(text: str) -> dt.datetime:
    """Read back a timestamp's text (strptime's %f takes 1-6 digits; 3.9's fromisoformat takes only 6)."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S")


def test_jsonl_round_trips() -> None:
    text = render(ROWS, COLUMNS, "jsonl")
    lines = text.splitlines()
    assert len(lines) == len(ROWS)
    for line, row in zip(lines, ROWS):
        obj = json.loads(line, parse_float=Decimal)
        assert list(obj) == COLUMNS
        id_, name, flag, price, day, ts, ratio = row
        assert obj["id"] == id_
        assert obj["name"] == name
        assert obj["flag"] is flag
        assert obj["price"] == price  # Decimal("1E+2") is written 100, which reads back as the int 100
        assert obj["day"] == (None if day is None else day.isoformat())
        assert (None if obj["ts"] is None else parse_timestamp(obj["ts"])) == ts
        assert (obj["ratio"] is None) if ratio is None else (float(obj["ratio"]) == ratio)


def test_jsonl_decimals_exact() -> None:
    values = [Decimal("12.50"), Decimal("0.10"), Decimal("1E+2"), Decimal("-0.000001"), Decimal("0E-3"),
              Decimal("123456789012345678901234567890.123456789")]
    text = render([(v,) for v in values], ["x"], "jsonl")
    parsed = [json.loads(line, parse_float=Decimal)["x"] for line in text.splitlines()]
    assert parsed == values
    assert [str(p) for p in parsed[:2]] == ["12.50", "0.10"]
    assert '{"x": 0.10}' in text.splitlines()


def test_jsonl_non_finite_numbers_are_null() -> None:
    rows = [(float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("-Infinity"))]
    text = render(rows, list("abcde"), "jsonl")
    assert json.loads(text) == dict.fromkeys("abcde")


def test_jsonl_floats() -> None:
    values = [0.1, 12.0, 1e16, 1e-07, -2.5, 1 / 3]
    text = render([(v,) for v in values], ["x"], "jsonl")
    assert [json.loads(line)["x"] for line in text.splitlines()] == values


def test_jsonl_duplicate_column_names() -> None:
    text = render([(1, 2, 3, 4)], ["a", "a", "b", "a"], "jsonl")
    assert text == '{"a": 1, "a_2": 2, "b": 3, "a_3": 4}\n'
    # a generated name never collides with a column's own name
    obj = json.loads(render([(1, 2, 3)], ["a", "a", "a_2"], "jsonl"))
    assert obj == {"a": 1, "a_3": 2, "a_2": 3}


def test_jsonl_empty_result_prints_nothing() -> None:
    assert render([], COLUMNS, "jsonl") == ""


# -- table -------------------------------------------------------------------------------------------------


def test_table_exact_text() -> None:
    rows = [(1, "x", None, Decimal("12.50")), (None, "longer", True, Decimal("1E+2"))]
    assert render(rows, ["n", "name", "b", "price"], "table") == (
        "  n   |  name  |  b   | price\n"
        "------+--------+------+-------\n"
        "    1 | x      | NULL | 12.50\n"
        " NULL | longer | true |   100\n"
        "(2 rows)\n"
    )


def test_table_one_row_footer_and_redshift_booleans() -> None:
    assert render([(False,)], ["ok"], "table", "redshift") == " ok\n----\n f\n(1 row)\n"


def test_table_empty_result() -> None:
    assert render([], ["a", "bb"], "table") == " a | bb\n---+----\n(0 rows)\n"


def table_lines(rows: Sequence[tuple], columns: Sequence[str]) -> List[str]:
    return render(rows, columns, "table").splitlines()


def test_table_alignment() -> None:
    rows = [(1.5, "a", dt.date(2024, 1, 2)), (10.25, "bcd", None), (None, None, dt.date(2024, 1, 3))]
    lines = table_lines(rows, ["num", "txt", "day"])
    assert lines[2] == "   1.5 | a    | 2024-01-02"
    assert lines[3] == " 10.25 | bcd  | NULL"
    assert lines[4] == "  NULL | NULL | 2024-01-03"
    assert lines[-1] == "(3 rows)"


def test_table_escapes_and_wide_characters() -> None:
    lines = table_lines([("日本", "a\tb\nc"), ("ab", "d")], ["s", "t"])
    assert lines == [
        "  s   |    t",
        "------+---------",
        " 日本 | a\\tb\\nc",
        " ab   | d",
        "(2 rows)",
    ]


def test_table_numbers_with_text_left_aligned() -> None:
    # a column mixing numbers and text (or booleans) is not a numeric column
    lines = table_lines([(1, True), ("abc", False)], ["m", "b"])
    assert lines[2:4] == [" 1   | true", " abc | false"]


# -- hive_text_line ----------------------------------------------------------------------------------------


def test_hive_text_line_exact_bytes() -> None:
    row = (
        1,
        None,
        True,
        False,
        Decimal("12.50"),
        Decimal("1E+2"),
        12.0,
        0.25,
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123400),
        "ü x,y",
    )
    line = hive_text_line(row)
    assert line.encode("utf-8") == (
        b"1\x01\\N\x01true\x01false\x0112.50\x01100\x0112.0\x010.25\x012024-01-02\x01"
        b"2024-01-02 03:04:05\x012024-01-02 03:04:05.1234\x01\xc3\xbc x,y\n"
    )


def test_hive_text_line_strings_raw_and_edges() -> None:
    assert hive_text_line(("a\tb", "")) == "a\tb\x01\n"
    assert hive_text_line((None,)) == "\\N\n"
    assert hive_text_line(()) == "\n"


# -- write_rows errors, default_format ---------------------------------------------------------------------


def test_write_rows_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        write_rows([], ["a"], "xml", io.StringIO())
    with pytest.raises(ValueError, match="dialect"):
        write_rows([], ["a"], "tsv", io.StringIO(), "oracle")
    for fmt in ("table", "tsv", "csv", "jsonl"):
        with pytest.raises(ValueError, match="2 values for 1 columns"):
            write_rows([(1, 2)], ["a"], fmt, io.StringIO())


def test_write_rows_counts_a_generator() -> None:
    out = io.StringIO()
    assert write_rows(((i,) for i in range(5)), ["i"], "tsv", out) == 5
    assert out.getvalue() == "0\n1\n2\n3\n4\n"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_format() -> None:
    assert default_format(io.StringIO()) == "tsv"
    assert default_format(_Tty()) == "table"
