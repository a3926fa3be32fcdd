"""Word count whose mapper truncates its own input file, as a log rotation would while a
job reads it: on its first line (--when first) or after its last (--when final)."""

import os

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob


class MRTruncateInput(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--when", choices=["first", "final"], default="first")

    def _truncate(self):
        path = jobconf_from_env("mapreduce.map.input.file")[len("file://"):]
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)

    def mapper(self, _, line):
        if self.options.when == "first" and not getattr(self, "_done", False):
            self._done = True
            self._truncate()
        for word in line.split():
            yield word, 1

    def mapper_final(self):
        if self.options.when == "final":
            self._truncate()

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRTruncateInput.run()
