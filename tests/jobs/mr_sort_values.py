"""Secondary sort: SORT_VALUES gives each key's values in sorted (encoded) order."""

from mrjob.job import MRJob


class MRSortValues(MRJob):
    SORT_VALUES = True

    def mapper(self, _, line):
        for i, word in enumerate(line.split()):
            yield word[:1], [len(word), word, i]

    def reducer(self, key, values):
        yield key, list(values)


if __name__ == "__main__":
    MRSortValues.run()
