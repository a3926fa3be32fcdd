"""Uses mapper_cmd, which the engine refuses before starting any work."""

from mrjob.job import MRJob


class MRUnsupported(MRJob):
    def mapper_cmd(self):
        return "cat"

    def reducer(self, key, values):
        yield key, len(list(values))


if __name__ == "__main__":
    MRUnsupported.run()
