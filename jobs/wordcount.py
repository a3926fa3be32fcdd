"""Word count: the classic first MapReduce job.

    python jobs/wordcount.py -r engine data/sample/words.txt

The record methods are the reference and run on every mrjob runner; on the engine,
``vector_steps()`` gives the same answer with Arrow kernels (``--no-vectorize`` to compare).
"""

from __future__ import annotations

import functools
import re

from engine.job import EngineMRJob

WORD_RE = re.compile(r"[\w']+")
#: RE2 spelling of what separates ``WORD_RE``'s matches: Python's ``\w`` on str is
#: Unicode letters, digits and numbers plus ``_`` ([\p{L}\p{N}_]); RE2's ``\w`` is ASCII.
NON_WORD_RE2 = r"[^\p{L}\p{N}_']+"
#: On ASCII text ``WORD_RE`` matches runs of these bytes.
ASCII_WORD_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'"


class MRWordCount(EngineMRJob):
    """Count how often each word (lower-cased) occurs."""

    def mapper(self, _, line):
        for word in WORD_RE.findall(line):
            yield word.lower(), 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)

    def vector_steps(self):
        """The Arrow twin: split lines on non-word runs, count per word inside Arrow."""
        from engine.arrow import VectorStep

        return [
            VectorStep(mapper=self.words_in_batch, keys=("word",), aggregate={"count": ("word", "count")})
        ]

    def words_in_batch(self, batch):
        """``line`` batch → one row per word (lower-cased), as ``mapper`` yields them.

        An all-ASCII batch (the common case) is tokenized without a regex, ~3x faster:
        every byte that is not a word byte becomes a space, then Arrow splits on
        whitespace. Any other batch is split with the Unicode-aware RE2 pattern.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        lines = batch.column("line")
        if pc.all(pc.string_is_ascii(lines)).as_py():
            pieces = pc.list_flatten(pc.ascii_split_whitespace(_non_words_as_spaces(lines)))
            lower = pc.ascii_lower
        else:
            pieces = pc.list_flatten(pc.split_pattern_regex(lines, pattern=NON_WORD_RE2))
            lower = pc.utf8_lower
        # both splits give an empty piece for an empty line (the regex also at the ends)
        return pa.table({"word": lower(pc.filter(pieces, pc.not_equal(pieces, "")))})


def _non_words_as_spaces(lines):
    """An ASCII string array with every byte outside ``ASCII_WORD_BYTES`` replaced by a
    space (same offsets, so line boundaries stay word boundaries)."""
    import numpy as np
    import pyarrow as pa

    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    validity, offsets, data = lines.buffers()
    if data is None:
        return lines
    spaced = pa.py_buffer(_space_table()[np.frombuffer(data, dtype=np.uint8)])
    return pa.Array.from_buffers(lines.type, len(lines), [validity, offsets, spaced], offset=lines.offset)


@functools.cache
def _space_table():
    """Byte → itself for ``ASCII_WORD_BYTES``, else a space (NumPy lookup table)."""
    import numpy as np

    table = np.full(256, ord(" "), dtype=np.uint8)
    word = np.frombuffer(ASCII_WORD_BYTES, dtype=np.uint8)
    table[word] = word
    return table


if __name__ == "__main__":
    MRWordCount.run()
