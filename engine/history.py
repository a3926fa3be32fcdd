"""A run's history: every task attempt, every phase, the skew of every shuffle -- as JSON.

The driver makes one ``History`` per job and the executor reports each attempt to it as it ends
(``attempt``) and each worker it lost between tasks (``worker_lost``); the driver adds the phases,
the reduce partitions' sizes, the counters and the end result (``finish``). ``to_json`` is what
``_logs/history.json`` holds (``engine.report`` renders it):

``format``      ``"mr-engine history 1"``
``job``         ``id``, ``command``, ``inputs``, ``output_dir``, ``options`` (workers, reducers,
                memory_budget, pipeline, executor), ``started_at`` (Unix time), ``seconds``,
                ``result`` (``succeeded``/``failed``) and ``error``
``phases``      per wave: ``name``, ``tasks``, ``records_in``, ``records_out``, ``bytes_out``,
                ``spills``, ``spilled_records``, ``spilled_bytes``, ``shuffled_bytes``, ``seconds``
``attempts``    per attempt, in the order they ended: ``task``, ``phase``, ``kind`` (map/reduce),
                ``attempt``, ``worker`` (the slot, 0..workers-1; a replaced worker keeps its slot),
                ``pid``, ``start``/``end`` (seconds since the job started), ``state``
                (``succeeded``, ``failed``, ``killed``), ``error``, ``split`` or ``partition``,
                ``records_in``, ``records_out``, ``bytes_out``, ``spills``, ``spilled_records``,
                ``spilled_bytes`` (the sizes of the run files its spills wrote), ``peak_rss`` (the
                peak resident memory of the attempt's process so far, bytes; a worker's covers
                the tasks it ran before; ``null`` for an attempt that failed)
``workers_lost`` workers that died while holding no started task (not charged an attempt)
``partitions``  per reduce task: ``step`` (the shuffle's), ``partition``, ``bytes`` (its runs' sizes),
                ``records`` (what its reducer read)
``counters``    per step, mrjob's groups and names
``sections``    the job's own parts of the report (``title``, ``text``): a SQL query's stage plan
                with its rows out per stage and each wave's seconds
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from engine.report import HISTORY_FORMAT, LOGS_DIR
from engine.tasks import MapTask, Task, TaskCounts, TaskResult


class History:
    """What the driver and the executor saw of one job."""

    def __init__(
        self, job_id: str, command: Sequence[str], inputs: Sequence[str], options: Mapping[str, Any]
    ):
        self.started_mono = time.monotonic()
        self.job: Dict[str, Any] = {
            "id": job_id,
            "command": list(command),
            "inputs": list(inputs),
            "output_dir": None,
            "options": dict(options),
            "started_at": time.time(),
            "seconds": 0.0,
            "result": "running",
            "error": None,
        }
        self.phase = ""
        self.attempts: List[Dict[str, Any]] = []
        self.workers_lost: List[Dict[str, Any]] = []
        self.phases: List[Dict[str, Any]] = []
        self.partitions: List[Dict[str, Any]] = []
        self.counters: List[Dict[str, Dict[str, int]]] = []
        #: the job's own sections of the report (a job's ``report_sections``): called with the
        #: counters per step and the phases when the job ends; a SQL query's stage plan, say
        self.describe: Optional[
            Callable[[List[Dict[str, Dict[str, int]]], List[Dict[str, Any]]], List[Tuple[str, str]]]
        ] = None
        self.sections: List[Dict[str, str]] = []

    def since_start(self, monotonic: float) -> float:
        return round(monotonic - self.started_mono, 6)

    def attempt(
        self,
        task: Task,
        attempt: int,
        worker: int,
        pid: int,
        started: float,
        ended: float,
        state: str,
        error: Optional[str] = None,
        result: Optional[TaskResult] = None,
    ) -> None:
        """An attempt that ended (*started*/*ended*: ``time.monotonic()`` values)."""
        counts = result.counts if result is not None else TaskCounts()
        is_map = isinstance(task, MapTask)
        self.attempts.append(
            {
                "task": task.task_id,
                "phase": self.phase,
                "kind": "map" if is_map else "reduce",
                "attempt": attempt,
                "worker": worker,
                "pid": pid,
                "start": self.since_start(started),
                "end": self.since_start(ended),
                "state": state,
                "error": error,
                "split": task.describe() if is_map else None,
                "partition": None if is_map else getattr(task, "index", None),
                "records_in": counts.records_in,
                "records_out": counts.records_out,
                "bytes_out": counts.bytes_out,
                "spills": counts.spills,
                "spilled_records": counts.spilled_records,
                "spilled_bytes": counts.spilled_bytes,
                "peak_rss": result.peak_rss if result is not None else None,
            }
        )

    def add_phase(
        self, phase: Any, tasks: Sequence[Task], results: Sequence[TaskResult], reduce_step: Any
    ) -> None:
        """A wave that finished (its ``PhaseStats``); its reduce tasks' partitions (for skew)."""
        self.phases.append(
            {
                "name": phase.name,
                "tasks": phase.tasks,
                "records_in": phase.records_in,
                "records_out": phase.records_out,
                "bytes_out": phase.bytes_out,
                "spills": phase.spills,
                "spilled_records": phase.spilled_records,
                "spilled_bytes": phase.spilled_bytes,
                "shuffled_bytes": phase.shuffled_bytes,
                "seconds": round(phase.seconds, 6),
            }
        )
        if reduce_step is None:
            return
        for task, result in zip(tasks, results):
            runs = getattr(task, "runs", ())
            self.partitions.append(
                {
                    "step": reduce_step,
                    "partition": getattr(task, "index", 0),
                    "bytes": sum(os.path.getsize(r) for r in runs if os.path.exists(r)),
                    "records": result.counts.records_in,
                }
            )

    def worker_lost(self, worker: int, pid: int, how: str, when: str) -> None:
        self.workers_lost.append(
            {"worker": worker, "pid": pid, "how": how, "when": when, "at": self.since_start(time.monotonic())}
        )

    def to_json(self) -> Dict[str, Any]:
        return {
            "format": HISTORY_FORMAT,
            "job": self.job,
            "phases": self.phases,
            "attempts": self.attempts,
            "workers_lost": self.workers_lost,
            "partitions": self.partitions,
            "counters": self.counters,
            "sections": self.sections,
        }

    def finish(self, result: str, error: Optional[str] = None, output_dir: Optional[str] = None) -> None:
        if self.describe is not None:
            try:
                made = self.describe(self.counters, self.phases)
                self.sections = [{"title": title, "text": text} for title, text in made]
            except Exception as exc:  # the report must not fail the job it reports on
                self.sections = [{"title": "the job's report sections", "text": f"could not be made: {exc}"}]
        self.job.update(
            result=result,
            error=error,
            output_dir=output_dir,
            seconds=round(time.monotonic() - self.started_mono, 6),
        )


def write_logs(history: History, directory: str, report: bool = True) -> None:
    """``DIR/_logs/history.json`` and (unless *report* is off) ``DIR/_logs/report.html``."""
    from engine.report import publish_bytes, write_report

    logs = os.path.join(directory, LOGS_DIR)
    os.makedirs(logs, exist_ok=True)
    data = history.to_json()
    publish_bytes(json.dumps(data, indent=1).encode("utf-8"), os.path.join(logs, "history.json"))
    if report:
        write_report(data, os.path.join(logs, "report.html"))
