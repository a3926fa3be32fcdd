"""A SQL session: runs a script's statements in order against a catalog of tables.

Statements (sqlglot parses the whole script; it is never split on ``;`` by hand, as Hive's regex
literals hold ``\\;``):

* ``CREATE [EXTERNAL] TABLE [IF NOT EXISTS] t (...)`` with Hive's ``ROW FORMAT DELIMITED FIELDS
  TERMINATED BY`` / ``ROW FORMAT SERDE '...RegexSerDe' WITH SERDEPROPERTIES ("input.regex" = ...)``
  / ``STORED AS TEXTFILE|PARQUET`` / ``LOCATION``, or Redshift's column list (its ``distkey``,
  ``sortkey`` and ``encode`` blanked first): defines a table; nothing is read or written.
* ``COPY t FROM 'path' [DELIMITER 'c'] [TIMEFORMAT '...'] [DATEFORMAT '...'] [IGNOREHEADER n]
  [FORMAT AS PARQUET] [REGION ...] [CREDENTIALS ...]``: points the table at its files (read in place
  when the query runs; ``COPY n`` on stderr counts the files' rows); credentials and region are
  accepted and ignored.
* ``SELECT``/``WITH``/``UNION``: compiled (``engine.sql.compile``), cut into stages
  (``engine.sql.stages``) and run as one mrjob job (``engine.sql.job``); the rows are returned.
* ``INSERT OVERWRITE [LOCAL] DIRECTORY 'dir' SELECT ...`` (also Hive's ``FROM t INSERT OVERWRITE
  ... [INSERT OVERWRITE ...]``, one statement per INSERT): the rows as Hive text files
  ``000000_0``... in *dir*, committed all or nothing.
* ``EXPLAIN [ANALYZE] SELECT ...``: the stage plan (``engine.sql.explain``).
* ``SET k=v``, ``USE db``, ``DROP TABLE [IF EXISTS]``: as Hive/Redshift mean them, for a session.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import sqlglot
from sqlglot import exp

from engine import startup_gc
from engine.errors import JobDefinitionError
from engine.sql import stages as S
from engine.sql.catalog import TableDef, local_size
from engine.sql.compile import AST, Catalog, Compiler, refuse, where
from engine.sql.errors import SqlError
from engine.sql.prune import prune_plan
from engine.sql.types import parse_type

# sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'" for EXPLAIN, which
# the session handles itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

HIVE_REGEX_SERDE = "org.apache.hadoop.hive.serde2.RegexSerDe"
_FORMAT_ELEMENTS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH24": "%H", "HH": "%H", "MI": "%M", "SS": "%S"}
_FORMAT_ELEMENT = re.compile("|".join(sorted(_FORMAT_ELEMENTS, key=len, reverse=True)))


def redshift_format(fmt: str) -> str:
    """A COPY ``TIMEFORMAT``/``DATEFORMAT`` (``'MM/DD/YYYY HH:MI:SS'``) as strptime's."""
    if fmt.lower() == "auto":
        return "%Y-%m-%d %H:%M:%S"
    if any(re.search("[A-Za-z%]", rest) for rest in _FORMAT_ELEMENT.split(fmt)):
        raise ValueError(f"unknown element in the datetime format {fmt!r} (YYYY MM DD HH24 HH MI SS)")
    return _FORMAT_ELEMENT.sub(lambda m: _FORMAT_ELEMENTS[m.group(0)], fmt)


@dataclass
class Result:
    """What one statement gave: rows (a query), a status line, or an EXPLAIN text; a query of a
    session with a ``text_format`` gives its rows as that text (``text``, a line a row)."""

    columns: List[str] = field(default_factory=list)
    rows: Optional[List[tuple]] = None
    status: str = ""
    explain: str = ""
    text: Optional[bytes] = None

    @property
    def count(self) -> int:
        """The rows the query gave."""
        return len(self.rows) if self.rows is not None else (self.text or b"").count(b"\n")


def engine_broadcast_bytes(job_args: Sequence[str], arrow_form: bool = False) -> int:
    """The engine's default broadcast limit: Hive's 25 MB, or more where the memory budget
    allows: a quarter of it for a query that runs on the Arrow form (128 MiB of the default
    512M), a quarter shared among the workers for one on the record form (64 MiB for 2
    workers, 8 MiB for 16).

    The Arrow form reads the side once per job: one task writes it as Arrow files that every
    worker maps (``engine.sql.vector.broadcast_join``), so the side's pages are in memory once
    however many workers probe it, and so are those of its hash index (~32 bytes a row, built
    once, for a join that needs one). The limit compares the side's files, as Hive's does: a
    Parquet side takes several times its bytes in memory. The record form's every worker holds
    the side as Python objects, so its limit is shared among them. Against a shuffled join, a
    broadcast saves partitioning, writing and sorting both sides, which costs more than reading
    a side of tens of MB (AMPLab 3A: bench/RESULTS.md) -- at 16 workers too, where the shared
    limit would shuffle 3A's 41 MB of rankings."""
    from engine.options import DEFAULT_MEMORY_BUDGET, parse_size, resolve_one

    raw = _switch_values(job_args, ("--memory-budget", "--num-cores"))
    try:
        budget = parse_size(raw["--memory-budget"], DEFAULT_MEMORY_BUDGET, "--memory-budget")
        workers = resolve_one("num_cores", raw["--num-cores"] and int(raw["--num-cores"]))
    except (ValueError, JobDefinitionError):  # the job itself says what is wrong with them
        return S.BROADCAST_BYTES
    sharing = 1 if arrow_form else max(1, int(workers))
    return max(S.BROADCAST_BYTES, budget // (4 * sharing))


def _switch_values(job_args: Sequence[str], switches: Sequence[str]) -> Dict[str, Optional[str]]:
    """The last value each of *switches* has in *job_args* (``--x V`` or ``--x=V``), else None."""
    raw: Dict[str, Optional[str]] = {switch: None for switch in switches}
    args = list(job_args)
    for k, a in enumerate(args):
        for switch in raw:
            if a == switch and k + 1 < len(args):
                raw[switch] = args[k + 1]
            elif a.startswith(switch + "="):
                raw[switch] = a.split("=", 1)[1]
    return raw


@dataclass
class Session:
    """The tables defined so far and how queries run (runner, engine switches)."""

    dialect: str  # hive | redshift
    runner: str = "engine"
    job_args: List[str] = field(default_factory=list)  # more switches for the job (--num-cores 2 ...)
    tables: Dict[str, TableDef] = field(default_factory=dict)
    broadcast_limit: Optional[int] = None  # bytes; None: the settings decide (broadcast_bytes), 0: never
    last_counters: Dict[str, Dict[str, int]] = field(default_factory=dict)  # of the last run
    last_waves: List[Tuple[str, float, int, int]] = field(default_factory=list)  # the engine's, ditto
    settings: Dict[str, str] = field(default_factory=dict)
    # "tsv": a query's Result holds the lines results.write_rows would print in that format,
    # written by the job's last step (a column at a time on the Arrow form), not its rows
    text_format: Optional[str] = None

    # ------------------------------------------------------------------ statements

    def parse(self, text: str) -> List[AST]:
        """The statements of a script (after variable substitution)."""
        if self.dialect == "redshift":
            from engine.sql.script import blank_redshift_column_attributes

            text = blank_redshift_column_attributes(text)
        else:
            from engine.sql.script import rewrite_hive_from_first

            text = rewrite_hive_from_first(text)
        try:
            return [s for s in sqlglot.parse(text, read=self.dialect) if s is not None]
        except sqlglot.errors.ParseError as e:
            err = e.errors[0] if e.errors else {}
            raise SqlError(
                f"syntax error: {err.get('description') or e}", err.get("line"), err.get("col")
            ) from None
        except sqlglot.errors.TokenError as e:
            raise SqlError(f"syntax error: {e}") from None

    def execute(self, statement: AST, explain_only: bool = False) -> Result:
        """Runs one statement."""
        if isinstance(statement, exp.Create):
            return self._create(statement)
        if isinstance(statement, exp.Copy):
            return self._copy(statement)
        if isinstance(statement, exp.Drop):
            name = statement.this.name.lower()
            if name not in self.tables and not statement.args.get("exists"):
                raise refuse(statement, f"DROP TABLE {name}: no such table")
            self.tables.pop(name, None)
            return Result(status=f"DROP TABLE {name} (its files are left in place)")
        if isinstance(statement, exp.Set):
            for item in statement.expressions:
                eq = item.this
                if isinstance(eq, exp.EQ):
                    value = eq.expression  # a literal's text; else as written (false: a Boolean)
                    text = value.name if isinstance(value, exp.Literal) else value.sql(dialect=self.dialect)
                    name = eq.this  # its parts' names: a keyword part (join) is not quoted
                    key = ".".join(p.name for p in name.parts) if isinstance(name, exp.Column) else name.name
                    self.settings[key.lower()] = text
            return Result(status="")
        if isinstance(statement, exp.Use) or (
            isinstance(statement, exp.Command) and statement.name.upper() in ("SET", "USE", "ADD")
        ):
            return Result(status="")
        if isinstance(statement, exp.Insert):
            return self._insert(statement, explain_only)
        if _is_explain(statement):
            analyze, query = _explain_parts(statement, self.dialect)
            return self.explain(query, analyze)
        if isinstance(statement, (exp.Query, exp.Subquery)):
            if explain_only:
                return self.explain(statement, False)
            return self.query(statement)
        raise refuse(
            statement,
            f"{_statement_name(statement)} statements are not supported (CREATE TABLE, "
            "COPY, SELECT, INSERT OVERWRITE DIRECTORY, EXPLAIN)",
        )

    # ------------------------------------------------------------------ DDL

    def _create(self, st: exp.Create) -> Result:
        kind = (st.args.get("kind") or "").upper()
        if kind != "TABLE":
            raise refuse(st, f"CREATE {kind} is not supported (CREATE [EXTERNAL] TABLE)")
        if st.expression is not None:
            raise refuse(st, "CREATE TABLE ... AS SELECT is not supported: use INSERT OVERWRITE DIRECTORY")
        schema = st.this
        if not isinstance(schema, exp.Schema):
            raise refuse(st, "CREATE TABLE needs a column list")
        name = schema.this.name.lower()
        if name in self.tables:
            if st.args.get("exists"):
                return Result(status=f"table {name} exists")
            raise refuse(st, f"table {name} is already defined")
        columns = []
        for c in schema.expressions:
            if not isinstance(c, exp.ColumnDef):
                raise refuse(c, f"table constraint {c.sql()} is not supported")
            t = parse_type(c.args["kind"].sql()) if c.args.get("kind") is not None else None
            if t is None:
                raise refuse(
                    c,
                    f"column {c.name}: type {c.args.get('kind')} is not supported (int, smallint, "
                    "bigint, decimal(p,s), double, float, string, varchar, char, boolean, date, timestamp)",
                )
            columns.append((c.name.lower(), str(t)))
        td = TableDef(name, tuple(columns))
        if self.dialect == "redshift":
            td = replace(td, delimiter="|", null_marker=None, empty_is_null=True)
        props = st.args.get("properties")
        for p in props.expressions if props is not None else []:
            td = self._table_property(td, p)
        self.tables[name] = td
        return Result(status=f"CREATE TABLE {name}")

    def _table_property(self, td: TableDef, p: AST) -> TableDef:
        if isinstance(p, exp.LocationProperty):
            return replace(td, locations=(_absolute(p.this.name),))
        if isinstance(p, exp.RowFormatSerdeProperty):
            serde = p.this.name
            if serde != HIVE_REGEX_SERDE:
                raise refuse(
                    p, f"SerDe {serde} is not supported ({HIVE_REGEX_SERDE}, or ROW FORMAT DELIMITED)"
                )
            props = p.args.get("serde_properties")
            regex = None
            for q in props.expressions if props is not None else []:
                if q.this.name == "input.regex":
                    regex = q.args["value"].name
            if regex is None:
                raise refuse(p, 'RegexSerDe needs SERDEPROPERTIES ("input.regex" = "...")')
            try:
                groups = re.compile(regex).groups
            except re.error as e:
                raise refuse(p, f"input.regex does not compile: {e}") from None
            if groups != len(td.columns):
                raise refuse(p, f"input.regex has {groups} groups and the table {len(td.columns)} columns")
            return replace(td, format="regex", regex=regex, lenient=True)
        if isinstance(p, exp.RowFormatDelimitedProperty):
            fields = p.args.get("fields")
            if fields is not None:
                td = replace(td, delimiter=_unescape_hive(fields.name))
            null = p.args.get("null")
            if null is not None:
                td = replace(td, null_marker=_unescape_hive(null.name))
            return td
        if isinstance(p, exp.FileFormatProperty):
            f = p.this.name.upper() if p.this is not None else ""
            if f == "PARQUET":
                return replace(td, format="parquet")
            if f in ("TEXTFILE", ""):
                return td
            raise refuse(p, f"STORED AS {f} is not supported (TEXTFILE, PARQUET)")
        if isinstance(p, (exp.ExternalProperty, exp.TemporaryProperty)):
            return td
        if type(p).__name__ in (
            "DistKeyProperty",
            "SortKeyProperty",
            "DistStyleProperty",
            "TblPropertiesProperty",
            "SchemaCommentProperty",
            "Property",
        ):
            return td
        raise refuse(p, f"table property {p.sql(dialect=self.dialect)[:60]} is not supported")

    def _copy(self, st: exp.Copy) -> Result:
        name = st.this.name.lower()
        if name not in self.tables:
            raise refuse(st, f"COPY {name}: no such table (CREATE TABLE {name} first)")
        if not st.args.get("kind", True):
            raise refuse(st, "COPY ... TO (unload) is not supported")
        files = [f.name for f in st.args.get("files") or []]
        td = self.tables[name]
        td = replace(td, locations=tuple(_absolute(f) for f in files))
        for p in st.args.get("params") or []:
            key = p.this.name.lower()
            value = p.args.get("expression")
            text = value.name if value is not None else ""
            if key == "delimiter":
                td = replace(td, delimiter=text)
            elif key in ("timeformat", "dateformat"):
                try:
                    fmt = redshift_format(text)
                except ValueError as e:
                    raise refuse(p, str(e)) from None
                td = replace(td, timeformat=fmt) if key == "timeformat" else replace(td, dateformat=fmt)
            elif key == "ignoreheader":
                td = replace(td, ignore_header=int(text))
            elif key == "format":
                f = text.upper()
                if f == "PARQUET":
                    td = replace(td, format="parquet")
                elif f not in ("CSV", "TEXT", ""):
                    raise refuse(p, f"COPY ... FORMAT AS {f} is not supported (PARQUET, or delimited text)")
                elif f == "CSV":
                    raise refuse(
                        p, "COPY ... FORMAT AS CSV is not supported (DELIMITER ',' reads unquoted CSV)"
                    )
            elif key in (
                "region",
                "iam_role",
                "credentials",
                "access_key_id",
                "secret_access_key",
                "session_token",
                "emptyasnull",
                "blanksasnull",
                "compupdate",
                "statupdate",
                "acceptinvchars",
                "truncatecolumns",
                "gzip",
                "bzip2",
                "maxerror",
            ):
                continue
            else:
                raise refuse(
                    p,
                    f"COPY option {key.upper()} is not supported (DELIMITER, TIMEFORMAT, DATEFORMAT, "
                    "IGNOREHEADER, FORMAT AS PARQUET, REGION, CREDENTIALS)",
                )
        if td.format == "parquet" and td.ignore_header:
            # Redshift refuses it too: a columnar file has no header lines
            raise refuse(st, f"COPY {name}: IGNOREHEADER is for text; a Parquet file has no header lines")
        for f in files:
            if "://" not in f and not os.path.exists(f):
                raise refuse(st, f"COPY {name} FROM {f!r}: no such file or directory")
        self.tables[name] = td
        return Result(status=f"COPY {name} from {len(files)} location(s) (read in place when queried)")

    # ------------------------------------------------------------------ queries

    def catalog(self) -> Catalog:
        return Catalog(dict(self.tables))

    def compile(self, query: AST) -> S.StagePlan:
        """The stage plan of one query."""
        compiler = Compiler(self.catalog(), self.dialect)
        root = prune_plan(compiler.compile(query))
        # Cut for the Arrow form's broadcast limit first: the plan tells which form runs it,
        # and a plan the record form runs is cut again for that form's (shared) limit.
        limit = self.broadcast_bytes(arrow_form=True)
        plan = S.cut(root, self.dialect, local_size, limit)
        record_limit = self.broadcast_bytes(arrow_form=False)
        if record_limit != limit and self._loads_sides_on_record_form(plan):
            plan = S.cut(root, self.dialect, local_size, record_limit)
        for t in plan.tables:
            if not t.locations:
                raise SqlError(
                    f"table {t.name} has no files: give it a LOCATION (Hive) or COPY it (Redshift)"
                )
        return plan

    def query(self, query: AST) -> Result:
        plan = self.compile(query)
        columns = [n for n, _ in plan.columns]
        if self.text_format is not None:
            return Result(columns=columns, text=self.run_text(plan, self.text_format))
        return Result(columns=columns, rows=self.run(plan))

    def explain(self, query: AST, analyze: bool) -> Result:
        from engine.sql.explain import explain_text

        if isinstance(query, exp.Insert):
            query = query.expression
        plan = self.compile(query)
        timings = None
        if analyze:
            start = time.monotonic()
            rows = self.run(plan)
            timings = {
                "rows": len(rows),
                "seconds": time.monotonic() - start,
                "counters": self.last_counters.get("sql", {}),
                "waves": self.last_waves,
            }
        return Result(explain=explain_text(plan, timings))

    def _insert(self, st: exp.Insert, explain_only: bool) -> Result:
        target = st.this
        if not isinstance(target, exp.Directory):
            raise refuse(
                st, "INSERT INTO a table is not supported: INSERT OVERWRITE [LOCAL] DIRECTORY 'dir' SELECT"
            )
        if not st.args.get("overwrite"):
            raise refuse(st, "INSERT INTO DIRECTORY is not supported: INSERT OVERWRITE DIRECTORY")
        out_dir = target.this.name
        query = st.expression
        if explain_only:
            return self.explain(query, False)
        plan = self.compile(query)
        self.write_directory(plan, out_dir)
        return Result(status=f"wrote {out_dir}")

    # ------------------------------------------------------------------ running

    def broadcast_bytes(self, arrow_form: bool = False) -> int:
        """The largest join side joined map-side: Hive's settings (``SET hive.auto.convert.join=false``
        turns it off), and only where every task can read local files (the engine, inline, local);
        on the engine, by default, more for a plan that runs on the Arrow form
        (``engine_broadcast_bytes``)."""
        if self.runner not in ("engine", "inline", "local"):
            return 0
        if self.broadcast_limit is not None:
            return self.broadcast_limit
        if self.settings.get("hive.auto.convert.join", "true").lower() == "false":
            return 0
        if "hive.mapjoin.smalltable.filesize" in self.settings:
            return int(self.settings["hive.mapjoin.smalltable.filesize"])
        if self.runner == "engine":
            return engine_broadcast_bytes(self.job_args, arrow_form)
        return S.BROADCAST_BYTES

    def _loads_sides_on_record_form(self, plan: S.StagePlan) -> bool:
        """Whether ``-r engine`` would load a broadcast side of *plan* on the record form, which
        holds it in every task as Python objects: the whole plan runs there (it has no Arrow
        form, its tables are small for one -- ``SqlJob.offers_vector_steps`` with this session's
        ``--sql-arrow-min-bytes`` -- or ``--no-vectorize``), or a stage with a map-side join does
        (``vector_plan.record_form_broadcasts``)."""
        from engine.sql.vector_plan import ARROW_MIN_BYTES, record_form_broadcasts, runs_arrow_form

        if self.runner != "engine" or "--no-vectorize" in self.job_args:
            return True
        raw = _switch_values(self.job_args, ("--sql-arrow-min-bytes",))["--sql-arrow-min-bytes"]
        try:
            min_bytes = ARROW_MIN_BYTES if raw is None else int(raw)
        except ValueError:  # the job itself says what is wrong with it
            return True
        json_plan = plan.to_json()
        return not runs_arrow_form(json_plan, min_bytes) or record_form_broadcasts(json_plan)

    def inputs(self, plan: S.StagePlan) -> List[str]:
        """The job's input paths: the locations of the tables its mappers read."""
        out: List[str] = []
        for i in S.input_tables(plan):
            t = plan.tables[i]
            for loc in t.locations:
                if loc not in out:
                    out.append(loc)
        return out

    def _start_workers(self, inputs: List[str]) -> None:
        """Start the engine's worker server now if the job will run in worker processes, so
        that its imports (pyarrow, ~0.3 s) overlap the job's set-up here rather than follow it."""
        from engine.forkserver import start_executor_for_args
        from engine.sql import WORKER_MODULES

        start_executor_for_args(self.job_args, inputs, WORKER_MODULES)

    def run(self, plan: S.StagePlan) -> List[tuple]:
        """Runs the plan as one mrjob job; its rows."""
        rows: List[tuple] = []

        def read(job: Any, runner: Any) -> None:
            for _, row in job.parse_output(runner.cat_output()):
                rows.append(tuple(row))

        self._run_job(plan, "rows", read)
        return rows

    def write_directory(self, plan: S.StagePlan, output_dir: str) -> None:
        """Runs the plan as one mrjob job that writes its rows as Hive text files, which then
        replace *output_dir* (``INSERT OVERWRITE DIRECTORY``)."""
        parent = os.path.dirname(os.path.abspath(output_dir.rstrip("/"))) or "."
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".sql-insert.", dir=parent)
        os.rmdir(staging)
        # Hive's directory holds its files only: no run history (_logs) on the engine
        more = ["--output-dir", staging] + (["--no-report"] if self.runner == "engine" else [])
        self._run_job(plan, "hive", None, more)
        _commit_hive_directory(staging, output_dir)

    def run_text(self, plan: S.StagePlan, fmt: str) -> bytes:
        """Runs the plan as one mrjob job; its rows as the lines ``results.write_rows`` prints in
        *fmt* (``tsv``), each ended by ``\\n``, as the job's last step wrote them."""
        if fmt != "tsv":
            raise ValueError(f"a job writes its rows as tsv text only, not {fmt!r}")
        chunks: List[bytes] = []
        self._run_job(plan, fmt, lambda job, runner: chunks.extend(runner.cat_output()))
        return b"".join(chunks)

    def _run_job(
        self,
        plan: S.StagePlan,
        output: str,
        read: Optional[Callable[[Any, Any], None]],
        more: Sequence[str] = (),
    ) -> None:
        """Runs *plan* as a ``SqlJob`` writing its rows as *output* (``--sql-output``); *read*
        gets the job and its runner after the run, while the output is still there."""
        from engine.sql.job import SqlJob

        if self.runner != "engine" and any(t.format == "parquet" for t in plan.tables):
            raise SqlError(f"Parquet tables run on -r engine only (mrjob's {self.runner} runner reads text)")
        if self.runner == "engine":
            self._start_workers(self.inputs(plan))
        from engine.sql.explain import explain_text

        plan.explain = explain_text(plan)  # travels with the plan: the run's report shows it
        args = ["-r", self.runner, "--sql-plan", plan.encode(), *self.job_args]
        args += ["--sql-output", output, *more, *self.inputs(plan)]
        try:
            job = SqlJob(args)
        except ValueError as exc:  # mrjob's parser: an unknown switch, or a bad value
            raise SqlError(f"{exc} (a switch python -m engine sql passes to the job)") from None
        with job.make_runner() as runner:
            startup_gc.resume()  # mrjob's runners run tasks here too (inline)
            runner.run()
            from engine.mrjob_bridge import Counters

            self.last_counters = Counters()  # every step's, added up
            for step in runner.counters() or ():
                self.last_counters.merge(step)
            stats = getattr(runner, "stats", None)  # the engine's waves (mrjob's runners have none)
            self.last_waves = (
                [(p.name, p.seconds, p.records_in, p.records_out) for p in stats.phases] if stats else []
            )
            if read is not None:
                read(job, runner)


def _commit_hive_directory(staging: str, out_dir: str) -> None:
    """Hive's names for the parts (``000000_0``...), then *staging* replaces *out_dir* (overwrite)."""
    parts = sorted(p for p in os.listdir(staging) if p.startswith("part-"))
    for i, p in enumerate(parts):
        os.rename(os.path.join(staging, p), os.path.join(staging, f"{i:06d}_0"))
    # mrjob's own runners write no _SUCCESS; the promise is the same on every runner
    open(os.path.join(staging, "_SUCCESS"), "wb").close()
    out = out_dir.rstrip("/") or out_dir
    old = None
    if os.path.exists(out):
        old = tempfile.mkdtemp(prefix=".sql-old.", dir=os.path.dirname(os.path.abspath(out)) or ".")
        os.rmdir(old)
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _absolute(location: str) -> str:
    """A table location as tasks see it: a URI unchanged, a local path absolute (tasks run elsewhere)."""
    if "://" in location and not location.startswith("file://"):
        return location
    return os.path.abspath(location[len("file://") :] if location.startswith("file://") else location)


def _unescape_hive(text: str) -> str:
    """Hive's escapes in a delimiter: ``\\001`` (octal), ``\\t``, ``\\u0001``."""
    if re.fullmatch(r"\\[0-7]{1,3}", text):
        return chr(int(text[1:], 8))
    if re.fullmatch(r"\\u[0-9a-fA-F]{4}", text):
        return chr(int(text[2:], 16))
    return {"\\t": "\t", "\\n": "\n"}.get(text, text)


def _is_explain(st: AST) -> bool:
    return isinstance(st, exp.Command) and st.name.upper() == "EXPLAIN"


def _explain_parts(st: AST, dialect: str) -> Tuple[bool, AST]:
    """``(analyze, query)`` of an ``EXPLAIN [ANALYZE] query`` (sqlglot keeps its text as a Command)."""
    text = st.expression.name if st.expression is not None else ""
    analyze = False
    m = re.match(r"\s*(ANALYZE|EXTENDED|FORMATTED|VERBOSE)\b", text, re.IGNORECASE)
    if m:
        analyze = m.group(1).upper() == "ANALYZE"
        text = text[m.end() :]
    try:
        query = sqlglot.parse_one(text, read=dialect)
    except sqlglot.errors.ParseError as e:
        err = e.errors[0] if e.errors else {}
        raise SqlError(f"syntax error in EXPLAIN: {err.get('description') or e}") from None
    return analyze, query


def _statement_name(st: AST) -> str:
    if isinstance(st, exp.Command):
        return st.name.upper()
    return type(st).__name__.upper()


__all__ = ["Session", "Result", "SqlError", "where"]
