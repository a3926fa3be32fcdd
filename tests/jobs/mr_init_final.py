"""mapper_init/final, reducer_init/final, counters and status messages."""

from mrjob.job import MRJob


class MRInitFinal(MRJob):
    def mapper_init(self):
        self.lines = 0
        self.chars = 0

    def mapper(self, _, line):
        self.lines += 1
        self.chars += len(line)
        self.increment_counter("lines", "seen", 1)
        if not line.strip():
            self.increment_counter("lines", "blank, really", 1)
        yield f"line-length-{len(line) % 5}", 1

    def mapper_final(self):
        self.set_status("mapper done")
        yield "lines", self.lines
        yield "chars", self.chars

    def reducer_init(self):
        self.keys = 0

    def reducer(self, key, values):
        self.keys += 1
        yield key, sum(values)

    def reducer_final(self):
        self.increment_counter("reducer", "keys", self.keys)
        yield "keys-in-this-reducer", 1


if __name__ == "__main__":
    MRInitFinal.run()
