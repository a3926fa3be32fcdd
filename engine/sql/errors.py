"""The SQL front end's errors: each names the construct, its line and column, and what to do."""

from __future__ import annotations

from typing import Optional

from engine.errors import EngineError


class SqlError(EngineError):
    """Bad or unsupported SQL, an unknown table or column, a type error: refused before any work.

    ``line``/``col`` (1-based) locate the construct in the script as the user wrote it (before
    variable substitution moved nothing: substitution keeps line numbers where it can). The message
    reads ``line L, col C: <what> (<what to do>)``.
    """

    def __init__(self, message: str, line: Optional[int] = None, col: Optional[int] = None) -> None:
        self.line = line
        self.col = col
        self.detail = message
        where = (
            f"line {line}, col {col}: "
            if line is not None and col is not None
            else (f"line {line}: " if line is not None else "")
        )
        super().__init__(where + message)
