"""A combiner over keys that are not strings (ints, None, lists) and values that are not
scalars; it changes the values and counts its calls, so running it zero or two times per
record shows in the output."""

from mrjob.job import MRJob


class MRCombinerKeys(MRJob):
    def mapper(self, _, line):
        for word in line.split():
            yield len(word), 1  # int key
            yield None, 1  # null key
            yield word[:1], [1]  # str key, list value
            yield [word[:1], len(word)], 1  # list key

    def combiner(self, key, values):
        self.increment_counter("combiner", "calls")
        total = sum(v[0] if isinstance(v, list) else v for v in values)
        yield key, total + 1000

    def reducer(self, key, values):
        yield key, sum(values)


if __name__ == "__main__":
    MRCombinerKeys.run()
