"""Total tickets sold on a calendar date: a reduce-side join of ``sales`` and ``date``.

    SELECT sum(qtysold) FROM sales, date
    WHERE sales.dateid = date.dateid AND caldate = '2008-01-05';

Step 1 (join on dateid). Map: a ``sales`` row -> ``dateid -> ["S", qtysold]``; a
``date`` row whose caldate is ``--date`` -> ``dateid -> ["D", caldate]``; other tables
are ignored. Combine: the ``S`` quantities of a dateid are summed map-side (365 keys,
so the shuffle carries a few hundred pairs per map task, not one per sale). Reduce: a
dateid that has a ``D`` tag is on the wanted date, and its summed quantity goes on as
``None -> [caldate, sum]`` (sum ``None`` if no sale joined: SQL's NULL).
Step 2 (the outer sum). Reduce: the one ``None`` key adds up the per-dateid sums.
Output: one line ``"2008-01-05"\\t<sum>``; none if the date is not in the date table
(where SQL returns one NULL row).

    python jobs/tickit_total_sales.py -r engine --date 2008-01-05 \\
        data/sample/tickit/sales_tab.txt data/sample/tickit/date2008_pipe.txt
"""

from __future__ import annotations

import datetime as dt

from mrjob.step import MRStep

from engine.job import EngineMRJob
from jobs.tickit_rows import TableReader, arrow_fields, arrow_text_reader, fields, split_tagged


class MRTickitTotalSales(EngineMRJob):
    """sum(qtysold) of the sales made on one calendar date."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg(
            "--date", default="2008-01-05", help="calendar date YYYY-MM-DD (default 2008-01-05)"
        )

    def load_args(self, args):
        super().load_args(args)
        try:
            self.options.date = dt.date.fromisoformat(self.options.date).isoformat()
        except ValueError:
            self.arg_parser.error(f"--date {self.options.date!r} is not a YYYY-MM-DD date")

    def mapper_init(self):
        self.tables = TableReader(["sales", "date"])

    def mapper(self, _, value):
        table = self.tables.table()
        if table == "sales":
            dateid, qty = fields("sales", value, ("dateid", "qtysold"))
            yield dateid, ["S", qty]
        elif table == "date":
            dateid, caldate = fields("date", value, ("dateid", "caldate"))
            if caldate == self.options.date:
                yield dateid, ["D", caldate]

    def combiner(self, dateid, tagged):
        total, other = split_tagged(tagged)
        for value in other:
            yield dateid, value
        if total is not None:
            yield dateid, ["S", total]

    def join_reducer(self, dateid, tagged):
        total, other = split_tagged(tagged)
        caldates = [value[1] for value in other]
        for caldate in caldates:  # one per date row: an inner join
            yield None, [caldate, total]

    def sum_reducer(self, _, partials):
        by_date = {}
        for caldate, total in partials:
            if total is not None:
                by_date[caldate] = by_date.get(caldate, 0) + total
            else:
                by_date.setdefault(caldate, None)
        for caldate in sorted(by_date):
            yield caldate, by_date[caldate]

    def vector_steps(self):
        """The Arrow twin: the join on dateid with the sum per dateid, then the outer sum."""
        from engine.arrow import VectorStep, one_group

        return [
            VectorStep(
                columns=("dateid", "qtysold", "caldate"),
                text_reader=arrow_text_reader(("dateid", "qtysold", "caldate")),
                mapper=self.dated_sales_batch,
                keys=("dateid",),
                aggregate={"total": ("qty", "sum"), "caldate": ("caldate", "first")},
                reducer=self.on_the_date,
            ),
            VectorStep(
                mapper=one_group,
                keys=("all",),
                reducer=self.sum_per_date,
                output_keys=("caldate",),
                output_values=("total",),
            ),
        ]

    def dated_sales_batch(self, batch):
        """A sales batch → (dateid, qty); the date row of ``--date`` → (dateid, caldate)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = TableReader(["sales", "date"]).table()
        empty = {"dateid": pa.int64(), "qty": pa.int64(), "caldate": pa.string()}
        if table == "sales":
            cols = arrow_fields("sales", batch, ("dateid", "qtysold"))
            got = {"dateid": cols["dateid"], "qty": cols["qtysold"]}
        elif table == "date":
            cols = arrow_fields("date", batch, ("dateid", "caldate"))
            keep = pc.fill_null(pc.equal(cols["caldate"], self.options.date), False)
            got = {"dateid": pc.filter(cols["dateid"], keep), "caldate": pc.filter(cols["caldate"], keep)}
        else:
            return pa.table({name: pa.array([], kind) for name, kind in empty.items()})
        n = len(got["dateid"])
        return pa.table({name: got.get(name, pa.nulls(n, kind)) for name, kind in empty.items()})

    @staticmethod
    def on_the_date(table):
        """The inner join: only dateids that have the wanted date row."""
        import pyarrow.compute as pc

        return table.filter(pc.is_valid(table.column("caldate")))

    @staticmethod
    def sum_per_date(table):
        """sum() over the joined rows, one row per caldate, in caldate order."""
        import pyarrow as pa

        summed = table.group_by("caldate", use_threads=False).aggregate([("total", "sum")])
        summed = summed.select(["caldate", "total_sum"]).rename_columns(["caldate", "total"])
        return summed.sort_by("caldate").append_column("all", pa.nulls(summed.num_rows, pa.int8()))

    def steps(self):
        return [
            MRStep(
                mapper_init=self.mapper_init,
                mapper=self.mapper,
                combiner=self.combiner,
                reducer=self.join_reducer,
            ),
            MRStep(reducer=self.sum_reducer),
        ]


if __name__ == "__main__":
    MRTickitTotalSales.run()
