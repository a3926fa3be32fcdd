"""Command line: ``python -m engine run [engine options] JOB.py [job args] INPUT...``.

Runs an unmodified mrjob job (any ``MRJob`` subclass) on the engine. Everything after the
job file goes to the job itself, so mrjob's own switches (``--output-dir``,
``--num-cores``, ``--jobconf``, passthrough options) work as usual.
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine.errors import EngineError, JobInterrupted

log = logging.getLogger("engine")


def build_parser() -> argparse.ArgumentParser:
    """The ``engine`` command's arguments."""
    from engine.job import add_engine_args

    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an mrjob job file on the engine")
    add_engine_args(run)
    run.add_argument("--job-class", default=None, help="the MRJob class to run, if the file defines several")
    run.add_argument("--quiet", "-q", action="store_true", help="log errors only")
    run.add_argument("job", help="path of the job's .py file")
    run.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own arguments and inputs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
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
        log.error("%s", exc)
        return 1


def _run(args: argparse.Namespace) -> int:
    from engine.job import ENGINE_OPTION_DESTS
    from engine.jobfile import job_class_in_file
    from engine.runner import EngineRunner

    job_class = job_class_in_file(args.job, args.job_class)
    try:
        job = job_class(args=list(args.job_args))
    except ValueError as exc:  # mrjob's parser raises ValueError when handed args
        log.error("bad arguments for the job %s: %s (see: python %s --help)", args.job, exc, args.job)
        return 2
    kwargs = job._runner_kwargs()
    kwargs["mrjob_cls"] = job_class
    for dest in ENGINE_OPTION_DESTS:
        value = getattr(args, dest)
        if value is not None:
            kwargs[dest] = value
    with EngineRunner(**kwargs) as runner:
        runner.run()
        if job._should_cat_output():
            out = sys.stdout.buffer
            for chunk in runner.cat_output():
                out.write(chunk)
            out.flush()
        if runner.stats is not None and not args.quiet:
            print(runner.stats.summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
