"""The compiler's plan shapes: where predicates go, what becomes a join key, how stages are cut."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.sql import expr as E
from engine.sql.session import Session
from engine.sql.stages import StagePlan, decode, pipe_columns, stream_columns
from engine.sql.vector_plan import record_stages


@pytest.fixture
def session(tmp_path: Path) -> Session:
    for name in ("t", "u"):
        (tmp_path / f"{name}.txt").write_text("1|a|2\n")
    s = Session("redshift", broadcast_limit=0)  # reduce-side joins here; broadcasts are tested below
    for st in s.parse(
        "create table t (id integer, name varchar(5), v integer);\n"
        "create table u (id integer, tag varchar(5), w integer);\n"
        f"copy t from '{tmp_path / 't.txt'}'; copy u from '{tmp_path / 'u.txt'}';"
    ):
        s.execute(st)
    return s


def plan_of(session: Session, sql: str) -> StagePlan:
    return session.compile(session.parse(sql)[0])


def test_equality_in_where_of_a_comma_join_is_the_join_key(session):
    plan = plan_of(session, "select t.name, u.tag from t, u where t.id = u.id and t.v > 1")
    (join,) = plan.stages
    assert join.kind == "join" and join.spec["join"] == "inner"
    assert [i.keys for i in join.inputs] == [[E.col(0)], [E.col(0)]]
    (tpipe,) = join.inputs[0].pipes
    assert ["filter", ["fn", "gt", E.col(2), E.lit(1)]] in tpipe.ops  # the t-only conjunct on t's scan


def test_an_equality_every_or_branch_repeats_is_factored_out_as_the_key(session):
    plan = plan_of(
        session, "select t.name from t, u where (t.id = u.id and t.v > 4) or (t.id = u.id and u.w > 5)"
    )
    (join,) = plan.stages
    assert join.inputs[0].keys and join.inputs[1].keys
    assert join.spec["residual"][1] == "or"


def test_where_on_the_null_side_of_a_left_join_stays_above_it(session):
    plan = plan_of(session, "select t.id from t left join u on t.id = u.id where u.w is null")
    (join,) = plan.stages
    (upipe,) = join.inputs[1].pipes
    assert not any(op[0] == "filter" for op in upipe.ops)  # not pushed below the join
    assert any(op[0] == "filter" for op in join.post)  # applied to the joined rows


def test_on_condition_of_the_right_side_of_a_left_join_filters_that_side(session):
    plan = plan_of(session, "select t.id from t left join u on t.id = u.id and u.w > 3")
    (join,) = plan.stages
    (upipe,) = join.inputs[1].pipes
    assert any(op[0] == "filter" for op in upipe.ops)


def test_only_the_columns_read_cross_the_shuffle(session):
    plan = plan_of(session, "select name, sum(v) from t group by name")
    (agg,) = plan.stages
    (pipe,) = agg.inputs[0].pipes
    assert pipe.ops[0] == ["project", [E.col(1), E.col(2)]]


def test_stage_kinds_of_the_top_buyers_shape(session):
    plan = plan_of(
        session,
        "select tag, total from (select id, sum(v) total from t group by id order by total desc limit 3) q, "
        "u where q.id = u.id order by total desc",
    )
    assert [s.kind for s in plan.stages] == ["aggregate", "sort", "join", "sort"]
    assert plan.stages[1].spec["limit"] == 3
    assert plan.stages[0].spec["aggs"][0]["func"] == "sum"


def test_a_query_with_no_shuffle_is_one_map_only_stage(session):
    plan = plan_of(session, "select id, name from t where v between 1 and 3")
    assert [s.kind for s in plan.stages] == ["map"]


def test_the_plan_round_trips_through_its_option_word(session):
    plan = plan_of(session, "select name, count(distinct v) from t group by name having count(*) > 1")
    assert decode(plan.encode()) == plan.to_json()
    assert set(plan.encode()) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def test_redshift_and_hive_division_and_literals(session, tmp_path):
    plan = plan_of(session, "select v / 2, v / 2.0 from t")
    (stage,) = plan.stages
    exprs = stage.inputs[0].pipes[0].ops[-1][1]
    assert exprs[0][1] == "div_int" and exprs[1][1] == "div_decimal"
    hive = Session("hive")
    for st in hive.parse(f"CREATE TABLE t (v INT) LOCATION '{tmp_path}'"):
        hive.execute(st)
    (stage,) = hive.compile(hive.parse("SELECT v / 2, v DIV 2 FROM t")[0]).stages
    exprs = stage.inputs[0].pipes[0].ops[-1][1]
    assert exprs[0][1] == "div_double" and exprs[1][1] == "div_int"


def test_a_small_side_is_broadcast_map_side_as_hive_auto_convert_join(session):
    sql = "select t.name, u.tag from t join u on t.id = u.id"
    session.broadcast_limit = None  # Hive's default: up to 25 MB of files
    (stage,) = plan_of(session, sql).stages
    assert stage.kind == "map"
    (pipe,) = stage.inputs[0].pipes
    (join,) = [op for op in pipe.ops if op[0] == "broadcast_join"]
    assert join[1]["small"] == "right" and join[1]["tables"] == ["u"]
    for setting in ("SET hive.auto.convert.join=false", "SET hive.mapjoin.smalltable.filesize=3"):
        (statement,) = session.parse(setting)
        session.execute(statement)
        assert [s.kind for s in plan_of(session, sql).stages] == ["join"], setting
        session.settings.clear()
    session.broadcast_limit = 3  # both files are 6 bytes: too big
    assert [s.kind for s in plan_of(session, sql).stages] == ["join"]


def test_the_preserved_side_of_an_outer_join_is_never_the_broadcast_one(session):
    session.broadcast_limit = None
    (stage,) = plan_of(session, "select t.id from t left join u on t.id = u.id").stages
    (pipe,) = stage.inputs[0].pipes
    assert any(op[0] == "broadcast_join" and op[1]["small"] == "right" for op in pipe.ops)
    assert [s.kind for s in plan_of(session, "select t.id from t full join u on t.id = u.id").stages] == [
        "join"
    ]
    sql_remote = Session("redshift", runner="emr")
    sql_remote.tables = session.tables
    assert sql_remote.broadcast_bytes() == 0  # tasks on a cluster cannot read this machine's files


def test_negative_zero_keys_group_and_join_with_zero(tmp_path):
    (tmp_path / "t.txt").write_text("1|0.00|0.0\n2|-0.00|-0.0\n3|1.50|1.5\n")
    s = Session("redshift", runner="inline")
    for st in s.parse(
        f"create table t (id integer, d decimal(8,2), f double precision); copy t from '{tmp_path}/t.txt';"
    ):
        s.execute(st)
    assert sorted(s.execute(s.parse("select d, count(*) from t group by d")[0]).rows) == [
        (Decimal("0.00"), 2),
        (Decimal("1.50"), 1),
    ]
    assert sorted(s.execute(s.parse("select f, count(*) from t group by f")[0]).rows) == [(0.0, 2), (1.5, 1)]


def test_the_columns_each_table_is_read_for(session):
    # the mappers convert only these (stages.stream_columns); a broadcast side's pipe its own
    plan = plan_of(session, "select name, sum(v) from t where id > 0 group by name").to_json()
    assert stream_columns(plan) == {0: [0, 1, 2]}
    plan = plan_of(session, "select t.name, u.w from t join u on t.id = u.id").to_json()
    assert stream_columns(plan) == {0: [0, 1], 1: [0, 2]}
    session.broadcast_limit = None
    plan = plan_of(session, "select t.name, count(*) from t join u on t.id = u.id group by t.name").to_json()
    (join,) = [op for op in plan["stages"][0]["inputs"][0]["pipes"][0]["ops"] if op[0] == "broadcast_join"]
    assert stream_columns(plan) == {0: [0, 1]}
    assert [pipe_columns(p["ops"]) for p in join[1]["pipes"]] == [[0]]


def test_the_arrow_form_broadcasts_at_any_worker_count_the_record_form_shares_its_limit(tmp_path):
    # Planned only, never run: the side's file is sparse, 30 MB by its size (the limit's floor is
    # Hive's 25 MB). Of a 1G budget, the Arrow form broadcasts up to a quarter (every worker maps
    # one copy); the record form's every worker holds the side, so 16 of them share that quarter.
    (tmp_path / "t.txt").write_text("1|a\n")
    with open(tmp_path / "side.txt", "wb") as f:
        f.truncate(30_000_000)
    sql = "select t.name, side.tag from t left join side on t.id = side.id"  # side alone may be broadcast

    def join_kinds(*job_args: str, limit=None) -> list:
        s = Session("redshift", runner="engine", job_args=["--memory-budget", "1G", *job_args])
        s.broadcast_limit = limit
        for st in s.parse(
            "create table t (id integer, name varchar(5)); create table side (id integer, tag varchar(5));"
            f"copy t from '{tmp_path / 't.txt'}'; copy side from '{tmp_path / 'side.txt'}';"
        ):
            s.execute(st)
        plan = plan_of(s, sql)
        return [s.kind for s in plan.stages], plan.encode()

    assert join_kinds("--num-cores", "16")[0] == ["map"]  # broadcast
    assert join_kinds("--num-cores", "16", "--no-vectorize")[0] == ["join"]  # shuffled
    record_by_size = join_kinds("--num-cores", "16", "--sql-arrow-min-bytes", str(10**9))
    assert record_by_size[0] == ["join"]
    assert join_kinds("--num-cores", "2", "--no-vectorize")[0] == ["map"]  # 1G / 8 shared: 128 MiB
    # the plan cut again for the record form is the plan cut for it alone
    once = join_kinds("--num-cores", "16", "--sql-arrow-min-bytes", str(10**9), limit=25_000_000)
    assert once == record_by_size


def test_a_plan_partly_on_arrow_keeps_a_broadcast_its_arrow_stages_load(tmp_path):
    # Planned only, as above (a 30 MB sparse side; 16 workers share the record form's limit): a
    # side that an Arrow stage loads is still broadcast when another stage runs on the record
    # form; one that a record stage would load is shuffled, as for a plan wholly on records.
    (tmp_path / "t.txt").write_text("1|a\n")
    with open(tmp_path / "side.txt", "wb") as f:
        f.truncate(30_000_000)
    s = Session("redshift", runner="engine", job_args=["--memory-budget", "1G", "--num-cores", "16"])
    for st in s.parse(
        "create table t (id integer, name varchar(5)); create table side (id integer, tag varchar(5));"
        f"copy t from '{tmp_path / 't.txt'}'; copy side from '{tmp_path / 'side.txt'}';"
    ):
        s.execute(st)
    # stage 2's HAVING (a LIKE of a computed pattern) has no Arrow form; stage 1 joins on Arrow
    later = (
        "select n, count(*) from (select side.tag, count(*) as n from t left join side on t.id = side.id "
        "group by side.tag) q group by n having max(tag) like min(tag) || '%'"
    )
    plan = plan_of(s, later)
    assert [st.kind for st in plan.stages] == ["aggregate", "aggregate"]
    assert sorted(record_stages(plan.to_json())) == [1]
    # the join's own stage has no Arrow form: the side would be Python objects in every task
    same = (
        "select side.tag, count(*) from t left join side on t.id = side.id "
        "where t.name like side.tag || '%' group by side.tag"
    )
    assert [st.kind for st in plan_of(s, same).stages] == ["join", "aggregate"]
