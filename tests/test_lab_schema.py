"""One source for the labs' facts: every side agrees with ``jobs/``, and ``jobs/`` with the labs.

The TICKIT tables are stated once, in ``jobs/tickit_schema.py``; the CloudFront table
(columns, regex, Parquet layout) once, in ``jobs/cloudfront_os_requests.py``. The jobs'
readers, the generators' text and Parquet files, DuckDB's tables and the benchmark's
views derive from them. These tests fail when any side drifts: the module against the
lab's own texts (the DDL and COPY commands of the Redshift lab, ``emr/Hive_CloudFront.q``),
and every derived side against the module.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import queries
from data import cloudfront, duckdb_sql, tickit
from jobs import cloudfront_os_requests as cf_job
from jobs import tickit_rows
from jobs.tickit_schema import TABLES, create_table_sql, decimal_precision_scale, kind_of, strptime_format

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
HIVE_SCRIPT = ROOT / "emr" / "Hive_CloudFront.q"

# ------------------------------------------------------------ the labs' own texts

#: The Redshift getting-started guide's DDL, verbatim (the specification).
LAB_DDL = """
create table users(userid integer not null distkey sortkey, username char(8), firstname varchar(30),
  lastname varchar(30), city varchar(30), state char(2), email varchar(100), phone char(14),
  likesports boolean, liketheatre boolean, likeconcerts boolean, likejazz boolean,
  likeclassical boolean, likeopera boolean, likerock boolean, likevegas boolean,
  likebroadway boolean, likemusicals boolean);
create table venue(venueid smallint not null distkey sortkey, venuename varchar(100),
  venuecity varchar(30), venuestate char(2), venueseats integer);
create table category(catid smallint not null distkey sortkey, catgroup varchar(10),
  catname varchar(10), catdesc varchar(50));
create table date(dateid smallint not null distkey sortkey, caldate date not null,
  day character(3) not null, week smallint not null, month character(5) not null,
  qtr character(5) not null, year smallint not null, holiday boolean default('N'));
create table event(eventid integer not null distkey, venueid smallint not null,
  catid smallint not null, dateid smallint not null sortkey, eventname varchar(200),
  starttime timestamp);
create table listing(listid integer not null distkey, sellerid integer not null,
  eventid integer not null, dateid smallint not null sortkey, numtickets smallint not null,
  priceperticket decimal(8,2), totalprice decimal(8,2), listtime timestamp);
create table sales(salesid integer not null, listid integer not null distkey,
  sellerid integer not null, buyerid integer not null, eventid integer not null,
  dateid smallint not null sortkey, qtysold smallint not null, pricepaid decimal(8,2),
  commission decimal(8,2), saletime timestamp);
"""

#: How the lab loads the tables, verbatim (one statement a line once the ``\\``-newlines join).
LAB_COPY = """
copy users from 's3://<myBucket>/tickit/allusers_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' region '<aws-region>';
copy venue from 's3://<myBucket>/tickit/venue_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' region '<aws-region>';
copy category from 's3://<myBucket>/tickit/category_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' region '<aws-region>';
copy date from 's3://<myBucket>/tickit/date2008_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' region '<aws-region>';
copy event from 's3://<myBucket>/tickit/allevents_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' \
timeformat 'YYYY-MM-DD HH:MI:SS' region '<aws-region>';
copy listing from 's3://<myBucket>/tickit/listings_pipe.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '|' region '<aws-region>';
copy sales from 's3://<myBucket>/tickit/sales_tab.txt' \
credentials 'aws_iam_role=<iam-role-arn>' delimiter '\\t' \
timeformat 'MM/DD/YYYY HH:MI:SS' region '<aws-region>';
"""

#: The CloudFront log fields as the tutorial lists them.
LAB_LOG_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent)"
)


def _ddl_statements(text: str) -> dict[str, str]:
    """``{table: 'create table t(...);'}`` of DDL text, one line each, with what the
    schema leaves out (``distkey``, ``sortkey``, ``default(...)``) removed."""
    out = {}
    for stmt in text.split(";"):
        stmt = " ".join(stmt.split())
        if not stmt:
            continue
        stmt = re.sub(r" (distkey|sortkey)\b", "", stmt)
        stmt = re.sub(r" default\('[^']*'\)", "", stmt)
        stmt = stmt.replace("( ", "(")
        out[re.match(r"create table (\w+)\(", stmt).group(1)] = stmt + ";"
    return out


def test_schema_is_the_labs_ddl():
    lab = _ddl_statements(LAB_DDL)
    assert list(lab) == list(TABLES)  # the same tables, in the DDL's order
    for table in TABLES:
        assert create_table_sql(table) == lab[table]


def test_the_lab_sql_script_holds_the_labs_ddl_verbatim():
    """sql/tickit_lab.sql (what python -m engine sql runs) starts from the same text."""
    assert LAB_DDL.strip() in (ROOT / "sql" / "tickit_lab.sql").read_text()


def test_schema_files_and_copy_options_are_the_labs():
    copies = {}
    for line in LAB_COPY.strip().splitlines():
        m = re.match(r"copy (\w+) from 's3://<myBucket>/tickit/([^']+)' .* delimiter '([^']+)'", line)
        fmt = re.search(r"timeformat '([^']+)'", line)
        copies[m.group(1)] = (m.group(2), m.group(3).replace("\\t", "\t"), fmt.group(1) if fmt else None)
    assert list(copies) == list(TABLES)
    for name, t in TABLES.items():
        file, delimiter, timeformat = copies[name]
        assert (t.file, t.delimiter) == (file, delimiter), name
        assert t.timeformat == (timeformat or "YYYY-MM-DD HH:MI:SS"), name  # COPY's default
        assert t.dateformat == "YYYY-MM-DD"  # no COPY gives one: the default
    assert TABLES["sales"].timestamp_format == "%m/%d/%Y %H:%M:%S"
    assert TABLES["event"].timestamp_format == "%Y-%m-%d %H:%M:%S"


def test_type_and_format_helpers():
    assert [kind_of(t) for t in ("integer", "smallint", "char(8)", "character(3)", "varchar(200)")] == [
        "integer",
        "integer",
        "string",
        "string",
        "string",
    ]
    assert [kind_of(t) for t in ("decimal(8,2)", "boolean", "date", "timestamp")] == [
        "decimal",
        "boolean",
        "date",
        "timestamp",
    ]
    assert decimal_precision_scale("decimal(8,2)") == (8, 2)
    with pytest.raises(ValueError):
        kind_of("float8")  # a type no reader knows fails loudly, on every side
    assert strptime_format("YYYY-MM-DD") == "%Y-%m-%d"
    with pytest.raises(ValueError):
        strptime_format("YYYY-MON-DD")


# ------------------------------------------------------------ TICKIT: every side


def test_jobs_read_the_schema():
    assert tickit_rows.TEXT_FILES == {t.name: t.file for t in TABLES.values()}
    for name, t in TABLES.items():
        assert [n for n, _ in tickit_rows.SCHEMA[name]] == list(t.names)
        assert tickit_rows.table_of_path(f"/x/{t.file}") == name
        assert tickit_rows.table_of_path(f"/x/{t.file}.gz") == name
        assert tickit_rows.table_of_path(f"/x/parquet/{t.parquet_file}") == name
        # a line in the table's delimiter reads, one in the other does not
        line = t.delimiter.join("1" if c.kind == "integer" else "" for c in t.columns)
        assert tickit_rows.fields(name, line, t.names[:1]) == (1,)
        other = "|" if t.delimiter == "\t" else "\t"
        with pytest.raises(ValueError, match="fields"):
            tickit_rows.fields(name, line.replace(t.delimiter, other), t.names[:1])
    # the jobs' money is integer cents: every decimal of the DDL has two places
    decimals = [c.type for t in TABLES.values() for c in t.columns if c.kind == "decimal"]
    assert decimals and all(decimal_precision_scale(d)[1] == 2 for d in decimals)


def test_jobs_parse_timestamps_with_the_tables_timeformat():
    sales = TABLES["sales"]
    line = sales.delimiter.join(["1"] * 9 + ["2/8/2008 02:36:48"])
    assert tickit_rows.fields("sales", line, ("saletime",)) == ("2008-02-08 02:36:48",)
    event = "1|2|3|4|name|2008-02-08 19:30:00"
    assert tickit_rows.fields("event", event, ("starttime",)) == ("2008-02-08 19:30:00",)
    with pytest.raises(ValueError):  # COPY would refuse it as well: not the event format
        tickit_rows.fields("event", "1|2|3|4|name|2/8/2008 19:30:00", ("starttime",))


#: The DDL -> Parquet mapping that ``data/tickit.py`` documents.
ARROW_OF_DDL = {
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "decimal(8,2)": pa.decimal128(8, 2),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tickit")
    tickit.generate(out, scale=0.003, seed=11)
    return out


@pytest.mark.parametrize("where", ["generated", "sample"])
def test_parquet_files_have_the_schemas_types(where, generated):
    base = generated if where == "generated" else SAMPLE / "tickit"
    for name, t in TABLES.items():
        expected = pa.schema(
            # char/varchar: string
            [pa.field(c.name, ARROW_OF_DDL.get(c.type, pa.string())) for c in t.columns]
        )
        assert tickit.parquet_schema(name) == expected, name
        assert pq.read_schema(base / "parquet" / t.parquet_file).remove_metadata() == expected, name


@pytest.mark.parametrize("where", ["generated", "sample"])
def test_text_files_have_the_schemas_layout(where, generated):
    base = generated if where == "generated" else SAMPLE / "tickit"
    assert sorted(p.name for p in base.glob("*.txt")) == sorted(t.file for t in TABLES.values())
    for name, t in TABLES.items():
        lines = (base / t.file).read_text().splitlines()
        assert lines and all(len(ln.split(t.delimiter)) == len(t.columns) for ln in lines), name
        # and each line reads as its Parquet row (column order and values)
        rows = pq.read_table(base / "parquet" / t.parquet_file).to_pylist()
        assert [tickit_rows.fields(name, ln, t.names) for ln in lines[:50]] == [
            tickit_rows.fields(name, r, t.names) for r in rows[:50]
        ]


def test_generator_refuses_columns_the_schema_lacks(tmp_path):
    with pytest.raises(ValueError, match="schema"):
        tickit._write_table(tmp_path, None, "category", {"catid": [1], "catgroup": ["x"], "catname": ["y"]})


#: The DDL -> DuckDB mapping that ``data/duckdb_sql.py`` documents.
DUCKDB_OF_DDL = {
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "decimal(8,2)": "DECIMAL(8,2)",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def test_duckdb_tables_have_the_schemas_types():
    expected = {
        name: [(c.name, DUCKDB_OF_DDL.get(c.type, "VARCHAR")) for c in t.columns]
        for name, t in TABLES.items()
    }
    assert duckdb_sql.TICKIT_COLUMNS == expected
    assert duckdb_sql.TICKIT_FILES == {t.name: t.file for t in TABLES.values()}
    loaders = (
        (duckdb_sql.load_tickit, SAMPLE / "tickit"),
        (duckdb_sql.load_tickit_parquet, SAMPLE / "tickit" / "parquet"),
    )
    for loader, base in loaders:
        con = duckdb.connect()
        loader(con, base)
        for name in TABLES:
            assert [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()] == expected[name]


def test_duckdb_reads_each_file_with_its_tables_options():
    for name, t in TABLES.items():
        sql = duckdb_sql.tickit_text_sql(name, "/x/" + t.file)
        assert f"read_csv('/x/{t.file}', delim = '{t.delimiter}'," in sql
        if name == "sales":  # a timeformat other than read_csv's: read as text, then strptime
            assert f"strptime(saletime, '{t.timestamp_format}') AS saletime" in sql
            assert "'saletime': 'VARCHAR'" in sql
        else:
            assert "strptime" not in sql


def test_bench_views_are_the_loaders_selects():
    """The benchmark's DuckDB views read the same files into the same rows as the loaders."""
    base = SAMPLE / "tickit"
    for fmt, loader, where in (
        ("text", duckdb_sql.load_tickit, base),
        ("parquet", duckdb_sql.load_tickit_parquet, base / "parquet"),
    ):
        tables = duckdb.connect()
        loader(tables, where)
        for make in (queries.top_buyers, queries.total_sales, queries.percentile):
            query = make(base, fmt)
            views = duckdb.connect()
            for stmt in query.duckdb_sql[:-1]:
                views.execute(stmt)
            for name in re.findall(r'CREATE OR REPLACE VIEW "(\w+)"', " ".join(query.duckdb_sql)):
                q = f'SELECT * FROM "{name}" ORDER BY ALL'
                assert views.execute(q).fetchall() == tables.execute(q).fetchall(), (fmt, name)
            known = {t.file if fmt == "text" else t.parquet_file for t in TABLES.values()}
            assert {p.name for p in query.inputs} <= known


# ------------------------------------------------------------ CloudFront: every side


def _hive_unescape(literal: str) -> str:
    """Hive's ``BaseSemanticAnalyzer.unescapeSQLString`` on the text between the quotes:
    ``\\\\`` -> ``\\``, ``\\%``/``\\_`` kept, ``\\n``/``\\t``/... the control characters,
    octal ``\\0nn``/``\\1nn``, ``\\uXXXX``, and any other ``\\c`` -> ``c``."""
    singles = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
    singles["\\"] = "\\"
    out, i = [], 0
    while i < len(literal):
        ch = literal[i]
        if ch != "\\" or i + 1 >= len(literal):
            out.append(ch)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", literal[i + 2 : i + 6]):
            out.append(chr(int(literal[i + 2 : i + 6], 16)))
            i += 6
        elif re.fullmatch(r"[01][0-7][0-7]", literal[i + 1 : i + 4]):
            out.append(chr(int(literal[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append("\\" + nxt if nxt in "%_" else singles.get(nxt, nxt))
            i += 2
    return "".join(out)


def test_hive_unescape_is_hives():
    assert _hive_unescape(r"a\\sb") == r"a\sb"
    assert _hive_unescape(r"[^\(]\;\/") == "[^(];/"
    assert _hive_unescape(r"\%20\_") == r"\%20\_"
    assert _hive_unescape(r"\t\001") == "\t\x01"


def _script() -> str:
    return HIVE_SCRIPT.read_text()


def test_the_hive_regex_is_the_scripts():
    literal = re.search(r'"input\.regex" = "((?:[^"\\]|\\.)*)"', _script()).group(1)
    assert _hive_unescape(literal) == cf_job.HIVE_INPUT_REGEX
    assert duckdb_sql.HIVE_INPUT_REGEX == cf_job.HIVE_INPUT_REGEX
    assert duckdb_sql.RE2_INPUT_REGEX == cf_job.RE2_INPUT_REGEX
    # the RE2 translation changes the lookahead only
    assert cf_job.RE2_INPUT_REGEX.replace(r"^([^ #][^ ]*)", r"^(?!#)([^ ]+)", 1) == cf_job.HIVE_INPUT_REGEX


def test_the_hive_columns_and_query_are_the_scripts():
    script = _script()
    m = re.search(r"CREATE EXTERNAL TABLE IF NOT EXISTS (\w+) \((.*?)\n\)", script, re.S)
    assert m.group(1) == cf_job.HIVE_TABLE
    columns = tuple(tuple(c.split()) for c in " ".join(m.group(2).split()).split(", "))
    assert columns == cf_job.HIVE_COLUMNS
    assert cf_job.COLUMNS == tuple((n.lower(), t.upper()) for n, t in columns)
    # groups: one per column, column i is group i
    assert re.compile(cf_job.HIVE_INPUT_REGEX).groups == len(cf_job.COLUMNS)
    # the query: the oracle keeps the script's SELECT, the job its date window
    insert = "INSERT OVERWRITE DIRECTORY '${OUTPUT}/os_requests/'"
    assert f"{insert} {duckdb_sql.HIVE_OS_REQUESTS_SQL};" in script
    assert f"BETWEEN '{cf_job.WINDOW[0]}' AND '{cf_job.WINDOW[1]}'" in duckdb_sql.HIVE_OS_REQUESTS_SQL


def test_the_job_regexes_derive_from_the_hive_regex():
    names = {i: f"g{i}" for i in range(1, 14)}
    named = re.compile(cf_job._name_groups(cf_job.HIVE_INPUT_REGEX, names))
    assert named.pattern.count("(?P<") == 13 and named.groups == 13
    assert "(?P<date>" in cf_job.RE2_REGEX and "(?P<os>" in cf_job.RE2_TAIL_REGEX
    assert re.compile(cf_job.RE2_REGEX).groups == 2 and re.compile(cf_job.RE2_TAIL_REGEX).groups == 1
    assert cf_job._name_groups(r"[(]([^)])(?:x)(y)", {2: "b"}) == r"[(](?:[^)])(?:x)(?P<b>y)"
    with pytest.raises(ValueError):
        cf_job._name_groups(r"(a)", {2: "b"})


def test_cloudfront_generator_and_oracle_use_the_jobs_columns(tmp_path):
    assert LAB_LOG_FIELDS.split() == list(cf_job.LOG_FIELDS)
    assert cloudfront.HEADER == f"#Version: 1.0\n#Fields: {LAB_LOG_FIELDS}\n"
    assert cf_job.PARQUET_COLUMNS == tuple(n for n, _ in cf_job.COLUMNS[:10]) + ("useragent",)
    expected = pa.schema(
        [pa.field(c, pa.int32() if c in ("bytes", "status") else pa.string()) for c in cf_job.PARQUET_COLUMNS]
    )
    cloudfront.generate(tmp_path, rows=60, seed=2, files=1)
    for base in (tmp_path, SAMPLE / "cloudfront"):
        path = base / "parquet" / "part-0.parquet"
        assert pq.read_schema(path).remove_metadata() == expected
    log = next(tmp_path.glob("*.log")).read_text().splitlines()
    assert all(len(ln.split("\t")) == len(cf_job.LOG_FIELDS) for ln in log[2:] if cf_job.parse_line(ln))
    con = duckdb.connect()
    duckdb_sql.load_cloudfront(con, tmp_path)
    duck_types = {"DATE": "DATE", "STRING": "VARCHAR", "INT": "INTEGER"}
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {cf_job.HIVE_TABLE}").fetchall()]
    assert described == [(n, duck_types[t]) for n, t in cf_job.COLUMNS]


def test_cloudfront_bench_views_are_the_loaders_select():
    # the sample's logs are in cloudfront/data/, its Parquet in cloudfront/parquet/
    base = SAMPLE / "cloudfront" / "data"
    table = duckdb.connect()
    duckdb_sql.load_cloudfront(table, base)
    want = sorted(table.execute(duckdb_sql.HIVE_OS_REQUESTS_SQL).fetchall())
    for fmt, cf_dir in (("text", base), ("parquet", SAMPLE / "cloudfront")):
        query = queries.cloudfront_os(cf_dir, fmt)
        con = duckdb.connect()
        for stmt in query.duckdb_sql[:-1]:
            con.execute(stmt)
        assert sorted(con.execute(query.duckdb_sql[-1]).fetchall()) == want, fmt
    text = queries.cloudfront_os(base, "text")
    assert text.duckdb_sql[0].endswith(
        duckdb_sql.cloudfront_logs_sql(
            duckdb_sql.cloudfront_text_lines_sql(duckdb_sql.cloudfront_files(base))
        )
    )


# ------------------------------------------------------------ shipped with the jobs


_IMPORTED = """
import json, sys, sysconfig
before = set(sys.modules)
import {module}
new = [sys.modules[m] for m in set(sys.modules) - before]
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
print(json.dumps({{
    "top": sorted({{m.__name__.split(".")[0] for m in new}}),
    "outside_stdlib": sorted(
        m.__name__ for m in new
        if getattr(m, "__file__", None) and not m.__name__.startswith("jobs")
        and (not m.__file__.startswith(stdlib) or "-packages" in m.__file__)
    ),
}}))
"""


def _imported_by(module: str) -> dict:
    """The modules a fresh interpreter loads to import ``module``."""
    code = _IMPORTED.format(module=module)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_schema_modules_import_with_the_stdlib_and_mrjob_only():
    """On EMR the jobs import with the stdlib and mrjob only: no pyarrow, duckdb or data/
    at import time; the schema module with the stdlib alone."""
    for module in ("jobs.tickit_rows", "jobs.cloudfront_os_requests"):
        top = set(_imported_by(module)["top"])
        assert not top & {"pyarrow", "duckdb", "data", "bench", "numpy", "pandas"}, (module, top)
    assert _imported_by("jobs.tickit_schema")["outside_stdlib"] == []
