"""The benchmark's input data, generated once per (kind, size, seed) and cached on disk.

Each data set lives in its own directory under the data directory (``bench/data/`` by
default, gitignored) and is complete when its ``.complete`` marker exists; it is built in
a temporary sibling and renamed into place, so an interrupted run never leaves a half
data set that a later run would trust.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from bench.textgen import generate_text
from data import cloudfront, tickit

MARKER = ".complete"


def _cached(base: Path, name: str, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """``base/name`` built by ``build(tmpdir)`` unless complete; returns (dir, metadata)."""
    final = base / name
    marker = final / MARKER
    if marker.exists():
        return final, json.loads(marker.read_text() or "{}")
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    print(f"generating {name} ...", flush=True)
    started = time.perf_counter()
    meta = build(tmp)
    meta["generated_seconds"] = round(time.perf_counter() - started, 2)
    (tmp / MARKER).write_text(json.dumps(meta))
    tmp.rename(final)
    return final, meta


def count_lines(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                n += chunk.count(b"\n")
    return n


def words(base: Path, size_mb: float, seed: int = 0) -> Path:
    """A directory holding ``words.txt``, about ``size_mb`` MiB of Zipf-like text."""

    def build(tmp: Path) -> dict:
        generate_text(tmp / "words.txt", int(size_mb * (1 << 20)), seed=seed)
        return {}

    path, _ = _cached(base, f"words-{size_mb:g}mb-seed{seed}", build)
    return path


def tickit_data(base: Path, scale: float, seed: int = 0) -> Path:
    """TICKIT at ``scale`` (text files, and Parquet under ``parquet/``)."""

    def build(tmp: Path) -> dict:
        return {"rows": tickit.generate(tmp, scale=scale, seed=seed)}

    path, _ = _cached(base, f"tickit-scale{scale:g}-seed{seed}", build)
    return path


def cloudfront_data(base: Path, rows: int, seed: int = 0) -> Path:
    """CloudFront logs: ``rows`` lines over 4 ``.log`` files, and Parquet under ``parquet/``."""

    def build(tmp: Path) -> dict:
        return {"well_formed": cloudfront.generate(tmp, rows=rows, seed=seed, files=4)}

    path, _ = _cached(base, f"cloudfront-rows{rows}-seed{seed}", build)
    return path
