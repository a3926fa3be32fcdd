"""Word count: the classic first MapReduce job.

python jobs/wordcount.py -r engine data/sample/words.txt
"""

from __future__ import annotations

import re

from engine.job import EngineMRJob

WORD_RE = re.compile(r"[\w']+")


class MRWordCount(EngineMRJob):
    """Count how often each word (lower-cased) occurs."""

    def mapper(self, _, line):
        for word in WORD_RE.findall(line):
            yield word.lower(), 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRWordCount.run()
