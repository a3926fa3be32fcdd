"""Build the code archive that ``emr/mrjob.conf`` ships to the cluster as ``py_files``.

The archive holds the ``engine`` and ``jobs`` packages (``.py`` files only), so a job such
as ``jobs/wordcount.py`` can ``from engine.job import EngineMRJob`` inside a Hadoop
Streaming task on the cluster. mrjob adds it to the tasks' ``PYTHONPATH`` next to its own
``mrjob.zip``. The jobs import ``engine/job.py``, ``engine/errors.py`` and ``engine/options.py``
on the cluster, and compiled SQL (``engine.sql.job.SqlJob``) the record form of ``engine/sql/``
(job, operators, catalog, protocol, expr, stages, logical, types; no sqlglot, no pyarrow); they
(and ``jobs/``) are kept Python 3.9-compatible (``tests/sql/test_runners_sql.py`` runs SQL there).

Usage: ``python -m emr.lab package`` (writes ``build/emr/mr_engine.zip``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where ``emr/mrjob.conf``'s ``py_files`` expects the archive (relative to the repo root).
ARCHIVE = Path("build") / "emr" / "mr_engine.zip"
#: The packages the jobs import on the cluster.
PACKAGES = ("engine", "jobs")
#: Fixed timestamp so that the same sources give a byte-identical archive.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _sources(root: Path, packages: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for package in packages:
        pkg_dir = root / package
        if not (pkg_dir / "__init__.py").is_file():
            raise FileNotFoundError(f"{pkg_dir} is not a Python package (no __init__.py)")
        files.extend(p for p in pkg_dir.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)


def build_archive(out: Optional[Path] = None, root: Path = REPO_ROOT) -> Path:
    """Write the zip of ``engine/`` and ``jobs/`` to *out* (default ``build/emr/mr_engine.zip``
    under *root*) and return its path. Deterministic: same sources, same bytes."""
    out = Path(out) if out is not None else root / ARCHIVE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in _sources(root, PACKAGES):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out
