"""Command line: python -m engine run [engine switches] JOB.py [job switches] INPUT...

Runs an unmodified mrjob job (any MRJob subclass) on the engine. The engine's switches
(--memory-budget, --executor, ...) go before or after the job file; the job's own and
mrjob's switches (--output-dir, --num-cores, --jobconf, -q, passthrough options) after it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Iterator, NoReturn, Sequence

from engine import arrow_pool, startup_gc
from engine.errors import EngineError, JobInterrupted

log = logging.getLogger("engine")


USAGE = "python -m engine run [engine switches] JOB.py [job switches] INPUT..."


class _Parser(argparse.ArgumentParser):
    """argparse, with a word on where each kind of switch goes when one is not recognized."""

    def error(self, message: str) -> NoReturn:
        if "unrecognized arguments" in message:
            message += (
                " (before the job file only the engine's switches are read: the job's own and "
                f"mrjob's switches, such as --output-dir, go after it: {USAGE})"
            )
        super().error(message)


def _add_run_switches(parser: argparse.ArgumentParser) -> None:
    """The switches of ``run`` that may go before or after the job file."""
    from engine.options import add_switches

    add_switches(parser)
    parser.add_argument(
        "--job-class", default=None, help="the MRJob class to run, if the file defines several"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``engine`` command's arguments."""
    parser = _Parser(
        prog="python -m engine",
        description=__doc__.split("\n\n")[0],
        epilog="Run 'python -m engine run --help' for the engine's switches; 'python -m engine hive --help' "
        "and 'python -m engine sql --help' for SQL (engine/sql/cli.py).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run",
        usage=USAGE,
        help="run an mrjob job file on the engine",
        description=__doc__.split("\n\n", 1)[1].strip(),
        epilog="For the job's own switches: python -m engine run JOB.py --help",
    )
    _add_run_switches(run)
    run.add_argument("--quiet", "-q", action="store_true", help="log errors only")
    run.add_argument("job", help="path of the job's .py file")
    run.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own switches and its inputs")
    clean = commands.add_parser(
        "clean",
        help="remove what killed drivers left behind (staging and scratch directories)",
        description="Remove the staging directories (.NAME.JOB.staging) and scratch directories "
        "of jobs whose driver is gone (killed with SIGKILL, a lost machine), in the temporary "
        "directory and in each DIR given (an output's parent, a --local-tmp-dir). Jobs still "
        "running, and jobs of other hosts, are left alone.",
    )
    clean.add_argument("dirs", nargs="*", metavar="DIR", help="more directories to look in")
    report = commands.add_parser(
        "report",
        help="render a run's report from its _logs/history.json (two runs: side by side)",
        description="Re-render DIR/_logs/report.html from DIR/_logs/history.json; with DIR2, the "
        "report of DIR puts DIR2's phases beside its own (same job, other options: which phase changed).",
    )
    report.add_argument("dirs", nargs="+", metavar="DIR", help="an output directory (or its history.json)")
    report.add_argument("--out", default=None, help="where to write the page (default DIR/_logs/report.html)")
    for name, what in (
        ("hive", "run a HiveQL script (-f FILE | -e SQL, -d K=V)"),
        ("sql", "run a Redshift (or Hive) SQL script (-f FILE | -c SQL, -v K=V)"),
        ("server", "start|stop|status|restart the warm server hive and sql commands run on"),
    ):
        sub = commands.add_parser(name, help=what, add_help=False)
        sub.add_argument("sql_args", nargs=argparse.REMAINDER)
    clean.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    return parser


def _report(args: argparse.Namespace) -> int:
    import os

    from engine.report import history_path, load_history, write_report

    if len(args.dirs) > 2:
        print("error: report takes one or two directories", file=sys.stderr)
        return 2
    try:
        histories = [load_history(d) for d in args.dirs]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out or os.path.join(os.path.dirname(history_path(args.dirs[0])), "report.html")
    write_report(histories[0], out, histories[1] if len(histories) == 2 else None)
    print(out)
    return 0


def _clean(args: argparse.Namespace) -> int:
    from engine import leftovers

    directories = leftovers.default_directories() + list(args.dirs)
    removed = leftovers.sweep(directories, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    count = f"{len(removed)} director{'y' if len(removed) == 1 else 'ies'}"
    print(f"{verb} {count} of dead jobs", file=sys.stderr)
    return 0


def _switches_after_the_job() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine run", usage=USAGE, add_help=False)
    _add_run_switches(parser)
    return parser


def split_engine_switches(job_args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Take the engine's switches (and their values) out of the arguments after the job
    file: ``(engine switches, the job's arguments)``, each in its order. ``--`` ends it."""
    table = {
        option: action for action in _switches_after_the_job()._actions for option in action.option_strings
    }
    moved: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(job_args):
        token = job_args[i]
        if token == "--":
            rest.extend(job_args[i:])
            break
        action = table.get(token.split("=", 1)[0] if token.startswith("--") else token)
        if action is None:
            rest.append(token)
            i += 1
        elif action.nargs == 0 or "=" in token:
            moved.append(token)
            i += 1
        else:
            moved.extend(job_args[i : i + 2])
            i += 2
    return moved, rest


def _distutils_without_setuptools() -> None:
    """Have mrjob's ``import distutils`` find the standard library's, not setuptools' replacement,
    whose imports (``pkg_resources``...) cost ~0.15 s of every command -- as the forkserver does
    for the workers (``engine.forkserver.context``). Python 3.12 has no standard ``distutils``:
    there, setuptools' own copy, without setuptools (``_setuptools_distutils``). Nothing changes
    where something imported ``distutils`` already."""
    if "distutils" in sys.modules:
        return
    if sys.version_info >= (3, 12):
        _setuptools_distutils()
        return
    shim = sys.modules.get("_distutils_hack")
    if not (hasattr(shim, "remove_shim") and hasattr(shim, "add_shim")):
        return
    shim.remove_shim()  # type: ignore[union-attr]
    import warnings

    with warnings.catch_warnings():  # 3.10 and 3.11 warn that distutils is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import distutils.spawn  # noqa: F401  (what mrjob.util imports)
            import distutils.version  # noqa: F401  (what mrjob.compat imports)
        except ImportError:  # a Python built without it: setuptools' after all
            shim.add_shim()  # type: ignore[union-attr]


def _setuptools_distutils() -> None:
    """Python 3.12+: setuptools' copy of distutils (``setuptools/_distutils``, the modules its
    shim would give mrjob) loaded as ``distutils`` by its path, without importing the
    ``setuptools`` package around it, which the shim does first (``pkg_resources`` and all).
    Where that copy is not there, or does not load, the shim's way after all."""
    import importlib.util

    spec = importlib.util.find_spec("setuptools")  # a top-level name: found, not imported
    roots = list(spec.submodule_search_locations or ()) if spec is not None else []
    init = os.path.join(roots[0], "_distutils", "__init__.py") if roots else ""
    if not os.path.isfile(init):
        return
    found = importlib.util.spec_from_file_location(
        "distutils", init, submodule_search_locations=[os.path.dirname(init)]
    )
    if found is None or found.loader is None:
        return
    module = importlib.util.module_from_spec(found)
    sys.modules["distutils"] = module
    try:
        found.loader.exec_module(module)
        import distutils.spawn  # noqa: F401  (what mrjob.util imports)
        import distutils.version  # noqa: F401  (what mrjob.compat imports)
    except Exception:  # leave no half of it behind
        for name in [n for n in sys.modules if n == "distutils" or n.startswith("distutils.")]:
            del sys.modules[name]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    arrow_pool.default()  # before anything imports pyarrow: the server's, a command's, its workers'
    _distutils_without_setuptools()
    if argv and argv[0] == "server":
        from engine.warm_server import cli

        return cli(argv[1:])
    startup_gc.pause()  # until a job's tasks run (engine.startup_gc); not in the long-lived server
    if argv and argv[0] in ("hive", "sql"):  # their own parsers (engine/sql/cli.py)
        from engine.warm_client import run_on_server

        rc = run_on_server(argv)  # None: no warm server (engine/warm_server.py) takes it
        if rc is not None:
            return rc
        from engine.sql.cli import run as run_sql

        rc = run_sql(argv[1:], hive=argv[0] == "hive")
        startup_gc.freeze_for_exit()  # no code of the user's ran here
        return rc
    args = build_parser().parse_args(argv)
    if args.command == "report":
        return _report(args)
    if args.command == "clean":
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        return _clean(args)
    moved, args.job_args = split_engine_switches(args.job_args)
    if moved:  # switches given after the job file count as if given before it
        after = _switches_after_the_job().parse_args(moved)
        for dest, value in vars(after).items():
            if value is not None:
                setattr(args, dest, value)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _run(args)
    except JobInterrupted as exc:
        log.error("%s", exc)
        return 128 + exc.signum
    except KeyboardInterrupt:
        log.error("interrupted; no output was written")
        return 130
    except EngineError as exc:
        from engine.job import explain_refusal

        log.error("%s", explain_refusal(exc, args.job, args.job_args))
        return 1


def _run(args: argparse.Namespace) -> int:
    from engine.job import ENGINE_ALIAS, EngineMRJob, rerun_command
    from engine.jobfile import job_class_in_file
    from engine.options import OPTION_NAMES
    from engine.runner import EngineRunner

    job_class = job_class_in_file(args.job, args.job_class)
    try:
        with _usage_naming(job_class, args.job):
            job = job_class(args=list(args.job_args))
    except ValueError as exc:  # mrjob's parser raises ValueError when handed args
        log.error(
            "bad arguments for the job %s: %s%s (see: python -m engine run %s --help; the engine's "
            "switches go before or after the job file)",
            args.job,
            exc,
            _values_taken_as_inputs(str(exc), args.job_args),
            args.job,
        )
        return 2
    except SystemExit as exc:  # the job printed its --help
        if exc.code in (0, None) and not issubclass(job_class, EngineMRJob):
            print("\n" + _engine_switches_help())
        raise
    runner = job.options.runner
    if runner is not None and runner != ENGINE_ALIAS:
        log.error(
            "python -m engine run always runs the job on the engine, so it refuses -r %s after the "
            "job file; to run the job on mrjob's %s runner: %s",
            runner,
            runner,
            rerun_command(args.job, args.job_args, f"-r {runner}"),
        )
        return 2
    if job.options.quiet:
        logging.getLogger().setLevel(logging.ERROR)
    elif job.options.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    kwargs = job._runner_kwargs()
    kwargs["mrjob_cls"] = job_class
    for name in OPTION_NAMES:  # num_cores and precombine are not switches of this command
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    with EngineRunner(**kwargs) as runner:
        runner.run()  # the driver logs the end-of-job summary (INFO: -q hides it)
        if job._should_cat_output():
            out = sys.stdout.buffer
            for chunk in runner.cat_output():
                out.write(chunk)
            out.flush()
    return 0


@contextlib.contextmanager
def _usage_naming(job_class: type, job: str) -> Iterator[None]:
    """The job's usage line (in its errors and --help) as this command's, not ``__main__.py``'s."""
    if "_usage" in vars(job_class):  # the job wrote its own
        yield
        return
    usage = f"python -m engine run [engine switches] {job} [options] [input files]".replace("%", "%%")
    job_class._usage = lambda self: usage  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del job_class._usage  # type: ignore[attr-defined]


def _values_taken_as_inputs(message: str, job_args: Sequence[str]) -> str:
    """argparse quotes an unknown switch without its value (read as an input path): name it."""
    if "unrecognized arguments:" not in message:
        return ""
    unknown = set(message.split("unrecognized arguments:", 1)[1].split())
    taken = [
        f"{value} (after {option})"
        for option, value in zip(job_args, job_args[1:])
        if option in unknown and option.startswith("-") and not value.startswith("-")
    ]
    return f"; read as input paths: {', '.join(taken)}" if taken else ""


def _engine_switches_help() -> str:
    parser = argparse.ArgumentParser(prog="python -m engine run", usage=argparse.SUPPRESS, add_help=False)
    _add_run_switches(parser)
    return "Switches of python -m engine run (before or after the job file):\n" + parser.format_help()


if __name__ == "__main__":
    sys.exit(main())
