"""A run's history (``_logs/history.json``) and its report page (``_logs/report.html``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.report import HISTORY_FORMAT, load_history, plotly_js, render, skew, slowest
from jobs.wordcount import MRWordCount
from tests.conftest import make_text

ROOT = Path(__file__).resolve().parent.parent
JOBS = Path(__file__).resolve().parent / "jobs"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=240)


@pytest.fixture
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text(make_text(3000, seed=4))
    return path


def _run_wordcount(words: Path, out: Path, *extra: str) -> None:
    job = MRWordCount(
        [
            "-r",
            "engine",
            "--num-cores",
            "2",
            "--split-size",
            "16K",
            "--jobconf",
            "mapreduce.job.reduces=3",
            "--output-dir",
            str(out),
            *extra,
            str(words),
        ]
    )
    with job.make_runner() as runner:
        runner.run()


def test_a_run_with_output_dir_writes_its_history_and_report(words, tmp_path):
    out = tmp_path / "out"
    _run_wordcount(words, out)
    history = load_history(str(out))
    assert history["format"] == HISTORY_FORMAT and history["job"]["result"] == "succeeded"
    assert history["job"]["options"]["workers"] == 2 and history["job"]["options"]["reducers"] == [3]
    attempts = history["attempts"]
    # every task once, each with one successful attempt, inside the job's time
    ok = [a for a in attempts if a["state"] == "succeeded"]
    assert len({a["task"] for a in ok}) == len(ok) == sum(p["tasks"] for p in history["phases"])
    assert all(0 <= a["start"] <= a["end"] <= history["job"]["seconds"] for a in attempts)
    assert {a["worker"] for a in attempts} <= {0, 1}
    # the phases' records are the attempts' records
    for phase in history["phases"]:
        mine = [a for a in ok if a["phase"] == phase["name"]]
        assert sum(a["records_in"] for a in mine) == phase["records_in"]
        assert sum(a["records_out"] for a in mine) == phase["records_out"]
    # skew: one entry per reduce partition; each reducer's records out are its part file's lines
    parts = {p["partition"]: p for p in history["partitions"]}
    assert sorted(parts) == [0, 1, 2]
    map_phase = history["phases"][0]
    assert sum(p["records"] for p in parts.values()) == map_phase["records_out"]
    assert sum(p["bytes"] for p in parts.values()) == map_phase["shuffled_bytes"]
    for a in ok:
        if a["kind"] == "reduce":
            lines = (out / f"part-{a['partition']:05d}").read_text().splitlines()
            assert a["records_out"] == len(lines)
    (largest,) = skew(history)
    assert largest["share"] == max(p["bytes"] for p in parts.values()) / sum(
        p["bytes"] for p in parts.values()
    )
    page = (out / "_logs" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in page
    own = page.replace(plotly_js(), "")  # the page without the inlined library: it loads nothing
    assert "src=" not in own and "http" not in own.split("<body>")[0]
    assert (
        json.loads(page.split('id="history">')[1].split("</script>")[0])["job"]["id"] == history["job"]["id"]
    )


@pytest.mark.parametrize("pipeline", [["--no-vectorize"], []], ids=["record", "vectorized"])
@pytest.mark.parametrize("budget", ["64M", "8K"], ids=["one-run", "spilling"])
def test_spilled_bytes_are_the_run_files_and_every_task_has_its_peak_memory(
    words, tmp_path, pipeline, budget
):
    out = tmp_path / "out"
    _run_wordcount(words, out, "--executor", "processes", "--memory-budget", budget, *pipeline)
    history = load_history(str(out))
    maps = [a for a in history["attempts"] if a["state"] == "succeeded" and a["kind"] == "map"]
    spilled = sum(a["spilled_bytes"] for a in maps)
    assert spilled == history["phases"][0]["spilled_bytes"]
    # what the reducers read: the sizes of the map tasks' final run files
    shuffled = sum(p["bytes"] for p in history["partitions"])
    if budget == "64M":  # each map task wrote its runs once, and they are the runs the reducers read
        assert spilled == shuffled
    else:  # spilled several times, then merged into those runs (an Arrow merge combines as well)
        assert any(a["spills"] > 1 for a in maps) and spilled >= shuffled
    # a worker process holds at least the interpreter and the engine, and at most this machine
    assert all(20 << 20 < a["peak_rss"] < 64 << 30 for a in history["attempts"] if a["state"] == "succeeded")
    page = (out / "_logs" / "report.html").read_text()
    assert "The largest peak resident memory of a process that ran a task" in page


def test_no_report_writes_no_logs_and_report_file_works_for_printed_output(words, tmp_path):
    out = tmp_path / "out"
    _run_wordcount(words, out, "--no-report")
    assert not (out / "_logs").exists()
    page = tmp_path / "r.html"
    job = MRWordCount(["-r", "engine", "--executor", "serial", "--report", str(page), str(words)])
    with job.make_runner() as runner:
        runner.run()
        assert b"".join(runner.cat_output())
    assert "Plotly.newPlot" in page.read_text()


def test_a_failed_task_and_a_killed_worker_show_in_the_history_of_a_job_that_succeeded(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text(make_text(2000, seed=2))
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out"
    for mode, state in (("raise-map-once", "failed"), ("kill-reduce-after-output", "killed")):
        target = out / mode
        (markers / mode).mkdir()
        proc = _run(
            [
                "-m",
                "engine",
                "run",
                str(JOBS / "mr_flaky.py"),
                "--fault-mode",
                mode,
                "--marker-dir",
                str(markers / mode),
                "--executor",
                "processes",  # a killed worker, not the driver
                "--num-cores",
                "2",
                "--jobconf",
                "mapreduce.job.reduces=1",  # one reducer: it emits the 20 keys the kill waits for
                "--output-dir",
                str(target),
                str(data),
            ],
            ROOT,
        )
        assert proc.returncode == 0, proc.stderr
        history = load_history(str(target))
        assert history["job"]["result"] == "succeeded"
        bad = [a for a in history["attempts"] if a["state"] != "succeeded"]
        assert [a["state"] for a in bad] == [state], bad
        (retried,) = [
            a for a in history["attempts"] if a["task"] == bad[0]["task"] and a["state"] == "succeeded"
        ]
        assert retried["attempt"] == 2 and retried["start"] >= bad[0]["end"] - 0.05
        assert "failed and killed attempts" in (target / "_logs" / "report.html").read_text().lower()


def test_a_failed_job_leaves_no_output_and_its_report_where_asked(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("boom\n")
    page = tmp_path / "failed.html"
    proc = _run(
        [
            "-m",
            "engine",
            "run",
            str(JOBS / "mr_crash.py"),
            "--crash-mode",
            "raise",
            "--max-attempts",
            "1",
            "--executor",
            "serial",
            "--report",
            str(page),
            "--output-dir",
            str(tmp_path / "out"),
            str(data),
        ],
        ROOT,
    )
    assert proc.returncode == 1
    assert not (tmp_path / "out").exists()
    assert f"the report of the failed job is {page}" in proc.stderr
    text = page.read_text()
    assert '"result": "failed"' in text and "failed" in text.split("<h1>")[1].split("</h1>")[0]


def test_report_command_re_renders_and_compares_two_runs(words, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run_wordcount(words, a)
    _run_wordcount(words, b, "--executor", "serial")
    (a / "_logs" / "report.html").unlink()
    proc = _run(["-m", "engine", "report", str(a)], ROOT)
    assert proc.returncode == 0 and (a / "_logs" / "report.html").exists()
    side = tmp_path / "side.html"
    proc = _run(["-m", "engine", "report", str(a), str(b), "--out", str(side)], ROOT)
    assert proc.returncode == 0, proc.stderr
    ids = [load_history(str(d))["job"]["id"] for d in (a, b)]
    text = side.read_text()
    assert f"Beside {ids[1]}" in text and all(i in text for i in ids)


def test_render_refuses_another_format_and_orders_the_slowest():
    with pytest.raises(ValueError, match="not a history of this engine"):
        render({"format": "something else"})
    history = {
        "attempts": [
            {"task": "m0", "phase": "map", "state": "succeeded", "start": 0.0, "end": 1.0},
            {"task": "m1", "phase": "map", "state": "succeeded", "start": 0.0, "end": 3.0},
            {"task": "m2", "phase": "map", "state": "succeeded", "start": 0.0, "end": 2.0},
            {"task": "m3", "phase": "map", "state": "failed", "start": 0.0, "end": 9.0},
        ]
    }
    top = slowest(history, 2)
    assert [t["task"] for t in top] == ["m1", "m2"] and top[0]["median"] == 2.0
