"""[NOT] IN and [NOT] EXISTS subqueries in WHERE as semi and anti joins (on the qualified AST).

sqlglot's ``unnest_subqueries`` turns them into LEFT JOINs on grouped subqueries plus ``IS [NOT]
NULL`` filters, which gets ``NOT IN`` wrong when the subquery holds a NULL (SQL: no row passes).
So, for every top-level AND of a SELECT's WHERE, before sqlglot's pass handles what is left
(scalar subqueries, subqueries under OR):

``x IN (SELECT y ...)``           ``SEMI JOIN (SELECT y ...) _sqN ON x = _sqN.y``
``NOT x IN (SELECT y ...)``       ``ANTI JOIN`` the same, and -- SQL's rule for NULLs -- a row passes
                                  only if the subquery is empty, or holds no NULL and ``x`` is not
                                  NULL: ``CROSS JOIN (SELECT count(*) n, count(y) nn FROM (...))``
                                  ``WHERE n = 0 OR (n = nn AND x IS NOT NULL)``
``EXISTS (SELECT ... WHERE inner = outer AND rest)``
                                  ``SEMI JOIN (SELECT inner AS _k0 ... WHERE rest) _sqN ON outer = _sqN._k0``
``NOT EXISTS (...)``              ``ANTI JOIN`` the same (a NULL key matches nothing: the row stays);
                                  other conditions between the two sides join the ON as a residual
``SELECT (SELECT max(v) FROM u)`` ``CROSS JOIN (SELECT max(v) ...) _sqN``: an uncorrelated aggregate
                                  without GROUP BY has exactly one row

A subquery under OR, or correlated in another way, is left to sqlglot's pass.
"""

from __future__ import annotations

from typing import Any, List, Optional, Set, Tuple

from sqlglot import exp

AST = Any


def _conjuncts(node: Optional[AST]) -> List[AST]:
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _and_all(parts: List[AST]) -> Optional[AST]:
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = exp.And(this=out, expression=p)
    return out


def _sources(sel: exp.Select) -> Set[str]:
    """The aliases of the FROM items of *sel* (its own scope, not its subqueries')."""
    out = set()
    from_ = sel.args.get("from_")
    items = ([from_.this] if from_ is not None else []) + [j.this for j in sel.args.get("joins") or []]
    for it in items:
        out.add(it.alias_or_name)
    return out


def table_refs(node: AST) -> Set[str]:
    """The table aliases the (qualified) columns of *node* name."""
    return {c.table for c in node.find_all(exp.Column) if c.table}


def decorrelate(tree: AST) -> AST:
    """*tree* with the WHERE subqueries above made joins; every SELECT, innermost first."""
    counter = [0]
    for sel in reversed(list(tree.find_all(exp.Select))):
        _rewrite(sel, counter)
        _select_list_scalars(sel, counter)
    return tree


def _select_list_scalars(sel: exp.Select, counter: List[int]) -> None:
    """``SELECT ..., (SELECT max(v) FROM u) ...``: an uncorrelated aggregate without GROUP BY has
    exactly one row, so a CROSS JOIN with it gives every row its value."""
    for item in sel.expressions:
        for sub in list(item.find_all(exp.Subquery)):
            if sub.find_ancestor(exp.Select) is not sel:
                continue
            q = sub.this
            if not (isinstance(q, exp.Select) and len(q.expressions) == 1 and not q.args.get("group")):
                continue
            if not q.expressions[0].find(exp.AggFunc) or table_refs(q) - _inner_aliases(q):
                continue
            alias = _name(counter)
            col = q.expressions[0].alias_or_name
            join = exp.Join(
                this=exp.Subquery(this=q.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))),
                kind="CROSS",
            )
            sel.set("joins", (sel.args.get("joins") or []) + [join])
            sub.replace(exp.column(col, table=alias))


def _inner_aliases(q: AST) -> Set[str]:
    """The aliases of every FROM item inside *q* (its nested subqueries' too)."""
    out: Set[str] = set()
    for s in q.find_all(exp.Select):
        out |= _sources(s)
    return out


def _name(counter: List[int]) -> str:
    counter[0] += 1
    return f"_sq{counter[0]}"


def _rewrite(sel: exp.Select, counter: List[int]) -> None:
    where = sel.args.get("where")
    if where is None:
        return
    keep: List[AST] = []
    joins: List[exp.Join] = []
    extra_where: List[AST] = []
    for c in _conjuncts(where.this):
        negated = isinstance(c, exp.Not)
        inner = c.this if negated else c
        while isinstance(inner, exp.Paren):
            inner = inner.this
        done = None
        if isinstance(inner, exp.In) and isinstance(inner.args.get("query"), (exp.Subquery, exp.Select)):
            done = _in_join(inner, negated, counter)
        elif isinstance(inner, exp.Exists):
            done = _exists_join(inner, negated, sel, counter)
        if done is None:
            keep.append(c)
            continue
        js, filters = done
        joins += js
        extra_where += filters
    if not joins:
        return
    sel.set("joins", (sel.args.get("joins") or []) + joins)
    rest = _and_all(keep + extra_where)
    sel.set("where", exp.Where(this=rest) if rest is not None else None)


def _query_of(node: AST) -> AST:
    return node.this if isinstance(node, exp.Subquery) else node


def _in_join(node: exp.In, negated: bool, counter: List[int]) -> Optional[Tuple[List[exp.Join], List[AST]]]:
    sub = _query_of(node.args["query"])
    if not isinstance(sub, exp.Select) or len(sub.expressions) != 1:
        return None
    col = sub.expressions[0].alias_or_name
    alias = _name(counter)
    on = exp.EQ(this=node.this.copy(), expression=exp.column(col, table=alias))
    joined = exp.Join(
        this=exp.Subquery(this=sub.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))),
        kind="ANTI" if negated else "SEMI",
        on=on,
    )
    if not negated:
        return [joined], []
    stats = _name(counter)
    counted = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "_n"),
        exp.alias_(exp.Count(this=exp.column(col, table="_in")), "_nn"),
    ).from_(exp.Subquery(this=sub.copy(), alias=exp.TableAlias(this=exp.to_identifier("_in"))))
    cross = exp.Join(
        this=exp.Subquery(this=counted, alias=exp.TableAlias(this=exp.to_identifier(stats))), kind="CROSS"
    )
    n, nn = exp.column("_n", table=stats), exp.column("_nn", table=stats)
    passes = exp.Or(
        this=exp.EQ(this=n.copy(), expression=exp.Literal.number(0)),
        expression=exp.Paren(
            this=exp.And(
                this=exp.EQ(this=n.copy(), expression=nn),
                expression=exp.Not(this=exp.Is(this=node.this.copy(), expression=exp.Null())),
            )
        ),
    )
    return [joined, cross], [exp.Paren(this=passes)]


def _exists_join(
    node: exp.Exists, negated: bool, outer: exp.Select, counter: List[int]
) -> Optional[Tuple[List[exp.Join], List[AST]]]:
    sub = _query_of(node.this)
    if not isinstance(sub, exp.Select) or sub.args.get("group") or sub.args.get("limit"):
        return None
    inner_aliases = _sources(sub)
    where = sub.args.get("where")
    pairs: List[Tuple[AST, AST]] = []
    rest: List[AST] = []
    correlated: List[AST] = []  # other conditions between the two sides: the join's residual
    for c in _conjuncts(where.this if where is not None else None):
        if isinstance(c, exp.EQ):
            a, b = c.this, c.expression
            ra, rb = table_refs(a), table_refs(b)
            if ra and rb and ra <= inner_aliases and not (rb & inner_aliases):
                pairs.append((a, b))
                continue
            if ra and rb and rb <= inner_aliases and not (ra & inner_aliases):
                pairs.append((b, a))
                continue
        if table_refs(c) - inner_aliases and not isinstance(c, exp.Boolean):
            if c.find(exp.Subquery, exp.Exists) is not None:
                return None
            correlated.append(c)
            continue
        rest.append(c)
    if not pairs and not correlated:
        return None
    alias = _name(counter)
    body = sub.copy()
    outputs = [exp.alias_(inner.copy(), f"_k{i}") for i, (inner, _) in enumerate(pairs)]
    # the inner columns the residual reads come out of the subquery as _rJ
    inner_cols: List[AST] = []
    residual: List[AST] = []
    for c in correlated:
        c = c.copy()
        for col in list(c.find_all(exp.Column)):
            if col.table in inner_aliases:
                if not any(col == x for x in inner_cols):
                    inner_cols.append(col.copy())
                j = next(k for k, x in enumerate(inner_cols) if col == x)
                col.replace(exp.column(f"_r{j}", table=alias))
        residual.append(c)
    outputs += [exp.alias_(col, f"_r{j}") for j, col in enumerate(inner_cols)]
    body.set("expressions", outputs or [exp.alias_(exp.Literal.number(1), "_one")])
    rest_where = _and_all([r.copy() for r in rest if not (isinstance(r, exp.Boolean) and r.this)])
    body.set("where", exp.Where(this=rest_where) if rest_where is not None else None)
    keys: List[AST] = [
        exp.EQ(this=outer_col.copy(), expression=exp.column(f"_k{i}", table=alias))
        for i, (_, outer_col) in enumerate(pairs)
    ]
    on = _and_all(keys + residual)
    joined = exp.Join(
        this=exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias))),
        kind="ANTI" if negated else "SEMI",
        on=on,
    )
    return [joined], []
