"""The engine's own options, each declared once in ``OPTIONS``.

An option's name is its runner option, its key in ``mrjob.conf`` (under
``runners: engine:``) and its argparse ``dest``; beside it are its switch, how a value is
read and checked, its default and its help. Everything else derives from ``OPTIONS``: the
switches of a job's command line and of ``python -m engine run`` (``add_switches``), the
runner's option names (``OPTION_NAMES``) and defaults (``defaults()``), and the values
``EngineRunner.build_plan`` plans with (``resolve()``). README.md's options table is
tested against it (``tests/test_options.py``).

``engine.job`` imports this module on clusters too: it stays Python 3.9-compatible and
imports only the standard library and ``engine.errors``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from engine.errors import JobDefinitionError

log = logging.getLogger(__name__)

#: Default total memory budget for shuffle buffers, shared by the workers.
DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024
#: ``--memory-budget`` below this is refused, below the second warned about.
MIN_MEMORY_BUDGET = 1 << 10
SMALL_MEMORY_BUDGET = 1 << 20

#: How a value is read: from a switch (argparse) and from ``mrjob.conf`` or the API.
KINDS = ("int", "float", "size", "choice", "off_switch", "text")


def parse_size(text: str | int | None, default: int, option: str = "") -> int:
    """Parse ``512M``, ``2G``, ``4096`` or ``1.5GB`` into bytes; ``None`` gives *default*.

    *option* (e.g. ``--split-size``) names the switch in the error messages.
    """
    named = f"{option} {text}: " if option else ""
    if text is None:
        return default
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
        scale = units.get(raw[-1:], 1)
        number = raw[:-1] if raw[-1:] in units else raw
        try:
            value = int(float(number) * scale)
        except ValueError:
            raise JobDefinitionError(
                f"{named}cannot read the size {text!r}: give bytes or a number with K, M or G (e.g. 512M)"
            ) from None
    if value <= 0:
        raise JobDefinitionError(f"{named}a size must be positive, got {text!r}")
    return value


@dataclass(frozen=True)
class EngineOption:
    """One engine option: what it is called, how it is read and checked, its default.

    Message templates (``too_small``, ``warning``) are formatted with ``switch``, ``raw``
    (the value as given), ``value`` (as read), ``default`` (``shown_default``) and
    ``workers`` (the resolved ``num_cores``).
    """

    #: Runner option, ``mrjob.conf`` key (under ``runners: engine:``) and argparse dest.
    name: str
    #: The command-line switch; ``None``: set in ``mrjob.conf`` or the API only.
    switch: str | None
    #: One of ``KINDS``: ``int``/``float`` (argparse ``type``), ``size`` (``512M``, read
    #: by ``parse_size``), ``choice`` (one of ``choices``), ``off_switch`` (a flag that
    #: sets the option to ``False``; any other value, or none, is ``True``), ``text`` (a path).
    kind: str
    #: The runner's default (``defaults()``); ``resolve()`` gives it for an unset option.
    default: Any
    #: The switch's help (``--help``); of an option without a switch of the engine's
    #: (``mrjob_switch``, ``mrjob.conf`` only), what it does, shown nowhere.
    help: str = ""
    #: The default as README.md's options table shows it.
    shown_default: str = ""
    choices: tuple[str, ...] = ()
    #: Smallest value accepted (inclusive) and whether the value must be above 0.
    minimum: float | None = None
    positive: bool = False
    #: The refusal of a value below ``minimum``; empty: "SWITCH must be at least N, got RAW".
    too_small: str = ""
    #: Values below this are accepted with ``warning`` logged.
    warn_below: float | None = None
    warning: str = ""
    #: The switch is mrjob's own (its parser reads it and passes the value on): the engine
    #: declares the option, its checks and its default, not the switch.
    mrjob_switch: bool = False
    #: Gives the value of an unset option when it depends on the machine.
    default_factory: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def label(self) -> str:
        """How errors name the option: its switch, else its ``mrjob.conf`` name."""
        return self.switch or self.name

    def argparse_kwargs(self) -> dict[str, Any]:
        """``add_argument``'s keyword arguments for the switch (its ``dest`` is the name;
        ``None`` when not given, so that ``mrjob.conf`` and the defaults apply)."""
        kwargs: dict[str, Any] = {"dest": self.name, "default": None, "help": self.help}
        if self.kind == "int":
            kwargs["type"] = int
        elif self.kind == "float":
            kwargs["type"] = float
        elif self.kind == "choice":
            kwargs["choices"] = list(self.choices)
        elif self.kind == "off_switch":
            kwargs["action"] = "store_false"
        return kwargs

    def resolve(self, raw: Any, workers: int | None = None, warn: Callable[[str], Any] | None = None) -> Any:
        """The value to plan with, from *raw* (a switch's, ``mrjob.conf``'s or the API's
        value; ``None``: unset); refuses one out of range with ``JobDefinitionError``."""
        if self.kind == "off_switch":
            return raw is not False
        if self.kind == "text":
            return None if raw is None else str(raw)
        if self.kind == "choice":
            value = raw or self.default
            if value not in self.choices:
                names = [repr(choice) for choice in self.choices]
                allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)
                raise JobDefinitionError(f"{self.label} must be {allowed}, got {value!r}")
            return value
        if raw is None:
            return self.default_factory() if self.default_factory else self.default
        if self.kind == "int":
            value = int(raw)
        elif self.kind == "float":
            value = float(raw)
        else:
            value = parse_size(raw, self.default or 0, self.label)
        fields = {
            "switch": self.label,
            "raw": raw,
            "value": value,
            "default": self.shown_default,
            "workers": workers,
        }
        if self.positive and value <= 0:
            raise JobDefinitionError(f"{self.label} must be positive, got {raw}")
        if self.minimum is not None and value < self.minimum:
            if self.too_small:
                raise JobDefinitionError(self.too_small.format(**fields))
            bound = "0 or more" if self.minimum == 0 else f"at least {self.minimum:g}"
            raise JobDefinitionError(f"{self.label} must be {bound}, got {raw}")
        if self.warn_below is not None and value < self.warn_below:
            (warn or log.warning)(self.warning.format(**fields))
        return value


def _every_core() -> int:
    return os.cpu_count() or 1


#: The engine's options, in the order ``--help`` lists their switches.
OPTIONS: tuple[EngineOption, ...] = (
    EngineOption(
        name="num_cores",
        switch="--num-cores",
        kind="int",
        default=None,
        help="worker processes (default: every core)",
        shown_default="all cores",
        minimum=1,
        mrjob_switch=True,
        default_factory=_every_core,
    ),
    EngineOption(
        name="memory_budget",
        switch="--memory-budget",
        kind="size",
        default=DEFAULT_MEMORY_BUDGET,
        help="shuffle buffer memory shared by the workers, e.g. 256M or 2G (default 512M)",
        shown_default="512M",
        minimum=MIN_MEMORY_BUDGET,
        too_small="{switch} {raw}: {value} bytes is too small; give at least 1K (the budget holds "
        "the map tasks' output buffers; the default is {default})",
        warn_below=SMALL_MEMORY_BUDGET,
        warning="{switch} {raw} ({value} bytes, shared by {workers} workers) is below 1M: the map "
        "tasks will spill to disk every few records (the default is {default})",
    ),
    EngineOption(
        name="max_attempts",
        switch="--max-attempts",
        kind="int",
        default=4,
        help="attempts per task before the job fails (default 4, like Hadoop)",
        shown_default="4",
        minimum=1,
    ),
    EngineOption(
        name="executor",
        switch="--executor",
        kind="choice",
        default="auto",
        choices=("auto", "processes", "serial"),
        help="'auto' (default): local inputs of up to 8 MB in all start in this process, as Hadoop "
        "runs a small job 'uber', and move to worker processes once the tasks turn out slow; "
        "larger ones run in worker processes; 'processes' always forks "
        "workers (a hung task is killed, a crash costs one attempt); 'serial' runs every task "
        "in this process (debugging)",
        shown_default="auto",
    ),
    EngineOption(
        name="split_size",
        switch="--split-size",
        kind="size",
        default=None,
        help="bytes of text per map task, e.g. 64M (default: about two splits per worker)",
        shown_default="~2 splits per worker, 1M–128M",
    ),
    EngineOption(
        name="vectorize",
        switch="--no-vectorize",
        kind="off_switch",
        default=True,
        help="ignore the job's vectorized (Arrow) twin and run its record methods",
        shown_default="use the twin",
    ),
    EngineOption(
        name="skip_bad_records",
        switch="--skip-bad-records",
        kind="int",
        default=0,
        help="skip input lines the job's input protocol cannot decode, up to N in the whole "
        "job (counted as engine / skipped bad records); more fails the job (default 0: fail "
        "on the first)",
        shown_default="0 (off)",
        minimum=0,
    ),
    EngineOption(
        name="task_timeout",
        switch="--task-timeout",
        kind="float",
        default=None,
        help="seconds after which a running task attempt is killed and retried",
        shown_default="none",
        positive=True,
    ),
    EngineOption(
        name="history",
        switch="--no-report",
        kind="off_switch",
        default=True,
        help="do not write the run's history and report (_logs/history.json, _logs/report.html) "
        "beside the --output-dir",
        shown_default="written with --output-dir",
    ),
    EngineOption(
        name="report",
        switch="--report",
        kind="text",
        default=None,
        help="also write the run's report (one self-contained HTML page) to FILE, printed output "
        "and failed jobs included",
        shown_default="none",
    ),
    EngineOption(
        name="precombine",
        switch=None,
        kind="off_switch",
        default=True,
        help="group map output in a dict before the combiner (map-side hash aggregation); "
        "false: every record is encoded, sorted and decoded",
        shown_default="on",
    ),
)

#: Option names: the runner's own (``EngineRunner.OPT_NAMES``) and the keyword arguments
#: a job passes it.
OPTION_NAMES = frozenset(option.name for option in OPTIONS)
OPTIONS_BY_NAME: Mapping[str, EngineOption] = {option.name: option for option in OPTIONS}
#: The names set under ``runners: engine:`` in ``mrjob.conf`` beyond mrjob's own options.
CONF_NAMES = tuple(option.name for option in OPTIONS if not option.mrjob_switch)


def add_switches(parser: Any) -> Any:
    """Add the engine's switches (not mrjob's) to *parser*, in their own argument group
    (other runners ignore them); returns the group."""
    group = parser.add_argument_group("engine runner (-r engine)")
    for option in OPTIONS:
        if option.switch and not option.mrjob_switch:
            group.add_argument(option.switch, **option.argparse_kwargs())
    return group


def defaults() -> dict[str, Any]:
    """Each option's default, for the runner's ``_default_opts``."""
    return {option.name: option.default for option in OPTIONS}


def resolve(opts: Mapping[str, Any], warn: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Each option's value to plan with, read from *opts* (the runner's options) and
    checked: ``JobDefinitionError`` names the switch of the first one out of range; *warn*
    (the logger's ``warning`` by default) is told of accepted but doubtful values."""
    values: dict[str, Any] = {}
    for option in OPTIONS:  # num_cores first: the warnings name the worker count
        values[option.name] = option.resolve(opts.get(option.name), values.get("num_cores"), warn)
    return values


def resolve_one(name: str, raw: Any) -> Any:
    """One option's value to plan with (``resolve()`` for a single option)."""
    return OPTIONS_BY_NAME[name].resolve(raw)
