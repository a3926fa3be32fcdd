"""The record form of each operator: pipes, partial and final aggregates, joins, windows, sorts.

Pure functions of the JSON plan (``engine.sql.stages``), rows as lists of Python values; the
mrjob job (``engine.sql.job``) calls them from its mapper, combiner and reducer.

Aggregate states, mergeable in any order (which is what lets the combiner run map-side)::

    count_star, count   an int
    sum, min, max       the value so far, None before the first non-NULL value
    avg                 [sum, count]
    ... DISTINCT        the sorted list of distinct non-NULL values (held per group)

Sorting: one stable sort per key from the last to the first, NULLs placed as the key says
(``nulls_first`` is explicit in the plan: sqlglot fills in each dialect's default).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from engine.sql import expr as E
from engine.sql.types import from_string

Row = List[Any]


# ------------------------------------------------------------------------------------- pipes


def pipe_function(ops: Sequence[List[Any]], tables: Sequence[Any] = ()) -> Callable[[Row], List[Row]]:
    """A row -> rows function running *ops* in order: a filter keeps or drops the row, a projection
    maps it, a broadcast (map-side) join gives its matches; *tables* (``TableDef``s) are the plan's,
    for the broadcast side."""
    steps: List[Tuple[str, Any]] = []
    for op in ops:
        if op[0] == "filter":
            steps.append(("filter", E.predicate(op[1])))
        elif op[0] == "project":
            steps.append(("project", [E.evaluator(e) for e in op[1]]))
        elif op[0] == "broadcast_join":
            steps.append(("join", BroadcastJoin(op[1], tables)))
        else:  # pragma: no cover - the plan names no other operation
            raise ValueError(f"unknown pipe operation {op[0]!r}")

    if all(kind != "join" for kind, _ in steps):
        # the common case, per record: one row in, at most one out
        def run_one(row: Row) -> List[Row]:
            for kind, f in steps:
                if kind == "filter":
                    if not f(row):
                        return []
                else:
                    row = [g(row) for g in f]
            return [row]

        return run_one

    def run(row: Row) -> List[Row]:
        rows = [row]
        for kind, f in steps:
            if kind == "filter":
                rows = [r for r in rows if f(r)]
            elif kind == "project":
                rows = [[g(r) for g in f] for r in rows]
            else:
                rows = [out for r in rows for out in f.probe(r)]
            if not rows:
                break
        return rows

    return run


class BroadcastJoin:
    """A map-side join: the small side's rows in a hash table (built once per task, on first use,
    from its files), probed with each row of the big side -- no shuffle for this join.

    ``spec``: ``join`` (inner, left, semi, anti with the small side on the right; inner, right with
    it on the left), ``small`` (``right``/``left``), ``pipes`` (the small side: table index and
    row operations each), ``big_keys``/``small_keys``, ``residual`` (over the joined row) and
    ``widths`` (columns of the left and right rows)."""

    def __init__(self, spec: Dict[str, Any], tables: Sequence[Any]) -> None:
        self.spec = spec
        self.tables = tables
        self.kind = spec["join"]
        self.small_left = spec["small"] == "left"
        self.big_key = key_function(spec["big_keys"])
        self.residual = E.predicate(spec["residual"]) if spec["residual"] is not None else None
        self.nl, self.nr = spec["widths"]
        self.hash: Optional[Dict[tuple, List[Row]]] = None

    def _load(self) -> Dict[tuple, List[Row]]:
        from engine.sql.catalog import RowReader, read_records
        from engine.sql.stages import pipe_columns

        out: Dict[tuple, List[Row]] = {}
        small_key = key_function(self.spec["small_keys"])
        for p in self.spec["pipes"]:
            table = self.tables[p["table"]]
            reader = RowReader(table, pipe_columns(p["ops"]))
            run = pipe_function(p["ops"])
            for where, value in read_records(table):
                for row in run(reader.read(value, where)):
                    key = small_key(row)
                    if any(v is None for v in key):
                        continue  # NULL equals nothing
                    out.setdefault(tuple(key), []).append(row)
        return out

    def probe(self, row: Row) -> List[Row]:
        if self.hash is None:
            self.hash = self._load()
        key = self.big_key(row)
        matches = () if any(v is None for v in key) else self.hash.get(tuple(key), ())
        res = self.residual
        if self.small_left:
            hits = [m + row for m in matches if res is None or res(m + row)]
            if not hits and self.kind == "right":
                return [[None] * self.nl + row]
            return hits
        if self.kind == "semi":
            return [row] if any(res is None or res(row + m) for m in matches) else []
        if self.kind == "anti":
            return [] if any(res is None or res(row + m) for m in matches) else [row]
        hits = [row + m for m in matches if res is None or res(row + m)]
        if not hits and self.kind == "left":
            return [row + [None] * self.nr]
        return hits


#: The one NaN of keys: a dict finds a float by identity or equality, and NaN equals nothing.
_NAN = float("nan")


def canonical(v: Any) -> Any:
    """A key value whose bytes equal those of every value SQL calls equal to it: ``-0.0`` and
    ``Decimal('-0.00')`` are zero, every NaN is one NaN (the shuffle and the hash joins compare
    keys by their encoding, a broadcast join's table by Python's equality)."""
    if isinstance(v, (float, Decimal)):
        if v == 0:
            return abs(v)
        if v != v and isinstance(v, float):
            return _NAN
    return v


def key_function(keys: Sequence[E.Expr]) -> Callable[[Row], List[Any]]:
    fs = [E.evaluator(k) for k in keys]
    return lambda row: [canonical(f(row)) for f in fs]


# -------------------------------------------------------------------------------- aggregates


class Aggregates:
    """Initial, merged and final values of one stage's aggregate calls."""

    def __init__(self, specs: Sequence[Dict[str, Any]], dialect: str) -> None:
        self.specs = specs
        self.args = [E.evaluator(s["arg"]) if s["arg"] is not None else None for s in specs]
        self.dialect = dialect

    def initial(self, row: Row) -> List[Any]:
        out: List[Any] = []
        for s, arg in zip(self.specs, self.args):
            f = s["func"]
            if f == "count_star":
                out.append(1)
                continue
            v = arg(row)  # type: ignore[misc]
            if s["distinct"]:
                out.append([] if v is None else [v])
            elif f == "count":
                out.append(0 if v is None else 1)
            elif f == "avg":
                out.append([v, 0 if v is None else 1])
            else:
                out.append(v)
        return out

    def merge(self, a: List[Any], b: List[Any]) -> List[Any]:
        out = []
        for s, x, y in zip(self.specs, a, b):
            f = s["func"]
            if s["distinct"]:
                out.append(sorted({canonical(v) for v in (*x, *y)}, key=_total_order))
            elif f in ("count_star", "count"):
                out.append(x + y)
            elif f == "sum":
                out.append(y if x is None else x if y is None else x + y)
            elif f == "avg":
                out.append([y[0] if x[0] is None else x[0] if y[0] is None else x[0] + y[0], x[1] + y[1]])
            elif f == "min":
                out.append(y if x is None else x if y is None else _least(x, y))
            else:
                out.append(y if x is None else x if y is None else _greatest(x, y))
        return out

    def final(self, states: List[Any]) -> List[Any]:
        out: List[Any] = []
        for s, st in zip(self.specs, states):
            f = s["func"]
            if s["distinct"]:
                vals = st
                if f == "count":
                    out.append(len(vals))
                    continue
                if not vals:
                    out.append(None)
                    continue
                if f == "sum":
                    st = sum(vals[1:], vals[0])
                elif f == "avg":
                    st = [sum(vals[1:], vals[0]), len(vals)]
                elif f == "min":
                    st = vals[0]
                else:
                    st = vals[-1]
            out.append(self._finish(s, st))
        return out

    def empty_states(self) -> List[Any]:
        """The partial states of no rows (``merge`` with them changes nothing)."""
        out: List[Any] = []
        for s in self.specs:
            f = s["func"]
            if s["distinct"]:
                out.append([])
            elif f in ("count_star", "count"):
                out.append(0)
            elif f == "avg":
                out.append([None, 0])
            else:
                out.append(None)
        return out

    def empty(self) -> List[Any]:
        """The aggregates of no rows (a global aggregate over an empty input)."""
        return [0 if s["func"] in ("count_star", "count") else None for s in self.specs]

    def _finish(self, s: Dict[str, Any], st: Any) -> Any:
        f = s["func"]
        t = from_string(s["type"])
        if f == "avg":
            total, n = st
            if not n or total is None:
                return None
            if t.kind == "double":
                return float(total) / n
            if t.kind == "decimal":
                with localcontext() as ctx:
                    ctx.prec = 60
                    return (Decimal(total) / n).quantize(Decimal(1).scaleb(-t.scale), rounding=ROUND_HALF_UP)
            q = Decimal(total) / n
            return int(q.to_integral_value(rounding=ROUND_DOWN))
        if f == "sum" and t.kind == "double" and st is not None:
            return float(st)
        return st


def _least(x: Any, y: Any) -> Any:
    """min() with NaN above every other number (``E.nan_last``): NaN only if both are."""
    if x != x or y != y:
        return y if x != x else x
    return min(x, y)


def _greatest(x: Any, y: Any) -> Any:
    """max() with NaN above every other number: NaN if either is."""
    if x != x or y != y:
        return x if x != x else y
    return max(x, y)


def _total_order(v: Any) -> Any:
    return (type(v).__name__, E.nan_last(v))


# ------------------------------------------------------------------------------------- sorting


def sort_rows(rows: List[Row], keys: Sequence[Dict[str, Any]]) -> List[Row]:
    """*rows* in the order of *keys* (stable: ties keep their order)."""
    for k in reversed(keys):
        f = E.evaluator(k["expr"])
        desc, nulls_first = k["desc"], k["nulls_first"]
        # after reversing for DESC, NULLs must still land where nulls_first says
        null_rank = 0 if nulls_first != desc else 1

        def sort_key(row: Row, f: Callable[[Row], Any] = f, null_rank: int = null_rank) -> Any:
            v = f(row)
            return (null_rank, 0) if v is None else (1 - null_rank, E.nan_last(v))

        rows.sort(key=sort_key, reverse=desc)
    return rows


def top_k(rows: Iterable[Row], keys: Sequence[Dict[str, Any]], k: int) -> List[Row]:
    """The first *k* rows in the order of *keys*."""
    if k <= 0:
        return []
    return sort_rows(list(rows), keys)[:k]


# --------------------------------------------------------------------------------------- joins


def join_rows(spec: Dict[str, Any], key: List[Any], sides: Tuple[List[Row], List[Row]]) -> Iterator[Row]:
    """The rows one join key gives: *sides* are the left and right rows with that key."""
    kind = spec["join"]
    nl, nr = spec["widths"]
    left, right = sides
    residual = E.predicate(spec["residual"]) if spec["residual"] is not None else None
    null_key = any(v is None for v in key)
    if kind == "semi":
        if null_key:
            return
        for lrow in left:
            if any(residual is None or residual(lrow + r) for r in right):
                yield lrow
        return
    if kind == "anti":
        for lrow in left:
            if null_key:
                yield lrow
                continue
            if not any(residual is None or residual(lrow + r) for r in right):
                yield lrow
        return
    if null_key:  # NULL equals nothing: only the preserved sides come out
        if kind in ("left", "full"):
            for lrow in left:
                yield lrow + [None] * nr
        if kind in ("right", "full"):
            for rrow in right:
                yield [None] * nl + rrow
        return
    matched_right = [False] * len(right)
    for lrow in left:
        hit = False
        for j, rrow in enumerate(right):
            row = lrow + rrow
            if residual is None or residual(row):
                hit = True
                matched_right[j] = True
                yield row
        if not hit and kind in ("left", "full"):
            yield lrow + [None] * nr
    if kind in ("right", "full"):
        for j, rrow in enumerate(right):
            if not matched_right[j]:
                yield [None] * nl + rrow


# ------------------------------------------------------------------------------------- windows


def window_rows(spec: Dict[str, Any], rows: List[Row], dialect: str) -> Iterator[Row]:
    """One partition's rows, ordered, each with its window functions' values appended.

    With ORDER BY, an aggregate's frame is the SQL default: from the partition's start to the
    current row's last peer (RANGE UNBOUNDED PRECEDING); without it, the whole partition."""
    order = spec["order"]
    rows = sort_rows(rows, order) if order else rows
    n = len(rows)
    keyf = [E.evaluator(k["expr"]) for k in order]
    peer_keys = [tuple(E.nan_last(f(r)) for f in keyf) for r in rows]  # NaN a peer of NaN
    # peer groups: [start, end) of equal ORDER BY values
    group_end = [0] * n
    i = 0
    while i < n:
        j = i + 1
        while j < n and peer_keys[j] == peer_keys[i]:
            j += 1
        for m in range(i, j):
            group_end[m] = j
        i = j
    columns: List[List[Any]] = []
    out: List[Any]
    for f in spec["funcs"]:
        name = f["func"]
        if name == "row_number":
            columns.append(list(range(1, n + 1)))
        elif name in ("rank", "dense_rank"):
            out, rank, dense = [], 0, 0
            for m in range(n):
                if m == 0 or peer_keys[m] != peer_keys[m - 1]:
                    rank, dense = m + 1, dense + 1
                out.append(rank if name == "rank" else dense)
            columns.append(out)
        elif name == "ntile":
            buckets = f["arg"][1]
            size, extra = divmod(n, buckets) if buckets > 0 else (n, 0)
            out = []
            for m in range(n):
                # the first `extra` buckets hold size + 1 rows
                cut = extra * (size + 1)
                out.append(
                    m // (size + 1) + 1 if m < cut else (m - cut) // size + extra + 1 if size else m + 1
                )
            columns.append(out)
        else:
            aggs = Aggregates(
                [{"func": name, "arg": f["arg"], "distinct": False, "type": f["type"]}], dialect
            )
            out = [None] * n
            state = None
            done = 0
            if not order:
                for r in rows:
                    s = aggs.initial(r)
                    state = s if state is None else aggs.merge(state, s)
                value = aggs.final(state)[0] if state is not None else aggs.empty()[0]
                out = [value] * n
            else:
                for m in range(n):
                    end = group_end[m]
                    while done < end:
                        s = aggs.initial(rows[done])
                        state = s if state is None else aggs.merge(state, s)
                        done += 1
                    out[m] = aggs.final(state)[0]  # type: ignore[arg-type]
            columns.append(out)
    for m, r in enumerate(rows):
        yield r + [c[m] for c in columns]
