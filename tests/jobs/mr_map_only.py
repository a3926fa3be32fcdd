"""A map-only job with a passthrough option: output comes straight from the mappers."""

from mrjob.job import MRJob
from mrjob.protocol import RawValueProtocol


class MRMapOnly(MRJob):
    OUTPUT_PROTOCOL = RawValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--prefix", default=">", help="put this before each line")

    def mapper(self, _, line):
        if line:
            yield None, self.options.prefix + line.upper()


if __name__ == "__main__":
    MRMapOnly.run()
