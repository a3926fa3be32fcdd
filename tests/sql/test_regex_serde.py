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
