"""EXPLAIN: the stage plan in Hive's layout.

    STAGE DEPENDENCIES:
      Stage-1 is a root stage
      Stage-2 depends on stages: Stage-1
      Stage-0 depends on stages: Stage-2

    STAGE PLANS:
      Stage: Stage-1
        Map Reduce
          Map Operator Tree:
              TableScan
                alias: sales
                Filter Operator ... Select Operator ... Group By Operator (partial)
                  Reduce Output Operator
                    key expressions: ...  (the shuffle key; partition columns = key columns)
          Reduce Operator Tree:
            Group By Operator / Join Operator / PTF Operator (windows) / Extract + Limit
              File Output Operator
      Stage: Stage-0
        Fetch Operator

Stage ``i + 1`` is the plan's stage ``i`` (one mrjob step); Stage-0 fetches the result, as in
Hive. Rows carried through a step to a later one (``engine.sql.stages``) are listed under that
step's map tree as ``Carry``. ``EXPLAIN ANALYZE`` adds the rows and seconds of the run.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from engine.sql import expr as E
from engine.sql.catalog import TableDef
from engine.sql.stages import Pipe, Stage, StagePlan


def _names(columns: Sequence[Any]) -> List[str]:
    return [n for n, _ in columns]


def _pipe_lines(plan: StagePlan, p: Pipe, indent: int) -> Tuple[List[str], List[str], int]:
    """A map-side pipe's lines, the names of the columns it ends with, and the indent after it."""
    pad = " " * indent
    if p.source[0] == "table":
        t = plan.tables[p.source[1]]
        lines = [
            f"{pad}TableScan",
            f"{pad}  alias: {t.name}",
            f"{pad}  columns: {', '.join(t.names)}",
            f"{pad}  format: {t.format} at {', '.join(t.locations)}",
        ]
        names = list(t.names)
    else:
        src = plan.stages[p.source[1]]
        names = _names(src.out_columns)
        lines = [f"{pad}Input from Stage-{src.id + 1}", f"{pad}  columns: {', '.join(names)}"]
    more, names, depth = _ops_lines(p.ops, indent + 2, names, plan.tables)
    return lines + more, names, depth


def _ops_lines(
    ops: Sequence[List[Any]], depth: int, names: List[str], tables: Sequence[TableDef]
) -> Tuple[List[str], List[str], int]:
    """Row operations (a pipe's, or folded into a reducer), each nested one level deeper than the
    one before: their lines, the names of the columns after them, and the indent after them."""
    lines: List[str] = []
    for op in ops:
        pad = " " * depth
        if op[0] == "filter":
            lines += [f"{pad}Filter Operator", f"{pad}  predicate: {E.show(op[1], names)}"]
        elif op[0] == "broadcast_join":
            lines += _map_join_lines(op[1], pad, names)
            # the joined rows: the left side's columns, then the right side's
            small = tables[op[1]["pipes"][0]["table"]]
            small_names = _ops_lines(op[1]["pipes"][0]["ops"], 0, list(small.names), tables)[1]
            if op[1]["join"] not in ("semi", "anti"):
                names = small_names + names if op[1]["small"] == "left" else names + small_names
        else:
            shown = [E.show(e, names) for e in op[1]]
            lines += [f"{pad}Select Operator", f"{pad}  expressions: {', '.join(shown)}"]
            names = shown
        depth += 2
    return lines, names, depth


_JOIN_LABELS = {
    "inner": "Inner Join",
    "left": "Left Outer Join",
    "right": "Right Outer Join",
    "full": "Outer Join",
    "semi": "Left Semi Join",
    "anti": "Left Anti Join",
}


def _map_join_lines(spec: Dict[str, Any], pad: str, names: List[str]) -> List[str]:
    keys = ", ".join(E.show(k, names) for k in spec["big_keys"])
    return [
        f"{pad}Map Join Operator (broadcast of {', '.join(spec['tables'])}, the {spec['small']} side)",
        f"{pad}  condition: {_JOIN_LABELS.get(spec['join'], spec['join'])}",
        f"{pad}  keys: {keys}",
    ]


def _agg_text(a: Dict[str, Any], names: List[str]) -> str:
    if a["func"] == "count_star":
        return "count(*)"
    arg = E.show(a["arg"], names)
    return f"{a['func']}({'DISTINCT ' if a['distinct'] else ''}{arg})"


def _stage_lines(plan: StagePlan, s: Stage) -> List[str]:
    out = [f"  Stage: Stage-{s.id + 1}", "    Map Reduce", "      Map Operator Tree:"]
    reduce_input_names: List[str] = []
    for k, inp in enumerate(s.inputs):
        for p in inp.pipes:
            lines, names, depth = _pipe_lines(plan, p, 10)
            out += lines
            pad = " " * depth
            if s.kind == "map":
                out += [f"{pad}File Output Operator"]
                continue
            if s.kind == "aggregate":
                aggs = [_agg_text(a, names) for a in s.spec["aggs"]]
                keys = [E.show(e, names) for e in inp.keys]
                out += [
                    f"{pad}Group By Operator (partial, in the combiner)",
                    f"{pad}  aggregations: {', '.join(aggs) or '(none: DISTINCT)'}",
                    f"{pad}  keys: {', '.join(keys) or '(none)'}",
                ]
                pad = pad + "  "
            if s.kind == "sort" and s.spec["limit"] is not None:
                out += [f"{pad}Top-K Operator (in the combiner)", f"{pad}  k: {s.spec['limit']}"]
                pad = pad + "  "
            keys = [E.show(e, names) for e in inp.keys]
            out += [
                f"{pad}Reduce Output Operator",
                f"{pad}  key expressions: {', '.join(keys) or '(none)'}",
                f"{pad}  Map-reduce partition columns: {', '.join(keys) or '(none: one reducer)'}",
            ]
            if s.kind == "join":
                out += [f"{pad}  tag: {k} ({'left' if k == 0 else 'right'})"]
            if k == 0:
                reduce_input_names = names
    if s.kind == "map":
        return out
    out += ["      Reduce Operator Tree:"]
    pad = " " * 8
    cols = _names(s.columns)
    if s.kind == "aggregate":
        nk = s.spec["nkeys"]
        out += [
            f"{pad}Group By Operator (final)",
            f"{pad}  aggregations: {', '.join(cols[nk:]) or '(none)'}",
            f"{pad}  keys: {', '.join(cols[:nk]) or '(none)'}",
        ]
    elif s.kind == "join":
        kind = s.spec["join"]
        label = _JOIN_LABELS.get(kind, kind)
        out += [f"{pad}Join Operator", f"{pad}  condition: {label} 0 to 1"]
        if s.spec["residual"] is not None:
            out += [f"{pad}  residual filter: {E.show(s.spec['residual'], cols)}"]
    elif s.kind == "window":
        funcs = [
            f"{f['func']}({E.show(f['arg'], reduce_input_names) if f['arg'] is not None else ''})"
            for f in s.spec["funcs"]
        ]
        order = [
            f"{E.show(k['expr'], reduce_input_names)} {'DESC' if k['desc'] else 'ASC'}"
            f" NULLS {'FIRST' if k['nulls_first'] else 'LAST'}"
            for k in s.spec["order"]
        ]
        out += [
            f"{pad}PTF Operator (windowing)",
            f"{pad}  functions: {', '.join(funcs)}",
            f"{pad}  order by: {', '.join(order) or '(none)'}",
        ]
    elif s.kind == "sort":
        order = [
            f"{E.show(k['expr'], cols)} {'DESC' if k['desc'] else 'ASC'}"
            f" NULLS {'FIRST' if k['nulls_first'] else 'LAST'}"
            for k in s.spec["keys"]
        ]
        out += [f"{pad}Extract (sort, one reducer)", f"{pad}  order by: {', '.join(order)}"]
        if s.spec["limit"] is not None:
            out += [f"{pad}  Limit", f"{pad}    Number of rows: {s.spec['limit']}"]
    elif s.kind == "limit":
        out += [f"{pad}Limit (one reducer)", f"{pad}  Number of rows: {s.spec['n']}"]
    lines, _, depth = _ops_lines(s.post, len(pad) + 2, cols, plan.tables)
    out += lines + [f"{' ' * depth}File Output Operator"]
    return out


def _vectorization(plan: StagePlan) -> List[str]:
    """Whether ``-r engine`` runs the plan's stages on Arrow batches (``engine.sql.vector``), and
    why not where a stage runs on the record form."""
    from engine.sql.vector_plan import ARROW_MIN_BYTES, PARQUET_TEXT_FACTOR, record_stages, why_not

    json_plan = plan.to_json()
    record = record_stages(json_plan)
    when = (
        f"when the tables hold {ARROW_MIN_BYTES >> 20} MiB or more of text, a Parquet file counting "
        f"{PARQUET_TEXT_FACTOR} times its bytes, --sql-arrow-min-bytes; --no-vectorize: the record form"
    )
    if not record:
        return [f"enabled: true (-r engine runs every stage on Arrow batches {when})"]
    if len(record) == len(plan.stages):
        return [f"enabled: false ({why_not(json_plan)}: -r engine runs the record form)"]
    arrow = ", ".join(f"Stage-{s.id + 1}" for s in plan.stages if s.id not in record)
    rest = "the rest on the record form"
    lines = [f"enabled: partly (-r engine runs {arrow} on Arrow batches, {rest}, {when})"]
    return lines + [f"on the record form: {reason}" for reason in record.values()]


def explain_text(plan: StagePlan, timings: Optional[Dict[str, Any]] = None) -> str:
    """The plan in Hive's EXPLAIN layout (with the run's rows and seconds for EXPLAIN ANALYZE)."""
    lines = ["STAGE DEPENDENCIES:"]
    for s in plan.stages:
        deps = sorted({p.source[1] + 1 for inp in s.inputs for p in inp.pipes if p.source[0] == "stage"})
        if s.id > 0:
            deps = sorted(set(deps) | {s.id})  # steps run in order: each waits for the one before
        if deps:
            lines.append(f"  Stage-{s.id + 1} depends on stages: {', '.join(f'Stage-{d}' for d in deps)}")
        else:
            lines.append(f"  Stage-{s.id + 1} is a root stage")
    lines.append(f"  Stage-0 depends on stages: Stage-{len(plan.stages)}")
    lines += ["", "STAGE PLANS:"]
    counters = (timings or {}).get("counters", {})
    for s in plan.stages:
        lines += _stage_lines(plan, s)
        if timings is not None:
            lines.append(f"    rows out: {counters.get(f'Stage-{s.id + 1} rows out', 0)}")
    lines += ["  Stage: Stage-0", "    Fetch Operator", f"      columns: {', '.join(_names(plan.columns))}"]
    lines += ["", "PLAN VECTORIZATION:", *(f"  {line}" for line in _vectorization(plan))]
    if timings is not None:
        lines += [
            "",
            f"ANALYZE: {timings['rows']} rows in {timings['seconds']:.2f} s "
            f"({len(plan.stages)} MapReduce stage(s))",
        ]
        for t in plan.tables:
            lines.append(f"  {t.name}: {counters.get(f'{t.name} rows read', 0)} rows read")
            by_rows = counters.get(f"{t.name} blocks read by the record form", 0)
            if by_rows:
                lines.append(f"  {t.name}: {by_rows} block(s) read by the record form's reader")
        for s in plan.stages:
            for way, where in (("to", "to the record form"), ("from", "from the record form to Arrow")):
                crossed = counters.get(f"Stage-{s.id + 1} rows {way} the record form", 0)
                if crossed:
                    lines.append(f"  Stage-{s.id + 1}: {crossed} rows crossed {where}")
        for name, seconds, records_in, records_out in timings.get("waves", ()):
            lines.append(f"  wave {name}: {seconds:.2f} s, {records_in} records in, {records_out} out")
    return "\n".join(lines) + "\n"
