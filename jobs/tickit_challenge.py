"""The Redshift TICKIT lab's challenge as a MapReduce job.

    SELECT firstname, lastname FROM users
    WHERE liketheatre AND likeclassical AND lastname = 'Smith';

Map: each ``users`` row that passes the WHERE clause (a NULL like fails it, as in SQL)
becomes ``None -> [lastname, firstname, userid]``; rows of any other table are ignored.
Reduce: the one ``None`` key gathers the (few) matches in a single reducer, which
writes them ordered by (lastname, firstname, userid) so the output is deterministic
(the SQL has no ORDER BY). Output lines: ``"firstname"\\t"lastname"``.

    python jobs/tickit_challenge.py -r engine data/sample/tickit/allusers_pipe.txt
    python jobs/tickit_challenge.py -r engine data/sample/tickit/parquet/users.parquet
"""

from __future__ import annotations

from engine.job import EngineMRJob
from jobs.tickit_rows import TableReader, arrow_fields, arrow_text_reader, fields

COLUMNS = ("userid", "firstname", "lastname", "liketheatre", "likeclassical")


class MRTickitChallenge(EngineMRJob):
    """Smiths who like theatre and classical music."""

    def mapper_init(self):
        self.tables = TableReader(["users"])

    def mapper(self, _, value):
        if self.tables.table() != "users":
            return
        userid, first, last, theatre, classical = fields("users", value, COLUMNS)
        # WHERE liketheatre AND likeclassical AND ...: NULL AND x is never true.
        if theatre is True and classical is True and last == "Smith":
            yield None, [last, first, userid]

    def reducer(self, _, rows):
        for last, first, _userid in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
            yield first, last

    def vector_steps(self):
        """The Arrow twin: the WHERE as a filter kernel, the ORDER BY as a table reducer."""
        from engine.arrow import VectorStep

        return [
            VectorStep(
                columns=COLUMNS,
                text_reader=arrow_text_reader(COLUMNS),
                mapper=self.smiths_batch,
                keys=("all",),
                reducer=self.in_order,
                output_keys=("firstname",),
                output_values=("lastname",),
            )
        ]

    def smiths_batch(self, batch):
        """The users rows that pass the WHERE (a NULL like fails it)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if TableReader(["users"]).table() != "users":
            return pa.table(
                {
                    "lastname": pa.array([], pa.string()),
                    "firstname": pa.array([], pa.string()),
                    "userid": pa.array([], pa.int64()),
                    "all": pa.array([], pa.int8()),
                }
            )
        cols = arrow_fields("users", batch, COLUMNS)
        where = pc.and_kleene(
            pc.and_kleene(cols["liketheatre"], cols["likeclassical"]), pc.equal(cols["lastname"], "Smith")
        )
        keep = pc.fill_null(where, False)
        rows = pa.table({n: pc.filter(cols[n], keep) for n in ("lastname", "firstname", "userid")})
        return rows.append_column("all", pa.nulls(rows.num_rows, pa.int8()))

    @staticmethod
    def in_order(table):
        return table.sort_by([("lastname", "ascending"), ("firstname", "ascending"), ("userid", "ascending")])


if __name__ == "__main__":
    MRTickitChallenge.run()
