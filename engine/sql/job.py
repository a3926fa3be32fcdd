"""``SqlJob``: one mrjob job class whose steps come from a compiled query's stage plan.

The plan (``engine.sql.stages``) arrives as the ``--sql-plan`` option, a single base64 word, so
the job runs unchanged wherever mrjob runs: ``-r engine`` (the default of ``python -m engine
sql``/``hive``), ``inline``, ``local``, ``hadoop``, ``emr``, ``spark``. Step ``i`` is stage ``i``;
how rows are keyed, carried and reduced is in ``engine.sql.stages``' docstring.

Run directly (what ``python -m engine sql`` does for you)::

    python -m engine.sql.job -r inline --sql-plan WORD INPUT...

This module is shipped to clusters: it imports mrjob and the record form only (no pyarrow, no
sqlglot), Python 3.9.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mrjob.compat import jobconf_from_env
from mrjob.protocol import RawValueProtocol
from mrjob.step import MRStep

from engine.job import EngineMRJob
from engine.sql import operators as ops
from engine.sql.catalog import RowReader, TableDef, table_for_path
from engine.sql.protocol import HiveTextProtocol, SqlRowsOutputProtocol, SqlValueProtocol, TsvTextProtocol
from engine.sql.stages import decode, stream_columns
from engine.sql.vector_plan import ARROW_MIN_BYTES, PARQUET_TEXT_FACTOR, record_stages, runs_arrow_form

#: How many carry keys spread carried rows over a step's reducers.
CARRY_KEYS = 64
#: The counter group of the row counts (``Stage-N rows out``, ``TABLE rows read``).
COUNTER_GROUP = "sql"
#: The stream of the record a step sends so that the next step (a global aggregate) has a map task.
SENTINEL = -1


class SqlJob(EngineMRJob):
    """Runs a compiled SQL query (``--sql-plan``)."""

    INPUT_PROTOCOL = RawValueProtocol
    INTERNAL_PROTOCOL = SqlValueProtocol

    def configure_args(self) -> None:
        super().configure_args()
        self.add_passthru_arg("--sql-plan", default=None, help="the compiled query (python -m engine sql)")
        self.add_passthru_arg(
            "--sql-output",
            default="rows",
            choices=("rows", "tsv", "hive"),
            help="rows: typed JSON rows (read back by python -m engine sql); tsv: the lines "
            "python -m engine sql prints with --format tsv; hive: Hive text files (\\x01 between "
            "fields, \\N for NULL)",
        )

        self.add_passthru_arg(
            "--sql-arrow-min-bytes",
            type=int,
            default=ARROW_MIN_BYTES,
            help="on -r engine, run the query's Arrow form (if it has one) when its tables' files "
            f"add up to at least this many bytes of text, a Parquet file counting {PARQUET_TEXT_FACTOR} "
            f"times its bytes (default {ARROW_MIN_BYTES}; 0: always)",
        )

    def output_protocol(self) -> Any:
        if self.options.sql_output == "hive":
            return HiveTextProtocol()
        if self.options.sql_output == "tsv":
            return TsvTextProtocol(self._plan()["dialect"])
        return SqlRowsOutputProtocol()

    # ------------------------------------------------------------------ the plan

    def _plan(self) -> Dict[str, Any]:
        if getattr(self, "_plan_cache", None) is None:
            if not self.options.sql_plan:
                self.arg_parser.error("--sql-plan is required (python -m engine sql compiles one)")
            self._plan_cache = decode(self.options.sql_plan)
            self._prepare(self._plan_cache)
        return self._plan_cache

    def _prepare(self, plan: Dict[str, Any]) -> None:
        stages = plan["stages"]
        self._tables = [TableDef.from_json(t) for t in plan["tables"]]
        # stream -> (consuming stage, input index)
        self._consumer: Dict[int, Tuple[int, int]] = {}
        self._table_streams: Dict[int, List[int]] = {}  # table -> the streams of the pipes over it
        self._pipe_fn: Dict[int, Any] = {}
        for s in stages:
            for k, inp in enumerate(s["inputs"]):
                for p in inp["pipes"]:
                    self._consumer[p["stream"]] = (s["id"], k)
                    if p["source"][0] == "table":
                        self._table_streams.setdefault(p["source"][1], []).append(p["stream"])
                    if p["ops"]:
                        self._pipe_fn[p["stream"]] = ops.pipe_function(p["ops"], self._tables)

    def steps(self) -> List[MRStep]:
        plan = self._plan()
        out = []
        last = len(plan["stages"]) - 1
        for s in plan["stages"]:
            i = s["id"]
            kwargs: Dict[str, Any] = {"mapper_init": self._init(i), "mapper": self._mapper(i)}
            if s["kind"] != "map":
                kwargs["reducer_init"] = self._init(i)
                kwargs["reducer"] = self._reducer(i, i == last)
                if s["kind"] in ("aggregate", "sort", "limit"):
                    kwargs["combiner_init"] = self._init(i)
                    kwargs["combiner"] = self._combiner(i)
                # SQL: an aggregate without GROUP BY has one row, also over no rows. mrjob's
                # inline/local runners choose their own number of reduce tasks, so it is not "the
                # one reducer emits it": every map task adds an empty partial instead (mapper_final),
                # and the step before sends a sentinel so that this step has a map task at all.
                kwargs["reducer_final"] = self._reducer_final(
                    i < last and _global_aggregate(plan["stages"][i + 1])
                )
            kwargs["mapper_final"] = self._mapper_final(i, _global_aggregate(s))
            # A "one reducer" stage needs no jobconf: all its rows share one key, so one reduce
            # task gets them whatever the reducer count (mrjob's inline and local runners choose
            # their own, and a step jobconf would make mrjob's Spark runner submit each step
            # on its own).
            out.append(MRStep(**kwargs))
        return out

    # ------------------------------------------------------------------ per-task state

    def _init(self, i: int) -> Any:
        def init() -> None:
            plan = self._plan()
            s = plan["stages"][i]
            self._stage = s
            self._carried = 0
            self._readers: Dict[str, List[Tuple[int, RowReader]]] = {}
            self._reader_of: Dict[int, RowReader] = {}
            self._columns_of = stream_columns(plan)  # only the columns the query reads are converted
            self._keys = [ops.key_function(inp["keys"]) for inp in s["inputs"]]
            self._dialect = plan["dialect"]
            self._aggs = (
                ops.Aggregates(s["spec"]["aggs"], self._dialect) if s["kind"] == "aggregate" else None
            )
            self._post = ops.pipe_function(s["post"], self._tables) if s["post"] else None
            self._header_left: Dict[Tuple[str, str], int] = {}
            # row counts, reported as counters when the task ends (_report_counts)
            self._rows_read = [0] * len(self._tables)
            self._rows_out = 0

        return init

    def _tables_of_input(self, path: str) -> List[Tuple[int, RowReader]]:
        """The tables (and their readers) of the input file *path*, found once per file."""
        hit = self._readers.get(path)
        if hit is None:
            idx = table_for_path(self._tables, path) if path else []
            if not idx and len(self._tables) == 1 and not path:
                idx = [0]
            if not idx:
                names = ", ".join(f"{t.name} ({', '.join(t.locations)})" for t in self._tables)
                raise ValueError(f"input file {path!r} is in no table's location: {names}")
            hit = []
            for t in idx:
                if t not in self._reader_of:
                    self._reader_of[t] = RowReader(self._tables[t], self._columns_of.get(t))
                hit.append((t, self._reader_of[t]))
            self._readers[path] = hit
        return hit

    def _skip_header(self, table: TableDef, path: str) -> bool:
        """``IGNOREHEADER n``: the first n lines of each file (only the split at offset 0 has them)."""
        if table.ignore_header <= 0:
            return False
        start = jobconf_from_env("mapreduce.map.input.start") or "0"
        if str(start) != "0":
            return False
        k = (table.name, path)
        left = self._header_left.setdefault(k, table.ignore_header)
        if left > 0:
            self._header_left[k] = left - 1
            return True
        return False

    # ------------------------------------------------------------------ mapper

    def _mapper(self, i: int) -> Any:
        def mapper(key: Any, value: Any) -> Iterator[Tuple[Any, Any]]:
            if i == 0:
                # per record: the file can change within a task (a split of packed small files)
                path = jobconf_from_env("mapreduce.map.input.file") or ""
                for t, reader in self._tables_of_input(path):
                    if self._skip_header(self._tables[t], path):
                        continue
                    row = reader.read(value, path or "stdin")
                    self._rows_read[t] += 1
                    for stream in self._table_streams.get(t, ()):
                        yield from self._route(i, stream, row)
            elif value[0] != SENTINEL:
                yield from self._route(i, value[0], value[1:])

        return mapper

    def _route(self, i: int, stream: int, row: List[Any]) -> Iterator[Tuple[Any, Any]]:
        f = self._pipe_fn.get(stream)
        stage_id, k = self._consumer[stream]
        if stage_id > i:
            # carried to a later step; the pipe runs where the rows are consumed
            self._carried += 1
            yield self._carried % CARRY_KEYS, [stream, *row]
            return
        s = self._stage
        for out in f(row) if f is not None else (row,):
            if s["kind"] == "map":
                self._rows_out += 1
                yield None, out
                continue
            key = self._keys[k](out)
            if self._aggs is not None:
                yield key, [k, *self._aggs.initial(out)]
            else:
                yield key, [k, *out]

    # ------------------------------------------------------------------ combiner

    def _combiner(self, i: int) -> Any:
        def combiner(key: Any, values: Any) -> Iterator[Tuple[Any, Any]]:
            if isinstance(key, int):
                for v in values:
                    yield key, v
                return
            s = self._stage
            if s["kind"] == "aggregate":
                yield key, [0, *self._merged(values)]
            elif s["kind"] == "sort" and s["spec"]["limit"] is not None:
                for row in ops.top_k((v[1:] for v in values), s["spec"]["keys"], s["spec"]["limit"]):
                    yield key, [0, *row]
            elif s["kind"] == "limit":
                for v in itertools.islice(values, s["spec"]["n"]):
                    yield key, v
            else:
                for v in values:
                    yield key, v

        return combiner

    # ------------------------------------------------------------------ reducer

    def _merged(self, values: Any) -> List[Any]:
        """One group's partial aggregate states (``[input, *states]`` each) merged into one."""
        state = None
        for v in values:
            state = v[1:] if state is None else self._aggs.merge(state, v[1:])  # type: ignore[union-attr]
        return state  # type: ignore[return-value]

    def _emit(self, row: List[Any], last: bool) -> Iterator[Tuple[Any, Any]]:
        for out in self._post(row) if self._post is not None else (row,):
            self._rows_out += 1
            yield None, (out if last else [self._stage["stream"], *out])

    def _reducer(self, i: int, last: bool) -> Any:
        def reducer(key: Any, values: Any) -> Iterator[Tuple[Any, Any]]:
            if isinstance(key, int):
                for v in values:
                    yield None, v
                return
            s = self._stage
            kind = s["kind"]
            if kind == "aggregate":
                yield from self._emit(list(key) + self._aggs.final(self._merged(values)), last)  # type: ignore[union-attr]
            elif kind == "join":
                sides: Tuple[List[Any], List[Any]] = ([], [])
                for v in values:
                    sides[v[0]].append(v[1:])
                for row in ops.join_rows(s["spec"], key, sides):
                    yield from self._emit(row, last)
            elif kind == "window":
                rows = [v[1:] for v in values]
                for row in ops.window_rows(s["spec"], rows, self._dialect):
                    yield from self._emit(row, last)
            elif kind == "sort":
                rows = ops.sort_rows([v[1:] for v in values], s["spec"]["keys"])
                limit = s["spec"]["limit"]
                for row in rows if limit is None else rows[:limit]:
                    yield from self._emit(row, last)
            elif kind == "limit":
                for v in itertools.islice(values, s["spec"]["n"]):
                    yield from self._emit(v[1:], last)
            else:  # pragma: no cover - the plan names no other kind
                raise ValueError(f"unknown stage kind {kind!r}")

        return reducer

    def _mapper_final(self, i: int, global_aggregate: bool) -> Any:
        def final() -> Iterator[Tuple[Any, Any]]:
            if global_aggregate:
                yield [], [0, *self._aggs.empty_states()]  # type: ignore[union-attr]
            self._report_counts()

        return final

    def _reducer_final(self, sentinel: bool) -> Any:
        def final() -> Iterator[Tuple[Any, Any]]:
            if sentinel:
                yield None, [SENTINEL]
            self._report_counts()

        return final

    # ------------------------------------------------------------------ the Arrow form

    def offers_vector_steps(self) -> bool:
        """Whether ``-r engine`` should run the Arrow form (``vector_plan.runs_arrow_form``: a
        stage of the plan has one, and its tables are large enough). Asked by the driver before
        it builds anything, so the driver imports no pyarrow."""
        return runs_arrow_form(self._plan(), self.options.sql_arrow_min_bytes)

    def vector_record_steps(self) -> List[int]:
        """The steps the Arrow form leaves to the record form (``vector_plan.record_stages``:
        EXPLAIN names each one's reason); the engine hands the rows across between them."""
        return sorted(record_stages(self._plan()))

    def vector_steps(self) -> Optional[List[Any]]:
        """The plan's Arrow form (``engine.sql.vector``): a ``VectorStep`` per stage that has
        one, ``None`` for a stage that runs on the record form (``vector_record_steps``), or
        ``None`` when no stage has one; only ``-r engine`` asks, and ``--no-vectorize`` keeps
        the record form."""
        plan = self._plan()
        record = record_stages(plan)
        if len(record) == len(plan["stages"]):
            return None
        from engine.sql.vector import ArrowForm  # pyarrow: the engine's side only

        return ArrowForm(plan, self._count, self.options.sql_output, record).steps()

    def _count(self, name: str, n: int) -> None:
        if n:
            self.increment_counter(COUNTER_GROUP, name, n)

    def report_sections(
        self, counters: List[Dict[str, Dict[str, int]]], phases: List[Dict[str, Any]]
    ) -> List[Tuple[str, str]]:
        """The run report's SQL section (``engine.history``): the stage plan as EXPLAIN prints it,
        then the rows each stage put out and each table read (the run's *counters* per step), and
        the seconds of each wave (*phases*; Stage-N is step N, and a wave may end one step's
        reduce and begin the next one's map), as EXPLAIN ANALYZE prints them."""
        from engine.mrjob_bridge import Counters  # the driver's side only

        plan = self._plan()
        total = Counters()
        for step in counters:
            total.merge(step)
        rows = total.get(COUNTER_GROUP, {})
        names = [f"Stage-{s['id'] + 1} rows out" for s in plan["stages"]]
        # the tables the mappers read (a broadcast side is read whole by every task, uncounted)
        names += [f"{t.name} rows read" for i, t in enumerate(self._tables) if i in self._table_streams]
        lines = [f"{name}: {rows.get(name, 0)}" for name in names]
        lines += [f"wave {p['name']}: {p['seconds']:.2f} s, {p['records_in']} records in" for p in phases]
        return [("SQL stage plan", plan.get("explain", "") + "\n" + "\n".join(lines) + "\n")]

    def _report_counts(self) -> None:
        """The task's row counts as counters (group ``sql``), once per task: EXPLAIN ANALYZE reads them."""
        for table, n in zip(self._tables, self._rows_read):
            if n:
                self.increment_counter(COUNTER_GROUP, f"{table.name} rows read", n)
        if self._rows_out:
            self.increment_counter(COUNTER_GROUP, f"Stage-{self._stage['id'] + 1} rows out", self._rows_out)


def _global_aggregate(stage: Dict[str, Any]) -> bool:
    return stage["kind"] == "aggregate" and stage["spec"]["nkeys"] == 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    SqlJob.run()
