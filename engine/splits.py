"""List a job's inputs and cut them into ``InputSplit``s.

Text files split at byte ranges; a split owns every line that *starts* inside its range
(Hadoop's LineRecordReader rule), so every line is read exactly once. Compressed files are
not splittable and form one split each. Parquet files split by row groups.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

from engine.errors import InputError

#: Extensions read as Parquet rather than text.
PARQUET_SUFFIXES = (".parquet", ".parq")
#: Extensions of whole-file compressed text, by codec.
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2"}
#: Smallest split the planner makes on its own (tests may ask for less).
MIN_SPLIT_SIZE = 1 << 20
#: Largest split, as Hadoop's default block size.
MAX_SPLIT_SIZE = 128 << 20


@dataclass(frozen=True)
class InputSplit:
    """A piece of one input file read by one map task.

    ``kind`` is ``text`` (lines in ``[start, start + length)``), ``compressed`` (the whole
    file, decompressed), ``parquet`` (row groups ``row_groups``) or ``whole`` (the path is
    handed to ``mapper_raw``).
    """

    path: str
    kind: str
    start: int = 0
    length: int = 0
    row_groups: tuple[int, ...] = ()
    uri: str = ""

    @property
    def input_uri(self) -> str:
        """What Hadoop puts in ``mapreduce.map.input.file``: the S3 URI, or ``file://`` path."""
        return self.uri or "file://" + self.path

    def describe(self) -> str:
        """Human-readable location used in error messages."""
        where = self.uri or self.path
        if self.kind == "text":
            return f"{where} bytes {self.start}-{self.start + self.length}"
        if self.kind == "parquet":
            groups = ",".join(map(str, self.row_groups))
            return f"{where} row groups {groups}"
        return where


def is_hidden(name: str) -> bool:
    """Hadoop skips files whose names start with ``_`` or ``.`` (``_SUCCESS``, ``.crc``)."""
    return name.startswith(("_", "."))


def list_input_files(paths: Sequence[str]) -> list[str]:
    """Expand files, directories (recursively) and globs into a sorted list of files.

    Raises ``InputError`` naming the first path that matches nothing.
    """
    files: list[str] = []
    for path in paths:
        if glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise InputError(f"input glob {path!r} matches no file: check the pattern")
        else:
            matches = [path]
        for match in matches:
            if os.path.isdir(match):
                found = sorted(_walk_visible(match))
                if not found and not glob.has_magic(path):
                    raise InputError(
                        f"input directory {match!r} holds no readable file "
                        "(names starting with '_' or '.' are skipped, as Hadoop does)"
                    )
                files.extend(found)
            elif os.path.isfile(match):
                if not os.access(match, os.R_OK):
                    raise InputError(f"input file {match!r} is not readable: check its permissions")
                files.append(match)
            else:
                raise InputError(f"input path {match!r} does not exist: check the path")
    return files


def input_directories(paths: Sequence[str]) -> list[str]:
    """The directories among *paths* (globs expanded): the output must not go inside one."""
    found: list[str] = []
    for path in paths:
        for match in sorted(glob.glob(path)) if glob.has_magic(path) else [path]:
            if os.path.isdir(match):
                found.append(match)
    return found


def _walk_visible(directory: str) -> Iterable[str]:
    for root, dirs, names in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in names:
            if not is_hidden(name):
                path = os.path.join(root, name)
                if os.access(path, os.R_OK):
                    yield path


def file_kind(path: str) -> str:
    """``parquet``, ``compressed`` or ``text`` by the file's extension."""
    lower = path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(tuple(COMPRESSED_SUFFIXES)):
        return "compressed"
    return "text"


def pick_split_size(total_bytes: int, workers: int) -> int:
    """Aim for about two splits per worker, within Hadoop-like bounds."""
    target = total_bytes // max(1, 2 * workers) + 1
    return max(MIN_SPLIT_SIZE, min(MAX_SPLIT_SIZE, target))


def make_splits(
    files: Sequence[str],
    workers: int,
    split_size: int | None = None,
    whole_files: bool = False,
) -> list[InputSplit]:
    """Cut *files* into splits; *whole_files* gives one ``whole`` split per file (mapper_raw)."""
    if whole_files:
        return [InputSplit(os.path.abspath(f), "whole", 0, os.path.getsize(f)) for f in files]
    sizes = {f: os.path.getsize(f) for f in files}
    size = split_size or pick_split_size(sum(sizes.values()), workers)
    splits: list[InputSplit] = []
    for f in files:
        path = os.path.abspath(f)
        kind = file_kind(f)
        if kind == "parquet":
            splits.extend(_parquet_splits(path, size))
        elif kind == "compressed":
            splits.append(InputSplit(path, "compressed", 0, sizes[f]))
        else:
            splits.extend(text_splits(path, sizes[f], size))
    return splits


def text_splits(path: str, file_size: int, split_size: int) -> list[InputSplit]:
    """Byte ranges of *split_size* covering the file; an empty file gives one empty split."""
    if file_size == 0:
        return [InputSplit(path, "text", 0, 0)]
    return [
        InputSplit(path, "text", start, min(split_size, file_size - start))
        for start in range(0, file_size, split_size)
    ]


def _parquet_splits(path: str, split_size: int) -> list[InputSplit]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(
            f"cannot read Parquet file {path!r}: {exc}; is it truncated or not Parquet? "
            "Re-copy or regenerate it, or remove it from the input"
        ) from exc
    if meta.num_row_groups == 0:
        return [InputSplit(path, "parquet", 0, 0, ())]
    # Row groups are measured in bytes on disk, as the split size is (from file sizes),
    # and a split closes before it would pass the split size: a 235 MB file of ten 24 MB
    # row groups makes five splits of two for two workers, not three of three and one.
    splits: list[InputSplit] = []
    group: list[int] = []
    group_bytes = 0
    for index in range(meta.num_row_groups):
        row_group = meta.row_group(index)
        size = sum(row_group.column(c).total_compressed_size for c in range(row_group.num_columns))
        if group and group_bytes + size > split_size:
            splits.append(InputSplit(path, "parquet", 0, group_bytes, tuple(group)))
            group, group_bytes = [], 0
        group.append(index)
        group_bytes += size
    if group:
        splits.append(InputSplit(path, "parquet", 0, group_bytes, tuple(group)))
    return splits
