"""mapper_raw: each map task gets a whole input file's path."""

from mrjob.job import MRJob


class MRRawFiles(MRJob):
    def mapper_raw(self, path, uri):
        with open(path, "rb") as f:
            data = f.read()
        yield "files", 1
        yield "bytes", len(data)
        yield "newlines", data.count(b"\n")

    def reducer(self, key, values):
        yield key, sum(values)


if __name__ == "__main__":
    MRRawFiles.run()
