"""From a parsed query to the logical plan: qualify with sqlglot, then walk scope by scope.

1. ``sqlglot.optimizer.qualify`` with the catalog's schema names every column by its source
   (``"sales"."qtysold"``), expands ``*``, resolves ``GROUP BY 1`` / ``ORDER BY 2`` and reports
   unknown and ambiguous columns; ``engine.sql.decorrelate`` turns ``[NOT] IN``/``[NOT] EXISTS``
   subqueries in WHERE into semi and anti joins, and sqlglot's ``unnest_subqueries`` the rest
   (scalar subqueries) into joins on grouped subqueries. sqlglot's own planner is not used
   (it makes constants join keys and plans windows as aggregates).
2. A ``SELECT`` becomes, bottom up: the FROM items joined left to right (equalities between the
   joined sides -- from ``ON`` or, for the comma form, from ``WHERE`` -- become join keys;
   a ``WHERE`` conjunct on one item is filtered on that item's scan unless the item is the
   NULL-supplying side of an outer join), the rest of ``WHERE``, the aggregate (keys, then one
   column per distinct aggregate call of SELECT/HAVING/ORDER BY), ``HAVING``, the window
   functions (one ``Window`` per distinct PARTITION BY/ORDER BY), the projection, ``DISTINCT``,
   ``ORDER BY``/``LIMIT`` and a final projection dropping sort-only columns.
3. Every expression is typed on the way (``engine.sql.types``) and each dialect's rule is taken
   here, once: Hive's ``/`` is a double division and Redshift's is integer between integers;
   a literal ``1.5`` is a double in Hive and a decimal in Redshift; a date or timestamp compared
   with a string compares with the string cast; Hive compares a string with a number as doubles.

Anything outside the supported subset is refused here with the construct, its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.unnest_subqueries import unnest_subqueries

from engine.sql import expr as E
from engine.sql import types as T
from engine.sql.catalog import TableDef
from engine.sql.decorrelate import decorrelate, table_refs
from engine.sql.errors import SqlError
from engine.sql.logical import (
    AggCall,
    Aggregate,
    Filter,
    Join,
    Limit,
    Node,
    Project,
    Scan,
    Sort,
    SortKey,
    Union,
    Window,
    WindowCall,
)
from engine.sql.types import SqlType

#: A sqlglot AST node (typed loosely: sqlglot 30's stubs mix ``Expr`` and ``Expression``).
AST = Any

SUPPORTED = (
    "SELECT [DISTINCT] ... FROM tables, subqueries and CTEs; [INNER|LEFT|RIGHT|FULL] JOIN ... ON "
    "equalities; WHERE; GROUP BY; HAVING; window functions; ORDER BY; LIMIT; UNION ALL"
)


def where(node: AST) -> Tuple[Optional[int], Optional[int]]:
    """The (line, col) sqlglot recorded for *node* or its first descendant that has one."""
    for n in node.walk(bfs=False):  # depth first: the construct's first token with a position
        meta = getattr(n, "meta", None) or {}
        if "line" in meta:
            col = meta.get("col")
            if col is not None and "start" in meta and "end" in meta:
                col = col - (meta["end"] - meta["start"])  # sqlglot's col is the token's last character
            return meta.get("line"), col
    return None, None


def refuse(node: AST, what: str) -> SqlError:
    line, col = where(node)
    return SqlError(what, line, col)


@dataclass
class Catalog:
    """The tables a query may read (by lower-case name)."""

    tables: Dict[str, TableDef]

    def index(self, name: str) -> int:
        return list(self.tables).index(name)

    def schema(self) -> Dict[str, Dict[str, str]]:
        return {name: {c: _sqlglot_type(t) for c, t in td.columns} for name, td in self.tables.items()}


def _sqlglot_type(t: str) -> str:
    return {
        "int": "bigint",
        "double": "double",
        "string": "varchar",
        "boolean": "boolean",
        "date": "date",
        "timestamp": "timestamp",
    }.get(t, t)


# ------------------------------------------------------------------------------------- scopes


@dataclass
class Scope:
    """The columns of the row an expression is evaluated over: (source alias, name, type) each."""

    columns: List[Tuple[str, str, SqlType]]

    def find(self, table: str, name: str, node: AST) -> int:
        hits = [i for i, (t, n, _) in enumerate(self.columns) if n == name and (not table or t == table)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            known = ", ".join(sorted({f"{t}.{n}" if t else n for t, n, _ in self.columns})[:30])
            raise refuse(node, f"unknown column {table + '.' if table else ''}{name} (columns here: {known})")
        raise refuse(node, f"ambiguous column {name}: qualify it with its table")


def _scope_of(alias: str, node: Node) -> Scope:
    return Scope([(alias, n, t) for n, t in node.columns])


class Compiler:
    """Translates one query of one dialect against a catalog."""

    def __init__(self, catalog: Catalog, dialect: str) -> None:
        self.catalog = catalog
        self.dialect = dialect
        self.strict = dialect != "hive"
        self.ctes: List[Dict[str, AST]] = []

    # ------------------------------------------------------------------ entry

    def compile(self, query: AST) -> Node:
        _refuse_unsupported(query)
        self._check_tables(query)
        tree = query.copy()
        self._check_ambiguous(query)
        try:
            tree = qualify(
                tree,
                schema=self.catalog.schema(),
                dialect=self.dialect,
                quote_identifiers=False,
                validate_qualify_columns=True,
                identify=False,
            )
        except OptimizeError as e:
            raise _optimize_error(e, query) from None
        tree = unnest_subqueries(decorrelate(tree))
        root = self.query(tree)
        top = tree
        while isinstance(top, (exp.Union, exp.Subquery)):
            top = top.left if isinstance(top, exp.Union) else top.this
        if isinstance(top, exp.Select) and len(top.expressions) == len(root.columns):
            root.columns = [
                (self._output_name(s, i), t)
                for i, (s, (_, t)) in enumerate(zip(top.expressions, root.columns))
            ]
        return root

    def _check_ambiguous(self, query: AST) -> None:
        """An unqualified column that two tables of its SELECT's FROM both have."""
        for sel in query.find_all(exp.Select):
            sources = [t for t in sel.find_all(exp.Table) if t.find_ancestor(exp.Select) is sel]
            if len(sources) < 2:
                continue
            for c in sel.find_all(exp.Column):
                if c.table or c.find_ancestor(exp.Select) is not sel:
                    continue
                owners = [
                    t.alias_or_name
                    for t in sources
                    if t.name.lower() in self.catalog.tables
                    and c.name.lower() in dict(self.catalog.tables[t.name.lower()].columns)
                ]
                if len(owners) > 1:
                    raise refuse(
                        c,
                        f"ambiguous column {c.name}: {' and '.join(owners)} both have it; write "
                        f"{owners[0]}.{c.name}",
                    )

    def _check_tables(self, query: AST) -> None:
        """Unknown tables (not a CTE's name either) before sqlglot reports their columns instead."""
        ctes = {c.alias_or_name.lower() for c in query.find_all(exp.CTE)}
        for t in query.find_all(exp.Table):
            if t.name.lower() not in self.catalog.tables and t.name.lower() not in ctes:
                known = ", ".join(sorted(self.catalog.tables)) or "none"
                raise refuse(
                    t,
                    f"unknown table {t.name} (tables defined: {known}; define it with CREATE "
                    "TABLE, or pass --table NAME=PATH)",
                )

    def query(self, q: AST) -> Node:
        if isinstance(q, exp.Subquery):
            return self.query(q.this)
        with_ = q.args.get("with_")  # the query's CTEs, visible inside it
        if with_ is not None:
            self.ctes.append({c.alias_or_name: c.this for c in with_.expressions})
        try:
            return self._query(q)
        finally:
            if with_ is not None:
                self.ctes.pop()

    def _query(self, q: AST) -> Node:
        if isinstance(q, exp.Union):
            left, right = self.query(q.left), self.query(q.right)
            if len(left.columns) != len(right.columns):
                raise refuse(
                    q, f"the sides of UNION have {len(left.columns)} and {len(right.columns)} columns"
                )
            common = [(n, _common(ta, tb)) for (n, ta), (_, tb) in zip(left.columns, right.columns)]
            node: Node = Union([self._conform(left, common), self._conform(right, common)])
            if q.args.get("distinct"):
                node = _distinct(node)
            return self._order_limit_on_union(q, node)
        if isinstance(q, exp.Select):
            return self._select(q)
        raise refuse(q, f"{type(q).__name__.upper()} is not supported as a query ({SUPPORTED})")

    def _conform(self, node: Node, to: List[Tuple[str, SqlType]]) -> Node:
        """*node* with its columns cast to the types of *to* where they differ (UNION's sides)."""
        exprs, changed = [], False
        for i, ((_, t), (_, want)) in enumerate(zip(node.columns, to)):
            if t != want and t.kind != "null" and want.kind != "null":
                exprs.append(self._cast(E.col(i), want))
                changed = True
            else:
                exprs.append(E.col(i))
        if not changed:
            return node
        return Project(node, exprs, [(n, want) for (n, _), (_, want) in zip(node.columns, to)])

    def _order_limit_on_union(self, q: AST, node: Node) -> Node:
        order = q.args.get("order")
        limit = _limit_of(q)
        if order is not None:
            scope = Scope([("", n, t) for n, t in node.columns])
            keys = [self._sort_key(o, scope) for o in order.expressions]
            return Sort(node, keys, limit)
        if limit is not None:
            return Limit(node, limit)
        return node

    # ------------------------------------------------------------------ SELECT

    def _source(self, item: AST) -> Tuple[str, Node]:
        if isinstance(item, exp.Table):
            name = item.name
            alias = item.alias_or_name
            for ctes in reversed(self.ctes):
                if name in ctes:
                    return alias, self.query(ctes[name])
            td = self.catalog.tables[name]  # known: _check_tables refused unknown ones
            return alias, Scan(td, self.catalog.index(name))
        if isinstance(item, exp.Subquery):
            return item.alias_or_name, self.query(item.this)
        raise refuse(item, f"{type(item).__name__} in FROM is not supported (tables, subqueries, CTEs)")

    def _select(self, sel: exp.Select) -> Node:
        from_ = sel.args.get("from_")
        if from_ is None:
            raise refuse(sel, "SELECT without FROM is not supported")
        items: List[Tuple[str, Node]] = [self._source(from_.this)]
        specs: List[Tuple[str, Optional[AST]]] = []
        for j in sel.args.get("joins") or []:
            if j.args.get("using"):
                raise refuse(j, "JOIN ... USING is not supported: write JOIN ... ON a.x = b.x")
            items.append(self._source(j.this))
            side = (j.side or "").lower()
            kind = (j.kind or "").lower()
            if kind == "cross":
                specs.append(("cross", None))
            elif kind in ("semi", "anti"):
                specs.append((kind, j.args.get("on")))
            elif side in ("left", "right", "full"):
                specs.append((side, j.args.get("on")))
            elif kind in ("", "inner", "outer"):
                specs.append(("inner" if j.args.get("on") is not None else "comma", j.args.get("on")))
            else:
                raise refuse(j, f"{kind.upper()} JOIN is not supported")
        where_ = sel.args.get("where")
        conjuncts = _conjuncts(where_.this) if where_ is not None else []
        node, scope = self._join_all(items, specs, conjuncts)
        if conjuncts:
            node = Filter(node, self._predicate(_and_all(conjuncts), scope))

        # aggregate
        selects = list(sel.expressions)
        having = sel.args.get("having")
        order = sel.args.get("order")
        group = sel.args.get("group")
        agg_nodes = _aggregates(
            [*selects, *([having] if having else []), *(order.expressions if order else [])], sel
        )
        post = scope
        group_exprs: List[AST] = []
        if group is not None or agg_nodes:
            group_exprs = list(group.expressions) if group is not None else []
            keys, key_cols = [], []
            for g in group_exprs:
                e, t = self.expr(g, scope)
                keys.append(e)
                key_cols.append((g.alias_or_name if isinstance(g, exp.Column) else f"_key{len(keys)}", t))
            calls, names = [], []
            for a in agg_nodes:
                calls.append(self._agg_call(a, scope))
                names.append(a.sql(dialect=self.dialect))
            node = Aggregate(node, keys, key_cols, calls, names)
            post = _PostAggregate(group_exprs, agg_nodes, node)  # type: ignore[assignment]
            if having is not None:
                node = Filter(node, self._predicate(having.this, post))

        # windows
        windows = [w for s in selects for w in s.find_all(exp.Window) if w.find_ancestor(exp.Select) is sel]
        window_map: Dict[int, int] = {}
        if windows:
            node, post, window_map = self._windows(node, post, windows)

        # projection
        exprs, out = [], []
        for s in selects:
            e, t = self._expr_win(s.unalias() if isinstance(s, exp.Alias) else s, post, window_map)
            exprs.append(e)
            out.append((s.alias_or_name, t))
        n_out = len(exprs)

        sort_keys: List[SortKey] = []
        if order is not None:
            for o in order.expressions:
                pos = _output_position(o.this, selects)
                if pos is None:
                    e, t = self._expr_win(o.this, post, window_map)
                    if e in exprs:
                        pos = exprs.index(e)
                    else:
                        exprs.append(e)
                        out.append((f"_sort{len(exprs)}", t))
                        pos = len(exprs) - 1
                sort_keys.append(
                    SortKey(E.col(pos), bool(o.args.get("desc")), bool(o.args.get("nulls_first")))
                )
        node = Project(node, exprs, out)
        if sel.args.get("distinct"):
            if len(exprs) > n_out:
                raise refuse(
                    order, "for SELECT DISTINCT, ORDER BY expressions must appear in the select list"
                )
            node = _distinct(node)
        limit = _limit_of(sel)
        if sort_keys:
            node = Sort(node, sort_keys, limit)
        elif limit is not None:
            node = Limit(node, limit)
        if len(exprs) > n_out:
            node = Project(node, [E.col(i) for i in range(n_out)], out[:n_out])
        return node

    def _output_name(self, s: AST, i: int) -> str:
        """A select item's column name: its alias, or what each dialect calls an unnamed one
        (Hive ``_c0``; Redshift the function's name, ``sum``, or ``?column?``)."""
        name = s.alias_or_name
        if not re.fullmatch(r"_col_\d+", name):
            return name
        if self.dialect == "hive":
            return f"_c{i}"
        inner = s.unalias() if isinstance(s, exp.Alias) else s
        if isinstance(inner, exp.Func):
            return (inner.sql_name() if not isinstance(inner, exp.Anonymous) else inner.name).lower()
        return "?column?"

    # ------------------------------------------------------------------ joins

    def _join_all(
        self,
        items: List[Tuple[str, Node]],
        specs: List[Tuple[str, Optional[AST]]],
        conjuncts: List[AST],
    ) -> Tuple[Node, Scope]:
        """Joins the FROM items left to right, consuming the WHERE conjuncts it can place."""
        aliases = [a for a, _ in items]
        nullable = set()  # aliases on the NULL-supplying side of an outer join
        for k, (kind, _) in enumerate(specs, start=1):
            if kind in ("left", "full"):
                nullable.add(aliases[k])
            if kind in ("right", "full"):
                nullable.update(aliases[:k])
        nodes = [n for _, n in items]
        # single-item WHERE conjuncts onto their item (not below an outer join's NULL side)
        for c in list(conjuncts):
            refs = table_refs(c)
            if len(refs) == 1 and not _has_subquery(c):
                (a,) = refs
                if a in aliases and a not in nullable:
                    k = aliases.index(a)
                    nodes[k] = Filter(nodes[k], self._predicate(c, _scope_of(a, nodes[k])))
                    conjuncts.remove(c)
        node = nodes[0]
        scope = _scope_of(aliases[0], node)
        joined = {aliases[0]}
        for k, (kind, on) in enumerate(specs, start=1):
            right, ralias = nodes[k], aliases[k]
            rscope = _scope_of(ralias, right)
            candidates = _conjuncts(on) if on is not None else []
            if kind in ("comma", "inner", "cross"):
                # equalities in WHERE between what is joined so far and this item
                for c in list(conjuncts):
                    refs = table_refs(c)
                    if ralias in refs and refs <= joined | {ralias} and len(refs) > 1:
                        candidates.append(c)
                        conjuncts.remove(c)
            lkeys, rkeys, residual = [], [], []
            for c in candidates:
                pair = self._equi(c, scope, rscope, joined, ralias)
                if pair is not None:
                    lkeys.append(pair[0])
                    rkeys.append(pair[1])
                    continue
                refs = table_refs(c)
                if kind in ("inner", "comma", "left", "semi", "anti") and refs == {ralias}:
                    right = Filter(right, self._predicate(c, _scope_of(ralias, right)))
                    rscope = _scope_of(ralias, right)
                    continue
                if kind in ("inner", "comma", "right") and refs and refs <= joined:
                    node = Filter(node, self._predicate(c, scope))
                    continue
                residual.append(c)
            both = Scope(scope.columns + rscope.columns)
            res = self._predicate(_and_all(residual), both) if residual else None
            jkind = "inner" if kind in ("comma", "cross") else kind
            if not lkeys and jkind in ("left", "right", "full"):
                raise refuse(
                    on if on is not None else exp.Null(),
                    f"{kind.upper()} JOIN needs an equality between its sides in ON",
                )
            node = Join(jkind, node, right, lkeys, rkeys, res)
            if jkind not in ("semi", "anti"):
                scope = Scope(scope.columns + rscope.columns)
                joined.add(ralias)
        return node, scope

    def _equi(self, c: AST, left: Scope, right: Scope, joined: set, ralias: str) -> Any:
        if not isinstance(c, exp.EQ):
            return None
        a, b = c.this, c.expression
        ra, rb = table_refs(a), table_refs(b)
        if ra and rb and ra <= joined and rb == {ralias}:
            pass
        elif ra and rb and rb <= joined and ra == {ralias}:
            a, b = b, a
        else:
            return None
        ea, ta = self.expr(a, left)
        eb, tb = self.expr(b, right)
        if ta.numeric and tb.numeric and ta != tb:
            # keys are compared by their bytes (shuffle, hash join): both sides one type and scale
            t = T.common_numeric(ta, tb)
            return self._key_cast(ea, ta, t), self._key_cast(eb, tb, t)
        return self._comparable(ea, ta, eb, tb)

    def _key_cast(self, e: E.Expr, t: SqlType, want: SqlType) -> E.Expr:
        same = t == want or (t.kind == want.kind == "decimal" and t.scale == want.scale)
        return e if same else self._cast(e, want, strict=False)

    # ------------------------------------------------------------------ aggregates and windows

    def _agg_call(self, a: AST, scope: Scope) -> AggCall:
        func, arg_node, distinct = _agg_parts(a)
        if func == "count_star":
            return AggCall("count_star", None, False, T.INT)
        arg, t = self.expr(arg_node, scope)
        return AggCall(func, arg, distinct, self._agg_type(func, t, a), t)

    def _agg_type(self, func: str, t: SqlType, node: AST) -> SqlType:
        if func == "count":
            return T.INT
        if func in ("min", "max"):
            return t
        if func in ("sum", "avg") and not t.numeric and t.kind != "null":
            if self.dialect == "hive" and t.kind == "string":
                return T.DOUBLE
            raise refuse(node, f"{func}() of a {t} value: it takes numbers")
        if func == "sum":
            return T.decimal(38, t.scale) if t.kind == "decimal" else t
        # avg
        if self.dialect == "hive" or t.kind == "double":
            return T.DOUBLE
        if t.kind == "decimal":
            return T.decimal(38, t.scale)  # Redshift: DECIMAL(38, s) for a DECIMAL(p, s) argument
        return T.INT  # Redshift: BIGINT for an integer argument (the quotient truncated)

    def _windows(self, node: Node, post: Any, windows: List[exp.Window]) -> Tuple[Node, Any, Dict[int, int]]:
        by_spec: Dict[str, List[exp.Window]] = {}
        for w in windows:
            if w.args.get("spec") is not None:
                raise refuse(w, "window frames (ROWS/RANGE BETWEEN) are not supported: the default frame is")
            key = repr((w.args.get("partition_by"), w.args.get("order")))
            by_spec.setdefault(key, []).append(w)
        window_map: Dict[int, int] = {}
        for group in by_spec.values():
            w0 = group[0]
            base = len(node.columns)
            partition = [self._expr_win(p, post, window_map)[0] for p in w0.args.get("partition_by") or []]
            order_node = w0.args.get("order")
            order = [
                self._sort_key(o, post, window_map) for o in (order_node.expressions if order_node else [])
            ]
            calls, names = [], []
            for w in group:
                calls.append(self._window_call(w, post, window_map))
                names.append(f"_w{len(window_map) + len(calls)}")
            node = Window(node, partition, order, calls, names)
            for k, w in enumerate(group):
                window_map[id(w)] = base + k
            post = _Extended(post, node)
        return node, post, window_map

    def _window_call(self, w: exp.Window, post: Any, window_map: Dict[int, int]) -> WindowCall:
        f = w.this
        if isinstance(f, exp.RowNumber):
            return WindowCall("row_number", None, T.INT)
        if isinstance(f, exp.Anonymous) and f.name.lower() in ("rank", "dense_rank"):
            return WindowCall(f.name.lower(), None, T.INT)
        if type(f).__name__ in ("Rank", "DenseRank"):
            return WindowCall("rank" if type(f).__name__ == "Rank" else "dense_rank", None, T.INT)
        if type(f).__name__ == "Ntile":
            n = f.this
            if not (isinstance(n, exp.Literal) and not n.is_string):
                raise refuse(f, "ntile() takes a whole-number constant")
            return WindowCall("ntile", E.lit(int(n.this)), T.INT)
        if isinstance(f, exp.AggFunc):
            func, arg_node, distinct = _agg_parts(f)
            if distinct:
                raise refuse(f, "DISTINCT in a window aggregate is not supported")
            if func == "count_star":
                return WindowCall("count_star", None, T.INT)
            arg, t = self._expr_win(arg_node, post, window_map)
            return WindowCall(func, arg, self._agg_type(func, t, f), t)
        raise refuse(
            w,
            f"window function {f.sql()} is not supported (row_number, rank, dense_rank, ntile, "
            "count, sum, avg, min, max)",
        )

    def _sort_key(self, o: exp.Ordered, scope: Any, window_map: Optional[Dict[int, int]] = None) -> SortKey:
        e, _ = self._expr_win(o.this, scope, window_map or {})
        return SortKey(e, bool(o.args.get("desc")), bool(o.args.get("nulls_first")))

    # expr() finds a window function's column in self._window_map (id of the exp.Window node ->
    # column), which _expr_win sets for the SELECT being compiled; elsewhere it is empty.
    def _expr_win(self, node: AST, scope: Any, window_map: Dict[int, int]) -> Tuple[Any, SqlType]:
        if window_map:
            self._window_map = window_map
        else:
            self._window_map = {}
        return self.expr(node, scope)

    # ------------------------------------------------------------------ expressions

    def _predicate(self, node: AST, scope: Any) -> E.Expr:
        e, t = self.expr(node, scope)
        if t.kind not in ("boolean", "null"):
            raise refuse(node, f"a condition must be boolean, this one is {t}: {node.sql()}")
        return e

    def expr(self, node: AST, scope: Any) -> Tuple[E.Expr, SqlType]:
        """``(tree, type)`` of one expression over *scope*'s row."""
        if isinstance(scope, (_PostAggregate, _Extended)):
            hit = scope.resolve(node)
            if hit is not None:
                return hit
        wm = getattr(self, "_window_map", {})
        if isinstance(node, exp.Window):
            if id(node) not in wm:
                raise refuse(node, "a window function is allowed only in the SELECT list")
            i = wm[id(node)]
            return E.col(i), scope.type_at(i)
        if isinstance(node, (exp.Paren, exp.Alias)):
            return self.expr(node.this, scope)
        if isinstance(node, exp.Column):
            if isinstance(scope, _PostAggregate):
                raise refuse(node, f"column {node.sql()} must appear in GROUP BY or be used in an aggregate")
            if isinstance(scope, _Extended):
                return scope.column(node)
            i = scope.find(node.table, node.name, node)
            return E.col(i), scope.columns[i][2]
        if isinstance(node, exp.Literal):
            if node.is_string:
                return E.lit(node.this), T.STRING
            text = node.this
            if any(c in text for c in ".eE"):
                if self.dialect == "hive" or "e" in text.lower():
                    return E.lit(float(text)), T.DOUBLE
                from decimal import Decimal

                d = Decimal(text)
                scale = max(-d.as_tuple().exponent, 0)  # type: ignore[operator]
                return E.lit(d), T.decimal(len(d.as_tuple().digits), scale)
            return E.lit(int(text)), T.INT
        if isinstance(node, exp.Boolean):
            return E.lit(bool(node.this)), T.BOOLEAN
        if isinstance(node, exp.Null):
            return E.lit(None), T.NULL
        if isinstance(node, (exp.Cast, exp.TryCast)):
            target = T.parse_type(node.to.sql())  # the generic spelling: no dialect to load
            if target is None:
                raise refuse(node, f"CAST to {node.to.sql()} is not supported")
            e, t = self.expr(node.this, scope)
            if (
                isinstance(node.this, exp.Literal)
                and node.this.is_string
                and target.kind in ("date", "timestamp")
            ):
                return self._date_literal(node.this, target)
            return self._cast(e, target, strict=self.strict and not isinstance(node, exp.TryCast)), target
        if isinstance(node, exp.Date) or (isinstance(node, exp.Anonymous) and node.name.lower() == "date"):
            arg = node.this if isinstance(node, exp.Date) else node.expressions[0]
            if isinstance(arg, exp.Literal) and arg.is_string:
                return self._date_literal(arg, T.DATE)
            e, t = self.expr(arg, scope)
            return self._cast(e, T.DATE), T.DATE
        if isinstance(node, exp.TsOrDsToDate):
            e, t = self.expr(node.this, scope)
            return (e if t.kind == "date" else self._cast(e, T.DATE)), T.DATE
        if isinstance(node, exp.And):
            return E.fn(
                "and", self._predicate(node.this, scope), self._predicate(node.expression, scope)
            ), T.BOOLEAN
        if isinstance(node, exp.Or):
            return E.fn(
                "or", self._predicate(node.this, scope), self._predicate(node.expression, scope)
            ), T.BOOLEAN
        if isinstance(node, exp.Not):
            return E.fn("not", self._predicate(node.this, scope)), T.BOOLEAN
        if isinstance(node, exp.Is):
            e, _ = self.expr(node.this, scope)
            target = node.expression
            if isinstance(target, exp.Null):
                return E.fn("is_null", e), T.BOOLEAN
            if isinstance(target, exp.Boolean):
                return E.fn("is_true" if target.this else "is_false", e), T.BOOLEAN
            raise refuse(node, "IS takes NULL, TRUE or FALSE")
        for cls, name in _COMPARISONS:
            if isinstance(node, cls):
                a, ta = self.expr(node.this, scope)
                b, tb = self.expr(node.expression, scope)
                a, b = self._comparable(a, ta, b, tb, node)
                return E.fn(name, a, b), T.BOOLEAN
        if isinstance(node, exp.Between):
            x, tx = self.expr(node.this, scope)
            lo, tlo = self.expr(node.args["low"], scope)
            hi, thi = self.expr(node.args["high"], scope)
            x1, lo = self._comparable(x, tx, lo, tlo, node)
            x2, hi = self._comparable(x, tx, hi, thi, node)
            return E.fn("and", E.fn("ge", x1, lo), E.fn("le", x2, hi)), T.BOOLEAN
        if isinstance(node, exp.In):
            if node.args.get("query") is not None:
                raise refuse(
                    node,
                    "this IN (subquery) could not be decorrelated into a join: write it as a "
                    "join, or move it to a top-level AND of WHERE",
                )
            # x IN (a, b) is x = a OR x = b: each value brought to x's type as a comparison would,
            # and x itself cast as its comparison with the first value casts it (Hive: strings
            # against numbers compare as doubles)
            x, tx = self.expr(node.this, scope)
            cx, vals = x, []
            for k, v in enumerate(node.expressions):
                ev, tv = self.expr(v, scope)
                x2, ev = self._comparable(x, tx, ev, tv, node)
                if k == 0:
                    cx = x2
                vals.append(ev)
            return E.fn("in", cx, *vals), T.BOOLEAN
        if isinstance(node, (exp.Like, exp.ILike)):
            s, ts = self.expr(node.this, scope)
            p, _ = self.expr(node.expression, scope)
            if ts.kind not in ("string", "null"):
                s = self._cast(s, T.STRING)
            return E.fn("like" if isinstance(node, exp.Like) else "ilike", s, p), T.BOOLEAN
        if isinstance(node, exp.Escape):
            raise refuse(node, "LIKE ... ESCAPE is not supported (the escape character is \\)")
        if isinstance(node, exp.Neg):
            e, t = self.expr(node.this, scope)
            if isinstance(node.this, exp.Literal):
                return E.lit(-e[1]), t
            return E.fn("neg", e), t
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
            return self._arith(node, scope)
        if isinstance(node, (exp.Div, exp.IntDiv, exp.Mod)):
            return self._division(node, scope)
        if isinstance(node, (exp.DPipe, exp.Concat)):
            parts = [node.this, node.expression] if isinstance(node, exp.DPipe) else list(node.expressions)
            args = []
            for p in parts:
                e, t = self.expr(p, scope)
                args.append(e if t.kind in ("string", "null") else self._cast(e, T.STRING))
            return E.fn("concat", *args), T.STRING
        if isinstance(node, exp.Case):
            return self._case(node, scope)
        if isinstance(node, exp.If):
            c = self._predicate(node.this, scope)
            a, ta = self.expr(node.args["true"], scope)
            b, tb = self.expr(node.args.get("false") or exp.Null(), scope)
            t = _common(ta, tb)
            return ["case", [c, self._cast_to(a, ta, t)], self._cast_to(b, tb, t)], t
        if isinstance(node, exp.Coalesce):
            parts = [node.this, *node.expressions]
            typed = [self.expr(p, scope) for p in parts]
            t = typed[0][1]
            for _, tt in typed[1:]:
                t = _common(t, tt)
            return E.fn("coalesce", *(self._cast_to(e, tt, t) for e, tt in typed)), t
        if isinstance(node, exp.Nullif):
            a, ta = self.expr(node.this, scope)
            b, tb = self.expr(node.expression, scope)
            a2, b2 = self._comparable(a, ta, b, tb, node)
            return E.fn("nullif", a2, b2), ta
        if isinstance(node, exp.Substring):
            s, ts = self.expr(node.this, scope)
            if ts.kind != "string":
                s = self._cast(s, T.STRING)
            start, _ = self.expr(node.args.get("start") or exp.Literal.number(1), scope)
            length = node.args.get("length")
            args = [s, start] + ([self.expr(length, scope)[0]] if length is not None else [])
            return E.fn("substr", *args), T.STRING
        if isinstance(node, (exp.Lower, exp.Upper, exp.Length)):
            s, ts = self.expr(node.this, scope)
            if ts.kind != "string":
                s = self._cast(s, T.STRING)
            name = {exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length"}[type(node)]
            return E.fn(name, s), (T.INT if name == "length" else T.STRING)
        if isinstance(node, exp.Trim):
            if node.args.get("expression") is not None:
                raise refuse(node, "TRIM(chars FROM s) is not supported: TRIM(s) trims spaces")
            s, _ = self.expr(node.this, scope)
            pos = (node.args.get("position") or "").upper()
            return E.fn({"LEADING": "ltrim", "TRAILING": "rtrim"}.get(pos, "trim"), s), T.STRING
        if isinstance(node, exp.RegexpExtract):
            s, _ = self.expr(node.this, scope)
            p, _ = self.expr(node.expression, scope)
            g = node.args.get("group")
            args = [s, p] + ([self.expr(g, scope)[0]] if g is not None else [])
            return E.fn("regexp_extract", *args), T.STRING
        if isinstance(node, exp.Extract):
            part = node.this.name.lower()
            part = {"dayofweek": "dow", "dayofyear": "doy", "days": "day", "years": "year"}.get(part, part)
            if part not in ("year", "month", "day", "quarter", "hour", "minute", "second", "dow", "doy"):
                raise refuse(node, f"EXTRACT({part.upper()} ...) is not supported")
            e, _ = self.expr(node.expression, scope)
            return E.fn(part, e), T.INT
        for part_cls, name in ((exp.Year, "year"), (exp.Month, "month"), (exp.Day, "day")):
            if isinstance(node, part_cls):
                e, t = self.expr(node.this, scope)
                if t.kind == "string":
                    e = self._cast(e, T.DATE, strict=False)
                return E.fn(name, e), T.INT
        if isinstance(node, exp.Abs):
            e, t = self.expr(node.this, scope)
            return E.fn("abs", e), t
        if isinstance(node, exp.Round):
            e, t = self.expr(node.this, scope)
            digits_node = node.args.get("decimals")
            digits = int(digits_node.this) if isinstance(digits_node, exp.Literal) else 0
            if digits_node is not None and not isinstance(digits_node, exp.Literal):
                raise refuse(node, "ROUND's digits must be a constant")
            rt = T.decimal(t.precision, min(t.scale, max(digits, 0))) if t.kind == "decimal" else t
            return ["fn", "round", e, E.lit(digits)], rt
        if isinstance(node, exp.AggFunc):
            raise refuse(node, f"aggregate {node.sql()} is not allowed here")
        if isinstance(node, (exp.Subquery, exp.Exists)):
            raise refuse(
                node,
                "this subquery could not be decorrelated into a join: IN/EXISTS subqueries "
                "are supported in WHERE's top-level AND, scalar subqueries as comparisons",
            )
        raise refuse(
            node,
            f"{type(node).__name__.upper()} ({node.sql(dialect=self.dialect)[:60]}) is not "
            f"supported in an expression",
        )

    def _date_literal(self, lit_node: exp.Literal, t: SqlType) -> Tuple[E.Expr, SqlType]:
        try:
            v = E.cast_function(str(t), True)(lit_node.this)
        except ValueError:
            raise refuse(lit_node, f"{lit_node.this!r} is not a {t} (write YYYY-MM-DD)") from None
        return E.lit(v), t

    def _cast(self, e: E.Expr, t: SqlType, strict: Optional[bool] = None) -> E.Expr:
        if e[0] == "lit":
            try:
                return E.lit(E.cast_function(str(t), True)(e[1]))
            except ValueError:
                if strict if strict is not None else self.strict:
                    raise SqlError(f"the constant {e[1]!r} is not a {t}") from None
                return E.lit(None)
        return ["fn", "cast", e, E.lit(str(t)), E.lit(self.strict if strict is None else strict)]

    def _cast_to(self, e: E.Expr, t: SqlType, want: SqlType) -> E.Expr:
        if t == want or t.kind == "null" or (t.kind == want.kind and t.kind != "decimal"):
            return e
        if t.kind == "decimal" and want.kind == "decimal" and t.scale == want.scale:
            return e
        return self._cast(e, want)

    def _comparable(
        self, a: E.Expr, ta: SqlType, b: E.Expr, tb: SqlType, node: Optional[AST] = None
    ) -> Tuple[E.Expr, E.Expr]:
        """Both sides of a comparison brought to one type (each dialect's implicit casts)."""
        ka, kb = ta.kind, tb.kind
        if ka == kb or "null" in (ka, kb):
            return a, b
        if ta.numeric and tb.numeric:
            if "double" in (ka, kb):
                return (self._cast(a, T.DOUBLE) if ka == "decimal" else a), (
                    self._cast(b, T.DOUBLE) if kb == "decimal" else b
                )
            return a, b  # int vs decimal compare exactly in Python
        for x, tx, y, ty, flip in ((a, ta, b, tb, False), (b, tb, a, ta, True)):
            if tx.kind in ("date", "timestamp") and ty.kind == "string":
                y2 = self._cast(y, tx, strict=False)
                return (y2, x) if flip else (x, y2)
            if tx.kind == "date" and ty.kind == "timestamp":
                x2 = self._cast(x, T.TIMESTAMP)
                return (y, x2) if flip else (x2, y)
            if tx.numeric and ty.kind == "string":
                target = T.DOUBLE if self.dialect == "hive" else tx
                y2 = self._cast(y, target, strict=False)
                x2 = self._cast(x, T.DOUBLE) if self.dialect == "hive" and tx.kind != "double" else x
                return (y2, x2) if flip else (x2, y2)
            if tx.kind == "boolean" and ty.kind == "string":
                y2 = self._cast(y, T.BOOLEAN)
                return (y2, x) if flip else (x, y2)
        where_ = f": {node.sql()}" if node is not None else ""
        raise SqlError(
            f"cannot compare {ta} with {tb}{where_}", *(where(node) if node is not None else (None, None))
        )

    def _arith(self, node: AST, scope: Any) -> Tuple[E.Expr, SqlType]:
        a, ta = self.expr(node.this, scope)
        b, tb = self.expr(node.expression, scope)
        name = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul"}[type(node)]
        # date +/- integer days
        if ta.kind == "date" and tb.kind == "int" and name in ("add", "sub"):
            raise refuse(node, "date arithmetic is not supported yet: compare dates instead")
        a, ta = self._numeric(a, ta, node)
        b, tb = self._numeric(b, tb, node)
        t = T.common_numeric(ta, tb)
        if t.kind == "double":
            a = self._cast(a, T.DOUBLE) if ta.kind == "decimal" else a
            b = self._cast(b, T.DOUBLE) if tb.kind == "decimal" else b
        elif t.kind == "decimal" and name == "mul":
            sa = ta.scale if ta.kind == "decimal" else 0
            sb = tb.scale if tb.kind == "decimal" else 0
            pa = ta.precision if ta.kind == "decimal" else 19
            pb = tb.precision if tb.kind == "decimal" else 19
            t = T.decimal(pa + pb, sa + sb)
        elif t.kind == "decimal":
            t = T.decimal(t.precision + 1, t.scale)
        return E.fn(name, a, b), t

    def _numeric(self, e: E.Expr, t: SqlType, node: AST) -> Tuple[E.Expr, SqlType]:
        if t.numeric or t.kind == "null":
            return e, (T.INT if t.kind == "null" else t)
        if t.kind == "string" and self.dialect == "hive":
            return self._cast(e, T.DOUBLE, strict=False), T.DOUBLE
        raise refuse(node, f"arithmetic on a {t} value: {node.sql()}")

    def _division(self, node: AST, scope: Any) -> Tuple[E.Expr, SqlType]:
        a, ta = self.expr(node.this, scope)
        b, tb = self.expr(node.expression, scope)
        a, ta = self._numeric(a, ta, node)
        b, tb = self._numeric(b, tb, node)
        if isinstance(node, exp.Mod):
            t = T.common_numeric(ta, tb)
            if t.kind == "double":
                a = self._cast(a, T.DOUBLE) if ta.kind == "decimal" else a
                b = self._cast(b, T.DOUBLE) if tb.kind == "decimal" else b
            return E.fn("mod", a, b), t
        if isinstance(node, exp.IntDiv):
            return E.fn(
                "div_int",
                self._cast(a, T.INT) if ta.kind != "int" else a,
                self._cast(b, T.INT) if tb.kind != "int" else b,
            ), T.INT
        if self.dialect == "hive" or "double" in (ta.kind, tb.kind):
            return E.fn("div_double", a, b), T.DOUBLE
        if ta.kind == "int" and tb.kind == "int":
            return E.fn("div_int", a, b), T.INT
        # Redshift: decimal division, result scale max(4, s1 + p2 - s2 + 1), at most 37
        sa = ta.scale if ta.kind == "decimal" else 0
        pb, sb = (tb.precision, tb.scale) if tb.kind == "decimal" else (19, 0)
        scale = min(max(4, sa + pb - sb + 1), 37)
        return ["fn", "div_decimal", a, b, E.lit(scale)], T.decimal(38, scale)

    def _case(self, node: exp.Case, scope: Any) -> Tuple[E.Expr, SqlType]:
        subject = node.this
        conds, vals = [], []
        for when in node.args.get("ifs") or []:
            if subject is not None:
                cond = self.expr(exp.EQ(this=subject.copy(), expression=when.this.copy()), scope)[0]
            else:
                cond = self._predicate(when.this, scope)
            conds.append(cond)
            vals.append(self.expr(when.args["true"], scope))
        default = node.args.get("default")
        other = self.expr(default, scope) if default is not None else (E.lit(None), T.NULL)
        t = other[1]
        for _, tv in vals:
            t = _common(t, tv)
        flat: List[Any] = []
        for c, (v, tv) in zip(conds, vals):
            flat += [c, self._cast_to(v, tv, t)]
        return ["case", flat, self._cast_to(other[0], other[1], t)], t


class _PostAggregate:
    """The row after an ``Aggregate``: its group expressions and aggregate calls, by AST equality."""

    def __init__(self, groups: Sequence[AST], aggs: Sequence[AST], node: Aggregate) -> None:
        self.groups = [_strip(g) for g in groups]
        self.aggs = [_strip(a) for a in aggs]
        self.node = node

    def type_at(self, i: int) -> SqlType:
        return self.node.columns[i][1]

    def resolve(self, node: AST) -> Optional[Tuple[E.Expr, SqlType]]:
        n = _strip(node)
        for i, g in enumerate(self.groups):
            if n == g:
                return E.col(i), self.node.columns[i][1]
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window):
            for j, a in enumerate(self.aggs):
                if n == a:
                    k = len(self.groups) + j
                    return E.col(k), self.node.columns[k][1]
        return None


class _Extended:
    """A row with window columns appended to the row *inner* describes."""

    def __init__(self, inner: Any, node: Window) -> None:
        self.inner = inner
        self.node = node

    def type_at(self, i: int) -> SqlType:
        return self.node.columns[i][1]

    def resolve(self, node: AST) -> Optional[Tuple[E.Expr, SqlType]]:
        if isinstance(self.inner, (_PostAggregate, _Extended)):
            return self.inner.resolve(node)
        return None

    def column(self, node: exp.Column) -> Tuple[E.Expr, SqlType]:
        inner = self.inner
        if isinstance(inner, Scope):
            i = inner.find(node.table, node.name, node)
            return E.col(i), inner.columns[i][2]
        if isinstance(inner, _Extended):
            return inner.column(node)
        raise refuse(node, f"column {node.sql()} must appear in GROUP BY or be used in an aggregate")


# ------------------------------------------------------------------------------------- helpers

_COMPARISONS = (
    (exp.EQ, "eq"),
    (exp.NEQ, "ne"),
    (exp.LT, "lt"),
    (exp.LTE, "le"),
    (exp.GT, "gt"),
    (exp.GTE, "ge"),
)


def _strip(node: AST) -> AST:
    """*node* without aliases and parentheses, for comparing expressions."""
    n = node
    while isinstance(n, (exp.Alias, exp.Paren)):
        n = n.this
    return n


def _common(a: SqlType, b: SqlType) -> SqlType:
    if a.kind == "null":
        return b
    if b.kind == "null" or a == b:
        return a
    if a.numeric and b.numeric:
        return T.common_numeric(a, b)
    if a.kind == b.kind:
        return a
    return T.STRING


def _conjuncts(node: Optional[AST]) -> List[AST]:
    """The top-level ANDs of a condition; a conjunct that every branch of an OR repeats is
    factored out (``(a.x = b.x AND p) OR (a.x = b.x AND q)`` gives ``a.x = b.x`` and ``p OR q``),
    so that an equality hidden in an OR still becomes a join key."""
    if node is None:
        return []
    node = _strip(node)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Boolean) and node.this:
        return []
    if isinstance(node, exp.Or):
        return _factor_or(node)
    return [node]


def _disjuncts(node: AST) -> List[AST]:
    node = _strip(node)
    if isinstance(node, exp.Or):
        return _disjuncts(node.this) + _disjuncts(node.expression)
    return [node]


def _factor_or(node: AST) -> List[AST]:
    branches = [_conjuncts(b) for b in _disjuncts(node)]
    common = [c for c in branches[0] if all(any(c == d for d in b) for b in branches[1:])]
    if not common:
        return [node]
    rests = [[d for d in b if not any(d == c for c in common)] for b in branches]
    if any(not r for r in rests):
        return common  # one branch is the common part alone: the OR adds nothing
    ors = [_and_all(r) for r in rests]
    rest = ors[0]
    for o in ors[1:]:
        rest = exp.Or(this=rest, expression=o)
    return common + [exp.Paren(this=rest)]


def _and_all(parts: List[AST]) -> AST:
    out = parts[0]
    for p in parts[1:]:
        out = exp.And(this=out, expression=p)
    return out


def _has_subquery(node: AST) -> bool:
    return any(True for _ in node.find_all(exp.Subquery, exp.Exists))


def _aggregates(nodes: Sequence[AST], sel: AST) -> List[AST]:
    """The distinct aggregate calls of *sel* in *nodes* (outside window functions and subqueries),
    in order of appearance."""
    out: List[AST] = []
    for n in nodes:
        for a in n.find_all(exp.AggFunc):
            if a.find_ancestor(exp.Window) is not None or a.find_ancestor(exp.Select) is not sel:
                continue
            if any(_strip(a) == _strip(b) for b in out):
                continue
            out.append(a)
    return out


def _agg_parts(a: AST) -> Tuple[str, Optional[AST], bool]:
    names: Dict[Any, str] = {
        exp.Count: "count",
        exp.Sum: "sum",
        exp.Avg: "avg",
        exp.Min: "min",
        exp.Max: "max",
    }
    func = names.get(type(a))
    if func is None:
        raise refuse(a, f"aggregate {a.sql()} is not supported (count, sum, avg, min, max)")
    arg = a.this
    distinct = False
    if isinstance(arg, exp.Distinct):
        if len(arg.expressions) != 1:
            raise refuse(a, f"{func}(DISTINCT ...) takes one expression")
        distinct, arg = True, arg.expressions[0]
    if func == "count" and (arg is None or isinstance(arg, exp.Star)):
        return "count_star", None, False
    if arg is None:
        raise refuse(a, f"{func}() needs an argument")
    return func, arg, distinct


def _limit_of(q: AST) -> Optional[int]:
    if q.args.get("offset") is not None:
        raise refuse(q.args["offset"], "OFFSET is not supported")
    lim = q.args.get("limit")
    if lim is None:
        return None
    e = lim.expression
    if not (isinstance(e, exp.Literal) and not e.is_string):
        raise refuse(lim, "LIMIT takes a whole-number constant")
    return int(e.this)


def _output_position(node: AST, selects: Sequence[AST]) -> Optional[int]:
    """The select-list position an ORDER BY key names (an output alias), if it names one."""
    if isinstance(node, exp.Column) and not node.table:
        for i, s in enumerate(selects):
            if s.alias_or_name == node.name:
                return i
    return None


def _distinct(node: Node) -> Node:
    n = len(node.columns)
    return Aggregate(node, [E.col(i) for i in range(n)], list(node.columns), [], [])


def _refuse_unsupported(query: AST) -> None:
    for node in query.walk():
        for cls, what in _UNSUPPORTED:
            if isinstance(node, cls):
                raise refuse(node, what)


_UNSUPPORTED: Tuple[Tuple[Any, str], ...] = (
    (exp.Intersect, "INTERSECT is not supported (write it as an IN subquery or a join)"),
    (exp.Except, "EXCEPT is not supported (write it as NOT EXISTS)"),
    (exp.Lateral, "LATERAL VIEW is not supported"),
    (exp.Pivot, "PIVOT is not supported"),
    (exp.Cube, "CUBE is not supported (one GROUP BY per query; UNION ALL them)"),
    (exp.Rollup, "ROLLUP is not supported (one GROUP BY per query; UNION ALL them)"),
    (exp.GroupingSets, "GROUPING SETS is not supported (one GROUP BY per query; UNION ALL them)"),
)


def _optimize_error(e: OptimizeError, query: AST) -> SqlError:
    text = str(e)
    # sqlglot says "Column 'x' could not be resolved" / "Ambiguous column"...; find the column's place

    m = re.search(r"[Cc]olumn '?\"?([A-Za-z_][A-Za-z0-9_]*)", text)
    if m:
        name = m.group(1).lower()
        for col in query.find_all(exp.Column):
            if col.name.lower() == name:
                line, c = where(col)
                kind = "ambiguous" if "mbiguous" in text else "unknown"
                return SqlError(f"{kind} column {col.sql()} ({text})", line, c)
    m = re.search(r"[Tt]able '?\"?([A-Za-z_][A-Za-z0-9_]*)", text)
    if m:
        for t in query.find_all(exp.Table):
            if t.name.lower() == m.group(1).lower():
                line, c = where(t)
                return SqlError(f"unknown table {t.name} ({text})", line, c)
    line, c = where(query)
    return SqlError(text, line, c)
