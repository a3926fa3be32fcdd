"""Bad SQL is refused before any work, naming the construct with its line and column; bad files
fail naming the file and the record, and leave earlier output as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.sql.cli import run as sql_cli
from engine.sql.errors import SqlError
from engine.sql.session import Session


@pytest.fixture
def session(tmp_path: Path) -> Session:
    (tmp_path / "t.txt").write_text("1|a|2.50\n2|b|\n3||7.00\n")
    (tmp_path / "u.txt").write_text("1|x\n3|y\n")
    s = Session("redshift", job_args=["--executor", "serial"])
    for st in s.parse(
        f"create table t (id integer, name varchar(10), price decimal(8,2));\n"
        f"create table u (id integer, tag varchar(5));\n"
        f"copy t from '{tmp_path / 't.txt'}' delimiter '|';\n"
        f"copy u from '{tmp_path / 'u.txt'}' delimiter '|';\n"
    ):
        s.execute(st)
    return s


def refusal(session: Session, sql: str) -> SqlError:
    with pytest.raises(SqlError) as info:
        for st in session.parse(sql):
            session.execute(st)
    return info.value


@pytest.mark.parametrize(
    "sql,line,col,words",
    [
        ("select id from nosuch", 1, 16, "unknown table nosuch"),
        ("select id,\n  nme from t", 2, 3, "unknown column nme"),
        ("select id from t, u", 1, 8, "ambiguous column"),
        ("select id from t\nintersect select id from u", 1, 8, "INTERSECT is not supported"),
        ("select name, count(*) from t group by rollup(name)", 1, 46, "ROLLUP is not supported"),
        ("select sum(name) from t", 1, 8, "sum() of a string value"),
        ("select id from t where name + 1 > 2", 1, 24, "arithmetic on a string value"),
        ("select id from t where", None, None, "syntax error"),
        ("select id, name from t order by 1 offset 2", 1, 42, "OFFSET is not supported"),
        ("select id from t where price", 1, 24, "a condition must be boolean"),
        ("select name from t group by id", 1, 8, "must appear in GROUP BY"),
    ],
)
def test_unsupported_or_wrong_sql_is_refused_with_its_place(session, sql, line, col, words):
    err = refusal(session, sql)
    assert words in str(err)
    if line is not None:
        assert (err.line, err.col) == (line, col), str(err)
        assert str(err).startswith(f"line {line}, col {col}: ")


def test_copy_of_a_missing_file_and_unknown_options_are_refused(session, tmp_path):
    err = refusal(session, f"copy t from '{tmp_path / 'missing.txt'}' delimiter '|';")
    assert "no such file or directory" in str(err)
    err = refusal(session, f"copy t from '{tmp_path / 't.txt'}' delimiter '|' manifest;")
    assert "COPY option MANIFEST is not supported" in str(err) or "syntax error" in str(err)
    err = refusal(session, "copy nosuch from 'x' delimiter '|';")
    assert "COPY nosuch: no such table" in str(err)
    err = refusal(session, f"copy t from '{tmp_path / 't.txt'}' ignoreheader 1 format as parquet;")
    assert "IGNOREHEADER is for text; a Parquet file has no header lines" in str(err)


def test_hive_variable_left_undefined_is_an_error_naming_it(tmp_path, capsys):
    script = tmp_path / "q.q"
    script.write_text("SELECT 1 FROM t\nWHERE x = '${LIMIT}'\n")
    assert sql_cli(["-f", str(script)], hive=True) == 1
    err = capsys.readouterr().err
    assert "undefined variable ${LIMIT}" in err and "line 2" in err and "-d LIMIT=" in err


def test_a_file_that_does_not_match_its_ddl_fails_naming_it_and_keeps_earlier_output(tmp_path, capsys):
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.txt").write_text("1\x01x\n2\x01y\n")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "b.txt").write_text("1\x01x\nnot-a-number\x01y\n")
    out = tmp_path / "out"
    script = (
        "CREATE TABLE t (id INT, name STRING) LOCATION '${DIR}';\n"
        "INSERT OVERWRITE DIRECTORY '${OUT}' SELECT id, name FROM t;\n"
    )
    (tmp_path / "q.q").write_text(script)
    base = ["-f", str(tmp_path / "q.q"), "-d", f"OUT={out}", "--executor", "serial", "-q"]
    assert sql_cli([*base, "-d", f"DIR={good}"], hive=True) == 0
    before = sorted((str(p.relative_to(out)), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    assert "000000_0" in dict(before)
    assert sql_cli([*base, "-d", f"DIR={bad}", "--max-attempts", "1"], hive=True) == 1
    err = capsys.readouterr().err
    assert "b.txt" in err and "column id (int) cannot hold 'not-a-number'" in err
    after = sorted((str(p.relative_to(out)), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    assert after == before  # the earlier output (and its _logs), intact
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sql-")]


def test_wrong_field_count_names_the_table_and_the_delimiter(tmp_path):
    (tmp_path / "t.txt").write_text("1,a\n")
    s = Session("redshift", job_args=["--executor", "serial", "--max-attempts", "1"])
    for st in s.parse(f"create table t (id integer, name varchar(5));\ncopy t from '{tmp_path / 't.txt'}';"):
        s.execute(st)
    with pytest.raises(EngineError) as info:
        s.execute(s.parse("select id from t")[0])
    assert "has 1 fields, the table has 2 columns" in str(info.value) and "'|'" in str(info.value)
