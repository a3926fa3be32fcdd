"""Word count: the classic first MapReduce job.

    python jobs/wordcount.py -r engine data/sample/words.txt

The record methods are the reference and run on every mrjob runner; on the engine,
``vector_steps()`` gives the same answer with Arrow kernels (``--no-vectorize`` to compare).
"""

from __future__ import annotations

import re

from engine.job import EngineMRJob

WORD_RE = re.compile(r"[\w']+")
#: RE2 spelling of what separates ``WORD_RE``'s matches: Python's ``\w`` on str is
#: Unicode letters, digits and numbers plus ``_`` ([\p{L}\p{N}_]); RE2's ``\w`` is ASCII.
NON_WORD_RE2 = r"[^\p{L}\p{N}_']+"


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
        from engine.vectorized import VectorStep

        return [
            VectorStep(mapper=self.words_in_batch, keys=("word",), aggregate={"count": ("word", "count")})
        ]

    def words_in_batch(self, batch):
        """``line`` batch → one row per word (lower-cased), as ``mapper`` yields them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        pieces = pc.list_flatten(pc.split_pattern_regex(batch.column("line"), pattern=NON_WORD_RE2))
        words = pc.utf8_lower(pc.filter(pieces, pc.not_equal(pieces, "")))
        return pa.table({"word": words})


if __name__ == "__main__":
    MRWordCount.run()
