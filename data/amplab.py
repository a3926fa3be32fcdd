"""Deterministic generator for the AMPLab Big Data Benchmark's two tables, as text.

Writes the benchmark's ``rankings`` and ``uservisits`` tables as Hadoop-style part files::

    DIR/rankings/part-00000   DIR/rankings/part-00001   ...
    DIR/uservisits/part-00000 DIR/uservisits/part-00001 ...

Comma-separated, no header, one row per line (``\\n``), no quoting: no field ever contains a
comma, a quote or a newline (the user agents are real browser strings with their commas
dropped, as in the original data). Columns, in order (``RANKINGS_COLUMNS`` /
``USERVISITS_COLUMNS``, the published schema)::

    rankings:   pageURL,pageRank,avgDuration
    uservisits: sourceIP,destURL,visitDate,adRevenue,userAgent,countryCode,languageCode,searchWord,duration

e.g. ``hqzkbvolmcxw...,37,52`` and
``131.154.208.17,hqzkbvolmcxw...,1993-07-21,4.118307,Mozilla/5.0 (...),USA,USA-EN,trocalu,7``.

Types and formats:

* ``pageURL``/``destURL``: lowercase letters, 10..60 of them. Each pageURL is unique: its
  first 6 letters are the row number scrambled by a bijection of ``26**6`` (so the
  rankings have at most 308,915,776 / 2 rows), the rest come from a keyed hash of the row
  number, so a URL is a function of (seed, number) and the visits can name pages without
  holding the rankings in memory.
* ``visitDate``: ``YYYY-MM-DD``, uniform over 1970-01-01 .. 2012-12-31 (15,706 days).
* ``adRevenue``: a decimal with 1..6 places and no trailing zeros (``4.118307``, ``12.5``,
  ``0.0001`` at least, below 1000; median about 4.5), exactly as Python's ``repr`` writes
  its float, so ``repr(float(text)) == text``: Python's float and DuckDB's DOUBLE read the
  same double,
  and an engine that writes a value back with ``repr`` writes the same text. The schema's
  ``FLOAT`` is Redshift's (= FLOAT8, double precision): Hive reads it as ``DOUBLE``, DuckDB
  as ``DOUBLE`` (DuckDB's own ``FLOAT`` is 4 bytes and would not round-trip). Every value
  is an integer number of millionths, so a group's exact total is ``sum(micros) / 1e6``;
  ``SUM(adRevenue)`` as a float sum depends on the order of addition in its last bits,
  which is why results are compared with a relative tolerance.
* ``sourceIP``: a dotted quad, octets not zero-padded. Visits come from a pool of
  ``max(1, uservisits // 4)`` addresses, address ``k`` picked with probability ~
  ``1/sqrt(k)`` (heavy visitors). The first octet is one of 24 and the second one of 48
  three-digit values (seeded), both skewed towards a few, the third uniform 0..255 and the
  fourth 1..254: so ``SUBSTR(sourceIP, 1, 8)`` is exactly the /16 network
  (``"131.154."``), ``..., 10`` adds the third octet's first two characters and ``..., 12``
  is nearly the whole address. At 20,000 visits that is about 760, 3,900 and 4,600 groups
  (of about 4,700 addresses).
* ``destURL``: 92% are pageURLs of the rankings, popular pages more often (page ``i`` with
  probability ~ ``1/sqrt(i)``); 8% are URLs of the same form that are not in the rankings,
  so the join of query 3 drops them.
* ``pageRank``: an int 0..10000 in four bands, log-uniform within each (so small values
  are the most common): 0..10 (15%), 11..100 (55%), 101..1000 (27%), 1001..10000 (3%). So
  ``pageRank > 1000`` (1A), ``> 100`` (1B), ``> 10`` (1C) select about 3%, 30% and 85%.
* ``avgDuration`` 1..100, ``duration`` 1..100 (mostly small); ``countryCode`` CHAR(3) and
  ``languageCode`` CHAR(6) (``USA``/``USA-EN``, ...) in pairs; ``searchWord`` a lowercase
  pseudo-word (at most 12 letters) from a 1,000-word vocabulary, skewed.

Query 3's windows 1980-01-01 .. 1980-04-01 (3A), .. 1983-01-01 (3B), .. 2010-01-01 (3C)
select about 0.6%, 7% and 70% of the visits, before the join drops 8% of them.

Rows are generated as one stream per table and cut into ``files`` part files by row
number, so the concatenated parts do not depend on ``files`` (at most one file per row;
existing ``part-*`` files in the two directories are removed first). The output depends
only on (rankings, uservisits, seed) for a given Python version.

Also here: the tables' Hive DDL (``hive_ddl``), a DuckDB loader as the oracle
(``load_duckdb``) and the three benchmark queries as published (``QUERY_1``..``QUERY_3``
with ``{x}``, ``PARAMS`` and the formatted ``VARIANTS`` 1A..3C).

Usage: ``python -m data.amplab --out /tmp/amplab --seed 0 [--rankings 18000] [--uservisits 155000]
[--files 4]`` (the defaults are 1/1000 of scale factor 1's 18M and 155M rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import random
import sys
import time
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]

#: The rankings table as published: (column, SQL type).
RANKINGS_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("pageURL", "VARCHAR(300)"),
    ("pageRank", "INT"),
    ("avgDuration", "INT"),
)

#: The uservisits table as published: (column, SQL type).
USERVISITS_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("sourceIP", "VARCHAR(116)"),
    ("destURL", "VARCHAR(100)"),
    ("visitDate", "DATE"),
    ("adRevenue", "FLOAT"),
    ("userAgent", "VARCHAR(256)"),
    ("countryCode", "CHAR(3)"),
    ("languageCode", "CHAR(6)"),
    ("searchWord", "VARCHAR(32)"),
    ("duration", "INT"),
)

#: Columns of each table, by table name (the directory names under ``DIR``).
TABLES: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "rankings": RANKINGS_COLUMNS,
    "uservisits": USERVISITS_COLUMNS,
}

#: Row counts at scale factor 1 of the original benchmark.
SCALE_1_ROWS: Dict[str, int] = {"rankings": 18_000_000, "uservisits": 155_000_000}

# ------------------------------------------------------------------------- queries

#: 1. Scan, X = 1000 (1A), 100 (1B), 10 (1C).
QUERY_1 = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > {x}"

#: 2. Aggregation, X = 8 (2A), 10 (2B), 12 (2C).
QUERY_2 = "SELECT SUBSTR(sourceIP, 1, {x}), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, {x})"

#: 3. Join, X = 1980-04-01 (3A), 1983-01-01 (3B), 2010-01-01 (3C).
QUERY_3 = """SELECT sourceIP, totalRevenue, avgPageRank
FROM (SELECT sourceIP, AVG(pageRank) as avgPageRank, SUM(adRevenue) as totalRevenue
      FROM Rankings AS R, UserVisits AS UV
      WHERE R.pageURL = UV.destURL
        AND UV.visitDate BETWEEN Date('1980-01-01') AND Date('{x}')
      GROUP BY UV.sourceIP)
ORDER BY totalRevenue DESC LIMIT 1"""

#: The published X of each variant.
PARAMS: Dict[str, Union[int, str]] = {
    "1A": 1000,
    "1B": 100,
    "1C": 10,
    "2A": 8,
    "2B": 10,
    "2C": 12,
    "3A": "1980-04-01",
    "3B": "1983-01-01",
    "3C": "2010-01-01",
}

_QUERIES = {"1": QUERY_1, "2": QUERY_2, "3": QUERY_3}

#: Each variant's full SQL text (the query with its X).
VARIANTS: Dict[str, str] = {v: _QUERIES[v[0]].format(x=x) for v, x in PARAMS.items()}

# ---------------------------------------------------------------------- value pools

FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2012, 12, 31)
N_DAYS = (LAST_DAY - FIRST_DAY).days + 1

_URL_SPACE = 26**6  # the 6-letter prefixes
_URL_MULT = 0x9E3779B1  # odd and not a multiple of 13: a bijection of Z/26**6
ABSENT_FRACTION = 0.08  # visits whose destURL is not in the rankings

#: pageRank bands (lowest, highest, share of rows); log-uniform within a band.
RANK_BANDS: Tuple[Tuple[int, int, float], ...] = (
    (0, 10, 0.15),
    (11, 100, 0.55),
    (101, 1000, 0.27),
    (1001, 10000, 0.03),
)

#: Browser strings of the time, commas dropped, with their shares.
USER_AGENTS: Tuple[Tuple[str, int], ...] = (
    ("Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US) AppleWebKit/525.19 (KHTML like Gecko) "
     "Chrome/1.0.154.53 Safari/525.19", 14),
    ("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; .NET CLR 2.0.50727)", 18),
    ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)", 12),
    ("Mozilla/5.0 (Windows; U; Windows NT 6.0; en-US; rv:1.9.0.10) Gecko/2009042316 Firefox/3.0.10", 11),
    ("Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_5_7; en-us) AppleWebKit/530.17 (KHTML like Gecko) "
     "Version/4.0 Safari/530.17", 8),
    ("Mozilla/5.0 (iPhone; U; CPU like Mac OS X; en) AppleWebKit/420+ (KHTML like Gecko) "
     "Version/3.0 Mobile/1A543a Safari/419.3", 6),
    ("Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9.0.9) Gecko/2009042113 Ubuntu/9.04 Firefox/3.0.9", 5),
    ("Opera/9.64 (Windows NT 5.1; U; en) Presto/2.1.1", 3),
    ("Mozilla/5.0 (Linux; U; Android 1.5; en-us; T-Mobile G1 Build/CRB43) AppleWebKit/528.5+ "
     "(KHTML like Gecko) Version/3.1.2 Mobile Safari/525.20.1", 3),
    ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", 9),
    ("Googlebot/2.1 (+http://www.google.com/bot.html)", 2),
    ("Lynx/2.8.6rel.4 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/0.9.8g", 1),
)

#: (countryCode, languageCode) pairs with their shares.
LOCALES: Tuple[Tuple[str, str, int], ...] = (
    ("USA", "USA-EN", 30),
    ("CHN", "CHN-ZH", 12),
    ("IND", "IND-HI", 8),
    ("BRA", "BRA-PT", 6),
    ("DEU", "DEU-DE", 6),
    ("GBR", "GBR-EN", 6),
    ("JPN", "JPN-JA", 5),
    ("FRA", "FRA-FR", 5),
    ("RUS", "RUS-RU", 4),
    ("CAN", "CAN-FR", 3),
    ("MEX", "MEX-ES", 3),
    ("ESP", "ESP-ES", 3),
    ("ITA", "ITA-IT", 2),
    ("KOR", "KOR-KO", 2),
    ("NLD", "NLD-NL", 1),
    ("MDG", "MDG-MG", 1),
    ("ZAF", "ZAF-AF", 1),
    ("ARG", "ARG-ES", 1),
    ("AUS", "AUS-EN", 1),
)

_SYLLABLES = (
    "ba be bi bo bu ca co cu da de di do fa fe fi fo ga go gu ha he hi ho ka ke ki ko la le li lo lu "
    "ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi "
    "vo za zo bar ter lin mor gan sel tor ven dal rik"
).split()
VOCABULARY_SIZE = 1000


def _check_no_commas() -> None:
    for ua, _ in USER_AGENTS:
        assert "," not in ua and len(ua) <= 256, ua
    for cc, lc, _ in LOCALES:
        assert len(cc) == 3 and len(lc) == 6 and lc.startswith(cc + "-"), (cc, lc)


_check_no_commas()

# ------------------------------------------------------------------------ generator


def _rng(seed: int, table: str) -> random.Random:
    """Independent, reproducible stream per table (str seeds hash via SHA-512)."""
    return random.Random(f"amplab-{seed}-{table}")


class _Urls:
    """pageURL number ``i`` as a function of (seed, i), unique for ``i < 26**6``."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"amplab-{seed}-urls".encode()).digest()
        self._offset = int.from_bytes(self._key[:8], "little") % _URL_SPACE

    def __call__(self, i: int) -> str:
        p = (i * _URL_MULT + self._offset) % _URL_SPACE
        head = []
        for _ in range(6):
            p, d = divmod(p, 26)
            head.append(chr(97 + d))
        h = hashlib.blake2b(i.to_bytes(8, "little"), digest_size=56, key=self._key).digest()
        tail = "".join(chr(97 + b % 26) for b in h[1 : 5 + h[0] % 51])
        return "".join(head) + tail


class _Ips:
    """Address ``k`` of the visitors' pool as a function of (seed, k), skewed by octet."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"amplab-{seed}-ips".encode()).digest()
        rng = random.Random(f"amplab-{seed}-octets")
        self._first = rng.sample(range(100, 224), 24)
        self._second = rng.sample(range(100, 256), 48)

    def __call__(self, k: int) -> str:
        h = hashlib.blake2b(k.to_bytes(8, "little"), digest_size=8, key=self._key).digest()
        # a product of two uniform bytes is skewed towards 0: a few networks carry most hosts
        o1 = self._first[(h[0] * h[1] * len(self._first)) >> 16]
        o2 = self._second[(h[2] * h[3] * len(self._second)) >> 16]
        return f"{o1}.{o2}.{h[4]}.{1 + h[5] % 254}"


def revenue_text(micros: int) -> str:
    """An adRevenue of ``micros`` millionths as written: no trailing zeros, >= 1 place."""
    whole, frac = divmod(micros, 1_000_000)
    return f"{whole}.{(f'{frac:06d}'.rstrip('0') or '0')}"


def _page_rank(rng: random.Random, cum: Sequence[float]) -> int:
    lo, hi, _ = RANK_BANDS[rng.choices(range(len(RANK_BANDS)), cum_weights=cum)[0]]
    v = int(math.exp(rng.uniform(math.log(lo + 1), math.log(hi + 2)))) - 1
    return min(hi, max(lo, v))


def _rankings_lines(n: int, seed: int) -> Iterator[str]:
    rng = _rng(seed, "rankings")
    url = _Urls(seed)
    cum = list(accumulate(share for _, _, share in RANK_BANDS))
    for i in range(n):
        yield f"{url(i)},{_page_rank(rng, cum)},{rng.randint(1, 100)}\n"


def _vocabulary(seed: int) -> List[str]:
    rng = _rng(seed, "words")
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(VOCABULARY_SIZE)]


def _uservisits_lines(n: int, n_rankings: int, seed: int) -> Iterator[str]:
    rng = _rng(seed, "uservisits")
    rand = rng.random
    url, ip = _Urls(seed), _Ips(seed)
    pool = max(1, n // 4)
    days = [(FIRST_DAY + dt.timedelta(days=d)).isoformat() for d in range(N_DAYS)]
    agents = [ua for ua, _ in USER_AGENTS]
    agent_cum = list(accumulate(w for _, w in USER_AGENTS))
    locales = [f"{cc},{lc}" for cc, lc, _ in LOCALES]
    locale_cum = list(accumulate(w for _, _, w in LOCALES))
    words = _vocabulary(seed)
    n_words = len(words)
    for _ in range(n):
        source = ip(int(pool * rand() ** 2))
        if rand() < ABSENT_FRACTION:
            dest = url(n_rankings + int(n_rankings * rand()))
        else:
            dest = url(int(n_rankings * rand() ** 2))
        day = days[int(N_DAYS * rand())]
        micros = min(999_999_999, max(100, int(rng.lognormvariate(1.5, 1.5) * 1e6)))
        agent = rng.choices(agents, cum_weights=agent_cum)[0]
        locale = rng.choices(locales, cum_weights=locale_cum)[0]
        word = words[int(n_words * rand() ** 2)]
        duration = 1 + min(99, int(rng.expovariate(0.1)))
        yield f"{source},{dest},{day},{revenue_text(micros)},{agent},{locale},{word},{duration}\n"


def _write_parts(directory: Path, lines: Iterator[str], rows: int, files: int) -> None:
    """``rows`` lines over ``files`` part files (at most one per row, at least one)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("part-*"):
        old.unlink()
    files = min(files, max(1, rows))
    bounds = [round(k * rows / files) for k in range(files + 1)]
    for k in range(files):
        with open(directory / f"part-{k:05d}", "w", encoding="utf-8", newline="\n") as fh:
            left = bounds[k + 1] - bounds[k]
            while left:
                take = min(left, 8192)
                fh.writelines(islice(lines, take))
                left -= take


def generate(
    out_dir: PathLike, rankings: int = 18_000, uservisits: int = 155_000, seed: int = 0, files: int = 1
) -> Dict[str, int]:
    """Write both tables under ``out_dir`` (``rankings/`` and ``uservisits/``, ``files`` part
    files each); return the row count per table."""
    if rankings < 1 or uservisits < 0 or files < 1:
        raise ValueError("rankings must be >= 1, uservisits >= 0 and files >= 1")
    if 2 * rankings > _URL_SPACE:
        raise ValueError(f"rankings must be <= {_URL_SPACE // 2}")
    out = Path(out_dir)
    _write_parts(out / "rankings", _rankings_lines(rankings, seed), rankings, files)
    _write_parts(out / "uservisits", _uservisits_lines(uservisits, rankings, seed), uservisits, files)
    return {"rankings": rankings, "uservisits": uservisits}


def part_files(base_dir: PathLike, table: str) -> List[Path]:
    """The part files of ``table`` under ``base_dir``, in order."""
    return sorted((Path(base_dir) / table).glob("part-*"))


# ---------------------------------------------------------------------- Hive, DuckDB


def hive_type(sql_type: str) -> str:
    """A published column type as Hive's: VARCHAR(n)/CHAR(n) -> STRING, FLOAT -> DOUBLE."""
    t = sql_type.strip().upper()
    if t.startswith(("VARCHAR", "CHAR")):
        return "STRING"
    return {"INT": "INT", "DATE": "DATE", "FLOAT": "DOUBLE"}[t]


def duckdb_type(sql_type: str) -> str:
    """A published column type as DuckDB's: VARCHAR(n)/CHAR(n) -> VARCHAR, FLOAT -> DOUBLE."""
    t = sql_type.strip().upper()
    if t.startswith(("VARCHAR", "CHAR")):
        return "VARCHAR"
    return {"INT": "INTEGER", "DATE": "DATE", "FLOAT": "DOUBLE"}[t]


def _sql_str(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def hive_ddl(base_dir: PathLike) -> str:
    """``CREATE EXTERNAL TABLE`` statements for both tables over ``base_dir/<table>``
    (a local path or a URI such as ``s3://bucket/amplab``)."""
    base = str(base_dir).rstrip("/")
    statements = []
    for table, columns in TABLES.items():
        cols = ",\n".join(f"  {name} {hive_type(typ)}" for name, typ in columns)
        statements.append(
            f"CREATE EXTERNAL TABLE {table} (\n{cols}\n)\n"
            "ROW FORMAT DELIMITED FIELDS TERMINATED BY ','\n"
            "STORED AS TEXTFILE\n"
            f"LOCATION {_sql_str(base + '/' + table)};\n"
        )
    return "\n".join(statements)


def duckdb_read_sql(files: Sequence[PathLike], table: str) -> str:
    """The ``read_csv`` relation of one table's part files with its declared columns."""
    cols = "{" + ", ".join(f"{_sql_str(n)}: {_sql_str(duckdb_type(t))}" for n, t in TABLES[table]) + "}"
    file_list = "[" + ", ".join(_sql_str(p) for p in files) + "]"
    return (
        f"read_csv({file_list}, delim = ',', header = false, quote = '', escape = '', "
        f"auto_detect = false, dateformat = '%Y-%m-%d', columns = {cols})"
    )


def load_duckdb(con: Any, base_dir: PathLike) -> Dict[str, int]:
    """Create (or replace) ``rankings`` and ``uservisits`` in the DuckDB connection ``con``
    from the part files under ``base_dir``; return the row count per table."""
    counts: Dict[str, int] = {}
    for table in TABLES:
        files = part_files(base_dir, table)
        if not files:
            raise FileNotFoundError(f"no part files in {Path(base_dir) / table}")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {duckdb_read_sql(files, table)}")
        counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m data.amplab", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rankings", type=int, default=18_000, help="rankings rows")
    ap.add_argument("--uservisits", type=int, default=155_000, help="uservisits rows")
    ap.add_argument("--files", type=int, default=1, help="part files per table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts = generate(args.out, args.rankings, args.uservisits, args.seed, args.files)
    took = time.perf_counter() - t0
    summary = " ".join(f"{t}={n}" for t, n in counts.items())
    print(f"{summary} files={args.files} in {took:.2f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
