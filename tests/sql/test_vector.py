"""The Arrow form of compiled plans (engine.sql.vector), construct by construct.

Each query runs on -r engine twice from one compiled plan, on its Arrow form and with
--no-vectorize on the record form (the reference), three reducers and two worker processes:
the part files must be the same bytes (same rows, same partitions, same order), and the rows
must be DuckDB's (the oracle, tests/sql/oracle.py). The data has NULLs in every column, negative
numbers (integer averages truncate toward zero), -0.0 and -0.00 keys, quotes, backslashes and
non-ASCII text; doubles are multiples of 1/4, so that their sums are exact in any order.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import List, NamedTuple, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data import cloudfront, duckdb_sql
from engine.errors import JobDefinitionError
from engine.sql.errors import SqlError
from engine.sql.job import SqlJob
from engine.sql.results import write_rows
from engine.sql.session import Session
from engine.sql.vector_plan import record_stages, why_not
from tests.sql.oracle import Table, assert_same, duck_sql, run_duckdb, run_engine

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = (
    ("id", "integer", "INTEGER"),
    ("g", "varchar(20)", "VARCHAR"),
    ("k", "integer", "INTEGER"),
    ("x", "integer", "INTEGER"),
    ("dc", "decimal(8,2)", "DECIMAL(8,2)"),
    ("db", "double precision", "DOUBLE"),
    ("d", "date", "DATE"),
    ("ts", "timestamp", "TIMESTAMP"),
    ("b", "boolean", "BOOLEAN"),
)
GROUPS = ["apple", "Äpfel", 'say "hi"', "tab\tin", "ab_c", "100%", " ", "日本", "apricot"]


def _rows() -> List[tuple]:
    rng = random.Random(14)

    def maybe(v: object) -> object:
        return None if rng.random() < 0.15 else v

    rows = []
    for i in range(600):
        rows.append(
            (
                i,
                maybe(rng.choice(GROUPS)),
                maybe(rng.randint(-7, 7)),
                maybe(rng.randint(-1000, 1000)),
                maybe(Decimal(rng.randint(-99999, 99999)).scaleb(-2)),
                maybe(rng.choice([-0.0, 0.0]) if rng.random() < 0.1 else rng.randint(-400, 400) / 4),
                maybe(dt.date(2008, 1, 1) + dt.timedelta(days=rng.randint(0, 40))),
                maybe(dt.datetime(2008, 1, 1, 0, 0, 0) + dt.timedelta(seconds=rng.randint(0, 9_000_000))),
                maybe(rng.random() < 0.5),
            )
        )
    return rows


#: Small tables run on the record form by default (it starts sooner): these tests ask for the Arrow form.
ARROW_ALWAYS = ("--num-cores", "2", "--sql-arrow-min-bytes", "0")


class Env(NamedTuple):
    con: duckdb.DuckDBPyConnection
    session: Session
    root: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("vector")
    table = Table("v", COLUMNS, _rows())
    path = root / "v.txt"
    path.write_text(table.redshift_text())
    con = duckdb.connect()
    table.load_duckdb(con)
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS))
    for statement in session.parse(table.redshift_ddl(path)):
        session.execute(statement)
    return Env(con, session, root)


def _parts(out: Path) -> List[bytes]:
    return [p.read_bytes() for p in sorted(out.glob("part-*"))]


def _both_forms(
    session: Session,
    sql: str,
    root: Path,
    name: str,
    more: Sequence[str] = (),
    record: Sequence[int] = (),
    clean: Sequence[str] = ("v",),
) -> List[bytes]:
    """The plan of *sql* run on its Arrow form and on its record form: the Arrow form's parts,
    after checking that they are the record form's bytes. *record*: the stages (0-based) that
    the Arrow form leaves to the record form (the run's pipeline is then ``mixed``); *clean*:
    the tables whose blocks the Arrow form must read itself, none by the record form's reader."""
    (statement,) = session.parse(sql)
    plan = session.compile(statement)
    assert sorted(record_stages(plan.to_json())) == list(record), record_stages(plan.to_json())
    outputs = []
    for form, extra in (("mixed" if record else "arrow", []), ("records", ["--no-vectorize"])):
        out = root / f"{name}-{form}"
        args = ["-r", "engine", "--sql-plan", plan.encode(), *ARROW_ALWAYS, "--executor", "processes"]
        args += ["--jobconf", "mapreduce.job.reduces=3", "--output-dir", str(out), *more, *extra]
        job = SqlJob([*args, *session.inputs(plan)])
        with job.make_runner() as runner:
            runner.run()
            counters = runner.counters()
        by_records = sum(
            c.get("sql", {}).get(f"{t} blocks read by the record form", 0) for c in counters for t in clean
        )
        history = json.loads((out / "_logs" / "history.json").read_text())
        assert history["job"]["options"]["pipeline"] == form
        if form != "records":
            assert by_records == 0, "a block of clean data was read by the record form's reader"
        outputs.append(_parts(out))
    assert outputs[0] == outputs[1], "the Arrow form's parts are not the record form's bytes"
    assert any(outputs[0]), "the query gave no rows: the comparison shows nothing"
    return outputs[0]


class Case(NamedTuple):
    id: str
    sql: str
    ordered: bool = False
    duck: str = ""  # DuckDB's text where Redshift's semantics differ by design (else transpiled)


CASES = [
    Case(
        "a_global_aggregate_of_a_stages_rows",
        "SELECT count(*), count(n), sum(n), min(g), max(s), sum(s), avg(s), max(m), min(t), "
        "count(DISTINCT n), sum(DISTINCT n) "
        "FROM (SELECT g, count(*) AS n, sum(dc) AS s, max(db) AS m, min(ts) AS t FROM v GROUP BY g) q",
    ),
    Case(
        "a_global_aggregate_of_a_stage_without_rows",
        "SELECT count(*), count(n), sum(n), min(g), max(s), sum(s), avg(s), max(m), min(t), "
        "count(DISTINCT n), coalesce(sum(n), 0) + 1, count(*) * 2 "
        "FROM (SELECT g, count(*) AS n, sum(dc) AS s, max(db) AS m, min(ts) AS t FROM v "
        "WHERE id < 0 GROUP BY g) q",
    ),
    Case(
        "a_global_aggregate_of_computed_decimals",  # Arrow's precision is not the plan's: decimal(28,2)
        "SELECT max(m), sum(m), sum(round(m, 1)), count(DISTINCT m), max(coalesce(m, 0)) "
        "FROM (SELECT g, max(dc) * 3 AS m FROM v GROUP BY g) q",
    ),
    Case(
        "every_aggregate_per_group",
        "SELECT g, count(*), count(k), sum(k), min(k), max(k), sum(dc), avg(dc), min(dc), sum(db), "
        "avg(db), min(d), max(ts), min(g), max(g) FROM v GROUP BY g",
    ),
    Case(
        "integer_avg_truncates_toward_zero",
        "SELECT k, avg(x), avg(k) FROM v GROUP BY k",
        duck="SELECT k, CAST(trunc(avg(x)) AS BIGINT), CAST(trunc(avg(k)) AS BIGINT) FROM v GROUP BY k",
    ),
    Case(
        "three_valued_filter_and_having",
        "SELECT k, d, count(*) AS n, sum(x) FROM v WHERE (b AND dc > 0) OR k IS NULL OR NOT b "
        "GROUP BY k, d HAVING count(*) > 1",
    ),
    Case(
        "string_functions_in_keys_and_filters",
        "SELECT substr(g, 1, 2) AS p, length(g), count(*) FROM v "
        "WHERE g LIKE 'a%' OR g LIKE '%\\_%' OR k IN (1, 2, 3) GROUP BY substr(g, 1, 2), length(g)",
    ),
    Case(
        "substr_of_computed_starts_and_lengths",  # per row, in code points (non-ASCII groups)
        "SELECT substr(g, k + 8, abs(x) % 4) AS a, substr(g, length(g) - 1) AS b, "
        "substr(g, 2, abs(length(g) - 2)) AS c, count(*) FROM v WHERE substr(g, k + 8, 1) <> 'p' "
        "GROUP BY 1, 2, 3",
    ),
    Case(
        "in_with_computed_values_and_nulls",  # x = v1 OR x = v2 ..., three-valued
        "SELECT k IN (x, 3) AS a, k IN (1, NULL) AS b, g IN (g, 'apple') AS c, dc IN (x, 1.25, k) AS e, "
        "d IN (DATE '2008-01-05', d) AS f, count(*) FROM v WHERE NOT (k IN (x, NULL, 2)) OR x > 0 "
        "GROUP BY 1, 2, 3, 4, 5",
    ),
    Case(
        "concat_and_coalesce_keys", "SELECT coalesce(k, 0) AS c, g || '!' AS e, count(*) FROM v GROUP BY 1, 2"
    ),
    Case(
        "negative_zero_keys_are_one_group",
        "SELECT db, dc, count(*) FROM v WHERE db = 0 OR dc = 0 GROUP BY db, dc",
    ),
    Case(
        "arithmetic_and_case",
        "SELECT CASE WHEN x > 0 THEN 'pos' WHEN x < 0 THEN 'neg' ELSE 'zero' END AS sign, "
        "sum(x * 2 + k - 1), sum(-x), sum(db * 2 - 1), max(db / 4) FROM v GROUP BY 1",
    ),
    Case(
        "decimal_date_and_timestamp_constants",
        "SELECT k, sum(dc + 0.255), max(dc * 2), count(*) FROM v WHERE dc > 1.5 AND d >= DATE '2008-01-10' "
        "AND ts < TIMESTAMP '2008-03-01 12:00:00' AND db < 50.25 GROUP BY k",
    ),
    Case(
        "mod_abs_case_trim_and_nullif",
        "SELECT upper(g), lower(g), trim(g), count(*), sum(x % 7), sum(k % -3), sum(abs(k)), sum(abs(dc)), "
        "sum(dc % 3), sum(dc % 0.7), sum(db % 2.5), max(x % 0), count(nullif(k, 0)) FROM v GROUP BY 1, 2, 3",
        # x % 0 is NULL here (Hive's rule), an error in DuckDB
        duck="SELECT upper(g), lower(g), trim(g), count(*), sum(x % 7), sum(k % -3), sum(abs(k)), "
        "sum(abs(dc)), sum(dc % 3), sum(dc % 0.7), sum(db % 2.5), max(TRY(x % 0)), count(nullif(k, 0)) "
        "FROM v GROUP BY 1, 2, 3",
    ),
    Case(
        "casts_explicit_and_implicit",
        "SELECT CAST(k AS double precision), CAST(x AS decimal(12,3)), CAST(d AS varchar), "
        "CAST(dc AS integer), "
        "CAST(db AS decimal(10,1)), CAST(b AS integer), CAST(d AS timestamp), count(*) FROM v "
        "WHERE db > dc OR dc IS NULL GROUP BY 1, 2, 3, 4, 5, 6, 7",
    ),
    Case(
        "division_rounding_and_more_date_parts",
        "SELECT x / 7, k / -3, x / 0, round(db, 1), round(dc, 1), round(dc), extract(quarter FROM d), "
        "extract(dow FROM d), extract(doy FROM d), extract(hour FROM ts), extract(minute FROM ts), "
        "extract(second FROM ts), extract(hour FROM d), g ILIKE 'A%', b IS TRUE, b IS NOT FALSE, count(*) "
        "FROM v GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16",
        # Redshift's integer division truncates toward zero (x / 0: NULL here, an error there)
        duck="SELECT CAST(trunc(x / 7) AS BIGINT), CAST(trunc(k / -3) AS BIGINT), CAST(NULL AS BIGINT), "
        "round(db, 1), round(dc, 1), round(dc), extract(quarter FROM d), extract(dow FROM d), "
        "extract(doy FROM d), extract(hour FROM ts), extract(minute FROM ts), extract(second FROM ts), "
        "CASE WHEN d IS NOT NULL THEN 0 END, g ILIKE 'A%', b IS TRUE, b IS NOT FALSE, count(*) "
        "FROM v GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16",
    ),
    Case("date_parts", "SELECT extract(year FROM d), extract(month FROM d), count(*) FROM v GROUP BY 1, 2"),
    Case(
        "order_by_with_nulls_and_limit",
        "SELECT g, sum(x) AS s FROM v GROUP BY g ORDER BY s DESC NULLS LAST, g LIMIT 5",
        ordered=True,
    ),
    Case(
        "order_by_nulls_first",
        "SELECT k, sum(dc) AS s FROM v GROUP BY k ORDER BY k NULLS FIRST",
        ordered=True,
    ),
    Case(
        "map_side_inner_join", "SELECT a.g, count(*), sum(b.x) FROM v a JOIN v b ON a.id = b.k GROUP BY a.g"
    ),
    Case(
        "map_side_left_join_with_a_residual",
        "SELECT a.g, count(b.id), sum(b.x) FROM v a LEFT JOIN v b ON a.k = b.id AND b.x > a.x GROUP BY a.g",
    ),
    Case("semi_join", "SELECT g, count(*) FROM v WHERE k IN (SELECT id FROM v WHERE x > 500) GROUP BY g"),
    Case(
        "anti_join",
        "SELECT g, count(*) FROM v WHERE NOT EXISTS (SELECT 1 FROM v b WHERE b.id = v.k + 3) GROUP BY g",
    ),
    Case(
        "join_after_a_top_k_then_a_sort",
        "SELECT q.k, q.n, b.g, b.id FROM (SELECT k, count(*) AS n FROM v GROUP BY k ORDER BY n DESC, k "
        "LIMIT 4) q JOIN v b ON b.x = q.k * 100 ORDER BY q.n DESC, q.k, b.id",
        ordered=True,
    ),
    Case(
        "global_aggregate",
        "SELECT count(*), count(k), sum(x), avg(x), avg(dc), min(d), max(g), sum(db) FROM v WHERE b",
        duck="SELECT count(*), count(k), sum(x), CAST(trunc(avg(x)) AS BIGINT), avg(dc), min(d), max(g), "
        "sum(db) FROM v WHERE b",
    ),
    Case(
        "distinct_aggregates_per_group",
        "SELECT g, count(DISTINCT k), count(DISTINCT db), count(DISTINCT d), count(DISTINCT g), "
        "min(DISTINCT x), max(DISTINCT dc), count(*), sum(x), sum(DISTINCT k), sum(DISTINCT dc), "
        "sum(DISTINCT db), avg(DISTINCT dc), avg(DISTINCT db) FROM v GROUP BY g",
    ),
    Case(
        "distinct_aggregates_without_group_by_over_some_rows_and_none",
        "SELECT count(DISTINCT g), count(DISTINCT dc), count(DISTINCT CASE WHEN k > 100 THEN x END), "
        "count(*), sum(DISTINCT CASE WHEN k > 100 THEN x END), avg(DISTINCT x) FROM v WHERE k > 0",
        duck="SELECT count(DISTINCT g), count(DISTINCT dc), count(DISTINCT CASE WHEN k > 100 THEN x END), "
        "count(*), sum(DISTINCT CASE WHEN k > 100 THEN x END), CAST(trunc(avg(DISTINCT x)) AS BIGINT) "
        "FROM v WHERE k > 0",
    ),
    Case(
        "global_aggregate_of_no_rows",
        "SELECT count(*), count(k), sum(x), avg(db), min(d), max(g) FROM v WHERE k > 100",
    ),
    Case(
        "global_aggregate_over_a_map_side_join_with_having",
        "SELECT sum(b.x), count(*) FROM v a JOIN v b ON a.id = b.k WHERE a.g <> 'apple' HAVING count(*) > 2",
    ),
    Case("query_without_a_shuffle", "SELECT g, x * 2, d FROM v WHERE k > 1 AND b"),
    Case(
        "query_without_a_shuffle_over_a_map_side_join",
        "SELECT a.id, b.g, a.x + b.x FROM v a JOIN v b ON a.k = b.id WHERE a.x > 0",
    ),
    Case(
        # every row ties: the sort keeps the order the groups reach it in, the record form's
        "order_by_ties_after_a_group_by",
        "SELECT g, k, max(1) AS n FROM v GROUP BY g, k ORDER BY n",
    ),
    Case(
        "ranking_windows_per_partition",
        "SELECT g, k, x, row_number() OVER (PARTITION BY g ORDER BY x, id) AS rn, "
        "rank() OVER (PARTITION BY g ORDER BY k DESC) AS r, dense_rank() OVER (PARTITION BY g ORDER BY k "
        "NULLS FIRST) AS dr, ntile(7) OVER (PARTITION BY g ORDER BY x, id) AS t FROM v",
    ),
    Case(
        "ntile_over_everything_then_a_filter_and_a_group_by",
        "SELECT t, count(*) FROM (SELECT ntile(1000) OVER (ORDER BY dc DESC NULLS FIRST, id) AS t, "
        "rank() OVER (ORDER BY d NULLS LAST) AS r FROM v) q WHERE t < 40 OR r = 1 GROUP BY t",
    ),
    Case(
        "top_three_per_two_key_partition",
        "SELECT g, count(*) FROM (SELECT g, row_number() OVER (PARTITION BY g, b ORDER BY db, id) AS rn "
        "FROM v) q WHERE rn <= 3 GROUP BY g",
    ),
    Case(
        "window_aggregates_of_integers_dates_and_doubles",
        "SELECT g, x, sum(x) OVER (PARTITION BY g ORDER BY k) AS s, "
        "count(*) OVER (PARTITION BY g ORDER BY k) AS c, count(x) OVER (PARTITION BY g) AS cx, "
        "min(x) OVER (PARTITION BY g ORDER BY k, id) AS mn, "
        "max(d) OVER (PARTITION BY g ORDER BY k DESC NULLS FIRST) AS md, sum(db) OVER (PARTITION BY g "
        "ORDER BY id) AS sd, avg(db) OVER (PARTITION BY k) AS ad, max(x) OVER () AS mx FROM v",
    ),
    Case(
        "window_aggregates_by_the_record_forms_code",
        "SELECT id, sum(dc) OVER (PARTITION BY b ORDER BY d, id) AS s, min(g) OVER (ORDER BY k) AS m, "
        "max(ts) OVER (PARTITION BY k) AS t, avg(x) OVER (PARTITION BY g ORDER BY id) AS a, "
        "min(db) OVER (PARTITION BY g) AS mdb FROM v",
        duck="SELECT id, sum(dc) OVER (PARTITION BY b ORDER BY d, id) AS s, min(g) OVER (ORDER BY k) AS m, "
        "max(ts) OVER (PARTITION BY k) AS t, CAST(trunc(avg(x) OVER (PARTITION BY g ORDER BY id)) AS BIGINT) "
        "AS a, min(db) OVER (PARTITION BY g) AS mdb FROM v",
    ),
    Case(
        "group_by_of_a_group_by",
        "SELECT n, count(*) FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q GROUP BY n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_arrow_form_gives_the_record_forms_bytes_and_duckdbs_rows(env: Env, case: Case) -> None:
    _both_forms(env.session, case.sql, env.root, case.id)
    got = run_engine(env.session, case.sql)
    assert_same(got, run_duckdb(env.con, case.duck or duck_sql(case.sql)), case.ordered, case.sql)


TSV = [
    Case("every_type_map_only", "SELECT * FROM v"),
    Case(
        "aggregates_of_every_type",
        "SELECT g, sum(db), avg(dc), min(d), max(ts), count(*), min(b) FROM v GROUP BY g",
    ),
    Case("top_rows", "SELECT id, g, db, dc FROM v ORDER BY db DESC NULLS LAST, id LIMIT 50", ordered=True),
]


@pytest.mark.parametrize("case", TSV, ids=[c.id for c in TSV])
def test_tsv_output_is_what_write_rows_prints_on_both_forms(env: Env, case: Case) -> None:
    """``--sql-output tsv`` (what the CLI prints to a pipe): both forms write the same bytes,
    the lines ``results.write_rows`` prints for the query's rows."""
    parts = _both_forms(env.session, case.sql, env.root, f"tsv-{case.id}", more=("--sql-output", "tsv"))
    rows = run_engine(env.session, case.sql)
    printed = io.StringIO()
    write_rows(rows, [f"c{i}" for i in range(len(rows[0]))], "tsv", printed, "redshift")
    text = b"".join(parts).decode()
    if case.ordered:
        assert text == printed.getvalue()
    else:  # the rows job and the tsv job are two runs of one plan: the same parts, in part order
        assert sorted(text.splitlines()) == sorted(printed.getvalue().splitlines())
    for extra in ([], ["--no-vectorize"]):
        session = Session(
            "redshift", runner="engine", job_args=[*ARROW_ALWAYS, *extra], tables=env.session.tables
        )
        session.text_format = "tsv"
        (statement,) = session.parse(case.sql)
        result = session.execute(statement)
        assert result.rows is None and result.count == len(rows)
        assert sorted(result.text.decode().splitlines()) == sorted(printed.getvalue().splitlines())


# ------------------------------------------------------------------------------- shuffled joins

#: Joins with neither side broadcast (``SET hive.auto.convert.join=false``): each runs as a join
#: stage over several map tasks a table (4 KB splits), its keys of every type, NULL keys included.
SHUFFLED = [
    Case(
        "inner_then_group_by", "SELECT a.g, count(*), sum(b.x) FROM v a JOIN v b ON a.id = b.k GROUP BY a.g"
    ),
    Case(
        "inner_then_a_global_aggregate", "SELECT count(*), sum(b.x), max(a.g) FROM v a JOIN v b ON a.id = b.k"
    ),
    Case(
        "inner_then_a_global_aggregate_of_a_decimal",
        "SELECT sum(a.dc * 3), count(*) FROM v a JOIN v b ON a.id = b.k",
    ),
    Case(
        "an_empty_join_then_a_global_aggregate",
        "SELECT count(*), sum(b.x), max(a.g), avg(b.dc) FROM v a JOIN v b ON a.id = b.k WHERE a.x > 5000",
    ),
    Case(
        "full_with_a_residual_as_the_result",
        "SELECT a.id, b.id, a.g, b.g FROM v a FULL JOIN v b ON a.k = b.k AND a.x < b.x",
    ),
    Case(
        "left_on_doubles_with_a_residual",
        "SELECT a.id, b.id, a.dc, b.db FROM v a LEFT JOIN v b ON a.db = b.db AND a.id < b.id",
    ),
    Case("right_on_decimals", "SELECT a.id, b.id FROM v a RIGHT JOIN v b ON a.dc = b.dc"),
    Case(
        "two_keys_string_and_date_then_a_filter",
        "SELECT a.g, a.d, count(*) FROM v a JOIN v b ON a.g = b.g AND a.d = b.d WHERE b.x > 0 "
        "GROUP BY a.g, a.d",
    ),
    Case("semi", "SELECT g, count(*) FROM v WHERE k IN (SELECT x FROM v WHERE x > 5) GROUP BY g"),
    Case(
        "anti_with_a_residual",
        "SELECT g, count(*) FROM v WHERE NOT EXISTS (SELECT 1 FROM v b WHERE b.id = v.k + 3 AND b.x > v.x) "
        "GROUP BY g",
    ),
    Case(
        "timestamps_then_order_by", "SELECT a.ts, b.id FROM v a JOIN v b ON a.ts = b.ts ORDER BY b.id", True
    ),
    Case(
        "booleans_and_an_expression",
        "SELECT a.b, b.id, b.g FROM v a JOIN v b ON a.b = b.b AND a.id = b.k * 50",
    ),
    Case(
        "cross_join_without_a_key",
        "SELECT a.id, b.id, a.g FROM v a CROSS JOIN w b WHERE a.id < 4 AND b.id < 5 AND a.x > b.x",
    ),
    Case(
        "a_union_all_side_then_top_k",
        "SELECT u.t, count(*) AS n FROM (SELECT id, 'a' AS t FROM v WHERE x > 0 UNION ALL "
        "SELECT id, 'b' AS t FROM w) u JOIN v b ON u.id = b.k GROUP BY u.t ORDER BY n DESC LIMIT 1",
        True,
    ),
]


@pytest.fixture(scope="module")
def shuffled(env: Env) -> Env:
    """*env*'s table, and ``w`` (the same rows in another file), with no join broadcast."""
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS), broadcast_limit=0)
    for statement in session.parse(Table("v", COLUMNS, []).redshift_ddl(env.root / "v.txt")):
        session.execute(statement)
    (env.root / "w").mkdir(exist_ok=True)
    shutil.copy(env.root / "v.txt", env.root / "w" / "w.txt")
    for statement in session.parse(Table("w", COLUMNS, []).redshift_ddl(env.root / "w")):
        session.execute(statement)
    env.con.execute("CREATE OR REPLACE VIEW w AS SELECT * FROM v")
    return Env(env.con, session, env.root)


@pytest.mark.parametrize("case", SHUFFLED, ids=[c.id for c in SHUFFLED])
def test_shuffled_joins_give_the_record_forms_bytes_and_duckdbs_rows(shuffled: Env, case: Case) -> None:
    (statement,) = shuffled.session.parse(case.sql)
    assert "join" in [s.kind for s in shuffled.session.compile(statement).stages]
    _both_forms(shuffled.session, case.sql, shuffled.root, f"shuffled-{case.id}", ["--split-size", "4K"])
    got = run_engine(shuffled.session, case.sql)
    assert_same(got, run_duckdb(shuffled.con, case.duck or duck_sql(case.sql)), case.ordered, case.sql)


def test_a_shuffled_join_of_a_parquet_table_and_a_text_table(shuffled: Env, tmp_path: Path) -> None:
    from engine.sql.cli import parquet_table

    rng = random.Random(5)
    path = tmp_path / "p.parquet"
    ids = [rng.choice([None, *range(-3, 80)]) for _ in range(900)]
    pq.write_table(
        pa.table({"K": pa.array(ids, pa.int32()), "n": list(range(900))}), path, row_group_size=200
    )
    shuffled.session.tables["p"] = parquet_table("p", str(path))
    sql = "SELECT v.g, count(*), sum(p.n), min(v.id) FROM p JOIN v ON p.k = v.k GROUP BY v.g"
    _both_forms(shuffled.session, sql, tmp_path, "parquet-join", ["--split-size", "4K"])
    shuffled.con.execute(f"CREATE OR REPLACE VIEW p AS SELECT K AS k, n FROM read_parquet('{path}')")
    assert_same(run_engine(shuffled.session, sql), run_duckdb(shuffled.con, sql), False, sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            "SELECT q.g, b.id FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q JOIN v b ON q.n = b.x",
            "Stage-2 is a join over a stage's rows",
        ),
        (
            "SELECT b.g FROM (SELECT id FROM v UNION ALL SELECT k FROM v) u JOIN v b ON u.id = b.id",
            "Stage-1 joins a UNION ALL that reads one table twice",
        ),
    ],
)
def test_shuffled_joins_without_an_arrow_form_say_why(shuffled: Env, sql: str, reason: str) -> None:
    (statement,) = shuffled.session.parse(sql)
    got = why_not(shuffled.session.compile(statement).to_json())
    assert got is not None and reason in got, got


def test_a_query_without_a_shuffle_writes_each_splits_rows_in_order(env: Env) -> None:
    sql = "SELECT id, g, x FROM v WHERE x > -500"
    parts = _both_forms(env.session, sql, env.root, "map-only-splits", ["--split-size", "4K"])
    assert len(parts) > 3  # one part per split, each in the file's order
    ids = [json.loads(line)[0] for part in parts for line in part.splitlines()]
    assert ids == sorted(ids)


def test_small_tables_run_on_the_record_form_unless_asked(env: Env, tmp_path: Path) -> None:
    (statement,) = env.session.parse("SELECT g, count(*) FROM v GROUP BY g")
    plan = env.session.compile(statement)
    for extra, pipeline in (([], "records"), (["--sql-arrow-min-bytes", "1000"], "arrow")):
        out = tmp_path / pipeline
        args = ["-r", "engine", "--sql-plan", plan.encode(), "--output-dir", str(out), *extra]
        with SqlJob([*args, *env.session.inputs(plan)]).make_runner() as runner:
            runner.run()
        history = json.loads((out / "_logs" / "history.json").read_text())
        assert history["job"]["options"]["pipeline"] == pipeline


def test_a_large_broadcast_side_counts_toward_the_arrow_form(tmp_path: Path) -> None:
    # a small scanned table probing a large side: the record form would load that side a row
    # at a time (AMPLab 3A at 300k visits broadcasts its filtered visits: 8 s of Python)
    session = _session_over(tmp_path, "big", "1|x1\n2|x2\n", "k integer, x varchar(5)")
    small = tmp_path / "side.txt"
    small.write_text("".join(f"{i % 7}|y{i}\n" for i in range(3000)))
    ddl = f"create table side (k integer, y varchar(8)); copy side from '{small}' delimiter '|';"
    for statement in session.parse(ddl):
        session.execute(statement)
    (statement,) = session.parse("SELECT big.x, side.y FROM big JOIN side ON big.k = side.k")
    plan = session.compile(statement)
    assert "broadcast_join" in json.dumps(plan.to_json())
    scanned = (tmp_path / "big.txt").stat().st_size
    for bound, form in (
        (scanned + small.stat().st_size, "arrow"),
        (scanned + small.stat().st_size + 1, "records"),
    ):
        job = SqlJob(["-r", "engine", "--sql-plan", plan.encode(), "--sql-arrow-min-bytes", str(bound)])
        assert job.offers_vector_steps() == (form == "arrow"), (bound, form)


def test_a_parquet_file_counts_as_the_text_it_holds(tmp_path: Path) -> None:
    from engine.sql.cli import parquet_table
    from engine.sql.job import PARQUET_TEXT_FACTOR

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"g": [i % 7 for i in range(5000)]}), path)
    session = Session("redshift", runner="engine")
    session.tables["p"] = parquet_table("p", str(path))
    (statement,) = session.parse("SELECT g, count(*) FROM p GROUP BY g")
    plan = session.compile(statement)
    size = path.stat().st_size
    for limit, pipeline in ((size * PARQUET_TEXT_FACTOR + 1, "records"), (size + 1, "arrow")):
        out = tmp_path / pipeline
        args = ["-r", "engine", "--sql-plan", plan.encode(), "--output-dir", str(out)]
        args += ["--sql-arrow-min-bytes", str(limit)]
        with SqlJob([*args, *session.inputs(plan)]).make_runner() as runner:
            runner.run()
        history = json.loads((out / "_logs" / "history.json").read_text())
        assert history["job"]["options"]["pipeline"] == pipeline


# ------------------------------------------------------------------------------- reading


def _session_over(root: Path, name: str, text: str, columns: str, copy: str = "delimiter '|'") -> Session:
    path = root / f"{name}.txt"
    path.write_bytes(text.encode())
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS))
    for statement in session.parse(f"create table {name} ({columns}); copy {name} from '{path}' {copy};"):
        session.execute(statement)
    return session


#: NaN as DuckDB (and PostgreSQL) treat it: equal to itself (one group, one DISTINCT value, a join
#: match), greater than every other number (ORDER BY, comparisons, max), -0.0 equal to 0.0.
NAN_ROWS = "".join(
    f"{i}|{g}|{x}\n"
    for i, (g, x) in enumerate(
        [("a", "NaN"), ("a", "1.5"), ("b", "nan"), ("b", "-0.0"), ("c", "2.5"), ("c", "NaN"), ("a", "0.0")]
        + [("b", "1.5"), ("c", ""), ("a", "-nan"), ("b", "inf"), ("c", "-inf")],
        start=1,
    )
)
NAN_QUERIES = [
    ("SELECT x, count(*) FROM n GROUP BY x", False),
    ("SELECT count(DISTINCT x), max(x), min(x) FROM n", False),
    ("SELECT g, count(DISTINCT x), min(x), max(x) FROM n GROUP BY g", False),
    ("SELECT id, x FROM n ORDER BY x, id", True),
    ("SELECT id, x FROM n ORDER BY x DESC, id", True),
    ("SELECT id FROM n ORDER BY x DESC NULLS LAST, id LIMIT 3", True),
    (
        "SELECT id, rank() OVER (ORDER BY x) AS r, "
        "dense_rank() OVER (PARTITION BY g ORDER BY x DESC) AS d FROM n",
        False,
    ),
    (
        "SELECT id, max(x) OVER (PARTITION BY g ORDER BY id) AS m, min(x) OVER (PARTITION BY g) AS l FROM n",
        False,
    ),
    ("SELECT id FROM n WHERE x > 2 OR x = x AND x < 0", False),
    ("SELECT id, x >= 1.5, x <> 1.5, x BETWEEN 1 AND 3 FROM n", False),
    ("SELECT a.id, b.id FROM n a JOIN n b ON a.x = b.x", False),
    ("SELECT id, nullif(x, x), x IN (1.5, 2.5) FROM n", False),
]


@pytest.mark.parametrize("sql, ordered", NAN_QUERIES, ids=[f"nan{i}" for i in range(len(NAN_QUERIES))])
def test_nan_on_both_forms_as_duckdb(tmp_path: Path, sql: str, ordered: bool) -> None:
    session = _session_over(tmp_path, "n", NAN_ROWS, "id int, g varchar(3), x double precision")
    _both_forms(session, sql, tmp_path, "nan")
    if " JOIN " in sql:  # the join shuffled too (both sides over the shuffle, keyed by bytes)
        session.broadcast_limit = 0
        _both_forms(session, sql, tmp_path, "nan-shuffled")
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE n AS SELECT * FROM read_csv('{tmp_path / 'n.txt'}', delim='|', header=false, "
        "columns={'id': 'INTEGER', 'g': 'VARCHAR', 'x': 'DOUBLE'})"
    )
    assert_same(run_engine(session, sql), run_duckdb(con, duck_sql(sql)), ordered, sql)


def test_values_arrow_reads_otherwise_go_to_the_record_forms_reader(tmp_path: Path) -> None:
    # " 5" (Python's int() strips it), "1.234" (rounded half up to decimal(8,2)), "yes"/"On" for
    # booleans, a \r\n line ending: Arrow's casts refuse or read these otherwise
    text = "a| 5|1.234|yes\r\na|7|2.50|On\nb|-3|1.005|f\nb||0.00|0\n"
    session = _session_over(tmp_path, "r", text, "g varchar(5), n integer, m decimal(8,2), f boolean")
    sql = "SELECT g, sum(n), sum(m), count(f), max(m) FROM r WHERE f OR NOT f GROUP BY g"
    _both_forms(session, sql, tmp_path, "lenient")
    rows = sorted(run_engine(session, sql))
    assert rows == [
        ("a", 12, Decimal("3.73"), 2, Decimal("2.50")),
        ("b", -3, Decimal("1.01"), 2, Decimal("1.01")),
    ]
    assert session.last_counters["sql"]["r blocks read by the record form"] >= 1


def test_timestamps_in_the_copys_format(tmp_path: Path) -> None:
    text = "".join(
        f"{i % 3}\t{(i % 12) + 1:02d}/{(i % 28) + 1:02d}/2008 {i % 24:02d}:{i % 60:02d}:07\n"
        for i in range(90)
    )
    session = _session_over(
        tmp_path, "s", text, "k integer, t timestamp", copy="delimiter '\\t' timeformat 'MM/DD/YYYY HH:MI:SS'"
    )
    sql = "SELECT k, min(t), max(t), count(*) FROM s GROUP BY k"
    parts = _both_forms(session, sql, tmp_path, "timestamps")
    assert b"2008-01-01T00:00:07" in b"".join(parts)


def test_a_global_aggregate_of_an_empty_parquet_file_has_its_row(tmp_path: Path) -> None:
    from engine.sql.cli import parquet_table

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"g": pa.array([], pa.string()), "n": pa.array([], pa.int64())}), path)
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS))
    session.tables["e"] = parquet_table("e", str(path))
    sql = "SELECT count(*), sum(n) FROM e"
    _both_forms(session, sql, tmp_path, "empty-parquet")
    assert run_engine(session, sql) == [(0, None)]


def test_only_the_columns_a_query_reads_are_converted(tmp_path: Path) -> None:
    # 'oops' cannot be an integer: an error where the query reads m, nothing where it does not,
    # on both forms, as in DuckDB (which converts only the columns a query reads)
    text = "a|1|oops|2008-01-01\nb|2|3|not a date\na|4|5|2008-01-02\n"
    session = _session_over(tmp_path, "r", text, "g varchar(5), n integer, m integer, d date")
    sql = "SELECT g, sum(n), count(*) FROM r GROUP BY g"
    _both_forms(session, sql, tmp_path, "unread")
    assert sorted(run_engine(session, sql)) == [("a", 5, 2), ("b", 2, 1)]
    path = tmp_path / "r.txt"
    con = duckdb.connect()
    columns = "{'g': 'VARCHAR', 'n': 'INTEGER', 'm': 'INTEGER', 'd': 'DATE'}"
    source = f"read_csv('{path}', delim='|', header=false, columns={columns})"
    duck = f"SELECT g, sum(n), count(*) FROM {source} GROUP BY g"
    assert sorted(run_duckdb(con, duck)) == [("a", 5, 2), ("b", 2, 1)]
    (statement,) = session.parse("SELECT g, sum(m) FROM r GROUP BY g")
    for extra in ([], ["--no-vectorize"]):
        session.job_args = [*ARROW_ALWAYS, *extra]
        with pytest.raises(Exception, match="column m \\(int\\) cannot hold 'oops'"):
            session.execute(statement)


def test_a_broadcast_side_written_again_is_read_again_in_the_same_process(tmp_path: Path) -> None:
    # --executor serial runs every task in this process, as auto does a small query's: the side
    # loaded for the first query must not answer the second after its file was written again
    session = _session_over(tmp_path, "big", "1|x1\n2|x2\n3|x3\n", "k integer, x varchar(5)")
    small = tmp_path / "small.txt"
    small.write_text("1|a\n2|b\n")
    ddl = f"create table small (k integer, y varchar(5)); copy small from '{small}' delimiter '|';"
    for statement in session.parse(ddl):
        session.execute(statement)
    session.job_args = [*ARROW_ALWAYS, "--executor", "serial"]
    sql = "SELECT big.x, small.y FROM big JOIN small ON big.k = small.k"
    (statement,) = session.parse(sql)
    assert "broadcast_join" in json.dumps(session.compile(statement).to_json())
    con = duckdb.connect()
    duck = (
        f"SELECT b.column1, s.column1 FROM read_csv('{tmp_path / 'big.txt'}', delim='|', header=false) b"
        f" JOIN read_csv('{small}', delim='|', header=false) s ON b.column0 = s.column0"
    )
    for text in ("1|a\n2|b\n", "2|changed\n3|new\n3|again\n"):
        small.write_text(text)
        assert sorted(run_engine(session, sql)) == sorted(run_duckdb(con, duck))


def _broadcast_join_of(session: Session, join: str) -> tuple:
    """The plan of ``big JOIN small`` (or *join*), its broadcast join's spec, and big's rows."""
    from engine.sql import vector

    (statement,) = session.parse(f"SELECT big.x, small.y FROM big {join} small ON big.k = small.k")
    plan = session.compile(statement)
    pipe = plan.to_json()["stages"][0]["inputs"][0]["pipes"][0]
    (spec,) = [op[1] for op in pipe["ops"] if op[0] == "broadcast_join"]
    table = plan.tables[0]
    (rows,) = vector._whole_table(table, vector.TableReader(table))
    return plan, spec, rows


def _big_and_small(tmp_path: Path, big: str, small: str) -> Session:
    """A session with tables big (k integer, x) and small (k integer, y) of these '|' lines."""
    session = _session_over(tmp_path, "big", big, "k integer, x varchar(8)")
    path = tmp_path / "small.txt"
    path.write_text(small)
    ddl = f"create table small (k integer, y varchar(8)); copy small from '{path}' delimiter '|';"
    for statement in session.parse(ddl):
        session.execute(statement)
    return session


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_a_broadcast_side_shared_through_its_file_joins_as_the_side_read(tmp_path: Path, join: str) -> None:
    # the first task writes the side and its keys once (vector._shared_join); the others map it
    from engine.sql import vector

    rng = random.Random(5)
    big = "".join(f"{rng.choice(['', rng.randint(0, 60)])}|b{i}\n" for i in range(400))
    small = "".join(f"{rng.choice(['', rng.randint(0, 40)])}|s{i}\n" for i in range(150))
    session = _big_and_small(tmp_path, big, small)
    plan, spec, rows = _broadcast_join_of(session, join)
    expected = vector.BroadcastJoin.read(spec, plan.tables).probe(rows)
    shared = tmp_path / "job" / ".broadcast-side"
    shared.parent.mkdir()
    builds = []
    build = vector._HashIndex.build
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vector._HashIndex, "build", lambda *a: builds.append(1) or build(*a))
        for _ in range(2):  # written by the first, mapped by both: the side, then its index
            got = vector._shared_join(spec, plan.tables, str(shared)).probe(rows)
            assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    assert len(builds) == 1  # the second process maps the first's index
    assert sorted(p.name for p in shared.parent.iterdir()) == [".broadcast-side", ".broadcast-side.lock"]
    (index,) = [p.name for p in shared.iterdir() if p.is_dir()]
    assert sorted(p.name for p in shared.iterdir()) == [index, f"{index}.lock", "keys.arrow", "side.arrow"]
    # the side has NULL keys (dropped from its index): its rows are written beside the entries
    arrays = sorted(f"{a}.npy" for a in vector._HashIndex.ARRAYS)
    assert sorted(p.name for p in (shared / index).iterdir()) == arrays
    assert expected[0].num_rows > 0


def test_a_shared_side_keyed_by_its_own_columns_writes_them_once_and_waits_for_no_writer(
    tmp_path: Path,
) -> None:
    # keys without a NULL are the side's column: side.arrow alone, keys taken from it on load;
    # a task that must not wait (vector._HeldProbe) gets None while another holds the lock
    import fcntl

    from engine.sql import vector

    big = "".join(f"{i % 70}|b{i}\n" for i in range(300))
    small = "".join(f"{i % 50}|s{i}\n" for i in range(120))
    session = _big_and_small(tmp_path, big, small)
    plan, spec, rows = _broadcast_join_of(session, "JOIN")
    expected = vector.BroadcastJoin.read(spec, plan.tables).probe(rows)
    shared = tmp_path / "job" / ".broadcast-side"
    shared.parent.mkdir()
    with open(f"{shared}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker writing the side
        assert vector._shared_join(spec, plan.tables, str(shared), wait=False) is None
        assert not shared.exists()
    for _ in range(2):
        join = vector._shared_join(spec, plan.tables, str(shared), wait=False)
        assert join is not None
        got = join.probe(rows)
        assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    assert sorted(p.name for p in shared.iterdir() if p.suffix == ".arrow") == ["side.arrow"]
    assert expected[0].num_rows > 0


@pytest.mark.parametrize("busy", ["side", "index"])
@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_a_task_reads_on_while_another_writes_the_side_and_gives_the_rows_a_probe_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busy: str, join: str
) -> None:
    # vector._ProbeAhead: while another process holds the side's lock (or its index's), each
    # batch is held, its keys worked out, and None comes out; once the lock is free, the held
    # batches and the new one come out probed, in order; a batch that fills the cap waits
    import fcntl
    import hashlib
    import threading

    from engine.arrow import keys
    from engine.arrow.step import mapped_tables
    from engine.environment import TASK_BUDGET_VAR
    from engine.sql import protocol, vector

    big = "".join(f"{'' if i % 13 == 0 else i % 70}|b{i}\n" for i in range(600))
    small = "".join(f"{i % 50}|s{i}\n" for i in range(120))
    session = _big_and_small(tmp_path, big, small)
    plan, spec, rows = _broadcast_join_of(session, join)
    stage = plan.to_json()["stages"][0]
    ops = stage["inputs"][0]["pipes"][0]["ops"]
    want = vector.run_pipe(ops, rows, plan.tables, stage)  # no shared side: read here
    assert want.num_rows > 0 and rows.column(0).null_count > 0
    job = tmp_path / "job"
    job.mkdir()
    monkeypatch.setenv("mapreduce_job_id", "probe-ahead")
    monkeypatch.setenv("mapreduce_job_local_dir", str(job))
    side = job / f".broadcast-{hashlib.sha1(protocol.dumps(spec).encode()).hexdigest()[:20]}"
    if busy == "index":  # the side is there, its index not yet
        vector._shared_join(spec, plan.tables, str(side))
        vector._JOINS.clear()
        key_type = vector._key_array(spec["big_keys"][0], rows).type
        named = repr([str(key_type), keys.key_hash_name(vector.fast_hash(120))])  # 120 side rows
        digest = hashlib.sha1(named.encode()).hexdigest()[:12]
        lock_path = side / f"index-{digest}.lock"
    else:
        lock_path = Path(f"{side}.lock")
    batches = [rows.slice(at, 100) for at in range(0, rows.num_rows, 100)]
    ahead = vector._ProbeAhead.of(ops, plan.tables, stage)
    with open(lock_path, "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker writing it
        assert [ahead.add(b) for b in batches[:3]] == [None, None, None]
        assert not ahead.ready and len(ahead.held) == 3
        assert all(len(k.keys) == 1 for _, k in ahead.held)  # their keys worked out
    released = ahead.add(batches[3])  # free: the three held and this one, a table each
    assert ahead.ready and not ahead.held
    got = list(released)
    assert len(got) == 4
    got += [t for b in batches[4:] for t in mapped_tables(ahead.add(b))]
    assert vector.concat(got, [""] * len(got)).equals(want)

    # a cap of one batch: the batch that fills it waits for the lock's holder
    monkeypatch.setenv("mapreduce_job_id", "probe-ahead-capped")
    monkeypatch.setenv(TASK_BUDGET_VAR, "4")
    shutil.rmtree(job)
    job.mkdir()
    if busy == "index":
        vector._shared_join(spec, plan.tables, str(side))
        vector._JOINS.clear()
    ahead = vector._ProbeAhead.of(ops, plan.tables, stage)
    lock = open(lock_path, "ab")
    fcntl.flock(lock, fcntl.LOCK_EX)
    threading.Timer(0.3, lock.close).start()  # the holder finishes
    got = [t for b in batches for t in mapped_tables(ahead.add(b))]
    assert ahead.ready and vector.concat(got, [""] * len(got)).equals(want)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT big.x, small.y FROM big LEFT JOIN small ON big.k = small.k",
        "SELECT count(*), min(small.y) FROM big JOIN small ON big.k = small.k",
    ],
    ids=["left", "global"],
)
def test_a_map_task_holds_every_batch_while_the_side_is_written_and_gives_them_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str
) -> None:
    # the stage's mapper (SqlJob's Arrow form) while another process holds the side's lock
    # to the task's end: every batch held (None), then the task's mapper_final gives them all,
    # the map output of the mapper with the side there (engine.arrow.step.mapped_tables)
    import fcntl
    import hashlib
    import threading

    from engine.arrow.step import mapped_tables
    from engine.sql import protocol

    big = "".join(f"{'' if i % 13 == 0 else i % 70}|b{i}\n" for i in range(600))
    small = "".join(f"{i % 50}|s{i}\n" for i in range(120))
    session = _big_and_small(tmp_path, big, small)
    (statement,) = session.parse(sql)
    plan = session.compile(statement)
    (spec,) = [
        op[1]
        for op in plan.to_json()["stages"][0]["inputs"][0]["pipes"][0]["ops"]
        if op[0] == "broadcast_join"
    ]
    block = (tmp_path / "big.txt").read_bytes()
    monkeypatch.setenv("mapreduce_map_input_file", str(tmp_path / "big.txt"))

    def map_task(job_id: str, lock: bool) -> tuple:
        monkeypatch.setenv("mapreduce_job_id", job_id)
        local = tmp_path / job_id
        local.mkdir()
        monkeypatch.setenv("mapreduce_job_local_dir", str(local))
        job = SqlJob(["-r", "engine", "--sql-plan", plan.encode(), "--sql-arrow-min-bytes", "0"])
        step = job.vector_steps()[0]
        batches = step.text_reader(block).to_batches(max_chunksize=100)
        digest = hashlib.sha1(protocol.dumps(spec).encode()).hexdigest()[:20]
        holder = open(local / f".broadcast-{digest}.lock", "ab")
        if lock:
            fcntl.flock(holder, fcntl.LOCK_EX)  # another worker writing the side
            threading.Timer(5, holder.close).start()  # no hang where the mapper would wait
        outs = [step.mapper(b) for b in batches]
        holder.close()
        final = [t for t in mapped_tables(step.mapper_final())]
        return outs, [t for out in outs for t in mapped_tables(out)] + final

    _, want = map_task("free", lock=False)
    outs, got = map_task("held", lock=True)
    assert outs == [None] * len(outs) and len(outs) > 4
    assert pa.concat_tables(got).equals(pa.concat_tables(want)) and sum(t.num_rows for t in got) > 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT big.x, small.y FROM big CROSS JOIN small",
        "SELECT big.x, small.y FROM big JOIN small ON big.k < small.k",
        "SELECT big.x, small.y FROM big, small WHERE big.k + small.k = 60 OR small.k IS NULL",
    ],
    ids=["cross", "theta", "comma-where"],
)
def test_a_broadcast_join_without_an_equal_key_pairs_every_row_on_both_forms_as_duckdb(
    tmp_path: Path, sql: str
) -> None:
    # no key: every big row with every side row, the condition (if any) a residual; the Arrow
    # form's probe failed ("keys cannot be empty") before
    big = "".join(f"{'' if i % 7 == 0 else i % 50}|b{i}\n" for i in range(40))
    small = "".join(f"{'' if i % 5 == 0 else i}|s{i}\n" for i in range(30))
    session = _big_and_small(tmp_path, big, small)
    (statement,) = session.parse(sql)
    assert "broadcast_join" in json.dumps(session.compile(statement).to_json())
    _both_forms(session, sql, tmp_path, "cross", clean=())
    con = duckdb.connect()
    for name, text in (("big", big), ("small", small)):
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        value = "x" if name == "big" else "y"
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', delim='|', header=false, "
            f"columns={{'k': 'INTEGER', '{value}': 'VARCHAR'}})"
        )
    want = sorted(con.execute(sql).fetchall(), key=repr)
    assert sorted(run_engine(session, sql), key=repr) == want and want


def test_an_empty_shared_side_joins_as_the_side_read(tmp_path: Path) -> None:
    # its file holds no batch: the keys taken from it have no chunk, as the side read has one
    from engine.sql import vector

    session = _big_and_small(tmp_path, "".join(f"{i}|b{i}\n" for i in range(50)), "")
    plan, spec, rows = _broadcast_join_of(session, "LEFT JOIN")
    expected = vector.BroadcastJoin.read(spec, plan.tables).probe(rows)
    shared = tmp_path / "job" / ".broadcast-side"
    shared.parent.mkdir()
    for _ in range(2):
        got = vector._shared_join(spec, plan.tables, str(shared)).probe(rows)
        assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    assert expected[0].num_rows == 50


def _selective_join(tmp_path: Path, key: str) -> Session:
    """A big table whose filter keeps ~2% of its rows, joined with a side of many more rows than
    that (so a map task holds its filtered rows back for one probe: vector._HeldProbe), the side's
    keys repeated and some NULL on both sides."""
    rng = random.Random(7)

    def k(n: int) -> str:
        v = rng.choice(["", *range(n)])
        return f"u{v}" if key == "varchar(8)" and v != "" else str(v)

    big = "".join(f"{k(400)}|{rng.randint(0, 99)}|b{i}\n" for i in range(3000))
    small = "".join(f"{k(300)}|s{i}\n" for i in range(2000))
    session = _session_over(tmp_path, "big", big, f"k {key}, f integer, x varchar(8)")
    path = tmp_path / "small.txt"
    path.write_text(small)
    for statement in session.parse(
        f"create table small (k {key}, y varchar(8)); copy small from '{path}' delimiter '|';"
    ):
        session.execute(statement)
    return session


@pytest.mark.parametrize("key", ["integer", "varchar(8)"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT big.x, small.y FROM big JOIN small ON big.k = small.k WHERE big.f < 2",
        "SELECT big.x, small.y FROM big LEFT JOIN small ON big.k = small.k WHERE big.f < 2",
        "SELECT small.y, count(*), min(big.x) FROM big JOIN small ON big.k = small.k WHERE big.f < 2 "
        "GROUP BY small.y",
        "SELECT big.x FROM big WHERE big.f < 2 AND big.k IN (SELECT k FROM small)",
    ],
    ids=["join", "left", "grouped", "semi"],
)
def test_a_selective_join_held_for_one_probe_on_both_forms_as_duckdb(
    tmp_path: Path, key: str, sql: str
) -> None:
    session = _selective_join(tmp_path, key)
    (statement,) = session.parse(sql)
    assert "broadcast_join" in json.dumps(session.compile(statement).to_json())
    _both_forms(session, sql, tmp_path, "held")
    con = duckdb.connect()
    kind = "INTEGER" if key == "integer" else "VARCHAR"
    for name, columns in (
        ("big", f"'k': '{kind}', 'f': 'INTEGER', 'x': 'VARCHAR'"),
        ("small", f"'k': '{kind}', 'y': 'VARCHAR'"),
    ):
        path = tmp_path / f"{name}.txt"
        read = f"read_csv('{path}', delim='|', header=false, columns={{{columns}}})"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {read}")
    want = run_duckdb(con, duck_sql(sql))
    assert want and len(want) < 1000
    assert_same(run_engine(session, sql), want, False, sql)


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_a_probe_much_smaller_than_the_side_builds_no_index_and_gives_the_index_pairs(
    tmp_path: Path, join: str
) -> None:
    from engine.sql import vector

    session = _selective_join(tmp_path, "varchar(8)")
    plan, spec, rows = _broadcast_join_of(session, join)
    few = rows.slice(0, 100)  # 100 * 16 < the side's keys
    looked_up = vector.BroadcastJoin.read(spec, plan.tables)
    assert 100 * vector.SMALL_PROBE_RATIO < looked_up.small_keys.num_rows
    got = looked_up.probe(few)
    assert looked_up._indexes == {}  # the side's keys were looked up in the probe's: no index
    indexed = vector.BroadcastJoin.read(spec, plan.tables)
    indexed.probe(rows)  # a large probe: the side's index, which answers every later probe
    assert indexed._indexes
    want = indexed.probe(few)
    assert got[0].equals(want[0]) and got[1].equals(want[1])
    assert got[0].num_rows > 10
    for _ in range(vector.SMALL_PROBES - 1):  # many small probes: then the index, built once
        assert looked_up.probe(few)[0].equals(want[0]) and looked_up._indexes == {}
    again = looked_up.probe(few)
    assert looked_up._indexes and again[0].equals(want[0]) and again[1].equals(want[1])


def test_a_global_aggregate_of_an_empty_file_has_its_row(tmp_path: Path) -> None:
    session = _session_over(tmp_path, "e", "", "g varchar(5), n integer")
    sql = "SELECT count(*), sum(n), max(g) FROM e"
    _both_forms(session, sql, tmp_path, "empty")
    assert run_engine(session, sql) == [(0, None, None)]  # SQL's (and DuckDB's) one row of no rows


def test_a_bad_line_is_the_record_forms_error(tmp_path: Path) -> None:
    session = _session_over(tmp_path, "bad", "a|1\nb|2|3\n", "g varchar(5), n integer")
    (statement,) = session.parse("SELECT g, sum(n) FROM bad GROUP BY g")
    messages = []
    for extra in ([], ["--no-vectorize"]):
        session.job_args = [*ARROW_ALWAYS, *extra]
        with pytest.raises(Exception) as caught:
            session.execute(statement)
        messages.append(str(caught.value))
    for message in messages:
        assert "has 3 fields, the table has 2 columns" in message, message
        assert "bad.txt" in message, message
    assert not isinstance(caught.value, SqlError) or caught.value  # both raised, not a silent NULL


def test_parquet_table_on_both_forms(tmp_path: Path) -> None:
    rng = random.Random(3)
    n = 2000
    table = pa.table(
        {
            "g": pa.array([rng.choice(["x", "y", "zé", None]) for _ in range(n)]),
            "n": pa.array([rng.choice([None, *range(-5, 6)]) for _ in range(n)], pa.int32()),
            "Money": pa.array(
                [Decimal(rng.randint(-9999, 9999)).scaleb(-2) for _ in range(n)], pa.decimal128(8, 2)
            ),
            "d": pa.array([dt.date(2008, 1, 1) + dt.timedelta(days=rng.randint(0, 9)) for _ in range(n)]),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=500)
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS))
    from engine.sql.cli import parquet_table  # the --table NAME=PATH reading

    session.tables["p"] = parquet_table("p", str(path))
    # a column named in mixed case in the file: SQL's names are case-insensitive
    sql = "SELECT g, d, sum(n), avg(n), sum(money), count(*) FROM p WHERE n <> 0 GROUP BY g, d"
    _both_forms(session, sql, tmp_path, "parquet")
    con = duckdb.connect()
    duck = sql.replace("avg(n)", "CAST(trunc(avg(n)) AS BIGINT)")  # Redshift's integer avg
    want = run_duckdb(con, duck.replace(" p ", f" read_parquet('{path}') AS p "))
    assert_same(run_engine(session, sql), want, False, sql)


def test_integer_overflow_says_to_run_on_the_record_form(env: Env) -> None:
    sql = "SELECT g, sum(x * 4611686018427387904) FROM v WHERE x > 2 GROUP BY g"
    (statement,) = env.session.parse(sql)
    with pytest.raises(Exception, match="overflows 64-bit integers on the Arrow form.*--no-vectorize"):
        env.session.execute(statement)
    env.session.job_args.append("--no-vectorize")
    try:
        rows = dict(run_engine(env.session, sql))
    finally:
        env.session.job_args.remove("--no-vectorize")
    want = dict(
        run_duckdb(env.con, "SELECT g, sum(x::HUGEINT * 4611686018427387904) FROM v WHERE x > 2 GROUP BY g")
    )
    assert rows == {k: int(v) for k, v in want.items()}


def _hive_logs(root: Path, name: str, location: Path) -> Session:
    ddl = (ROOT / "emr" / "Hive_CloudFront.q").read_text().split(";\n")[0]
    ddl = ddl.replace("cloudfront_logs", name).replace("'${INPUT}/cloudfront/data'", f"'{location}'")
    session = Session("hive", runner="engine", job_args=list(ARROW_ALWAYS))
    session.execute(session.parse(ddl)[0])
    return session


def test_regexserde_table_on_both_forms_and_duckdb(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    cloudfront.generate(logs, rows=3000, seed=11, files=2)  # headers and malformed lines included
    (logs / "parquet").exists() and shutil.rmtree(logs / "parquet")
    session = _hive_logs(tmp_path, "cloudfront_logs", logs)
    sql = (
        "SELECT os, browser, status, count(*), sum(bytes), min(dateobject), max(time) FROM cloudfront_logs "
        "WHERE dateobject BETWEEN '2014-07-05' AND '2014-08-05' GROUP BY os, browser, status"
    )
    _both_forms(session, sql, tmp_path, "cloudfront")
    con = duckdb.connect()
    duckdb_sql.load_cloudfront(con, logs)
    assert_same(run_engine(session, sql), run_duckdb(con, sql), False, sql)


def test_regexserde_lines_off_the_fast_path_on_both_forms(tmp_path: Path) -> None:
    ua = "Mozilla/5.0%20(Linux;%20x)%20Chrome/1"
    fields = ["2014-07-05", "01:02:03", "LAX1", "120", "1.2.3.4", "GET", "h", "/u", "200", "-"]
    lines = [
        "\t".join(fields + [ua]),
        "\t".join(fields[:3] + ["٣"] + fields[4:] + [ua]),  # Python's int() reads Arabic-Indic digits
        "\t".join(fields[:3] + ["12x"] + fields[4:] + [ua]),  # not an INT: NULL
        "\t".join(fields + ["Mozilla/5.0%20(Linüx;%20x)%20Chrome/2"]),  # non-ASCII: LineRegex
        " ".join(fields + [ua]),  # spaces: the full regex in RE2
        "\t".join(["2014-02-30", *fields[1:], ua]),  # not a date: NULL
        "#" + "\t".join(fields + [ua]),
        "\t".join(["", *fields[1:], ua]),  # an empty first field: no match
    ]
    logs = tmp_path / "odd"
    logs.mkdir()
    (logs / "odd.log").write_text("\n".join(lines) + "\n")
    session = _hive_logs(tmp_path, "odd_logs", logs)
    sql = "SELECT os, dateobject, bytes, count(*) FROM odd_logs GROUP BY os, dateobject, bytes"
    _both_forms(session, sql, tmp_path, "odd")
    assert sorted(run_engine(session, sql), key=repr) == sorted(
        [
            ("Linux", dt.date(2014, 7, 5), 120, 2),
            ("Linux", dt.date(2014, 7, 5), 3, 1),
            ("Linux", dt.date(2014, 7, 5), None, 1),
            ("Linüx", dt.date(2014, 7, 5), 120, 1),
            ("Linux", None, 120, 1),
            (None, None, None, 2),
        ],
        key=repr,
    )


def test_integer_sums_past_64_bits_are_an_error_and_wraps_that_come_back_are_exact(tmp_path: Path) -> None:
    big = 2**62
    # group a: partial sums pass 2**63 and come back (the true total fits); group b: it does not
    lines = [f"a|{big}", f"a|{big}", f"a|{-big}", f"a|{-big + 5}", f"b|{big}", f"b|{big}", "b|1"]
    session = _session_over(tmp_path, "w", "\n".join(lines) + "\n", "g varchar(5), n bigint")
    fits = "SELECT g, sum(n), avg(n) FROM w WHERE g = 'a' GROUP BY g"
    _both_forms(session, fits, tmp_path, "wraps")
    assert run_engine(session, fits) == [("a", 5, 1)]
    past = "SELECT g, sum(n) FROM w GROUP BY g"
    (statement,) = session.parse(past)
    past_64_bits = r"Stage-1: a sum\(\) of integers goes past 64 bits on the Arrow form.*--no-vectorize"
    with pytest.raises(Exception, match=past_64_bits):
        session.execute(statement)
    session.job_args.append("--no-vectorize")
    assert sorted(run_engine(session, past)) == [("a", 5), ("b", 2 * big + 1)]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(alphabet="ab ü日𝄞", max_size=8)),
            st.one_of(st.none(), st.integers(-10, 10)),
            st.one_of(st.none(), st.integers(-3, 10)),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_the_substr_kernel_is_the_record_forms_substr(rows: List[tuple], two_arguments: bool) -> None:
    """``vector._substr`` (computed starts and lengths, gathered in NumPy) against
    ``expr``'s substr, row by row: negative and zero starts, negative lengths, NULLs, code
    points of one to four bytes."""
    from engine.sql.expr import FUNCTIONS
    from engine.sql.vector import _substr

    strings = pa.array([r[0] for r in rows], pa.string())
    starts = pa.array([r[1] for r in rows], pa.int64())
    lengths = None if two_arguments else pa.array([r[2] for r in rows], pa.int64())
    substr = FUNCTIONS["substr"]
    want = [substr(s, b) if two_arguments else substr(s, b, n) for s, b, n in rows]
    assert _substr(strings, starts, lengths).to_pylist() == want


_K = pa.array([1, 2, None, 3], pa.int64())
_DOUBLES = pa.array([1.0, 2.0, None, 0.5])
_TEXT = pa.array(["a", "1.0", None, "x"])
_DATES = pa.array([dt.date(2008, 1, 5), None, dt.date(2008, 1, 6), dt.date(2008, 1, 5)])
_TIMES = pa.array([dt.datetime(2008, 1, 5), dt.datetime(2008, 1, 5, 1), None, dt.datetime(2008, 1, 1)])


@pytest.mark.parametrize(
    ("expr", "columns"),
    [
        (["fn", "in", ["col", 0], ["lit", 1], ["lit", 2.5]], [_K]),  # 2.5 is no integer's value
        (["fn", "in", ["col", 0], ["lit", 1], ["lit", Decimal("2.5")]], [_K]),
        (["fn", "in", ["col", 0], ["lit", Decimal("2.0")], ["lit", 1]], [_K]),
        (["fn", "in", ["col", 1], ["col", 0], ["lit", "a"]], [_DOUBLES, _TEXT]),  # Hive's x cast once
        (["fn", "in", ["col", 1], ["col", 0], ["lit", dt.date(2008, 1, 5)]], [_DATES, _TIMES]),
        (["fn", "in", ["lit", None], ["lit", None]], [_K]),
        (["fn", "in", ["col", 0], ["lit", None], ["lit", 3]], [_K]),
        (["fn", "in", ["col", 0], ["col", 0], ["lit", 7.0]], [_DOUBLES]),
    ],
    ids=["float", "decimal", "whole_decimal", "string_number", "date_timestamp", "nulls", "null", "same"],
)
def test_in_is_the_record_forms_in_whatever_the_kinds_of_its_values(expr: list, columns: list) -> None:
    """``x IN (...)`` on Arrow against the record form's ``_in``, value for value: a value of
    another kind than x's is never equal to it (Python's rule), where Arrow's casts would cut
    or refuse it."""
    from engine.sql import expr as E
    from engine.sql.vector import kernel

    table = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
    got = kernel(expr, table)
    f = E.evaluator(expr)
    assert got.to_pylist() == [f(list(r.values())) for r in table.to_pylist()]


def test_substr_of_starts_and_lengths_past_any_string() -> None:
    from engine.sql.expr import FUNCTIONS
    from engine.sql.vector import _substr

    for start, length in ((5, 2**63 - 1), (-(2**63), 3), (2**62, 3), (2**63 - 1, 2**63 - 1)):
        got = _substr(pa.array(["abcdef"]), pa.array([start]), pa.array([length])).to_pylist()
        assert got == [FUNCTIONS["substr"]("abcdef", start, length)]


@pytest.mark.parametrize("delimiter", ["::", "¦", "|~|"], ids=["two", "non_ascii", "three"])
def test_a_delimiter_the_csv_reader_cannot_take_is_read_on_the_arrow_form(
    tmp_path: Path, delimiter: str
) -> None:
    """Several characters, or one outside ASCII: each stands in as a byte the block does not
    hold, so the fields are ``str.split``'s (a lone ``:``, ``|`` or ``~`` inside a field stays)."""
    rng = random.Random(9)
    words = ["a:b", "c|d", "e~f", "ü", "日本", "", "x"]
    rows = [(i, rng.choice(words), rng.randint(-20, 20)) for i in range(1500)]
    text = "".join(f"{i}{delimiter}{g}{delimiter}{x}\n" for i, g, x in rows)
    columns = "id integer, g varchar(10), x integer"
    session = _session_over(tmp_path, "m", text, columns, f"delimiter '{delimiter}'")
    sql = "SELECT g, count(*), sum(x), min(id) FROM m GROUP BY g"
    _both_forms(session, sql, tmp_path, "delimiter", ["--split-size", "8K"], clean=["m"])
    con = duckdb.connect()
    con.execute("CREATE TABLE m (id INTEGER, g VARCHAR, x INTEGER)")
    con.executemany("INSERT INTO m VALUES (?, ?, ?)", [(i, g or None, x) for i, g, x in rows])
    assert_same(run_engine(session, sql), run_duckdb(con, sql), False, sql)


def test_a_block_with_such_a_delimiter_that_arrow_refuses_is_read_as_it_is(tmp_path: Path) -> None:
    """A value Arrow's cast refuses (``1_0``, which Python's int reads) sends the block to the
    record form's reader with its own delimiters, not the byte that stood in for them; a line
    of too few fields is that reader's error, naming the delimiter."""
    text = "".join(f"{i}::g{i % 3}::{'1_0' if i == 7 else i}\n" for i in range(50))
    session = _session_over(tmp_path, "m", text, "id integer, g varchar(10), x integer", "delimiter '::'")
    sql = "SELECT g, count(*), sum(x) FROM m GROUP BY g"
    _both_forms(session, sql, tmp_path, "refused", clean=())
    assert ("g1", 17, sum(i for i in range(50) if i % 3 == 1) - 7 + 10) in run_engine(session, sql)
    assert session.last_counters["sql"]["m blocks read by the record form"] >= 1
    columns = "id integer, g varchar(10), x integer"
    bad = _session_over(tmp_path, "b", "1::a::2\n3::b\n", columns, "delimiter '::'")
    with pytest.raises(Exception, match="has 2 fields.*'::'"):
        run_engine(bad, "SELECT g, count(*) FROM b GROUP BY g")
    # a delimiter holding a line end never matches (lines are split first): the record form's
    odd = _session_over(tmp_path, "o", "1;\n", "id integer", "delimiter ';\n'")
    (statement,) = odd.parse("SELECT count(*) FROM o")
    assert "holds a line end" in (why_not(odd.compile(statement).to_json()) or "")


# ------------------------------------------------------------------------------- header lines


@pytest.mark.parametrize(
    ("header", "more"),
    [
        (["id|g|x", "-- exported 2008"], ["--split-size", "4K"]),  # later splits' first lines are rows
        (["h" * 3000, "i" * 3000, "j" * 100], ["--memory-budget", "64K"]),  # the header fills blocks
    ],
    ids=["splits", "header_past_a_block"],
)
def test_ignoreheader_skips_each_files_first_lines_on_the_arrow_form(
    tmp_path: Path, header: List[str], more: List[str]
) -> None:
    """COPY ... IGNOREHEADER n: the first n lines of every file are not rows, on the Arrow form
    as on the record form (a header line read as a row would be an error: its fields are not
    numbers); a file of fewer lines than that holds no row."""
    rng = random.Random(3)
    rows = [(i, rng.choice(["a", "b", "ü", None]), rng.randint(-50, 50)) for i in range(2400)]
    folder = tmp_path / "h"
    folder.mkdir()
    text = ["|".join("" if v is None else str(v) for v in r) for r in rows]
    (folder / "1.txt").write_text("\n".join(header + text[:2000]) + "\n")
    (folder / "2.txt").write_text("\n".join(header + text[2000:]) + "\n")
    (folder / "3.txt").write_text(header[0] + "\n")  # a header only, shorter than n lines
    session = Session("redshift", runner="engine", job_args=list(ARROW_ALWAYS))
    ddl = f"create table h (id integer, g varchar(5), x integer); copy h from '{folder}' delimiter '|' "
    for statement in session.parse(ddl + f"ignoreheader {len(header)};"):
        session.execute(statement)
    sql = "SELECT g, count(*), sum(x), min(id), max(id) FROM h GROUP BY g"
    _both_forms(session, sql, tmp_path, "header", more, clean=["h"])
    con = duckdb.connect()
    con.execute("CREATE TABLE h (id INTEGER, g VARCHAR, x INTEGER)")
    con.executemany("INSERT INTO h VALUES (?, ?, ?)", rows)
    assert_same(run_engine(session, sql), run_duckdb(con, sql), False, sql)


# ------------------------------------------------------------------------------- per stage


class Mixed(NamedTuple):
    id: str
    sql: str
    record: Sequence[int]  # the stages (0-based) left to the record form
    ordered: bool = False
    shuffled: bool = False  # no join broadcast


#: LIKE with a computed pattern has no Arrow kernel yet: a stage that computes one runs on the record form.
MIXED = [
    Mixed(
        "a_last_stage_on_the_record_form",  # its HAVING
        "SELECT n, count(*) AS c FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q GROUP BY n "
        "HAVING max(g) LIKE '%' || min(g) || '%'",
        [1],
    ),
    Mixed(
        "a_global_aggregate_on_the_record_form_after_arrow",
        "SELECT count(*), sum(n), max(g) FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q "
        "HAVING max(g) LIKE '%' || min(g) || '%' OR count(*) >= 0",
        [1],
    ),
    Mixed(
        "a_global_aggregate_of_no_rows_on_the_record_form_after_arrow",
        "SELECT count(*), sum(n), max(g) FROM (SELECT g, count(*) AS n FROM v WHERE id < 0 GROUP BY g) q "
        "HAVING max(g) LIKE '%' || min(g) || '%' OR count(*) >= 0",
        [1],
    ),
    Mixed(
        "a_sort_on_arrow_after_the_record_form",
        "SELECT g, n FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q "
        "ORDER BY (g LIKE substr(g, 1, 1) || '%p%') NULLS FIRST, n, g NULLS FIRST",
        [0],
        ordered=True,
    ),
    Mixed(
        "a_first_stage_on_the_record_form",
        "SELECT n, count(*), sum(s) FROM (SELECT (g LIKE substr(g, 1, 1) || '%p%') AS r, count(*) AS n, "
        "sum(dc) AS s FROM v GROUP BY (g LIKE substr(g, 1, 1) || '%p%')) q GROUP BY n",
        [0],
    ),
    Mixed(
        "a_global_aggregate_after_the_record_form",  # the record stage's sentinel is no row
        "SELECT count(*), sum(n), max(r), min(s) FROM (SELECT (g LIKE substr(g, 1, 1) || '%p%') AS r, "
        "count(*) AS n, sum(dc) AS s FROM v GROUP BY (g LIKE substr(g, 1, 1) || '%p%')) q",
        [0],
    ),
    Mixed(
        "a_global_aggregate_of_no_rows_after_the_record_form",
        "SELECT count(*), sum(n), max(r) FROM (SELECT (g LIKE substr(g, 1, 1) || '%p%') AS r, count(*) AS n "
        "FROM v WHERE id < 0 GROUP BY (g LIKE substr(g, 1, 1) || '%p%')) q",
        [0],
    ),
    Mixed(
        "every_type_crosses_to_the_record_form_and_back",
        "SELECT r, s, md, mt, sd, mb, mg, c FROM (SELECT (g LIKE substr(g, 1, 1) || '%p%') AS r, "
        "sum(s) AS s, min(md) AS md, max(mt) AS mt, sum(sd) AS sd, min(mb) AS mb, max(g) AS mg, "
        "count(*) AS c FROM (SELECT g, sum(dc) AS s, min(d) AS md, max(ts) AS mt, sum(db) AS sd, "
        "min(b) AS mb FROM v GROUP BY g) a GROUP BY (g LIKE substr(g, 1, 1) || '%p%')) b "
        "ORDER BY r NULLS FIRST",
        [1],
        ordered=True,
    ),
    Mixed(
        "a_join_over_a_stages_rows_then_arrow",  # Stage-1 carries b's rows to the join
        "SELECT q.g, count(*), sum(b.dc) FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q "
        "JOIN v b ON q.n = b.x GROUP BY q.g",
        [0, 1],
        shuffled=True,
    ),
]


@pytest.mark.parametrize("case", MIXED, ids=[c.id for c in MIXED])
def test_a_stage_without_an_arrow_form_runs_on_the_record_form_beside_arrow_stages(
    env: Env, shuffled: Env, case: Mixed
) -> None:
    """Only the stages without an Arrow form run on the record form (EXPLAIN names each and
    why); the parts are the record form's bytes and the rows DuckDB's."""
    on = shuffled if case.shuffled else env
    _both_forms(on.session, case.sql, on.root, f"mixed-{case.id}", ["--split-size", "8K"], record=case.record)
    (explain,) = on.session.parse(f"EXPLAIN {case.sql}")
    text = on.session.execute(explain).explain
    assert "enabled: partly" in text
    for i in case.record:
        assert f"on the record form: Stage-{i + 1}" in text
    got = run_engine(on.session, case.sql)
    assert_same(got, run_duckdb(on.con, duck_sql(case.sql)), case.ordered, case.sql)


def test_explain_analyze_counts_the_rows_that_cross_between_the_forms(env: Env) -> None:
    sql = MIXED[0].sql  # Stage-1 on Arrow, Stage-2 (its HAVING has such a LIKE) on the record form
    (statement,) = env.session.parse(f"EXPLAIN ANALYZE {sql}")
    text = env.session.execute(statement).explain
    groups = len(run_duckdb(env.con, "SELECT DISTINCT g FROM v"))
    assert f"Stage-1: {groups} rows crossed to the record form" in text


def test_a_record_stages_integer_past_64_bits_is_an_error_before_an_arrow_stage(tmp_path: Path) -> None:
    """The record form's sums have no bound; the next stage's Arrow columns do: the error names
    the stage and says what to do, and --no-vectorize gives the exact total."""
    big = 2**62
    session = _session_over(tmp_path, "w", f"ab|{big}\nab|{big}\nab|{big}\n", "g varchar(5), n bigint")
    sql = (
        "SELECT s, count(*) FROM (SELECT (g LIKE substr(g, 1, 1) || '%p%') AS p, sum(n) AS s FROM w "
        "GROUP BY (g LIKE substr(g, 1, 1) || '%p%')) q GROUP BY s"
    )
    (statement,) = session.parse(sql)
    assert sorted(record_stages(session.compile(statement).to_json())) == [0]
    fits_not = r"Stage-1's rows \(on the record form\) do not fit.*--no-vectorize"
    with pytest.raises(JobDefinitionError, match=fits_not):  # the same on every attempt: not retried
        session.execute(statement)
    session.job_args.append("--no-vectorize")
    assert run_engine(session, sql) == [(3 * big, 1)]


# ------------------------------------------------------------------------------- the check


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            "SELECT q.g, b.id FROM (SELECT g, count(*) AS n FROM v GROUP BY g) q FULL JOIN v b ON q.n = b.x",
            "Stage-2 is a join over a stage's rows",
        ),
    ],
)
def test_plans_without_an_arrow_form_say_why_and_run_on_the_record_form(
    env: Env, sql: str, reason: str
) -> None:
    (statement,) = env.session.parse(sql)
    plan = env.session.compile(statement)
    got = why_not(plan.to_json())
    assert got is not None and reason in got, got
    (explain,) = env.session.parse(f"EXPLAIN {sql}")
    assert f"enabled: false ({got}: -r engine runs the record form)" in env.session.execute(explain).explain


# ------------------------------------------------------------------------------- text blocks


@given(st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n")))
def test_empty_line_check_is_the_byte_search(block: bytes) -> None:
    from engine.sql.vector import _has_empty_line

    assert _has_empty_line(block) == (b"\n\n" in block)


# ------------------------------------------------------------------ the broadcast join's hash index

#: Key values of each type, few enough that probe and small keys meet (and repeat).
INDEX_VALUES = {
    "string": st.sampled_from(["", "a", "a\x00", "abcdefgh", "abcdefghi", "é", "x" * 17]),
    "int64": st.integers(-3, 3),
    "float64": st.sampled_from([0.0, -0.0, 1.5, float("nan"), -float("nan"), float("inf")]),
    "date32": st.sampled_from([dt.date(1980, 1, 1), dt.date(2008, 2, 29)]),
    "bool": st.booleans(),  # no hash: Arrow's join per batch
}
INDEX_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "date32": pa.date32(),
    "bool": pa.bool_(),
}


def _arrow_pairs(probe: List[pa.Array], small: List[pa.Array]) -> List[tuple]:
    names = [f"k{j}" for j in range(len(probe))]
    left = pa.table([*probe, pa.array(range(len(probe[0])), pa.int64())], names=[*names, "__i"])
    right = pa.table([*small, pa.array(range(len(small[0])), pa.int64())], names=[*names, "__j"])
    pairs = left.join(right, names, join_type="inner", use_threads=False).select(["__i", "__j"])
    return sorted(zip(pairs.column("__i").to_pylist(), pairs.column("__j").to_pylist()))


@given(
    st.lists(st.sampled_from(sorted(INDEX_VALUES)), min_size=1, max_size=2).flatmap(
        lambda types: st.tuples(
            st.just(types),
            st.lists(st.tuples(*(INDEX_VALUES[t] for t in types)), max_size=30),
            st.lists(st.tuples(*(st.one_of(st.none(), INDEX_VALUES[t]) for t in types)), max_size=30),
        )
    ),
    st.booleans(),
)
def test_the_broadcast_hash_index_finds_arrow_joins_pairs(case, collide) -> None:
    """The index's (probe row, small row) pairs are Arrow's join's, in its sorted order, whatever
    the hashes: with every hash equal, each candidate is checked against the key values."""
    from engine.sql import vector

    types, small_rows, probe_rows = case

    def columns(rows: list) -> List[pa.Array]:
        return [
            vector._canonical(pa.array([r[c] for r in rows], INDEX_TYPES[t])) for c, t in enumerate(types)
        ]

    small, probe = columns(small_rows), columns(probe_rows)
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            hashes = vector._key_hashes
            patch.setattr(
                vector,
                "_key_hashes",
                lambda cols, fast=False: None if hashes(cols) is None else np.zeros(len(cols[0]), np.uint64),
            )
        index = vector._HashIndex.build(small, np.arange(len(small_rows)))
        if "bool" in types:
            assert index is None
            return
        i, j = index.pairs(vector._ProbeKeys.of_keys(probe))
    got = list(zip(i.to_pylist(), j.to_pylist()))
    assert got == sorted(got)  # by probe row, then small row: the record form's order
    assert got == _arrow_pairs(probe, small)


def test_a_shared_sides_hash_index_is_built_once_and_mapped_by_every_process(tmp_path: Path) -> None:
    # vector._shared_index: the first process to need it writes it beside the side; the others
    # map it, and find the same pairs. Key types without a hash share that too (Arrow's join).
    from engine.sql import vector

    keys = [pa.array([5, 3, 5, 9, 3], pa.int64())]
    probe = [pa.array([3, 9, 4], pa.int64())]
    rows = np.arange(5, dtype=np.int64)
    fresh = vector._HashIndex.build(keys, rows)
    builds = []
    build = vector._HashIndex.build
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vector._HashIndex, "build", lambda *a: builds.append(1) or build(*a))
        for _ in range(2):
            index = vector._shared_index(str(tmp_path), (pa.int64(),), keys, rows)
            keyed = vector._ProbeKeys.of_keys(probe)
            got, want = index.pairs(keyed), fresh.pairs(keyed)
            assert got[0].equals(want[0]) and got[1].equals(want[1])
        assert isinstance(index.entries, np.memmap)  # mapped from the first one's files
        assert index.rows is None  # every side row keyed: an entry's own row
        flags = [pa.array([True, False])]
        for _ in range(2):
            assert vector._shared_index(str(tmp_path), (pa.bool_(),), flags, rows[:2]) is None
    assert len(builds) == 2  # once for each key type
    assert _arrow_pairs(probe, keys) == list(zip(got[0].to_pylist(), got[1].to_pylist()))


def test_a_process_that_hashes_otherwise_builds_its_own_shared_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the index's directory names its hash (keys.key_hash_name): a process without polars does
    # not probe polars' hashes with its own (every probe would find nothing) but builds its own
    from engine.arrow import keys
    from engine.sql import vector

    monkeypatch.setattr(vector, "FAST_HASH_ROWS", 4)  # a side this small hashes with polars too
    side = [pa.array(["a", "b", "c", "b"])]
    probe = vector._ProbeKeys.of_keys([pa.array(["b", "x", "c"])])
    rows = np.arange(4, dtype=np.int64)
    pairs = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(keys, "_polars", lambda: None)
        index = vector._shared_index(str(tmp_path), (pa.string(),), side, rows)
        assert index.fast
        i, j = index.pairs(probe)
        pairs.append(list(zip(i.to_pylist(), j.to_pylist())))
    assert pairs[0] == pairs[1] == [(0, 1), (0, 3), (2, 2)]
    names = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert len(names) == (2 if sys.version_info >= (3, 11) else 1)  # polars, then hash64
