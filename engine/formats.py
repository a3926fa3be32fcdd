"""Read a split as records, and write output parts.

Readers yield lines without their line ending (as mrjob's ``read_lines`` strips
``\\r\\n``), or ``(None, row_dict)`` pairs for Parquet rows.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import os
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from engine.errors import InputError
from engine.splits import InputSplit, check_unchanged

if TYPE_CHECKING:  # pyarrow only where a Parquet split is read
    import pyarrow.parquet as pq

log = logging.getLogger(__name__)

#: Bytes a file is read or written by at a time: a text split's blocks, buffered files, a
#: Parquet column's pages (``parquet_file``).
READ_BUFFER = 1 << 20
#: Bytes of a split read at once by ``SplitReader.lines``.
LINE_BLOCK = 1 << 20
#: Counter group and name of the records ``--skip-bad-records`` skipped.
SKIPPED_COUNTER = ("engine", "skipped bad records")
#: Skipped records named one by one in a task's log before it goes quiet.
SKIP_WARNINGS = 10
_NO_LINE = object()


class SplitReader:
    """Iterates one split's records and remembers how far it got, for error messages."""

    def __init__(self, split: InputSplit) -> None:
        self.split = split
        self.records = 0
        #: Byte offset of the split's first line (a text split skips a straddling line).
        self.first_line_offset = split.start

    def where(self) -> str:
        """The split and the record being read, for an error message."""
        return f"{self.split.describe()}, record {self.records}"

    def line_number(self) -> int:
        """1-based line number, in its file, of the line read last (errors only: it may
        count the newlines before the split)."""
        if self.split.kind != "text" or self.first_line_offset == 0:
            return self.records
        before = 0
        remaining = self.first_line_offset
        with open(self.split.path, "rb") as f:
            while remaining > 0:
                chunk = f.read(min(READ_BUFFER, remaining))
                if not chunk:
                    break
                before += chunk.count(b"\n")
                remaining -= len(chunk)
        return before + self.records

    def decoded(
        self,
        read: Callable[[bytes], Any],
        lines: Iterable[bytes],
        skip_limit: int = 0,
        count_skipped: Callable[[], None] | None = None,
    ) -> Iterator[Any]:
        """``read(line)`` for each line: the job's input protocol decoding this split.

        A line the protocol cannot decode is an ``InputError`` naming the file and line
        (retrying would fail the same way), or, while fewer than *skip_limit* were
        skipped in this task, a skipped record counted through *count_skipped*. The
        ``try`` wraps the whole loop, so the common path costs nothing extra.
        """
        skipped = 0
        iterator = iter(lines)
        line: Any = _NO_LINE
        while True:
            try:
                for line in iterator:
                    yield read(line)
                return
            except InputError:
                raise
            except Exception as exc:
                if line is _NO_LINE:
                    raise  # the reader failed, not the protocol
                where = f"{self.split.path!r} line {self.line_number()}"
                protocol = type(getattr(read, "__self__", read)).__name__
                reason = f"cannot decode the record with {protocol} ({type(exc).__name__}: {exc})"
                if skipped >= skip_limit:
                    if skip_limit:
                        raise InputError(
                            f"input {where}: {reason}; more than --skip-bad-records={skip_limit} "
                            "bad records: fix the input or raise the limit"
                        ) from exc
                    raise InputError(
                        f"input {where}: {reason}; fix or remove the line, or run with "
                        "--skip-bad-records N to skip up to N such records"
                    ) from exc
                skipped += 1
                if count_skipped is not None:
                    count_skipped()
                if skipped <= SKIP_WARNINGS:
                    log.warning("skipped bad record at %s: %s", where, reason)
                line = _NO_LINE

    def lines(self) -> Iterator[bytes]:
        """Lines of a ``text`` or ``compressed`` split, without their line endings, cut
        from ``blocks()``."""
        count = 0
        for block in self.blocks():
            lines = block.split(b"\n")
            if block.endswith(b"\n"):
                lines.pop()  # the empty piece after the last line end
            for line in lines:
                count += 1
                self.records = count
                yield line.rstrip(b"\r")

    def blocks(self, block_bytes: int = LINE_BLOCK) -> Iterator[bytes]:
        """The split as blocks of whole lines, each of about *block_bytes*, with their line
        endings: the one implementation of a split's rules, which both pipelines read.

        A text split owns every line that *starts* inside ``[start, start + length)``: it
        skips the line straddling its start (the previous split's) and completes its last
        line past its end. A compressed split is its whole file, decompressed. The file
        must still be as planned when the split is opened and when it has been read.
        """
        if self.split.kind == "text":
            return self._text_blocks(block_bytes)
        if self.split.kind == "compressed":
            return self._compressed_blocks(block_bytes)
        raise ValueError(f"split of kind {self.split.kind!r} has no lines")

    def check_unchanged(self, f: IO[bytes] | None = None) -> None:
        """Fail if the split's file is not as it was when the job was planned."""
        split = self.split
        if split.file_size >= 0:
            st = os.fstat(f.fileno()) if f is not None else None
            planned = (split.file_size, split.mtime_ns)
            check_unchanged(split.path, planned, f" (reading {split.describe()})", st)

    def _text_blocks(self, block_bytes: int) -> Iterator[bytes]:
        split = self.split
        end = split.start + split.length
        with _open_input(split.path) as f:
            self.check_unchanged(f)
            pos = split.start
            if split.start > 0:
                # The line that straddles our start belongs to the previous split.
                f.seek(split.start - 1)
                pos = split.start - 1 + len(f.readline())
                self.first_line_offset = pos
            # Where the file can be read at an offset, each block is read at its exact size, up
            # to the end of the line that holds its last byte (found first with a small pread),
            # rather than read short and copied to complete that line (8 MB copied a block).
            exact = _HAS_PREAD and f.seekable()
            while pos < end:
                want = min(block_bytes, end - pos)
                if exact:
                    want = _line_end(f.fileno(), pos + want - 1) - pos
                block = f.read(want)
                if not block:
                    break
                pos += len(block)
                if not block.endswith(b"\n"):
                    rest = f.readline()  # the last line started inside: it is ours
                    pos += len(rest)
                    block += rest
                yield block
            self.check_unchanged(f)  # truncated or rewritten while we read it

    def _compressed_blocks(self, block_bytes: int) -> Iterator[bytes]:
        path = self.split.path
        lines = 0
        self.check_unchanged()
        try:
            with open_compressed(path) as f:
                carry = b""
                while chunk := f.read(block_bytes):
                    data = carry + chunk
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        carry = data
                        continue
                    carry = data[cut + 1 :]
                    lines += data.count(b"\n", 0, cut + 1)
                    yield data[: cut + 1]
                if carry:
                    yield carry
            self.check_unchanged()
        except (EOFError, OSError, ValueError) as exc:
            if not is_corrupt_compressed(exc):
                raise
            raise InputError(
                f"compressed input {path!r} is corrupt or truncated after {lines} lines "
                f"({type(exc).__name__}: {exc}); re-copy or regenerate the file"
            ) from exc

    def parquet_pairs(self) -> Iterator[tuple[None, dict[str, Any]]]:
        """``(None, row_dict)`` for each row of the split's row groups."""
        import pyarrow as pa

        split = self.split
        count = 0
        group: int | None = None
        self.check_unchanged()
        try:
            pf = parquet_file(split.path)
            for group in split.row_groups:
                for batch in pf.iter_batches(row_groups=[group], batch_size=65536):
                    for row in batch.to_pylist():
                        count += 1
                        self.records = count
                        yield None, row
        except InputError:
            raise
        except (OSError, pa.ArrowException) as exc:
            where = f"row group {group}" if group is not None else "footer"
            raise InputError(
                f"cannot read Parquet file {split.path!r} ({where}): {exc}; the file is corrupt "
                "or truncated: re-copy or regenerate it"
            ) from exc


def parquet_file(path: str) -> pq.ParquetFile:
    """The ``pyarrow.parquet.ParquetFile`` of *path*, read a column's pages at a time through a
    buffer of ``READ_BUFFER`` bytes, not each column chunk of a row group whole first
    (pyarrow's ``pre_buffer``, meant for stores of high latency: the engine's splits are local
    files). A task then holds its batch's decoded columns, not also the row group's compressed
    and decompressed chunks: two row groups of AMPLab's uservisits, four columns, Arrow's peak
    allocation 184 -> 78 MiB, at the same speed (bench/RESULTS.md)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)


def check_skipped(counters: Sequence[Mapping[str, Mapping[str, int]]], limit: int) -> None:
    """Fail the job if its tasks skipped more bad records, in all, than ``--skip-bad-records``.

    Each task stops at *limit* on its own; this is the per-job total, summed by the driver.
    """
    group, name = SKIPPED_COUNTER
    skipped = sum(step.get(group, {}).get(name, 0) for step in counters)
    if skipped > limit:
        raise InputError(
            f"the map tasks skipped {skipped} bad input records in all, more than "
            f"--skip-bad-records={limit} (the warnings above name them): fix the input or raise the limit"
        )


def open_compressed(path: str) -> IO[bytes]:
    """A ``.gz`` or ``.bz2`` file, decompressed as it is read."""
    opener = gzip.open if path.lower().endswith(".gz") else bz2.open
    return opener(path, "rb")  # type: ignore[return-value]


def is_corrupt_compressed(exc: BaseException) -> bool:
    """Whether reading a compressed file failed because the file is corrupt or truncated."""
    if isinstance(exc, OSError):
        return _is_codec_error(exc)
    return isinstance(exc, (EOFError, ValueError))


def _is_codec_error(exc: OSError) -> bool:
    # gzip raises BadGzipFile (an OSError); bz2 raises OSError("Invalid data stream").
    return isinstance(exc, gzip.BadGzipFile) or "Invalid data stream" in str(exc)


_HAS_PREAD = hasattr(os, "pread")


def _line_end(fd: int, offset: int) -> int:
    """The offset just past the line end at or after *offset* (the file's end if none)."""
    step = 4096
    while True:
        chunk = os.pread(fd, step, offset)
        if not chunk:  # the last line, without a line end
            return offset
        cut = chunk.find(b"\n")
        if cut >= 0:
            return offset + cut + 1
        offset += len(chunk)
        step = min(step * 2, READ_BUFFER)


def _open_input(path: str) -> IO[bytes]:
    try:
        return open(path, "rb", buffering=READ_BUFFER)
    except OSError as exc:
        raise InputError(f"cannot open input {path!r}: {exc.strerror}") from exc


class TextPartWriter:
    """Writes output lines to one part file, counting records and bytes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records = 0
        self.bytes = 0
        self._file = open(path, "wb", buffering=READ_BUFFER)

    def write_all(self, lines: Iterator[bytes]) -> None:
        """Write every line, each followed by ``\\n``."""
        write = self._file.write
        records = 0
        size = 0
        for line in lines:
            write(line)
            write(b"\n")
            records += 1
            size += len(line) + 1
        self.records += records
        self.bytes += size

    def close(self) -> None:
        """Flush and close, then fsync so a committed part survives a crash."""
        import os

        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
