"""Hive's ``RegexSerDe`` match of a line: the whole line against ``input.regex``, with Java's
semantics (``\\s`` is ASCII whitespace, ``.`` matches any character), and a fast path.

Python's backtracking makes a regex of whitespace-separated fields slow: in
``([^ ]+)\\s+([^ ]+)\\s+…`` every ``[^ ]+`` may also swallow tabs, so a CloudFront log line
(the EMR tutorial's table) costs 1–4 ms. ``LineRegex`` avoids the backtracking where the answer
is provably the same, for a regex of the shape

    ^(?!#)?  ([^ ]+)\\s+  …k times…  TAIL$

(``k`` fields, each ``([^ ]+)``, each followed by ``\\s+``; the optional lookahead refuses lines
starting with ``#``; ``TAIL`` is the rest). When a line holds only tabs and printable ASCII other
than space (``\\t``, ``!``..``~``), the only whitespace a ``\\s+`` can match is a tab, so:

1. with fewer than ``k`` tabs the ``k`` separators cannot all match: no match;
2. with exactly ``k`` tabs each ``\\s+`` takes exactly one tab, in order; the fields between them
   hold no tab and so are the line's first ``k`` tab-separated fields (each must be non-empty:
   a ``[^ ]+`` that took a tab would leave a separator without one), and the line matches if and
   only if ``TAIL`` matches the rest after the ``k``-th tab as a whole, with the same groups --
   the prefix leaves nothing to backtrack into;
3. anything else (more tabs, other characters) goes through the full regex.

A ``TAIL`` that could look back into the prefix (a backreference, a lookbehind) or anchors
again is left to the full regex. ``tests/sql/test_regex_serde.py`` checks both paths agree on
generated logs, edge cases and Hypothesis-generated lines. This module ships with the job
(stdlib only, Python 3.9), as ``engine.sql.catalog`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

#: Java's ``\\s`` (without UNICODE_CHARACTER_CLASS).
JAVA_SPACE = "[ \\t\\n\\x0B\\f\\r]"
#: ``^``, the optional ``(?!#)``, then ``([^ ]+)\\s+`` one or more times, then the tail, then ``$``.
_SHAPE = re.compile(r"\^(\(\?!#\))?((?:\(\[\^ \]\+\)\\s\+)+)(.*)\$", re.DOTALL)
_FIELD = r"([^ ]+)\s+"
#: What a tail must not hold for the fast path: a backreference, a lookbehind, an anchor.
_LOOKS_BACK = re.compile(r"\\[1-9]|\(\?P=|\(\?<[=!]|\\[AbBGZz]|(?<![\[\\])\^|(?<!\\)\$")
#: A character outside the fast path's alphabet (tab and printable ASCII but space).
_OUTSIDE_FAST = re.compile(r"[^\t!-~]")

Groups = Tuple[Optional[str], ...]


def java_regex(regex: str) -> re.Pattern[str]:
    """*regex* compiled with Java's meaning of ``\\s`` and ``.`` (RegexSerDe's)."""
    return re.compile(regex.replace(r"\s", JAVA_SPACE), re.DOTALL)


class LineRegex:
    """``match(line)``: the groups of ``input.regex`` matched against the whole line, or ``None``."""

    def __init__(self, regex: str) -> None:
        self.full = java_regex(regex)
        self.fields = 0  # k: 0 when the regex does not have the fast path's shape
        self.no_hash = False
        self.tail: Optional[re.Pattern[str]] = None
        shape = _SHAPE.fullmatch(regex)
        if shape is None or _LOOKS_BACK.search(shape.group(3)):
            return
        # the prefix's k groups, then the tail's: the full regex's groups in order
        self.fields = shape.group(2).count(_FIELD)
        self.no_hash = bool(shape.group(1))
        self.tail = java_regex(shape.group(3))

    def match(self, line: str) -> Optional[Groups]:
        if self.tail is not None and not _OUTSIDE_FAST.search(line):
            if self.no_hash and line[:1] == "#":
                return None
            tabs = line.count("\t")
            if tabs < self.fields:
                return None
            if tabs == self.fields:
                parts = line.split("\t")
                if not all(parts[:-1]):
                    return None  # an empty field: its [^ ]+ needs a character there
                m = self.tail.fullmatch(parts[-1])  # the tail's part may be empty
                return (*parts[:-1], *m.groups()) if m else None
        m = self.full.fullmatch(line)
        return m.groups() if m else None


# ------------------------------------------------------------------------------- the RE2 form

#: Java's ``\\S``.
JAVA_NOT_SPACE = "[^ \\t\\n\\x0B\\f\\r]"
#: Escapes that mean the same in Java, Python and RE2 on ASCII text.
_SAME_ESCAPES = frozenset("dDwWbBtnrfAz")
_HEX = re.compile(r"x[0-9A-Fa-f]{2}")
#: ``^(?!LITERAL)`` at the start: a prefix that no matching line has (``^(?!#)``).
_COUNTS = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_NO_PREFIX = re.compile(r"\^\(\?!((?:[^\\()\[\]{}.*+?|^$]|\\[^A-Za-z0-9])+)\)")


@dataclass(frozen=True)
class Re2Form:
    """``input.regex`` as RE2 (``pyarrow.compute.extract_regex``'s syntax) giving the record
    form's groups on ASCII lines: ``pattern`` is anchored at both ends, ``.`` matches any
    character, ``\\s`` is Java's, group ``i`` is named ``g<i>``; a line starting with
    ``no_prefix`` (when set) never matches (RE2 has no lookahead)."""

    pattern: str
    groups: int
    no_prefix: str = ""
    #: ``LineRegex``'s fast path in RE2: ``fields`` tab-separated fields, then ``tail``
    #: (``None``: the regex has no such shape).
    fields: int = 0
    tail: Optional[Re2Form] = None


def re2_form(regex: str) -> Union[Re2Form, str]:
    """The ``Re2Form`` of *regex*, or why it has none (what RE2 lacks or reads otherwise: a
    lookaround past the start, a backreference, a possessive quantifier; a group that may not
    take part in a match, whose value Java gives as NULL and RE2 as ``""``).

    On non-ASCII lines ``\\d``, ``\\w`` and ``\\b`` are Unicode-aware in the record form's
    Python regex and ASCII-only in RE2, so such lines go to the record form's ``LineRegex``.
    """
    out: List[str] = []
    no_prefix = ""
    i = 0
    m = _NO_PREFIX.match(regex)
    if m:
        no_prefix = re.sub(r"\\(.)", r"\1", m.group(1))
        out.append("^")
        i = m.end()
    groups = 0
    open_groups: List[bool] = []  # per open group: whether it holds a capturing group
    n = len(regex)
    while i < n:
        c = regex[i]
        if c == "\\":
            esc, i = _escape(regex, i, in_class=False)
            if esc is None:
                return f"the escape {regex[i - 2 : i]!r} has no RE2 form here"
            out.append(esc)
            continue
        if c == "[":
            cls, i = _char_class(regex, i)
            if cls is None:
                return "a character class with a nested class, an intersection or an escape RE2 lacks"
            out.append(cls)
            continue
        if c == "(":
            if regex.startswith("(?:", i):
                open_groups.append(False)
                out.append("(?:")
                i += 3
            elif regex.startswith("(?", i):
                return f"the group {regex[i : i + 3]!r}... (RE2 has no lookaround, flags are left to Java)"
            else:
                open_groups.append(True)
                out.append(f"(?P<g{groups}>")
                groups += 1
                i += 1
            continue
        if c == ")":
            if not open_groups:
                return "an unbalanced ')'"
            captures = open_groups.pop()
            if open_groups and captures:
                open_groups[-1] = True
            out.append(")")
            i += 1
            if captures and i < n and regex[i] in "?*{":
                return "a capturing group that may not take part in a match (under ?, * or {...})"
            continue
        if c in "*+?}" and regex[i + 1 : i + 2] == "+":
            return "a possessive quantifier"
        if c == "{":
            counts = _COUNTS.match(regex, i)
            if counts and max(int(x) for x in counts.groups() if x) > 1000:
                return "a repetition count past 1000 (RE2's limit)"
        out.append(c)
        i += 1
    if open_groups:
        return "an unbalanced '('"
    if "|" in out and groups:  # a group in one branch may not take part
        return "an alternation (|) beside a capturing group"
    fields, tail = 0, None
    shape = _SHAPE.fullmatch(regex)
    if shape is not None and not _LOOKS_BACK.search(shape.group(3)):
        tail_form = re2_form(shape.group(3))
        if isinstance(tail_form, Re2Form):
            fields, tail = shape.group(2).count(_FIELD), tail_form
    return Re2Form("(?s)^(?:" + "".join(out) + ")$", groups, no_prefix, fields, tail)


def _escape(regex: str, i: int, in_class: bool) -> Tuple[Optional[str], int]:
    """The RE2 form of the escape at *i* (``\\x``), and the index after it."""
    d = regex[i + 1 : i + 2]
    if d == "s":
        return (JAVA_SPACE[1:-1] if in_class else JAVA_SPACE), i + 2
    if d == "S" and not in_class:
        return JAVA_NOT_SPACE, i + 2
    if d in _SAME_ESCAPES and d and not (in_class and d in "bBAz"):
        return "\\" + d, i + 2
    if _HEX.match(regex, i + 1):
        return regex[i : i + 4], i + 4
    if d and d.isascii() and not d.isalnum():
        return "\\" + d, i + 2
    return None, i + 2


def _char_class(regex: str, i: int) -> Tuple[Optional[str], int]:
    """The RE2 form of the character class at *i* (``[...]``), and the index after it."""
    out = ["["]
    j = i + 1
    if regex[j : j + 1] == "^":
        out.append("^")
        j += 1
    if regex[j : j + 1] == "]":
        out.append("\\]")
        j += 1
    while j < len(regex):
        c = regex[j]
        if c == "]":
            out.append("]")
            return "".join(out), j + 1
        if c == "[" or regex.startswith("&&", j):
            return None, j  # Java's union and intersection
        if c == "\\":
            esc, j = _escape(regex, j, in_class=True)
            if esc is None:
                return None, j
            out.append(esc)
            continue
        out.append(c)
        j += 1
    return None, j
