"""Three steps whose twin leaves the steps named by ``--record-steps`` to their record methods.

Step 1 counts each word (a line holds words separated by spaces), step 2 sums the counts of
the words of each length, step 3 sums those totals into one grand total per parity of the
length and counts the lengths. Each twin declares ``to_pairs``/``from_pairs``, so any of its
steps can run on its record methods beside the others on Arrow (``engine.arrow.boundary``).
"""

from mrjob.job import MRJob
from mrjob.step import MRStep


class MRVectorMixed(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg(
            "--record-steps", default="", help="1-based steps without a twin, e.g. 2 or 1,3"
        )

    def steps(self):
        return [
            MRStep(mapper=self.words, reducer=self.sum_values),
            MRStep(mapper=self.by_length, reducer=self.sum_values),
            MRStep(mapper=self.by_parity, reducer=self.total_and_count),
        ]

    def words(self, _, line):
        for word in line.split(" "):
            if word:
                yield word, 1

    def sum_values(self, key, values):
        yield key, sum(values)

    def by_length(self, word, n):
        yield len(word), n

    def by_parity(self, length, total):
        yield length % 2, [total, 1]

    def total_and_count(self, parity, pairs):
        pairs = list(pairs)
        yield parity, [sum(p[0] for p in pairs), sum(p[1] for p in pairs)]

    # ------------------------------------------------------------------ the twin

    def vector_steps(self):
        from engine.arrow import VectorStep

        record = {int(s) - 1 for s in self.options.record_steps.split(",") if s}
        twins = [
            VectorStep(
                mapper=self.words_batch,
                keys=("word",),
                aggregate={"n": ("n", "sum")},
                to_pairs=lambda t: zip(t.column("word").to_pylist(), t.column("n").to_pylist()),
            ),
            VectorStep(
                mapper=self.by_length_batch,
                keys=("length",),
                aggregate={"total": ("n", "sum")},
                to_pairs=lambda t: zip(t.column("length").to_pylist(), t.column("total").to_pylist()),
                from_pairs=lambda pairs: self.table(("word", "n"), pairs),
            ),
            VectorStep(
                mapper=self.by_parity_batch,
                keys=("parity",),
                aggregate={"total": ("total", "sum"), "count": ("one", "sum")},
                from_pairs=lambda pairs: self.table(("length", "total"), pairs),
            ),
        ]
        return [None if i in record else twin for i, twin in enumerate(twins)]

    @staticmethod
    def table(names, pairs):
        import pyarrow as pa

        keys, values = zip(*pairs) if pairs else ((), ())
        return pa.table({names[0]: pa.array(keys), names[1]: pa.array(values, pa.int64())})

    def words_batch(self, batch):
        import pyarrow as pa

        self.increment_counter("twin", "step 1 batches")
        import pyarrow.compute as pc

        words = pc.list_flatten(pc.split_pattern(batch.column("line"), " "))
        words = pc.filter(words, pc.not_equal(words, ""))
        return pa.table({"word": words, "n": pa.array([1] * len(words), pa.int64())})

    def by_length_batch(self, batch):
        import pyarrow as pa

        self.increment_counter("twin", "step 2 batches")
        import pyarrow.compute as pc

        return pa.table(
            {"length": pc.utf8_length(batch.column("word")).cast(pa.int64()), "n": batch.column("n")}
        )

    def by_parity_batch(self, batch):
        import pyarrow as pa

        self.increment_counter("twin", "step 3 batches")
        import pyarrow.compute as pc

        one = pa.array([1] * batch.num_rows, pa.int64())
        parity = pc.bit_wise_and(batch.column("length"), pa.scalar(1, pa.int64()))
        return pa.table({"parity": parity, "total": batch.column("total"), "one": one})


if __name__ == "__main__":
    MRVectorMixed.run()
