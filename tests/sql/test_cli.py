"""``python -m engine hive`` / ``python -m engine sql``: conventions, formats, stdout vs stderr."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from engine.sql.cli import run as sql_cli

ROOT = Path(__file__).resolve().parents[2]
USERS_PARQUET = ROOT / "data" / "sample" / "tickit" / "parquet" / "users.parquet"
SALES_PARQUET = ROOT / "data" / "sample" / "tickit" / "parquet" / "sales.parquet"
SERIAL = ["--executor", "serial", "-q"]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    d = tmp_path / "t"
    d.mkdir()
    (d / "part").write_text("1\x01a\x012.50\n2\x01\\N\x01\\N\n3\x01c\x01-1.25\n")
    return d


def _ddl(location: Path) -> str:
    return f"CREATE TABLE t (id INT, name STRING, price DECIMAL(8,2)) LOCATION '{location}';\n"


def test_hive_e_with_variables_prints_tsv_rows_only(table, tmp_path, capsys):
    sql = (
        _ddl(table)
        + "SELECT id, name, price FROM t WHERE id >= ${hivevar:LOW} AND id < ${hiveconf:HIGH} ORDER BY id"
    )
    assert (
        sql_cli(["-e", sql, "-d", "LOW=1", "--hiveconf", "HIGH=3", "--format", "tsv", *SERIAL], hive=True)
        == 0
    )
    out = capsys.readouterr()
    assert out.out == "1\ta\t2.50\n2\tNULL\tNULL\n"  # Hive's CLI prints NULL


def test_status_lines_go_to_stderr(table, capsys):
    sql = _ddl(table) + "SELECT count(*) FROM t"
    assert sql_cli(["-e", sql, "--format", "tsv", "--executor", "serial"], hive=True) == 0
    out = capsys.readouterr()
    assert out.out == "3\n"
    assert "CREATE TABLE t" in out.err and "fetched 1 row(s)" in out.err


@pytest.mark.parametrize(
    "fmt,expected",
    [
        ("csv", "id,name,price\n1,a,2.50\n2,,\n3,c,-1.25\n"),
        ("jsonl", None),
        ("table", None),
    ],
)
def test_formats(table, capsys, fmt, expected):
    sql = _ddl(table) + "SELECT id, name, price FROM t ORDER BY id"
    assert sql_cli(["-e", sql, "--format", fmt, *SERIAL], hive=True) == 0
    text = capsys.readouterr().out
    if expected is not None:
        assert text == expected
    elif fmt == "jsonl":
        rows = [json.loads(line, parse_float=Decimal) for line in text.splitlines()]
        assert rows == [
            {"id": 1, "name": "a", "price": Decimal("2.50")},
            {"id": 2, "name": None, "price": None},
            {"id": 3, "name": "c", "price": Decimal("-1.25")},
        ]
        assert '"price": 2.50' in text  # the decimal exact, as a number
    else:
        lines = text.splitlines()
        assert lines[0].split("|")[0].strip() == "id" and set(lines[1]) <= {"-", "+"}
        assert "(3 rows)" in text


def test_psql_variables_and_a_parquet_table(capsys):
    sql = "SELECT state, count(*) AS n FROM users WHERE state = :'st' GROUP BY state"
    argv = ["-c", sql, "-v", "st=NY", "--table", f"users={USERS_PARQUET}", "--format", "tsv", *SERIAL]
    assert sql_cli(argv, hive=False) == 0
    expected = duckdb.sql(
        f"SELECT state, count(*) FROM '{USERS_PARQUET}' WHERE state = 'NY' GROUP BY state"
    ).fetchall()
    assert capsys.readouterr().out == "".join(f"{s}\t{n}\n" for s, n in expected)


def test_parquet_join_equals_duckdb(capsys):
    sql = (
        "SELECT u.state, sum(s.qtysold) AS q FROM sales s JOIN users u ON s.buyerid = u.userid "
        "GROUP BY u.state ORDER BY q DESC, u.state LIMIT 5"
    )
    argv = [
        "-c",
        sql,
        "--table",
        f"sales={SALES_PARQUET}",
        "--table",
        f"users={USERS_PARQUET}",
        "--format",
        "tsv",
    ]
    assert sql_cli([*argv, *SERIAL], hive=False) == 0
    con = duckdb.connect()
    con.execute(f"CREATE VIEW sales AS SELECT * FROM '{SALES_PARQUET}'")
    con.execute(f"CREATE VIEW users AS SELECT * FROM '{USERS_PARQUET}'")
    expected = con.execute(sql).fetchall()
    assert capsys.readouterr().out == "".join(f"{s}\t{q}\n" for s, q in expected)


def test_explain_switch_and_explain_analyze(table, capsys):
    sql = _ddl(table) + "SELECT name, count(*) FROM t GROUP BY name"
    assert sql_cli(["-e", sql, "--explain", *SERIAL], hive=True) == 0
    plan = capsys.readouterr().out
    assert plan.startswith("STAGE DEPENDENCIES:") and "Group By Operator" in plan and "ANALYZE" not in plan
    assert (
        sql_cli(
            ["-e", _ddl(table) + "EXPLAIN ANALYZE SELECT name, count(*) FROM t GROUP BY name", *SERIAL],
            hive=True,
        )
        == 0
    )
    analyzed = capsys.readouterr().out
    assert "ANALYZE: 3 rows in" in analyzed
    assert "    rows out: 3\n" in analyzed and "  t: 3 rows read\n" in analyzed  # from the job's counters
    assert "  wave step 1 map: " in analyzed  # the engine's waves, with seconds


def test_report_holds_the_stage_plan_with_rows_per_stage(table, tmp_path, capsys):
    sql = _ddl(table) + "SELECT name, count(*) FROM t WHERE id > 1 GROUP BY name"
    report = tmp_path / "report.html"
    assert sql_cli(["-e", sql, "--report", str(report), *SERIAL], hive=True) == 0
    capsys.readouterr()
    page = html.unescape(report.read_text())
    section = page.split("<h2>SQL stage plan</h2><pre>")[1].split("</pre>")[0]
    assert section.startswith("STAGE DEPENDENCIES:") and "Group By Operator" in section
    # the file's 3 rows were read; 2 pass id > 1, in 2 groups (NULL is one)
    assert "Stage-1 rows out: 2\n" in section and "t rows read: 3\n" in section
    assert "wave step 1 map: " in section and "wave step 1 reduce: " in section  # seconds per wave


def test_hive_from_first_form_writes_each_insert(table, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    sql = _ddl(table) + (
        f"FROM t INSERT OVERWRITE DIRECTORY '{a}' SELECT id WHERE price > 0 "
        f"INSERT OVERWRITE DIRECTORY '{b}' SELECT name, price ORDER BY name;"
    )
    assert sql_cli(["-e", sql, *SERIAL], hive=True) == 0
    assert [line for p in sorted(a.glob("0*_0")) for line in p.read_text().splitlines()] == ["1"]
    b_rows = [line for p in sorted(b.glob("0*_0")) for line in p.read_text().splitlines()]
    assert b_rows == ["\\N\x01\\N", "a\x012.50", "c\x01-1.25"]  # Hive: NULLs first ascending, \N for NULL


def test_python_m_engine_sql_runs_as_a_command(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "sql",
            "-c",
            "SELECT count(*) FROM u",
            "--table",
            f"u={USERS_PARQUET}",
            "--executor",
            "serial",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    ((expected,),) = duckdb.sql(f"SELECT count(*) FROM '{USERS_PARQUET}'").fetchall()
    assert proc.stdout == f"{expected}\n"


def test_errors_exit_1_with_the_file_and_place(tmp_path, capsys):
    script = tmp_path / "bad.sql"
    script.write_text("select 1 from\n  nosuch;\n")
    assert sql_cli(["-f", str(script)], hive=False) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {script}: line 2, col 3: unknown table nosuch")
    assert sql_cli(["-f", str(tmp_path / "missing.sql")], hive=False) == 1
    assert "No such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "switch, says",
    [(["--executor", "inline"], "argument --executor: invalid choice: 'inline'"), (["--bogus"], "--bogus")],
)
def test_a_bad_job_switch_is_one_error_line(switch, says, capsys):
    argv = ["-c", "SELECT userid FROM users", "--table", f"users={USERS_PARQUET}", "-q", *switch]
    assert sql_cli(argv, hive=False) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_the_worker_server_starts_before_parsing_for_the_scripts_files(tmp_path, monkeypatch):
    from engine import forkserver
    from engine.sql import WORKER_MODULES, cli

    started = []
    monkeypatch.setattr(
        forkserver,
        "start_executor_for_args",
        lambda args, paths, preload: started.append((args, paths)) if preload == WORKER_MODULES else None,
    )
    data = tmp_path / "it's"
    data.mkdir()
    script = (
        f"CREATE TABLE t (a INT) LOCATION '{str(data).replace(chr(39), chr(39) * 2)}';\n"
        "COPY u FROM 's3://bucket/tickit/' CREDENTIALS 'aws_iam_role=arn:x' DELIMITER '|';\n"
        "SELECT 'no such file' FROM t;\n"
    )
    cli._start_workers_early(script, [str(USERS_PARQUET)], ["--num-cores", "2"])
    assert started == [(["--num-cores", "2"], [str(data), "s3://bucket/tickit/", str(USERS_PARQUET)])]
    started.clear()
    cli._start_workers_early("SELECT 1 FROM t WHERE a = '|'", [], [])
    assert started == []  # no file named: nothing to guess from


def test_a_command_ends_its_process_with_every_row_through_the_pipe_and_its_own_status(tmp_path):
    """``python -m engine sql`` ends its process (with what start-up made frozen out of the last
    collection: ``engine.startup_gc``) with the rows it wrote to a pipe all there (DuckDB's), its
    status lines too, and a failed query's status 1, in workers as in the driver."""
    rows = tmp_path / "rows.txt"
    rows.write_text("".join(f"{i}|{i % 7}\n" for i in range(200_000)))
    sql = f"create table t (id integer, k integer); copy t from '{rows}' delimiter '|'; select id, k from t;"
    source = f"read_csv('{rows}', delim='|', header=false)"
    [want] = duckdb.sql(f"select count(*), sum(column0), sum(column1) from {source}").fetchall()
    for executor in ("serial", "processes"):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "sql", "-c", sql, "--format", "tsv", "--executor", executor],
            capture_output=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        got = [tuple(map(int, line.split("\t"))) for line in done.stdout.decode().splitlines()]
        assert (len(got), sum(r[0] for r in got), sum(r[1] for r in got)) == want
        assert "fetched 200000 row(s)" in done.stderr.decode()
        bad = subprocess.run(
            [sys.executable, "-m", "engine", "sql", "-c", sql.replace("select id", "select nope"),
             "--executor", executor],
            capture_output=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert bad.returncode == 1 and "nope" in bad.stderr.decode()
