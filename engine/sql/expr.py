"""Compiled expressions: a small JSON-able tree, and its record-form evaluator.

The compiler (``engine.sql.compile``) turns sqlglot's typed AST into this tree once, on the
driver, with every dialect decision already taken (``/`` is ``div_double`` in Hive and
``div_int`` between Redshift integers; a date compared with a string literal compares with a
``cast`` of it). Workers rebuild Python closures from it (``evaluator``); the Arrow form of the
next issue will build ``pyarrow.compute`` calls from the same tree. The forms::

    ["col", i]                    the i-th value of the input row
    ["lit", v]                    a constant (None, bool, int, float, Decimal, str, date, datetime)
    ["fn", name, arg, ...]        a scalar function of FUNCTIONS (NULL in -> NULL out unless noted)
    ["case", [c1, v1, c2, v2...], else]

SQL's three-valued logic: ``and``/``or``/``not`` take and give ``True``/``False``/``None``; a
comparison with a NULL side is ``None``; a filter keeps a row only where its predicate is ``True``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any, Callable, Dict, List, Sequence, Tuple

Row = Sequence[Any]
Eval = Callable[[Row], Any]
Expr = List[Any]  # the JSON tree above


def col(i: int) -> Expr:
    return ["col", i]


def lit(value: Any) -> Expr:
    return ["lit", value]


def fn(name: str, *args: Expr) -> Expr:
    if name not in FUNCTIONS and name not in _SPECIAL:
        raise KeyError(f"no scalar function {name!r}")
    return ["fn", name, *args]


def columns_used(e: Expr) -> set:
    """The input positions an expression reads."""
    if e[0] == "col":
        return {e[1]}
    out: set = set()
    if e[0] == "fn":
        for a in e[2:]:
            out |= columns_used(a)
    elif e[0] == "case":
        for a in [*e[1], e[2]]:
            out |= columns_used(a)
    return out


def shift(e: Expr, offset: int) -> Expr:
    """The expression over a row with *offset* more columns in front."""
    if e[0] == "col":
        return ["col", e[1] + offset]
    if e[0] == "fn":
        return ["fn", e[1], *(shift(a, offset) for a in e[2:])]
    if e[0] == "case":
        return ["case", [shift(a, offset) for a in e[1]], shift(e[2], offset)]
    return e


def remap(e: Expr, mapping: Dict[int, int]) -> Expr:
    """The expression with each ``col`` i read from ``mapping[i]``."""
    if e[0] == "col":
        return ["col", mapping[e[1]]]
    if e[0] == "fn":
        return ["fn", e[1], *(remap(a, mapping) for a in e[2:])]
    if e[0] == "case":
        return ["case", [remap(a, mapping) for a in e[1]], remap(e[2], mapping)]
    return e


def show(e: Expr, names: Sequence[str] = ()) -> str:
    """A readable form for EXPLAIN: ``(_col2 > 5)``, ``count(*)``..."""
    kind = e[0]
    if kind == "col":
        return names[e[1]] if e[1] < len(names) else f"_col{e[1]}"
    if kind == "lit":
        v = e[1]
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        if isinstance(v, (dt.date, dt.datetime)):
            return f"{type(v).__name__.upper()} '{v}'"
        return "NULL" if v is None else str(v)
    if kind == "case":
        parts = [f"WHEN {show(c, names)} THEN {show(v, names)}" for c, v in zip(e[1][::2], e[1][1::2])]
        return f"CASE {' '.join(parts)} ELSE {show(e[2], names)} END"
    name, args = e[1], [show(a, names) for a in e[2:]]
    if name in _INFIX:
        return "(" + f" {_INFIX[name]} ".join(args) + ")"
    if name == "not":
        return f"NOT {args[0]}"
    if name in ("is_null", "is_not_null"):
        return f"{args[0]} IS {'NOT ' if name == 'is_not_null' else ''}NULL"
    if name == "cast":
        return f"CAST({args[0]} AS {e[3][1]})"
    return f"{name}({', '.join(args)})"


_INFIX = {
    "eq": "=",
    "ne": "<>",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "and": "AND",
    "or": "OR",
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div_double": "/",
    "div_int": "/",
    "div_decimal": "/",
    "mod": "%",
    "concat": "||",
}


# ------------------------------------------------------------------------------- scalar functions


def _null_in(f: Callable[..., Any]) -> Callable[..., Any]:
    """*f* with SQL's NULL rule: any NULL argument gives NULL."""

    def g(*args: Any) -> Any:
        for a in args:
            if a is None:
                return None
        return f(*args)

    return g


def _div_int(a: int, b: int) -> Any:
    if b == 0:
        return None
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _div_double(a: Any, b: Any) -> Any:
    return None if b == 0 else float(a) / float(b)


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(a, b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(a) % Decimal(b)  # Decimal's % truncates, as SQL's
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


#: substr's length when it has none: the rest of the string.
_REST = object()


def _substr(s: str, start: int, length: Any = _REST) -> Any:
    # SQL positions are 1-based; Hive also takes 0 as 1 and a negative start from the end.
    if start > 0:
        begin = start - 1
    elif start == 0:
        begin = 0
    else:
        begin = max(len(s) + start, 0)
    if length is None:
        return None
    if length is _REST:
        return s[begin:]
    if length < 0:  # Hive's empty string (Redshift refuses a negative length)
        return ""
    if start < 0:
        return s[begin : begin + length]
    # Redshift/Postgres: SUBSTRING('abc', 0, 2) is 'a' (the window starts before the string)
    end = start - 1 + length if start > 0 else (length - 1 if start == 0 else begin + length)
    return s[begin : max(end, begin)]


def _like_regex(pattern: str, escape: str = "\\") -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


_LIKE_CACHE: Dict[str, re.Pattern[str]] = {}


def _like(s: str, pattern: str) -> bool:
    rx = _LIKE_CACHE.get(pattern)
    if rx is None:
        rx = _LIKE_CACHE[pattern] = _like_regex(pattern)
    return rx.fullmatch(s) is not None


def _ilike(s: str, pattern: str) -> bool:
    return _like(s.lower(), pattern.lower())


_RX_CACHE: Dict[str, re.Pattern[str]] = {}


def _regexp_extract(s: str, pattern: str, index: int = 1) -> Any:
    rx = _RX_CACHE.get(pattern)
    if rx is None:
        rx = _RX_CACHE[pattern] = re.compile(pattern)
    m = rx.search(s)
    if m is None:
        return ""  # Hive: no match is the empty string
    g = m.group(index)
    return "" if g is None else g


def _date_part(part: str) -> Callable[[Any], Any]:
    def get(v: Any) -> Any:
        if part == "year":
            return v.year
        if part == "month":
            return v.month
        if part == "day":
            return v.day
        if part == "quarter":
            return (v.month - 1) // 3 + 1
        if part == "dow":
            return (v.isoweekday()) % 7  # Sunday = 0, as Redshift and DuckDB
        if part == "doy":
            return v.timetuple().tm_yday
        if isinstance(v, dt.datetime):
            if part == "hour":
                return v.hour
            if part == "minute":
                return v.minute
            if part == "second":
                return v.second
        if part in ("hour", "minute", "second"):
            return 0
        raise ValueError(f"unknown date part {part!r}")

    return get


def nan_last(v: Any) -> Tuple[bool, Any]:
    """*v* as SQL compares and orders it, NaN included (DuckDB's and PostgreSQL's rule): a NaN
    equals every NaN and is greater than every other number. Only a NaN is unequal to itself."""
    return (True, 0.0) if v != v else (False, v)


def _compared(op: Callable[[Any, Any], bool]) -> Callable[..., Any]:
    """Comparison *op* under SQL's NULL rule, NaN compared as ``nan_last`` says (per record:
    the two checks inline rather than through ``_null_in``)."""

    def f(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if a != a or b != b:  # a NaN: Python's comparisons with it are all False (but !=)
            return op(nan_last(a), nan_last(b))
        return op(a, b)

    return f


FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "eq": _compared(lambda a, b: a == b),
    "ne": _compared(lambda a, b: a != b),
    "lt": _compared(lambda a, b: a < b),
    "le": _compared(lambda a, b: a <= b),
    "gt": _compared(lambda a, b: a > b),
    "ge": _compared(lambda a, b: a >= b),
    "add": _null_in(lambda a, b: a + b),
    "sub": _null_in(lambda a, b: a - b),
    "mul": _null_in(lambda a, b: a * b),
    "neg": _null_in(lambda a: -a),
    "div_int": _null_in(_div_int),
    "div_double": _null_in(_div_double),
    "mod": _null_in(_mod),
    "abs": _null_in(abs),
    "concat": _null_in(lambda *a: "".join(a)),
    "lower": _null_in(str.lower),
    "upper": _null_in(str.upper),
    "trim": _null_in(lambda s: s.strip(" ")),
    "ltrim": _null_in(lambda s: s.lstrip(" ")),
    "rtrim": _null_in(lambda s: s.rstrip(" ")),
    "length": _null_in(len),
    "substr": _null_in(_substr),
    "like": _null_in(_like),
    "ilike": _null_in(_ilike),
    "regexp_extract": _null_in(_regexp_extract),
    "strpos": _null_in(lambda s, sub: s.find(sub) + 1),
    "replace": _null_in(lambda s, a, b: s.replace(a, b)),
    "year": _null_in(_date_part("year")),
    "month": _null_in(_date_part("month")),
    "day": _null_in(_date_part("day")),
    "quarter": _null_in(_date_part("quarter")),
    "hour": _null_in(_date_part("hour")),
    "minute": _null_in(_date_part("minute")),
    "second": _null_in(_date_part("second")),
    "dow": _null_in(_date_part("dow")),
    "doy": _null_in(_date_part("doy")),
    "to_date": _null_in(lambda v: v.date() if isinstance(v, dt.datetime) else v),
}
# Functions that see NULLs themselves (not under the NULL-in rule) or need their arguments' trees.
_SPECIAL = frozenset(
    (
        "and",
        "or",
        "not",
        "is_null",
        "is_not_null",
        "coalesce",
        "nullif",
        "in",
        "cast",
        "div_decimal",
        "round",
        "is_true",
        "is_false",
    )
)


def _and(*args: Any) -> Any:
    out: Any = True
    for a in args:
        if a is False:
            return False
        if a is None:
            out = None
    return out


def _or(*args: Any) -> Any:
    out: Any = False
    for a in args:
        if a is True:
            return True
        if a is None:
            out = None
    return out


def _in(x: Any, *values: Any) -> Any:
    if x is None:
        return None
    saw_null = False
    for v in values:
        if v is None:
            saw_null = True
        elif x == v or (x != x and v != v):  # NaN is in a list that holds NaN
            return True
    return None if saw_null else False


# ---------------------------------------------------------------------------------------- casts



def _quantizer(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def cast_function(target: str, strict: bool) -> Callable[[Any], Any]:
    """A cast to *target* (``int``, ``decimal(8,2)``...). *strict* (Redshift): a value that does not
    convert is an error; otherwise (Hive) it is NULL."""
    from engine.sql.types import from_string, parse_bool

    t = from_string(target)
    q = _quantizer(t.scale) if t.kind == "decimal" else None

    def convert(v: Any) -> Any:
        k = t.kind
        if k == "string":
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, dt.datetime):
                return v.strftime("%Y-%m-%d %H:%M:%S") + (
                    f".{v.microsecond:06d}".rstrip("0") if v.microsecond else ""
                )
            if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
                return f"{v:.1f}"
            return str(v)
        if k == "int":
            if isinstance(v, str):
                s = v.strip()
                try:
                    return int(s)
                except ValueError:
                    return int(Decimal(s).to_integral_value(rounding=ROUND_DOWN))
            if isinstance(v, bool):
                return int(v)
            if isinstance(v, (float, Decimal)):
                # Hive truncates; Redshift and DuckDB round half away from zero
                return int(Decimal(v).to_integral_value(rounding=ROUND_DOWN if not strict else ROUND_HALF_UP))
            return int(v)
        if k == "double":
            return float(v.strip() if isinstance(v, str) else v)
        if k == "decimal":
            d = Decimal(v.strip()) if isinstance(v, str) else Decimal(v)
            return d.quantize(q, rounding=ROUND_HALF_UP)  # type: ignore[arg-type]
        if k == "boolean":
            return parse_bool(v) if isinstance(v, str) else bool(v)
        if k == "date":
            if isinstance(v, dt.datetime):
                return v.date()
            if isinstance(v, dt.date):
                return v
            return dt.date.fromisoformat(v.strip()[:10])
        if k == "timestamp":
            if isinstance(v, dt.datetime):
                return v
            if isinstance(v, dt.date):
                return dt.datetime(v.year, v.month, v.day)
            s = v.strip()
            return dt.datetime.fromisoformat(s if len(s) > 10 else s + " 00:00:00")
        raise ValueError(f"cannot cast to {target}")

    def cast(v: Any) -> Any:
        if v is None:
            return None
        try:
            return convert(v)
        except (ValueError, TypeError, InvalidOperation, ArithmeticError):
            if strict:
                raise ValueError(f"cannot cast {v!r} to {target}") from None
            return None

    return cast


def _div_decimal(scale: int) -> Callable[[Any, Any], Any]:
    q = _quantizer(scale)

    def div(a: Any, b: Any) -> Any:
        if a is None or b is None or b == 0:
            return None
        with localcontext() as ctx:
            ctx.prec = 60
            return (Decimal(a) / Decimal(b)).quantize(q, rounding=ROUND_HALF_UP)

    return div


def _round(digits: int) -> Callable[[Any], Any]:
    def rnd(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, float):
            d = Decimal(repr(v)).quantize(_quantizer(digits), rounding=ROUND_HALF_UP)
            return float(d)
        if isinstance(v, Decimal):
            return v.quantize(_quantizer(max(digits, 0)), rounding=ROUND_HALF_UP) if digits >= 0 else v
        return v

    return rnd


# ------------------------------------------------------------------------------------ evaluator


def evaluator(e: Expr) -> Eval:
    """A closure computing expression *e* over one row (a list/tuple of values)."""
    kind = e[0]
    if kind == "col":
        i = e[1]
        return lambda row: row[i]
    if kind == "lit":
        v = e[1]
        return lambda row: v
    if kind == "case":
        pairs = [(evaluator(c), evaluator(v)) for c, v in zip(e[1][::2], e[1][1::2])]
        other = evaluator(e[2])

        def case(row: Row) -> Any:
            for c, v in pairs:
                if c(row) is True:
                    return v(row)
            return other(row)

        return case
    name = e[1]
    if name == "cast":
        f = cast_function(e[3][1], bool(e[4][1]))
        a = evaluator(e[2])
        return lambda row: f(a(row))
    if name == "div_decimal":
        g = _div_decimal(e[4][1])
        x, y = evaluator(e[2]), evaluator(e[3])
        return lambda row: g(x(row), y(row))
    if name == "round":
        r = _round(e[3][1] if len(e) > 3 else 0)
        x = evaluator(e[2])
        return lambda row: r(x(row))
    args = [evaluator(a) for a in e[2:]]
    if name == "and":
        return lambda row: _and(*(a(row) for a in args))
    if name == "or":
        return lambda row: _or(*(a(row) for a in args))
    if name == "not":
        (a,) = args
        return lambda row: None if (v := a(row)) is None else not v
    if name == "is_null":
        (a,) = args
        return lambda row: a(row) is None
    if name == "is_not_null":
        (a,) = args
        return lambda row: a(row) is not None
    if name == "is_true":
        (a,) = args
        return lambda row: a(row) is True
    if name == "is_false":
        (a,) = args
        return lambda row: a(row) is False
    if name == "coalesce":

        def coalesce(row: Row) -> Any:
            for a in args:
                v = a(row)
                if v is not None:
                    return v
            return None

        return coalesce
    if name == "nullif":
        x, y = args
        eq = FUNCTIONS["eq"]  # NaN equals NaN
        return lambda row: None if (v := x(row)) is not None and eq(v, y(row)) else v
    if name == "in":
        return lambda row: _in(*(a(row) for a in args))
    f = FUNCTIONS[name]
    if len(args) == 1:
        (a,) = args
        return lambda row: f(a(row))
    if len(args) == 2:
        a, b = args
        return lambda row: f(a(row), b(row))
    return lambda row: f(*(a(row) for a in args))


def predicate(e: Expr) -> Callable[[Row], bool]:
    """A filter: keeps a row only where *e* is ``True`` (not ``False``, not NULL)."""
    f = evaluator(e)
    return lambda row: f(row) is True
