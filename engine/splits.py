"""List a job's inputs and cut them into ``InputSplit``s.

Text files split at byte ranges; a split owns every line that *starts* inside its range
(Hadoop's LineRecordReader rule), so every line is read exactly once. Compressed files are
not splittable and form one split each. Parquet files split by row groups.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import urllib.parse
from dataclasses import dataclass, replace
from typing import Literal, Sequence

from engine.errors import InputError

log = logging.getLogger(__name__)

#: Extensions read as Parquet rather than text.
PARQUET_SUFFIXES = (".parquet", ".parq")
#: Extensions of whole-file compressed text, by codec.
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2"}
#: Smallest split the planner makes on its own (tests may ask for less).
MIN_SPLIT_SIZE = 1 << 20
#: Largest split, as Hadoop's default block size.
MAX_SPLIT_SIZE = 128 << 20
#: Splits per worker past which small files are packed together (``combine_small_files``).
COMBINE_AFTER_SPLITS = 16


#: What a split holds (see ``InputSplit``).
SplitKind = Literal["text", "compressed", "parquet", "whole", "combined"]


@dataclass(frozen=True)
class InputSplit:
    """A piece of one input file read by one map task.

    ``kind`` is ``text`` (lines in ``[start, start + length)``), ``compressed`` (the whole
    file, decompressed), ``parquet`` (row groups ``row_groups``), ``whole`` (the path is
    handed to ``mapper_raw``) or ``combined`` (several small files, ``parts``).
    """

    path: str
    kind: SplitKind
    start: int = 0
    length: int = 0
    row_groups: tuple[int, ...] = ()
    uri: str = ""
    #: The file's size and modification time when the job was planned (-1: unknown);
    #: a reader that finds them changed fails the job (see ``check_unchanged``).
    file_size: int = -1
    mtime_ns: int = -1
    #: A ``combined`` split's pieces: small whole files read one after another by one
    #: task (Hadoop's CombineFileInputFormat), each with its own task variables.
    parts: tuple[InputSplit, ...] = ()

    @property
    def input_uri(self) -> str:
        """What Hadoop puts in ``mapreduce.map.input.file``: the S3 URI, or ``file://`` path."""
        return self.uri or "file://" + self.path

    def describe(self) -> str:
        """Human-readable location used in error messages."""
        if self.kind == "combined":
            return f"{len(self.parts)} small files, {self.parts[0].describe()} to {self.parts[-1].describe()}"
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


def local_path(path: str) -> str:
    """*path* without a ``file://`` scheme (mrjob accepts ``file:///abs/path`` URIs since 0.7)."""
    if path.startswith("file://"):
        parsed = urllib.parse.urlparse(path)
        if parsed.netloc not in ("", "localhost"):
            raise InputError(f"input {path!r} names another host ({parsed.netloc}): give a local path")
        return urllib.parse.unquote(parsed.path)
    return path


def list_input_files(paths: Sequence[str]) -> list[str]:
    """Expand files, directories (recursively) and globs into a sorted list of files.

    Raises ``InputError`` naming the first path that matches nothing, a named path that is
    not a regular file (a FIFO would block a reader forever), an unreadable file, and a
    directory that mixes text and Parquet files (a job would read the same rows twice, as
    the lab generators write ``DIR/*.txt`` beside ``DIR/parquet/``).
    """
    files: list[str] = []
    for original in paths:
        path = local_path(original)
        if glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise InputError(f"input glob {original!r} matches no file: check the pattern")
        else:
            matches = [path]
        for match in matches:
            try:
                mode = os.stat(match).st_mode
            except OSError:
                if os.path.lexists(match):
                    raise InputError(
                        f"input path {match!r} is a broken symbolic link: fix or remove the link"
                    ) from None
                raise InputError(f"input path {match!r} does not exist: check the path") from None
            if stat.S_ISDIR(mode):
                found = _list_directory(match)
                if not found and not glob.has_magic(path):
                    raise InputError(
                        f"input directory {match!r} holds no readable file "
                        "(names starting with '_' or '.' are skipped, as Hadoop does)"
                    )
                _refuse_mixed_formats(match, found)
                files.extend(found)
            elif stat.S_ISREG(mode):
                _check_readable(match)
                files.append(match)
            else:
                raise InputError(
                    f"input path {match!r} is {_special_kind(mode)}, not a regular file: a split "
                    "must be re-readable; copy it to a file first, or pipe it in as stdin ('-')"
                )
    return files


def input_directories(paths: Sequence[str]) -> list[str]:
    """The directories among *paths* (globs expanded): the output must not go inside one."""
    found: list[str] = []
    for original in paths:
        path = local_path(original)
        for match in sorted(glob.glob(path)) if glob.has_magic(path) else [path]:
            if os.path.isdir(match):
                found.append(match)
    return found


def _list_directory(directory: str) -> list[str]:
    """Every visible regular file under *directory*, each real file and directory once.

    Symbolic links are followed, as Hadoop's local filesystem does, but a link to a
    directory already being read (``self -> .``, ``up -> ..``) or to a file already listed
    is skipped with a warning: following it would read the same lines again (or forever).
    Named pipes, sockets and devices are skipped with a warning too: opening a FIFO blocks.
    """
    seen_dirs = {os.path.realpath(directory)}
    seen_files: dict[tuple[int, int], str] = {}
    found: list[str] = []
    for root, dirs, names in os.walk(directory, followlinks=True):
        kept = []
        for name in sorted(dirs):
            if is_hidden(name):
                continue
            full = os.path.join(root, name)
            real = os.path.realpath(full)
            if real in seen_dirs:
                log.warning("input: skipping %s, a link to the directory %s, already read", full, real)
                continue
            seen_dirs.add(real)
            kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            if is_hidden(name):
                continue
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                log.warning("input: skipping %s, a broken symbolic link", full)
                continue
            if not stat.S_ISREG(st.st_mode):
                log.warning("input: skipping %s, %s, not a regular file", full, _special_kind(st.st_mode))
                continue
            identity = (st.st_dev, st.st_ino)  # the real file, whatever links lead to it
            if identity in seen_files:
                first = seen_files[identity]
                log.warning("input: skipping %s, a link to %s, which is already read", full, first)
                continue
            _check_readable(full)
            seen_files[identity] = full
            found.append(full)
    return sorted(found)


def _check_readable(path: str) -> None:
    if not os.access(path, os.R_OK):
        raise InputError(f"input file {path!r} is not readable: check its permissions")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _refuse_mixed_formats(directory: str, files: Sequence[str]) -> None:
    """A directory of text *and* Parquet is most likely one table twice (``DIR/parquet/``)."""
    parquet = [f for f in files if file_kind(f) == "parquet"]
    text = [f for f in files if file_kind(f) != "parquet"]
    if parquet and text:
        raise InputError(
            f"input directory {directory!r} holds both text files ({text[0]!r}, {len(text)} in all) "
            f"and Parquet files ({parquet[0]!r}, {len(parquet)} in all); read together they would "
            f"likely count the same rows twice: give the Parquet directory "
            f"({os.path.dirname(parquet[0])!r}) or the text files (a glob) as input, or both "
            "explicitly if they really are different data"
        )


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
    """Cut *files* into splits; *whole_files* gives one ``whole`` split per file (mapper_raw).

    Each split records its file's size and modification time as planned, so that a file
    changed while the job runs (a log rotated, a copy still being written) fails the job
    instead of giving a partial result marked as success.
    """
    stats = {f: os.stat(f) for f in files}
    if whole_files:
        return [
            InputSplit(os.path.abspath(f), "whole", 0, s.st_size, file_size=s.st_size, mtime_ns=s.st_mtime_ns)
            for f, s in stats.items()
        ]
    total = sum(st.st_size for st in stats.values())
    size = split_size or pick_split_size(total, workers)
    splits: list[InputSplit] = []
    for f, st in stats.items():
        path = os.path.abspath(f)
        kind = file_kind(f)
        if kind == "text" and st.st_size <= size:  # the common case, without the copies below
            size_now, mtime = st.st_size, st.st_mtime_ns
            splits.append(InputSplit(path, "text", 0, size_now, file_size=size_now, mtime_ns=mtime))
            continue
        if kind == "parquet":
            pieces = _parquet_splits(path, size, None if split_size else workers)
        elif kind == "compressed":
            pieces = [InputSplit(path, "compressed", 0, st.st_size)]
        else:
            pieces = text_splits(path, st.st_size, size)
        splits.extend(replace(split, file_size=st.st_size, mtime_ns=st.st_mtime_ns) for split in pieces)
    return combine_small_files(splits, size, workers)


def file_stamps(splits: Sequence[InputSplit]) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of the splits' files as planned."""
    pieces = [part for s in splits for part in (s.parts or (s,))]
    return {s.path: (s.file_size, s.mtime_ns) for s in pieces if s.file_size >= 0}


def combine_small_files(splits: Sequence[InputSplit], split_size: int, workers: int) -> list[InputSplit]:
    """Pack runs of small splits (small files, mostly) into ``combined`` splits of up to *split_size*.

    A task costs a process round trip, a set of sorted runs and a reducer input each, so
    100,000 tiny files must not become 100,000 tasks (Hadoop's CombineFileInputFormat).
    Only when there are more than ``COMBINE_AFTER_SPLITS`` per worker, so a handful of
    files keeps one task each. Consecutive files are packed in listing order, so a key's
    values still arrive in input order.
    """
    if len(splits) <= COMBINE_AFTER_SPLITS * max(1, workers):
        return list(splits)
    small_limit = max(1, split_size // 4)
    # Groups of about an equal share, two per worker, so that no worker is left idle.
    small_bytes = sum(s.length for s in splits if s.kind != "whole" and s.length < small_limit)
    split_size = max(1, min(split_size, -(-small_bytes // (2 * max(1, workers)))))
    combined: list[InputSplit] = []
    group: list[InputSplit] = []
    group_bytes = 0

    def close() -> None:
        nonlocal group, group_bytes
        if len(group) == 1:
            combined.append(group[0])
        elif group:
            first = group[0]
            combined.append(
                InputSplit(first.path, "combined", 0, group_bytes, uri=first.uri, parts=tuple(group))
            )
        group, group_bytes = [], 0

    for split in splits:
        if split.kind == "whole" or split.length >= small_limit:
            close()
            combined.append(split)
            continue
        if group and group_bytes + split.length > split_size:
            close()
        group.append(split)
        group_bytes += split.length
    close()
    return combined


def check_unchanged(
    path: str, planned: tuple[int, int], where: str = "", st: os.stat_result | None = None
) -> None:
    """Raise ``InputError`` if *path* no longer has the planned size and modification time."""
    size, mtime_ns = planned
    try:
        st = st or os.stat(path)
    except OSError as exc:
        raise InputError(
            f"input file {path!r} disappeared while the job ran ({exc.strerror}){where}; "
            "no output was written: run the job again once its inputs stay in place"
        ) from None
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        what = f"its size went from {size} to {st.st_size} bytes" if st.st_size != size else "rewritten"
        raise InputError(
            f"input file {path!r} changed while the job ran ({what}){where}; a result would "
            "mix old and new data, so no output was written: run the job again once the file "
            "is complete (e.g. after the log rotation or copy has finished)"
        )


def text_splits(path: str, file_size: int, split_size: int) -> list[InputSplit]:
    """Byte ranges of *split_size* covering the file; an empty file gives one empty split."""
    if file_size == 0:
        return [InputSplit(path, "text", 0, 0)]
    return [
        InputSplit(path, "text", start, min(split_size, file_size - start))
        for start in range(0, file_size, split_size)
    ]


def _parquet_splits(path: str, split_size: int, workers: int | None = None) -> list[InputSplit]:
    """A Parquet file's splits: runs of whole row groups.

    With the split size given (``--split-size``), a split closes before it would pass it.
    With the size picked (*workers* given), the file's row groups are cut into a multiple
    of *workers* splits of about equal bytes, so that no worker is left with the last one
    alone: ten row groups for two workers make six splits (2,2,2,2,1,1: five row groups
    a worker), not five of two (three splits for one worker, two for the other)."""
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
    # Row groups are measured in bytes on disk, as the split size is (from file sizes).
    sizes = []
    for index in range(meta.num_row_groups):
        row_group = meta.row_group(index)
        sizes.append(sum(row_group.column(c).total_compressed_size for c in range(row_group.num_columns)))
    if workers is not None:
        return _even_parquet_splits(path, sizes, split_size, workers)
    splits: list[InputSplit] = []
    group: list[int] = []
    group_bytes = 0
    for index, size in enumerate(sizes):
        if group and group_bytes + size > split_size:
            splits.append(InputSplit(path, "parquet", 0, group_bytes, tuple(group)))
            group, group_bytes = [], 0
        group.append(index)
        group_bytes += size
    if group:
        splits.append(InputSplit(path, "parquet", 0, group_bytes, tuple(group)))
    return splits


def _even_parquet_splits(path: str, sizes: Sequence[int], split_size: int, workers: int) -> list[InputSplit]:
    """Row groups of *sizes* bytes cut into about ``total / split_size`` runs, rounded up to a
    multiple of *workers* (at most one run a row group), each closing nearest where the bytes
    so far reach its share of the total."""
    total = sum(sizes)
    wanted = max(1, -(-total // max(1, split_size)))
    count = min(len(sizes), -(-wanted // workers) * workers)
    splits: list[InputSplit] = []
    group: list[int] = []
    group_bytes = so_far = 0
    for index, size in enumerate(sizes):
        group.append(index)
        group_bytes += size
        so_far += size
        left = len(sizes) - index - 1  # row groups still to place
        # close it when the next row group lies mostly past this split's share
        next_half = sizes[index + 1] * count if left else 0
        due = len(splits) + 1 < count and (
            2 * so_far * count + next_half > 2 * total * (len(splits) + 1) or left == count - len(splits) - 1
        )
        if due or index == len(sizes) - 1:
            splits.append(InputSplit(path, "parquet", 0, group_bytes, tuple(group)))
            group, group_bytes = [], 0
    return splits
