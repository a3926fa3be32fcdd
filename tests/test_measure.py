"""bench.measure: timed runs leave /proc alone; sampled runs see the whole process tree."""

from __future__ import annotations

import sys

from bench.measure import run_measured

# A child process that holds 64 MiB for a moment (a grandchild of the measurer).
TREE = [
    sys.executable,
    "-c",
    "import subprocess, sys; subprocess.run([sys.executable, '-c', "
    "'import time; b = bytearray(64 << 20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(0.5)'])",
]


def test_sampled_run_sees_a_grandchild_s_memory():
    m = run_measured(TREE)
    assert m.returncode == 0
    assert m.peak_rss >= 64 << 20
    assert 0 < m.peak_pss <= m.peak_rss


def test_timed_run_does_not_sample():
    m = run_measured(TREE, sample_memory=False)
    assert m.returncode == 0
    assert m.seconds >= 0.5
    assert (m.peak_rss, m.peak_pss) == (0, 0)


def test_timed_run_is_killed_at_its_timeout():
    m = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5, sample_memory=False)
    assert m.returncode != 0
    assert m.seconds < 10
