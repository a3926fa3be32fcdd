"""Cutting the logical plan into MapReduce stages, as Hive does, and the plan that crosses processes.

One stage per shuffle: a GROUP BY (``aggregate``), a JOIN (``join``), a window partitioning
(``window``), a global ORDER BY (``sort``, one reducer) or LIMIT (``limit``, one reducer). What
needs no shuffle -- scans, filters, projections -- runs in a *pipe*: on the map side of the stage
that reads it, or, for a stage's own output, folded into that stage's reducer (``post``), so no
stage is ever map-only except a query that has no shuffle at all.

Step by step, for ``stages`` in order (a stage's inputs come from earlier stages or tables):

1. Every stage is one mrjob step (``engine.sql.job.SqlJob``). Step 1 reads every table the query
   scans; its mapper turns each record into a row with the table's reader, runs the pipes over
   that table, and keys each row for the stage that consumes it.
2. A row consumed by a later stage is *carried*: keyed by an integer (a real key is always a
   list), it passes the step's combiner and reducer unchanged and reaches the next step's mapper
   tagged with its stream, until the consuming step keys it for real.
3. A stage's mapper emits ``key -> [input, ...]``: the row for a join (input 0 is the left side),
   window, sort or limit; the aggregate's partial states for an aggregate, which the combiner
   merges map-side (and a sort with LIMIT keeps its top k there).
4. The reducer runs the stage's operator, then its ``post`` pipe, and emits ``None -> [stream,
   *row]`` for the next step -- or the result row, in the last step.

The plan is JSON (``engine.sql.protocol.dumps``: decimals and dates exact) and travels to every
task as a job option, so the same plan runs on ``-r engine``, inline, local, Hadoop and EMR.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

from engine.sql import expr as E
from engine.sql import logical as L
from engine.sql import protocol
from engine.sql.catalog import TableDef


@dataclass
class Pipe:
    """A stream of rows: a table or a stage's output, with row operations applied in order."""

    source: Tuple[str, int]  # ("table", table index) | ("stage", stage id)
    ops: List[List[Any]]  # ["filter", expr] | ["project", [expr...]]
    columns: L.Columns
    stream: int = -1  # set when numbered


@dataclass
class StageInput:
    pipes: List[Pipe]
    keys: List[E.Expr]


@dataclass
class Stage:
    id: int
    kind: str  # aggregate | join | window | sort | limit | map
    inputs: List[StageInput]
    spec: Dict[str, Any]
    columns: L.Columns  # what the operator emits, before post
    post: List[List[Any]] = field(default_factory=list)
    out_columns: L.Columns = field(default_factory=list)  # after post
    stream: int = -1


@dataclass
class StagePlan:
    tables: List[TableDef]
    stages: List[Stage]
    columns: L.Columns  # the result's
    dialect: str
    explain: str = ""  # its EXPLAIN text, for the run's report (engine.sql.job.SqlJob.report_sections)

    # -------------------------------------------------------------- serialization

    def to_json(self) -> Dict[str, Any]:
        return {
            "dialect": self.dialect,
            "tables": [t.to_json() for t in self.tables],
            "columns": [[n, str(t)] for n, t in self.columns],
            "stages": [_stage_json(s) for s in self.stages],
            "explain": self.explain,
        }

    def encode(self) -> str:
        """The plan as one option-safe word (base64 of the compressed JSON)."""
        return base64.b64encode(zlib.compress(protocol.dumps(self.to_json()).encode("utf-8"), 9)).decode(
            "ascii"
        )


def decode(text: str) -> Dict[str, Any]:
    """The JSON plan of ``StagePlan.encode``."""
    return protocol.loads(zlib.decompress(base64.b64decode(text)).decode("utf-8"))


def _stage_json(s: Stage) -> Dict[str, Any]:
    return {
        "id": s.id,
        "kind": s.kind,
        "spec": s.spec,
        "post": s.post,
        "stream": s.stream,
        "width": len(s.columns),
        "out_types": [str(t) for _, t in s.out_columns],  # after post: what the stage emits
        "inputs": [
            {
                "keys": i.keys,
                "pipes": [{"source": list(p.source), "ops": p.ops, "stream": p.stream} for p in i.pipes],
            }
            for i in s.inputs
        ],
    }


# ------------------------------------------------------------------------------------- cutting


class _Cutter:
    def __init__(self, table_bytes: Callable[[TableDef], Optional[int]], broadcast_bytes: int) -> None:
        self.stages: List[Stage] = []
        self.tables: Dict[int, TableDef] = {}
        self.table_bytes = table_bytes
        self.broadcast_bytes = broadcast_bytes

    def pipes(self, node: L.Node) -> List[Pipe]:
        if isinstance(node, L.Scan):
            self.tables[node.table_index] = node.table
            return [Pipe(("table", node.table_index), [], list(node.columns))]
        if isinstance(node, L.Filter):
            return [self._op(p, ["filter", node.predicate], node.columns) for p in self.pipes(node.child)]
        if isinstance(node, L.Project):
            return [self._op(p, ["project", node.exprs], node.columns) for p in self.pipes(node.child)]
        if isinstance(node, L.Union):
            return [p for c in node.children for p in self.pipes(c)]
        if isinstance(node, L.Aggregate):
            specs = [_agg_json(a) for a in node.aggs]
            stage = self._stage(
                "aggregate",
                [StageInput(self.pipes(node.child), node.keys)],
                {"nkeys": len(node.keys), "aggs": specs},
                node.columns,
            )
            return [self._from(stage)]
        if isinstance(node, L.Join):
            lk, rk = node.left_keys, node.right_keys  # one type each side (compile._equi)
            kind = node.kind
            small = self._broadcast_side(node)
            if small is not None:
                return self._broadcast_join(node, small, lk, rk)
            stage = self._stage(
                "join",
                [StageInput(self.pipes(node.left), lk), StageInput(self.pipes(node.right), rk)],
                {
                    "join": kind,
                    "residual": node.residual,
                    "widths": [len(node.left.columns), len(node.right.columns)],
                },
                node.columns,
            )
            return [self._from(stage)]
        if isinstance(node, L.Window):
            stage = self._stage(
                "window",
                [StageInput(self.pipes(node.child), node.partition)],
                {
                    "order": [_key_json(k) for k in node.order],
                    "funcs": [{"func": f.func, "arg": f.arg, "type": str(f.type)} for f in node.funcs],
                },
                node.columns,
            )
            return [self._from(stage)]
        if isinstance(node, L.Sort):
            stage = self._stage(
                "sort",
                [StageInput(self.pipes(node.child), [])],
                {"keys": [_key_json(k) for k in node.keys], "limit": node.limit},
                node.columns,
            )
            return [self._from(stage)]
        if isinstance(node, L.Limit):
            stage = self._stage(
                "limit",
                [StageInput(self.pipes(node.child), [])],
                {"n": node.n},
                node.columns,
            )
            return [self._from(stage)]
        raise TypeError(f"no stage for {type(node).__name__}")

    def _broadcast_side(self, node: L.Join) -> Optional[str]:
        """``right``/``left``: the side of *node* small enough to join map-side, if any.

        As Hive's ``hive.auto.convert.join``: a side that is a scan (with filters and projections,
        no shuffle) of tables whose files add up to at most ``broadcast_bytes`` (25 MB by default,
        Hive's ``hive.mapjoin.smalltable.filesize``), read by every task that probes it. A left
        join keeps its left side, so only its right side may be broadcast (and the other way
        round); a full outer join never is."""
        if self.broadcast_bytes <= 0:
            return None
        sides = {
            "inner": ("right", "left"),
            "left": ("right",),
            "semi": ("right",),
            "anti": ("right",),
            "right": ("left",),
        }.get(node.kind, ())
        for side in sides:
            child = node.right if side == "right" else node.left
            tables = _scanned_tables(child)
            if tables is None:
                continue
            sizes = [self.table_bytes(t) for t in tables]
            known = [x for x in sizes if x is not None]
            if len(known) == len(sizes) and sum(known) <= self.broadcast_bytes:
                return side
        return None

    def _broadcast_join(self, node: L.Join, small: str, lk: List[E.Expr], rk: List[E.Expr]) -> List[Pipe]:
        small_node, big_node = (node.right, node.left) if small == "right" else (node.left, node.right)
        small_pipes = self.pipes(small_node)
        spec = {
            "join": node.kind,
            "small": small,
            "pipes": [{"table": p.source[1], "ops": p.ops} for p in small_pipes],
            "big_keys": lk if small == "right" else rk,
            "small_keys": rk if small == "right" else lk,
            "residual": node.residual,
            "widths": [len(node.left.columns), len(node.right.columns)],
            "tables": sorted({t.name for t in _scanned_tables(small_node) or ()}),
        }
        return [self._op(p, ["broadcast_join", spec], node.columns) for p in self.pipes(big_node)]

    def _op(self, pipe: Pipe, op: List[Any], columns: L.Columns) -> Pipe:
        if pipe.source[0] == "stage" and not pipe.ops:
            # fold the row operation into the producing stage's reducer
            stage = self.stages[pipe.source[1]]
            stage.post.append(op)
            stage.out_columns = list(columns)
            return Pipe(pipe.source, [], list(columns))
        return Pipe(pipe.source, pipe.ops + [op], list(columns))

    def _stage(self, kind: str, inputs: List[StageInput], spec: Dict[str, Any], columns: L.Columns) -> Stage:
        s = Stage(len(self.stages), kind, inputs, spec, list(columns))
        s.out_columns = list(columns)
        self.stages.append(s)
        return s

    def _from(self, stage: Stage) -> Pipe:
        return Pipe(("stage", stage.id), [], list(stage.columns))


def _agg_json(a: L.AggCall) -> Dict[str, Any]:
    return {
        "func": a.func,
        "arg": a.arg,
        "distinct": a.distinct,
        "type": str(a.type),
        "arg_type": str(a.arg_type) if a.arg_type else None,
    }


def _key_json(k: L.SortKey) -> Dict[str, Any]:
    return {"expr": k.expr, "desc": k.desc, "nulls_first": k.nulls_first}


def _scanned_tables(node: L.Node) -> Optional[List[TableDef]]:
    """The tables under *node* if it needs no shuffle (scans, filters, projections, UNION ALL)."""
    if isinstance(node, L.Scan):
        return [node.table]
    if isinstance(node, (L.Filter, L.Project)):
        return _scanned_tables(node.child)
    if isinstance(node, L.Union):
        out: List[TableDef] = []
        for c in node.children:
            t = _scanned_tables(c)
            if t is None:
                return None
            out += t
        return out
    return None


def _no_size(table: TableDef) -> Optional[int]:
    return None


#: Hive's ``hive.mapjoin.smalltable.filesize``: a join side up to this size is broadcast.
BROADCAST_BYTES = 25 * 1000 * 1000


def cut(
    root: L.Node,
    dialect: str,
    table_bytes: Callable[[TableDef], Optional[int]] = _no_size,
    broadcast_bytes: int = BROADCAST_BYTES,
) -> StagePlan:
    """The stage plan of a logical plan. *table_bytes* tells a table's size (``None``: unknown, or
    not readable by every task: no broadcast join for it)."""
    cutter = _Cutter(table_bytes, broadcast_bytes)
    pipes = cutter.pipes(root)
    stages = cutter.stages
    if not (
        len(pipes) == 1
        and pipes[0].source[0] == "stage"
        and not pipes[0].ops
        and pipes[0].source[1] == len(stages) - 1
    ):
        # no shuffle at the top (a scan, a UNION ALL of shuffles...): a final map-only stage
        stages.append(Stage(len(stages), "map", [StageInput(pipes, [])], {}, list(root.columns)))
        stages[-1].out_columns = list(root.columns)
    # number the streams: table pipes, then stage outputs
    table_order = sorted(cutter.tables)
    tables = [cutter.tables[i] for i in table_order]
    remap = {old: new for new, old in enumerate(table_order)}
    seen: set = set()
    n = 0
    for s in stages:
        for inp in s.inputs:
            for p in inp.pipes:
                if p.source[0] == "table":
                    p.source = ("table", remap[p.source[1]])
                    p.stream = n
                    n += 1
                _remap_broadcasts(p.ops, remap, seen)
        _remap_broadcasts(s.post, remap, seen)
    for s in stages:
        s.stream = n
        n += 1
    for s in stages:
        for inp in s.inputs:
            for p in inp.pipes:
                if p.source[0] == "stage":
                    p.stream = stages[p.source[1]].stream
    return StagePlan(tables, stages, list(root.columns), dialect)


def _remap_broadcasts(ops: List[List[Any]], remap: Dict[int, int], seen: set) -> None:
    """Table numbers inside broadcast joins (and their small sides' own ops), renumbered; *seen*
    holds the specs done (the pipes of a UNION share one)."""
    for op in ops:
        if op[0] == "broadcast_join" and id(op[1]) not in seen:
            seen.add(id(op[1]))
            for p in op[1]["pipes"]:
                p["table"] = remap[p["table"]]
                _remap_broadcasts(p["ops"], remap, seen)


def input_tables(plan: StagePlan) -> List[int]:
    """The tables the job reads as its input (a broadcast side's are read by the tasks themselves)."""
    return sorted(
        {p.source[1] for s in plan.stages for i in s.inputs for p in i.pipes if p.source[0] == "table"}
    )


def pipe_columns(ops: List[List[Any]], stage: Optional[Dict[str, Any]] = None) -> Optional[List[int]]:
    """The table columns a pipe of the JSON plan reads: those its filters use up to its first
    projection, and that projection's (``prune`` puts one right after each scan); without one,
    the keys and aggregate arguments of *stage* (an aggregate it feeds); ``None``: every column
    (its rows go on whole, or through a map-side join first).

    Only these columns are converted from the table's text (``RowReader``, and
    ``engine.sql.vector.TableReader``): a value that a column the query does not read cannot
    hold is no error, as in DuckDB, which converts only the columns a query reads.
    """
    used: set = set()
    for op in ops:
        if op[0] == "broadcast_join":
            return None  # the joined rows hold every column
        for e in [op[1]] if op[0] == "filter" else op[1]:
            used |= E.columns_used(e)
        if op[0] == "project":
            return sorted(used)
    if stage is None or stage["kind"] != "aggregate" or len(stage["inputs"]) != 1:
        return None
    spec = stage["spec"]
    for e in [*stage["inputs"][0]["keys"], *(a["arg"] for a in spec["aggs"] if a["arg"] is not None)]:
        used |= E.columns_used(e)
    return sorted(used)


def broadcast_tables(plan: Dict[str, Any], stages: Optional[Collection[int]] = None) -> List[int]:
    """The tables (by index in ``plan["tables"]``) that the JSON plan's map-side joins load whole,
    those of a side's own joins too; with *stages*, only those the joins of these stages load
    (a stage's pipes and post run in its own step)."""
    out: List[int] = []

    def walk(ops: List[List[Any]]) -> None:
        for op in ops:
            if op[0] == "broadcast_join":
                for side in op[1]["pipes"]:
                    out.append(side["table"])
                    walk(side["ops"])

    for s in plan["stages"]:
        if stages is not None and s["id"] not in stages:
            continue
        for inp in s["inputs"]:
            for p in inp["pipes"]:
                walk(p["ops"])
        walk(s.get("post") or [])
    return out


def stream_columns(plan: Dict[str, Any]) -> Dict[int, Optional[List[int]]]:
    """For each table the mappers read (by index in ``plan["tables"]``), the columns its pipes
    read (``pipe_columns``, all pipes together); ``None``: every column."""
    out: Dict[int, Optional[List[int]]] = {}
    for s in plan["stages"]:
        for inp in s["inputs"]:
            for p in inp["pipes"]:
                if p["source"][0] != "table":
                    continue
                t = p["source"][1]
                cols = pipe_columns(p["ops"], s)
                if cols is None or (t in out and out[t] is None):
                    out[t] = None
                else:
                    out[t] = sorted({*(out.get(t) or ()), *cols})
    return out
