"""``EngineMRJob``: an ``MRJob`` base class that adds ``-r engine`` to mrjob's runners.

mrjob fixes ``--runner``'s choices in ``mrjob/options.py``; this is the one place that
widens them. Jobs deriving from this class run unchanged on every mrjob runner (inline,
local, hadoop, emr, spark) and on the engine. This module is imported on clusters too, so
it stays Python 3.9-compatible and imports nothing heavy.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import shlex
import shutil
import sys
import textwrap
import threading
from typing import Any, Iterator, Sequence

from mrjob.job import MRJob

from engine.errors import EngineError, JobInterrupted
from engine.options import CONF_NAMES, OPTION_NAMES, add_switches

log = logging.getLogger(__name__)

ENGINE_ALIAS = "engine"

#: Each job class's argument parser once built in this process, with the dests mrjob passes on
#: (``_passthru_arg_dests``, ``_file_arg_dests``): see ``EngineMRJob.__init__``.
_PARSERS: dict[type, tuple[argparse.ArgumentParser, frozenset, frozenset]] = {}
#: Copies of one parser share its actions, which ``parse_intermixed_args`` changes for a while.
_PARSING = threading.RLock()


class EngineMRJob(MRJob):
    """Base class of this repo's jobs: ``-r engine`` runs them on the built-in engine."""

    def __init__(self, args: Sequence[str] | None = None) -> None:
        """mrjob's, but the argument parser is built once per class and process.

        mrjob builds a fresh parser of its ~200 switches for every job instance (~8 ms): once
        per task on the engine, where every task makes its job. ``configure_args`` declares
        switches only, the same ones each time; so later instances get a copy of the first
        one's parser (its own ``error``, shared actions). A class whose ``configure_args``
        also sets attributes on the job is configured afresh every time.
        """
        cls = type(self)
        built = _PARSERS.get(cls)
        if built is not None:

            def configure() -> None:
                parser, passthru, files = built
                self.arg_parser = copy.copy(parser)
                self._passthru_arg_dests.update(passthru)
                self._file_arg_dests.update(files)

        else:

            def configure() -> None:
                before = set(vars(self))
                cls.configure_args(self)
                if not set(vars(self)) - before - {"arg_parser"}:
                    parser = copy.copy(self.arg_parser)
                    entry = (parser, frozenset(self._passthru_arg_dests), frozenset(self._file_arg_dests))
                    _PARSERS[cls] = entry

        # MRJob.__init__ calls self.configure_args() once: this instance's attribute answers
        self.configure_args = configure  # type: ignore[method-assign]
        try:
            super().__init__(args)
        finally:
            del self.configure_args

    def load_args(self, args: Sequence[str]) -> None:
        with _PARSING:
            super().load_args(args)

    def configure_args(self) -> None:
        """Add ``engine`` to ``--runner``'s choices and the engine's own switches."""
        super().configure_args()
        for action in self.arg_parser._actions:
            if action.dest == "runner" and action.choices is not None:
                action.choices = sorted(set(action.choices) | {ENGINE_ALIAS})
        add_switches(self.arg_parser)

    def _runner_class(self) -> type:
        if self.options.runner == ENGINE_ALIAS:
            from engine.runner import EngineRunner

            return EngineRunner
        return super()._runner_class()

    def _runner_kwargs(self) -> dict:
        kwargs = super()._runner_kwargs()
        if self.options.runner == ENGINE_ALIAS:
            kwargs["mrjob_cls"] = self.__class__
            for name in OPTION_NAMES:
                value = getattr(self.options, name, None)
                if value is not None:
                    kwargs[name] = value
        return kwargs

    @classmethod
    def set_up_logging(cls, quiet: bool = False, verbose: bool = False, stream: Any = None) -> None:
        """mrjob's logging set-up, plus the engine's own loggers (phases, summary).

        ``-q`` silences the engine's INFO lines as mrjob's, but an error that stops the job
        (a refusal, a failed task) is still printed.
        """
        super().set_up_logging(quiet=quiet, verbose=verbose, stream=stream)
        from mrjob.util import log_to_stream

        if quiet:
            log_to_stream(name="engine", level=logging.ERROR, stream=stream)
        else:
            log_to_stream(name="engine", debug=verbose, stream=stream)

    def run_job(self) -> None:
        """Like mrjob's, but an engine error is one clear line and a non-zero exit."""
        try:
            super().run_job()
        except JobInterrupted as exc:
            log.error("%s", exc)
            sys.exit(128 + exc.signum)
        except KeyboardInterrupt:  # Ctrl-C before or after the job's tasks ran
            log.error("interrupted; no output was written")
            sys.exit(130)
        except EngineError as exc:
            log.error("%s", explain_refusal(exc, self.mr_job_script() or sys.argv[0], self._cl_args))
            sys.exit(1)

    def _print_help(self, options: Any) -> None:
        """mrjob's help, with ``engine`` among ``-r``'s choices; ``--help -r engine``
        shows the runner switches the engine reads, then its own."""
        if options.runner != ENGINE_ALIAS:
            with _engine_among_runner_aliases():
                super()._print_help(options)
            return
        from mrjob.options import _RUNNER_OPTS, _print_help_for_runner

        from engine.runner import EngineRunner

        # mrjob's switches of the runners' common options the engine reads, then its own
        # (mrjob's help printer knows only mrjob's options: it fails on the engine's).
        common = {name for name in EngineRunner.OPT_NAMES if name in _RUNNER_OPTS}
        _print_help_for_runner(common, options.deprecated)
        parser = argparse.ArgumentParser(usage=argparse.SUPPRESS, add_help=False)
        add_switches(parser)
        print()
        parser.print_help()
        print()
        print(conf_names_help())


def conf_names_help() -> str:
    """The sentence of ``--help -r engine`` naming the options' ``mrjob.conf`` keys."""
    names = ", ".join(CONF_NAMES[:-1]) + " and " + CONF_NAMES[-1]
    return textwrap.fill(
        f"The engine's switches can also be set in mrjob.conf, under runners: engine:, as {names}.",
        width=88,
    )


@contextlib.contextmanager
def _engine_among_runner_aliases() -> Iterator[None]:
    """mrjob's help builds ``-r``'s choices from its runner list: list ``engine`` too."""
    from mrjob import options

    added = ENGINE_ALIAS not in options._RUNNER_ALIASES
    if added:
        options._RUNNER_ALIASES.add(ENGINE_ALIAS)
    try:
        yield
    finally:
        if added:
            options._RUNNER_ALIASES.discard(ENGINE_ALIAS)


def _shown_path(path: str) -> str:
    """*path* relative to the working directory when it lies under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def rerun_command(script: str, args: Sequence[str], runner: str) -> str:
    """The command that runs *script* with *args* on *runner* (``-r local``), any
    ``-r``/``--runner`` in *args* replaced."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-r", "--runner"):
            skip = True
        elif not (arg.startswith("--runner=") or (arg.startswith("-r") and not arg.startswith("--"))):
            kept.append(arg)
    which = shutil.which("python")
    python = "python"
    if not which or os.path.realpath(which) != os.path.realpath(sys.executable):
        python = _shown_path(sys.executable)
    return shlex.join([python, _shown_path(os.path.abspath(script)), *runner.split(), *kept])


def explain_refusal(exc: BaseException, script: str, args: Sequence[str]) -> str:
    """*exc*'s message, the exact command to run the job elsewhere in place of the
    placeholder of a refusal that names another runner (``engine.plan``)."""
    from engine.plan import RERUN_PLACEHOLDER

    message = str(exc)
    runner = getattr(exc, "rerun_with", "")
    placeholder = RERUN_PLACEHOLDER.format(runner=runner)
    if not runner or placeholder not in message:
        return message
    return message.replace(placeholder, rerun_command(script, args, runner))
