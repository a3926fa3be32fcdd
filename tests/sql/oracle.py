"""DuckDB as the oracle for engine/sql: tables written for both, queries run on both, results compared.

``Table`` holds a table's columns (name, Redshift type, DuckDB type) and rows of Python values; it
writes them as a Redshift ``COPY`` text file (``|``, empty field = NULL) or a Hive text file (``\\N``)
and inserts the very same values into DuckDB, so both sides see identical data.

``assert_same`` compares two results: as multisets (sorted with a NULL-safe key) or in order; floats
with a relative tolerance, decimals exactly, a decimal against a float (avg of a decimal is a decimal
in Redshift and a double in DuckDB) within half a unit of the decimal's last place.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import duckdb
import sqlglot

from engine.sql.session import Session

REL_TOL = 1e-9


@dataclass
class Table:
    name: str
    columns: Sequence[Tuple[str, str, str]]  # (name, engine DDL type, DuckDB type)
    rows: Sequence[tuple]

    # ------------------------------------------------------------------ files

    def redshift_text(self) -> str:
        return "".join("|".join(_redshift_field(v) for v in r) + "\n" for r in self.rows)

    def hive_text(self) -> str:
        return "".join("|".join(_hive_field(v) for v in r) + "\n" for r in self.rows)

    def redshift_ddl(self, path: Path) -> str:
        cols = ", ".join(f"{n} {t}" for n, t, _ in self.columns)
        return f"create table {self.name} ({cols}); copy {self.name} from '{path}' delimiter '|';"

    def hive_ddl(self, directory: Path) -> str:
        cols = ", ".join(f"{n} {t}" for n, t, _ in self.columns)
        return (
            f"CREATE EXTERNAL TABLE {self.name} ({cols}) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' "
            f"LOCATION '{directory}';"
        )

    def load_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        cols = ", ".join(f"{n} {t}" for n, _, t in self.columns)
        con.execute(f"create table {self.name} ({cols})")
        if self.rows:
            marks = ", ".join("?" for _ in self.columns)
            con.executemany(f"insert into {self.name} values ({marks})", [list(r) for r in self.rows])


def _redshift_field(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    s = str(v)
    assert s != "" and "|" not in s and "\n" not in s and "\\" not in s, s
    return s


def _hive_field(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "true" if v else "false"
    return _redshift_field(v)


# ------------------------------------------------------------------------------------- running


def run_engine(session: Session, sql: str) -> List[tuple]:
    statements = session.parse(sql)
    assert len(statements) == 1, sql
    result = session.execute(statements[0])
    assert result.rows is not None, f"no rows from {sql!r}: {result}"
    return [tuple(r) for r in result.rows]


def duck_sql(sql: str, dialect: str = "redshift") -> str:
    return sqlglot.transpile(sql, read=dialect, write="duckdb")[0]


def run_duckdb(con: duckdb.DuckDBPyConnection, sql: str) -> List[tuple]:
    return [tuple(r) for r in con.execute(sql).fetchall()]


# ------------------------------------------------------------------------------------- comparing


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, 0, int(v))
    if isinstance(v, (int, float, Decimal)):
        f = float(v)
        return (1, 1, math.inf, 1) if math.isnan(f) else (1, 1, f, 0)
    if isinstance(v, str):
        return (1, 2, v)
    if isinstance(v, dt.datetime):
        return (1, 3, v.isoformat())
    if isinstance(v, dt.date):
        return (1, 4, v.isoformat())
    return (1, 9, repr(v))


def row_key(row: Sequence[Any]) -> tuple:
    return tuple(_sort_key(v) for v in row)


def _scale(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def same_value(a: Any, b: Any) -> bool:
    """*a* (the engine's) and *b* (DuckDB's) are the same SQL value."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return Decimal(a) == Decimal(b)
    if isinstance(a, Decimal) and isinstance(b, float) or isinstance(a, float) and isinstance(b, Decimal):
        d, f = (a, b) if isinstance(a, Decimal) else (b, a)
        tol = max(REL_TOL * abs(f), 0.5 * 10.0 ** -_scale(d)) + 1e-12
        return abs(float(d) - f) <= tol
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return type(a) is type(b) and a == b
    return type(a) is type(b) and a == b


def same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))


def assert_same(got: List[tuple], want: List[tuple], ordered: bool, context: str = "") -> None:
    """The engine's rows *got* equal DuckDB's *want* (in order if *ordered*, else as multisets)."""
    if not ordered:
        got = sorted(got, key=row_key)
        want = sorted(want, key=row_key)
    problems: List[str] = []
    if len(got) != len(want):
        problems.append(f"{len(got)} rows from the engine, {len(want)} from DuckDB")
    for i, (g, w) in enumerate(zip(got, want)):
        if not same_row(g, w):
            problems.append(f"row {i}: engine {g!r} != duckdb {w!r}")
            if len(problems) > 8:
                break
    if problems:
        extra_got = got[len(want) :][:5]
        extra_want = want[len(got) :][:5]
        detail = "\n  ".join(problems)
        raise AssertionError(
            f"{context}\n  {detail}"
            + (f"\n  engine's extra rows: {extra_got!r}" if extra_got else "")
            + (f"\n  duckdb's extra rows: {extra_want!r}" if extra_want else "")
            + f"\n  engine: {got[:40]!r}\n  duckdb: {want[:40]!r}"
        )


def check(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    duck: Optional[str] = None,
    ordered: bool = False,
    dialect: str = "redshift",
) -> None:
    """Runs *sql* on the engine and *duck* (or *sql* transpiled) on DuckDB; asserts the same rows."""
    dsql = duck if duck is not None else duck_sql(sql, dialect)
    want = run_duckdb(con, dsql)
    got = run_engine(session, sql)
    assert_same(got, want, ordered, f"engine SQL: {sql}\n  duckdb SQL: {dsql}")
