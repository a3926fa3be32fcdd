"""Fault injection: a mapper or reducer that raises, or SIGKILLs its own worker once.

--crash-mode: raise (always raises), kill-map-once / kill-reduce-once (SIGKILL the worker
on the first attempt only, remembered through a marker file in --marker-dir).
"""

import os
import signal

from mrjob.job import MRJob


class MRCrash(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--crash-mode", default="none")
        self.add_passthru_arg("--marker-dir", default="")

    def _first_time(self, name):
        marker = os.path.join(self.options.marker_dir, name)
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def mapper(self, _, line):
        mode = self.options.crash_mode
        if mode == "raise" and "boom" in line:
            raise ValueError("mapper hit a boom line")
        if mode == "kill-map-once" and self._first_time("map"):
            os.kill(os.getpid(), signal.SIGKILL)
        for word in line.split():
            yield word, 1

    def reducer(self, word, ones):
        if self.options.crash_mode == "kill-reduce-once" and self._first_time("reduce"):
            os.kill(os.getpid(), signal.SIGKILL)
        yield word, sum(ones)


if __name__ == "__main__":
    MRCrash.run()
