"""The EMR Hive tutorial's query over CloudFront access logs, as a MapReduce job.

    SELECT os, COUNT(*) count FROM cloudfront_logs
    WHERE dateobject BETWEEN '2014-07-05' AND '2014-08-05' GROUP BY os;

``cloudfront_logs`` is a Hive table read with ``RegexSerDe`` and the tutorial's
``input.regex`` (``HIVE_INPUT_REGEX`` below). RegexSerDe compiles it with
``Pattern.DOTALL`` and calls ``matcher.matches()``: the whole line must match; a line
that does not (the ``#Version``/``#Fields`` headers, malformed lines) becomes a row of
NULLs, which the date filter drops. ``DateObject`` is a DATE column: group 1 must be a
valid ``YYYY-MM-DD`` date (anything else is NULL, also dropped). OS is group 11: the
text after the user agent's first ``(`` up to the next ``;``.

Map: ``parse_line`` applies the regex; a matching line dated in the window gives
``os -> 1``. Combine: sum per os (six keys, so a map task ships six pairs). Reduce: sum
per os. Output lines: ``"Windows"\\t<count>``. Parquet rows (engine only; the well-formed
lines, one column per field, the raw user agent last) are joined back into their line
with tabs and parsed the same way, so both formats give the same answer.

The table's facts are stated here once -- the log fields, the Hive columns and types,
the regex, the Parquet layout -- and ``data/cloudfront.py`` and the DuckDB oracle
(``data/duckdb_sql.py``) derive theirs from them; ``tests/test_lab_schema.py`` checks
them against ``emr/Hive_CloudFront.q``.

The regex is evaluated with Java's semantics: ``\\s`` is ``[ \\t\\n\\x0B\\f\\r]`` (not
Python's Unicode whitespace) and ``.`` matches any character (DOTALL).

Fast path. Python's backtracking on the full regex costs about 1.4 ms a line: every
``([^ ]+)`` may also swallow tabs. ``parse_line`` is the SQL engine's RegexSerDe match
(``engine.sql.regex_serde.LineRegex``), which avoids it where the answer is provably the
same: a line of tabs and printable ASCII other than space with exactly 10 tabs is split on
them and only the rest of the regex after its last ``\\s+`` (``TAIL_REGEX``) is matched
against the eleventh field; fewer tabs cannot match; every other line goes through the full
regex (the argument is in that module's docstring). ``tests/test_lab_jobs.py`` checks the
equivalence on generated logs, edge cases and Hypothesis-generated lines.

    python jobs/cloudfront_os_requests.py -r engine data/sample/cloudfront/data/*.log
    python jobs/cloudfront_os_requests.py -r engine data/sample/cloudfront/parquet
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Dict, Optional, Tuple

from engine.job import EngineMRJob
from engine.sql.regex_serde import JAVA_SPACE, LineRegex, java_regex

#: The log files' fields, as CloudFront's ``#Fields:`` header names them (tab-separated).
LOG_FIELDS = (
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
)
#: The Hive script's table (``emr/Hive_CloudFront.q``).
HIVE_TABLE = "cloudfront_logs"
#: Its columns and types as the script writes them; column ``i`` is regex group ``i``.
HIVE_COLUMNS = (
    ("DateObject", "Date"),
    ("Time", "STRING"),
    ("Location", "STRING"),
    ("Bytes", "INT"),
    ("RequestIP", "STRING"),
    ("Method", "STRING"),
    ("Host", "STRING"),
    ("Uri", "STRING"),
    ("Status", "INT"),
    ("Referrer", "STRING"),
    ("OS", "String"),
    ("Browser", "String"),
    ("BrowserVersion", "String"),
)
#: The columns as Hive stores them: lower-case names, upper-case types.
COLUMNS = tuple((name.lower(), typ.upper()) for name, typ in HIVE_COLUMNS)
#: The script's ``input.regex`` as Java sees it: the script's string literal after Hive's
#: unescaping (``\\s`` -> ``\s``, ``\(`` -> ``(``, ``\;`` -> ``;``, ``\/`` -> ``/``;
#: ``\%`` stays ``\%``). ``tests/test_lab_schema.py`` checks it against the script.
HIVE_INPUT_REGEX = (
    r"^(?!#)([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+"
    r"([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+[^(]+[(]([^;]+).*\%20([^/]+)[/](.*)$"
)
#: The full regex with Java semantics, for Python's ``re.fullmatch``.
FULL_RE = java_regex(HIVE_INPUT_REGEX)
#: The regex with RegexSerDe's fast path (``parse_line``).
_LINE = LineRegex(HIVE_INPUT_REGEX)
#: What follows the regex's last ``\s+`` (without the final ``$``): the user-agent part.
TAIL_REGEX = HIVE_INPUT_REGEX.rsplit(r"\s+", 1)[1][:-1]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: The query's ``BETWEEN`` bounds (inclusive).
WINDOW = ("2014-07-05", "2014-08-05")
#: Parquet columns in line order (``data/cloudfront.py`` writes them): one per log field,
#: named after the Hive column its group feeds, the raw user agent (groups 11-13) last.
PARQUET_COLUMNS = tuple(name for name, _ in COLUMNS[: len(LOG_FIELDS) - 1]) + ("useragent",)

Groups = Tuple[str, ...]


def _name_groups(regex: str, names: Dict[int, str]) -> str:
    """``regex`` with capturing group ``i`` named ``names[i]`` and the others made
    non-capturing (Arrow's ``extract_regex`` takes named groups only)."""
    out, i, group, in_class = [], 0, 0, False
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            out.append(regex[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            # a ']' first in the class (after an optional '^') is a literal
            lead = 2 if regex[i + 1 : i + 2] == "^" else 1
            if regex[i + lead : i + lead + 1] == "]":
                out.append(regex[i : i + lead + 1])
                i += lead + 1
                continue
        elif ch == "(" and regex[i + 1 : i + 2] != "?":
            group += 1
            ch = f"(?P<{names[group]}>" if group in names else "(?:"
        out.append(ch)
        i += 1
    missing = set(names) - set(range(1, group + 1))
    if missing:
        raise ValueError(f"{regex!r} has no group {sorted(missing)}")
    return "".join(out)


#: The regex for RE2 (DuckDB's oracle, ``data/duckdb_sql.py``): RE2 has no lookahead, so
#: ``^(?!#)([^ ]+)`` becomes ``^([^ #][^ ]*)`` -- group 1 is still one or more non-space
#: characters, and its first character (the line's first) may not be ``#``, which is
#: exactly what the lookahead asserted. Everything else is the original.
RE2_INPUT_REGEX = HIVE_INPUT_REGEX.replace(r"^(?!#)([^ ]+)", r"^([^ #][^ ]*)", 1)
if RE2_INPUT_REGEX == HIVE_INPUT_REGEX:  # pragma: no cover - a guard for editors of the regex
    raise ValueError(r"the regex no longer starts with ^(?!#)([^ ]+): redo its RE2 translation")
_GROUP = {name: i for i, (name, _) in enumerate(COLUMNS, 1)}
#: The same for Arrow's RE2 (the vectorized twin): ``\s`` spelled out as Java's, ``(?s)``
#: for DOTALL, and only the date and OS groups capture. RE2 picks submatches
#: leftmost-first, as a backtracking matcher does, so the groups are the same.
RE2_REGEX = "(?s)" + _name_groups(
    RE2_INPUT_REGEX.replace(r"\s", JAVA_SPACE), {_GROUP["dateobject"]: "date", _GROUP["os"]: "os"}
)
#: What follows the regex's last ``\s+``, for RE2: the user-agent part (see ``TAIL_REGEX``).
RE2_TAIL_REGEX = "(?s)^" + _name_groups(TAIL_REGEX, {_GROUP["os"] - (len(LOG_FIELDS) - 1): "os"}) + "$"
#: A line the fast path may split on tabs: tabs and printable ASCII but space only, not
#: starting with ``#`` or a tab (``parse_line``'s conditions, as one RE2 test).
RE2_FAST_LINE = '^[!"$-~][\t!-~]*$'


def full_parse(line: str) -> Optional[Groups]:
    """The 13 groups of the Hive regex matched against the whole line, or ``None``."""
    m = FULL_RE.fullmatch(line)
    return m.groups() if m else None


def parse_line(line: str) -> Optional[Groups]:
    """Same result as ``full_parse``, fast for well-formed CloudFront lines."""
    return _LINE.match(line)


def hive_date(text: str) -> Optional[str]:
    """Group 1 cast to DATE as ``'YYYY-MM-DD'``, or ``None`` (NULL) if it is not one."""
    if len(text) != 10 or not _ISO_DATE.fullmatch(text):
        return None

    try:
        return dt.date(int(text[:4]), int(text[5:7]), int(text[8:])).isoformat()
    except ValueError:
        return None


def line_of_row(row: dict) -> str:
    """A Parquet row joined back into its log line."""
    return "\t".join("" if row.get(c) is None else str(row[c]) for c in PARQUET_COLUMNS)


class MRCloudFrontOSRequests(EngineMRJob):
    """Requests per operating system between 2014-07-05 and 2014-08-05."""

    def mapper(self, _, value):
        line = line_of_row(value) if isinstance(value, dict) else value
        groups = parse_line(line)
        if groups is None:
            self.increment_counter("cloudfront", "lines not matching the regex", 1)
            return
        day = hive_date(groups[0])
        if day is not None and WINDOW[0] <= day <= WINDOW[1]:
            yield groups[10], 1

    def combiner(self, os_name, counts):
        yield os_name, sum(counts)

    def vector_steps(self):
        """The Arrow twin: the regex and the date filter as Arrow kernels, count per OS."""
        from engine.arrow import VectorStep

        return [VectorStep(mapper=self.os_of_batch, keys=("os",), aggregate={"count": ("os", "count")})]

    def os_of_batch(self, batch):
        """Text ``line`` batches or Parquet column batches → one ``os`` row per counted request."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if "line" in batch.schema.names:
            lines = batch.column("line")
        else:
            fields = [pc.fill_null(pc.cast(batch.column(c), pa.string()), "") for c in PARQUET_COLUMNS]
            lines = pc.binary_join_element_wise(*fields, "\t")
        # The fast path of parse_line, in Arrow: a line of tabs and printable non-space
        # ASCII with exactly 10 tabs and no empty field matches iff its last field matches
        # the regex's tail, with the same groups; every other line takes the full regex
        # (RE2's submatch extraction on the full regex costs ~50 us a line).
        fast = pc.and_(
            pc.and_(
                pc.match_substring_regex(lines, RE2_FAST_LINE), pc.equal(pc.count_substring(lines, "\t"), 10)
            ),
            pc.invert(pc.or_(pc.match_substring(lines, "\t\t"), pc.ends_with(lines, "\t"))),
        )
        simple = pc.filter(lines, fast)
        ua = pc.list_element(pc.split_pattern(simple, "\t", max_splits=1, reverse=True), 1)
        tail_matches = pc.match_substring_regex(ua, RE2_TAIL_REGEX)
        tail = pc.extract_regex(pc.filter(ua, tail_matches), RE2_TAIL_REGEX)
        simple = pc.filter(simple, tail_matches)
        rest = pc.filter(lines, pc.invert(fast))
        full = pc.extract_regex(pc.filter(rest, pc.match_substring_regex(rest, RE2_REGEX)), RE2_REGEX)
        date = pa.chunked_array(
            [pc.list_element(pc.split_pattern(simple, "\t", max_splits=1), 0), pc.struct_field(full, "date")]
        )
        os_name = pa.chunked_array([pc.struct_field(tail, "os"), pc.struct_field(full, "os")])
        iso = pc.match_substring_regex(date, "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        day = pc.strptime(pc.if_else(iso, date, None), format="%Y-%m-%d", unit="s", error_is_null=True)
        low, high = (pa.scalar(dt.datetime.fromisoformat(d), pa.timestamp("s")) for d in WINDOW)
        keep = pc.and_kleene(pc.greater_equal(day, low), pc.less_equal(day, high))
        return pa.table({"os": pc.filter(os_name, keep)})

    def reducer(self, os_name, counts):
        yield os_name, sum(counts)


if __name__ == "__main__":
    MRCloudFrontOSRequests.run()
