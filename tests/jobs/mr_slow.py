"""A slow mapper, for interrupt and timeout tests.

--hang-once-dir DIR: the first attempt of the first map task sleeps an hour (a hung task).
--started-dir DIR: each map task attempt creates a file of its own in DIR as it starts, so
a test can wait for the job to be mapping instead of sleeping and hoping it is.
"""

import os
import tempfile
import time

from mrjob.job import MRJob


class MRSlow(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--sleep", type=float, default=0.05)
        self.add_passthru_arg("--hang-once-dir", default="")
        self.add_passthru_arg("--started-dir", default="")

    def mapper_init(self):
        if self.options.started_dir:
            fd, _ = tempfile.mkstemp(prefix="map-", suffix=".started", dir=self.options.started_dir)
            os.close(fd)
        if self.options.hang_once_dir:
            marker = os.path.join(self.options.hang_once_dir, "hung")
            if not os.path.exists(marker):
                open(marker, "w").close()
                time.sleep(3600)

    def mapper(self, _, line):
        time.sleep(self.options.sleep)
        yield line, 1

    def reducer(self, key, ones):
        yield key, sum(ones)


if __name__ == "__main__":
    MRSlow.run()
