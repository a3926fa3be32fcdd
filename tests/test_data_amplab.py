"""Tests of the AMPLab Big Data Benchmark generator ``data.amplab``."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Callable, Dict, List

import duckdb
import pytest

from data import amplab

N_RANKINGS, N_USERVISITS = 2000, 20000
SEED = 3


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 rankings and 20,000 uservisits in 3 part files each, seed 3."""
    d = tmp_path_factory.mktemp("amplab")
    counts = amplab.generate(d, rankings=N_RANKINGS, uservisits=N_USERVISITS, seed=SEED, files=3)
    assert counts == {"rankings": N_RANKINGS, "uservisits": N_USERVISITS}
    return d


@pytest.fixture(scope="module")
def con(out: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    assert amplab.load_duckdb(c, out) == {"rankings": N_RANKINGS, "uservisits": N_USERVISITS}
    return c


def _lines(base: Path, table: str) -> List[str]:
    lines: List[str] = []
    for p in amplab.part_files(base, table):
        text = p.read_bytes().decode("ascii")
        assert text.endswith("\n") and "\r" not in text and '"' not in text
        lines.extend(text[:-1].split("\n"))
    return lines


def _tree(base: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _concat(base: Path, table: str) -> bytes:
    return b"".join(p.read_bytes() for p in amplab.part_files(base, table))


def test_files_and_counts(out: Path) -> None:
    for table in ("rankings", "uservisits"):
        assert [p.name for p in amplab.part_files(out, table)] == ["part-00000", "part-00001", "part-00002"]
    assert len(_lines(out, "rankings")) == N_RANKINGS
    assert len(_lines(out, "uservisits")) == N_USERVISITS


def test_deterministic_and_independent_of_files(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    amplab.generate(again, rankings=N_RANKINGS, uservisits=N_USERVISITS, seed=SEED, files=3)
    assert _tree(again) == _tree(out)
    one = tmp_path / "one"
    amplab.generate(one, rankings=N_RANKINGS, uservisits=N_USERVISITS, seed=SEED, files=1)
    for table in ("rankings", "uservisits"):
        assert [p.name for p in amplab.part_files(one, table)] == ["part-00000"]
        assert _concat(one, table) == _concat(out, table)
    # regenerating into the same directory with fewer files leaves no stale parts
    amplab.generate(again, rankings=N_RANKINGS, uservisits=N_USERVISITS, seed=SEED, files=1)
    assert _tree(again) == _tree(one)
    small, other = tmp_path / "small", tmp_path / "other"
    amplab.generate(small, rankings=100, uservisits=500, seed=SEED)
    amplab.generate(other, rankings=100, uservisits=500, seed=SEED + 1)
    assert _concat(other, "rankings") != _concat(small, "rankings")
    assert _concat(other, "uservisits") != _concat(small, "uservisits")


def test_more_files_than_rows(tmp_path: Path) -> None:
    assert amplab.generate(tmp_path, rankings=2, uservisits=0, files=5) == {"rankings": 2, "uservisits": 0}
    assert len(amplab.part_files(tmp_path, "rankings")) == 2
    assert [p.read_bytes() for p in amplab.part_files(tmp_path, "uservisits")] == [b""]
    with pytest.raises(ValueError):
        amplab.generate(tmp_path, rankings=0)


def _parser(sql_type: str) -> Callable[[str], object]:
    t = sql_type.upper()
    m = re.fullmatch(r"(VAR)?CHAR\((\d+)\)", t)
    if m:
        width, fixed = int(m.group(2)), m.group(1) is None

        def text(s: str) -> str:
            assert s and s == s.strip() and (len(s) == width if fixed else len(s) <= width), (s, t)
            return s

        return text
    pattern, convert = {
        "INT": (r"\d+", int),
        "DATE": (r"\d{4}-\d\d-\d\d", dt.date.fromisoformat),
        "FLOAT": (r"\d+\.\d{1,6}", float),  # at most 6 places, no exponent
    }[t]

    def value(s: str) -> object:
        assert re.fullmatch(pattern, s), (s, t)
        return convert(s)

    return value


def _parse(out: Path, table: str) -> List[tuple]:
    columns = amplab.TABLES[table]
    parsers = [_parser(t) for _, t in columns]
    rows = []
    for line in _lines(out, table):
        fields = line.split(",")
        assert len(fields) == len(columns), line
        rows.append(tuple(p(f) for p, f in zip(parsers, fields)))
    return rows


def test_rankings_fields(out: Path) -> None:
    rows = _parse(out, "rankings")
    urls = [r[0] for r in rows]
    assert len(set(urls)) == len(urls)
    assert all(re.fullmatch(r"[a-z]{10,60}", u) for u in urls)
    ranks = [r[1] for r in rows]
    assert min(ranks) >= 0 and max(ranks) <= 10000 and max(ranks) > 1000
    assert sum(r <= 10 for r in ranks) > sum(1000 < r for r in ranks)  # many small
    assert all(1 <= r[2] <= 100 for r in rows)


def test_uservisits_fields(out: Path) -> None:
    rows = _parse(out, "uservisits")
    for ip, _url, day, _rev, _ua, cc, lc, word, duration in rows:
        octets = ip.split(".")
        assert len(octets) == 4 and all(str(int(o)) == o and 0 <= int(o) <= 255 for o in octets), ip
        assert amplab.FIRST_DAY <= day <= amplab.LAST_DAY
        assert lc.startswith(cc + "-") and re.fullmatch(r"[a-z]+", word)
        assert 1 <= duration <= 100
    days = {r[2] for r in rows}
    assert min(days) < dt.date(1971, 1, 1) and max(days) > dt.date(2012, 1, 1)
    texts = [line.split(",")[3] for line in _lines(out, "uservisits")]
    assert all(repr(float(s)) == s for s in texts)  # the text is the float's repr
    assert len({r[4] for r in rows}) == len(amplab.USER_AGENTS)
    assert len({r[0] for r in rows}) < N_USERVISITS / 2  # heavy visitors repeat


def test_revenue_text() -> None:
    assert amplab.revenue_text(123_456_789) == "123.456789"
    assert amplab.revenue_text(12_500_000) == "12.5"
    assert amplab.revenue_text(7_000_000) == "7.0"
    assert amplab.revenue_text(100) == "0.0001"


def test_duckdb_reads_the_declared_types(out: Path, con: duckdb.DuckDBPyConnection) -> None:
    sql = "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'uservisits'"
    types = dict(con.execute(sql).fetchall())
    assert types["adRevenue"] == "DOUBLE" and types["visitDate"] == "DATE" and types["duration"] == "INTEGER"
    # DuckDB's DOUBLE and Python's float read every revenue as the same double, in file order
    ours = [float(line.split(",")[3]) for line in _lines(out, "uservisits")]
    theirs = [r[0] for r in con.execute("SELECT adRevenue FROM uservisits").fetchall()]
    assert theirs == ours
    first = con.execute("SELECT * FROM rankings LIMIT 1").fetchone()
    assert ",".join(str(v) for v in first) == _lines(out, "rankings")[0]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]


def test_query_1_variants_select_growing_fractions(con: duckdb.DuckDBPyConnection) -> None:
    counts = [_count(con, amplab.VARIANTS[v]) for v in ("1A", "1B", "1C")]
    assert 0 < counts[0] < counts[1] < counts[2] < N_RANKINGS
    assert counts[0] >= 0.01 * N_RANKINGS and counts[2] <= 0.95 * N_RANKINGS


def test_query_2_variants_give_growing_group_counts(con: duckdb.DuckDBPyConnection) -> None:
    groups = [_count(con, amplab.VARIANTS[v]) for v in ("2A", "2B", "2C")]
    assert 100 < groups[0] < groups[1] < groups[2] < N_USERVISITS / 2
    assert groups[0] * 2 < groups[1]
    total = con.execute("SELECT SUM(adRevenue) FROM uservisits").fetchone()[0]
    by_group = con.execute(f"SELECT SUM(r) FROM ({amplab.VARIANTS['2A']}) AS t(p, r)").fetchone()[0]
    assert by_group == pytest.approx(total, rel=1e-12)


def test_query_3_join_and_variants(con: duckdb.DuckDBPyConnection) -> None:
    joined = _count(con, "SELECT 1 FROM rankings R, uservisits UV WHERE R.pageURL = UV.destURL")
    assert 0.85 * N_USERVISITS < joined < N_USERVISITS  # most visits join, some do not
    previous = 0
    for v in ("3A", "3B", "3C"):
        x = amplab.PARAMS[v]
        rows = _count(
            con,
            "SELECT 1 FROM rankings R, uservisits UV WHERE R.pageURL = UV.destURL "
            f"AND UV.visitDate BETWEEN DATE '1980-01-01' AND DATE '{x}'",
        )
        assert previous < rows < joined
        previous = rows
        result = con.execute(amplab.VARIANTS[v]).fetchall()
        assert len(result) == 1
        top2 = con.execute(amplab.VARIANTS[v].replace("LIMIT 1", "LIMIT 2")).fetchall()
        assert top2[0] == result[0] and top2[0][1] > top2[1][1] * (1 + 1e-9)  # no tie for the top


def test_queries_are_the_published_text() -> None:
    assert amplab.VARIANTS["1A"] == "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 1000"
    assert amplab.VARIANTS["2C"] == (
        "SELECT SUBSTR(sourceIP, 1, 12), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 12)"
    )
    assert "AND UV.visitDate BETWEEN Date('1980-01-01') AND Date('1983-01-01')\n" in amplab.VARIANTS["3B"]
    assert sorted(amplab.VARIANTS) == ["1A", "1B", "1C", "2A", "2B", "2C", "3A", "3B", "3C"]


def test_hive_ddl() -> None:
    ddl = amplab.hive_ddl("s3://bucket/amplab/")
    assert ddl.count("CREATE EXTERNAL TABLE") == 2
    assert "CREATE EXTERNAL TABLE rankings (\n  pageURL STRING,\n  pageRank INT,\n  avgDuration INT\n)" in ddl
    assert "  visitDate DATE,\n  adRevenue DOUBLE,\n" in ddl and "VARCHAR" not in ddl and "CHAR(" not in ddl
    assert ddl.count("ROW FORMAT DELIMITED FIELDS TERMINATED BY ','\nSTORED AS TEXTFILE\n") == 2
    assert "LOCATION 's3://bucket/amplab/rankings';" in ddl
    assert "LOCATION 's3://bucket/amplab/uservisits';" in ddl


def test_columns_match_the_published_schema() -> None:
    assert [n for n, _ in amplab.RANKINGS_COLUMNS] == ["pageURL", "pageRank", "avgDuration"]
    assert amplab.USERVISITS_COLUMNS[3] == ("adRevenue", "FLOAT")
    assert [n for n, _ in amplab.USERVISITS_COLUMNS] == [
        "sourceIP", "destURL", "visitDate", "adRevenue", "userAgent",
        "countryCode", "languageCode", "searchWord", "duration",
    ]  # fmt: skip


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = amplab.main(["--out", str(tmp_path), "--seed", "1", "--rankings", "50", "--uservisits", "300"])
    assert rc == 0
    assert "rankings=50 uservisits=300" in capsys.readouterr().out
    assert len(_lines(tmp_path, "uservisits")) == 300
