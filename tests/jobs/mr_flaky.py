"""Word count whose tasks fail once, remembered through marker files in --marker-dir.

--fault-mode:
  raise-map-once          the first map attempt to run raises
  kill-map-after-spill    the first map attempt SIGKILLs its worker after it has spilled runs
  kill-reduce-after-output the first reduce attempt SIGKILLs its worker after writing output
"""

import os
import signal

from mrjob.job import MRJob


class MRFlaky(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--fault-mode", default="none")
        self.add_passthru_arg("--marker-dir", default="")

    def _first_time(self, name):
        marker = os.path.join(self.options.marker_dir, name)
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def mapper_init(self):
        self.seen = 0

    def mapper(self, _, line):
        mode = self.options.fault_mode
        self.seen += 1
        if mode == "raise-map-once" and self._first_time("map"):
            raise RuntimeError("transient failure on the first attempt")
        if mode == "kill-map-after-spill" and self.seen == 500 and self._first_time("map"):
            os.kill(os.getpid(), signal.SIGKILL)
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        self.emitted = 0

    def reducer(self, word, ones):
        self.emitted += 1
        if (
            self.options.fault_mode == "kill-reduce-after-output"
            and self.emitted == 20
            and self._first_time("reduce")
        ):
            os.kill(os.getpid(), signal.SIGKILL)
        # a long value, so the part file holds flushed bytes before the kill
        yield word, [sum(ones), "x" * 70000]


if __name__ == "__main__":
    MRFlaky.run()
