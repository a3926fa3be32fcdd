"""Column pruning: each operator keeps only the columns something above it reads.

A scan reads whole rows (a text line is split anyway), but what crosses a shuffle or is carried
through a step should be only what the query uses: ``prune`` walks the logical plan top down with
the set of columns needed, puts a projection right after each scan (it runs in the mapper's pipe,
before the shuffle), drops unused projections and aggregates, and renumbers every expression.

``prune(node, needed)`` returns the new node and where each needed column went (old -> new).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Set, Tuple

from engine.sql import expr as E
from engine.sql import logical as L

Mapping = Dict[int, int]


def prune_plan(root: L.Node) -> L.Node:
    """*root* with every unused column dropped; its output columns unchanged."""
    node, mapping = prune(root, set(range(len(root.columns))))
    if [mapping[i] for i in range(len(root.columns))] != list(range(len(node.columns))):
        node = L.Project(node, [E.col(mapping[i]) for i in range(len(root.columns))], list(root.columns))
    node.columns = list(root.columns)  # the result's names (set on the root by the compiler)
    return node


def _used(exprs: Sequence[E.Expr]) -> Set[int]:
    out: Set[int] = set()
    for e in exprs:
        out |= E.columns_used(e)
    return out


def _key(k: L.SortKey, m: Mapping) -> L.SortKey:
    return L.SortKey(E.remap(k.expr, m), k.desc, k.nulls_first)


def prune(node: L.Node, needed: Set[int]) -> Tuple[L.Node, Mapping]:
    if isinstance(node, L.Scan):
        keep = sorted(needed) or [0]  # a row of no columns still counts (count(*))
        if keep == list(range(len(node.columns))):
            return node, {i: i for i in keep}
        proj = L.Project(node, [E.col(i) for i in keep], [node.columns[i] for i in keep])
        return proj, {old: new for new, old in enumerate(keep)}
    if isinstance(node, L.Filter):
        child, m = prune(node.child, needed | E.columns_used(node.predicate))
        return L.Filter(child, E.remap(node.predicate, m)), m
    if isinstance(node, L.Project):
        keep = sorted(needed) or [0]
        exprs = [node.exprs[i] for i in keep]
        child, m = prune(node.child, _used(exprs))
        new = L.Project(child, [E.remap(e, m) for e in exprs], [node.out[i] for i in keep])
        return new, {old: new_i for new_i, old in enumerate(keep)}
    if isinstance(node, L.Aggregate):
        nk = len(node.keys)
        agg_keep = [j for j in range(len(node.aggs)) if nk + j in needed]
        aggs = [node.aggs[j] for j in agg_keep]
        child, m = prune(node.child, _used(node.keys) | _used([a.arg for a in aggs if a.arg is not None]))
        new_aggs = [
            L.AggCall(
                a.func, E.remap(a.arg, m) if a.arg is not None else None, a.distinct, a.type, a.arg_type
            )
            for a in aggs
        ]
        agg = L.Aggregate(
            child,
            [E.remap(k, m) for k in node.keys],
            list(node.key_columns),
            new_aggs,
            [node.agg_names[j] for j in agg_keep],
        )
        mapping = {i: i for i in range(nk)}
        mapping.update({nk + j: nk + pos for pos, j in enumerate(agg_keep)})
        return agg, mapping
    if isinstance(node, L.Join):
        nl = len(node.left.columns)
        residual_used = E.columns_used(node.residual) if node.residual is not None else set()
        out_needed = needed if node.kind not in ("semi", "anti") else {i for i in needed if i < nl}
        want = out_needed | residual_used
        lneed = {i for i in want if i < nl} | _used(node.left_keys)
        rneed = {i - nl for i in want if i >= nl} | _used(node.right_keys)
        left, lm = prune(node.left, lneed)
        right, rm = prune(node.right, rneed)
        nl2 = len(left.columns)
        both = {**lm, **{i + nl: j + nl2 for i, j in rm.items()}}
        join = L.Join(
            node.kind,
            left,
            right,
            [E.remap(k, lm) for k in node.left_keys],
            [E.remap(k, rm) for k in node.right_keys],
            E.remap(node.residual, both) if node.residual is not None else None,
        )
        if node.kind in ("semi", "anti"):
            return join, lm
        return join, both
    if isinstance(node, L.Window):
        nc = len(node.child.columns)
        uses = (
            _used(node.partition)
            | _used([k.expr for k in node.order])
            | _used([f.arg for f in node.funcs if f.arg is not None])
        )
        child, m = prune(node.child, {i for i in needed if i < nc} | uses)
        nc2 = len(child.columns)
        funcs = [
            L.WindowCall(
                f.func,
                E.remap(f.arg, m) if f.arg is not None else f.arg,
                f.type,
                f.arg_type,
            )
            for f in node.funcs
        ]
        win = L.Window(
            child,
            [E.remap(p, m) for p in node.partition],
            [_key(k, m) for k in node.order],
            funcs,
            list(node.func_names),
        )
        mapping = dict(m)
        mapping.update({nc + j: nc2 + j for j in range(len(node.funcs))})
        return win, mapping
    if isinstance(node, L.Sort):
        child, m = prune(node.child, needed | _used([k.expr for k in node.keys]))
        return L.Sort(child, [_key(k, m) for k in node.keys], node.limit), m
    if isinstance(node, L.Limit):
        child, m = prune(node.child, needed)
        return L.Limit(child, node.n), m
    if isinstance(node, L.Union):
        # every branch keeps the same positions, so that their rows line up
        keep = sorted(needed) or [0]
        children: List[L.Node] = []
        for c in node.children:
            pc, m = prune(c, set(keep))
            children.append(L.Project(pc, [E.col(m[i]) for i in keep], [c.columns[i] for i in keep]))
        return L.Union(children), {old: new for new, old in enumerate(keep)}
    raise TypeError(f"cannot prune {type(node).__name__}")
