"""Counts without a combiner: a frequent key reaches its reducer as one huge group."""

from mrjob.job import MRJob


class MRNoCombinerCount(MRJob):
    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, ones):
        n = 0
        for _ in ones:
            n += 1
        yield word, n


if __name__ == "__main__":
    MRNoCombinerCount.run()
