"""Reads ``key<TAB>value`` JSON lines (JSONProtocol input) and counts keys.

--set-key: yield each key as a one-element set, which the internal JSONProtocol cannot
encode (the engine must say so clearly).
"""

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol


class MRJSONInput(MRJob):
    INPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--set-key", action="store_true")

    def mapper(self, key, value):
        yield ({key} if self.options.set_key else key), 1

    def reducer(self, key, counts):
        yield key, sum(counts)


if __name__ == "__main__":
    MRJSONInput.run()
