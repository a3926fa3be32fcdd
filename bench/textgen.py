"""Deterministic Zipf-like English-ish text for word-count benchmarks (cached on disk)."""

from __future__ import annotations

import random
from pathlib import Path

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def generate_text(path: Path, size_bytes: int, seed: int = 0, vocabulary: int = 50_000) -> Path:
    """Write about *size_bytes* of text with a Zipf-like word distribution, unless cached."""
    if path.exists() and path.stat().st_size >= size_bytes:
        return path
    rng = random.Random(seed)
    words = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 10))) for _ in range(vocabulary)]
    weights = [1 / (rank + 1) for rank in range(vocabulary)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    written = 0
    with open(tmp, "w") as f:
        while written < size_bytes:
            chunk = [" ".join(rng.choices(words, weights, k=rng.randint(4, 16))) for _ in range(5000)]
            text = "\n".join(chunk) + "\n"
            f.write(text)
            written += len(text)
    tmp.rename(path)
    return path
