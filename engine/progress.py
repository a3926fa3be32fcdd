"""Progress bars on a terminal and the end-of-job summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class PhaseStats:
    """Totals of one wave of tasks."""

    name: str
    tasks: int = 0
    records_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    spills: int = 0
    spilled_records: int = 0
    shuffled_bytes: int = 0
    seconds: float = 0.0


@dataclass
class JobStats:
    """What a finished job reports: counters per step, and totals per phase."""

    job_id: str
    output_dir: str
    counters: list[dict[str, dict[str, int]]]
    phases: list[PhaseStats] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """A few human-readable lines: phases, then counters."""
        lines = [f"job {self.job_id} finished in {self.seconds:.2f} s; output in {self.output_dir}"]
        for p in self.phases:
            shuffled = f", {p.shuffled_bytes / 1e6:.1f} MB shuffled" if p.shuffled_bytes else ""
            spills = f", {p.spills} spills ({p.spilled_records} records)" if p.spills else ""
            lines.append(
                f"  {p.name}: {p.tasks} tasks, {p.records_in} records in, {p.records_out} out"
                f"{spills}{shuffled}, {p.seconds:.2f} s"
            )
        for step, groups in enumerate(self.counters):
            for group in sorted(groups):
                for name, value in sorted(groups[group].items()):
                    lines.append(f"  counter step {step} {group}: {name} = {value}")
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
        self.stream.write(f"\r{self._name:>12} [{bar}] {done}/{self._total} tasks, {records} records")
        self.stream.flush()

    def finish(self) -> None:
        """End the phase's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
