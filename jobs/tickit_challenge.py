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
from jobs.tickit_rows import TableReader, fields

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


if __name__ == "__main__":
    MRTickitChallenge.run()
