"""How a compiled query's rows cross the shuffle: mrjob protocols that keep SQL values exact.

mrjob's JSON protocols would turn a ``Decimal`` into a float (drift) and refuse dates. The
compiled job uses ``SqlValueProtocol`` between its steps instead: JSON, where the three
types JSON lacks are one-key objects::

    Decimal('12.50')                      -> {"$n": "12.50"}
    datetime.date(2008, 1, 5)             -> {"$d": "2008-01-05"}
    datetime.datetime(2008, 1, 5, 2, 36)  -> {"$t": "2008-01-05T02:36:00"}

Equal keys encode to equal bytes -- the shuffle groups by bytes -- because the compiler gives
every value of a column one type (and decimals one scale). ``HiveTextProtocol`` writes the rows of
``INSERT OVERWRITE DIRECTORY`` as Hive does (``\\x01`` between fields, ``\\N`` for NULL).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, Tuple


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dt.datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    raise TypeError(f"a SQL row holds no {type(value).__name__}: {value!r}")


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        ((tag, text),) = obj.items()
        if tag == "$n":
            return Decimal(text)
        if tag == "$d":
            return dt.date.fromisoformat(text)
        if tag == "$t":
            return dt.datetime.fromisoformat(text)
    return obj


_encode = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False).encode
_decode = json.JSONDecoder(object_hook=_hook).decode


def dumps(value: Any) -> str:
    """One value (a row, a key) as the protocol's JSON text."""
    return _encode(value)


def loads(text: str) -> Any:
    """The inverse of ``dumps``."""
    return _decode(text)


class SqlValueProtocol:
    """``key<TAB>value``, each as ``dumps`` writes it (mrjob's protocol interface)."""

    def read(self, line: bytes) -> Tuple[Any, Any]:
        key, _, value = line.decode("utf-8").partition("\t")
        k = loads(key)
        # a tuple, not a list: mrjob's Spark harness groups keys in a dict (they must be hashable)
        return (tuple(k) if isinstance(k, list) else k), loads(value)

    def write(self, key: Any, value: Any) -> bytes:
        return f"{_encode(key)}\t{_encode(value)}".encode()


class SqlRowsOutputProtocol(SqlValueProtocol):
    """The last step's output when the driver prints the rows: the row alone, as ``dumps``."""

    def read(self, line: bytes) -> Tuple[Any, Any]:
        return None, loads(line.decode("utf-8"))

    def write(self, key: Any, value: Any) -> bytes:
        return _encode(value).encode("utf-8")


class TsvTextProtocol:
    """A row as the ``tsv`` line ``python -m engine sql`` prints (``results.format_value`` of
    each value, joined by tabs; write only): the driver streams the lines as they are."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def read(self, line: bytes) -> Tuple[Any, Any]:
        return None, line.decode("utf-8").split("\t")  # the fields' text, escapes kept

    def write(self, key: Any, value: Any) -> bytes:
        from engine.sql.results import format_value

        return "\t".join(format_value(v, self.dialect) for v in value).encode("utf-8")


class HiveTextProtocol:
    """A Hive text-file line per row: fields joined by ``\\x01``, NULL as ``\\N`` (write only)."""

    def read(self, line: bytes) -> Tuple[Any, Any]:
        return None, line.decode("utf-8").split("\x01")

    def write(self, key: Any, value: Any) -> bytes:
        from engine.sql.results import hive_text_line

        return hive_text_line(tuple(value))[:-1].encode("utf-8")  # the line without its end
