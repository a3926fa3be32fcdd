"""Bad input: one line naming the file (and line or row group) and what to do, a non-zero
exit, no output directory, inputs untouched; --skip-bad-records skips up to N per job."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import CommitError, InputError, JobDefinitionError, TaskFailedError
from tests.harness import JOBS, run_engine, run_inline
from tests.jobs.mr_json_input import MRJSONInput
from tests.jobs.mr_long_values import MRLongValues
from tests.jobs.mr_parquet_columns import MRParquetColumns
from tests.jobs.mr_word_count import MRWordCountPlain

ROOT = Path(__file__).parent.parent


def engine_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m engine run ARGS`` in the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "engine", "run", *args], capture_output=True, cwd=ROOT, timeout=120
    )


def snapshot(root: Path) -> dict[str, str]:
    """Path → SHA-1 of every file under *root* (to prove inputs were left untouched)."""
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def ws(tmp_path: Path):
    """A workspace: ``in/`` for inputs, ``scratch/`` for temp files, ``out`` (not created)."""

    class Workspace:
        root = tmp_path
        inputs = tmp_path / "in"
        scratch = tmp_path / "scratch"
        out = tmp_path / "out"

        def run(self, job_class, args, **opts):
            return run_engine(
                job_class,
                ["--output-dir", str(self.out), *args],
                local_tmp_dir=str(self.scratch),
                **opts,
            )

        def assert_clean(self, before: dict[str, str]) -> None:
            assert not self.out.exists()
            assert sorted(os.listdir(self.root)) == ["in", "scratch"]  # no staging dir
            assert os.listdir(self.scratch) == []  # no temp files
            assert snapshot(self.inputs) == before  # inputs untouched

    Workspace.inputs.mkdir()
    Workspace.scratch.mkdir()
    return Workspace()


def assert_one_line_cli_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], err
    return errors[0]


# --- missing inputs, through the command line (the API side is in test_splits.py) -----


@pytest.mark.parametrize(
    "make_path,message",
    [
        (lambda d: d / "missing.txt", "does not exist: check the path"),
        (lambda d: d / "*.nothing", "matches no file: check the pattern"),
        (lambda d: d / "emptydir", "holds no readable file"),
    ],
    ids=["missing", "empty-glob", "empty-dir"],
)
def test_missing_inputs_on_the_command_line(ws, make_path, message):
    (ws.inputs / "emptydir").mkdir()
    (ws.inputs / "emptydir" / "_SUCCESS").write_text("")  # hidden: not an input
    path = str(make_path(ws.inputs))
    done = engine_cli(str(JOBS / "mr_word_count.py"), "--output-dir", str(ws.out), path)
    assert_one_line_cli_error(done, path, message)
    assert not ws.out.exists()


# --- corrupt Parquet --------------------------------------------------------------------


def _write_parquet(path: Path, rows: int = 2000, **columns) -> None:
    data = columns or {"word": [f"w{i % 37}" for i in range(rows)], "n": list(range(rows))}
    pq.write_table(pa.table(data), path, row_group_size=500, compression="snappy")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong-magic"])
def test_corrupt_parquet_is_an_input_error_naming_the_file(ws, damage):
    good = ws.inputs / "good.parquet"
    bad = ws.inputs / "bad.parquet"
    _write_parquet(good)
    _write_parquet(bad)
    data = bytearray(bad.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"\x00garbage!" * 200)
    else:
        data[-4:] = b"PAR0"
    bad.write_bytes(bytes(data))
    before = snapshot(ws.inputs)
    with pytest.raises(InputError) as info:
        ws.run(MRParquetColumns, [str(ws.inputs)])
    message = str(info.value)
    assert str(bad) in message and "\n" not in message
    assert "regenerate" in message  # what to do
    ws.assert_clean(before)


def test_parquet_with_corrupt_pages_names_the_row_group_and_is_not_retried(ws):
    bad = ws.inputs / "pages.parquet"
    _write_parquet(bad)
    meta = pq.read_metadata(bad)
    column = meta.row_group(2).column(0)
    start = column.data_page_offset
    data = bytearray(bad.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    bad.write_bytes(bytes(data))
    before = snapshot(ws.inputs)
    with pytest.raises(InputError) as info:
        ws.run(MRParquetColumns, [str(bad)], executor="processes", split_size="1")
    message = str(info.value)
    assert str(bad) in message and "row group 2" in message and "not retried" in message
    ws.assert_clean(before)


def test_parquet_files_with_different_schemas_are_allowed(ws):
    """Rows reach the mapper as dicts, so files of different tables can feed one job (a
    reduce-side join reads several tables at once): each row carries its own file's columns."""
    _write_parquet(ws.inputs / "a.parquet", a=[1, 2, 3], b=["x", "y", "z"])
    _write_parquet(ws.inputs / "b.parquet", c=[1.5, 2.5])
    outcome = ws.run(MRParquetColumns, [str(ws.inputs)])
    assert outcome.sorted_lines == [b'"a,b"\t3', b'"c"\t2']


def test_corrupt_parquet_on_the_command_line(ws):
    bad = ws.inputs / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet PAR1")
    done = engine_cli(str(JOBS / "mr_parquet_columns.py"), "--output-dir", str(ws.out), str(bad))
    assert_one_line_cli_error(done, str(bad), "Parquet")
    assert not ws.out.exists()


# --- compressed text ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".bz2", bz2.open)])
def test_truncated_compressed_input_is_an_input_error(ws, suffix, opener):
    path = ws.inputs / f"words.txt{suffix}"
    with opener(path, "wb") as f:
        f.write(b"".join(b"line %d of many words\n" % i for i in range(20000)))
    path.write_bytes(path.read_bytes()[:-200])
    before = snapshot(ws.inputs)
    with pytest.raises(InputError) as info:
        ws.run(MRWordCountPlain, [str(path)], executor="processes")
    message = str(info.value)
    assert str(path) in message and "corrupt or truncated after" in message
    assert "regenerate" in message and "not retried" in message and "\n" not in message
    ws.assert_clean(before)


def test_truncated_gzip_on_the_command_line(ws):
    path = ws.inputs / "words.txt.gz"
    path.write_bytes(gzip.compress(b"a b c\n" * 5000)[:-30])
    done = engine_cli(str(JOBS / "mr_word_count.py"), "--output-dir", str(ws.out), str(path))
    assert_one_line_cli_error(done, str(path), "truncated")
    assert not ws.out.exists()


# --- records the input protocol cannot decode ---------------------------------------------


def test_non_utf8_bytes_with_the_default_text_protocol_match_inline(ws):
    """mrjob's RawValueProtocol (TextValueProtocol on Python 3) falls back to latin-1; the
    engine must read such lines exactly as mrjob does, not fail."""
    path = ws.inputs / "latin1.txt"
    path.write_bytes(b"caf\xe9 au lait\nna\xefve caf\xe9\nplain words\n")
    engine = ws.run(MRWordCountPlain, [str(path)])
    assert engine.sorted_lines == run_inline(MRWordCountPlain, [str(path)]).sorted_lines


def _json_lines(n: int, bad_at: dict[int, bytes]) -> bytes:
    return b"".join(bad_at.get(i, b'"k%d"\t{"i": %d}' % (i % 7, i)) + b"\n" for i in range(1, n + 1))


@pytest.mark.parametrize(
    "bad_line,reason",
    [
        (b'"k1"\t"caf\xe9"', "UnicodeDecodeError"),
        (b'"k1"\t{"i": oops', "JSONDecodeError"),
        (b'"just a key, no tab"', "ValueError"),
    ],
    ids=["non-utf8", "bad-json", "no-tab"],
)
def test_undecodable_line_names_file_and_line(ws, bad_line, reason):
    path = ws.inputs / "records.jsonl"
    path.write_bytes(_json_lines(400, {317: bad_line}))
    before = snapshot(ws.inputs)
    # small splits: line 317 sits in a later split, so its number is counted from the file's start
    with pytest.raises(InputError) as info:
        ws.run(MRJSONInput, [str(path)], split_size="1K")
    message = str(info.value)
    assert f"{str(path)!r} line 317" in message
    assert "JSONProtocol" in message and reason in message
    assert "--skip-bad-records" in message and "\n" not in message
    ws.assert_clean(before)


def test_undecodable_line_fails_at_once_without_retries(ws, caplog):
    path = ws.inputs / "records.jsonl"
    path.write_bytes(_json_lines(50, {3: b"not json at all"}))
    with pytest.raises(InputError, match=r"task s0-m-00000: input .* line 3: .*not retried"):
        ws.run(MRJSONInput, [str(path)], executor="processes", max_attempts=4)
    assert "retrying" not in caplog.text


def test_undecodable_line_on_the_command_line(ws):
    path = ws.inputs / "records.jsonl"
    path.write_bytes(_json_lines(20, {12: b'"k"\t"\xff\xfe"'}))
    done = engine_cli(str(JOBS / "mr_json_input.py"), "--output-dir", str(ws.out), str(path))
    assert_one_line_cli_error(done, f"{str(path)!r} line 12", "--skip-bad-records")
    assert not ws.out.exists()


def test_key_the_internal_protocol_cannot_encode(ws):
    path = ws.inputs / "records.jsonl"
    path.write_bytes(_json_lines(30, {}))
    with pytest.raises(TaskFailedError) as info:
        ws.run(MRJSONInput, ["--set-key", str(path)], executor="processes")
    first_line = str(info.value).splitlines()[0]
    assert "task s0-m-00000" in first_line and "not retried" in first_line
    assert "JSONProtocol cannot encode the record with key {'k" in first_line
    assert "not JSON serializable" in first_line
    assert "INTERNAL_PROTOCOL" in first_line  # what to do
    assert "Worker traceback" in str(info.value)  # job code: the traceback follows
    assert not ws.out.exists()


# --- a line longer than the memory budget ---------------------------------------------------


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_record_larger_than_the_shuffle_budget_still_works(ws, executor):
    path = ws.inputs / "long.txt"
    path.write_bytes(b"short\n" + b"L" * (3 << 20) + b"\nanother short\n" + b"l" * 300000 + b"\n")
    engine = ws.run(MRLongValues, [str(path)], executor=executor, memory_budget="64K", reducers=2)
    assert engine.sorted_lines == run_inline(MRLongValues, [str(path)]).sorted_lines
    # each long record was spilled on its own
    assert engine.stats is not None and sum(p.spills for p in engine.stats.phases) >= 2


# --- output directory ---------------------------------------------------------------------


def test_output_inside_an_input_directory_is_refused(ws):
    (ws.inputs / "a.txt").write_text("a b\n")
    before = snapshot(ws.inputs)
    out = ws.inputs / "out"
    with pytest.raises(CommitError, match="inside the input directory"):
        run_engine(MRWordCountPlain, ["--output-dir", str(out), str(ws.inputs)])
    assert snapshot(ws.inputs) == before and not out.exists()
    done = engine_cli(str(JOBS / "mr_word_count.py"), "--output-dir", str(out), str(ws.root / "i*"))
    assert_one_line_cli_error(done, str(out), "choose a path outside it")
    assert snapshot(ws.inputs) == before and not out.exists()


def test_output_under_a_regular_file_is_refused(ws):
    """Root ignores permissions, so "not writable" is made real: the parent is a file."""
    (ws.inputs / "a.txt").write_text("a b\n")
    blocker = ws.root / "blocker"
    blocker.write_text("a file, not a directory")
    out = blocker / "sub" / "out"
    with pytest.raises(CommitError, match="is a file, not a directory"):
        ws.run(MRWordCountPlain, ["--output-dir", str(out), str(ws.inputs)])
    done = engine_cli(str(JOBS / "mr_word_count.py"), "--output-dir", str(out), str(ws.inputs))
    assert_one_line_cli_error(done, str(blocker), "choose another output path")
    assert blocker.read_text() == "a file, not a directory"


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,message",
    [
        (["--memory-budget=-64M"], "a size must be positive"),
        (["--memory-budget", "lots"], "cannot read the size"),
        (["--max-attempts", "0"], "--max-attempts must be at least 1"),
        (["--task-timeout", "-1"], "--task-timeout must be positive"),
        (["--skip-bad-records", "-2"], "--skip-bad-records must be 0 or more"),
        (["--split-size", "0"], "a size must be positive"),
    ],
)
def test_bad_options_are_refused_before_any_work(ws, options, message):
    (ws.inputs / "a.txt").write_text("a b\n")
    done = engine_cli(*options, str(JOBS / "mr_word_count.py"), "--output-dir", str(ws.out), str(ws.inputs))
    assert_one_line_cli_error(done, message)
    assert not ws.out.exists()


def test_zero_cores_is_refused(ws):
    """--num-cores is mrjob's own switch, so it goes after the job file."""
    (ws.inputs / "a.txt").write_text("a b\n")
    done = engine_cli(
        str(JOBS / "mr_word_count.py"), "--num-cores", "0", "--output-dir", str(ws.out), str(ws.inputs)
    )
    assert_one_line_cli_error(done, "--num-cores must be at least 1")
    assert not ws.out.exists()


def test_bad_option_values_through_the_api(ws):
    (ws.inputs / "a.txt").write_text("a b\n")
    with pytest.raises(JobDefinitionError, match="--num-cores must be at least 1"):
        ws.run(MRWordCountPlain, [str(ws.inputs)], workers=0)
    with pytest.raises(JobDefinitionError, match="--max-attempts"):
        ws.run(MRWordCountPlain, [str(ws.inputs)], max_attempts=0)
    with pytest.raises(JobDefinitionError, match="positive"):
        ws.run(MRWordCountPlain, [str(ws.inputs)], memory_budget="-1")
    assert not ws.out.exists()


def test_unknown_option_is_refused(ws):
    (ws.inputs / "a.txt").write_text("a b\n")
    done = engine_cli(str(JOBS / "mr_word_count.py"), "--no-such-option", str(ws.inputs))
    err = done.stderr.decode()
    assert done.returncode == 2 and "unrecognized arguments: --no-such-option" in err
    assert "mr_word_count.py --help" in err
    assert "Traceback" not in err


# --- --skip-bad-records ---------------------------------------------------------------------


def _bad_record_inputs(ws) -> list[str]:
    """Two files, three bad lines in all; without them the input is 60 good records."""
    (ws.inputs / "a.jsonl").write_bytes(_json_lines(30, {4: b"oops", 20: b'"k"\t"\xe9"'}))
    (ws.inputs / "b.jsonl").write_bytes(_json_lines(33, {33: b"{"}))
    return [str(ws.inputs / "a.jsonl"), str(ws.inputs / "b.jsonl")]


def test_skip_bad_records_skips_and_counts(ws):
    inputs = _bad_record_inputs(ws)
    engine = ws.run(MRJSONInput, inputs, executor="processes", skip_bad_records=3)
    assert engine.counters[0]["engine"]["skipped bad records"] == 3
    counts = {line.split(b"\t")[0]: int(line.split(b"\t")[1]) for line in engine.lines}
    assert sum(counts.values()) == 60


def test_skip_bad_records_counts_per_job_then_fails(ws):
    inputs = _bad_record_inputs(ws)
    before = snapshot(ws.inputs)
    # each task skips at most 2, but the job skipped 3 in all
    with pytest.raises(
        InputError, match=r"skipped 3 bad input records in all, more than --skip-bad-records=2"
    ):
        ws.run(MRJSONInput, inputs, executor="processes", skip_bad_records=2)
    ws.assert_clean(before)
    # one task over the limit fails on its own, naming the record
    with pytest.raises(InputError, match=r"a\.jsonl' line 20: .*more than --skip-bad-records=1"):
        ws.run(MRJSONInput, inputs, skip_bad_records=1)
    ws.assert_clean(before)


def test_skip_bad_records_on_the_command_line(ws):
    inputs = _bad_record_inputs(ws)
    job = str(JOBS / "mr_json_input.py")
    done = engine_cli("--skip-bad-records", "5", job, "--output-dir", str(ws.out), *inputs)
    assert done.returncode == 0, done.stderr.decode()
    assert b"skipped bad record at" in done.stderr
    assert sorted(os.listdir(ws.out))[0] == "_SUCCESS"
