"""Deterministic generator for the Redshift TICKIT sample database.

Writes the seven tables of the Redshift getting-started guide with the real DDL's
columns, in the real sample's file names and text formats, directly in ``DIR``::

    allusers_pipe.txt   venue_pipe.txt   category_pipe.txt   date2008_pipe.txt
    allevents_pipe.txt  listings_pipe.txt                        ('|'-delimited)
    sales_tab.txt                                                (tab-delimited)

No header lines; booleans are ``TRUE``/``FALSE``; an empty field is NULL (only
integer/boolean fields are ever empty, character fields never are, so Redshift's
``EMPTYASNULL`` question does not arise); event/listing times are
``YYYY-MM-DD HH:MI:SS``; sales times are ``M/D/YYYY HH:MI:SS`` with month and day not
zero-padded (``2/18/2008 02:36:48``). Decimals are written with two places.

Every table is also written as ``DIR/parquet/<table>.parquet`` with the DDL's types:
``integer`` -> int32, ``smallint`` -> int16, ``decimal(8,2)`` -> decimal128(8, 2)
(exact, not float), ``boolean`` -> bool (nullable), ``date`` -> date32,
``timestamp`` -> timestamp[us] (no time zone), character types -> string.

The tables' facts -- file names, columns in order, DDL types, delimiters, time formats --
are ``jobs/tickit_schema.py``'s: the generator names the values of each column, and
``_write_table`` lays them out in the schema's order, as text (the table's delimiter and
COPY formats) and as Parquet (``parquet_schema``).

Scaling (``--scale S``): ``sales`` and ``listing`` have ``round(S * real)`` rows.
``users`` and ``event`` keep the real counts for ``S >= 1`` (they do not grow) and
shrink linearly below 1 with floors of 1,000 users and 300 events. ``category`` (11),
``venue`` (202) and ``date`` (365 days of 2008, dateid 1827..2191) never change.
At ``S = 1`` the counts equal the real sample's.

Facts mirrored: qtysold 1..8 (and <= the listing's numtickets); pricepaid = qtysold x
priceperticket; commission = 15% of pricepaid; listing totalprice = numtickets x
priceperticket; ~4% of events use venue ids 203..309 (beyond the venue table); user
names are 8-character codes; sale dates lie between the listing date and the event date.

Planted so that every lab query has a non-trivial, tie-free answer: at least three
users named Smith who like theatre and classical plus Smiths whose likes are NULL; the
top 11 buyers by quantity have strictly decreasing totals (so ``LIMIT 10`` and its
order are unambiguous); a small pool of heavy buyers and a heavy-tailed event
popularity. The output depends only on (scale, seed) for a given Python version.

Usage: ``python -m data.tickit --scale 1 --seed 0 --out /tmp/tickit``
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from array import array
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.tickit_schema import TABLES, Column, Table, decimal_precision_scale

#: Row counts of the real sample (event: the real file has 8,798 rows).
REAL_ROWS: Dict[str, int] = {
    "category": 11,
    "venue": 202,
    "users": 49990,
    "event": 8798,
    "listing": 192497,
    "sales": 172456,
    "date": 365,
}

#: Text file name of each table, as in the real sample (``jobs/tickit_schema.py``).
FILES: Dict[str, str] = {t.name: t.file for t in TABLES.values()}

#: Field delimiter of each text file.
DELIMITERS: Dict[str, str] = {t.name: t.delimiter for t in TABLES.values()}

FIRST_DATEID = 1827  # 2008-01-01, as in the real date table
N_DAYS = 365  # 2008-01-01 .. 2008-12-30
CHALLENGE_DATEID = FIRST_DATEID + 4  # 2008-01-05
MAX_VENUEID = 309  # events may reference venue ids 203..309, absent from venue
_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH_2008 = (dt.date(2008, 1, 1) - _EPOCH_DAY).days

#: The users table's like* columns, in order.
LIKES = tuple(c.name for c in TABLES["users"].columns if c.name.startswith("like"))

CATEGORIES: List[Tuple[int, str, str, str]] = [
    (1, "Sports", "MLB", "Major League Baseball"),
    (2, "Sports", "NHL", "National Hockey League"),
    (3, "Sports", "NFL", "National Football League"),
    (4, "Sports", "NBA", "National Basketball Association"),
    (5, "Sports", "MLS", "Major League Soccer"),
    (6, "Shows", "Musicals", "Musical theatre"),
    (7, "Shows", "Plays", "All non-musical theatre"),
    (8, "Shows", "Opera", "All opera and light opera"),
    (9, "Concerts", "Pop", "All rock and pop music concerts"),
    (10, "Concerts", "Jazz", "All jazz singers and bands"),
    (11, "Concerts", "Classical", "All symphony, concerto, and choir concerts"),
]
# Share of events per category (shows and pop concerts dominate, as in the real data).
_CAT_WEIGHTS = [4, 2, 2, 2, 1, 20, 25, 9, 25, 6, 4]

FIRST_NAMES = (
    "Aaron Abel Ada Adam Adele Aiko Alan Alice Amir Amy Ann Anna Arthur Barbara Basil "
    "Beatrice Ben Bianca Blake Brenda Bruno Caleb Carl Carmen Cecil Chloe Clara Colin "
    "Dana Daniel Daria David Dean Derek Diana Dora Dylan Edith Elena Eli Ella Emma Eric "
    "Ethan Eva Felix Fiona Frank Gail George Gina Grace Hana Harry Hazel Helen Hugo Ian "
    "Ida Igor Irene Ivan Jack Jade James Jane Jason Joan Joel Julia Karen Keith Kim Kyle "
    "Lara Leah Leo Lily Linus Lisa Lucas Luke Mara Maria Mark Maya Mia Nadia Nina Noah "
    "Nora Olga Omar Oscar Paul Pearl Quinn Rafael Rita Rose Ruth Ryan Sara Sean Sofia "
    "Tara Theo Tom Uma Vera Victor Wade Wendy Xena Yara Yusuf Zane Zoe"
).split()
LAST_NAMES = (
    "Adams Allen Baker Barnes Bell Bennett Brooks Brown Bryant Butler Campbell Carter "
    "Clark Cole Collins Cook Cooper Cox Cruz Davis Diaz Edwards Ellis Evans Fisher Flores "
    "Ford Foster Garcia Gibson Gomez Gonzalez Graham Gray Green Griffin Hall Hamilton "
    "Harris Hayes Henderson Hill Holmes Howard Hughes Hunt Jackson James Jenkins Johnson "
    "Jones Jordan Kelly Kennedy Kim King Lee Lewis Long Lopez Marshall Martin Martinez "
    "Mason Miller Mitchell Moore Morgan Morris Murphy Myers Nelson Nguyen Ortiz Owens "
    "Palmer Parker Patel Perez Perry Peterson Phillips Powell Price Ramirez Reed Reyes "
    "Reynolds Richardson Rivera Roberts Robinson Rogers Ross Russell Sanchez Sanders "
    "Scott Shaw Simmons Smith Stewart Sullivan Taylor Thomas Thompson Torres Turner "
    "Walker Wallace Ward Washington Watson Webb West White Williams Wilson Wood Wright "
    "Young"
).split()
CITIES: List[Tuple[str, str]] = [
    ("New York", "NY"),
    ("Buffalo", "NY"),
    ("Albany", "NY"),
    ("Los Angeles", "CA"),
    ("San Francisco", "CA"),
    ("San Diego", "CA"),
    ("Sacramento", "CA"),
    ("Chicago", "IL"),
    ("Springfield", "IL"),
    ("Houston", "TX"),
    ("Dallas", "TX"),
    ("Austin", "TX"),
    ("Phoenix", "AZ"),
    ("Tucson", "AZ"),
    ("Philadelphia", "PA"),
    ("Pittsburgh", "PA"),
    ("Seattle", "WA"),
    ("Spokane", "WA"),
    ("Kent", "WA"),
    ("Portland", "OR"),
    ("Salem", "OR"),
    ("Denver", "CO"),
    ("Boulder", "CO"),
    ("Boston", "MA"),
    ("Worcester", "MA"),
    ("Miami", "FL"),
    ("Orlando", "FL"),
    ("Tampa", "FL"),
    ("Atlanta", "GA"),
    ("Savannah", "GA"),
    ("Detroit", "MI"),
    ("Lansing", "MI"),
    ("Columbus", "OH"),
    ("Cleveland", "OH"),
    ("Nashville", "TN"),
    ("Memphis", "TN"),
    ("Baltimore", "MD"),
    ("Milwaukee", "WI"),
    ("Madison", "WI"),
    ("Minneapolis", "MN"),
    ("St. Louis", "MO"),
    ("Kansas City", "MO"),
    ("New Orleans", "LA"),
    ("Las Vegas", "NV"),
    ("Reno", "NV"),
    ("Salt Lake City", "UT"),
    ("Omaha", "NE"),
    ("Raleigh", "NC"),
    ("Charlotte", "NC"),
    ("Richmond", "VA"),
    ("Newark", "NJ"),
    ("Hartford", "CT"),
    ("Providence", "RI"),
    ("Burlington", "VT"),
    ("Anchorage", "AK"),
    ("Honolulu", "HI"),
    ("Toronto", "ON"),
    ("Montreal", "QC"),
    ("Vancouver", "BC"),
    ("Calgary", "AB"),
]
_LOREM = (
    "lorem ipsum dolor sit amet consectetuer adipiscing elit sed nulla facilisi "
    "aliquam erat volutpat mauris blandit sodales etiam laoreet libero vitae "
    "pellentesque habitant morbi tristique senectus netus malesuada fames turpis "
    "egestas vestibulum ante primis faucibus orci luctus ultrices posuere cubilia "
    "curae donec velit neque auctor sit risus praesent commodo cursus magna"
).split()
_TLDS = ("com", "org", "net", "edu", "ca", "us")
_VENUE_WORDS = (
    "Harbor Summit Liberty Pioneer Riverside Golden Union Central Heritage Lakeside "
    "Canyon Metro Grand Royal Silver Eagle Crown Beacon Maple Cedar Granite Sunset "
    "Northfield Westgate Founders Victory Civic Memorial Capitol Empire"
).split()
_VENUE_KINDS = (
    "Arena Stadium Field Center Theatre Hall Amphitheatre Coliseum Park Playhouse "
    "Auditorium Pavilion Dome Garden Ballpark"
).split()
_NAME_A = (
    "Silver Midnight Crimson Electric Velvet Golden Wild Broken Lonely Happy Little "
    "Secret Northern Burning Quiet Restless Blue Scarlet Hidden Winter Summer Paper "
    "Iron Glass Crystal Shadow Neon Lucky Rolling Falling"
).split()
_NAME_B = (
    "Lanterns Rivers Hearts Kings Dreams Horses Echoes Roses Sparrows Giants Wolves "
    "Tigers Angels Pilots Sailors Strangers Voices Mirrors Gardens Bridges Thieves "
    "Saints Rockets Comets Ghosts Machines Ballad Serenade Requiem Overture"
).split()
_START_TIMES = (
    "19:30:00",
    "20:00:00",
    "19:00:00",
    "20:30:00",
    "14:30:00",
    "15:00:00",
    "18:00:00",
    "13:00:00",
    "12:30:00",
    "16:00:00",
)
_DAY_NAMES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_HOLIDAYS = {
    dt.date(2008, 1, 1),
    dt.date(2008, 1, 21),
    dt.date(2008, 2, 18),
    dt.date(2008, 5, 26),
    dt.date(2008, 7, 4),
    dt.date(2008, 9, 1),
    dt.date(2008, 10, 13),
    dt.date(2008, 11, 11),
    dt.date(2008, 11, 27),
    dt.date(2008, 12, 25),
}
_CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def row_counts(scale: float = 1) -> Dict[str, int]:
    """Return the number of rows each table gets at ``scale`` (see module docstring)."""
    if scale <= 0:
        raise ValueError("scale must be > 0")
    small = min(scale, 1.0)
    return {
        "category": REAL_ROWS["category"],
        "venue": REAL_ROWS["venue"],
        "users": max(1000, round(REAL_ROWS["users"] * small)),
        "event": max(300, round(REAL_ROWS["event"] * small)),
        "listing": max(1, round(REAL_ROWS["listing"] * scale)),
        "sales": max(1, round(REAL_ROWS["sales"] * scale)),
        "date": N_DAYS,
    }


def _rng(seed: int, table: str) -> random.Random:
    """Independent, reproducible stream per table (str seeds hash via SHA-512)."""
    return random.Random(f"tickit-{seed}-{table}")


def _bool_text(value: Optional[bool]) -> str:
    if value is None:
        return ""
    return "TRUE" if value else "FALSE"


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _write_text(path: Path, lines: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines))
        if lines:
            fh.write("\n")


def arrow_type(column: Column) -> pa.DataType:
    """The Parquet (Arrow) type of a TICKIT column, from its DDL type."""
    kind = column.kind
    if kind == "integer":
        return pa.int16() if column.type == "smallint" else pa.int32()
    if kind == "decimal":
        return pa.decimal128(*decimal_precision_scale(column.type))
    return {
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "string": pa.string(),
    }[kind]


def parquet_schema(table: str) -> pa.Schema:
    """The schema of ``<table>.parquet``: the DDL's columns in order, all nullable."""
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in TABLES[table].columns])


def _decimal_array(units: Sequence[int], typ: pa.DataType) -> pa.Array:
    """A decimal128 array from integers in units of its scale (cents for decimal(8,2)),
    built straight from buffers."""
    if sys.byteorder != "little":  # pragma: no cover - x86/arm are little endian
        from decimal import Decimal

        return pa.array([Decimal(u).scaleb(-typ.scale) for u in units], typ)
    words = array("q", bytes(16 * len(units)))
    words[0::2] = array("q", units)
    return pa.Array.from_buffers(typ, len(units), [None, pa.py_buffer(words.tobytes())])


def _ts_array(seconds: Sequence[int]) -> pa.Array:
    """timestamp[us] array from seconds since the Unix epoch."""
    return pa.array([s * 1_000_000 for s in seconds], pa.int64()).cast(pa.timestamp("us"))


def _epoch(dateid: int, secs: int) -> int:
    return (_EPOCH_2008 + dateid - FIRST_DATEID) * 86400 + secs


def _arrow_column(column: Column, values: Sequence) -> pa.Array:
    """Values as the generator holds them (decimals as integer units of the scale,
    timestamps as epoch seconds, dates as ``datetime.date``) as an Arrow array."""
    typ = arrow_type(column)
    if column.kind == "decimal":
        return _decimal_array(values, typ)
    if column.kind == "timestamp":
        return _ts_array(values)
    return pa.array(values, typ)


#: How the real sample writes the timestamps that COPY reads with a ``timeformat``,
#: from epoch seconds: ISO, or month/day/year with month and day not zero-padded.
_TIMESTAMP_TEXT = {
    "YYYY-MM-DD HH:MI:SS": lambda d: d.isoformat(),
    "MM/DD/YYYY HH:MI:SS": lambda d: f"{d.month}/{d.day}/{d.year}",
}


def _text_column(table: Table, column: Column, values: Sequence) -> List[str]:
    """The column's text fields: NULL empty, ``TRUE``/``FALSE``, decimals with their
    scale's places, dates ISO, timestamps in the table's COPY ``timeformat``."""
    kind = column.kind
    if kind == "integer":
        return ["" if v is None else str(v) for v in values]
    if kind == "string":
        return ["" if v is None else v for v in values]
    if kind == "boolean":
        return [_bool_text(v) for v in values]
    if kind == "decimal":
        scale = decimal_precision_scale(column.type)[1]
        if scale == 0:
            return ["" if v is None else str(v) for v in values]
        unit = 10**scale
        return ["" if v is None else f"{v // unit}.{v % unit:0{scale}d}" for v in values]
    if kind == "date":
        if table.dateformat != "YYYY-MM-DD":
            raise ValueError(f"{table.name}: no text form for dateformat {table.dateformat!r}")
        return ["" if v is None else v.isoformat() for v in values]
    if kind == "timestamp":
        day_text = _TIMESTAMP_TEXT.get(table.timeformat)
        if day_text is None:
            raise ValueError(f"{table.name}: no text form for timeformat {table.timeformat!r}")
        days: Dict[int, str] = {}
        out = []
        for v in values:
            if v is None:
                out.append("")
                continue
            n, secs = divmod(v, 86400)
            day = days.get(n)
            if day is None:
                day = days[n] = day_text(_EPOCH_DAY + dt.timedelta(days=n))
            out.append(f"{day} {_hms(secs)}")
        return out
    raise AssertionError(kind)


def _write_table(out: Path, pdir: Optional[Path], table: str, values: Dict[str, Sequence]) -> int:
    """Write ``table`` from its columns' values (by name), in the schema's column order:
    ``out/<file>`` as text and, unless ``pdir`` is None, ``pdir/<table>.parquet``.
    Returns the number of rows."""
    t = TABLES[table]
    if set(values) != set(t.names):
        raise ValueError(f"{table}: the generator writes {sorted(values)}, the schema has {sorted(t.names)}")
    texts = [_text_column(t, c, values[c.name]) for c in t.columns]
    rows = len(texts[0])
    if any(len(col) != rows for col in texts):
        raise ValueError(f"{table}: columns of different lengths")
    _write_text(out / t.file, [t.delimiter.join(fields) for fields in zip(*texts)])
    if pdir is not None:
        arrays = {c.name: _arrow_column(c, values[c.name]) for c in t.columns}
        pq.write_table(pa.table(arrays), pdir / t.parquet_file, compression="zstd")
    return rows


# --------------------------------------------------------------------------- tables


def _gen_category(out: Path, pdir: Optional[Path]) -> int:
    cols = list(zip(*CATEGORIES))
    _write_table(
        out, pdir, "category", {"catid": cols[0], "catgroup": cols[1], "catname": cols[2], "catdesc": cols[3]}
    )
    return len(CATEGORIES)


def _gen_date(out: Path, pdir: Optional[Path]) -> int:
    rows = []
    jan1_offset = (dt.date(2008, 1, 1).weekday() + 1) % 7  # weeks start on Sunday
    for i in range(N_DAYS):
        d = dt.date(2008, 1, 1) + dt.timedelta(days=i)
        rows.append(
            (
                FIRST_DATEID + i,
                d,
                _DAY_NAMES[d.weekday()],
                (i + jan1_offset) // 7 + 1,
                _MONTHS[d.month - 1],
                str((d.month - 1) // 3 + 1),
                2008,
                d in _HOLIDAYS,
            )
        )
    c = list(zip(*rows))
    _write_table(
        out,
        pdir,
        "date",
        {
            "dateid": c[0],
            "caldate": c[1],
            "day": c[2],
            "week": c[3],
            "month": c[4],
            "qtr": c[5],
            "year": c[6],
            "holiday": c[7],
        },
    )
    return N_DAYS


def _gen_venue(out: Path, pdir: Optional[Path], seed: int) -> int:
    rng = _rng(seed, "venue")
    n = REAL_ROWS["venue"]
    names: set = set()
    ids, vname, vcity, vstate, seats = [], [], [], [], []
    for vid in range(1, n + 1):
        while True:
            name = f"{rng.choice(_VENUE_WORDS)} {rng.choice(_VENUE_KINDS)}"
            if name not in names:
                names.add(name)
                break
        city, state = rng.choice(CITIES)
        ids.append(vid)
        vname.append(name)
        vcity.append(city)
        vstate.append(state)
        r = rng.random()
        # Like the real file: many venues have 0 seats, a few have none recorded.
        seats.append(None if r < 0.03 else 0 if r < 0.35 else rng.randrange(2000, 92000, 5))
    _write_table(
        out,
        pdir,
        "venue",
        {"venueid": ids, "venuename": vname, "venuecity": vcity, "venuestate": vstate, "venueseats": seats},
    )
    return n


def _like(r: float) -> Optional[bool]:
    return True if r < 0.35 else False if r < 0.70 else None


def _gen_users(out: Path, pdir: Optional[Path], seed: int, n: int) -> int:
    rng = _rng(seed, "users")
    rand = rng.random
    usernames: set = set()
    uname, first, last, city, state, email, phone = [], [], [], [], [], [], []
    likes: List[List[Optional[bool]]] = [[] for _ in LIKES]
    for _ in range(n):
        while True:
            code = "".join(rng.choices(_CODE_CHARS, k=8))
            if code not in usernames:
                usernames.add(code)
                break
        uname.append(code)
        first.append(rng.choice(FIRST_NAMES))
        last.append(rng.choice(LAST_NAMES))
        c, s = rng.choice(CITIES)
        city.append(c)
        state.append(s)
        w = rng.sample(_LOREM, 3)
        email.append(f"{w[0].capitalize()}.{w[1]}@{w[2]}{rng.choice(_TLDS)}.{rng.choice(_TLDS)}")
        phone.append(f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}")
        for col in likes:
            col.append(_like(rand()))
    # Plant the challenge's answer: Smiths who like theatre and classical, and Smiths
    # whose theatre/classical likes are NULL (which WHERE liketheatre AND ... drops).
    i_theatre, i_classical = LIKES.index("liketheatre"), LIKES.index("likeclassical")
    planted = rng.sample(range(n), 3 + n // 10000 + 3)
    for k, u in enumerate(planted):
        last[u] = "Smith"
        if k < len(planted) - 3:
            likes[i_theatre][u] = likes[i_classical][u] = True
        elif k == len(planted) - 3:
            likes[i_theatre][u], likes[i_classical][u] = True, None
        elif k == len(planted) - 2:
            likes[i_theatre][u], likes[i_classical][u] = None, True
        else:
            for col in likes:
                col[u] = None
    cols: Dict[str, Sequence] = {
        "userid": range(1, n + 1),
        "username": uname,
        "firstname": first,
        "lastname": last,
        "city": city,
        "state": state,
        "email": email,
        "phone": phone,
    }
    cols.update(zip(LIKES, likes))
    _write_table(out, pdir, "users", cols)
    return n


def _gen_event(out: Path, pdir: Optional[Path], seed: int, n: int) -> Tuple[List[int], List[float]]:
    """Write the event table; return each event's dateid and popularity weight."""
    rng = _rng(seed, "event")
    pool_size = max(50, n // 6)
    pool: List[str] = []
    seen: set = set()
    while len(pool) < pool_size:
        name = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)}"
        if rng.random() < 0.3:
            name = "The " + name
        if rng.random() < 0.15:
            name += "!"
        if name in seen and len(seen) < len(_NAME_A) * len(_NAME_B) * 4:
            continue
        seen.add(name)
        pool.append(name)
    cats = rng.choices(range(1, 12), weights=_CAT_WEIGHTS, k=n)
    venue, dateid, eventname, start, weights = [], [], [], [], []
    for _ in range(n):
        venue.append(rng.randint(203, MAX_VENUEID) if rng.random() < 0.04 else rng.randint(1, 202))
        d = FIRST_DATEID + rng.randrange(N_DAYS)
        dateid.append(d)
        eventname.append(pool[int(pool_size * rng.random() ** 1.5)])
        start.append(rng.choice(_START_TIMES))
        weights.append(rng.paretovariate(1.6))
    secs = [_epoch(dateid[i], int(start[i][:2]) * 3600 + int(start[i][3:5]) * 60) for i in range(n)]
    _write_table(
        out,
        pdir,
        "event",
        {
            "eventid": range(1, n + 1),
            "venueid": venue,
            "catid": cats,
            "dateid": dateid,
            "eventname": eventname,
            "starttime": secs,
        },
    )
    return dateid, weights


def _gen_listing_sales(
    out: Path,
    pdir: Optional[Path],
    seed: int,
    n_listing: int,
    n_sales: int,
    n_users: int,
    event_dateid: List[int],
    event_weight: List[float],
) -> None:
    rng = _rng(seed, "listing")
    rand, randint = rng.random, rng.randint
    # ---- listing
    cum: List[float] = []
    acc = 0.0
    for w in event_weight:
        acc += w
        cum.append(acc)
    l_event = [e + 1 for e in _choices_idx(rng, cum, n_listing)]
    l_seller, l_dateid, l_num, l_ppt, l_secs = [], [], [], [], []
    for e in l_event:
        l_seller.append(randint(1, n_users))
        ed = event_dateid[e - 1]
        l_dateid.append(max(FIRST_DATEID, ed - int(120 * rand())))
        l_num.append(randint(1, 30) if rand() < 0.7 else randint(1, 4))
        ppt = int(rng.lognormvariate(4.4, 0.75))
        l_ppt.append(min(2500, max(10, ppt)) * 100)
        l_secs.append(int(86400 * rand()))
    # ---- sales: listings chosen with replacement, in listid order like the real file
    s_list = sorted(randint(0, n_listing - 1) for _ in range(n_sales))
    heavy = rng.sample(range(1, n_users + 1), min(15, n_users))
    heavy_cum: List[float] = []
    acc = 0.0
    for k in range(len(heavy)):
        acc += 1.0 / (k + 1)
        heavy_cum.append(acc)
    s_buyer, s_dateid, s_qty, s_secs = [], [], [], []
    for li in s_list:
        seller = l_seller[li]
        if rand() < 0.04:
            buyer = heavy[_choices_idx(rng, heavy_cum, 1)[0]]
        else:
            buyer = randint(1, n_users)
        if buyer == seller:
            buyer = buyer % n_users + 1
        s_buyer.append(buyer)
        ld, ed = l_dateid[li], event_dateid[l_event[li] - 1]
        sd = randint(ld, max(ld, ed))
        s_dateid.append(sd)
        s_qty.append(min(randint(1, 8), l_num[li]))
        lo = l_secs[li] if sd == ld else 0
        s_secs.append(lo + int((86400 - lo) * rand()))
    _untie_top_buyers(s_buyer, s_qty, [l_seller[li] for li in s_list])
    # ---- write
    _write_table(
        out,
        pdir,
        "listing",
        {
            "listid": range(1, n_listing + 1),
            "sellerid": l_seller,
            "eventid": l_event,
            "dateid": l_dateid,
            "numtickets": l_num,
            "priceperticket": l_ppt,
            "totalprice": [a * b for a, b in zip(l_num, l_ppt)],
            "listtime": [_epoch(d, s) for d, s in zip(l_dateid, l_secs)],
        },
    )
    s_paid = [s_qty[i] * l_ppt[li] for i, li in enumerate(s_list)]
    _write_table(
        out,
        pdir,
        "sales",
        {
            "salesid": range(1, n_sales + 1),
            "listid": [li + 1 for li in s_list],
            "sellerid": [l_seller[li] for li in s_list],
            "buyerid": s_buyer,
            "eventid": [l_event[li] for li in s_list],
            "dateid": s_dateid,
            "qtysold": s_qty,
            "pricepaid": s_paid,
            "commission": [(p * 15 + 50) // 100 for p in s_paid],
            "saletime": [_epoch(d, s) for d, s in zip(s_dateid, s_secs)],
        },
    )


def _choices_idx(rng: random.Random, cum: List[float], k: int) -> List[int]:
    """``k`` weighted indexes given cumulative weights (like ``random.choices``)."""
    return rng.choices(range(len(cum)), cum_weights=cum, k=k)


def _untie_top_buyers(buyer: List[int], qty: List[int], seller: List[int]) -> None:
    """Make the 11 largest buyer totals strictly decreasing.

    Moves whole sales (small ``qtysold`` first) from buyers outside the top 11 to the
    top buyer that needs more, so ``ORDER BY total DESC LIMIT 10`` is unambiguous.
    """
    totals: Dict[int, int] = {}
    for b, q in zip(buyer, qty):
        totals[b] = totals.get(b, 0) + q
    ranked = sorted(totals, key=lambda u: (-totals[u], u))[:11]
    if len(ranked) < 11:
        return
    top = set(ranked)
    donors = sorted((i for i in range(len(buyer)) if buyer[i] not in top), key=lambda i: (qty[i], i))
    pos = 0
    for i in range(9, -1, -1):
        need = totals[ranked[i + 1]] - totals[ranked[i]] + 1
        target = ranked[i]
        while need > 0 and pos < len(donors):
            s = donors[pos]
            pos += 1
            if qty[s] > need or seller[s] == target:
                continue
            buyer[s] = target
            totals[target] += qty[s]
            need -= qty[s]


# --------------------------------------------------------------------------- API


def generate(out_dir: Path, scale: float = 1, seed: int = 0, parquet: bool = True) -> Dict[str, int]:
    """Generate all seven TICKIT tables in ``out_dir``; return the row count per table.

    Text files go directly in ``out_dir``; Parquet files (unless ``parquet`` is false)
    in ``out_dir/parquet``. Output depends only on ``scale`` and ``seed``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pdir: Optional[Path] = None
    if parquet:
        pdir = out / "parquet"
        pdir.mkdir(exist_ok=True)
    counts = row_counts(scale)
    _gen_category(out, pdir)
    _gen_date(out, pdir)
    _gen_venue(out, pdir, seed)
    _gen_users(out, pdir, seed, counts["users"])
    ev_date, ev_weight = _gen_event(out, pdir, seed, counts["event"])
    _gen_listing_sales(
        out,
        pdir,
        seed,
        counts["listing"],
        counts["sales"],
        counts["users"],
        ev_date,
        ev_weight,
    )
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m data.tickit", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fact-table scale (1 = real sizes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--no-parquet", action="store_true", help="write the text files only")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts = generate(args.out, args.scale, args.seed, parquet=not args.no_parquet)
    took = time.perf_counter() - t0
    print(" ".join(f"{t}={n}" for t, n in counts.items()) + f" in {took:.2f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
