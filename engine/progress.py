"""Progress bars on a terminal and the end-of-job summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from engine.mrjob_bridge import Counters
from engine.tasks import TaskCounts


@dataclass
class PhaseStats:
    """Totals of one wave of tasks: the sum of their ``TaskCounts``, bytes shuffled, time."""

    name: str
    tasks: int = 0
    counts: TaskCounts = TaskCounts()
    shuffled_bytes: int = 0
    seconds: float = 0.0

    @property
    def records_in(self) -> int:
        return self.counts.records_in

    @property
    def records_out(self) -> int:
        return self.counts.records_out

    @property
    def bytes_out(self) -> int:
        return self.counts.bytes_out

    @property
    def spills(self) -> int:
        return self.counts.spills

    @property
    def spilled_records(self) -> int:
        return self.counts.spilled_records

    @property
    def spilled_bytes(self) -> int:
        return self.counts.spilled_bytes


@dataclass
class JobStats:
    """What a finished job reports: counters per step, and totals per phase."""

    job_id: str
    output_dir: str
    counters: list[Counters]
    phases: list[PhaseStats] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """A few human-readable lines: phases, then each step's counters as mrjob logs them."""
        lines = [f"job {self.job_id} finished in {self.seconds:.2f} s; output in {self.output_dir}"]
        for p in self.phases:
            shuffled = f", {format_bytes(p.shuffled_bytes)} shuffled" if p.shuffled_bytes else ""
            # Every map task with output writes one sorted run at its end; more runs than
            # tasks means buffers passed --memory-budget and spilled. (The Arrow path does
            # not count the records it spills: then only the runs are shown.)
            spills = ""
            if p.spills > p.tasks:
                records = f" ({plural(p.spilled_records, 'record')})" if p.spilled_records else ""
                spills = f", spilled {plural(p.spills, 'time')}{records}"
            lines.append(
                f"  {p.name}: {plural(p.tasks, 'task')}, {plural(p.records_in, 'record')} in, "
                f"{p.records_out} out{spills}{shuffled}, {p.seconds:.2f} s"
            )
        for step, groups in enumerate(self.counters):
            if any(groups.values()):
                desc = "Counters" if len(self.counters) == 1 else f"Counters for step {step + 1}"
                lines.append(format_counters(groups, desc))
        return "\n".join(lines)


def plural(count: int, word: str, many: str = "") -> str:
    """``1 task``, ``2 tasks`` (*many*: the plural, if not *word* + ``s``)."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def format_bytes(size: int) -> str:
    """``512 bytes``, ``3.2 KB``, ``1.5 MB``, ``2.0 GB``."""
    if size < 1000:
        return plural(size, "byte")
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def format_counters(counters: dict[str, dict[str, int]], desc: str = "Counters", indent: str = "\t") -> str:
    """Counters laid out as mrjob's runners log them (and the Hadoop binary prints them):
    ``Counters: N``, then each group indented, then ``name=value`` indented twice."""
    lines = [f"{desc}: {sum(len(names) for names in counters.values())}"]
    for group, names in sorted(counters.items()):
        if names:
            lines.append(f"{indent}{group}")
            lines.extend(f"{indent}{indent}{name}={value}" for name, value in sorted(names.items()))
    return "\n".join(lines)


class ProgressBar:
    """One line per phase, redrawn in place; silent unless *stream* is a terminal."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._name = ""
        self._total = 0
        self._last = 0.0

    def start(self, name: str, total: int) -> None:
        """Begin a phase of *total* tasks."""
        self._name, self._total = name, total
        self.update(0, 0, force=True)

    def update(self, done: int, records: int, force: bool = False) -> None:
        """Redraw with *done* tasks finished and *records* read so far."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self._total:
            return
        self._last = now
        width = 30
        filled = width * done // max(1, self._total)
        bar = "#" * filled + "-" * (width - filled)
        tasks = plural(self._total, "task")
        self.stream.write(f"\r{self._name}: [{bar}] {done}/{tasks}, {records} records in")
        self.stream.flush()

    def finish(self) -> None:
        """End the phase's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
