"""Text blocks as Arrow arrays: lines as mrjob reads them, delimited fields as COPY reads them."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.arrow.text import BadLine, NotUTF8, check_utf8, delimited, lines


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab \r\té|"), max_size=12), max_size=30), st.booleans())
def test_lines_are_stripped_as_mrjob_strips_them(texts, final_newline):
    block = "\n".join(texts) + ("\n" if final_newline and texts else "")
    got = lines(block.encode()).to_pylist()
    want = [line.rstrip("\r\n") for line in block.encode().decode().split("\n")]
    if block.endswith("\n") or not block:
        want = want[:-1]
    assert got == want


def test_non_utf8_names_the_line():
    block = "fine\nstill fine é\n".encode() + b"bad \xff\nafter\n"
    with pytest.raises(NotUTF8) as info:
        lines(block)
    assert info.value.line == 2
    with pytest.raises(NotUTF8) as info:
        check_utf8(block)
    assert info.value.line == 2
    check_utf8("ascii and é\n".encode())


NAMES = ["id", "name", "qty"]
TYPES = {"id": pa.int64(), "qty": pa.int64(), "name": pa.string()}


def test_delimited_reads_typed_columns_and_empty_fields_as_null():
    table = delimited(b'1|Ann "A"|3\n2||\n3|x,y|12', "|", NAMES, TYPES)
    assert table.to_pylist() == [
        {"id": 1, "name": 'Ann "A"', "qty": 3},  # no quoting: quotes are data
        {"id": 2, "name": None, "qty": None},
        {"id": 3, "name": "x,y", "qty": 12},
    ]
    only = delimited(b"1\tz\t3\n", "\t", NAMES, {"qty": pa.int64()})
    assert only.column_names == ["qty"]


@pytest.mark.parametrize(
    "block,line,fields",
    [(b"1|a|3\n2|b\n", 1, 2), (b"1|a|3|4\n", 0, 4), (b"1|a|3\n|\n", 1, 2), (b"1|a|3\n9", 1, 1)],
)
def test_delimited_names_the_line_with_the_wrong_field_count(block, line, fields):
    with pytest.raises(BadLine) as info:
        delimited(block, "|", NAMES, TYPES)
    assert info.value.line == line
    assert info.value.reason.startswith(f"has {fields} fields, expected 3: ")


def test_delimited_conversion_errors_are_value_errors():
    with pytest.raises(ValueError, match="int64"):
        delimited(b"1|a|3\nx|b|3\n", "|", NAMES, TYPES)


@pytest.mark.parametrize("block", [b"1|a|3\r\n", b"1|a|3\n\n2|b|3\n", b"\n1|a|3\n", b"1|a\r|3\n"])
def test_delimited_leaves_carriage_returns_and_empty_lines_to_the_line_reader(block):
    assert delimited(block, "|", NAMES, TYPES) is None
