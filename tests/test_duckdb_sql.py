"""Tests of the DuckDB reference loaders and lab queries in ``data.duckdb_sql``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import duckdb
import pyarrow.parquet as pq
import pytest

from data import cloudfront, duckdb_sql, tickit

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
GOOD = (
    "2014-07-05\t20:00:00\tLHR3\t4260\t10.0.0.15\tGET\teabcd12345678.cloudfront.net\t"
    "/test-image-1.jpeg\t200\t-\tMozilla/5.0%20(MacOS;%20U;%20Windows%20NT%205.1;%20en-US;"
    "%20rv:1.9.0.9)%20Gecko/2009040821%20IE/3.0.9"
)


@pytest.fixture(scope="module")
def tickit_con() -> duckdb.DuckDBPyConnection:
    """The embedded TICKIT sample loaded from its text files."""
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, SAMPLE / "tickit")
    return con


@pytest.fixture(scope="module")
def cf_con() -> duckdb.DuckDBPyConnection:
    """The embedded CloudFront sample loaded through the Hive regex."""
    con = duckdb.connect()
    duckdb_sql.load_cloudfront(con, SAMPLE / "cloudfront" / "data")
    return con


def test_load_tickit_counts_and_types(tickit_con: duckdb.DuckDBPyConnection) -> None:
    for table, cols in duckdb_sql.TICKIT_COLUMNS.items():
        desc = tickit_con.execute(f'DESCRIBE "{table}"').fetchall()
        assert [(r[0], r[1]) for r in desc] == cols, table
        n = tickit_con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        assert n == tickit.row_counts(0.01)[table]
    row = tickit_con.execute("SELECT saletime FROM sales WHERE salesid = 1").fetchone()[0]
    text = (SAMPLE / "tickit" / "sales_tab.txt").read_text().split("\n")[0].split("\t")[9]
    assert row.strftime("%-m/%-d/%Y %H:%M:%S") == text


def test_text_equals_parquet(tickit_con: duckdb.DuckDBPyConnection) -> None:
    pcon = duckdb.connect()
    duckdb_sql.load_tickit_parquet(pcon, SAMPLE / "tickit" / "parquet")
    for table in duckdb_sql.TICKIT_COLUMNS:
        q = f'SELECT * FROM "{table}" ORDER BY 1'
        text_rows = tickit_con.execute(q).fetchall()
        pq_rows = pcon.execute(q).fetchall()
        assert text_rows == pq_rows, table
        t_types = [r[1] for r in tickit_con.execute(f'DESCRIBE "{table}"').fetchall()]
        p_types = [r[1] for r in pcon.execute(f'DESCRIBE "{table}"').fetchall()]
        assert t_types == p_types, table


def test_empty_field_is_null(tmp_path: Path) -> None:
    tickit.generate(tmp_path, scale=0.001, seed=3, parquet=False)
    con = duckdb.connect()
    duckdb_sql.load_tickit(con, tmp_path)
    lines = (tmp_path / "allusers_pipe.txt").read_text().split("\n")
    empties = sum(1 for ln in lines if ln for v in ln.split("|")[8:] if v == "")
    nulls = con.execute(
        "SELECT " + " + ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in tickit.LIKES) + " FROM users"
    ).fetchone()[0]
    assert nulls == empties > 0
    venue_nulls = sum(1 for ln in (tmp_path / "venue_pipe.txt").read_text().split("\n") if ln.endswith("|"))
    assert con.execute("SELECT count(*) FROM venue WHERE venueseats IS NULL").fetchone()[0] == venue_nulls


def test_challenge(tickit_con: duckdb.DuckDBPyConnection) -> None:
    rows = duckdb_sql.run_query(tickit_con, duckdb_sql.CHALLENGE_SQL)
    assert len(rows) >= 3 and all(r[1] == "Smith" for r in rows)
    smiths = tickit_con.execute("SELECT count(*) FROM users WHERE lastname = 'Smith'").fetchone()[0]
    assert smiths > len(rows)


def test_total_sales_on_date(tickit_con: duckdb.DuckDBPyConnection) -> None:
    rows = duckdb_sql.run_query(tickit_con, duckdb_sql.TOTAL_SALES_ON_DATE_SQL)
    assert len(rows) == 1 and rows[0][0] > 0


def test_top_buyers(tickit_con: duckdb.DuckDBPyConnection) -> None:
    rows = duckdb_sql.run_query(tickit_con, duckdb_sql.TOP_BUYERS_SQL)
    assert len(rows) == 10
    totals = [r[2] for r in rows]
    assert all(a > b for a, b in zip(totals, totals[1:]))
    eleventh = tickit_con.execute(
        "SELECT sum(qtysold) t FROM sales GROUP BY buyerid ORDER BY t DESC LIMIT 1 OFFSET 10"
    ).fetchone()[0]
    assert totals[-1] > eleventh


def test_percentile_events(tickit_con: duckdb.DuckDBPyConnection) -> None:
    rows = duckdb_sql.run_query(tickit_con, duckdb_sql.PERCENTILE_EVENTS_SQL)
    assert len(rows) >= 1
    best = tickit_con.execute(
        "SELECT sum(pricepaid) t FROM sales GROUP BY eventid ORDER BY t DESC LIMIT 2"
    ).fetchall()
    assert rows[0][1] == best[0][0] > best[1][0]


def test_hive_os_requests(cf_con: duckdb.DuckDBPyConnection) -> None:
    rows = duckdb_sql.run_query(cf_con, duckdb_sql.HIVE_OS_REQUESTS_SQL)
    assert {r[0] for r in rows} == set(cloudfront.OSES)
    t = pq.read_table(SAMPLE / "cloudfront" / "parquet" / "part-0.parquet").to_pylist()
    want: dict = {}
    for r in t:
        if "2014-07-05" <= r["dateobject"] <= "2014-08-05":
            os_name = r["useragent"].split("(", 1)[1].split(";", 1)[0]
            want[os_name] = want.get(os_name, 0) + 1
    assert dict(rows) == want


def test_cloudfront_rows_and_null_rows(cf_con: duckdb.DuckDBPyConnection) -> None:
    files = duckdb_sql.cloudfront_files(SAMPLE / "cloudfront" / "data")
    assert len(files) == 3
    lines = sum(len(p.read_text().split("\n")) - 1 for p in files)
    total, matched = cf_con.execute("SELECT count(*), count(dateobject) FROM cloudfront_logs").fetchone()
    assert total == lines == 2000 + 2 * 3
    assert matched == pq.read_metadata(SAMPLE / "cloudfront" / "parquet" / "part-0.parquet").num_rows
    assert matched == 2000 - 8  # the malformed lines and headers are all-NULL rows
    assert (
        cf_con.execute(
            "SELECT count(*) FROM cloudfront_logs WHERE dateobject IS NULL AND coalesce("
            "time, location, requestip, os, browser) IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    row = cf_con.execute(
        "SELECT os, browser, browserversion, bytes, status FROM cloudfront_logs WHERE os IS NOT NULL LIMIT 1"
    ).fetchone()
    assert row[0] in cloudfront.OSES and re.match(r"^\d+\.\d+\.\d+$", row[2])


def test_gzip_logs_load_the_same(tmp_path: Path) -> None:
    cloudfront.generate(tmp_path / "txt", rows=300, seed=1, files=2)
    cloudfront.generate(tmp_path / "gz", rows=300, seed=1, files=2, gzip=True)
    a, b = duckdb.connect(), duckdb.connect()
    assert duckdb_sql.load_cloudfront(a, tmp_path / "txt") == 304
    assert duckdb_sql.load_cloudfront(b, tmp_path / "gz") == 304
    q = "SELECT * FROM cloudfront_logs ORDER BY ALL"
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    with pytest.raises(FileNotFoundError):
        duckdb_sql.load_cloudfront(a, tmp_path / "txt" / "parquet")


def _variants() -> List[str]:
    f = GOOD.split("\t")
    return [
        GOOD,
        "#" + GOOD,
        "#Version: 1.0",
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host)",
        " " + GOOD,
        "\t".join(f[:7]),
        GOOD.replace("(MacOS;", "MacOS"),
        GOOD.replace("%20IE/3.0.9", ""),
        GOOD.replace("\t-\t", "\t-\t\t"),  # two tabs: \s+ absorbs both
        GOOD.replace("\t-\t", "\t-x y\t"),  # a space inside a field
        GOOD + "\textra",
        GOOD.replace("(MacOS;", "(Mac OS;"),
        GOOD.replace("IE/3.0.9", "IE/3.0.9/beta"),
        "",
    ]


def test_re2_regex_agrees_with_java_regex() -> None:
    """The RE2 translation accepts exactly the lines the original (lookahead) one does."""
    java = re.compile(duckdb_sql.HIVE_INPUT_REGEX)
    con = duckdb.connect()
    lines = _variants()
    for p in sorted((SAMPLE / "cloudfront" / "data").glob("E*"))[:1]:
        lines += p.read_text().split("\n")[:120]
    for line in lines:
        m = java.fullmatch(line)
        names = [f"g{i}" for i in range(1, 14)]
        ok, groups = con.execute(
            "SELECT regexp_full_match($1, $2), regexp_extract($1, $2, $3)",
            [line, duckdb_sql.RE2_INPUT_REGEX, names],
        ).fetchone()
        assert ok == bool(m), line
        if m:
            assert tuple(groups.values()) == m.groups(), line
    assert "(?!" not in duckdb_sql.RE2_INPUT_REGEX


def test_query_constants_are_the_originals() -> None:
    assert duckdb_sql.CHALLENGE_SQL.startswith("SELECT firstname, lastname FROM users WHERE liketheatre")
    assert "ntile(1000) over(order by total_price desc)" in duckdb_sql.PERCENTILE_EVENTS_SQL
    assert "COUNT(*) count FROM cloudfront_logs" in duckdb_sql.HIVE_OS_REQUESTS_SQL
    assert set(duckdb_sql.QUERIES) == {
        "challenge",
        "total_sales_on_date",
        "top_buyers",
        "percentile_events",
        "hive_os_requests",
    }
