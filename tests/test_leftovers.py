"""A killed driver's staging and scratch are found and removed by the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from engine import leftovers
from tests.harness import JOBS, run_engine, wait_for
from tests.jobs.mr_word_count import MRWordCountPlain

ROOT = Path(__file__).parent.parent


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _job_dirs(base: Path, job_id: str) -> tuple[Path, Path, Path]:
    tmp = base / "mrjob-tmp"
    scratch = tmp / job_id
    staging = base / f".out.{job_id}.staging"
    for d in (scratch, staging):
        d.mkdir(parents=True)
        (d / "part-00000").write_text("half written")
    return tmp, scratch, staging


def test_a_dead_drivers_dirs_are_removed_and_a_live_ones_kept(tmp_path, caplog):
    dead_tmp, dead_scratch, dead_staging = _job_dirs(tmp_path / "a", "job_1_dead")
    leftovers.write_locks("job_1_dead", str(dead_scratch), str(dead_staging), [str(dead_tmp)])
    for lock in (dead_scratch / "driver.json", dead_staging / "_driver.json"):
        data = json.loads(lock.read_text())
        lock.write_text(json.dumps(dict(data, pid=_dead_pid())))
    live = _job_dirs(tmp_path / "b", "job_2_live")
    leftovers.write_locks("job_2_live", str(live[1]), str(live[2]), [str(live[0])])  # this process
    removed = leftovers.sweep([str(tmp_path / "a"), str(tmp_path / "a" / "mrjob-tmp"), str(tmp_path / "b")])
    assert sorted(removed) == sorted(map(str, (dead_staging, dead_scratch, dead_tmp)))
    assert not dead_tmp.exists() and not dead_staging.exists()
    assert all(p.exists() for p in live)
    assert "job_1_dead" in caplog.text and "is gone" in caplog.text


def test_a_lock_naming_foreign_paths_removes_nothing_of_them(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    _, scratch, staging = _job_dirs(tmp_path, "job_3_bad")
    leftovers.write_locks("job_3_bad", str(scratch), str(staging))
    lock = staging / "_driver.json"
    data = json.loads(lock.read_text())
    lock.write_text(json.dumps(dict(data, pid=_dead_pid(), owned=[str(precious), "/", str(staging)])))
    (scratch / "driver.json").unlink()
    assert leftovers.sweep([str(tmp_path)]) == [str(staging)]
    assert precious.exists()


def _locks_written(tmp_path: Path, tmp: Path) -> bool:
    """Both of a running driver's locks are there and whole (each is written after it is created)."""
    locks = [*tmp_path.glob(".out.*.staging/_driver.json"), *tmp.glob("*/job_*/driver.json")]
    return len(locks) == 2 and all(leftovers.read_lock(str(lock)) for lock in locks)


def test_the_next_run_cleans_up_after_a_driver_killed_with_sigkill(tmp_path, caplog):
    words = tmp_path / "words.txt"
    words.write_text("a b\n" * 400)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "engine", "run", str(JOBS / "mr_slow.py"), "--sleep", "0.05",
        "--local-tmp-dir", str(tmp), "--output-dir", str(out), str(words),
    ]  # fmt: skip
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Killed once it has noted what it owns, as the next run reads it.
        wait_for(lambda: _locks_written(tmp_path, tmp), what="the driver's two locks", proc=driver)
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(name.endswith(".staging") for name in left), left
    assert os.listdir(tmp), "the killed driver's scratch is there to clean"
    # the next job writing beside it removes both and says so
    run_engine(MRWordCountPlain, ["--output-dir", str(tmp_path / "out2"), str(words)], local_tmp_dir=str(tmp))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out2", "tmp", "words.txt"]
    assert os.listdir(tmp) == []
    assert "removed the leftovers of job" in caplog.text


def test_engine_clean_removes_a_dead_jobs_dirs_on_demand(tmp_path):
    tmp, scratch, staging = _job_dirs(tmp_path, "job_4_dead")
    leftovers.write_locks("job_4_dead", str(scratch), str(staging), [str(tmp)])
    for lock in (scratch / "driver.json", staging / "_driver.json"):
        lock.write_text(json.dumps(dict(json.loads(lock.read_text()), pid=_dead_pid())))
    def clean(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "engine", "clean", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)

    dry = clean("--dry-run", str(tmp_path))
    assert dry.returncode == 0 and "would remove 3 directories" in dry.stderr and staging.exists()
    done = clean(str(tmp_path), str(tmp))
    assert done.returncode == 0 and "removed 3 directories" in done.stderr, done.stderr
    assert "job_4_dead" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
