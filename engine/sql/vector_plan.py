"""Which stages of a compiled plan have an Arrow form (``engine.sql.vector``), decided on the
JSON plan alone: no pyarrow here, so EXPLAIN and the shipped job ask without importing it.

A stage without one runs on the record form, the others on Arrow (``record_stages``): the
engine hands the rows across where the two meet (``engine.arrow.boundary``). A stage that
carries rows to a later one (a table's or an earlier stage's, keyed by an integer: see
``engine.sql.stages``) runs on the record form too: the Arrow shuffle has one schema a stage.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Dict, List, Optional, Tuple

from engine.sql import expr as E
from engine.sql.catalog import TableDef, local_size, location_holds
from engine.sql.regex_serde import re2_form
from engine.sql.stages import broadcast_tables, stream_columns

#: Below this many bytes of (local) table files a query runs on the record form even where it has
#: an Arrow form: the record form starts ~0.4 s sooner (no pyarrow, no NumPy in the process).
ARROW_MIN_BYTES = 8 * 1024 * 1024
#: A Parquet file holds about this many times its bytes as text (compressed columns): the bytes
#: that ``--sql-arrow-min-bytes`` compares (200k AMPLab visits: 6 MB of Parquet, 35 MB of text).
PARQUET_TEXT_FACTOR = 6

#: Aggregate functions with an Arrow form.
AGGREGATES = frozenset(("count_star", "count", "sum", "min", "max", "avg"))
#: DISTINCT aggregates with an Arrow form (min and max of the distinct values are the plain ones).
DISTINCT_AGGREGATES = frozenset(("count", "sum", "avg", "min", "max"))
#: Stage kinds with an Arrow form (``map``: a query without a shuffle, one stage alone).
STAGE_KINDS = frozenset(("aggregate", "sort", "limit", "map", "join", "window"))
#: Window functions with an Arrow form (``engine.sql.vector.window_table``).
WINDOW_FUNCTIONS = frozenset(
    ("row_number", "rank", "dense_rank", "ntile", "count_star", "count", "sum", "avg", "min", "max")
)


def runs_arrow_form(plan: Dict[str, Any], min_bytes: int = ARROW_MIN_BYTES) -> bool:
    """Whether ``-r engine`` runs the JSON *plan* on its Arrow form (``--no-vectorize`` aside):
    a stage of it has one, and its tables hold at least *min_bytes* (``--sql-arrow-min-bytes``)
    of text -- tables on S3 count as large, Parquet files as ``PARQUET_TEXT_FACTOR`` times their
    bytes -- counting the tables its mappers scan and those its map-side joins load whole (a small
    scan probing a large broadcast side reads that side a row at a time on the record form).
    The job asks before the driver builds anything; the SQL session, to size its broadcasts."""
    if len(record_stages(plan)) == len(plan["stages"]):
        return False
    tables = [TableDef.from_json(t) for t in plan["tables"]]
    total = 0
    for t in sorted({*stream_columns(plan), *broadcast_tables(plan)}):  # scanned, loaded whole
        size = local_size(tables[t])
        if size is None:  # on S3: large
            return True
        total += size * (PARQUET_TEXT_FACTOR if tables[t].format == "parquet" else 1)
    return total >= min_bytes


def record_form_broadcasts(plan: Dict[str, Any]) -> bool:
    """Whether a stage of the JSON *plan* that runs on the record form (``record_stages``) has a
    map-side join: each of its tasks then holds the side as Python objects, not mapped Arrow."""
    return bool(broadcast_tables(plan, record_stages(plan)))


def why_not(plan: Dict[str, Any]) -> Optional[str]:
    """``None`` if every stage of the JSON *plan* (``engine.sql.stages``) has an Arrow form,
    else the first construct that has none (or, failing one, the first stage that carries rows),
    in words for EXPLAIN and the driver's log."""
    own, carrying = _reasons(plan)
    first = own or carrying
    return first[min(first)] if first else None


def record_stages(plan: Dict[str, Any]) -> Dict[int, str]:
    """The stages of the JSON *plan* that run on the record form, each with the reason: the
    first construct of it that has no Arrow form, or the rows it carries to a later stage."""
    own, carrying = _reasons(plan)
    return dict(sorted({**carrying, **own}.items()))


def _reasons(plan: Dict[str, Any]) -> Tuple[Dict[int, str], Dict[int, str]]:
    """The stages without an Arrow form of their own, and those that carry a pipe's rows to
    the stage that consumes them (on the record form: keyed by an integer), with the reasons."""
    stages = plan["stages"]
    tables = [TableDef.from_json(t) for t in plan["tables"]]
    own: Dict[int, str] = {}
    carrying: Dict[int, str] = {}
    for s in stages:
        reason = _stage_why_not(s, len(stages), tables)
        if reason is not None:
            own[s["id"]] = f"Stage-{s['id'] + 1}{reason}"
        for inp in s["inputs"]:
            for p in inp["pipes"]:
                kind, source = p["source"]
                first = 0 if kind == "table" else source + 1
                what = tables[source].name if kind == "table" else f"Stage-{source + 1}"
                for carrier in range(first, s["id"]):
                    reason = f"Stage-{carrier + 1} carries {what}'s rows to Stage-{s['id'] + 1}"
                    carrying.setdefault(carrier, reason)
    return own, carrying


def _stage_why_not(s: Dict[str, Any], n_stages: int, tables: List[TableDef]) -> Optional[str]:
    """Why stage *s* has no Arrow form, as the rest of a sentence after its name (``None``: it has)."""
    if s["kind"] not in STAGE_KINDS:
        return f" is a {s['kind']}"
    if s["kind"] == "map" and n_stages > 1:  # pragma: no cover - the compiler plans none
        return " is a stage without a shuffle among others"
    if s["kind"] == "join":
        return _join_why_not(s, tables)
    if len(s["inputs"]) != 1 or len(s["inputs"][0]["pipes"]) != 1:
        return " reads several inputs"
    pipe = s["inputs"][0]["pipes"][0]
    source = pipe["source"]
    if s["id"] == 0:
        if source[0] != "table":  # pragma: no cover - the first stage reads tables
            return " reads no table"
        reason = _table_why_not(tables[source[1]])
        if reason:
            return f": {reason}"
    elif source != ["stage", s["id"] - 1]:
        return " reads a table or a stage other than the one before it"
    reason = _ops_why_not([*pipe["ops"], *s["post"]], tables)
    if reason:
        return f": {reason}"
    exprs = list(s["inputs"][0]["keys"])
    if s["kind"] == "aggregate":
        for a in s["spec"]["aggs"]:
            if a["func"] not in AGGREGATES or (a["distinct"] and a["func"] not in DISTINCT_AGGREGATES):
                name = a["func"] + (" DISTINCT" if a["distinct"] else "")
                return f" has the aggregate {name}"
            if a["arg"] is not None:
                exprs.append(a["arg"])
    elif s["kind"] == "sort":
        exprs += [k["expr"] for k in s["spec"]["keys"]]
    elif s["kind"] == "window":
        for f in s["spec"]["funcs"]:
            if f["func"] not in WINDOW_FUNCTIONS:  # ntile's bucket count: a constant (compile)
                return f" has the window function {f['func']} (its Arrow form is to come)"
        exprs += [k["expr"] for k in s["spec"]["order"]]
    for e in exprs:
        reason = _expr_why_not(e)
        if reason:
            return f": {reason}"
    return None


def _join_why_not(s: Dict[str, Any], tables: List[TableDef]) -> Optional[str]:
    """Why shuffled join stage *s* has no Arrow form (``engine.sql.vector.ShuffledJoin``), as the
    rest of a sentence after its stage's name; ``None`` if it has one."""
    if s["id"] != 0:
        return " is a join over a stage's rows"
    read: List[int] = []
    for inp in s["inputs"]:
        sources = [p["source"] for p in inp["pipes"]]
        if any(src[0] != "table" for src in sources):
            return " is a join over a stage's rows"
        if len({src[1] for src in sources}) != len(sources):
            # the record form interleaves such pipes' rows, row by row
            return " joins a UNION ALL that reads one table twice"
        read += [src[1] for src in sources]
    for t in sorted(set(read)):
        reason = _table_why_not(tables[t])
        if reason:
            return f": {reason}"
    for a, b in combinations(sorted(set(read)), 2):
        if _share_files(tables[a], tables[b]):
            return f" joins tables {tables[a].name} and {tables[b].name}, which share files"
    exprs = [k for inp in s["inputs"] for k in inp["keys"]]
    exprs += [s["spec"]["residual"]] if s["spec"]["residual"] is not None else []
    for e in exprs:
        reason = _expr_why_not(e)
        if reason:
            return f": {reason}"
    for inp in s["inputs"]:
        for p in inp["pipes"]:
            reason = _ops_why_not(p["ops"], tables)
            if reason:
                return f": {reason}"
    reason = _ops_why_not(s["post"], tables)
    return f": {reason}" if reason else None


def _share_files(a: TableDef, b: TableDef) -> bool:
    """Whether a file may be in both tables' locations (one location holds the other)."""
    return any(location_holds(x, y) or location_holds(y, x) for x in a.locations for y in b.locations)


#: Map-side joins with an Arrow form (``engine.sql.vector.BroadcastJoin``).
JOINS = frozenset(("inner", "left", "semi", "anti", "right"))


def _ops_why_not(ops: Any, tables: Any) -> Optional[str]:
    for op in ops:
        if op[0] == "broadcast_join":
            spec = op[1]
            if spec["join"] not in JOINS:
                return f"a map-side {spec['join']} join has no Arrow form yet"
            for p in spec["pipes"]:
                reason = _table_why_not(tables[p["table"]]) or _ops_why_not(p["ops"], tables)
                if reason:
                    return reason
            exprs = [*spec["big_keys"], *spec["small_keys"]]
            exprs += [spec["residual"]] if spec["residual"] is not None else []
        else:
            exprs = [op[1]] if op[0] == "filter" else op[1]
        for e in exprs:
            reason = _expr_why_not(e)
            if reason:
                return reason
    return None


def _table_why_not(t: TableDef) -> Optional[str]:
    if t.format == "delimited" and (not t.delimiter or "\n" in t.delimiter):  # lines split first
        return f"table {t.name}'s delimiter {t.delimiter!r} is empty or holds a line end"
    if t.format == "regex":
        form = re2_form(t.regex)
        if isinstance(form, str):
            return f"table {t.name}'s input.regex has no RE2 form: {form}"
    return None


#: Functions of ``engine.sql.expr`` with an exact kernel here (``_call``).
FUNCTIONS = frozenset(
    (
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "and",
        "or",
        "not",
        "is_null",
        "is_not_null",
        "add",
        "sub",
        "mul",
        "neg",
        "div_double",
        "substr",
        "like",
        "coalesce",
        "in",
        "length",
        "concat",
        "year",
        "month",
        "day",
        "mod",
        "abs",
        "upper",
        "lower",
        "trim",
        "ltrim",
        "rtrim",
        "nullif",
        "cast",
        "div_int",
        "is_true",
        "is_false",
        "quarter",
        "dow",
        "doy",
        "hour",
        "minute",
        "second",
        "round",
        "div_decimal",
        "to_date",
        "ilike",
        "regexp_extract",
    )
)


def _expr_why_not(e: E.Expr) -> Optional[str]:
    kind = e[0]
    if kind == "lit":
        return None
    if kind == "col":
        return None
    args = [*e[1], e[2]] if kind == "case" else e[2:]
    if kind == "fn":
        name = e[1]
        if name not in FUNCTIONS:
            return f"the function {name} has no Arrow form yet"
        if name == "like" and e[3][0] != "lit":
            return "LIKE with a pattern that is not a constant has no Arrow form yet"
    for a in args:
        reason = _expr_why_not(a)
        if reason:
            return reason
    return None
