"""Counts lines per input file, reading the file name in mapper_init and in mapper (as
reduce-side joins do), and counts mapper_init/mapper_final calls per file."""

import os

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob


def _name():
    return os.path.basename(jobconf_from_env("mapreduce.map.input.file"))


class MRInputFiles(MRJob):
    def mapper_init(self):
        self.at_init = _name()
        self.lines = 0

    def mapper(self, _, line):
        self.lines += 1
        yield _name(), [self.at_init, line]

    def mapper_final(self):
        yield "final " + self.at_init, [self.at_init, self.lines]

    def reducer(self, key, values):
        yield key, sorted(values)


if __name__ == "__main__":
    MRInputFiles.run()
