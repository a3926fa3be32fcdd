"""Tests of the CloudFront log generator ``data.cloudfront``."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import List, Optional, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import cloudfront
from jobs.cloudfront_os_requests import HIVE_INPUT_REGEX

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "cloudfront"
NAME = re.compile(r"^E[0-9A-Z]+\.2014-\d\d-\d\d-\d\d\.[0-9a-f]{8}\.(log|gz)$")
HIVE = re.compile(HIVE_INPUT_REGEX)  # Python's re has the (?!#) lookahead, like Java
ROWS, BAD = 1500, 6  # max(3, 1500 // 250) malformed lines


def _data_lines(out: Path) -> List[str]:
    lines: List[str] = []
    for p in sorted(out.glob("E*")):
        raw = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        text = raw.decode("utf-8")
        assert text.startswith("#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip ")
        assert text.endswith("\n")
        lines.extend(text.split("\n")[2:-1])
    return lines


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 request lines in 4 plain-text files, seed 5."""
    out = tmp_path_factory.mktemp("cf")
    assert cloudfront.generate(out, rows=ROWS, seed=5, files=4) == ROWS - BAD
    return out


@pytest.fixture(scope="module")
def matched(logs: Path) -> List[Tuple[str, Optional[re.Match[str]]]]:
    """Each request line with its Hive-regex match (the regex is slow: ~1 ms a line)."""
    return [(ln, HIVE.fullmatch(ln)) for ln in _data_lines(logs)]


def test_files_and_lines(logs: Path, matched: list) -> None:
    names = sorted(p.name for p in logs.glob("E*"))
    assert len(names) == 4 and all(NAME.match(n) and n.endswith(".log") for n in names)
    assert len(matched) == ROWS
    good = [ln for ln, m in matched if m]
    assert len(good) == ROWS - BAD
    assert all(len(ln.split("\t")) == 11 for ln in good)
    fields = [ln.split("\t") for ln in good]
    assert [f[0] for f in fields] == sorted(f[0] for f in fields)
    assert {f[0] for f in fields} >= {"2014-07-05", "2014-08-05"}
    assert any(f[0] < "2014-07-05" for f in fields) and any(f[0] > "2014-08-05" for f in fields)
    oses = {m.group(11) for _, m in matched if m}
    assert oses == set(cloudfront.OSES)
    ua = re.compile(
        r"^Mozilla/5\.0%20\((Android|Linux|MacOS|OSX|Windows|iOS);%20U;%20[^()]+\)"
        r"%20Gecko/\d+%20[A-Za-z]+/\d+\.\d+\.\d+$"
    )
    assert all(ua.match(f[10]) for f in fields)


def test_malformed_lines_fail_the_hive_regex(matched: list) -> None:
    bad = [ln for ln, m in matched if not m]
    assert len(bad) == BAD
    assert any(len(b.split("\t")) < 11 for b in bad)  # truncated
    assert any(len(b.split("\t")) == 11 and "(" not in b for b in bad)  # no parentheses
    assert any(len(b.split("\t")) == 11 and "(" in b for b in bad)  # no Name/version
    assert not HIVE.fullmatch("#Version: 1.0")


def test_parquet_matches_well_formed_lines(logs: Path, matched: list) -> None:
    t = pq.read_table(logs / "parquet" / "part-0.parquet")
    assert t.column_names == list(cloudfront.COLUMNS)
    assert t.schema.field("bytes").type == pa.int32() and t.schema.field("status").type == pa.int32()
    assert t.schema.field("dateobject").type == pa.string()
    good = [ln.split("\t") for ln, m in matched if m]
    rows = [[str(v) for v in r.values()] for r in t.to_pylist()]
    assert rows == good


def test_deterministic_and_gzip(tmp_path: Path, logs: Path) -> None:
    cloudfront.generate(tmp_path / "a", rows=ROWS, seed=5, files=4)
    read = lambda d: {p.name: p.read_bytes() for p in d.glob("E*")}  # noqa: E731
    assert read(tmp_path / "a") == read(logs)
    n = cloudfront.generate(tmp_path / "g", rows=ROWS, seed=5, files=4, gzip=True)
    m = cloudfront.generate(tmp_path / "g2", rows=ROWS, seed=5, files=4, gzip=True)
    assert n == ROWS - BAD and read(tmp_path / "g") == read(tmp_path / "g2")
    assert all(p.endswith(".gz") for p in read(tmp_path / "g")) and m == n
    assert _data_lines(tmp_path / "g") == _data_lines(logs)
    cloudfront.generate(tmp_path / "b", rows=ROWS, seed=6, files=4)
    assert _data_lines(tmp_path / "b") != _data_lines(logs)


def test_small_and_edge_cases(tmp_path: Path) -> None:
    assert cloudfront.generate(tmp_path / "one", rows=10, seed=0, files=4) == 10
    assert len(_data_lines(tmp_path / "one")) == 10
    assert cloudfront.generate(tmp_path / "zero", rows=0, seed=0, files=2) == 0
    assert pq.read_metadata(tmp_path / "zero" / "parquet" / "part-0.parquet").num_rows == 0
    with pytest.raises(ValueError):
        cloudfront.generate(tmp_path / "x", rows=5, files=0)


def test_embedded_sample_matches_its_readme_command(tmp_path: Path) -> None:
    argv = ["--rows", "2000", "--seed", "0", "--files", "3"]
    argv += ["--out", str(tmp_path / "data"), "--parquet-out", str(tmp_path / "parquet")]
    assert cloudfront.main(argv) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "data").glob("E*")} == {
        p.name: p.read_bytes() for p in (SAMPLE / "data").glob("E*")
    }
    assert not (tmp_path / "data" / "parquet").exists()
    part = "parquet/part-0.parquet"
    assert pq.read_table(tmp_path / part).equals(pq.read_table(SAMPLE / part))
