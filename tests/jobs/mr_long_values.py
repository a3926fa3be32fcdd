"""Groups whole lines by their first character: one record can be as long as its line."""

from mrjob.job import MRJob


class MRLongValues(MRJob):
    def mapper(self, _, line):
        yield line[:1], line

    def reducer(self, first, lines):
        yield first, sorted(len(line) for line in lines)


if __name__ == "__main__":
    MRLongValues.run()
