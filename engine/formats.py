"""Read a split as records, and write output parts.

Readers yield lines without their line ending (as mrjob's ``read_lines`` strips
``\\r\\n``), or ``(None, row_dict)`` pairs for Parquet rows.
"""

from __future__ import annotations

import bz2
import gzip
from typing import IO, Any, Iterator

from engine.errors import InputError
from engine.splits import InputSplit

READ_BUFFER = 1 << 20


class SplitReader:
    """Iterates one split's records and remembers how far it got, for error messages."""

    def __init__(self, split: InputSplit) -> None:
        self.split = split
        self.records = 0

    def where(self) -> str:
        """The split and the record being read, for an error message."""
        return f"{self.split.describe()}, record {self.records}"

    def lines(self) -> Iterator[bytes]:
        """Lines of a ``text`` or ``compressed`` split."""
        if self.split.kind == "text":
            return self._text_lines()
        if self.split.kind == "compressed":
            return self._compressed_lines()
        raise ValueError(f"split of kind {self.split.kind!r} has no lines")

    def _text_lines(self) -> Iterator[bytes]:
        split = self.split
        end = split.start + split.length
        with _open_input(split.path) as f:
            pos = split.start
            if split.start > 0:
                # The line that straddles our start belongs to the previous split.
                f.seek(split.start - 1)
                pos = split.start - 1 + len(f.readline())
            count = 0
            for line in f:
                if pos >= end:
                    break
                pos += len(line)
                count += 1
                self.records = count
                yield line.rstrip(b"\r\n")

    def _compressed_lines(self) -> Iterator[bytes]:
        path = self.split.path
        opener = gzip.open if path.lower().endswith(".gz") else bz2.open
        count = 0
        try:
            with opener(path, "rb") as f:
                for line in f:
                    count += 1
                    self.records = count
                    yield line.rstrip(b"\r\n")
        except (EOFError, OSError, ValueError) as exc:
            if isinstance(exc, OSError) and not _is_codec_error(exc):
                raise
            raise InputError(
                f"compressed input {path!r} is corrupt or truncated after {count} lines "
                f"({type(exc).__name__}: {exc}); re-copy or regenerate the file"
            ) from exc

    def parquet_pairs(self) -> Iterator[tuple[None, dict[str, Any]]]:
        """``(None, row_dict)`` for each row of the split's row groups."""
        import pyarrow.parquet as pq

        split = self.split
        count = 0
        try:
            pf = pq.ParquetFile(split.path)
            if not split.row_groups:
                return
            for batch in pf.iter_batches(row_groups=list(split.row_groups), batch_size=65536):
                for row in batch.to_pylist():
                    count += 1
                    self.records = count
                    yield None, row
        except InputError:
            raise
        except OSError as exc:
            raise InputError(
                f"cannot read Parquet {split.describe()}: {exc} (is the file truncated?)"
            ) from exc


def _is_codec_error(exc: OSError) -> bool:
    # gzip raises BadGzipFile (an OSError); bz2 raises OSError("Invalid data stream").
    return isinstance(exc, gzip.BadGzipFile) or "Invalid data stream" in str(exc)


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
