"""engine/sql/script.py: Hive and psql variables, Redshift attributes blanked, positions."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from engine.sql.errors import SqlError
from engine.sql.script import (
    HIVE_SUBSTITUTE_DEPTH,
    blank_redshift_column_attributes,
    locate,
    position,
    substitute_hive,
    substitute_psql,
)

ROOT = Path(__file__).resolve().parent.parent.parent

# The Redshift getting-started guide's TICKIT DDL, verbatim: the lab's script holds it as LABS.md gives it.
_LAB = (ROOT / "sql" / "tickit_lab.sql").read_text()
TICKIT_DDL = _LAB[_LAB.index("create table users") : _LAB.index("\n\ncopy users")] + "\n"


def newlines(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch == "\n"]


def assert_same_layout(before: str, after: str) -> None:
    """Same length, same newline offsets, and only spaces where the two differ."""
    assert len(after) == len(before)
    assert newlines(after) == newlines(before)
    assert all(a == b or a == " " for a, b in zip(after, before))


# --------------------------------------------------------------------------------------------------
# positions


def test_position_is_one_based() -> None:
    text = "ab\ncde\n\nf"
    assert position(text, 0) == (1, 1)
    assert position(text, 1) == (1, 2)
    assert position(text, 2) == (1, 3)  # the newline itself ends line 1
    assert position(text, 3) == (2, 1)
    assert position(text, 5) == (2, 3)
    assert position(text, 7) == (3, 1)
    assert position(text, 8) == (4, 1)
    assert position(text, len(text)) == (4, 2)  # just past the end
    assert position(text, 999) == (4, 2)
    assert position(text, -5) == (1, 1)


def test_locate_draws_a_caret() -> None:
    text = "select a\nfrom t wher x\n"
    assert locate(text, 2, 8) == "from t wher x\n       ^"
    assert locate(text, 1, 1) == "select a\n^"
    assert locate(text, 9, 1) == ""
    assert locate("a\tb", 1, 3) == "a\tb\n \t^"  # tabs kept so the caret lines up
    assert locate("x\r\ny", 1, 2) == "x\n ^"  # CRLF: no \r shown; a column past the end points after it


def test_locate_cuts_long_lines() -> None:
    line = "x" * 500 + "HERE" + "y" * 500
    shown, caret = locate(line, 1, 501, width=40).split("\n")
    assert shown.startswith("...") and shown.endswith("...")
    assert "HERE" in shown
    assert shown[caret.index("^")] == "H"


def test_position_and_locate_agree() -> None:
    text = "one\n  two three\nfour"
    offset = text.index("three")
    line, col = position(text, offset)
    assert locate(text, line, col).endswith("\n" + " " * (col - 1) + "^")
    assert locate(text, line, col).split("\n")[0][col - 1 :].startswith("three")


# --------------------------------------------------------------------------------------------------
# Hive


def test_hive_location_inside_quotes() -> None:
    script = (ROOT / "emr" / "Hive_CloudFront.q").read_text()
    assert "'${INPUT}/cloudfront/data'" in script
    out = substitute_hive(script, {"INPUT": "s3://bucket/in", "OUTPUT": "/tmp/out"}, {}, env={})
    assert "LOCATION 's3://bucket/in/cloudfront/data'" in out
    assert "INSERT OVERWRITE DIRECTORY '/tmp/out/os_requests/'" in out
    assert "${" not in out
    assert newlines(out) != [] and out.count("\n") == script.count("\n")
    # The regex's backslashes and '$' are left alone.
    assert '[\\/](.*)$"' in out


def test_hive_prefixes() -> None:
    text = "select ${a}, ${hivevar:a}, ${hiveconf:b}, '${env:HOME_X}'"
    out = substitute_hive(text, {"a": "1"}, {"b": "2"}, env={"HOME_X": "/h"})
    assert out == "select 1, 1, 2, '/h'"


def test_hive_plain_name_is_not_looked_up_in_hiveconf() -> None:
    with pytest.raises(SqlError, match=r"undefined variable \$\{x\}: pass -d x=VALUE"):
        substitute_hive("select ${x}", {}, {"x": "1"}, env={})
    assert substitute_hive("select ${hiveconf:x}", {}, {"x": "1"}, env={}) == "select 1"


def test_hive_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPT_TEST_VAR", "from-env")
    assert substitute_hive("${env:SCRIPT_TEST_VAR}", {}, {}) == "from-env"


def test_hive_recursive_values() -> None:
    hivevar = {"INPUT": "${BASE}/in", "BASE": "s3://${hiveconf:bucket}", "N": "${M}", "M": "3"}
    out = substitute_hive("LOCATION '${INPUT}' LIMIT ${N}", hivevar, {"bucket": "b"}, env={})
    assert out == "LOCATION 's3://b/in' LIMIT 3"


def test_hive_recursion_limit() -> None:
    # A chain exactly HIVE_SUBSTITUTE_DEPTH deep is expanded ...
    chain = {f"v{i}": f"${{v{i + 1}}}" for i in range(HIVE_SUBSTITUTE_DEPTH - 1)}
    chain[f"v{HIVE_SUBSTITUTE_DEPTH - 1}"] = "end"
    assert substitute_hive("${v0}", chain, {}, env={}) == "end"
    # ... one deeper is not, nor a value that refers to itself.
    chain[f"v{HIVE_SUBSTITUTE_DEPTH - 1}"] = f"${{v{HIVE_SUBSTITUTE_DEPTH}}}"
    chain[f"v{HIVE_SUBSTITUTE_DEPTH}"] = "end"
    with pytest.raises(SqlError, match="deeper than 40 levels"):
        substitute_hive("${v0}", chain, {}, env={})
    # The same variable met again one level deeper (through x) is too deep there.
    chain[f"v{HIVE_SUBSTITUTE_DEPTH - 1}"] = "end"
    chain["x"] = "${v0}"
    assert substitute_hive("${v0} ${v1}", chain, {}, env={}) == "end end"
    with pytest.raises(SqlError, match=r"deeper than 40 levels for \$\{x\}") as info:
        substitute_hive("${v0}\n${x}", chain, {}, env={})
    assert (info.value.line, info.value.col) == (2, 1)
    with pytest.raises(SqlError, match=r"deeper than 40 levels for \$\{a\}") as info:
        substitute_hive("select\n  ${a}", {"a": "x${b}", "b": "${a}"}, {}, env={})
    assert (info.value.line, info.value.col) == (2, 3)


def test_hive_undefined_variable_names_it_with_line_and_col() -> None:
    text = "create table t (a int)\nLOCATION '${INPUT}/cloudfront/data';\n"
    with pytest.raises(SqlError) as info:
        substitute_hive(text, {"OUTPUT": "o"}, {}, env={})
    err = info.value
    assert (err.line, err.col) == (2, 11)
    assert err.detail == "undefined variable ${INPUT}: pass -d INPUT=VALUE (or --hivevar INPUT=VALUE)"
    assert str(err) == "line 2, col 11: " + err.detail


def test_hive_undefined_positions_are_in_the_original_text() -> None:
    # The first reference's value is long and multi-line: the error still points into the original.
    text = "select ${long}\n, ${y}"
    with pytest.raises(SqlError) as info:
        substitute_hive(text, {"long": "a\n" * 10}, {}, env={})
    assert (info.value.line, info.value.col) == (2, 3)


def test_hive_undefined_inside_a_value_and_other_prefixes() -> None:
    with pytest.raises(SqlError) as info:
        substitute_hive("x ${a}", {"a": "${b}"}, {}, env={})
    assert info.value.detail == (
        "undefined variable ${b} (in the value of ${a}): pass -d b=VALUE (or --hivevar b=VALUE)"
    )
    assert (info.value.line, info.value.col) == (1, 3)
    with pytest.raises(SqlError, match=r"undefined variable \$\{hiveconf:x\}: pass --hiveconf x=VALUE"):
        substitute_hive("${hiveconf:x}", {"x": "1"}, {}, env={})
    with pytest.raises(SqlError, match=r"\$\{env:NOPE\}: set the environment variable NOPE"):
        substitute_hive("${env:NOPE}", {}, {}, env={})
    with pytest.raises(SqlError, match=r"hivevar:q.*pass -d q=VALUE"):
        substitute_hive("${hivevar:q}", {}, {}, env={})


def test_hive_system_is_refused() -> None:
    with pytest.raises(SqlError, match=r"\$\{system:user.name\} is not supported") as info:
        substitute_hive("\n\n   ${system:user.name}", {"system:user.name": "x"}, {}, env={})
    assert (info.value.line, info.value.col) == (3, 4)


def test_hive_keeps_line_numbers() -> None:
    text = "select ${a},\n  '${b}'\nfrom t -- end\nwhere x = ${a}\n"
    out = substitute_hive(text, {"a": "a_much_longer_value", "b": ""}, {}, env={})
    assert out.count("\n") == text.count("\n")
    assert out.splitlines()[2] == "from t -- end"
    assert out.splitlines()[3] == "where x = a_much_longer_value"


def test_hive_leaves_comments_and_non_references() -> None:
    text = (
        "-- run with -d INPUT=... ; reads ${INPUT}\n"
        "select '--${a}', \"it\\\"s --${a}\", $ {a}, ${ a }, $a -- ${undefined}\n"
    )
    out = substitute_hive(text, {"a": "1"}, {}, env={})
    assert out == (
        "-- run with -d INPUT=... ; reads ${INPUT}\n"
        "select '--1', \"it\\\"s --1\", $ {a}, ${ a }, $a -- ${undefined}\n"
    )


def test_hive_values_are_inserted_as_is() -> None:
    # Values are text: quotes, '$' and backslashes go in unchanged (Hive does no quoting).
    assert substitute_hive("'${v}'", {"v": "a'b\\c$"}, {}, env={}) == "'a'b\\c$'"


# --------------------------------------------------------------------------------------------------
# psql


def test_psql_plain_literal_identifier() -> None:
    v = {"v": "42", "s": "O'Brien", "t": 'my "table"'}
    assert substitute_psql("select :v", v) == "select 42"
    assert substitute_psql("where name = :'s'", v) == "where name = 'O''Brien'"
    assert substitute_psql('from :"t"', v) == 'from "my ""table"""'
    assert substitute_psql("select a+:v, f(:v),:v", v) == "select a+42, f(42),42"


def test_psql_literal_parses_back_to_the_value() -> None:
    out = substitute_psql("select :'s'", {"s": "it's 'quoted'"})
    lit = sqlglot.parse_one(out, read="postgres").expressions[0]
    assert isinstance(lit, exp.Literal) and lit.this == "it's 'quoted'"


def test_psql_cast_untouched() -> None:
    v = {"int": "BAD", "v": "7"}
    assert substitute_psql("select x::int, :v::int", v) == "select x::int, 7::int"
    assert substitute_psql("select x:::v", v) == "select x::7"


def test_psql_not_inside_strings_identifiers_or_comments() -> None:
    v = {"v": "X"}
    text = (
        "select ':v', 'it''s :v', E'\\' :v', $$ :v $$, $tag$ :v $tag$, \":v\", \"a\"\":v\" -- :v\n"
        "/* :v /* nested :v */ still :v */ :v"
    )
    expected = text[: text.rindex(":v")] + "X"
    assert substitute_psql(text, v) == expected


def test_psql_identifiers_with_dollar_and_e_prefix() -> None:
    v = {"v": "X"}
    # a$b$ is an identifier (no dollar quote); "name'" after an identifier ending in e is a plain string.
    assert substitute_psql("select a$b$ :v", v) == "select a$b$ X"
    assert substitute_psql("select $1, :v", v) == "select $1, X"
    assert substitute_psql("select e':v\\'', :v", v) == "select e':v\\'', X"


def test_psql_unknown_variable_left_as_is() -> None:
    text = "select :nope, :'nope', :\"nope\", :v"
    assert substitute_psql(text, {"v": "1"}) == "select :nope, :'nope', :\"nope\", 1"
    assert substitute_psql("select :'not a name', a : b", {"not": "x"}) == "select :'not a name', a : b"


def test_psql_defined_test() -> None:
    assert substitute_psql("select :{?v}, :{?w}", {"v": ""}) == "select TRUE, FALSE"


def test_psql_name_chars() -> None:
    v = {"a_1": "Y", "a": "N"}
    assert substitute_psql("select :a_1-:a.x", v) == "select Y-N.x"


# --------------------------------------------------------------------------------------------------
# Redshift attributes


def test_tickit_ddl_does_not_parse_as_is() -> None:
    # What the blanking is for: sqlglot 30 stops at the first column-level distkey.
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse(TICKIT_DDL, read="redshift")


def test_tickit_ddl_parses_after_blanking() -> None:
    out = blank_redshift_column_attributes(TICKIT_DDL)
    assert_same_layout(TICKIT_DDL, out)
    assert "distkey" not in out.lower() and "sortkey" not in out.lower()
    statements = sqlglot.parse(out, read="redshift")
    assert len(statements) == 7
    assert all(isinstance(s, exp.Create) for s in statements)
    names = [s.this.this.name for s in statements]
    assert names == ["users", "venue", "category", "date", "event", "listing", "sales"]
    users = statements[0].this
    assert [c.name for c in users.expressions][:3] == ["userid", "username", "firstname"]
    assert len(users.expressions) == 18
    # The column's own NOT NULL stays.
    assert "NOT NULL" in users.expressions[0].sql("redshift")


def test_blanking_keeps_columns() -> None:
    text = "create table t(a integer not null DistKey SORTKEY, b int sortkey)"
    out = blank_redshift_column_attributes(text)
    assert out == "create table t(a integer not null                , b int        )"


def test_blanking_encode() -> None:
    text = "create table t(a int encode zstd not null,\n b varchar(3) ENCODE lzo)"
    out = blank_redshift_column_attributes(text)
    assert out == "create table t(a int             not null,\n b varchar(3)           )"
    assert_same_layout(text, out)
    sqlglot.parse_one(out, read="redshift")


def test_blanking_table_attributes() -> None:
    text = (
        "create table if not exists t(a int distkey, b int, c int)\n"
        "  diststyle key distkey(a)\n"
        "  compound sortkey(a, b);\n"
        "create temp table u(a int) diststyle all interleaved sortkey (a,\n c);\n"
        "create table v(a int) sortkey(a) encode auto;\n"
        "create table w(a int) diststyle even sortkey auto;\n"
    )
    out = blank_redshift_column_attributes(text)
    assert_same_layout(text, out)
    for word in ("distkey", "sortkey", "diststyle", "compound", "interleaved", "encode", "auto", "even"):
        assert word not in out.lower()
    statements = sqlglot.parse(out, read="redshift")
    assert len(statements) == 4
    assert all(isinstance(s, exp.Create) for s in statements)
    assert [c.name for c in statements[0].this.expressions] == ["a", "b", "c"]


def test_blanking_ctas_attributes_but_not_its_query() -> None:
    text = "create table t distkey(a) sortkey(a) as select distkey, sortkey from s"
    out = blank_redshift_column_attributes(text)
    assert out == text.replace("distkey(a) sortkey(a)", " " * len("distkey(a) sortkey(a)"))


def test_blanking_leaves_strings_comments_identifiers_and_other_statements() -> None:
    text = (
        "create table t(\"distkey\" int distkey, -- distkey sortkey here\n"
        "  sortkey int, /* encode zstd */ c varchar(20) default 'distkey sortkey encode x')\n"
        "  distkey(\"distkey\");\n"
        "select distkey, 'distkey' from t where sortkey = 'sortkey';\n"
        "insert into t values ('a distkey b');\n"
    )
    out = blank_redshift_column_attributes(text)
    assert_same_layout(text, out)
    expected = (
        "create table t(\"distkey\" int        , -- distkey sortkey here\n"
        "  sortkey int, /* encode zstd */ c varchar(20) default 'distkey sortkey encode x')\n"
        "                    ;\n"
        "select distkey, 'distkey' from t where sortkey = 'sortkey';\n"
        "insert into t values ('a distkey b');\n"
    )
    assert out == expected
    statements = sqlglot.parse(out, read="redshift")
    assert len(statements) == 3
    default = statements[0].find(exp.DefaultColumnConstraint)
    assert default is not None and default.this.this == "distkey sortkey encode x"


def test_blanking_string_only() -> None:
    text = "select 'create table t(a int distkey)'"
    assert blank_redshift_column_attributes(text) == text


def test_blanking_without_attributes_is_identity() -> None:
    text = "create table t(a int not null, b decimal(8,2));\nselect 1;"
    assert blank_redshift_column_attributes(text) is text


def test_blanking_untokenizable_text_is_returned() -> None:
    text = "create table t(a int distkey) -- fine\n; select 'unterminated"
    assert blank_redshift_column_attributes(text) == text
