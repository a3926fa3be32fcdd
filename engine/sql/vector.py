"""The Arrow form of a compiled plan: ``SqlJob``'s vectorized twin (``engine.arrow``).

``SqlJob.vector_steps()`` gives a ``VectorStep`` for each stage that has an Arrow form
(``vector_plan.record_stages`` says which have none), so ``-r engine`` runs those a batch at a
time: tables are read into typed columns, filters and projections are ``pyarrow.compute``
kernels, GROUP BY is Arrow's hash aggregation (partial map-side, final reduce-side, within the
memory budget), ORDER BY/LIMIT are Arrow sorts.
The record form (``engine.sql.job``, ``engine.sql.operators``) stays the reference: the Arrow
form must give its rows, partitioned and ordered as it does (the key bytes are the record form's
``SqlValueProtocol`` bytes, ``key_bytes``), so the part files are the same bytes.

Step by step, for the stages that have an Arrow form (``record_stages`` says which do not):

1. **Read.** Stage 1 reads its one table. A text block is parsed by pyarrow's CSV reader into
   string columns, the table's NULL rule applied (``\\N``, or Redshift's empty field), then
   each column cast to its DDL type. Where Arrow would read a block otherwise than the record
   form's ``RowReader`` -- a field Arrow's cast refuses (``" 5"``, ``"1.234"`` into
   ``decimal(8,2)``), a line with another number of fields, a ``\\r`` or an empty line -- that
   block is read by ``RowReader`` itself, line by line: its values, or its error naming the
   file and the line. Parquet batches are cast the same way, ``RowReader`` on a refusal.
   The blocks read so are counted (``TABLE blocks read by the record form``). A RegexSerDe
   table's lines are matched by RE2 (``regex_serde.re2_form``: the same groups as the record
   form's regex on ASCII lines), the tutorial's shape split on tabs first as ``LineRegex``
   does; non-ASCII lines go to ``LineRegex`` itself; groups are cast leniently (NULL where a
   type cannot hold the text, Hive's rule).
2. **Map.** The stage's pipe (filters, projections) runs as kernels over the batch's columns
   ``c0..cN`` (``kernel``); an aggregate stage adds its key columns ``k0..`` and its aggregate
   inputs, and Arrow's partial hash aggregation runs map-side (the combiner; a DISTINCT
   aggregate collects each group's values, deduplicated, ``_distinct_lists``); a sort with LIMIT
   keeps its top k map-side. A join stage reads both its sides' tables (a file's table found by
   its location) and tags each row with its side (``ShuffledJoin``).
3. **Shuffle.** Rows are partitioned by the crc32 of their key's record-form bytes
   (``key_bytes``), as the record form's shuffle partitions them.
4. **Reduce.** The final aggregation, then ``count``/``avg``'s finishing, then the stage's post
   pipe; a sort stage sorts the partition with its NULL placement per key; a join stage
   hash-joins each slice's sides and puts the rows in the record form's order; a window stage
   sorts each partition, numbers its rows and folds its aggregates over each row's frame
   (``window_table``). The last stage's
   rows are written through the job's own output protocol, ordered by their key bytes.

A query without a shuffle is one map-only step: each map task writes its rows, in its split's
order, to its part (``engine.arrow.pipeline``). An aggregate without GROUP BY adds an empty row
to each batch so that it has its one row over no rows (``_with_empty_row``).

A stage without an Arrow form (a join over an earlier stage's rows, a regex RE2 lacks or reads
otherwise), and a stage that carries rows on to a later one, run on the record form; the stages
beside one hand their rows across as the record form's reducer pairs (``ArrowForm._to_pairs``,
``_from_pairs``; ``engine.arrow.boundary``). EXPLAIN names each such stage and why.

A few functions (``_BY_VALUE``, and casts Arrow's kernel would read otherwise) run the record
form's own code value by value, the rest of the plan on Arrow. Integer
arithmetic is checked: a result beyond 64 bits is an error that says to run the query with
``--no-vectorize``, where Python's integers have no bound; so is an integer ``sum``/``avg``
whose total does not fit (``_check_sum``). Sums of doubles add in another order than the record
form's (the last bits may differ, as between any two SQL engines).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, overload

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from mrjob.compat import jobconf_from_env

from engine.arrow.keys import binary_buffers, byte_order
from engine.arrow.read import concat
from engine.arrow.step import VectorStep
from engine.errors import JobDefinitionError
from engine.sql import expr as E
from engine.sql import operators as ops
from engine.sql import protocol
from engine.sql.catalog import RowReader, TableDef, table_for_path
from engine.sql.job import SENTINEL
from engine.sql.regex_serde import LineRegex, Re2Form, re2_form
from engine.sql.stages import pipe_columns, stream_columns
from engine.sql.types import SqlType, from_string
from engine.sql.vector_plan import record_stages
from engine.sql.vector_text import hive_lines, key_bytes, row_json, tsv_lines

# ------------------------------------------------------------------------------- kernels


def kernel(e: E.Expr, table: pa.Table) -> Any:
    """Expression *e* (``engine.sql.expr``'s tree) over the columns of *table* (``c0..``): an
    array, or a scalar for a constant."""
    kind = e[0]
    if kind == "col":
        return table.column(e[1])
    if kind == "lit":
        return pa.scalar(e[1])
    if kind == "case":
        conds = [_array(kernel(c, table), table.num_rows, pa.bool_()) for c in e[1][::2]]
        values = [kernel(v, table) for v in e[1][1::2]] + [kernel(e[2], table)]
        kind_ = _common([v.type for v in values])
        values = [_array(v, table.num_rows, kind_) for v in values]
        conds = [pc.fill_null(c, False) for c in conds]
        return pc.case_when(pc.make_struct(*conds, field_names=[str(i) for i in range(len(conds))]), *values)
    return _call(e[1], e, [kernel(a, table) for a in e[2:]], table.num_rows)


def _common(types: Sequence[pa.DataType]) -> pa.DataType:
    """The type of a CASE's branches: the first that is not NULL's type."""
    for t in types:
        if not pa.types.is_null(t):
            return t
    return pa.null()


def _array(v: Any, n: int, kind: Optional[pa.DataType] = None) -> Any:
    """*v* as an array of *n* values (a scalar repeated), cast to *kind* if given."""
    if isinstance(v, pa.Scalar):
        kind = kind or v.type
        v = pa.repeat(v if v.type == kind else v.cast(kind), n)  # no Python list of n values
    elif kind is not None and v.type != kind:
        v = pc.cast(v, kind)
    return v


_COMPARE = {"eq": pc.equal, "ne": pc.not_equal, "lt": pc.less, "le": pc.less_equal, "gt": pc.greater}
_COMPARE["ge"] = pc.greater_equal
_ARITH = {"add": pc.add_checked, "sub": pc.subtract_checked, "mul": pc.multiply_checked}
_PARTS = {"year": pc.year, "month": pc.month, "day": pc.day}


def _compare(name: str, a: Any, b: Any) -> Any:
    """A comparison, NaN as the record form compares it (``expr.nan_last``): equal to NaN,
    greater than every other number (Arrow's kernels: unequal to everything, ordered nowhere)."""
    out = _COMPARE[name](a, b)
    if not (pa.types.is_floating(a.type) or pa.types.is_floating(b.type)):
        return out
    na, nb = _is_nan(a), _is_nan(b)
    both = pc.and_(na, nb)
    if name in ("eq", "le", "ge"):
        out = pc.or_(out, both)
    elif name == "ne":
        out = pc.and_(out, pc.invert(both))
    if name in ("gt", "ge"):
        out = pc.or_(out, pc.and_(na, pc.invert(nb)))
    elif name in ("lt", "le"):
        out = pc.or_(out, pc.and_(pc.invert(na), nb))
    return out


def _is_nan(v: Any) -> Any:
    """Whether each value of *v* is a NaN (NULL for NULL); ``False`` for a type without NaN."""
    return pc.is_nan(v) if pa.types.is_floating(v.type) else pa.scalar(False)


def _canonical(v: Any) -> Any:
    """Values as ``ops.canonical`` makes keys: ``-0.0`` is ``0.0``, every NaN one NaN."""
    if not pa.types.is_floating(v.type):
        return v
    v = pc.add(v, 0.0)  # -0.0 + 0.0 is 0.0
    if pc.any(pc.is_nan(v)).as_py():
        v = pc.if_else(pc.is_nan(v), pa.scalar(float("nan"), v.type), v)
    return v


def _call(name: str, e: E.Expr, args: List[Any], n: int) -> Any:
    if name in _COMPARE:
        return _compare(name, *args)
    if name == "and":
        out = args[0]
        for a in args[1:]:
            out = pc.and_kleene(out, a)
        return out
    if name == "or":
        out = args[0]
        for a in args[1:]:
            out = pc.or_kleene(out, a)
        return out
    if name == "not":
        return pc.invert(args[0])
    if name == "is_null":
        return pc.is_null(_array(args[0], n))
    if name == "is_not_null":
        return pc.is_valid(_array(args[0], n))
    if name in _ARITH or name == "neg":
        return _checked(e, lambda: _ARITH[name](*args) if name != "neg" else pc.negate_checked(args[0]))
    if name == "div_double":
        a, b = (pc.cast(x, pa.float64()) for x in args)
        zero = pc.equal(b, 0.0)
        # x / 0 is NULL (Hive); the divisor 1 where it is 0 keeps the kernel from its own rule
        return pc.if_else(zero, pa.scalar(None, pa.float64()), pc.divide(a, pc.if_else(zero, 1.0, b)))
    if name == "substr":
        if _constant_window(e):
            start = e[3][1] - 1
            stop = start + e[4][1] if len(e) > 4 else None
            return pc.utf8_slice_codeunits(args[0], start, stop)
        return _substr(_one_array(_array(args[0], n, pa.string())), *[_array(a, n) for a in args[1:]])
    if name == "like":
        return pc.match_like(_array(args[0], n, pa.string()), e[3][1])
    if name == "coalesce":
        kind = _common([a.type for a in args])
        return pc.coalesce(*[_array(a, n, kind) for a in args])
    if name == "in":
        return _in(e, args, n)
    if name == "length":
        return pc.cast(pc.utf8_length(args[0]), pa.int64())
    if name == "concat":
        return pc.binary_join_element_wise(*args, "")
    if name == "cast":
        return _cast(_array(args[0], n), e[3][1], bool(e[4][1]))
    if name == "div_int":
        a, b = _array(args[0], n), _array(args[1], n)
        zero = pc.fill_null(pc.equal(b, 0), False)
        # truncated toward zero, as Java and the record form; -2**63 DIV -1 overflows (checked)
        q = _checked(e, lambda: pc.divide_checked(a, pc.if_else(zero, 1, b)))
        return pc.if_else(zero, pa.scalar(None, q.type), q)
    if name in ("is_true", "is_false"):
        x = _array(args[0], n, pa.bool_())
        return pc.fill_null(x if name == "is_true" else pc.invert(x), False)
    if name in _MORE_PARTS:
        return _date_part(name, _array(args[0], n))
    if name in _BY_VALUE:
        return _by_value(name, e, args, n)
    if name == "mod":
        return _mod(args[0], args[1], n)
    if name == "abs":
        return _checked(e, lambda: pc.abs_checked(args[0]))
    if name in ("upper", "lower"):
        return _case(_array(args[0], n, pa.string()), name)
    if name in _TRIMS:
        return _TRIMS[name](args[0], " ")  # spaces only, as the record form's strip(" ")
    if name == "nullif":
        x = _array(args[0], n)
        same = pc.fill_null(_compare("eq", x, args[1]), False)
        return pc.if_else(same, pa.scalar(None, x.type), x)
    if name in _PARTS:
        return pc.cast(_PARTS[name](args[0]), pa.int64())
    raise ValueError(f"no Arrow kernel for {name!r}")  # pragma: no cover - why_not refuses it


def _in(e: E.Expr, args: List[Any], n: int) -> Any:
    """``x IN (v1, v2 ...)`` as the record form's ``expr._in``: TRUE if a value equals x, else
    NULL if x or a value is NULL, else FALSE. Constants of x's own kind: Arrow's ``is_in``;
    computed values of it: ``x = v1 OR x = v2 ...`` (Kleene's OR). Values of another kind than
    x's (a string against a number, a date against a timestamp: never equal in Python, which
    Arrow's casts would make equal or refuse) are compared by the record form's own code."""
    x = _array(args[0], n)
    if pa.types.is_null(x.type):
        return pa.nulls(n, pa.bool_())
    if all(a[0] == "lit" and a[1] is not None for a in e[3:]):
        constants = pa.array([a[1] for a in e[3:]])
        if _same_kind(constants.type, x.type):
            try:
                value_set = pc.cast(constants, x.type, safe=True)  # 2.5 is no integer's value
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                value_set = None
            if value_set is not None:
                hit = pc.is_in(x, value_set=value_set)
                return pc.if_else(pc.is_null(x), pa.scalar(None, pa.bool_()), hit)
    values = [_array(v, n, x.type if pa.types.is_null(v.type) else None) for v in args[1:]]
    if not all(_same_kind(v.type, x.type) for v in values):
        f = E.evaluator(["fn", "in", *[E.col(i) for i in range(len(args))]])
        return _per_value(f, [x, *values], pa.bool_(), row=True)
    out = None
    for v in values:
        eq = _compare("eq", x, v)
        out = eq if out is None else pc.or_kleene(out, eq)
    return out


def _same_kind(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether values of types *a* and *b* compare in Arrow as in Python: the same type, two
    integer, two floating-point, two decimal or two string types."""
    kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_string)
    return a == b or any(kind(a) and kind(b) for kind in kinds)


def _constant_window(e: E.Expr) -> bool:
    """Whether substr *e*'s start and length are positive (non-negative) integer constants:
    Arrow's ``utf8_slice_codeunits`` then cuts every row the same."""
    return (
        all(a[0] == "lit" and isinstance(a[1], int) and not isinstance(a[1], bool) for a in e[3:])
        and e[3][1] > 0
        and min([a[1] for a in e[4:]] or [0]) >= 0
    )


def _substr(strings: pa.Array, start: Any, length: Any = None) -> pa.Array:
    """``expr._substr`` of each row, its start and length computed (columns): the window in
    code points as the record form works it out -- 1-based, 0 read as 1 (the window still ends
    where it would), a negative start counted from the end, no length the rest, a negative one
    nothing, a NULL argument NULL -- then each row's bytes of it gathered at once (NumPy, no
    row in Python)."""
    import numpy as np

    n = len(strings)

    def numbers(v: Any, null: int) -> Any:  # NULL as *null* (the row's validity says NULL)
        return np.asarray(pc.fill_null(v, null).to_numpy(zero_copy_only=False), dtype=np.int64)

    starts = _one_array(pc.cast(start, pa.int64()))
    valid = pc.and_(pc.is_valid(strings), pc.is_valid(starts))
    # past 2**40 (beyond any string) a start or length cuts as 2**40 does: no sum overflows
    first = np.clip(numbers(starts, 1), -(1 << 40), 1 << 40)
    size = np.zeros(n, dtype=np.int64)
    if length is not None:
        lengths = _one_array(pc.cast(length, pa.int64()))
        valid = pc.and_(valid, pc.is_valid(lengths))
        size = np.clip(numbers(lengths, 0), -1, 1 << 40)
    count = numbers(pc.utf8_length(strings), 0)
    begin = np.where(first > 0, first - 1, np.where(first == 0, 0, np.maximum(count + first, 0)))
    if length is None:  # the rest of the string
        end = count
    else:  # a negative length: the empty string
        end = np.where(first > 0, first - 1 + size, np.where(first == 0, size - 1, begin + size))
        end = np.where(size < 0, begin, np.maximum(end, begin))
    begin, end = np.minimum(begin, count), np.clip(end, 0, count)
    end = np.maximum(end, begin)
    offsets, data = binary_buffers(strings)
    offsets = offsets.astype(np.int64)
    if pc.all(pc.string_is_ascii(strings)).as_py() is not False:  # a code point is a byte
        at, to = offsets[:-1] + begin, offsets[:-1] + end
    else:  # the byte of each code point: the data's lead bytes, counted
        lead = np.flatnonzero((data[offsets[0] : offsets[-1]] & 0xC0) != 0x80) + offsets[0]
        lead = np.append(lead, offsets[-1])
        before = np.searchsorted(lead, offsets[:-1])  # code points before each row's first byte
        at, to = lead[before + begin], lead[before + end]
    sizes = to - at
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    picked = np.repeat(at - out[:-1], sizes) + np.arange(int(out[-1]), dtype=np.int64)
    cut = pa.StringArray.from_buffers(n, pa.py_buffer(out.astype(np.int32)), pa.py_buffer(data[picked]))
    return pc.if_else(valid, cut, pa.scalar(None, pa.string()))


def _checked(e: E.Expr, compute: Callable[[], Any]) -> Any:
    """*compute*'s result, or the error of an integer result past 64 bits (the record form's
    Python integers have no bound)."""
    try:
        return compute()
    except pa.ArrowInvalid as exc:
        if "overflow" not in str(exc).lower():
            raise
        # the same on every attempt: not retried
        raise JobDefinitionError(
            f"{E.show(e)} overflows 64-bit integers on the Arrow form ({exc}); run the query "
            "with --no-vectorize, where integers have no bound"
        ) from None


_TRIMS = {"trim": pc.utf8_trim, "ltrim": pc.utf8_ltrim, "rtrim": pc.utf8_rtrim}


def _cast(v: Any, target: str, strict: bool) -> Any:
    """``CAST(v AS target)`` as the record form's ``expr.cast_function``: Arrow's cast where it
    gives the same values (an integer to a double, a decimal or text; a date to text or a
    timestamp; a boolean to an integer), the record form's own cast on each value otherwise
    (exact, and its error for a value a strict cast refuses)."""
    t = from_string(target)
    kind = pa.decimal128(38, t.scale) if t.kind == "decimal" else arrow_type(t)  # no bound, as Decimal
    src = v.type
    if src == kind or pa.types.is_null(src):
        return v if src == kind else pa.nulls(len(v), kind)
    fast = (
        (
            pa.types.is_integer(src)
            and (t.kind in ("double", "string") or (t.kind == "decimal" and t.scale <= 18))
        )
        or (pa.types.is_date(src) and t.kind in ("string", "timestamp"))
        or (pa.types.is_boolean(src) and t.kind == "int")
    )
    if fast:
        return pc.cast(v, kind, safe=False)  # int64 to float64: the nearest double, as float()
    try:
        return _per_value(E.cast_function(target, strict), [v], kind)
    except OverflowError:  # an integer past 64 bits: the record form's Python int holds it
        raise JobDefinitionError(
            f"CAST(... AS {target}) gives an integer past 64 bits on the Arrow form; run the query "
            "with --no-vectorize, where integers have no bound"
        ) from None


_MORE_PARTS = ("quarter", "dow", "doy", "hour", "minute", "second")


def _date_part(name: str, v: Any) -> Any:
    """EXTRACT's other parts, as ``expr._date_part``: Sunday is day 0 of the week; a date's
    hour, minute and second are 0."""
    if name in ("hour", "minute", "second") and pa.types.is_date(v.type):
        return pc.if_else(pc.is_valid(v), 0, pa.scalar(None, pa.int64()))
    if name == "quarter":
        out = pc.quarter(v)
    elif name == "dow":
        out = pc.day_of_week(v, count_from_zero=True, week_start=7)
    elif name == "doy":
        out = pc.day_of_year(v)
    else:
        out = {"hour": pc.hour, "minute": pc.minute, "second": pc.second}[name](v)
    return pc.cast(out, pa.int64())


#: Functions computed value by value by the record form's own code (``expr``): exact where
#: Arrow's kernels round, match or fold case otherwise (``round``'s half-up on the decimal
#: text, Python's regexes, Unicode's lower case). The plan stays on Arrow around them.
_BY_VALUE = ("round", "div_decimal", "to_date", "ilike", "regexp_extract")


def _by_value(name: str, e: E.Expr, args: List[Any], n: int) -> Any:
    """Function *name* of *e* on each row's argument values (*args*), typed as it returns them."""
    arrays = [_array(a, n) for a in args]
    if name == "round":
        digits = e[3][1] if len(e) > 3 else 0
        first = arrays[0].type
        kind = pa.decimal128(38, max(digits, 0)) if pa.types.is_decimal(first) and digits >= 0 else first
        return _per_value(E.evaluator(["fn", "round", E.col(0), *e[3:]]), arrays[:1], kind, row=True)
    if name == "div_decimal":
        f = E.evaluator(["fn", "div_decimal", E.col(0), E.col(1), *e[4:]])
        return _per_value(f, arrays[:2], pa.decimal128(38, e[4][1]), row=True)
    kind = {"to_date": pa.date32(), "ilike": pa.bool_(), "regexp_extract": pa.string()}[name]
    return _per_value(E.FUNCTIONS[name], arrays, kind)


def _per_value(
    f: Callable[..., Any], arrays: Sequence[Any], kind: pa.DataType, row: bool = False
) -> pa.Array:
    """*f* of each row's values of *arrays* (``f(a, b...)``, or ``f([a, b...])`` for an
    ``expr.evaluator`` when *row*): the record form's own code, value by value, as *kind*."""
    rows = zip(*(a.to_pylist() for a in arrays))
    return pa.array([f(list(r)) for r in rows] if row else [f(*r) for r in rows], kind)


def _mod(a: Any, b: Any, n: int) -> Any:
    """``a % b`` as the record form's ``expr._mod``: the sign of the dividend (Java's, SQL's), NULL
    for a divisor of 0; C's fmod for doubles; Python's Decimal for decimals."""
    import numpy as np

    a, b = _array(a, n), _array(b, n)
    kinds = (a.type, b.type)
    zero = pc.fill_null(pc.equal(b, 0), False)
    if all(pa.types.is_integer(k) for k in kinds):
        # x % -1 is x % 1, 0 (and -2**63 / -1 would overflow); the divisor 1 where it is 0 too
        b1 = pc.if_else(pc.fill_null(pc.is_in(b, value_set=pa.array([0, -1], b.type)), False), 1, b)
        r = pc.subtract(a, pc.multiply(b1, pc.divide(a, b1)))  # |r| < |b|: no overflow
        return pc.if_else(zero, pa.scalar(None, r.type), r)
    if any(pa.types.is_decimal(k) for k in kinds) and not any(pa.types.is_floating(k) for k in kinds):
        scale = max(k.scale for k in kinds if pa.types.is_decimal(k))
        return _per_value(E.FUNCTIONS["mod"], [a, b], pa.decimal128(38, scale))
    x, y = (pc.cast(v, pa.float64()) for v in (a, b))
    valid = pc.and_(pc.is_valid(x), pc.invert(pc.fill_null(pc.equal(y, 0.0), True)))
    xs = pc.if_else(valid, x, 0.0).to_numpy(zero_copy_only=False)
    r = np.fmod(xs, pc.if_else(valid, y, 1.0).to_numpy(zero_copy_only=False))
    return pc.if_else(valid, pa.array(r, pa.float64()), pa.scalar(None, pa.float64()))


def _case(s: Any, name: str) -> Any:
    """``upper``/``lower`` as Python's: ASCII text by Arrow's kernel, other text by ``str``'s
    own rule (Unicode's full case mapping: ``ß`` upper is ``SS``, which Arrow's is not)."""
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    out = pc.ascii_upper(s) if name == "upper" else pc.ascii_lower(s)
    other = pc.invert(pc.fill_null(pc.string_is_ascii(s), True))
    if pc.any(other).as_py():
        f = str.upper if name == "upper" else str.lower
        values = [f(v) for v in pc.filter(s, other).to_pylist()]
        out = pc.replace_with_mask(out, other, pa.array(values, pa.string()))
    return out


def run_pipe(
    pipe_ops: Sequence[List[Any]],
    table: pa.Table,
    tables: Sequence[TableDef] = (),
    stage: Optional[Dict[str, Any]] = None,
) -> pa.Table:
    """A pipe's filters, projections and map-side joins over *table* (columns ``c0..``);
    *tables* are the plan's, for a join's broadcast side; *stage*, the one the pipe feeds, tells
    which of a join's columns the rest of the pipe reads (``pipe_columns``): only those are taken
    for the joined rows, the others are NULL columns (a join that keeps none of its key columns
    then copies no key twice)."""
    for at, op in enumerate(pipe_ops):
        if op[0] == "filter":
            mask = _array(kernel(op[1], table), table.num_rows, pa.bool_())
            table = table.filter(mask)  # a NULL predicate drops the row, as False does
        elif op[0] == "project":
            cols = [_array(kernel(x, table), table.num_rows) for x in op[1]]
            table = pa.table(cols, names=_names("c", len(cols)))
        else:
            used = pipe_columns(list(pipe_ops[at + 1 :]), stage)
            table, _ = broadcast_join(op[1], tables).probe(table, None if used is None else set(used))
    return table


def _names(prefix: str, n: int) -> List[str]:
    return [f"{prefix}{i}" for i in range(n)]


# ------------------------------------------------------------------------------- reading


def arrow_type(t: SqlType) -> pa.DataType:
    """The Arrow type of a column of SQL type *t* (the values ``RowReader`` gives, as Arrow)."""
    return {
        "int": pa.int64(),
        "double": pa.float64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "null": pa.null(),
    }.get(t.kind) or pa.decimal128(t.precision, t.scale)


#: Text that Arrow's cast reads as ``RowReader`` does (``int()``, ``float()``, an ISO date).
_PLAIN = {
    "int64": "^-?[0-9]{1,18}$",
    "double": "^-?[0-9]{1,15}(\\.[0-9]{1,15})?$",
    "date32[day]": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}
_TRUE = pa.array(["true", "t", "1", "y", "yes", "on"])
_FALSE = pa.array(["false", "f", "0", "n", "no", "off"])


class Refused(ValueError):
    """Arrow would read a value otherwise than ``RowReader``: the block goes to ``RowReader``."""


class TableReader:
    """One table's blocks (text) or batches (Parquet) as typed columns ``c0..``, exactly as
    ``RowReader`` reads them (step 1 of the module docstring)."""

    def __init__(self, table: TableDef, used: Optional[Sequence[int]] = None) -> None:
        self.table = table
        self.types = [arrow_type(t) for t in table.types]
        self.schema = pa.schema([(n, k) for n, k in zip(_names("c", len(self.types)), self.types)])
        self._rows: Optional[RowReader] = None
        self._line_regex: Optional[LineRegex] = None
        self.by_record_form = 0  # blocks read by RowReader
        self.used = None if used is None else sorted(used)  # for RowReader and Parquet's projection
        self._used = set(range(len(self.types)) if used is None else used)
        # The CSV reader converts integers, doubles, decimals and ISO dates itself (the same
        # parsers as a cast); booleans and formatted times are read as text and converted here.
        # A column the query does not read is not converted at all (``stages.pipe_columns``).
        self._native: Dict[str, pa.DataType] = {}
        self._as_text: Dict[str, pa.DataType] = {}
        for i, ((name, _), kind) in enumerate(zip(table.columns, self.types)):
            if i not in self._used:
                continue
            if pa.types.is_string(kind):
                self._native[name] = kind
            elif (
                pa.types.is_boolean(kind)
                or pa.types.is_timestamp(kind)
                or (pa.types.is_date(kind) and table.dateformat != "%Y-%m-%d")
            ):
                self._as_text[name] = kind
            else:
                self._native[name] = kind
        nulls = [] if table.null_marker is None else [table.null_marker]
        self._nulls = nulls + ([""] if table.empty_is_null and "" not in nulls else [])
        self._re2: Optional[Re2Form] = None
        if table.format == "regex":
            form = re2_form(table.regex)
            if isinstance(form, str):  # pragma: no cover - why_not refuses such tables
                raise ValueError(f"table {table.name}: {form}")
            self._re2 = form

    def text(self, block: bytes, where: str) -> pa.Table:
        """A block of whole lines of *where*."""
        t = self.table
        if not block:  # an empty split's, or one a header filled
            return self.schema.empty_table()
        if self._re2 is not None:
            return self._regex_text(block, where)
        try:
            if b"\r" in block or block.startswith(b"\n") or _has_empty_line(block):
                raise Refused("a \\r or an empty line")  # the CSV reader reads them otherwise
            delimiter, parsed = t.delimiter, block
            if len(delimiter) != 1 or not delimiter.isascii():
                # the block itself stays as it is, for the record form's reader on a refusal
                parsed, delimiter = _one_byte_delimiter(block, delimiter)
            raw = pacsv.read_csv(
                pa.py_buffer(parsed),
                read_options=pacsv.ReadOptions(
                    column_names=[n for n, _ in t.columns],
                    use_threads=False,
                    block_size=max(1 << 20, len(parsed) + 1),
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, quote_char=False, double_quote=False, ignore_empty_lines=False
                ),
                convert_options=pacsv.ConvertOptions(
                    # none read (count(*)): the first, as text, for the number of rows
                    include_columns=[n for n, _ in t.columns if n in self._native or n in self._as_text]
                    or [t.columns[0][0]],
                    column_types={**self._native, **{n: pa.string() for n in self._as_text}},
                    null_values=self._nulls,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            n = raw.num_rows
            cols = []
            for (name, _), kind in zip(t.columns, self.types):
                if name in self._native:
                    cols.append(raw.column(name))
                elif name in self._as_text:
                    cols.append(self._text_column(raw.column(name), kind))
                else:
                    cols.append(pa.nulls(n, kind))  # a column the query does not read
            return self._typed(cols)
        except (Refused, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return self._by_rows(_lines(block), where)

    def _regex_text(self, block: bytes, where: str) -> pa.Table:
        """A block of a RegexSerDe table: each line's groups (``_regex_groups``), each cast
        leniently to its column's type (a value the type cannot hold is NULL, Hive's rule)."""
        if b"\r" in block:  # the record form's lines lose a final \r: read as it reads them
            return self._by_rows(_lines(block), where)
        lines = pc.list_flatten(pc.split_pattern(pa.array([block], pa.binary()), b"\n"))
        if block.endswith(b"\n") or not block:
            lines = lines.slice(0, len(lines) - 1)
        try:
            text = pc.cast(lines, pa.string())
        except pa.ArrowInvalid:  # not UTF-8: the record form's error
            return self._by_rows(_lines(block), where)
        groups = self._regex_groups(text)
        cols = []
        for i, kind in enumerate(self.types):
            if i not in self._used or i >= len(groups):
                cols.append(pa.nulls(len(text), kind))
            else:
                cols.append(self._lenient(groups[i], kind, i))
        return self._typed(cols)

    def _regex_groups(self, text: pa.Array) -> List[Any]:
        """The groups of the table's regex matched against each line (NULL where it does not
        match), as ``LineRegex.match`` gives them: only the columns the query reads.

        RE2's submatch extraction costs ~50 us a line on the tutorial's regex, so the lines
        ``LineRegex`` splits on tabs (its fast path: tabs and printable ASCII but space, the
        regex's number of tabs, no empty field) are split so here too and only their tail goes
        through RE2; the other ASCII lines take the full regex in RE2, and the non-ASCII ones
        ``LineRegex`` itself (RE2's ``\\w``, ``\\d``, ``\\b`` are ASCII-only, Python's not).
        """
        form = self._re2
        assert form is not None
        n = len(text)
        wanted = [i for i in range(form.groups) if i in self._used]
        out: List[Any] = [None] * form.groups
        if not n or not wanted:
            return [pa.nulls(n, pa.string()) for _ in range(form.groups)]
        rest = pc.is_valid(text)  # every line, until the fast path takes some
        if form.tail is not None:
            k = form.fields
            fast = pc.and_(
                pc.match_substring_regex(text, "^[\t!-~]*$"), pc.equal(pc.count_substring(text, "\t"), k)
            )
            empty_field = pc.or_(pc.starts_with(text, "\t"), pc.match_substring(text, "\t\t"))
            fast = pc.and_(fast, pc.invert(empty_field))
            if form.no_prefix:
                fast = pc.and_(fast, pc.invert(pc.starts_with(text, form.no_prefix)))
            rest = pc.invert(fast)
            split = pc.if_else(fast, text, "\t" * k)  # k tabs: every line splits into k + 1 parts
            # whether the tail matches decides the whole row, whichever groups are read
            ends = pc.list_element(pc.split_pattern(split, "\t", max_splits=1, reverse=True), 1)
            tail = pc.extract_regex(ends, form.tail.pattern)
            tail_ok = pc.and_(fast, pc.is_valid(tail))
            parts = pc.split_pattern(split, "\t", max_splits=k) if any(i < k for i in wanted) else None
            for i in wanted:
                v = pc.list_element(parts, i) if i < k else pc.struct_field(tail, f"g{i - k}")
                out[i] = pc.if_else(tail_ok, v, pa.scalar(None, pa.string()))
        else:
            for i in wanted:
                out[i] = pa.nulls(n, pa.string())
        if pc.any(rest).as_py():
            self._regex_rest(text, rest, wanted, out)
        return [pa.nulls(n, pa.string()) if v is None else v for v in out]

    def _regex_rest(self, text: pa.Array, rest: Any, wanted: List[int], out: List[Any]) -> None:
        """The groups of the lines *rest* marks (off the fast path), put into *out* in place."""
        form = self._re2
        assert form is not None
        lines = pc.filter(text, rest)
        ascii_lines = pc.string_is_ascii(lines)
        found = pc.extract_regex(pc.if_else(ascii_lines, lines, ""), form.pattern)
        if form.no_prefix:
            found = pc.if_else(pc.starts_with(lines, form.no_prefix), pa.scalar(None, found.type), found)
        values = {i: pc.struct_field(found, f"g{i}") for i in wanted}
        matched = pc.is_valid(found)
        if not pc.all(ascii_lines).as_py():  # RE2 reads non-ASCII text otherwise: LineRegex
            if self._line_regex is None:
                self._line_regex = LineRegex(self.table.regex)
            others = pc.invert(ascii_lines)
            by_python = [self._line_regex.match(x) for x in pc.filter(lines, others).to_pylist()]
            matched = pc.replace_with_mask(matched, others, pa.array([g is not None for g in by_python]))
            for i in wanted:
                got = pa.array([None if g is None else g[i] for g in by_python], pa.string())
                values[i] = pc.replace_with_mask(values[i], others, got)
        for i in wanted:
            v = pc.if_else(matched, values[i], pa.scalar(None, pa.string()))
            out[i] = pc.replace_with_mask(out[i], rest, v)

    def _lenient(self, strings: Any, kind: pa.DataType, i: int) -> Any:
        """Group strings as column *i*'s values, ``RowReader``'s lenient cast: Arrow's cast
        where the text is plain (digits, an ISO date), ``RowReader`` for the rest."""
        if pa.types.is_string(kind):
            return strings
        plain = _PLAIN.get(str(kind))
        if plain is not None and not (pa.types.is_date(kind) and self.table.dateformat != "%Y-%m-%d"):
            simple = pc.fill_null(pc.match_substring_regex(strings, plain), False)
            odd = pc.and_(pc.is_valid(strings), pc.invert(simple))
            try:
                values = pc.cast(pc.if_else(simple, strings, pa.scalar(None, pa.string())), kind)
            except pa.ArrowInvalid:  # e.g. 2014-02-30: every value through RowReader
                values = None
            if values is not None:
                if not pc.any(odd).as_py():
                    return values
                return pc.replace_with_mask(values, odd, self._by_value(pc.filter(strings, odd), i, kind))
        return self._by_value(strings, i, kind)

    def _row_reader(self) -> RowReader:
        """The record form's reader of the table (the same columns), made on first use."""
        if self._rows is None:
            self._rows = RowReader(self.table, self.used)
        return self._rows

    def _by_value(self, strings: Any, i: int, kind: pa.DataType) -> pa.Array:
        rows = self._row_reader()
        return pa.array([None if g is None else rows.group_value(i, g) for g in strings.to_pylist()], kind)

    def _text_column(self, column: pa.ChunkedArray, kind: pa.DataType) -> Any:
        """A boolean or formatted time column from its text (NULLs already NULL)."""
        t = self.table
        if pa.types.is_boolean(kind):
            if not pc.all(pc.string_is_ascii(column)).as_py():
                raise Refused("a non-ASCII boolean")
            low = pc.utf8_lower(pc.utf8_trim_whitespace(column))
            true, false = pc.is_in(low, value_set=_TRUE), pc.is_in(low, value_set=_FALSE)
            if not pc.all(pc.or_(pc.or_(true, false), pc.is_null(column))).as_py():
                raise Refused("not a boolean")
            return pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), true)
        if pa.types.is_timestamp(kind) or (pa.types.is_date(kind) and t.dateformat != "%Y-%m-%d"):
            fmt = t.timeformat if pa.types.is_timestamp(kind) else t.dateformat
            # Python's strptime takes what Arrow's takes here, and more: Arrow's refusals go to it
            return pc.cast(pc.strptime(column, format=fmt, unit="us"), kind)
        return pc.cast(column, kind)  # int, double, decimal, ISO date: a refusal raises ArrowInvalid

    def parquet(self, batch: pa.RecordBatch, where: str) -> pa.Table:
        """A Parquet batch (columns by name, those it has)."""
        names = [n.lower() for n in batch.schema.names]  # SQL's names are case-insensitive
        try:
            cols = []
            for (name, _), kind in zip(self.table.columns, self.types):
                if name not in names:
                    cols.append(pa.nulls(batch.num_rows, kind))
                    continue
                col = batch.column(names.index(name))
                if pa.types.is_timestamp(col.type) and col.type.tz is not None:
                    raise Refused("a zoned timestamp")
                cols.append(col if col.type == kind else pc.cast(col, kind, safe=True))
            return self._typed(cols)
        except (Refused, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return self._by_rows(batch.to_pylist(), where)

    def _typed(self, columns: List[Any]) -> pa.Table:
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _by_rows(self, values: Sequence[Any], where: str) -> pa.Table:
        """Values read by ``RowReader``: its rows, or its error naming *where* and the record."""
        reader = self._row_reader()
        self.by_record_form += 1
        rows = [reader.read(v, where) for v in values]
        return pa.Table.from_arrays(
            [pa.array([r[i] for r in rows], k) for i, k in enumerate(self.types)], schema=self.schema
        )


#: Bytes that stand in for a delimiter the CSV reader cannot take (several characters, or one
#: outside ASCII): control characters that text rarely holds (not a tab, not a line's end).
_STAND_INS = [bytes([c]) for c in (*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F)]


def _one_byte_delimiter(block: bytes, delimiter: str) -> Tuple[bytes, str]:
    """*block* with each *delimiter* (``str.split``'s: left to right, not overlapping; UTF-8 makes
    a match a whole character's bytes) replaced by one byte the block does not hold, and that
    byte; ``Refused`` (the record form's reader) if it holds them all."""
    for byte in _STAND_INS:
        if byte not in block:
            return block.replace(delimiter.encode("utf-8"), byte), byte.decode("ascii")
    raise Refused("no byte free to stand in for the delimiter")


def _has_empty_line(block: bytes) -> bool:
    """Whether *block* holds ``\n\n``: two NumPy passes over it as 16-bit words (at even and odd
    offsets), about 2.5 times faster than ``bytes.__contains__``'s search for two bytes."""
    import numpy as np

    n = len(block)
    even = np.frombuffer(block, np.uint16, count=n // 2)
    odd = np.frombuffer(block, np.uint16, count=(n - 1) // 2, offset=1) if n > 1 else even[:0]
    return bool((even == 0x0A0A).any() or (odd == 0x0A0A).any())


def _lines(block: bytes) -> List[str]:
    """A block's lines as a Streaming mapper gets them (``rstrip('\\r\\n')``)."""
    text = block.decode("utf-8").split("\n")
    if text and text[-1] == "":
        text.pop()
    return [line.rstrip("\r\n") for line in text]


# ------------------------------------------------------------------------------- the steps


#: The rows of a result table turned into Python pairs at a time, for a stage on the record form.
PAIRS_BATCH_ROWS = 4096


class ArrowForm:
    """The ``VectorStep``s of a plan's stages that have an Arrow form (``record_stages``: the
    others run on the record form).

    *count* is ``increment_counter`` of the job that runs them: the row counts EXPLAIN ANALYZE
    reads, under the record form's counter names. *output* is the job's ``--sql-output``: the
    text its last stage writes (``SqlJob.output_protocol``), here a column at a time. *record*:
    the plan's ``record_stages`` where the caller has them.
    """

    def __init__(
        self,
        plan: Dict[str, Any],
        count: Callable[[str, int], None],
        output: str = "rows",
        record: Optional[Dict[int, str]] = None,
    ) -> None:
        self.plan = plan
        self.output = output
        self.stages = plan["stages"]
        self.tables = [TableDef.from_json(t) for t in plan["tables"]]
        self.count = count
        self.record = record_stages(plan) if record is None else record  # left to the record form
        # the tables stage 1 reads (several for a shuffled join), each with its reader
        first = [p for inp in self.stages[0]["inputs"] for p in inp["pipes"]] if 0 not in self.record else []
        self.first_tables = sorted({p["source"][1] for p in first})
        columns = stream_columns(plan)
        self.readers = {t: TableReader(self.tables[t], columns.get(t)) for t in self.first_tables}
        self._path_table: Dict[str, int] = {}
        self._header_left: Dict[str, int] = {}  # IGNOREHEADER: a file's header lines not yet skipped
        self._joins: Dict[int, ShuffledJoin] = {}

    def steps(self) -> List[Optional[VectorStep]]:
        """A ``VectorStep`` per stage, ``None`` for one on the record form; a step beside one
        hands its rows across (``to_pairs``, ``from_pairs``: ``engine.arrow.boundary``)."""
        out: List[Optional[VectorStep]] = []
        last = len(self.stages) - 1
        for s in self.stages:
            i = s["id"]
            if i in self.record:
                out.append(None)
                continue
            step = self._step(s, i == last)
            if i < last and i + 1 in self.record:
                step = dataclasses.replace(step, to_pairs=self._to_pairs(s))
            if i > 0 and i - 1 in self.record:
                step = dataclasses.replace(step, from_pairs=self._from_pairs(self.stages[i - 1]))
            out.append(step)
        return out

    def _to_pairs(self, s: Dict[str, Any]) -> Callable[[pa.Table], Iterator[Tuple[Any, Any]]]:
        """Stage *s*'s result rows as its record reducer emits them: ``None -> [stream, *row]``,
        for a next stage on the record form (counted: ``Stage-N rows to the record form``)."""
        stream, name = s["stream"], f"Stage-{s['id'] + 1} rows to the record form"

        def to_pairs(rows: pa.Table) -> Iterator[Tuple[Any, Any]]:
            self.count(name, rows.num_rows)
            # a batch at a time: a slice's rows as Python objects are several times its bytes
            for batch in rows.to_batches(max_chunksize=PAIRS_BATCH_ROWS):
                columns = [c.to_pylist() for c in batch.columns]
                for row in zip(*columns) if columns else ((),) * batch.num_rows:
                    yield None, [stream, *row]

        return to_pairs

    def _from_pairs(self, s: Dict[str, Any]) -> Callable[[Sequence[Tuple[Any, Any]]], pa.Table]:
        """Record stage *s*'s reducer pairs (``None -> [stream, *row]``, and the sentinel a global
        aggregate's stage gets) as the next stage's input: columns ``c0..`` of *s*'s types
        (counted: ``Stage-N rows from the record form``)."""
        types = [arrow_type(from_string(t)) for t in s["out_types"]]
        names, name = _names("c", len(types)), f"Stage-{s['id'] + 1} rows from the record form"

        def from_pairs(pairs: Sequence[Tuple[Any, Any]]) -> pa.Table:
            rows = [value[1:] for _, value in pairs if value[0] != SENTINEL]
            self.count(name, len(rows))
            if not types:  # rows without columns: their number is all there is
                return pa.table({"n": pa.nulls(len(rows))}).select([])
            columns = list(zip(*rows)) if rows else [()] * len(types)
            try:
                return pa.table([pa.array(c, t) for c, t in zip(columns, types)], names=names)
            except (OverflowError, pa.ArrowInvalid) as e:  # an integer past 64 bits, say
                # the same on every attempt: not retried
                raise JobDefinitionError(
                    f"Stage-{s['id'] + 1}'s rows (on the record form) do not fit the Arrow form's "
                    f"types of the next stage ({e}): run the query with --no-vectorize"
                ) from e

        return from_pairs

    # ------------------------------------------------------------------ per stage

    def _step(self, s: Dict[str, Any], last: bool) -> VectorStep:
        i = s["id"]
        first = i == 0
        kind = s["kind"]
        nkeys = len(s["inputs"][0]["keys"]) if kind in ("aggregate", "window") else 0
        keys = tuple(_names("k", nkeys)) if nkeys else ("k",)
        aggregate: Dict[str, Tuple[str, str]] = {}
        if kind == "aggregate":
            for j, a in enumerate(s["spec"]["aggs"]):
                if _collects_distinct(a):
                    aggregate[f"g{j}"] = (f"a{j}", "collect")  # the values, deduplicated (_distinct_lists)
                    continue
                if a["func"] == "count_star":
                    # a global aggregate's batches each add an empty row (``_mapper``): not counted
                    aggregate[f"g{j}"] = (keys[0], "count") if nkeys else ("one", "sum")
                elif a["func"] == "avg":
                    aggregate[f"g{j}.s"] = (f"a{j}", "sum")
                    aggregate[f"g{j}.n"] = (f"a{j}.n", "sum")
                elif a["func"] == "count":
                    aggregate[f"g{j}"] = (f"a{j}.n", "sum")
                else:
                    aggregate[f"g{j}"] = (f"a{j}", a["func"])
                if _checked_sum(a):
                    aggregate[f"g{j}.f"] = (f"a{j}.f", "sum")
                if _max_sees_nan(a):
                    aggregate[f"g{j}.nan"] = (f"a{j}.nan", "max")
        combiner: Optional[Callable[[pa.Table], pa.Table]] = None
        distinct = [f"g{j}.list" for j, a in enumerate(s["spec"].get("aggs", ())) if _collects_distinct(a)]
        if distinct:
            combiner = functools.partial(_distinct_lists, columns=distinct)
        elif kind == "sort" and s["spec"]["limit"] is not None:
            combiner = self._top_k(s)
        elif kind == "limit":
            n = s["spec"]["n"]
            combiner = _first_rows(n)
        names = keys if nkeys else ()
        width = self._width(s)
        formats = {self.tables[t].format for t in self.first_tables}
        mapper, mapper_final = self._mapper(s, first)
        return VectorStep(
            keys=keys,
            aggregate=aggregate,
            mapper=mapper,
            mapper_final=mapper_final,
            combiner=combiner,
            reducer=None if kind == "map" else self._reducer(s, last),
            output_values=None if last else (),
            output_bytes=self._output_bytes(width) if last else None,
            columns=self._parquet_columns() if first and "parquet" in formats else None,
            text_reader=self._text_reader if first and formats - {"parquet"} else None,
            key_bytes=_join_key_bytes if kind == "join" else functools.partial(key_bytes, names=names),
        )

    def _output_bytes(self, width: int) -> Callable[[pa.Table], pa.Array]:
        """The last stage's lines, as ``SqlJob.output_protocol`` writes each row."""
        names = _names("o", width)
        if self.output == "hive":
            return functools.partial(hive_lines, names=names)
        if self.output == "tsv":
            return functools.partial(tsv_lines, names=names, dialect=self.plan["dialect"])
        return functools.partial(row_json, names=names)

    def _parquet_columns(self) -> List[str]:
        """The Parquet columns the first stage reads (projection), of all its Parquet tables:
        each file gives those it has."""
        out: List[str] = []
        for t in self.first_tables:
            table, used = self.tables[t], self.readers[t].used
            if table.format == "parquet":
                names = table.names if used is None else [table.names[i] for i in used]
                out += [n for n in names if n not in out]
        return out

    def _width(self, s: Dict[str, Any]) -> int:
        """How many columns the stage's rows have after its post pipe."""
        width = s["width"]
        for op in s["post"]:
            if op[0] == "project":
                width = len(op[1])
        return width

    # ------------------------------------------------------------------ map side

    def _text_reader(self, block: bytes) -> pa.Table:
        where = _input_file()
        reader = self.readers[self._table_of(where)]
        if reader.table.ignore_header > 0:
            block = self._past_header(block, where, reader.table.ignore_header)
        return reader.text(block, where or "stdin")

    def _past_header(self, block: bytes, where: str, n: int) -> bytes:
        """*block* without what it holds of file *where*'s first *n* lines (``IGNOREHEADER n``),
        as the record form skips them (``SqlJob._skip_header``): only a split at offset 0 has
        them, and they may fill more than a block. The twin is made once a task, so the count
        is the task's."""
        if str(jobconf_from_env("mapreduce.map.input.start") or "0") != "0":
            return block
        left = self._header_left.setdefault(where, n)
        at = 0
        while left and at < len(block):
            end = block.find(b"\n", at)
            at = len(block) if end < 0 else end + 1
            left -= 1
        self._header_left[where] = left
        return block[at:] if at else block

    def _table_of(self, path: str) -> int:
        """The table of stage 1 whose location holds the input file *path* (found once a file)."""
        if len(self.first_tables) == 1:
            return self.first_tables[0]
        t = self._path_table.get(path)
        if t is None:
            hits = [i for i in table_for_path(self.tables, path) if i in self.first_tables]
            if len(hits) != 1:  # why_not refuses tables that share files
                names = ", ".join(self.tables[i].name for i in self.first_tables)
                raise ValueError(f"input file {path!r} is in no one table's location: {names}")
            t = self._path_table[path] = hits[0]
        return t

    def _mapper(
        self, s: Dict[str, Any], first: bool
    ) -> Tuple[Callable[[Any], Optional[pa.Table]], Optional[Callable[[], Optional[pa.Table]]]]:
        """The stage's mapper and, where its pipe holds rows back for a map-side join
        (``_HeldProbe``, ``_ProbeAhead``), the mapper_final that gives the rows held at the end."""
        pipe = s["inputs"][0]["pipes"][0]
        inp = s["inputs"][0]
        held: Optional[Any] = None  # rows held back for a map-side join
        if s["kind"] != "join":
            ops = pipe["ops"]
            held = _HeldProbe.of(ops, self.tables, s) or _ProbeAhead.of(ops, self.tables, s)
        # A global aggregate over a stage's rows: each task adds its partial over no rows at its
        # end, whether or not a batch came (a reduce task of an empty partition maps none).
        over_none = not first and s["kind"] == "aggregate" and not inp["keys"]

        def mapper(batch: Any) -> Optional[pa.Table]:
            if first:
                where = _input_file()
                t = self._table_of(where)
                reader = self.readers[t]
                if batch.schema != reader.schema:  # Parquet (text comes typed from _text_reader)
                    batch = reader.parquet(batch, where)
                table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
                name = self.tables[t].name
                self.count(f"{name} rows read", table.num_rows)
                if reader.by_record_form:
                    self.count(f"{name} blocks read by the record form", reader.by_record_form)
                    reader.by_record_form = 0
                if s["kind"] == "join":
                    return self._join(s).map_side(t, table)
            else:
                table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            if held is None:
                return shaped(run_pipe(pipe["ops"], table, self.tables, s))
            return released(held.add(table))

        def mapper_final() -> Any:
            ready = held.take() if held is not None else None
            if ready is not None:
                return released(ready)  # a global aggregate's has its row over no rows (_with_empty_row)
            return _empty_partial(s) if over_none else None

        def released(ready: Any) -> Any:
            """The map output of rows a held probe let go: a table, or one table a batch
            (``_ProbeAhead``: made as the engine takes them, ``VectorStep.mapper``)."""
            if ready is None:
                return None
            return shaped(ready) if isinstance(ready, pa.Table) else map(shaped, ready)

        def shaped(table: pa.Table) -> pa.Table:
            """The pipe's rows as the stage's map output."""
            n = table.num_rows
            if s["kind"] == "map":  # a query without a shuffle: its rows are the output
                self.count(f"Stage-{s['id'] + 1} rows out", n)
                out = table.rename_columns(_names("o", table.num_columns))
                return out.append_column("k", pa.nulls(n, pa.int8()))
            if s["kind"] == "aggregate":
                cols: Dict[str, Any] = {}
                for j, k in enumerate(inp["keys"]):
                    cols[f"k{j}"] = _key_array(k, table)
                for j, a in enumerate(s["spec"]["aggs"]):
                    if a["arg"] is None:
                        continue
                    v = _array(kernel(a["arg"], table), n)
                    if _collects_distinct(a):
                        cols[f"a{j}"] = _canonical(v)  # -0.0 is 0.0, a NaN is NaN
                        continue
                    if a["func"] in ("avg", "count"):
                        cols[f"a{j}.n"] = pc.cast(pc.is_valid(v), pa.int64())
                    if a["func"] != "count":
                        cols[f"a{j}"] = v
                    if _max_sees_nan(a):
                        cols[f"a{j}.nan"] = pc.cast(pc.is_nan(v), pa.int8())
                    if _checked_sum(a):
                        cols[f"a{j}.f"] = pc.cast(v, pa.float64(), safe=False)  # rounded: a bound
                if not inp["keys"]:
                    return _with_empty_row(cols, n)
                return pa.table(cols)
            if s["kind"] == "window" and inp["keys"]:  # the rows, keyed by their partition
                for j, k in enumerate(inp["keys"]):
                    table = table.append_column(f"k{j}", _key_array(k, table))
                return table
            # sort / limit / a window without PARTITION BY: one group (the record form's key []),
            # the rows as they are
            return table.append_column("k", pa.nulls(n, pa.int8()))

        return mapper, (mapper_final if held is not None or over_none else None)

    def _top_k(self, s: Dict[str, Any]) -> Callable[[pa.Table], pa.Table]:
        keys, limit = s["spec"]["keys"], s["spec"]["limit"]
        return lambda t: sort_table(t, keys).slice(0, limit)

    def _join(self, s: Dict[str, Any]) -> ShuffledJoin:
        join = self._joins.get(s["id"])
        if join is None:
            join = self._joins[s["id"]] = ShuffledJoin(s, self.tables, self.readers)
        return join

    # ------------------------------------------------------------------ reduce side

    def _reducer(self, s: Dict[str, Any], last: bool) -> Callable[[pa.Table], pa.Table]:
        kind = s["kind"]
        stage = f"Stage-{s['id'] + 1} rows out"

        def reducer(table: pa.Table) -> pa.Table:
            if kind == "aggregate":
                nkeys = s["spec"]["nkeys"]
                cols = [table.column(f"k{j}") for j in range(nkeys)]
                for j, a in enumerate(s["spec"]["aggs"]):
                    cols.append(_finish(a, table, j, f"Stage-{s['id'] + 1}"))
                rows = pa.table(cols, names=_names("c", len(cols)))
                keys = table.select(_names("k", nkeys) if nkeys else ["k"])
            elif kind == "window":
                nk = len(s["inputs"][0]["keys"])
                knames = _names("k", nk) if nk else ["k"]
                rows, keys = window_table(s["spec"], table.drop_columns(knames), table.select(knames), nk)
            elif kind == "join":
                rows, kb = self._join(s).reduce_side(table)
                keys = pa.table({"kb": kb, "k": pa.nulls(rows.num_rows, pa.int8())})
            else:
                rows = table.drop_columns(["k"])
                if kind == "sort":
                    rows = sort_table(rows, s["spec"]["keys"])
                    if s["spec"]["limit"] is not None:
                        rows = rows.slice(0, s["spec"]["limit"])
                else:
                    rows = rows.slice(0, s["spec"]["n"])
                keys = pa.table({"k": pa.nulls(rows.num_rows, pa.int8())})
            if s["post"]:
                # the keys ride along beside the rows the post pipe keeps
                both = run_post(s["post"], _append(rows, keys), rows.num_columns, self.tables)
                names = both.schema.names
                rows, keys = both.select(names[: -keys.num_columns]), both.select(keys.schema.names)
            self.count(stage, rows.num_rows)
            if not last:
                if kind == "aggregate" and s["spec"]["nkeys"] and rows.num_rows > 1:  # (a window's are)
                    # in key-byte order, as the record form's reducer emits its groups: the next
                    # stage sees ties in the record form's order (a join's rows are in it already)
                    rows = rows.take(pc.sort_indices(key_bytes(keys, keys.schema.names)))
                return rows
            out = rows.rename_columns(_names("o", rows.num_columns))
            return _append(out, keys)

        return reducer


def _with_empty_row(cols: Dict[str, Any], n: int) -> pa.Table:
    """A global aggregate's map output: its *n* rows, all in one group (the record form's key
    ``[]``), then a row that adds nothing to any aggregate (no value, counts of 0).

    SQL gives an aggregate without GROUP BY one row even over no rows; the record form's map
    tasks each send an empty partial for it (``SqlJob._mapper_final``). Here every batch sends
    one, so a query whose filter keeps no row still has its group; ``count(*)`` is the sum of
    ``one``, which is 0 on the added row."""
    cols = {"k": pa.nulls(n, pa.int8()), "one": pa.repeat(pa.scalar(1, pa.int64()), n), **cols}
    empty = {
        name: pa.array([0], pa.int64()) if name == "one" or name.endswith(".n") else pa.nulls(1, col.type)
        for name, col in cols.items()
    }
    return pa.concat_tables([pa.table(cols), pa.table(empty)])


def _empty_partial(s: Dict[str, Any]) -> pa.Table:
    """Global aggregate stage *s*'s map output over no rows (``_with_empty_row`` of none), typed
    by the plan, since no batch may have come to type it: each value column has the Arrow type
    of its argument's SQL type (``arrow_type``). That may be a narrower decimal than the type a
    kernel of the stage before gives the column (``max(dc) * 3``: the plan's decimal(27,2),
    Arrow's decimal(28,2)); ``unify_schemas`` widens it to the other partials' precision. (Not
    Arrow's NULL type, whose DISTINCT partial has no kernel.)"""
    cols: Dict[str, Any] = {}
    for j, a in enumerate(s["spec"]["aggs"]):  # the columns of ``_mapper``'s ``shaped``, in order
        if a["arg"] is None:
            continue
        values = pa.array([], arrow_type(from_string(a["arg_type"])) if a["arg_type"] else pa.null())
        if _collects_distinct(a):
            cols[f"a{j}"] = values
            continue
        if a["func"] in ("avg", "count"):
            cols[f"a{j}.n"] = pa.array([], pa.int64())
        if a["func"] != "count":
            cols[f"a{j}"] = values
        if _max_sees_nan(a):
            cols[f"a{j}.nan"] = pa.array([], pa.int8())
        if _checked_sum(a):
            cols[f"a{j}.f"] = pa.array([], pa.float64())
    return _with_empty_row(cols, 0)


def _first_rows(n: int) -> Callable[[pa.Table], pa.Table]:
    return lambda table: table.slice(0, n)


def _append(table: pa.Table, more: pa.Table) -> pa.Table:
    for name, column in zip(more.schema.names, more.columns):
        table = table.append_column(name, column)
    return table


def run_post(
    post: Sequence[List[Any]], table: pa.Table, width: int, tables: Sequence[TableDef] = ()
) -> pa.Table:
    """A stage's post pipe over the first *width* columns of *table*, the others (its keys)
    kept beside the rows it keeps (beside each of a joined row's matches)."""
    extra = table.schema.names[width:]
    for op in post:
        rows = table.select(table.schema.names[:width])
        if op[0] == "filter":
            table = table.filter(_array(kernel(op[1], rows), rows.num_rows, pa.bool_()))
            continue
        if op[0] == "project":
            cols = [_array(kernel(x, rows), rows.num_rows) for x in op[1]]
            new = pa.table(cols, names=_names("c", len(cols)))
        else:
            new, taken = broadcast_join(op[1], tables).probe(rows)
            table = table.take(taken)
        new = new.rename_columns(_names("c", new.num_columns))
        table = _append(new, table.select(extra))
        width = new.num_columns
    return table


def _input_file() -> str:
    """The map task's input file, read as the record form's mapper reads it ("": none known)."""
    return jobconf_from_env("mapreduce.map.input.file") or ""


def _join_key_bytes(table: pa.Table) -> pa.Array:
    """A shuffled join's key bytes: made map-side (``ShuffledJoin.map_side``), carried in ``kb``."""
    return table.column("kb")


# ------------------------------------------------------------------------------- shuffled joins


class ShuffledJoin:
    """``operators.join_rows`` on Arrow: a join stage whose sides both come from tables.

    Map side (``map_side``): each side's pipe over a table's batch, its key's record-form bytes
    (``kb``, which partition and order it as the record form's shuffle does), whether the key
    holds a NULL (``kn``), the side (``s``: 0 left, 1 right) and the row, as the columns of both
    sides (``l0..``, ``r0..``; the other side's NULL), so that every map output has one schema.

    Reduce side (``reduce_side``), over a slice of whole key groups:

    1. The slice is sorted stably by ``kb``: each key's rows are together, each side's rows in
       the order the record form's reducer sees them (map task, then row).
    2. Left and right rows whose key holds no NULL are hash-joined on ``kb`` (Arrow's join);
       the residual condition, if any, drops pairs (NULL drops, as False).
    3. The rows the join kind keeps alone are added: a left row without a pair (LEFT, FULL;
       every left row of a NULL key), a right one (RIGHT, FULL); SEMI and ANTI keep left rows
       with and without a pair.
    4. Everything is put in ``join_rows``' order: by key group, then the left rows in order,
       each with its pairs in the right side's order (or alone), then the right rows alone.
    """

    def __init__(
        self, s: Dict[str, Any], tables: Sequence[TableDef], readers: Dict[int, TableReader]
    ) -> None:
        self.spec = s["spec"]
        self.kind = self.spec["join"]
        self.inputs = s["inputs"]
        self.tables = tables
        self.readers = readers
        self.widths = self.spec["widths"]
        self._schema: Optional[pa.Schema] = None

    def schema(self) -> pa.Schema:
        """The map output's schema: each side's columns as its pipes give them."""
        if self._schema is None:
            fields = [("kb", pa.binary()), ("kn", pa.bool_()), ("s", pa.int8())]
            for k, prefix in enumerate("lr"):
                types: List[pa.DataType] = [pa.null()] * self.widths[k]
                for p in self.inputs[k]["pipes"]:  # a UNION ALL: the first type that is not NULL's
                    t = p["source"][1]
                    empty = run_pipe(p["ops"], self.readers[t].schema.empty_table(), self.tables)
                    types = [x if not pa.types.is_null(x) else y for x, y in zip(types, empty.schema.types)]
                fields += [(f"{prefix}{c}", kind) for c, kind in enumerate(types)]
            self._schema = pa.schema(fields)
        return self._schema

    def map_side(self, t: int, table: pa.Table) -> pa.Table:
        """The map output of a batch of table *t* (typed columns ``c0..``)."""
        schema = self.schema()
        out = []
        for k, inp in enumerate(self.inputs):
            for p in inp["pipes"]:
                if p["source"][1] != t:
                    continue
                rows = run_pipe(p["ops"], table, self.tables)
                n = rows.num_rows
                keys = rows.select([])  # n rows; no column for a cross join (key [])
                kn = pa.repeat(pa.scalar(False), n)
                for j, e in enumerate(inp["keys"]):
                    key = _key_array(e, rows)
                    keys = keys.append_column(f"k{j}", key)
                    kn = pc.or_(kn, pc.is_null(key))
                cols = [key_bytes(keys, keys.schema.names), kn, pa.repeat(pa.scalar(k, pa.int8()), n)]
                for j in (0, 1):
                    for c in range(self.widths[j]):
                        kind = schema.field(3 + j * self.widths[0] + c).type
                        if j != k:
                            cols.append(pa.nulls(n, kind))
                            continue
                        v = rows.column(c)
                        cols.append(v if v.type == kind else pc.cast(v, kind))
                out.append(pa.Table.from_arrays(cols, schema=schema))
        return pa.concat_tables(out) if len(out) != 1 else out[0]

    def reduce_side(self, table: pa.Table) -> Tuple[pa.Table, pa.Array]:
        """The joined rows of a slice of whole key groups (columns ``c0..``), in the record
        form's order, and each row's key bytes."""
        import numpy as np

        table = table.take(byte_order(table.column("kb")))  # stable: step 1
        n = table.num_rows
        kb = table.column("kb").combine_chunks()
        group = np.cumsum(_changes([kb], n))  # each row's key group, in key order
        side = table.column("s").to_numpy()
        joinable = ~table.column("kn").to_numpy(zero_copy_only=False)
        positions = np.arange(n, dtype=np.int64)
        left = positions[(side == 0) & joinable]
        right = positions[(side == 1) & joinable]
        nl, nr = self.widths
        lcols = table.select(_names("l", nl))
        rcols = table.select(_names("r", nr))
        # step 2: the pairs of equal keys
        pairs = pa.table({"kb": kb.take(pa.array(left)), "i": pa.array(left)}).join(
            pa.table({"kb": kb.take(pa.array(right)), "j": pa.array(right)}),
            "kb",
            join_type="inner",
            use_threads=False,
        )
        i = pairs.column("i").to_numpy()
        j = pairs.column("j").to_numpy()
        if self.spec["residual"] is not None and len(i):
            joined = self._rows(lcols, rcols, pa.array(i), pa.array(j))
            keep = pc.fill_null(_array(kernel(self.spec["residual"], joined), len(i), pa.bool_()), False)
            mask = keep.to_numpy(zero_copy_only=False)
            i, j = i[mask], j[mask]
        # step 3: the rows kept alone
        lefts = positions[side == 0]
        paired = np.isin(lefts, i)
        if self.kind in ("semi", "anti"):
            li = lefts[paired] if self.kind == "semi" else lefts[~paired]
            rows = lcols.take(pa.array(li)).rename_columns(_names("c", nl))
            return rows, kb.take(pa.array(li))
        entries = [(i, j, 0)]  # (left row, right row, phase): -1 for a side's NULLs
        if self.kind in ("left", "full"):
            alone = lefts[~paired]
            entries.append((alone, np.full(len(alone), -1), 0))
        if self.kind in ("right", "full"):
            rights = positions[side == 1]
            alone = rights[~np.isin(rights, j)]
            entries.append((np.full(len(alone), -1), alone, 1))
        li = np.concatenate([e[0] for e in entries]).astype(np.int64)
        ri = np.concatenate([e[1] for e in entries]).astype(np.int64)
        phase = np.concatenate([np.full(len(e[0]), e[2], np.int8) for e in entries])
        # step 4: join_rows' order (a right row alone comes after its key's left rows)
        placed_by = np.where(phase == 0, li, ri)
        order = np.lexsort((ri, placed_by, phase, group[placed_by]))
        li, ri = li[order], ri[order]
        rows = self._rows(lcols, rcols, _nullable(li), _nullable(ri))
        return rows, kb.take(pa.array(placed_by[order]))

    def _rows(self, lcols: pa.Table, rcols: pa.Table, li: pa.Array, ri: pa.Array) -> pa.Table:
        """The joined rows of left rows *li* and right rows *ri* (a NULL index: that side's NULLs)."""
        columns = [*lcols.take(li).columns, *rcols.take(ri).columns]
        return pa.table(columns, names=_names("c", len(columns)))


def _nullable(positions: Any) -> pa.Array:
    """Row positions as take's indices, -1 as NULL (the row of NULLs of a side alone)."""
    return pa.array(positions, pa.int64(), mask=positions < 0)


# ------------------------------------------------------------------------------- map-side joins

#: A probe this many times smaller than the broadcast side (in rows) looks the side's keys up in
#: its own (``BroadcastJoin.probe``), rather than its keys up in the side's index.
SMALL_PROBE_RATIO = 16
#: Small probes a process answers by ``is_in`` passes over a side before it builds the side's index.
SMALL_PROBES = 8


def _task_budget() -> int:
    """The task's memory budget, which a task of the engine's has (the driver, which only builds
    the steps, holds nothing)."""
    from engine.environment import TASK_BUDGET_VAR
    from engine.options import DEFAULT_MEMORY_BUDGET

    return int(os.environ.get(TASK_BUDGET_VAR) or DEFAULT_MEMORY_BUDGET)


def _first_join(pipe_ops: Sequence[List[Any]]) -> Optional[int]:
    """Where a pipe's first map-side join is among its ops (the others filter and project)."""
    return next((at for at, op in enumerate(pipe_ops) if op[0] not in ("filter", "project")), None)


class _HeldRows:
    """A pipe cut before its first map-side join (``_first_join``): the ops *before* it, run on
    each batch, and the join and the ops *after* it, run on the rows a subclass holds back;
    *tables* are the plan's, *stage* the one the pipe feeds."""

    def __init__(
        self,
        before: List[List[Any]],
        after: List[List[Any]],
        tables: Sequence[TableDef],
        stage: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.before, self.after, self.tables, self.stage = before, after, tables, stage
        self.setup()

    def setup(self) -> None:
        """The subclass's own state, once the pipe's parts are set."""

    @classmethod
    def of(
        cls, pipe_ops: Sequence[List[Any]], tables: Sequence[TableDef], stage: Optional[Dict[str, Any]] = None
    ) -> Any:
        """The subclass's hold of a pipe that has a map-side join it takes (``takes``), else None."""
        at = _first_join(pipe_ops)
        if at is None or not cls.takes(pipe_ops, at):
            return None
        return cls(list(pipe_ops[:at]), list(pipe_ops[at:]), tables, stage)

    @staticmethod
    def takes(pipe_ops: Sequence[List[Any]], at: int) -> bool:
        """Whether the subclass holds rows for the join at *at* of *pipe_ops*: any join."""
        return True


class _HeldProbe(_HeldRows):
    """A pipe whose map-side join probes a side much larger than what reaches the join (a
    selective filter before it: AMPLab 3A keeps ~0.6% of its visits): the rows that pass the ops
    before the join are held back, batch after batch, until they are a sixteenth of the side's
    rows (or a batch of the task's input, ``block_bytes`` of its budget, or the task's input ends:
    the step's ``mapper_final``; while another worker writes the shared side, the cap or the
    end, so that this task parses its split meanwhile rather than wait), then
    joined in one probe, which looks the side's keys up in theirs (``BroadcastJoin.probe``) and
    needs no index of the side (a 1M-row side's: ~0.4 s of hashing and sorting a process). The
    rows stay in input order: what comes out is what batch-by-batch probes would give, at once
    (an error of a held batch's later ops comes after an error of a later batch's filter, where
    the record form would raise the first; the query fails either way, naming the split)."""

    def setup(self) -> None:
        from engine.arrow.read import block_bytes

        self.held: List[pa.Table] = []
        self.rows = self.nbytes = 0
        self.side_rows: Optional[int] = None  # the join's side, once loaded
        self.cap = block_bytes(_task_budget())

    @staticmethod
    def takes(pipe_ops: Sequence[List[Any]], at: int) -> bool:
        """A join of one key with a filter before it (without one, a batch reaches the join
        whole: nothing to gain by holding)."""
        return len(pipe_ops[at][1]["big_keys"]) == 1 and any(o[0] == "filter" for o in pipe_ops[:at])

    def add(self, table: pa.Table) -> Optional[pa.Table]:
        """The pipe's rows of everything held, once that is enough for one probe; else None."""
        table = run_pipe(self.before, table, self.tables)
        self.held.append(table)
        self.rows += table.num_rows
        self.nbytes += table.nbytes
        if self.side_rows is None:
            # Not while another worker writes the shared side: this task reads on, holding its
            # rows up to the cap, and waits for the side only when it must probe.
            join = broadcast_join(self.after[0][1], self.tables, wait=False)
            self.side_rows = None if join is None else join.small_keys.num_rows
        if self.nbytes < self.cap and (
            self.side_rows is None or self.rows * SMALL_PROBE_RATIO < self.side_rows
        ):
            return None
        return self.take()

    def take(self) -> Optional[pa.Table]:
        """The pipe's rows of everything held (None when nothing is)."""
        if not self.held:
            return None
        table = concat(self.held, [""] * len(self.held))  # their schemas unified (an all-NULL batch's)
        self.held, self.rows, self.nbytes = [], 0, 0
        return run_pipe(self.after, table, self.tables, self.stage)


class _ProbeAhead(_HeldRows):
    """A pipe whose map-side join's side (or its hash index) another worker is still writing:
    rather than wait for it, this task reads on -- each batch through the ops before the join,
    its join keys worked out (``_ProbeKeys``), what a probe does first -- holding the
    batches, up to a quarter of its budget (then it waits), until the side is there (or its input
    ends: ``take``, then waiting too). Each held batch is then probed on its own, in input order,
    with its keys as worked out: the rows are what probing it on arrival would give. Once the
    side is there, a batch goes straight through. A join of 10M visits with 1M pages (J) from
    Parquet: the worker that waited ~0.6 s for the other to write the side and its index reads
    its first split meanwhile."""

    def setup(self) -> None:
        self.spec = self.after[0][1]
        self.used = pipe_columns(list(self.after[1:]), self.stage)
        self.held: List[Tuple[pa.Table, _ProbeKeys]] = []
        self.nbytes = 0
        self.ready = False  # the side and its index are there
        self.cap = _task_budget() // 4

    def add(self, table: pa.Table) -> Any:
        """The pipe's rows of *table* once the side is there; the first time, of the batches
        held and of *table*, a table each, probed as they are taken (also when what is held
        fills the cap); else None, *table* held."""
        table = run_pipe(self.before, table, self.tables)
        if self.ready:
            return self._probed(table, None)
        keyed = _ProbeKeys.of(self.spec, table)
        join = broadcast_join(self.spec, self.tables, wait=False)
        self.held.append((table, keyed))
        self.nbytes += keyed.nbytes_beside(table)
        if join is not None and join.index_ready(keyed.keys):
            self.ready = True
        elif self.nbytes < self.cap:
            return None
        return self.take()

    def take(self) -> Optional[Iterator[pa.Table]]:
        """The pipe's rows of every batch held (None when none is), a table each, probed as
        they are taken (the first waits for the side): a batch's joined rows at a time."""
        if not self.held:
            return None
        held, self.held, self.nbytes = self.held, [], 0
        self.ready = True  # the first probe waits for the side and its index
        return (self._probed(table, keyed) for table, keyed in held)

    def _probed(self, table: pa.Table, keyed: Optional[_ProbeKeys]) -> pa.Table:
        used = None if self.used is None else set(self.used)
        table, _ = broadcast_join(self.spec, self.tables).probe(table, used, keyed)
        return run_pipe(self.after[1:], table, self.tables, self.stage)


#: The broadcast sides this process loaded for the job ``_JOINS_JOB``, by their spec.
_JOINS: Dict[str, BroadcastJoin] = {}
_JOINS_JOB: Optional[str] = None


@overload
def broadcast_join(spec: Dict[str, Any], tables: Sequence[TableDef]) -> BroadcastJoin: ...


@overload
def broadcast_join(
    spec: Dict[str, Any], tables: Sequence[TableDef], wait: bool
) -> Optional[BroadcastJoin]: ...


def broadcast_join(
    spec: Dict[str, Any], tables: Sequence[TableDef], wait: bool = True
) -> Optional[BroadcastJoin]:
    """The task's join of *spec* (its small side loaded once per process, on first use); with
    *wait* false, None while another process is writing the job's shared side (``_shared_join``).

    A process keeps one job's sides: one that runs tasks of more than one job (``--executor
    auto`` runs a small query's in the driver) must not join the next query with a side read
    before its table was written again, nor hold every earlier query's."""
    global _JOINS_JOB
    job = jobconf_from_env("mapreduce.job.id", "")
    if job != _JOINS_JOB:
        _JOINS.clear()
        _JOINS_JOB = job
    key = protocol.dumps(spec)
    join = _JOINS.get(key)
    if join is None:
        shared = jobconf_from_env("mapreduce.job.local.dir", None)
        if shared and os.path.isdir(shared):
            digest = hashlib.sha1(key.encode()).hexdigest()[:20]
            join = _shared_join(spec, tables, os.path.join(shared, f".broadcast-{digest}"), wait)
            if join is None:
                return None
        else:
            join = BroadcastJoin.read(spec, tables)
        _JOINS[key] = join
        pa.default_memory_pool().release_unused()  # the reads' and copies' memory, back to the system
    return join


def _shared_join(
    spec: Dict[str, Any], tables: Sequence[TableDef], path: str, wait: bool = True
) -> Optional[BroadcastJoin]:
    """The join of *spec* from the job's shared copy of its side at *path* (``_made_once``; Hive's
    map join builds its hash table once, in a local task, for every mapper): the other workers
    wait for it rather than read the side too, and every process maps the same pages (a worker's
    copy of a 1M-row side: ~70 MB, ~0.5 s). With *wait* false, None rather than a wait while
    another process holds the lock."""
    join = _made_once(
        path,
        lambda: BroadcastJoin.read(spec, tables),
        BroadcastJoin.save,
        lambda p: BroadcastJoin.load(spec, p),
        wait,
    )
    return None if join is BUSY else join


def _shared_index(
    shared: str,
    types: Tuple[pa.DataType, ...],
    columns: Sequence[pa.Array],
    rows: Any,
    wait: bool = True,
) -> Any:
    """The hash index of key *columns* (of *types*) of the side mapped from directory *shared*,
    made once beside it as the side itself (``_made_once``): one build a job, not one a worker (a
    1M-row side's: ~0.4 s), and one copy in memory, mapped by every worker (~32 bytes a row), so
    that a side's memory does not grow with the workers (``session.engine_broadcast_bytes``).
    ``None`` where a key type has no hash here; with *wait* false, ``BUSY`` while another
    process builds it."""
    from engine.arrow.keys import key_hash_name

    # the hash is in the name too: a process that hashed otherwise finds no index to misread
    fast = fast_hash(len(rows))
    digest = hashlib.sha1(repr([str(t) for t in types] + [key_hash_name(fast)]).encode()).hexdigest()[:12]
    return _made_once(
        os.path.join(shared, f"index-{digest}"),
        lambda: _HashIndex.build(columns, rows, fast),
        _HashIndex.save,
        lambda p: _HashIndex.load(columns, p, fast),
        wait,
    )


#: What ``_made_once`` gives, not waiting, while another process makes the thing.
BUSY = object()


def _made_once(
    path: str,
    make: Callable[[], Any],
    save: Callable[[Any, str], None],
    load: Callable[[str], Any],
    wait: bool = True,
) -> Any:
    """What *make* gives, shared by a job's processes through directory *path*: the first to get
    the lock (``path.lock``) makes it and *save*s it there (``_write_directory``: whole or not at
    all); every process then *load*s it from there, mapped rather than copied. With *wait* false,
    ``BUSY`` rather than a wait while another process holds the lock. Where the save fails (no
    room to share it), the process that made it keeps its own."""
    if not os.path.isdir(path):
        import fcntl

        with open(path + ".lock", "ab") as lock:
            try:  # the lock is released when closed, or when a dead task's process ends
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return BUSY
            if not os.path.isdir(path):
                made = make()
                try:
                    save(made, path)
                except OSError:
                    return made
    return load(path)


def _write_directory(path: str, write: Callable[[str], None]) -> None:
    """Directory *path* with the files *write* puts in the directory it is given, appearing whole
    or not at all: written beside it, then renamed."""
    import shutil
    import tempfile

    temp = tempfile.mkdtemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        write(temp)
        os.rename(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _taken(table: pa.Table, rows: Any, used: Optional[set], first: int) -> pa.Table:
    """*table*'s *rows* (``take``), of the columns whose place in the joined row (*first* +
    their own) is in *used* (all where it is None); the others as NULL columns of their type."""
    if used is None:
        return table.take(rows)
    n = len(rows)
    columns = [
        column.take(rows) if first + c in used else pa.nulls(n, column.type)
        for c, column in enumerate(table.columns)
    ]
    return pa.table(columns, names=table.schema.names)


def _keys_are_columns(spec: Dict[str, Any], small: pa.Table) -> bool:
    """Whether the side's join keys (``BroadcastJoin.small_keys``) are its own columns as they
    are -- each key a column, not floating-point (``_canonical`` changes those), without a NULL
    (a row with one is dropped) -- so that the shared side need not write them a second time
    (a 1M-row side's URL keys: ~60 MB): ``load`` takes them from the side."""
    for e in spec["small_keys"]:
        if e[0] != "col":
            return False
        column = small.column(e[1])
        if pa.types.is_floating(column.type) or column.null_count:
            return False
    return True


def _keys_table(keys: Sequence[Any], n: int) -> pa.Table:
    """Join keys ``k0..`` of the side's *n* rows, beside each one's row ``__j``."""
    import numpy as np

    rows = pa.array(np.arange(n, dtype=np.int64))
    return pa.table([*keys, rows], names=[*_names("k", len(keys)), "__j"])


class BroadcastJoin:
    """``operators.BroadcastJoin`` on Arrow: the small side read into a table once, each batch of
    the big side joined with it through its hash index (``_HashIndex``; Arrow's join where a key
    type has none), then put in the record form's order -- each big row's matches in the small
    side's order, a big row without one where the join keeps it.

    ``small`` is the side's rows (columns ``c0..``); ``small_keys`` its join keys ``k0..`` of
    the rows whose keys have no NULL, beside each one's row (``__j``)."""

    def __init__(self, spec: Dict[str, Any], small: pa.Table, small_keys: pa.Table) -> None:
        self.spec = spec
        self.kind = spec["join"]
        self.small_left = spec["small"] == "left"
        self.nl, self.nr = spec["widths"]
        self.small = small
        self.small_keys = small_keys
        self._indexes: Dict[Tuple[pa.DataType, ...], Optional[_HashIndex]] = {}
        self._small_probes = 0  # answered without the index (_probe_index)
        self.shared: Optional[str] = None  # the directory ``load`` mapped the side from

    @classmethod
    def read(cls, spec: Dict[str, Any], tables: Sequence[TableDef]) -> BroadcastJoin:
        """The join of *spec* with its small side read from its *tables*' files."""
        parts = []
        for p in spec["pipes"]:
            table = tables[p["table"]]
            reader = TableReader(table, pipe_columns(p["ops"]))
            for piece in _whole_table(table, reader):
                parts.append(run_pipe(p["ops"], piece))
        # one chunk: a take from many chunks concatenates them first, at every probe
        small = (pa.concat_tables(parts) if len(parts) > 1 else parts[0]).combine_chunks()
        keys = [_key_array(k, small) for k in spec["small_keys"]]
        keep = None
        for k in keys:  # NULL equals nothing: a small row with a NULL key matches no row
            if k.null_count:
                keep = pc.is_valid(k) if keep is None else pc.and_(keep, pc.is_valid(k))
        small_keys = _keys_table(keys, small.num_rows)
        if keep is not None:
            small_keys = small_keys.filter(keep)
        return cls(spec, small, small_keys)

    def save(self, path: str) -> None:
        """The side and its keys as Arrow IPC files in directory *path*, which appears whole or
        not at all (``_write_directory``). Keys that are the side's own columns
        (``_keys_are_columns``) are not written twice: ``load`` takes them from the side."""
        # No index here: the first process to probe with a batch that needs one builds it and
        # adds it to this directory (``_index``); a selective join never does.
        files = [("side", self.small)]
        if not _keys_are_columns(self.spec, self.small):
            files.append(("keys", self.small_keys))

        def write(directory: str) -> None:
            for name, table in files:
                with pa.OSFile(os.path.join(directory, f"{name}.arrow"), "wb") as sink:
                    with pa.ipc.new_file(sink, table.schema) as writer:
                        writer.write_table(table)

        _write_directory(path, write)

    @classmethod
    def load(cls, spec: Dict[str, Any], path: str) -> BroadcastJoin:
        """The join of *spec* with the side ``save`` wrote in *path*, its columns mapped from the
        files, not copied."""

        def mapped(name: str) -> pa.Table:
            return pa.ipc.open_file(pa.memory_map(os.path.join(path, f"{name}.arrow"))).read_all()

        side = mapped("side")
        if os.path.exists(os.path.join(path, "keys.arrow")):
            keys = mapped("keys")
        else:  # the side's own columns (save found them so)
            keys = _keys_table([side.column(e[1]) for e in spec["small_keys"]], side.num_rows)
        join = cls(spec, side, keys)
        join.shared = path
        return join

    def probe(
        self, big: pa.Table, used: Optional[set] = None, keyed: Optional[_ProbeKeys] = None
    ) -> Tuple[pa.Table, pa.Array]:
        """The joined rows of *big* (columns ``c0..``), and the big row each came from; with
        *used*, the joined columns read after the join: the others come out NULL (not taken);
        *keyed*, *big*'s keys as ``_ProbeKeys.of`` gives them (worked out before the side was
        there: ``_ProbeAhead``)."""
        import numpy as np

        n = big.num_rows
        if keyed is None:
            keyed = _ProbeKeys.of(self.spec, big)
        keys = keyed.keys
        small_keys = self._small_keys_as(keys)
        rows = pa.array(np.arange(n, dtype=np.int64))
        index = self._probe_index(small_keys, keys) if keys else None
        if index is not None:
            i, j = index.pairs(keyed)
        elif not keys:  # a cross join (a residual condition, maybe): every pair, by big row
            side = small_keys.column("__j").to_numpy()
            i = pa.array(np.repeat(np.arange(n, dtype=np.int64), len(side)))
            j = pa.array(np.tile(side, n))
        else:  # a key type without a hash here: Arrow's join
            left = pa.table([*keys, rows], names=[*_names("k", len(keys)), "__i"])
            knames = _names("k", len(keys))
            pairs = left.join(small_keys, knames, knames, join_type="inner", use_threads=False)
            pairs = pairs.select(["__i", "__j"]).sort_by([("__i", "ascending"), ("__j", "ascending")])
            i, j = pairs.column("__i"), pairs.column("__j")
        if used is not None and self.spec["residual"] is not None:
            used = used | E.columns_used(self.spec["residual"])
        big_first = 0 if not self.small_left else self.small.num_columns
        small_first = 0 if self.small_left else big.num_columns
        joined = self._rows(_taken(big, i, used, big_first), _taken(self.small, j, used, small_first))
        if self.spec["residual"] is not None:
            keep = _array(kernel(self.spec["residual"], joined), joined.num_rows, pa.bool_())
            keep = pc.fill_null(keep, False)
            joined, i = joined.filter(keep), i.filter(keep)
        if self.kind in ("semi", "anti"):
            hit = pc.is_in(rows, value_set=i.combine_chunks())
            taken = pc.indices_nonzero(hit if self.kind == "semi" else pc.invert(hit))
            return big.take(taken), taken
        if self.kind in ("left", "right"):  # the big side is the preserved one
            alone = pc.indices_nonzero(pc.invert(pc.is_in(rows, value_set=i.combine_chunks())))
            if len(alone):
                padding = pa.table(
                    [pa.nulls(len(alone), f.type) for f in self.small.schema],
                    names=self.small.schema.names,
                )
                lonely = self._rows(big.take(alone), padding)
                both = pa.concat_tables([joined, lonely])
                order = pc.sort_indices(pa.concat_arrays([i.combine_chunks(), alone.cast(pa.int64())]))
                # stable: a big row's matches keep their order; a row alone has none
                return both.take(order), pa.concat_arrays([i.combine_chunks(), alone.cast(pa.int64())]).take(
                    order
                )
        return joined, i.combine_chunks() if isinstance(i, pa.ChunkedArray) else i

    def _small_keys_as(self, keys: Sequence[pa.Array]) -> pa.Table:
        """The side's keys (``small_keys``), each cast to its probe key's type."""
        small_keys = self.small_keys
        for j, k in enumerate(keys):  # both sides of a key in one type
            column = small_keys.column(f"k{j}")
            if column.type != k.type:
                small_keys = small_keys.set_column(j, f"k{j}", pc.cast(column, k.type))
        return small_keys

    def index_ready(self, keys: Sequence[pa.Array]) -> bool:
        """Whether a probe of *keys* would find the side's index of their types, or build it
        itself: not while another process builds the shared one (``_shared_index``)."""
        types = tuple(k.type for k in keys)
        if types in self._indexes or self.shared is None or not types:
            return True
        small_keys = self._small_keys_as(keys)
        if self._small_probe(small_keys, keys):
            return True  # answered without the index (_probe_index)
        return self._index(small_keys, types, wait=False) is not BUSY

    def _probe_index(self, small_keys: pa.Table, keys: Sequence[pa.Array]) -> Optional[_HashIndex]:
        """The index to probe *keys* with: for a probe of one key much smaller than the side
        (``SMALL_PROBE_RATIO``), whose side has no index built yet, one of the side rows whose
        key is among the probe's (Arrow's ``is_in``: one pass over the side's keys, no index of
        them); else the side's index (``_index``). Both give the same pairs, in the same order:
        the rows ``is_in`` keeps are every row that can match, in the side's order. Not for
        floating-point keys, whose equality here (``_equal_values``) is not Arrow's set's."""
        types = tuple(k.type for k in keys)
        if self._small_probe(small_keys, keys):
            self._small_probes += 1
            wanted = pc.unique(keys[0])
            hit = pc.is_in(_one_array(small_keys.column("k0")), value_set=wanted, skip_nulls=True)
            some = small_keys.filter(hit)
            index = _HashIndex.build([_one_array(some.column("k0"))], some.column("__j").to_numpy())
            if index is not None:
                return index
        return self._index(small_keys, types)

    def _small_probe(self, small_keys: pa.Table, keys: Sequence[pa.Array]) -> bool:
        """Whether ``_probe_index`` answers a probe of *keys* without the side's index."""
        types = tuple(k.type for k in keys)
        return (
            len(keys) == 1
            and types not in self._indexes
            and len(keys[0]) * SMALL_PROBE_RATIO < small_keys.num_rows
            and not pa.types.is_floating(types[0])
            and self._small_probes < SMALL_PROBES  # then many: the index, once, answers them all
        )

    def _index(self, small_keys: pa.Table, types: Sequence[pa.DataType], wait: bool = True) -> Any:
        """The small side's hash index for probe keys of *types* (built on first use), or
        ``None`` where a key's type has no hash here (Arrow's join then, per batch); with *wait*
        false, ``BUSY`` while another process builds the shared one."""
        types = tuple(types)
        if types not in self._indexes:
            columns = [_one_array(small_keys.column(j)) for j in range(len(types))]
            rows = small_keys.column("__j").to_numpy()
            if self.shared is None:
                index = _HashIndex.build(columns, rows, fast_hash(len(rows)))
            else:
                index = _shared_index(self.shared, types, columns, rows, wait)
                if index is BUSY:
                    return BUSY
            self._indexes[types] = index
        return self._indexes[types]

    def _rows(self, big: pa.Table, small: pa.Table) -> pa.Table:
        first, second = (small, big) if self.small_left else (big, small)
        columns = [*first.columns, *second.columns]
        return pa.table(columns, names=_names("c", len(columns)))


class _HashIndex:
    """The broadcast side's join keys hashed once and sorted by hash, so that a probe batch
    costs its own rows, not the small side's: Arrow's join would build its hash table from the
    small side again for every batch (a 1M-row side: ~0.3 s a batch).

    The sorted hashes are cut into buckets by their top bits (about one row a bucket, as many
    buckets as a power of two holds rows): ``starts[b]`` is where bucket ``b``'s run begins, so
    a probe key finds its run by two lookups instead of two binary searches over the side (a
    1M-row side's: ~20 cache misses each, most of a large probe's time). A probe key's
    candidates are its bucket's rows of equal hash; a pair is kept only if every key column is
    equal, so a collision costs a comparison, never a wrong match. Equal means what Arrow's join
    means: the same bytes (keys are canonical: one NaN, one zero). Pairs come out as Arrow's
    join sorted gives them: by probe row, then small row.
    """

    #: An entry of the index: a key's hash and the key's row in ``columns``, side by side, so
    #: that a probe key's candidates cost one random read each, not one for each field.
    ENTRY = [("hash", "<u8"), ("at", "<i8")]

    def __init__(
        self, columns: Sequence[pa.Array], entries: Any, rows: Any, starts: Any, fast: bool
    ) -> None:
        self.fast = fast  # its string keys hashed by polars (keys.key_hash64), else hash64
        self.columns = columns  # the key columns, in the small side's order
        self.entries = entries  # sorted by hash (ENTRY)
        self.rows = rows  # of each entry, the small table's row; None: its "at" (every side row)
        self.starts = starts  # of each bucket (and one past the last), where its entries begin
        bits = (len(starts) - 1).bit_length() - 1  # 2**bits buckets
        self.shift = 64 - bits  # a hash's bucket: its top bits

    @classmethod
    def build(cls, columns: Sequence[pa.Array], rows: Any, fast: bool = False) -> Optional[_HashIndex]:
        """The index of key *columns* (no NULLs) of small rows *rows*, hashed by polars if *fast*
        (``fast_hash``); ``None`` if a column's type has no hash here."""
        import numpy as np

        hashes = _key_hashes(columns, fast)
        if hashes is None:
            return None
        order = np.argsort(hashes)
        if len(order) > 1 and not np.all(np.diff(hashes[order]) != 0):
            order = np.argsort(hashes, kind="stable")  # ties: a hash's rows in small-side order
        entries = np.empty(len(order), dtype=cls.ENTRY)
        entries["hash"] = hashes[order]
        entries["at"] = order
        bits = max(1, (len(order) - 1).bit_length())  # 2**bits buckets for the rows
        buckets = (entries["hash"] >> np.uint64(64 - bits)).astype(np.intp)
        counts = np.bincount(buckets, minlength=1 << bits)
        starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        rows = np.asarray(rows)
        # a side whose keys are on every row (no NULL dropped) has each key's row as its "at"
        same_rows = len(rows) == len(order) and bool(np.array_equal(rows, np.arange(len(rows))))
        return cls(columns, entries, None if same_rows else rows[order], starts, fast)

    #: The index's arrays, each a NumPy file of its name in the directory ``save`` writes
    #: (``rows`` only where it is not the entries' own ``at``).
    ARRAYS = ("entries", "starts", "rows")

    @staticmethod
    def save(index: Optional[_HashIndex], path: str) -> None:
        """*index* (``None``: the key types have no hash) as directory *path*, which appears whole
        or not at all (``_write_directory``)."""
        import numpy as np

        def write(directory: str) -> None:
            if index is None:
                open(os.path.join(directory, "none"), "wb").close()
                return
            for name in _HashIndex.ARRAYS:
                if getattr(index, name) is not None:
                    np.save(os.path.join(directory, f"{name}.npy"), getattr(index, name))

        _write_directory(path, write)

    @classmethod
    def load(cls, columns: Sequence[pa.Array], path: str, fast: bool) -> Optional[_HashIndex]:
        """The index ``save`` wrote in *path* over key *columns* (hashed as *fast* says), its
        arrays mapped, not copied."""
        import numpy as np

        if os.path.exists(os.path.join(path, "none")):
            return None

        def mapped(name: str) -> Any:
            file = os.path.join(path, f"{name}.npy")
            return np.load(file, mmap_mode="r") if os.path.exists(file) else None

        return cls(columns, mapped("entries"), mapped("rows"), mapped("starts"), fast)

    def pairs(self, keyed: _ProbeKeys) -> Tuple[pa.ChunkedArray, pa.ChunkedArray]:
        """(probe row, small row) of every match of the probe's keys, *keyed* (a NULL matches
        nothing)."""
        import numpy as np

        probe, keys = keyed.rows, keyed.valid
        hashes = _key_hashes(keys, self.fast)
        bucket = (hashes >> np.uint64(self.shift)).astype(np.intp)
        lo = self.starts[bucket]
        counts = self.starts[bucket + 1] - lo
        total = int(counts.sum())
        # each probe row's candidates, its bucket's entries: lo, lo + 1, ... lo + count - 1
        first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        at = first + np.arange(total, dtype=np.int64)
        i = np.repeat(np.arange(len(probe), dtype=np.int64), counts)
        candidates = np.asarray(self.entries[at])
        same = candidates["hash"] == hashes[i]  # of them, those of the probe key's hash
        at, i, where = at[same], i[same], candidates["at"][same]
        equal = np.ones(len(at), dtype=bool)
        for k, column in zip(keys, self.columns):
            equal &= _equal_values(k.take(pa.array(i)), column.take(pa.array(where)))
        small = where[equal] if self.rows is None else np.asarray(self.rows[at[equal]])
        return pa.chunked_array([probe[i[equal]]]), pa.chunked_array([small])


@dataclasses.dataclass(frozen=True)
class _ProbeKeys:
    """A probe batch's join keys (``keys``), and of its rows without a NULL key (``rows``) those
    keys (``valid``): what a probe works out first, ahead of the side where it must wait for it
    (``_ProbeAhead``). Not their hashes: which hash an index takes is its own (``_HashIndex``)."""

    keys: List[pa.Array]
    rows: Any  # NumPy int64 positions
    valid: List[pa.Array]

    @classmethod
    def of(cls, spec: Dict[str, Any], big: pa.Table) -> _ProbeKeys:
        """The keys of join *spec* over probe rows *big*."""
        return cls.of_keys([_key_array(k, big) for k in spec["big_keys"]])

    @classmethod
    def of_keys(cls, keys: List[pa.Array]) -> _ProbeKeys:
        """Probe *keys* (canonical: ``_key_array``)."""
        import numpy as np

        n = len(keys[0]) if keys else 0
        valid = np.ones(n, dtype=bool)
        for k in keys:
            if k.null_count:
                valid &= k.is_valid().to_numpy(zero_copy_only=False)
        rows = np.nonzero(valid)[0]
        kept = keys if len(rows) == n else [k.take(pa.array(rows)) for k in keys]
        return cls(keys, rows, kept)

    def nbytes_beside(self, table: pa.Table) -> int:
        """The bytes of probe rows *table* (a slice's share of its buffers) and of these, its
        keys: a key that is one of its columns (the same data buffer) is not counted again."""
        columns = {b.address for c in table.columns for a in c.chunks for b in a.buffers()[1:] if b}
        keys = {id(k): k for k in [*self.keys, *self.valid]}.values()
        own = sum(k.nbytes for k in keys if not any(b and b.address in columns for b in k.buffers()[1:]))
        return table.nbytes + own + self.rows.nbytes


def _one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """*column* as one array, without a copy where it is one (chunk) already."""
    if not isinstance(column, pa.ChunkedArray):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _fixed_bits(column: pa.Array) -> Any:
    """The values of a fixed-width column (no NULLs) as unsigned integers of their width, or
    ``None`` for a type that is not one (booleans are bits, decimals 16 bytes)."""
    import numpy as np

    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)):
        return None
    width = t.bit_width // 8
    kind = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(width)
    if kind is None:
        return None
    data = column.buffers()[1]
    return np.frombuffer(data, dtype=kind)[column.offset : column.offset + len(column)]


#: Rows of a side from which its index hashes string keys with polars (``keys.key_hash64``): a
#: process's first such hash imports polars (~0.13 s), which a small side's few hashes, or a
#: selective join's index of the side rows it looked up, would not win back.
FAST_HASH_ROWS = 1 << 16


def fast_hash(rows: int) -> bool:
    """Whether the hash index of a side of *rows* keyed rows hashes with polars."""
    return rows >= FAST_HASH_ROWS


def _key_hashes(columns: Sequence[pa.Array], fast: bool = False) -> Any:
    """A 64-bit hash of each row of key *columns* (no NULLs), or ``None`` when a column's type
    has none here: ``key_hash64`` of a string's bytes, a number's bits mixed (Fibonacci hashing)."""
    import numpy as np

    from engine.arrow.keys import key_hash64

    n = len(columns[0]) if columns else 0
    out = np.zeros(n, dtype=np.uint64)
    for column in columns:
        t = column.type
        if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t):
            h = key_hash64(column, fast)
        else:
            bits = _fixed_bits(column)
            if bits is None:
                return None
            h = bits.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
        out *= np.uint64(0x100000001B3)
        out ^= h
    return out


def _equal_values(a: pa.Array, b: pa.Array) -> Any:
    """Whether each value of *a* is the same as *b*'s (no NULLs): bytes for strings, bits for
    numbers (so the one canonical NaN equals itself, as in Arrow's join)."""
    import numpy as np

    bits = _fixed_bits(a)
    if bits is not None:
        return bits == _fixed_bits(b)
    return np.asarray(pc.equal(a, b).to_numpy(zero_copy_only=False), dtype=bool)


def _key_array(e: E.Expr, table: pa.Table) -> Any:
    """Key expression *e* over *table*, canonical as ``ops.canonical`` makes keys: one group, one
    join key for ``-0.0`` and ``0.0``."""
    return _canonical(_one_array(_array(kernel(e, table), table.num_rows)))


def _whole_table(table: TableDef, reader: TableReader) -> List[pa.Table]:
    """Every row of a (local) table, typed as ``TableReader`` reads them: the broadcast side."""
    import bz2
    import gzip

    from engine.formats import parquet_file
    from engine.sql.catalog import location_files

    out = []
    for f in location_files(table):
        if table.format == "parquet":
            pf = parquet_file(f)
            wanted = None  # the columns the query reads (the others come out NULL)
            if reader.used:
                used = {table.columns[i][0] for i in reader.used}
                wanted = [n for n in pf.schema_arrow.names if n.lower() in used] or None
            for batch in pf.iter_batches(columns=wanted, use_threads=False):
                out.append(reader.parquet(batch, f))
            continue
        opener: Any = gzip.open if f.endswith(".gz") else bz2.open if f.endswith(".bz2") else open
        with opener(f, "rb") as fh:
            data = fh.read()
        for _ in range(table.ignore_header):
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        if data:
            out.append(reader.text(data, f))
    if not out:
        out.append(reader.schema.empty_table())
    return out


def _collects_distinct(a: Dict[str, Any]) -> bool:
    """Whether aggregate *a* is ``count``, ``sum`` or ``avg`` of DISTINCT values: each group's
    values are collected and deduplicated (``min``/``max`` of the distinct values are the plain
    ones)."""
    return a["func"] in ("count", "sum", "avg") and bool(a["distinct"])


def _exploded(lists: Any) -> pa.Table:
    """A list column's elements beside the row (``parent``) each came from; NULLs dropped."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    values = pc.list_flatten(lists)
    if pa.types.is_null(values.type):  # NULLs only (a NULL constant): no value
        values = pa.array([], pa.int64())
        return pa.table({"parent": pa.array([], pa.int64()), "value": values})
    out = pa.table({"parent": pc.list_parent_indices(lists), "value": values})
    return out.filter(pc.is_valid(values)) if values.null_count else out


def _distinct_pairs(lists: Any) -> pa.Table:
    """Each list's distinct non-NULL values, one ``(parent, value)`` row each."""
    return _exploded(lists).group_by(["parent", "value"], use_threads=False).aggregate([])


def _distinct_lists(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """The map side's partial aggregates with each list in *columns* deduplicated (the record
    form's combiner merges them as sets): its distinct values, or one NULL if it has none (a
    partial list is never empty, ``engine.arrow.aggregate._collected``)."""
    import numpy as np

    for name in columns:
        n = table.num_rows
        pairs = _distinct_pairs(table.column(name)).sort_by("parent")
        parent = pairs.column("parent").to_numpy()
        counts = np.bincount(parent, minlength=n) if len(parent) else np.zeros(n, np.int64)
        empty = counts == 0
        values = pairs.column("value").combine_chunks()
        if empty.any():  # a NULL for each list without a value, placed at its parent
            parent = np.concatenate([parent, np.flatnonzero(empty)])
            values = pa.concat_arrays([values, pa.nulls(int(empty.sum()), values.type)])
            order = np.argsort(parent, kind="stable")
            values = values.take(pa.array(order))
            counts = np.maximum(counts, 1)
        offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        lists = pa.ListArray.from_arrays(offsets, values)
        table = table.set_column(table.schema.get_field_index(name), name, lists)
    return table


def _distinct_totals(lists: Any, j: int, func: str) -> pa.Table:
    """Each list's distinct non-NULL values summed (NULL where it has none) and counted, in the
    columns ``_finish`` reads for ``sum``/``avg`` number *j* (``g{j}`` or ``g{j}.s``/``g{j}.n``,
    and ``g{j}.f``, the double sum that bounds an integer one)."""
    import numpy as np

    pairs = _distinct_pairs(lists)
    pairs = pairs.append_column("double", pc.cast(pairs.column("value"), pa.float64()))
    totals = pairs.group_by("parent", use_threads=False).aggregate(
        [("value", "sum"), ("value", "count"), ("double", "sum")]
    )
    row = np.full(len(lists), -1)  # each list's row in totals (-1: no value)
    row[totals.column("parent").to_numpy()] = np.arange(totals.num_rows)
    at = _nullable(row)
    out = {
        f"g{j}.s" if func == "avg" else f"g{j}": totals.column("value_sum").take(at),
        f"g{j}.n": pc.fill_null(totals.column("value_count").take(at), 0),
    }
    if pa.types.is_integer(pairs.schema.field("value").type):
        out[f"g{j}.f"] = pc.fill_null(totals.column("double_sum").take(at), 0.0)
    return pa.table(out)


def _distinct_counts(lists: Any) -> pa.Array:
    """The number of distinct non-NULL values in each list."""
    import numpy as np

    n = len(lists)
    parent = _distinct_pairs(lists).column("parent").to_numpy()
    return pa.array(np.bincount(parent, minlength=n) if len(parent) else np.zeros(n, np.int64), pa.int64())


def _checked_sum(a: Dict[str, Any]) -> bool:
    """Whether aggregate *a* adds 64-bit integers (``sum``, ``avg``), whose Arrow sums wrap."""
    return a["func"] in ("sum", "avg") and a.get("arg_type") == "int"


#: A sum of doubles this large may stand for an integer sum past 2**63 - 1 (the doubles' own
#: rounding is far below the margin for any number of rows a machine holds).
_SUM_LIMIT = 0.999 * 2.0**63


def _check_sum(a: Dict[str, Any], table: pa.Table, j: int, stage: str) -> None:
    """Raise if a 64-bit integer sum of aggregate *a* went past 64 bits.

    Arrow's integer sums wrap silently, where the record form's Python integers have no bound.
    Two's-complement sums wrap modulo 2**64, so the wrapped total is exact whenever the true
    total fits, whatever its partial sums did; a float64 sum of the same values, added beside
    it, tells whether it does.
    """
    approx = table.column(f"g{j}.f")
    if not len(approx) or approx.null_count == len(approx):
        return
    extremes = pc.min_max(approx)
    worst = max(abs(extremes["min"].as_py()), abs(extremes["max"].as_py()))
    if worst >= _SUM_LIMIT:
        raise JobDefinitionError(
            f"{stage}: a {a['func']}() of integers goes past 64 bits on the Arrow form (about "
            f"{worst:.4g}); run the query with --no-vectorize, where integers have no bound"
        )


def _finish(a: Dict[str, Any], table: pa.Table, j: int, stage: str) -> Any:
    """An aggregate's final value per group, as ``Aggregates._finish`` gives it."""
    f = a["func"]
    t = from_string(a["type"])
    if _collects_distinct(a):
        if f == "count":
            return _distinct_counts(table.column(f"g{j}"))
        # the sum (and count) of each group's distinct values, finished as the plain aggregate
        return _finish({**a, "distinct": False}, _distinct_totals(table.column(f"g{j}"), j, f), j, stage)
    if _checked_sum(a):
        _check_sum(a, table, j, stage)
    if f in ("count_star", "count"):
        return pc.cast(table.column(f"g{j}"), pa.int64())
    if f == "avg":
        total, n = table.column(f"g{j}.s"), table.column(f"g{j}.n")
        empty = pc.equal(n, 0)
        if t.kind == "double":
            q = pc.divide(pc.cast(total, pa.float64()), pc.cast(pc.if_else(empty, 1, n), pa.float64()))
            return pc.if_else(empty, pa.scalar(None, pa.float64()), q)
        if t.kind == "int":  # truncated toward zero, as the record form's ROUND_DOWN
            q = pc.divide(pc.cast(total, pa.int64()), pc.if_else(empty, 1, n))
            return pc.if_else(empty, pa.scalar(None, pa.int64()), q)
        # a decimal average is rounded half up at the type's scale: the record form's own code
        agg = ops.Aggregates([a], "")
        values = [
            agg._finish(a, [s, c])
            for s, c in zip(total.to_pylist(), n.to_pylist())  # noqa: SLF001
        ]
        return pa.array(values, arrow_type(t))
    column = table.column(f"g{j}")
    if f == "sum" and t.kind == "double":
        return pc.cast(column, pa.float64())
    if _max_sees_nan(a):  # Arrow's max skips NaN; SQL's is NaN where the group holds one
        saw = pc.fill_null(pc.equal(table.column(f"g{j}.nan"), 1), False)
        return pc.if_else(saw, pa.scalar(float("nan"), column.type), column)
    return column


def _max_sees_nan(a: Dict[str, Any]) -> bool:
    """Whether aggregate *a* is a max of doubles, which needs to know of the group's NaNs."""
    return a["func"] == "max" and not a["distinct"] and from_string(a["type"]).kind == "double"


def sort_table(table: pa.Table, keys: Sequence[Dict[str, Any]]) -> pa.Table:
    """*table* (columns ``c0..``) in the order of the sort *keys* (``ops.sort_rows``: stable,
    NULLs where each key says)."""
    if not table.num_rows:
        return table
    return table.take(_sort_order(table, keys)[0])


def _sort_order(
    table: pa.Table, keys: Sequence[Dict[str, Any]], lead: Optional[pa.Array] = None
) -> Tuple[pa.Array, List[Any]]:
    """The indices that sort *table* stably by *lead* (if given), then by the sort *keys*; and
    each key's values (for peers)."""
    order: List[Tuple[str, str]] = []
    extra: Dict[str, Any] = {}
    if lead is not None:
        extra["lead"] = lead
        order.append(("lead", "ascending"))
    values = []
    for i, k in enumerate(keys):
        v = _array(kernel(k["expr"], table), table.num_rows)
        # a NULL rank column puts NULLs first or last whatever the key's direction
        extra[f"n{i}"] = pc.cast(pc.is_null(v), pa.int8())
        extra[f"v{i}"] = v
        values.append(v)
        direction = "descending" if k["desc"] else "ascending"
        order.append((f"n{i}", "descending" if k["nulls_first"] else "ascending"))
        if pa.types.is_floating(v.type):  # NaN is the greatest number: last up, first down
            extra[f"x{i}"] = pc.cast(pc.fill_null(pc.is_nan(v), False), pa.int8())
            order.append((f"x{i}", direction))
        order.append((f"v{i}", direction))
    if not order:
        return pa.array(range(table.num_rows), pa.int64()), values
    return pc.sort_indices(pa.table(extra), sort_keys=order), values


def window_table(
    spec: Dict[str, Any], rows: pa.Table, keys: pa.Table, nkeys: int
) -> Tuple[pa.Table, pa.Table]:
    """``operators.window_rows`` over a slice of whole partitions: the rows (columns ``c0..``)
    sorted by partition (its key bytes: the record form's reducer order), then stably by the
    window's ORDER BY, each with its functions' values appended; and their partition keys.

    Positions are numbered within each partition (``start``: its first row); peers (equal
    ORDER BY values, NULL equal to NULL) share a rank, as ``window_rows``' peer groups do.
    """
    import numpy as np

    n = rows.num_rows
    kb = key_bytes(keys, keys.schema.names[:nkeys])
    indices, values = _sort_order(rows, spec["order"], kb)
    rows, keys, kb = rows.take(indices), keys.take(indices), kb.take(indices)
    values = [v.take(indices) for v in values]
    new_part = _changes([kb], n)
    new_peer = new_part | _changes(values, n)
    pos = np.arange(n, dtype=np.int64)
    start = np.maximum.accumulate(np.where(new_part, pos, 0))
    peer_start = np.maximum.accumulate(np.where(new_peer, pos, 0))
    part = np.cumsum(new_part) - 1
    size = np.bincount(part)[part]  # the rows of each row's partition
    m = pos - start
    # an aggregate's frame ends at the row's last peer (with ORDER BY), else its partition's end
    bounds = np.flatnonzero(np.append(new_peer[1:] if spec["order"] else new_part[1:], True))
    frame_end = bounds[np.cumsum(new_peer if spec["order"] else new_part) - 1]
    for f in spec["funcs"]:
        name = f["func"]
        if name not in WINDOW_RANKS:
            column = _window_aggregate(f, rows, start, frame_end, new_part)
            rows = rows.append_column(f"c{rows.num_columns}", column)
            continue
        if name == "row_number":
            out = m + 1
        elif name == "rank":
            out = peer_start - start + 1
        elif name == "dense_rank":
            peers = np.cumsum(new_peer)
            out = peers - peers[start] + 1
        else:  # ntile: the first `extra` buckets of a partition hold one row more
            buckets = f["arg"][1]
            whole, extra = (size // buckets, size % buckets) if buckets > 0 else (size, np.zeros_like(size))
            cut = extra * (whole + 1)
            out = np.where(
                m < cut,
                m // (whole + 1) + 1,
                np.where(whole > 0, (m - cut) // np.maximum(whole, 1) + extra + 1, m + 1),
            )
        rows = rows.append_column(f"c{rows.num_columns}", pa.array(out, pa.int64()))
    return rows, keys


#: The window functions that number rows (``window_table``); the others are aggregates.
WINDOW_RANKS = frozenset(("row_number", "rank", "dense_rank", "ntile"))


def _window_aggregate(f: Dict[str, Any], rows: pa.Table, start: Any, end: Any, new_part: Any) -> Any:
    """Aggregate *f* over each row's frame, rows ``start`` to ``end`` (inclusive) of the sorted
    slice, as ``window_rows`` folds ``Aggregates`` over them.

    Counts, and sums, averages, minima and maxima of integers (and dates: min/max), come from
    running totals: a running total minus its value before the partition (exact in 64-bit
    wrapping arithmetic; a total whose values' magnitudes could pass 64 bits is refused). Sums
    and averages of doubles add each partition's values in order (``np.cumsum``: the record
    form's additions, in its order). The rest (decimals, text, doubles' min/max, -0.0's sign)
    go through the record form's own ``window_rows``, partition by partition.
    """
    import numpy as np

    n = rows.num_rows
    name, t = f["func"], from_string(f["type"])
    before = start - 1  # the running total before each row's partition (-1: none)

    def frame(running: Any) -> Any:
        return running[end] - np.where(before >= 0, running[np.maximum(before, 0)], 0)

    if name == "count_star":
        return pa.array(end - start + 1, pa.int64())
    v = _array(kernel(f["arg"], rows), n)
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    valid = pc.is_valid(v).to_numpy(zero_copy_only=False)
    count = frame(np.cumsum(valid.astype(np.int64)))
    if name == "count":
        return pa.array(count, pa.int64())
    none = count == 0  # no value in the frame yet: NULL
    if pa.types.is_integer(v.type) and (
        name in ("sum", "avg") and t.kind in ("int", "double") or name in ("min", "max")
    ):
        x = pc.fill_null(v, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        if name in ("min", "max"):
            return _running_extreme(name, x, valid, new_part, end, none, pa.int64())
        if frame(np.cumsum(np.abs(x.astype(np.float64)))).max(initial=0.0) >= _SUM_LIMIT:
            raise JobDefinitionError(
                f"a window {name}() of integers goes past 64 bits on the Arrow form; run the query "
                "with --no-vectorize, where integers have no bound"
            )
        total = frame(np.cumsum(x))  # wraps as the true total does mod 2**64: exact when it fits
        if name == "sum":
            return pa.array(total, pa.int64() if t.kind == "int" else pa.float64(), mask=none)
        safe = np.maximum(count, 1)
        if t.kind == "double":
            return pa.array(total.astype(np.float64) / safe, pa.float64(), mask=none)
        q = np.abs(total) // safe  # truncated toward zero, as the record form's ROUND_DOWN
        return pa.array(np.where(total < 0, -q, q), pa.int64(), mask=none)
    if pa.types.is_date(v.type) and name in ("min", "max"):
        x = pc.fill_null(pc.cast(v, pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        out = _running_extreme(name, x, valid, new_part, end, none, pa.int64())
        return pc.cast(pc.cast(out, pa.int32()), pa.date32())
    if pa.types.is_floating(v.type) and name in ("sum", "avg") and t.kind == "double":
        # a NULL adds -0.0: x + -0.0 is x, and -0.0 + -0.0 keeps a first -0.0's sign
        x = pc.fill_null(pc.cast(v, pa.float64()), -0.0).to_numpy(zero_copy_only=False)
        running = np.empty(n, np.float64)
        for a, b in _partitions(new_part):
            running[a:b] = np.cumsum(x[a:b])
        total = running[end]
        if name == "sum":
            return pa.array(total, pa.float64(), mask=none)
        return pa.array(total / np.maximum(count, 1), pa.float64(), mask=none)
    return _window_by_rows(f, v, start, end, new_part)


def _running_extreme(
    name: str, x: Any, valid: Any, new_part: Any, end: Any, none: Any, kind: pa.DataType
) -> pa.Array:
    """The running min/max of integers *x* (NULLs skipped) within each partition, at ``end``."""
    import numpy as np

    fill = np.iinfo(np.int64).max if name == "min" else np.iinfo(np.int64).min
    x = np.where(valid, x, fill)
    acc = np.minimum if name == "min" else np.maximum
    running = np.empty(len(x), np.int64)
    for a, b in _partitions(new_part):
        running[a:b] = acc.accumulate(x[a:b])
    return pa.array(running[end], kind, mask=none)


def _window_by_rows(f: Dict[str, Any], v: Any, start: Any, end: Any, new_part: Any) -> pa.Array:
    """Aggregate *f* over each row's frame by the record form's ``Aggregates``, partition by
    partition (each frame a prefix of its partition)."""
    agg = ops.Aggregates([{"func": f["func"], "arg": E.col(0), "distinct": False, "type": f["type"]}], "")
    values = v.to_pylist()
    out: List[Any] = [None] * len(values)
    for a, b in _partitions(new_part):
        state = None
        done = a
        finals: Dict[int, Any] = {}
        for m in range(a, b):
            e = int(end[m])
            if e not in finals:
                while done <= e:
                    s = agg.initial([values[done]])
                    state = s if state is None else agg.merge(state, s)
                    done += 1
                finals[e] = agg.final(state)[0]  # type: ignore[arg-type]
            out[m] = finals[e]
    return pa.array(out, arrow_type(from_string(f["type"])))


def _partitions(new_part: Any) -> List[Tuple[int, int]]:
    """The ``[start, end)`` row ranges of the partitions that *new_part* marks the starts of."""
    import numpy as np

    starts = [int(a) for a in np.flatnonzero(new_part)]
    return list(zip(starts, [*starts[1:], len(new_part)]))


def _changes(columns: Sequence[Any], n: int) -> Any:
    """Where a row's values (*n* rows of *columns*) differ from the row before's (NULL equal to
    NULL), as a boolean NumPy array; the first row always differs."""
    import numpy as np

    out = np.zeros(n, dtype=bool)
    if n:
        out[0] = True
    for v in columns:
        if isinstance(v, pa.ChunkedArray):
            v = v.combine_chunks()
        if n < 2:
            break
        a, b = v.slice(1), v.slice(0, n - 1)
        differ = pc.fill_null(_compare("ne", a, b), True)  # NaN a peer of NaN
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        out[1:] |= pc.and_(differ, pc.invert(both_null)).to_numpy(zero_copy_only=False)
    return out
