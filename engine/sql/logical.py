"""The logical plan: a tree of relational operators, each knowing its output columns.

``engine.sql.compile`` builds it from sqlglot's optimized AST, scope by scope;
``engine.sql.stages`` cuts it into MapReduce stages. Expressions are ``engine.sql.expr`` trees
over the operator's *input* row (for a ``Join``: the left row followed by the right row).

    Scan(table)                         every column of a table, in DDL order
    Filter(child, predicate)            rows where the predicate is TRUE
    Project(child, exprs)               one column per expression
    Aggregate(child, keys, aggs)        the keys, then one column per aggregate
    Join(kind, left, right, lkeys, rkeys, residual)
                                        inner/left/right/full/semi/anti/cross; equi keys, NULL never
                                        equal; residual over left+right decides matches
    Window(child, partition, order, funcs)  the child's columns, then one per window function
    Sort(child, keys, limit)            global order (and LIMIT), NULL placement explicit
    Limit(child, n)                     any n rows
    Union(children)                     UNION ALL
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from engine.sql.catalog import TableDef
from engine.sql.expr import Expr
from engine.sql.types import SqlType

Columns = List[Tuple[str, SqlType]]


@dataclass
class Node:
    columns: Columns = field(default_factory=list, init=False)

    @property
    def names(self) -> List[str]:
        return [n for n, _ in self.columns]

    @property
    def types(self) -> List[SqlType]:
        return [t for _, t in self.columns]


@dataclass
class Scan(Node):
    table: TableDef
    table_index: int

    def __post_init__(self) -> None:
        self.columns = list(zip(self.table.names, self.table.types))


@dataclass
class Filter(Node):
    child: Node
    predicate: Expr

    def __post_init__(self) -> None:
        self.columns = list(self.child.columns)


@dataclass
class Project(Node):
    child: Node
    exprs: List[Expr]
    out: Columns

    def __post_init__(self) -> None:
        self.columns = list(self.out)


@dataclass(frozen=True)
class AggCall:
    """``func`` is count_star, count, sum, avg, min or max; ``arg`` None for count_star."""

    func: str
    arg: Optional[Expr]
    distinct: bool
    type: SqlType
    arg_type: Optional[SqlType] = None


@dataclass
class Aggregate(Node):
    child: Node
    keys: List[Expr]
    key_columns: Columns
    aggs: List[AggCall]
    agg_names: List[str]

    def __post_init__(self) -> None:
        self.columns = list(self.key_columns) + [(n, a.type) for n, a in zip(self.agg_names, self.aggs)]


@dataclass
class Join(Node):
    kind: str  # inner | left | right | full | semi | anti | cross
    left: Node
    right: Node
    left_keys: List[Expr]
    right_keys: List[Expr]
    residual: Optional[Expr] = None

    def __post_init__(self) -> None:
        if self.kind in ("semi", "anti"):
            self.columns = list(self.left.columns)
        else:
            self.columns = list(self.left.columns) + list(self.right.columns)


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    desc: bool
    nulls_first: bool


@dataclass(frozen=True)
class WindowCall:
    """row_number, rank, dense_rank, ntile (``arg`` the bucket count literal) or an aggregate."""

    func: str
    arg: Optional[Expr]
    type: SqlType
    arg_type: Optional[SqlType] = None


@dataclass
class Window(Node):
    child: Node
    partition: List[Expr]
    order: List[SortKey]
    funcs: List[WindowCall]
    func_names: List[str]

    def __post_init__(self) -> None:
        self.columns = list(self.child.columns) + [(n, f.type) for n, f in zip(self.func_names, self.funcs)]


@dataclass
class Sort(Node):
    child: Node
    keys: List[SortKey]
    limit: Optional[int] = None

    def __post_init__(self) -> None:
        self.columns = list(self.child.columns)


@dataclass
class Limit(Node):
    child: Node
    n: int

    def __post_init__(self) -> None:
        self.columns = list(self.child.columns)


@dataclass
class Union(Node):
    children: List[Node]

    def __post_init__(self) -> None:
        self.columns = list(self.children[0].columns)
