"""Preparing a SQL script's text before sqlglot parses it: variables, Redshift attributes, positions.

Every function here works on the text as text, so that errors found later (by sqlglot or by the
front end) can still point at the line the user wrote.

Hive variables (:func:`substitute_hive`), as the Hive CLI substitutes them before parsing:

* ``${NAME}`` and ``${hivevar:NAME}`` come from the ``-d``/``--define``/``--hivevar`` variables,
  ``${hiveconf:NAME}`` from ``--hiveconf``, ``${env:NAME}`` from the environment; ``${system:NAME}``
  (Java system properties) is refused. A name is what Hive's pattern ``\\$\\{[^}$ ]+\\}`` allows, so
  ``${ x }`` (with spaces) is no reference and stays. A name with another prefix (``${a:b}``) is,
  as in Hive, the hivevar named ``a:b``.
* Substitution is textual and also happens inside string literals (``LOCATION '${INPUT}/data'``),
  but not inside ``--`` comments (the Hive CLI drops comment lines before it substitutes), so a
  comment that mentions ``${INPUT}`` needs no ``-d INPUT``.
* A value may itself hold references: they are expanded in turn, at most 40 levels deep (Hive's
  ``hive.variable.substitute.depth``); deeper (a value that refers back to itself) is an error.
* Unlike Hive, which leaves an undefined ``${X}`` in the query, an undefined variable is an error
  that names it, its line and column in the original text and the option that defines it.
* Nothing but the references changes, so where values hold no newline every later line keeps its
  number (columns to the right of a reference on the same line move).

psql variables (:func:`substitute_psql`), as psql interpolates its ``-v``/``--set`` variables:

* ``:name`` becomes the value as is, ``:'name'`` the value as a string literal (single quotes
  doubled; backslashes are kept as they are, see below), ``:"name"`` a quoted identifier (double
  quotes doubled), and ``:{?name}`` ``TRUE`` or ``FALSE`` as the variable is defined or not. Names
  are made of ``[A-Za-z0-9_]``.
* Nothing happens inside single-quoted strings (``E'...'`` with its backslash escapes included),
  dollar-quoted strings (``$$...$$``, ``$tag$...$tag$``), double-quoted identifiers, ``--`` comments
  or (nested) ``/* */`` comments, nor to a ``::`` cast (``x::int`` stays).
* A reference to a variable that is not defined stays as written (psql does the same).
* Backslashes: psql writes a value holding a backslash as ``E'...'`` with the backslash doubled.
  Here the value goes between plain quotes unchanged. Note that sqlglot's redshift dialect reads
  a backslash in a plain string as an escape (``'a\\b'`` is ``a`` and a backspace) and its postgres
  dialect does not.

Redshift column and table attributes (:func:`blank_redshift_column_attributes`): sqlglot 30's
redshift dialect fails (ParseError) on a column-level ``distkey``/``sortkey`` (``userid integer not
null distkey sortkey,``) and on a table-level ``sortkey auto``, and gives up on ``interleaved
sortkey(...)`` (the whole statement becomes an opaque ``Command``, with a logged warning). It
parses ``encode X``, ``diststyle X``, ``distkey(...)``, ``[compound] sortkey(...)``, but none of
these changes a query's result either. So all of them are replaced by spaces (newlines kept), and
the text keeps its length and every line and column number:

* in a ``CREATE TABLE``'s column list, after a column's name: ``distkey``, ``sortkey`` and
  ``encode X``;
* in the statement outside the column list: ``diststyle X``, ``distkey(...)``, ``sortkey(...)``,
  ``compound sortkey(...)``, ``interleaved sortkey(...)``, ``sortkey auto`` and ``encode X``.

The words are found with sqlglot's own redshift tokenizer, so string literals, quoted identifiers
and comments are never touched, and only in ``CREATE TABLE`` statements (up to the ``AS``/``SELECT``
of a ``CREATE TABLE ... AS``); a column *named* ``distkey`` stays. A text the tokenizer refuses (an
unterminated string, say) comes back unchanged, for the parser to report.

Positions (:func:`position`, :func:`locate`): the 1-based line and column of a character offset,
and a caret display of a line and column for error messages. (sqlglot's own tokens carry a
``col`` that is the column of the token's *last* character; ``.start``/``.end`` are the offsets of
its first and last characters, quotes included.)
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from engine.sql.errors import SqlError

__all__ = [
    "HIVE_SUBSTITUTE_DEPTH",
    "blank_redshift_column_attributes",
    "locate",
    "position",
    "substitute_hive",
    "substitute_psql",
]

#: How deep values referring to other variables are expanded (Hive's hive.variable.substitute.depth).
HIVE_SUBSTITUTE_DEPTH = 40

# Hive's VariableSubstitution pattern: ${ then anything but '}', '$' or a space, then }.
_HIVE_VAR = re.compile(r"\$\{([^}$ ]+)\}")


# --------------------------------------------------------------------------------------------------
# positions


def position(text: str, offset: int) -> Tuple[int, int]:
    """The 1-based ``(line, col)`` of the character at ``offset`` in ``text``.

    An offset past the end (``len(text)``, where an "unexpected end" is reported) gives the place
    just after the last character; offsets are clamped to ``0 .. len(text)``.
    """
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start + 1


def locate(text: str, line: int, col: int, width: int = 100) -> str:
    """A short display of ``line``/``col`` (1-based) of ``text``: the line, then a ``^`` under ``col``.

    Tabs before the column are repeated in the caret line so that the caret lines up. A line longer
    than ``width`` characters is cut to a window around the column, marked with ``...``. A line
    that does not exist gives ``""``.
    """
    lines = text.split("\n")
    if line < 1 or line > len(lines):
        return ""
    shown = lines[line - 1].rstrip("\r")
    col = max(1, min(col, len(shown) + 1))
    start = 0
    prefix = suffix = ""
    if len(shown) > width:
        start = max(0, min(col - 1 - width // 2, len(shown) - width))
        end = start + width
        if start > 0:
            prefix = "..."
        if end < len(shown):
            suffix = "..."
        shown = shown[start:end]
    before = shown[: col - 1 - start]
    pad = "".join("\t" if ch == "\t" else " " for ch in before)
    return f"{prefix}{shown}{suffix}\n{' ' * len(prefix)}{pad}^"


# --------------------------------------------------------------------------------------------------
# Hive


def _hive_comment_spans(text: str) -> List[Tuple[int, int]]:
    """``[start, end)`` of each ``--`` comment of a Hive script, outside quotes (backslash escapes)."""
    spans: List[Tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" and ch != "`" else 1
            i = j + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            spans.append((i, end))
            i = end
        else:
            i += 1
    return spans


def _hive_lookup(
    name: str, hivevar: Mapping[str, str], hiveconf: Mapping[str, str], env: Mapping[str, str]
) -> Tuple[Optional[str], str]:
    """The value of ``${name}`` (None if undefined) and what to do to define it."""
    if name.startswith("system:"):
        raise _SystemRefused(name[len("system:") :])
    if name.startswith("env:"):
        key = name[len("env:") :]
        return env.get(key), f"set the environment variable {key}"
    if name.startswith("hiveconf:"):
        key = name[len("hiveconf:") :]
        return hiveconf.get(key), f"pass --hiveconf {key}=VALUE"
    key = name[len("hivevar:") :] if name.startswith("hivevar:") else name
    return hivevar.get(key), f"pass -d {key}=VALUE (or --hivevar {key}=VALUE)"


class _SystemRefused(Exception):
    """Internal: a ``${system:NAME}`` reference (carries NAME)."""


def substitute_hive(
    text: str,
    hivevar: Mapping[str, str],
    hiveconf: Mapping[str, str],
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """Substitute Hive CLI variables in ``text``, as Hive does before it parses a script.

    ``hivevar`` holds the ``-d``/``--define``/``--hivevar`` variables (``${NAME}``,
    ``${hivevar:NAME}``), ``hiveconf`` the ``--hiveconf`` ones (``${hiveconf:NAME}``), ``env`` the
    environment (``${env:NAME}``; ``os.environ`` when None). See the module docstring for the rules.

    Raises SqlError, with the line and column of the reference in ``text``, for an undefined
    variable, a ``${system:...}`` reference, or values nested more than 40 levels deep.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    comments = _hive_comment_spans(text)
    # name -> (its value expanded, how many levels that took: 1 for a value without references)
    cache: Dict[str, Tuple[str, int]] = {}

    def expand(name: str, depth: int, chain: Tuple[str, ...]) -> Tuple[str, int]:
        # ${name} met `depth` levels down (1: in the script); chain: the references that led here.
        if depth > HIVE_SUBSTITUTE_DEPTH:
            raise _TooDeep((*chain, name))
        if name in cache:
            result, levels = cache[name]
            if depth + levels - 1 > HIVE_SUBSTITUTE_DEPTH:
                raise _TooDeep((*chain, name))
            return result, levels
        value, todo = _hive_lookup(name, hivevar, hiveconf, environ)
        if value is None:
            raise _Undefined(name, todo, chain)
        below = 0

        def inner(match: re.Match[str]) -> str:
            nonlocal below
            expanded, levels = expand(match.group(1), depth + 1, (*chain, name))
            below = max(below, levels)
            return expanded

        result = _HIVE_VAR.sub(inner, value)
        cache[name] = (result, below + 1)
        return result, below + 1

    out: List[str] = []
    last = 0
    k = 0  # index into comments
    for match in _HIVE_VAR.finditer(text):
        start = match.start()
        while k < len(comments) and comments[k][1] <= start:
            k += 1
        if k < len(comments) and comments[k][0] <= start:
            continue  # inside a -- comment: not substituted
        try:
            value = expand(match.group(1), 1, ())[0]
        except _SystemRefused as exc:
            line, col = position(text, start)
            raise SqlError(
                f"${{system:{exc.args[0]}}} is not supported: there are no Java system properties here "
                f"(pass the value with -d NAME=VALUE and write ${{NAME}})",
                line,
                col,
            ) from None
        except _Undefined as exc:
            line, col = position(text, start)
            inside = "".join(f" (in the value of ${{{ref}}})" for ref in reversed(exc.chain))
            raise SqlError(f"undefined variable ${{{exc.name}}}{inside}: {exc.todo}", line, col) from None
        except _TooDeep as exc:
            line, col = position(text, start)
            raise SqlError(
                f"variable substitution deeper than {HIVE_SUBSTITUTE_DEPTH} levels for ${{{exc.chain[0]}}} "
                f"(does a value refer back to itself? {' -> '.join(exc.chain[:4])} -> ...)",
                line,
                col,
            ) from None
        out.append(text[last:start])
        out.append(value)
        last = match.end()
    out.append(text[last:])
    return "".join(out)


class _Undefined(Exception):
    """Internal: an undefined variable (its name, how to define it, the references leading to it)."""

    def __init__(self, name: str, todo: str, chain: Tuple[str, ...]) -> None:
        super().__init__(name)
        self.name = name
        self.todo = todo
        self.chain = chain


class _TooDeep(Exception):
    """Internal: values nested deeper than HIVE_SUBSTITUTE_DEPTH (the chain of references)."""

    def __init__(self, chain: Tuple[str, ...]) -> None:
        super().__init__(chain)
        self.chain = chain


# --------------------------------------------------------------------------------------------------
# psql

_PSQL_NAME = r"[A-Za-z0-9_]+"
_PSQL_PLAIN = re.compile(r":(" + _PSQL_NAME + ")")
_PSQL_LITERAL = re.compile(r":'(" + _PSQL_NAME + ")'")
_PSQL_IDENT = re.compile(r':"(' + _PSQL_NAME + ')"')
_PSQL_DEFINED = re.compile(r":\{\?(" + _PSQL_NAME + r")\}")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_" or ord(ch) >= 0x80


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) >= 0x80


def _skip_quoted(text: str, i: int, quote: str, backslash: bool = False) -> int:
    """The offset after the quoted run opening at ``text[i]`` (doubled quotes; unterminated: the end)."""
    n = len(text)
    j = i + 1
    while j < n:
        ch = text[j]
        if backslash and ch == "\\":
            j += 2
        elif ch == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return n


def _skip_block_comment(text: str, i: int) -> int:
    """The offset after the (possibly nested) ``/* */`` comment opening at ``text[i]``."""
    n = len(text)
    depth = 0
    j = i
    while j < n:
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def substitute_psql(text: str, variables: Mapping[str, str]) -> str:
    """Interpolate psql's ``-v``/``--set`` ``variables`` into ``text``, as psql does before sending it.

    ``:name`` -> the value, ``:'name'`` -> a string literal, ``:"name"`` -> a quoted identifier,
    ``:{?name}`` -> ``TRUE``/``FALSE``; not inside strings, quoted identifiers or comments, not in a
    ``::`` cast; an undefined variable's reference stays. See the module docstring.
    """
    out: List[str] = []
    last = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch == "/" and text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif ch == "'":
            i = _skip_quoted(text, i, "'")
        elif ch == '"':
            i = _skip_quoted(text, i, '"')
        elif ch == "$":
            tag = _DOLLAR_TAG.match(text, i)
            if tag is None:
                i += 1
            else:
                close = text.find(tag.group(0), tag.end())
                i = n if close < 0 else close + len(tag.group(0))
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            if j - i == 1 and ch in "eE" and j < n and text[j] == "'":
                j = _skip_quoted(text, j, "'", backslash=True)  # E'...': backslash escapes
            i = j
        elif ch == ":":
            if text.startswith("::", i):
                i += 2
                continue
            replacement: Optional[str] = None
            match = None
            for pattern in (_PSQL_LITERAL, _PSQL_IDENT, _PSQL_DEFINED, _PSQL_PLAIN):
                match = pattern.match(text, i)
                if match is not None:
                    break
            if match is not None:
                name = match.group(1)
                if match.re is _PSQL_DEFINED:
                    replacement = "TRUE" if name in variables else "FALSE"
                elif name in variables:
                    value = variables[name]
                    if match.re is _PSQL_LITERAL:
                        replacement = "'" + value.replace("'", "''") + "'"
                    elif match.re is _PSQL_IDENT:
                        replacement = '"' + value.replace('"', '""') + '"'
                    else:
                        replacement = value
            if match is not None and replacement is not None:
                out.append(text[last:i])
                out.append(replacement)
                last = i = match.end()
            else:
                i += 1
        else:
            i += 1
    out.append(text[last:])
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Redshift attributes

_STOP_WORDS = {"as", "select", "with"}  # CREATE TABLE ... AS SELECT: the query is not looked at


def _blank(chars: List[str], start: int, end: int) -> None:
    """Replace ``chars[start:end]`` by spaces, newlines (and carriage returns) kept."""
    for k in range(start, end):
        if chars[k] not in "\r\n":
            chars[k] = " "


def blank_redshift_column_attributes(text: str) -> str:
    """Blank Redshift's distribution/sort/encoding attributes in CREATE TABLE statements.

    Returns ``text`` with those words replaced by as many spaces (so its length and every newline
    offset are unchanged); see the module docstring for which. String literals, quoted
    identifiers and comments are never touched. Text sqlglot's tokenizer refuses is returned as is.
    """
    import sqlglot
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("redshift").tokenize(text)
    except TokenError:
        return text

    chars = list(text)
    changed = False

    def word(k: int) -> str:
        tok = tokens[k]
        # Bare words only: a quoted identifier "distkey" has token type IDENTIFIER and stays.
        if tok.token_type == TokenType.IDENTIFIER or tok.token_type.name.endswith("STRING"):
            return ""
        return tok.text.lower()

    def blank_tokens(first: int, last: int) -> None:
        nonlocal changed
        for k in range(first, last + 1):
            _blank(chars, tokens[k].start, tokens[k].end + 1)
        changed = True

    def paren_list_end(k: int) -> Optional[int]:
        # tokens[k] is '(': the index of its matching ')', or None (unbalanced, or a string inside).
        depth = 0
        for m in range(k, len(tokens)):
            tt = tokens[m].token_type
            if tt.name.endswith("STRING") or tt == TokenType.SEMICOLON:
                return None
            if tt == TokenType.L_PAREN:
                depth += 1
            elif tt == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    return m
        return None

    def is_lparen(k: int) -> bool:
        return k < len(tokens) and tokens[k].token_type == TokenType.L_PAREN

    def has_next(k: int) -> bool:
        return k < len(tokens) and tokens[k].token_type not in (
            TokenType.SEMICOLON,
            TokenType.L_PAREN,
            TokenType.R_PAREN,
            TokenType.COMMA,
        )

    def table_attribute(k: int) -> Optional[int]:
        # Outside the column list: the last token index of a table attribute at tokens[k], or None.
        w = word(k)
        if w in ("diststyle", "encode") and has_next(k + 1):
            return k + 1
        if w in ("compound", "interleaved") and word(k + 1) == "sortkey" and is_lparen(k + 2):
            return paren_list_end(k + 2)
        if w in ("distkey", "sortkey") and is_lparen(k + 1):
            return paren_list_end(k + 1)
        if w == "sortkey" and word(k + 1) == "auto":
            return k + 1
        return None

    i, n = 0, len(tokens)
    while i < n:
        # One statement: tokens[i:stmt_end].
        stmt_end = i
        while stmt_end < n and tokens[stmt_end].token_type != TokenType.SEMICOLON:
            stmt_end += 1
        head = [t.token_type for t in tokens[i : min(stmt_end, i + 6)]]
        if head and head[0] == TokenType.CREATE and TokenType.TABLE in head:
            k = i + head.index(TokenType.TABLE) + 1
            depth = 0
            item_start = False  # at the first token of a column list item (the column's name)
            while k < stmt_end:
                tt = tokens[k].token_type
                if depth == 0:
                    if word(k) in _STOP_WORDS:
                        break
                    last = table_attribute(k)
                    if last is not None:
                        blank_tokens(k, last)
                        k = last + 1
                        continue
                    if tt == TokenType.L_PAREN:
                        depth, item_start = 1, True
                elif depth == 1:
                    if tt == TokenType.R_PAREN:
                        depth = 0
                    elif tt == TokenType.COMMA:
                        item_start = True
                    elif tt == TokenType.L_PAREN:
                        depth = 2
                    elif item_start:
                        item_start = False
                    else:
                        w = word(k)
                        if w in ("distkey", "sortkey") and not is_lparen(k + 1):
                            blank_tokens(k, k)
                        elif w == "encode" and has_next(k + 1):
                            blank_tokens(k, k + 1)
                            k += 1
                else:
                    if tt == TokenType.L_PAREN:
                        depth += 1
                    elif tt == TokenType.R_PAREN:
                        depth -= 1
                k += 1
        i = stmt_end + 1
    return "".join(chars) if changed else text


# ------------------------------------------------------------------------ Hive's FROM-first form

_CLAUSE_AFTER_SELECT_LIST = frozenset(
    ("WHERE", "GROUP_BY", "HAVING", "ORDER_BY", "LIMIT", "CLUSTER_BY", "DISTRIBUTE_BY", "SORT_BY", "WINDOW")
)


def rewrite_hive_from_first(text: str) -> str:
    """Hive's ``FROM src INSERT OVERWRITE ... SELECT ... [INSERT OVERWRITE ... SELECT ...]`` (which
    sqlglot does not parse) as one ``INSERT OVERWRITE ... SELECT ... FROM src ...`` statement per
    INSERT, each ending in ``;``. Other statements are unchanged; statements are found with sqlglot's
    tokenizer (never by splitting on ``;``, which Hive's regex literals hold)."""
    import sqlglot

    try:
        tokens = sqlglot.Dialect.get_or_raise("hive").tokenize(text)
    except Exception:  # the parser reports what the tokenizer could not read
        return text
    statements: List[List[Any]] = [[]]
    for t in tokens:
        if t.token_type.name == "SEMICOLON":
            statements.append([])
        else:
            statements[-1].append(t)
    if not any(st and st[0].token_type.name == "FROM" for st in statements):
        return text
    out: List[str] = []
    pos = 0
    for st in statements:
        if not st or st[0].token_type.name != "FROM":
            continue
        start, end = st[0].start, st[-1].end + 1
        depth, inserts = 0, []
        for k, t in enumerate(st):
            name = t.token_type.name
            depth += name == "L_PAREN"
            depth -= name == "R_PAREN"
            if depth == 0 and name == "INSERT":
                inserts.append(k)
        if not inserts:
            continue
        source = text[st[1].start : st[inserts[0]].start].strip() if inserts[0] > 1 else ""
        parts = []
        for n, k in enumerate(inserts):
            body = st[k : inserts[n + 1]] if n + 1 < len(inserts) else st[k:]
            cut = None
            depth, seen_select = 0, False
            for t in body:
                name = t.token_type.name
                depth += name == "L_PAREN"
                depth -= name == "R_PAREN"
                if depth == 0 and name == "SELECT":
                    seen_select = True
                elif depth == 0 and seen_select and name in _CLAUSE_AFTER_SELECT_LIST:
                    cut = t.start
                    break
            b_start, b_end = body[0].start, body[-1].end + 1
            if cut is None:
                parts.append(f"{text[b_start:b_end]} FROM {source}")
            else:
                parts.append(f"{text[b_start:cut]}FROM {source} {text[cut:b_end]}")
        out.append(text[pos:start])
        out.append(";\n".join(parts))
        pos = end
    out.append(text[pos:])
    return "".join(out)
