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
from typing import Optional, Tuple

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
