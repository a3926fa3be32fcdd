"""Deterministic generator for CloudFront access logs as read by the EMR Hive tutorial.

Writes ``--files K`` log files in the old web-distribution format: each starts with the
two header lines ``#Version: 1.0`` and ``#Fields: date time x-edge-location ...``,
then one tab-separated line of 11 fields per request (``<TAB>`` is one tab), e.g.::

    2014-07-05<TAB>20:00:00<TAB>LHR3<TAB>4260<TAB>10.0.0.15<TAB>GET<TAB>
    eabcd12345678.cloudfront.net<TAB>/test-image-1.jpeg<TAB>200<TAB>-<TAB>
    Mozilla/5.0%20(MacOS;%20U;%20Windows%20NT%205.1;%20en-US;%20rv:1.9.0.9)%20Gecko/2009040821%20IE/3.0.9

(shown on three lines here; one line in the file).
The OS slot of the user agent is one of Android, Linux, MacOS, OSX, Windows, iOS.
About 90% of the dates lie in 2014-07-05..2014-08-05 (both ends included on purpose),
the rest a few days to two weeks either side. ``rows`` counts the request lines
(headers excluded); when ``rows >= 50``, ``max(3, rows // 250)`` of them are malformed
so that the Hive RegexSerDe does not match them: a line truncated after a few fields,
a user agent without parentheses, and a user agent without the final ``%20Name/x.y.z``
token. Lines within the files are in time order; file names follow the real
distribution logs, ``E2EXAMPLE0LOGS.YYYY-MM-DD-HH.<8 hex>.log`` (``.gz`` with gzip),
dated by their first line.

``PDIR/part-0.parquet`` (``PDIR``: ``--parquet-out``, by default ``DIR/parquet``) holds
the well-formed lines only (malformed and header
lines are omitted), one column per field named as in the Hive table but lower case
(the names, the Hive types and the header's field names are those of
``jobs/cloudfront_os_requests.py``):
dateobject (string ``YYYY-MM-DD``), time, location, bytes (int32), requestip, method,
host, uri, status (int32), referrer, useragent (the raw string, still %20-encoded; the
job derives os/browser itself).

Usage: ``python -m data.cloudfront --rows 5000 --seed 0 --out /tmp/cf [--files 4] [--gzip]
[--parquet-out PDIR]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip as gzip_mod
import random
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from jobs import cloudfront_os_requests as cloudfront_job

HEADER = "#Version: 1.0\n#Fields: " + " ".join(cloudfront_job.LOG_FIELDS) + "\n"
OSES = ("Android", "Linux", "MacOS", "OSX", "Windows", "iOS")
BROWSERS = ("IE", "Chrome", "Opera", "Firefox", "Safari")
LOCATIONS = ("LHR3", "MIA3", "IAD12", "SFO4", "DFW3", "JFK1", "FRA2", "NRT4", "SEA4", "CDG3")
HOST = "eabcd12345678.cloudfront.net"
DISTRIBUTION = "E2EXAMPLE0LOGS"
#: The query's BETWEEN bounds, as dates.
WINDOW = tuple(dt.date.fromisoformat(d) for d in cloudfront_job.WINDOW)
#: Parquet column names (the Hive table's fields, lower case, raw user agent last).
COLUMNS = cloudfront_job.PARQUET_COLUMNS
_HIVE_TYPE = dict(cloudfront_job.COLUMNS)
#: Parquet types: a Hive INT column's field as int32, every other field (the date too,
#: and the user agent) as the string it is in the log.
PARQUET_TYPES = tuple(pa.int32() if _HIVE_TYPE.get(c) == "INT" else pa.string() for c in COLUMNS)
_OS_WEIGHTS = (18, 12, 16, 10, 30, 14)


def _user_agent(rng: random.Random) -> str:
    os_name = rng.choices(OSES, weights=_OS_WEIGHTS)[0]
    browser = rng.choice(BROWSERS)
    version = f"{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
    return (
        f"Mozilla/5.0%20({os_name};%20U;%20Windows%20NT%205.1;%20en-US;%20rv:1.9.0.9)"
        f"%20Gecko/2009040821%20{browser}/{version}"
    )


def _random_date(rng: random.Random) -> dt.date:
    r = rng.random()
    if r < 0.05:
        return WINDOW[0] - dt.timedelta(days=rng.randint(1, 14))
    if r < 0.10:
        return WINDOW[1] + dt.timedelta(days=rng.randint(1, 14))
    if r < 0.12:  # the two ends of the BETWEEN, inclusive
        return WINDOW[0] if rng.random() < 0.5 else WINDOW[1]
    return WINDOW[0] + dt.timedelta(days=rng.randint(0, (WINDOW[1] - WINDOW[0]).days))


def _record(rng: random.Random) -> Tuple[str, str, str, int, str, str, str, str, int, str, str]:
    day = _random_date(rng)
    secs = rng.randrange(86400)
    status = rng.choices((200, 304, 404, 403), weights=(80, 15, 4, 1))[0]
    image = rng.randint(1, 3)
    if status == 200:
        size = rng.randint(4200, 4300) if rng.random() < 0.9 else rng.randint(1000, 90000)
    else:
        size = rng.randint(10, 400)
    referrer = "-" if rng.random() < 0.9 else "http://www.example.com/index.html"
    return (
        day.isoformat(),
        f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}",
        rng.choice(LOCATIONS),
        size,
        f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 254)}",
        "GET" if rng.random() < 0.97 else "HEAD",
        HOST,
        f"/test-image-{image}.jpeg",
        status,
        referrer,
        _user_agent(rng),
    )


def _line(rec: Sequence[object]) -> str:
    return "\t".join(str(v) for v in rec)


def _malformed(rng: random.Random, rec: Sequence[object], kind: int) -> str:
    fields = [str(v) for v in rec]
    if kind == 0:  # truncated after a few fields
        return "\t".join(fields[: rng.randint(2, 7)])
    if kind == 1:  # user agent without parentheses
        fields[10] = f"Mozilla/5.0%20{rng.choice(OSES)}%20Gecko/2009040821%20Chrome/3.0.9"
        return "\t".join(fields)
    # user agent without the final %20Name/version token
    fields[10] = f"Mozilla/5.0%20({rng.choice(OSES)};%20U;%20en-US)"
    return "\t".join(fields)


def generate(
    out_dir: Path,
    rows: int,
    seed: int = 0,
    files: int = 4,
    gzip: bool = False,
    *,
    parquet_dir: Optional[Path] = None,
) -> int:
    """Write ``rows`` request lines over ``files`` log files in ``out_dir`` and their
    well-formed lines as ``part-0.parquet`` in ``parquet_dir`` (default ``out_dir / "parquet"``).

    Returns the number of well-formed lines (= Parquet rows = lines the Hive regex
    matches); the remaining ``rows - result`` lines are malformed on purpose.
    """
    if rows < 0 or files < 1:
        raise ValueError("rows must be >= 0 and files >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"cloudfront-{seed}")
    recs = [_record(rng) for _ in range(rows)]
    recs.sort(key=lambda r: (r[0], r[1]))
    n_bad = max(3, rows // 250) if rows >= 50 else 0
    bad = set(rng.sample(range(rows), n_bad))
    lines: List[str] = []
    good: List[Tuple[str, str, str, int, str, str, str, str, int, str, str]] = []
    for i, rec in enumerate(recs):
        if i in bad:
            lines.append(_malformed(rng, rec, len(lines) % 3))
        else:
            lines.append(_line(rec))
            good.append(rec)
    files = min(files, max(1, rows))
    bounds = [round(k * rows / files) for k in range(files + 1)]
    for k in range(files):
        chunk = lines[bounds[k] : bounds[k + 1]]
        first = recs[bounds[k]] if bounds[k] < rows else (WINDOW[0].isoformat(), "00:00:00")
        stamp = f"{first[0]}-{first[1][:2]}"
        suffix = f"{rng.getrandbits(32):08x}"
        text = HEADER + "".join(line + "\n" for line in chunk)
        name = f"{DISTRIBUTION}.{stamp}.{suffix}"
        if gzip:
            # mtime=0 keeps the .gz bytes deterministic
            with open(out / f"{name}.gz", "wb") as raw:
                with gzip_mod.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    gz.write(text.encode("utf-8"))
        else:
            (out / f"{name}.log").write_text(text, encoding="utf-8")
    pdir = out / "parquet" if parquet_dir is None else Path(parquet_dir)
    pdir.mkdir(parents=True, exist_ok=True)
    cols = list(zip(*good)) if good else [[] for _ in COLUMNS]
    table = pa.table({c: pa.array(list(v), t) for c, v, t in zip(COLUMNS, cols, PARQUET_TYPES)})
    pq.write_table(table, pdir / "part-0.parquet", compression="zstd")
    return len(good)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m data.cloudfront", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="request lines in all files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--files", type=int, default=4, help="number of log files")
    ap.add_argument("--gzip", action="store_true", help="write .gz instead of .log files")
    ap.add_argument(
        "--parquet-out", type=Path, metavar="DIR", help="directory of part-0.parquet (default OUT/parquet)"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    n = generate(args.out, args.rows, args.seed, args.files, args.gzip, parquet_dir=args.parquet_out)
    took = time.perf_counter() - t0
    print(f"rows={args.rows} well_formed={n} files={args.files} in {took:.2f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
