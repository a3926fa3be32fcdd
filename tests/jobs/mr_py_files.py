"""Imports a module that only --py-files provides (mrjob puts those on the tasks' path)."""

from mrjob.job import MRJob


class MRPyFiles(MRJob):
    def mapper(self, _, line):
        import helper_from_py_files

        for word in line.split():
            yield helper_from_py_files.tag(word), 1

    def reducer(self, key, ones):
        yield key, sum(ones)


if __name__ == "__main__":
    MRPyFiles.run()
