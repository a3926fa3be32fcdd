"""Reducer output depends on the order of values (no combiner, no SORT_VALUES)."""

from mrjob.job import MRJob


class MRValueOrder(MRJob):
    def mapper(self, _, line):
        fields = line.split()
        if fields:
            yield fields[0], line

    def reducer(self, key, lines):
        yield key, list(lines)


if __name__ == "__main__":
    MRValueOrder.run()
