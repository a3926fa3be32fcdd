"""Events in the 99.9 percentile of all-time gross sales: aggregate, ntile, join.

    SELECT eventname, total_price
    FROM (SELECT eventid, total_price,
                 ntile(1000) over(order by total_price desc) as percentile
          FROM (SELECT eventid, sum(pricepaid) total_price FROM sales GROUP BY eventid)) Q,
         event E
    WHERE Q.eventid = E.eventid AND percentile = 1
    ORDER BY total_price desc;

Ties: ``order by total_price desc`` is broken on ``eventid`` ascending, both inside
``ntile`` and in the final order (the DuckDB check adds ``, eventid``).

``ntile(n)`` over N rows gives bucket 1 the first ``ceil(N / n)`` rows (the first
``N mod n`` buckets hold one row more than the others; with N < n every row is a
bucket of its own), so ``percentile = 1`` is the top ``ceil(N / 1000)`` events.

Step 1 (GROUP BY eventid, and the join on eventid). Map: a ``sales`` row ->
``eventid -> ["S", pricepaid cents]``; an ``event`` row -> ``eventid -> ["E",
eventname]``; other tables are ignored. Combine: ``S`` amounts summed map-side.
Reduce: per eventid with sales -> ``None -> [total cents, eventid, eventname]``
(eventname ``None`` if the event is not in ``event``).
Step 2 (the window function over all events). Reduce: the one ``None`` key receives one
row per sold event (at most the size of ``event``, whatever the number of sales),
counts them (N), sorts by (total desc, eventid asc), keeps the first ``ceil(N/1000)``
and drops those without an event row (the join happens after ntile, as in the SQL).
Output lines, best first: ``"eventname"\\t"12345.00"``: money is output as the exact
decimal, a string with two places (a JSON number would be a float); counts are integers.

    python jobs/tickit_percentile_events.py -r engine \\
        data/sample/tickit/sales_tab.txt data/sample/tickit/allevents_pipe.txt
"""

from __future__ import annotations

from mrjob.step import MRStep

from engine.job import EngineMRJob
from jobs.tickit_rows import TableReader, arrow_fields, arrow_text_reader, fields, format_cents

BUCKETS = 1000  # ntile(1000): percentile = 1 is the 99.9 percentile


def first_bucket_size(rows: int, buckets: int = BUCKETS) -> int:
    """How many of ``rows`` ordered rows ``ntile(buckets)`` puts in bucket 1."""
    if rows <= 0:
        return 0
    return -(-rows // buckets)


class MRTickitPercentileEvents(EngineMRJob):
    """The events in the top 0.1% by gross sales, with their names."""

    def mapper_init(self):
        self.tables = TableReader(["sales", "event"])

    def mapper(self, _, value):
        table = self.tables.table()
        if table == "sales":
            eventid, paid = fields("sales", value, ("eventid", "pricepaid"))
            yield eventid, ["S", paid]  # paid None (NULL) is skipped by the sum
        elif table == "event":
            eventid, name = fields("event", value, ("eventid", "eventname"))
            yield eventid, ["E", name]

    @staticmethod
    def _sum(tagged, other):
        """Sum of the ``S`` amounts (``None`` if all NULL) and the other tagged values."""
        total = None
        seen = False
        for value in tagged:
            if value[0] == "S":
                seen = True
                if value[1] is not None:
                    total = value[1] if total is None else total + value[1]
            else:
                other.append(value)
        return seen, total

    def combiner(self, eventid, tagged):
        other = []
        seen, total = self._sum(tagged, other)
        for value in other:
            yield eventid, value
        if seen:
            yield eventid, ["S", total]

    def join_reducer(self, eventid, tagged):
        other = []
        seen, total = self._sum(tagged, other)
        if not seen:  # an event without sales is not in GROUP BY eventid
            return
        names = [value[1] for value in other] or [None]
        for name in names:
            yield None, [total, eventid, name, bool(other)]

    def ntile_reducer(self, _, rows):
        rows = list(rows)
        # ORDER BY total_price desc, eventid asc. A NULL total (every pricepaid of the
        # event NULL; the generator writes none) sorts last, as in DuckDB (Redshift
        # would sort it first).
        rows.sort(key=lambda r: (r[0] is None, -(r[0] or 0), r[1]))
        for total, _eventid, name, joined in rows[: first_bucket_size(len(rows))]:
            if joined:  # WHERE Q.eventid = E.eventid
                yield name, None if total is None else format_cents(total)

    def vector_steps(self):
        """The Arrow twin: gross sales per event joined with its name, then ntile's first bucket."""
        from engine.arrow import VectorStep, one_group

        return [
            VectorStep(
                columns=("eventid", "pricepaid", "eventname"),
                text_reader=arrow_text_reader(("eventid", "pricepaid", "eventname")),
                mapper=self.events_batch,
                keys=("eventid",),
                aggregate={
                    "total": ("paid", "sum"),
                    "sales": ("is_sale", "count"),
                    "name": ("name", "first"),
                    "joined": ("is_event", "max"),
                },
                reducer=self.sold_events,
            ),
            VectorStep(
                mapper=one_group,
                keys=("all",),
                reducer=self.first_bucket,
                output_keys=("name",),
                value=lambda row: None if row["total"] is None else format_cents(row["total"]),
            ),
        ]

    def events_batch(self, batch):
        """A sales batch → (eventid, cents); an event batch → (eventid, name)."""
        import pyarrow as pa

        table = TableReader(["sales", "event"]).table()
        kinds = {
            "eventid": pa.int64(),
            "paid": pa.int64(),
            "is_sale": pa.int8(),
            "name": pa.string(),
            "is_event": pa.bool_(),
        }
        if table == "sales":
            cols = arrow_fields("sales", batch, ("eventid", "pricepaid"))
            n = batch.num_rows
            got = {
                "eventid": cols["eventid"],
                "paid": cols["pricepaid"],
                "is_sale": pa.repeat(pa.scalar(1, pa.int8()), n),
            }
        elif table == "event":
            cols = arrow_fields("event", batch, ("eventid", "eventname"))
            n = batch.num_rows
            got = {
                "eventid": cols["eventid"],
                "name": cols["eventname"],
                "is_event": pa.repeat(pa.scalar(True), n),
            }
        else:
            n, got = 0, {}
        return pa.table({name: got.get(name, pa.nulls(n, kind)) for name, kind in kinds.items()})

    @staticmethod
    def sold_events(table):
        """GROUP BY eventid keeps events with at least one sale."""
        import pyarrow.compute as pc

        joined = pc.fill_null(table.column("joined"), False)
        table = table.set_column(table.schema.get_field_index("joined"), "joined", joined)
        return table.filter(pc.greater(table.column("sales"), 0))

    @staticmethod
    def first_bucket(table):
        """ORDER BY total desc (NULL last: Arrow's default), eventid; ntile(1000)'s first
        bucket; then the join's WHERE."""
        ordered = table.sort_by([("total", "descending"), ("eventid", "ascending")])
        bucket = ordered.slice(0, first_bucket_size(ordered.num_rows))
        return bucket.filter(bucket.column("joined"))

    def steps(self):
        return [
            MRStep(
                mapper_init=self.mapper_init,
                mapper=self.mapper,
                combiner=self.combiner,
                reducer=self.join_reducer,
            ),
            MRStep(reducer=self.ntile_reducer),
        ]


if __name__ == "__main__":
    MRTickitPercentileEvents.run()
