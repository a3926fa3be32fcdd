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

#: Text file name of each table, as in the real sample.
FILES: Dict[str, str] = {
    "users": "allusers_pipe.txt",
    "venue": "venue_pipe.txt",
    "category": "category_pipe.txt",
    "date": "date2008_pipe.txt",
    "event": "allevents_pipe.txt",
    "listing": "listings_pipe.txt",
    "sales": "sales_tab.txt",
}

#: Field delimiter of each text file.
DELIMITERS: Dict[str, str] = {t: ("\t" if t == "sales" else "|") for t in FILES}

FIRST_DATEID = 1827  # 2008-01-01, as in the real date table
N_DAYS = 365  # 2008-01-01 .. 2008-12-30
CHALLENGE_DATEID = FIRST_DATEID + 4  # 2008-01-05
MAX_VENUEID = 309  # events may reference venue ids 203..309, absent from venue
_EPOCH_2008 = (dt.date(2008, 1, 1) - dt.date(1970, 1, 1)).days

LIKES = (
    "likesports",
    "liketheatre",
    "likeconcerts",
    "likejazz",
    "likeclassical",
    "likeopera",
    "likerock",
    "likevegas",
    "likebroadway",
    "likemusicals",
)

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


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _caldate(dateid: int) -> dt.date:
    return dt.date(2008, 1, 1) + dt.timedelta(days=dateid - FIRST_DATEID)


def _write_text(path: Path, lines: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines))
        if lines:
            fh.write("\n")


def _decimal_array(cents: Sequence[int]) -> pa.Array:
    """decimal128(8, 2) array from integer cents, built straight from buffers."""
    typ = pa.decimal128(8, 2)
    if sys.byteorder != "little":  # pragma: no cover - x86/arm are little endian
        from decimal import Decimal

        return pa.array([Decimal(c).scaleb(-2) for c in cents], typ)
    words = array("q", bytes(16 * len(cents)))
    words[0::2] = array("q", cents)
    return pa.Array.from_buffers(typ, len(cents), [None, pa.py_buffer(words.tobytes())])


def _ts_array(seconds: Sequence[int]) -> pa.Array:
    """timestamp[us] array from seconds since the Unix epoch."""
    return pa.array([s * 1_000_000 for s in seconds], pa.int64()).cast(pa.timestamp("us"))


def _epoch(dateid: int, secs: int) -> int:
    return (_EPOCH_2008 + dateid - FIRST_DATEID) * 86400 + secs


def _write_parquet(path: Path, columns: Dict[str, pa.Array]) -> None:
    pq.write_table(pa.table(columns), path, compression="zstd")


# --------------------------------------------------------------------------- tables


def _gen_category(out: Path, pdir: Optional[Path]) -> int:
    _write_text(out / FILES["category"], [f"{a}|{b}|{c}|{d}" for a, b, c, d in CATEGORIES])
    if pdir is not None:
        cols = list(zip(*CATEGORIES))
        _write_parquet(
            pdir / "category.parquet",
            {
                "catid": pa.array(cols[0], pa.int16()),
                "catgroup": pa.array(cols[1], pa.string()),
                "catname": pa.array(cols[2], pa.string()),
                "catdesc": pa.array(cols[3], pa.string()),
            },
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
    _write_text(
        out / FILES["date"],
        [f"{r[0]}|{r[1].isoformat()}|{r[2]}|{r[3]}|{r[4]}|{r[5]}|{r[6]}|{_bool_text(r[7])}" for r in rows],
    )
    if pdir is not None:
        c = list(zip(*rows))
        _write_parquet(
            pdir / "date.parquet",
            {
                "dateid": pa.array(c[0], pa.int16()),
                "caldate": pa.array(c[1], pa.date32()),
                "day": pa.array(c[2], pa.string()),
                "week": pa.array(c[3], pa.int16()),
                "month": pa.array(c[4], pa.string()),
                "qtr": pa.array(c[5], pa.string()),
                "year": pa.array(c[6], pa.int16()),
                "holiday": pa.array(c[7], pa.bool_()),
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
    _write_text(
        out / FILES["venue"],
        [
            f"{ids[i]}|{vname[i]}|{vcity[i]}|{vstate[i]}|{'' if seats[i] is None else seats[i]}"
            for i in range(n)
        ],
    )
    if pdir is not None:
        _write_parquet(
            pdir / "venue.parquet",
            {
                "venueid": pa.array(ids, pa.int16()),
                "venuename": pa.array(vname, pa.string()),
                "venuecity": pa.array(vcity, pa.string()),
                "venuestate": pa.array(vstate, pa.string()),
                "venueseats": pa.array(seats, pa.int32()),
            },
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
    lines = []
    for i in range(n):
        flags = "|".join(_bool_text(col[i]) for col in likes)
        lines.append(
            f"{i + 1}|{uname[i]}|{first[i]}|{last[i]}|{city[i]}|{state[i]}|{email[i]}|{phone[i]}|{flags}"
        )
    _write_text(out / FILES["users"], lines)
    if pdir is not None:
        cols: Dict[str, pa.Array] = {
            "userid": pa.array(range(1, n + 1), pa.int32()),
            "username": pa.array(uname, pa.string()),
            "firstname": pa.array(first, pa.string()),
            "lastname": pa.array(last, pa.string()),
            "city": pa.array(city, pa.string()),
            "state": pa.array(state, pa.string()),
            "email": pa.array(email, pa.string()),
            "phone": pa.array(phone, pa.string()),
        }
        for name, col in zip(LIKES, likes):
            cols[name] = pa.array(col, pa.bool_())
        _write_parquet(pdir / "users.parquet", cols)
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
    day = {d: _caldate(d).isoformat() for d in range(FIRST_DATEID, FIRST_DATEID + N_DAYS)}
    _write_text(
        out / FILES["event"],
        [
            f"{i + 1}|{venue[i]}|{cats[i]}|{dateid[i]}|{eventname[i]}|{day[dateid[i]]} {start[i]}"
            for i in range(n)
        ],
    )
    if pdir is not None:
        secs = [_epoch(dateid[i], int(start[i][:2]) * 3600 + int(start[i][3:5]) * 60) for i in range(n)]
        _write_parquet(
            pdir / "event.parquet",
            {
                "eventid": pa.array(range(1, n + 1), pa.int32()),
                "venueid": pa.array(venue, pa.int16()),
                "catid": pa.array(cats, pa.int16()),
                "dateid": pa.array(dateid, pa.int16()),
                "eventname": pa.array(eventname, pa.string()),
                "starttime": _ts_array(secs),
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
    # ---- text
    iso = {d: _caldate(d).isoformat() for d in range(FIRST_DATEID, FIRST_DATEID + N_DAYS)}
    mdy = {}
    for d in range(FIRST_DATEID, FIRST_DATEID + N_DAYS):
        c = _caldate(d)
        mdy[d] = f"{c.month}/{c.day}/{c.year}"
    _write_text(
        out / FILES["listing"],
        [
            f"{i + 1}|{l_seller[i]}|{l_event[i]}|{l_dateid[i]}|{l_num[i]}|{_money(l_ppt[i])}|"
            f"{_money(l_num[i] * l_ppt[i])}|{iso[l_dateid[i]]} {_hms(l_secs[i])}"
            for i in range(n_listing)
        ],
    )
    s_paid = [s_qty[i] * l_ppt[li] for i, li in enumerate(s_list)]
    s_comm = [(p * 15 + 50) // 100 for p in s_paid]
    _write_text(
        out / FILES["sales"],
        [
            f"{i + 1}\t{li + 1}\t{l_seller[li]}\t{s_buyer[i]}\t{l_event[li]}\t{s_dateid[i]}\t"
            f"{s_qty[i]}\t{_money(s_paid[i])}\t{_money(s_comm[i])}\t"
            f"{mdy[s_dateid[i]]} {_hms(s_secs[i])}"
            for i, li in enumerate(s_list)
        ],
    )
    if pdir is None:
        return
    _write_parquet(
        pdir / "listing.parquet",
        {
            "listid": pa.array(range(1, n_listing + 1), pa.int32()),
            "sellerid": pa.array(l_seller, pa.int32()),
            "eventid": pa.array(l_event, pa.int32()),
            "dateid": pa.array(l_dateid, pa.int16()),
            "numtickets": pa.array(l_num, pa.int16()),
            "priceperticket": _decimal_array(l_ppt),
            "totalprice": _decimal_array([a * b for a, b in zip(l_num, l_ppt)]),
            "listtime": _ts_array([_epoch(d, s) for d, s in zip(l_dateid, l_secs)]),
        },
    )
    _write_parquet(
        pdir / "sales.parquet",
        {
            "salesid": pa.array(range(1, n_sales + 1), pa.int32()),
            "listid": pa.array([li + 1 for li in s_list], pa.int32()),
            "sellerid": pa.array([l_seller[li] for li in s_list], pa.int32()),
            "buyerid": pa.array(s_buyer, pa.int32()),
            "eventid": pa.array([l_event[li] for li in s_list], pa.int32()),
            "dateid": pa.array(s_dateid, pa.int16()),
            "qtysold": pa.array(s_qty, pa.int16()),
            "pricepaid": _decimal_array(s_paid),
            "commission": _decimal_array(s_comm),
            "saletime": _ts_array([_epoch(d, s) for d, s in zip(s_dateid, s_secs)]),
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
