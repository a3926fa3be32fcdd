"""Tests of the TICKIT generator ``data.tickit``: counts, formats, facts, determinism."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import duckdb_sql, tickit

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "tickit"
FIELDS = {"users": 18, "venue": 5, "category": 4, "date": 8, "event": 6, "listing": 8, "sales": 10}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TICKIT at scale 0.01, seed 7, text and Parquet."""
    out = tmp_path_factory.mktemp("tickit")
    tickit.generate(out, scale=0.01, seed=7)
    return out


def _rows(path: Path, delim: str) -> List[List[str]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")
    return [line.split(delim) for line in text[:-1].split("\n")]


def _con(text_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, text_dir)
    return con


def test_row_counts_at_scale_1_match_real_sample() -> None:
    assert tickit.row_counts(1) == {
        "category": 11,
        "venue": 202,
        "users": 49990,
        "event": 8798,
        "listing": 192497,
        "sales": 172456,
        "date": 365,
    }


def test_scaling_rules() -> None:
    c = tickit.row_counts(3)
    assert c["sales"] == 3 * 172456 and c["listing"] == 3 * 192497
    assert c["users"] == 49990 and c["event"] == 8798
    c = tickit.row_counts(0.001)
    assert c["users"] == 1000 and c["event"] == 300 and c["sales"] == 172
    with pytest.raises(ValueError):
        tickit.row_counts(0)


def test_files_and_counts(small: Path) -> None:
    counts = tickit.row_counts(0.01)
    for table, name in tickit.FILES.items():
        rows = _rows(small / name, tickit.DELIMITERS[table])
        assert len(rows) == counts[table], table
        assert {len(r) for r in rows} == {FIELDS[table]}, table
        assert rows[0][0].isdigit(), f"{table} must have no header line"
        assert pq.read_metadata(small / "parquet" / f"{table}.parquet").num_rows == counts[table]
    assert counts["category"] == 11 and counts["venue"] == 202 and counts["date"] == 365


def test_sales_text_format(small: Path) -> None:
    rows = _rows(small / "sales_tab.txt", "\t")
    pat = re.compile(r"^([1-9]|1[0-2])/([1-9]|[12][0-9]|3[01])/2008 [0-2][0-9]:[0-5][0-9]:[0-5][0-9]$")
    assert all(pat.match(r[9]) for r in rows)
    assert any(r[9].split("/")[0] != r[9].split("/")[0].zfill(2) for r in rows)  # unpadded
    money = re.compile(r"^\d+\.\d\d$")
    assert all(money.match(r[7]) and money.match(r[8]) for r in rows)


def test_pipe_text_formats(small: Path) -> None:
    ts = re.compile(r"^2008-\d\d-\d\d \d\d:\d\d:\d\d$")
    assert all(ts.match(r[5]) for r in _rows(small / "allevents_pipe.txt", "|"))
    assert all(ts.match(r[7]) for r in _rows(small / "listings_pipe.txt", "|"))
    users = _rows(small / "allusers_pipe.txt", "|")
    flags = {v for r in users for v in r[8:]}
    assert flags == {"TRUE", "FALSE", ""}
    assert all(v for r in users for v in r[:8]), "character fields are never empty"
    assert all(re.match(r"^[A-Z0-9]{8}$", r[1]) for r in users)
    assert len({r[1] for r in users}) == len(users)
    assert all(re.match(r"^\(\d{3}\) \d{3}-\d{4}$", r[7]) for r in users)
    dates = _rows(small / "date2008_pipe.txt", "|")
    assert dates[0][:2] == ["1827", "2008-01-01"] and dates[-1][0] == "2191"
    assert {r[7] for r in dates} == {"TRUE", "FALSE"}


def test_facts(small: Path) -> None:
    con = _con(small)
    one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
    assert one("SELECT min(qtysold), max(qtysold) FROM sales") == (1, 8)
    assert one(
        "SELECT count(*) FROM sales s JOIN listing l USING (listid) WHERE "
        "s.pricepaid <> s.qtysold * l.priceperticket OR s.commission <> round(s.pricepaid * 0.15, 2) "
        "OR s.sellerid <> l.sellerid OR s.eventid <> l.eventid OR s.qtysold > l.numtickets "
        "OR s.dateid < l.dateid OR s.saletime < l.listtime OR s.buyerid = s.sellerid"
    ) == (0,)
    assert one("SELECT count(*) FROM listing WHERE totalprice <> numtickets * priceperticket") == (0,)
    assert one("SELECT count(*) FROM event WHERE venueid > 202")[0] > 0
    assert one("SELECT count(*) FROM event WHERE venueid NOT IN (SELECT venueid FROM venue)")[0] > 0
    assert one("SELECT count(*) FROM sales s JOIN event e USING (eventid) WHERE s.dateid > e.dateid") == (0,)
    assert one(
        "SELECT count(*) FROM sales s JOIN date d USING (dateid) WHERE CAST(s.saletime AS DATE) <> d.caldate"
    ) == (0,)
    assert one("SELECT count(*) FROM users WHERE liketheatre IS NULL")[0] > 0
    assert (
        one(
            "SELECT count(*) FROM users WHERE lastname = 'Smith' "
            "AND (liketheatre IS NULL OR likeclassical IS NULL)"
        )[0]
        >= 2
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lab_answers_well_defined(tmp_path: Path, seed: int) -> None:
    tickit.generate(tmp_path, scale=0.003, seed=seed, parquet=False)
    con = _con(tmp_path)
    assert len(duckdb_sql.run_query(con, duckdb_sql.CHALLENGE_SQL)) >= 3
    totals = [
        r[0]
        for r in con.execute(
            "SELECT sum(qtysold) t FROM sales GROUP BY buyerid ORDER BY t DESC LIMIT 11"
        ).fetchall()
    ]
    assert all(a > b for a, b in zip(totals, totals[1:])), totals


def test_parquet_types(small: Path) -> None:
    s = pq.read_schema(small / "parquet" / "sales.parquet")
    assert s.field("salesid").type == pa.int32() and s.field("qtysold").type == pa.int16()
    assert s.field("pricepaid").type == pa.decimal128(8, 2)
    assert s.field("saletime").type == pa.timestamp("us")
    u = pq.read_schema(small / "parquet" / "users.parquet")
    assert u.field("liketheatre").type == pa.bool_()
    assert pq.read_table(small / "parquet" / "users.parquet").column("liketheatre").null_count > 0
    d = pq.read_schema(small / "parquet" / "date.parquet")
    assert d.field("caldate").type == pa.date32() and d.field("holiday").type == pa.bool_()


def _digest(path: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.txt"))}


def test_deterministic(tmp_path: Path, small: Path) -> None:
    tickit.generate(tmp_path / "a", scale=0.01, seed=7)
    tickit.generate(tmp_path / "b", scale=0.01, seed=8, parquet=False)
    assert _digest(tmp_path / "a") == _digest(small)
    assert pq.read_table(tmp_path / "a" / "parquet" / "sales.parquet").equals(
        pq.read_table(small / "parquet" / "sales.parquet")
    )
    other = _digest(tmp_path / "b")
    assert other["category_pipe.txt"] == _digest(small)["category_pipe.txt"]
    assert other["sales_tab.txt"] != _digest(small)["sales_tab.txt"]
    assert not (tmp_path / "b" / "parquet").exists()


def test_embedded_sample_matches_its_readme_command(tmp_path: Path) -> None:
    counts = tickit.generate(tmp_path, scale=0.01, seed=0, parquet=False)
    assert counts["users"] == 1000
    assert _digest(tmp_path) == _digest(SAMPLE)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert tickit.main(["--scale", "0.001", "--seed", "1", "--out", str(tmp_path), "--no-parquet"]) == 0
    assert "sales=172" in capsys.readouterr().out
    assert (tmp_path / "sales_tab.txt").exists()
