"""Top k buyers by quantity: aggregate, top-k, reduce-side join with ``users``.

    SELECT firstname, lastname, total_quantity
    FROM (SELECT buyerid, sum(qtysold) total_quantity FROM sales
          GROUP BY buyerid ORDER BY total_quantity desc limit 10) Q, users
    WHERE Q.buyerid = userid ORDER BY Q.total_quantity desc;

Ties: ``ORDER BY total_quantity desc`` is broken on ``buyerid`` ascending, both in the
``LIMIT`` and in the final order (the DuckDB check adds ``, buyerid`` / ``, Q.buyerid``).

Step 1 (GROUP BY buyerid, and the join on buyerid = userid). Map: a ``sales`` row ->
``buyerid -> ["S", qtysold]``; a ``users`` row -> ``userid -> ["U", firstname,
lastname]``; other tables are ignored. Combine: ``S`` quantities summed map-side.
Reduce: per user id, the summed quantity of a buyer (an id with at least one sale) goes
on as ``None -> [total, buyerid, firstname, lastname]`` (names ``None`` if the buyer is
not in ``users``).
Step 2 (ORDER BY ... LIMIT k, then the join's WHERE). Combine: each map task keeps only
its k best by (total desc, buyerid asc) -- top-k is associative. Reduce: the one
``None`` key takes the k best overall and drops a buyer with no user row (the inner
join happens after the LIMIT, as in the SQL). Output lines, best first:
``["firstname", "lastname"]\\t<total_quantity>`` (tickets sold, a count: a JSON integer;
money, as in ``tickit_percentile_events``, is a decimal string with two places).

    python jobs/tickit_top_buyers.py -r engine --k 10 \\
        data/sample/tickit/sales_tab.txt data/sample/tickit/allusers_pipe.txt
"""

from __future__ import annotations

import heapq

from mrjob.step import MRStep

from engine.job import EngineMRJob
from jobs.tickit_rows import TableReader, arrow_fields, arrow_text_reader, fields, split_tagged


def _rank(row):
    """Sort key of ``[total, buyerid, ...]``: total descending, buyerid ascending."""
    return (-row[0], row[1])


class MRTickitTopBuyers(EngineMRJob):
    """The k buyers with the most tickets bought, with their names."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg(
            "--k", type=int, default=10, help="how many buyers (ORDER BY ... LIMIT k; default 10)"
        )

    def load_args(self, args):
        super().load_args(args)
        if self.options.k < 0:
            self.arg_parser.error("--k must be >= 0")

    def mapper_init(self):
        self.tables = TableReader(["sales", "users"])

    def mapper(self, _, value):
        table = self.tables.table()
        if table == "sales":
            buyerid, qty = fields("sales", value, ("buyerid", "qtysold"))
            yield buyerid, ["S", qty]
        elif table == "users":
            userid, first, last = fields("users", value, ("userid", "firstname", "lastname"))
            yield userid, ["U", first, last]

    def combiner(self, userid, tagged):
        total, other = split_tagged(tagged)
        for value in other:
            yield userid, value
        if total is not None:
            yield userid, ["S", total]

    def join_reducer(self, userid, tagged):
        total, other = split_tagged(tagged)
        names = [value[1:] for value in other]
        if total is None:  # a user who bought nothing is not in GROUP BY buyerid
            return
        if not names:
            names = [[None, None]]
        for first, last in names:
            yield None, [total, userid, first, last]

    def top_combiner(self, _, rows):
        for row in heapq.nsmallest(self.options.k, rows, key=_rank):
            yield None, row

    def top_reducer(self, _, rows):
        for total, _buyerid, first, last in heapq.nsmallest(self.options.k, rows, key=_rank):
            if first is not None or last is not None:  # WHERE Q.buyerid = userid
                yield [first, last], total

    def vector_steps(self):
        """The Arrow twin: sum per buyer joined with the names, then a top-k table step."""
        from engine.arrow import VectorStep, one_group

        columns = ("buyerid", "qtysold", "userid", "firstname", "lastname")
        return [
            VectorStep(
                columns=columns,
                text_reader=arrow_text_reader(columns),
                mapper=self.buyers_batch,
                keys=("buyerid",),
                aggregate={
                    "total": ("qty", "sum"),
                    "firstname": ("firstname", "first"),
                    "lastname": ("lastname", "first"),
                },
                reducer=self.buyers_only,
            ),
            VectorStep(
                mapper=one_group,
                keys=("all",),
                combiner=self.top_k,
                reducer=self.top_k_with_user,
                output_keys=("firstname", "lastname"),
                output_values=("total",),
            ),
        ]

    def buyers_batch(self, batch):
        """A sales batch → (buyerid, qty); a users batch → (buyerid, names); others: nothing."""
        import pyarrow as pa

        table = TableReader(["sales", "users"]).table()
        names = {"buyerid": pa.int64(), "qty": pa.int64(), "firstname": pa.string(), "lastname": pa.string()}
        if table == "sales":
            cols = arrow_fields("sales", batch, ("buyerid", "qtysold"))
            got = {"buyerid": cols["buyerid"], "qty": cols["qtysold"]}
        elif table == "users":
            cols = arrow_fields("users", batch, ("userid", "firstname", "lastname"))
            got = {"buyerid": cols["userid"], "firstname": cols["firstname"], "lastname": cols["lastname"]}
        else:
            got = {}
        n = batch.num_rows if got else 0
        return pa.table(
            {name: got.get(name, pa.nulls(n, kind)) for name, kind in names.items()},
        )

    @staticmethod
    def buyers_only(table):
        """GROUP BY buyerid keeps ids with at least one sale."""
        import pyarrow.compute as pc

        return table.filter(pc.is_valid(table.column("total")))

    def top_k(self, table):
        """ORDER BY total desc, buyerid LIMIT k (associative: safe as a combiner)."""
        ordered = table.sort_by([("total", "descending"), ("buyerid", "ascending")])
        return ordered.slice(0, self.options.k)

    def top_k_with_user(self, table):
        """The k best, then the join's WHERE: drop buyers without a users row."""
        import pyarrow.compute as pc

        top = self.top_k(table)
        known = pc.or_(pc.is_valid(top.column("firstname")), pc.is_valid(top.column("lastname")))
        return top.filter(known)

    def steps(self):
        return [
            MRStep(
                mapper_init=self.mapper_init,
                mapper=self.mapper,
                combiner=self.combiner,
                reducer=self.join_reducer,
            ),
            MRStep(combiner=self.top_combiner, reducer=self.top_reducer),
        ]


if __name__ == "__main__":
    MRTickitTopBuyers.run()
