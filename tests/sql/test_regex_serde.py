"""``engine.sql.regex_serde``: the RegexSerDe fast path gives the full regex's groups, line for line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import cloudfront
from engine.sql.regex_serde import JAVA_SPACE, LineRegex
from jobs.cloudfront_os_requests import HIVE_INPUT_REGEX

ROOT = Path(__file__).resolve().parents[2]
#: The tutorial's input.regex as the engine's catalog holds it (emr/Hive_CloudFront.q, after
#: Hive's string-literal escapes): ``\\(`` and friends stay escaped, unlike HIVE_INPUT_REGEX.
TUTORIAL_REGEX = (
    r"^(?!#)([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+"
    r"([^ ]+)\s+[^\(]+[\(]([^\;]+).*\%20([^\/]+)[\/](.*)$"
)
#: Other regexes of the fast path's shape: fewer fields, no lookahead, a tail that may be empty.
SHAPED = [TUTORIAL_REGEX, HIVE_INPUT_REGEX, r"^([^ ]+)\s+(.*)$", r"^(?!#)([^ ]+)\s+([^ ]+)\s+([0-9]*)x?$"]


def _reference(regex: str, line: str):
    """The full regex alone, compiled independently of the module (Java's \\s, DOTALL)."""
    m = re.compile(regex.replace(r"\s", JAVA_SPACE), re.DOTALL).fullmatch(line)
    return m.groups() if m else None


def _catalog_regex() -> str:
    from engine.sql.session import Session

    session = Session(dialect="hive")
    script = (ROOT / "emr" / "Hive_CloudFront.q").read_text().replace("${INPUT}", "data/sample")
    session.execute(session.parse(script)[0])  # the CREATE TABLE
    return session.tables["cloudfront_logs"].regex


def test_the_tutorials_table_takes_the_fast_path():
    assert _catalog_regex() == TUTORIAL_REGEX
    fast = LineRegex(TUTORIAL_REGEX)
    assert (fast.fields, fast.no_hash) == (10, True)


@pytest.mark.parametrize(
    "regex",
    [
        r"^([^ ]+)\s+(\1)$",
        r"^([^ ]+)\s+(a$)$",
        r"^([^ ]+)\s+(?<=\t)(.*)$",
        r"([^ ]+)\s+(.*)$",
        r"^(\S+)\s+(.*)$",
    ],
    ids=["backreference", "anchor", "lookbehind", "unanchored", "other-shape"],
)
def test_regexes_that_could_differ_take_the_full_regex(regex):
    assert LineRegex(regex).fields == 0


def test_generated_logs_and_the_sample_match_as_the_full_regex_does(tmp_path):
    cloudfront.generate(tmp_path, rows=3000, seed=7, files=2)  # malformed lines included
    lines = [ln for p in sorted(tmp_path.glob("*.log")) for ln in p.read_text().splitlines()]
    lines += [
        ln
        for p in sorted((ROOT / "data/sample/cloudfront/data").glob("*.log"))
        for ln in p.read_text().splitlines()
    ]
    fast = LineRegex(TUTORIAL_REGEX)
    matched = 0
    for line in lines:
        want = _reference(TUTORIAL_REGEX, line)
        assert fast.match(line) == want, line
        matched += want is not None
    assert 0 < matched < len(lines)  # both kinds were seen


EDGES = [
    "",
    "#comment\tb\tc",
    "a\tb",
    "a\t\tb",
    "\ta\tb",
    "a\tb\t",
    "a b\tc",
    "a\tb\tc\td",
    "a\tb\t123",
    "a\tb\t123x",
    "a\tb\tx",
    "é\tb\t1",
    "a\x0bb\t1",
]


@pytest.mark.parametrize("regex", SHAPED)
@pytest.mark.parametrize("line", EDGES)
def test_edge_cases(regex, line):
    assert LineRegex(regex).match(line) == _reference(regex, line)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="\t #ab1(;%20/x\n", max_size=30), st.sampled_from(SHAPED))
def test_random_lines(line, regex):
    assert LineRegex(regex).match(line) == _reference(regex, line)


# ------------------------------------------------------------------------------- the RE2 form
#
# The Arrow form reads a RegexSerDe table with RE2 (engine.sql.vector.TableReader): its rows
# must be the record form's RowReader rows, line for line, on both of its paths (the tab split
# with RE2 on the tail, the full regex in RE2) and for the non-ASCII lines it leaves to LineRegex.

#: Regexes without the fast path's shape (the full regex in RE2 only).
UNSHAPED = [r"^(\S+)\s+(.*)$", r"(\d+)-(\w+)\b.*", r"x*([a-z]{2,3})[0-9]+(.)", r"^(?:ab)+(\w*)\s(\d)$"]


def _arrow_rows(regex: str, lines, types=None):
    from engine.sql.catalog import RowReader, TableDef
    from engine.sql.regex_serde import Re2Form, re2_form
    from engine.sql.vector import TableReader

    form = re2_form(regex)
    assert isinstance(form, Re2Form), form
    cols = types or ["string"] * form.groups
    columns = tuple((f"c{i}", t) for i, t in enumerate(cols))
    table = TableDef("t", columns, format="regex", regex=regex, lenient=True)
    block = "".join(line + "\n" for line in lines).encode()
    got = TableReader(table).text(block, "t.log").to_pylist()
    rows = RowReader(table)
    want = [rows.read(line, "t.log") for line in lines]
    return [tuple(r.values()) for r in got], [tuple(r) for r in want]


def test_the_tutorials_regex_has_an_re2_form_with_the_fast_path():
    from engine.sql.regex_serde import re2_form

    form = re2_form(TUTORIAL_REGEX)
    assert (form.groups, form.no_prefix, form.fields, form.tail.groups) == (13, "#", 10, 3)


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        (r"^([^ ]+)\s+(\1)$", "escape"),
        (r"^([^ ]+)\s+(?<=\t)(.*)$", "lookaround"),
        (r"^(a)?b$", "may not take part"),
        (r"^(a)|(b)$", "alternation"),
        (r"^a++(b)$", "possessive"),
        (r"^\p{Alpha}(b)$", "escape"),
        (r"^[a-z&&[^b]](c)$", "character class"),
        (r"^(?i)(a)$", "the group"),
        (r"^(a{2,1001})$", "past 1000"),
    ],
)
def test_regexes_without_an_re2_form_say_why(regex, reason):
    from engine.sql.regex_serde import re2_form

    got = re2_form(regex)
    assert isinstance(got, str) and reason in got, got


@pytest.mark.parametrize("regex", SHAPED + UNSHAPED)
def test_arrow_reads_the_edge_cases_as_the_record_form(regex):
    got, want = _arrow_rows(regex, [*EDGES, "ab123-x y", "abab\t5", "٣-x", "12-é", "#x\ty\tz", "#x\ty\t12"])
    assert got == want


def test_arrow_reads_generated_logs_as_the_record_form(tmp_path):
    cloudfront.generate(tmp_path, rows=3000, seed=8, files=1)  # header and malformed lines included
    lines = [ln for p in sorted(tmp_path.glob("*.log")) for ln in p.read_text().splitlines()]
    lines += ["2014-07-05\tx\tLAX1\t٣\t1\tGET\th\t/u\t200\t-\tMozilla/5.0%20(Linux;%20x)%20Chrome/1"]
    types = ["date", "string", "string", "int", *["string"] * 4, "int", *["string"] * 4]
    got, want = _arrow_rows(TUTORIAL_REGEX, lines, types)
    assert got == want
    assert sum(r[0] is None for r in want) >= 3  # unmatched lines were read too


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(alphabet="\t #ab1(;%20/xé٣\x0b", max_size=30), min_size=1, max_size=8),
    st.sampled_from(SHAPED + UNSHAPED),
)
def test_arrow_reads_random_lines_as_the_record_form(lines, regex):
    lines = [ln.replace("\n", "") for ln in lines]
    got, want = _arrow_rows(regex, lines)
    assert got == want
