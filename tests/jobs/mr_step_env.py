"""Per-step jobconf, uploaded files and archives, and the cache task variables, as seen
from inside each substep (compared with mrjob's inline runner)."""

import os
import stat

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.step import MRStep

CACHE_VARS = (
    "mapreduce.job.cache.files",
    "mapreduce.job.cache.local.files",
    "mapreduce.job.cache.archives",
    "mapreduce.job.cache.local.archives",
)


def _short(value):
    """Paths differ between runners' temp dirs: keep what a job can rely on (the names)."""
    if not value:
        return value
    return ",".join(os.path.basename(part.split("#")[-1]) for part in value.split(","))


class MRStepEnv(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_file_arg("--extra")

    def steps(self):
        return [
            MRStep(mapper=self.mapper_one, reducer=self.reducer_one, jobconf={"my.conf": "one"}),
            MRStep(mapper=self.mapper_two, combiner=self.combiner_two, reducer=self.reducer_two,
                   jobconf={"my.conf": "two", "only.two": "2"}),
        ]

    def mapper_one(self, _, line):
        yield "mapper 1", [jobconf_from_env("my.conf"), jobconf_from_env("only.two", None)]

    def reducer_one(self, key, values):
        yield "reducer 1", [jobconf_from_env("my.conf"), jobconf_from_env("only.two", None)]
        for value in values:
            yield key, value

    def mapper_two(self, key, value):
        yield key, [value, jobconf_from_env("my.conf")]
        yield "mapper 2", [jobconf_from_env("my.conf"), jobconf_from_env("only.two", None)]
        if self.options.extra:
            name = os.path.basename(self.options.extra)
            with open(name) as f:
                yield "file", [name, oct(stat.S_IMODE(os.stat(name).st_mode)), f.read()]
        if os.path.isdir("arch"):
            yield "archive", sorted(os.listdir("arch"))
        for var in CACHE_VARS:
            yield var, _short(jobconf_from_env(var))
        yield "output dir", os.path.basename(jobconf_from_env("mapreduce.task.output.dir"))

    def combiner_two(self, key, values):
        yield "combiner 2", [jobconf_from_env("my.conf"), jobconf_from_env("only.two", None)]
        for value in values:
            yield key, value

    def reducer_two(self, key, values):
        # a set: how many map tasks / combiner calls a runner makes must not show
        yield key, sorted(set(map(str, values)))


if __name__ == "__main__":
    MRStepEnv.run()
