"""Deterministic Zipf-like English-ish text for word-count benchmarks (cached on disk)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def generate_text(path: Path, size_bytes: int, seed: int = 0, vocabulary: int = 50_000) -> Path:
    """Write about *size_bytes* of text with a Zipf-like word distribution, unless cached."""
    if path.exists() and path.stat().st_size >= size_bytes:
        return path
    rng = random.Random(seed)
    words = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 10))) for _ in range(vocabulary)]
    # cumulative weights once: random.choices(weights=...) would re-add all 50k weights on every
    # call (same draws either way: choices() accumulates the weights exactly like this)
    cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(vocabulary)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    written = 0
    with open(tmp, "w") as f:
        while written < size_bytes:
            chunk = [" ".join(rng.choices(words, cum_weights=cum, k=rng.randint(4, 16))) for _ in range(5000)]
            text = "\n".join(chunk) + "\n"
            f.write(text)
            written += len(text)
    tmp.rename(path)
    return path
