"""``python -m engine hive`` and ``python -m engine sql``: the Hive CLI's and psql's conventions.

    python -m engine hive -f emr/Hive_CloudFront.q -d INPUT=data/sample -d OUTPUT=out
    python -m engine hive -e 'SELECT ...' [--hiveconf K=V] [--hivevar K=V]
    python -m engine sql --dialect redshift -f lab.sql [-v K=V] [--format table|tsv|csv|jsonl]
    python -m engine sql -c 'SELECT count(*) FROM users' --table users=data/users.parquet

Only result rows go to stdout; status lines (``COPY ...``, timings) go to stderr. ``-r RUNNER``
runs the compiled job on mrjob's ``inline``/``local``/``hadoop``/``emr``/``spark`` runner instead of
the engine; every other switch this command does not know (``--num-cores 2``, ``--memory-budget
64M``, ``-c mrjob.conf``...) is handed to the job, as ``python JOB.py`` would take it.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from typing import Dict, List, Optional, Sequence

from engine import startup_gc
from engine.errors import EngineError
from engine.sql.catalog import TableDef


def _pairs(values: Optional[Sequence[str]], switch: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for v in values or ():
        if "=" not in v:
            raise SystemExit(f"error: {switch} takes NAME=VALUE, got {v!r}")
        k, _, val = v.partition("=")
        out[k] = val
    return out


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-r",
        "--runner",
        default="engine",
        help="where the compiled job runs: engine (default), inline, local, hadoop, emr, spark",
    )
    p.add_argument(
        "--format",
        choices=("table", "tsv", "csv", "jsonl"),
        default=None,
        help="how SELECT rows print (default: table on a terminal, tsv when piped)",
    )
    p.add_argument(
        "--explain", action="store_true", help="print each query's stage plan instead of running it"
    )
    p.add_argument(
        "--table",
        action="append",
        metavar="NAME=PATH",
        help="a Parquet table read in place (its schema from the files); repeatable",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no status lines on stderr")


def build_hive_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m engine hive", description="Run a HiveQL script on the engine."
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", dest="file", help="the script file")
    src.add_argument("-e", dest="sql", help="the SQL text")
    p.add_argument(
        "-d",
        "--define",
        "--hivevar",
        dest="hivevar",
        action="append",
        metavar="K=V",
        help="a variable for ${K} and ${hivevar:K}",
    )
    p.add_argument("--hiveconf", action="append", metavar="K=V", help="a variable for ${hiveconf:K}")
    add_common(p)
    return p


def build_sql_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine sql", description="Run a SQL script on the engine.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", "--file", dest="file", help="the script file")
    src.add_argument("-c", "--command", dest="sql", help="the SQL text")
    p.add_argument("--dialect", choices=("redshift", "hive"), default="redshift", help="default: redshift")
    p.add_argument(
        "-v",
        "--set",
        "--variable",
        dest="variables",
        action="append",
        metavar="K=V",
        help="a psql variable for :K, :'K' and :\"K\"",
    )
    add_common(p)
    return p


def parquet_table(name: str, path: str) -> TableDef:
    import pyarrow.parquet as pq

    from engine.splits import list_input_files
    from engine.sql.types import SqlType

    files = list_input_files([path])  # as the job will list it
    if not files:
        raise EngineError(f"--table {name}={path}: no Parquet files there")
    schema = pq.read_schema(files[0])
    cols = []
    for field in schema:
        t = field.type
        import pyarrow as pa

        if pa.types.is_integer(t):
            st = SqlType("int")
        elif pa.types.is_floating(t):
            st = SqlType("double")
        elif pa.types.is_decimal(t):
            st = SqlType("decimal", t.precision, t.scale)
        elif pa.types.is_boolean(t):
            st = SqlType("boolean")
        elif pa.types.is_date(t):
            st = SqlType("date")
        elif pa.types.is_timestamp(t):
            st = SqlType("timestamp")
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            st = SqlType("string")
        else:
            raise EngineError(
                f"--table {name}={path}: column {field.name} has the type {t}, which SQL here does not read"
            )
        cols.append((field.name.lower(), str(st)))
    return TableDef(name.lower(), tuple(cols), format="parquet", locations=(os.path.abspath(path),))


#: A quoted string of a script: the paths of its LOCATION and COPY ... FROM clauses among them.
_QUOTED = re.compile(r"'((?:[^']|'')+)'")


def _start_workers_early(text: str, table_paths: List[str], job_args: List[str]) -> None:
    """Start the engine's worker server before the script is parsed when its queries will need
    it: when the local files its quoted paths (and ``--table``'s) name are more than the
    engine runs in this process, or one is on S3 (``forkserver.choose_executor``). The server's
    imports (pyarrow, the engine: ~0.3 s) then overlap this process's (sqlglot, mrjob) and
    the planning, rather than follow them. A guess from the text alone: a wrong one costs a
    server started for nothing, or started later by the session, as it would be anyway."""
    from engine.forkserver import start_executor_for_args
    from engine.s3 import is_s3
    from engine.sql import WORKER_MODULES

    quoted = (m.group(1).replace("''", "'") for m in _QUOTED.finditer(text))
    paths = [p for p in [*quoted, *table_paths] if is_s3(p) or os.path.exists(p)]
    if paths:
        start_executor_for_args(job_args, list(dict.fromkeys(paths)), WORKER_MODULES)


def run(argv: List[str], hive: bool) -> int:
    """The ``hive``/``sql`` command; returns the exit status."""
    from engine.sql import results
    from engine.sql.script import substitute_hive, substitute_psql

    parser = build_hive_parser() if hive else build_sql_parser()
    args, job_args = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("mrjob.conf").setLevel(logging.ERROR)  # "No configs specified for engine runner"
    dialect = "hive" if hive else args.dialect
    try:
        if args.file:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        else:
            text = args.sql
        if hive:
            text = substitute_hive(text, _pairs(args.hivevar, "-d"), _pairs(args.hiveconf, "--hiveconf"))
        else:
            text = substitute_psql(text, _pairs(args.variables, "-v"))
        if args.runner == "engine":
            tables = [spec.partition("=")[2] for spec in args.table or ()]
            _start_workers_early(text, tables, job_args)
        from engine.sql.session import Session  # sqlglot: ~0.15 s, while the workers start

        session = Session(dialect, runner=args.runner, job_args=list(job_args))
        for spec in args.table or ():
            name, _, path = spec.partition("=")
            if not path:
                raise SystemExit(f"error: --table takes NAME=PATH, got {spec!r}")
            session.tables[name.lower()] = parquet_table(name, path)
        statements = session.parse(text)
        fmt = args.format or results.default_format(sys.stdout)
        if fmt == "tsv":
            session.text_format = fmt  # the job writes the lines: printed as they are
        for st in statements:
            start = time.monotonic()
            result = session.execute(st, explain_only=args.explain)
            startup_gc.resume()  # start-up is over, whether or not the statement ran a job
            if result.explain:
                sys.stdout.write(result.explain)
            elif result.text is not None or result.rows is not None:
                if result.text is not None:
                    sys.stdout.write(result.text.decode("utf-8"))
                else:
                    results.write_rows(result.rows or [], result.columns, fmt, sys.stdout, dialect)
                    if fmt == "table":
                        sys.stdout.write("\n")  # psql's blank line between results
                if not args.quiet:
                    print(
                        f"Time taken: {time.monotonic() - start:.2f} s, fetched {result.count} row(s)",
                        file=sys.stderr,
                    )
            elif result.status and not args.quiet:
                print(result.status, file=sys.stderr)
            sys.stdout.flush()
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except EngineError as e:
        where = f"{args.file}: " if args.file else ""
        print(f"error: {where}{e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; no output was written", file=sys.stderr)
        return 130
    return 0
