"""SQL types as the compiler sees them, and the Python value each holds at run time.

==============  =====================  ===============================================
type            DDL spellings          run-time value (record form)
==============  =====================  ===============================================
``int``         int, integer, smallint,  ``int``
                bigint, tinyint
``double``      double, float, real     ``float``
``decimal``     decimal(p,s), numeric   ``decimal.Decimal`` with exactly ``s`` places
``string``      string, varchar(n),     ``str``
                char(n), text
``boolean``     boolean, bool           ``bool``
``date``        date                    ``datetime.date``
``timestamp``   timestamp               ``datetime.datetime``
``null``        (a NULL literal)        ``None``
==============  =====================  ===============================================

NULL is ``None`` in every type. ``SqlType`` crosses processes inside the serialized plan, so it is
a frozen dataclass that turns into and back from a short string (``decimal(8,2)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

NUMERIC = frozenset(("int", "double", "decimal"))

_INT_NAMES = frozenset(("int", "integer", "smallint", "bigint", "tinyint", "int2", "int4", "int8", "uint"))
_DOUBLE_NAMES = frozenset(("double", "float", "real", "float4", "float8", "double precision", "float64"))
_STRING_NAMES = frozenset(
    (
        "string",
        "varchar",
        "char",
        "text",
        "character",
        "character varying",
        "nvarchar",
        "nchar",
        "bpchar",
        "name",
    )
)
_DECIMAL = re.compile(r"(?:decimal|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?")
_SIZED = re.compile(r"([a-z ]+?)\s*\(\s*\d+\s*\)")


@dataclass(frozen=True)
class SqlType:
    """One SQL type: its kind and, for decimals, precision and scale."""

    kind: str
    precision: int = 0
    scale: int = 0

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.kind

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


INT = SqlType("int")
DOUBLE = SqlType("double")
STRING = SqlType("string")
BOOLEAN = SqlType("boolean")
DATE = SqlType("date")
TIMESTAMP = SqlType("timestamp")
NULL = SqlType("null")


def decimal(precision: int, scale: int) -> SqlType:
    """``decimal(p, s)``, precision capped at 38 as every engine does."""
    return SqlType("decimal", min(max(precision, 1), 38), scale)


def parse_type(text: str) -> Optional[SqlType]:
    """The type a DDL spelling names (``varchar(30)``, ``decimal(8,2)``, ``INT``); ``None`` if unknown."""
    t = " ".join(text.strip().lower().split())
    m = _DECIMAL.fullmatch(t)
    if m:
        return decimal(int(m.group(1) or 18), int(m.group(2) or 0))
    m = _SIZED.fullmatch(t)
    if m:
        t = m.group(1).strip()
    if t in _INT_NAMES:
        return INT
    if t in _DOUBLE_NAMES:
        return DOUBLE
    if t in _STRING_NAMES:
        return STRING
    if t in ("boolean", "bool"):
        return BOOLEAN
    if t == "date":
        return DATE
    if t in ("timestamp", "datetime", "timestamp without time zone"):
        return TIMESTAMP
    return None


def from_string(text: str) -> SqlType:
    """The inverse of ``str(SqlType)``."""
    t = parse_type(text) if text != "null" else NULL
    if t is None:
        raise ValueError(f"not a type: {text!r}")
    return t


_TRUE_WORDS = frozenset(("true", "t", "1", "y", "yes", "on"))
_FALSE_WORDS = frozenset(("false", "f", "0", "n", "no", "off"))


def parse_bool(text: str) -> bool:
    """A boolean's text as Redshift's COPY and a cast read it (``TRUE``, ``t``, ``1``, ``yes``, ``on``
    and their opposites, any case); ``ValueError`` for anything else."""
    low = text.strip().lower()
    if low in _TRUE_WORDS:
        return True
    if low in _FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def common_numeric(a: SqlType, b: SqlType) -> SqlType:
    """The type both of two numeric operands are brought to (int < decimal < double)."""
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    if "double" in (a.kind, b.kind):
        return DOUBLE
    if "decimal" in (a.kind, b.kind):
        pa, sa = (a.precision, a.scale) if a.kind == "decimal" else (19, 0)
        pb, sb = (b.precision, b.scale) if b.kind == "decimal" else (19, 0)
        scale = max(sa, sb)
        return decimal(max(pa - sa, pb - sb) + scale, scale)
    return INT
