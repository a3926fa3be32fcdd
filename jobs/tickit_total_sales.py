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
from jobs.tickit_rows import TableReader, fields


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
        total = None
        for value in tagged:
            if value[0] == "S":
                total = value[1] if total is None else total + value[1]
            else:
                yield dateid, value
        if total is not None:
            yield dateid, ["S", total]

    def join_reducer(self, dateid, tagged):
        total = None
        caldates = []
        for value in tagged:
            if value[0] == "S":
                total = value[1] if total is None else total + value[1]
            else:
                caldates.append(value[1])
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
