"""Shared fixtures: small inputs written into each test's tmp_path."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Every `python -m engine sql|hive` a test starts runs in its own process, as the test means, even
# where a developer's warm server (engine/warm_server.py) answers; tests of the server say otherwise.
os.environ["ENGINE_SERVER"] = "off"

WORDS = (
    "the quick brown fox jumps over the lazy dog while a zebra sings "
    "loudly about mapreduce hadoop shuffle sort spill merge reduce commit"
).split()


def make_text(lines: int, seed: int = 0, width: int = 9) -> str:
    """Deterministic pseudo-English text of *lines* lines (some blank)."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        if i % 17 == 5:
            out.append("")
            continue
        out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, width))))
    return "\n".join(out) + "\n"


@pytest.fixture
def text_inputs(tmp_path: Path) -> list[str]:
    """Two text files, ~2,000 lines in all, one with Windows line endings."""
    a = tmp_path / "in" / "a.txt"
    b = tmp_path / "in" / "b.txt"
    a.parent.mkdir()
    a.write_text(make_text(1200, seed=1))
    b.write_bytes(make_text(800, seed=2).replace("\n", "\r\n").encode())
    return [str(a), str(b)]
