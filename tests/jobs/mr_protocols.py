"""Raw input, pickled tuples between steps, repr output, and a two-step chain."""

from mrjob.job import MRJob
from mrjob.protocol import PickleProtocol, RawValueProtocol, ReprProtocol
from mrjob.step import MRStep


class MRProtocols(MRJob):
    INPUT_PROTOCOL = RawValueProtocol
    INTERNAL_PROTOCOL = PickleProtocol
    OUTPUT_PROTOCOL = ReprProtocol

    def steps(self):
        return [
            MRStep(mapper=self.mapper_pairs, reducer=self.reducer_group),
            MRStep(mapper=self.mapper_swap, reducer=self.reducer_collect),
        ]

    def mapper_pairs(self, _, line):
        words = line.split()
        for a, b in zip(words, words[1:]):
            yield (a.lower(), len(b)), (b, {"len": len(b)})

    def reducer_group(self, key, values):
        values = list(values)
        # tuples survive a pickle round trip (they would become lists in JSON)
        assert all(isinstance(v, tuple) for v in values)
        yield key[1], (key[0], len(values))

    def mapper_swap(self, length, word_count):
        yield length % 3, word_count

    def reducer_collect(self, bucket, word_counts):
        yield bucket, sorted(word_counts)


if __name__ == "__main__":
    MRProtocols.run()
