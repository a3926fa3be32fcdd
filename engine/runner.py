"""``EngineRunner``: the engine as one more mrjob runner (``-r engine``).

mrjob's programmatic API keeps working: ``make_runner()``, ``run()``, ``cat_output()``,
``counters()``. Options come from the command line (see ``engine.job``) or from
``mrjob.conf`` under ``runners: engine:``.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Iterator

from mrjob.runner import MRJobRunner

from engine.driver import run_job
from engine.errors import JobDefinitionError
from engine.plan import (
    DEFAULT_MEMORY_BUDGET,
    JobPlan,
    StepPlan,
    parse_size,
    step_plans,
    validate_workers,
)
from engine.progress import JobStats
from engine.s3 import is_s3
from engine.splits import is_hidden, list_input_files

log = logging.getLogger(__name__)

#: Options of this runner beyond mrjob's common ones.
ENGINE_OPTS = {
    "executor",
    "max_attempts",
    "memory_budget",
    "num_cores",
    "precombine",
    "skip_bad_records",
    "split_size",
    "task_timeout",
    "vectorize",
}


class EngineRunner(MRJobRunner):
    """Runs a job's steps on the engine: parallel map, sort-based shuffle, reduce."""

    alias = "engine"
    OPT_NAMES = MRJobRunner.OPT_NAMES | ENGINE_OPTS
    _STEP_TYPES = {"streaming"}

    def __init__(self, mrjob_cls: type | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mrjob_cls = mrjob_cls
        self._counters: list[dict[str, dict[str, int]]] = []
        self.stats: JobStats | None = None
        # Refuse unsupported steps now, before any input is read or worker started.
        step_plans(self._steps)

    def _check_step(self, step: dict[str, Any], step_num: int) -> None:
        """Step validation happens in ``engine.plan.step_plans`` with clearer messages."""

    def _check_input_paths(self) -> None:
        """Fail early, with ``InputError``'s message naming the path, as the driver would."""
        list_input_files([p for p in self._input_paths if p != "-" and not is_s3(p)])

    def _create_input_manifest_if_needed(self) -> None:
        """mapper_raw gets one whole-file split per input file; no manifest needed."""

    def _default_opts(self) -> dict[str, Any]:
        # mrjob keeps a failed job's temp dir for debugging; the engine promises to leave
        # no temp files behind, and its errors carry the worker's traceback instead.
        return dict(super()._default_opts(), executor="processes", max_attempts=4, cleanup_on_failure=["ALL"])

    def build_plan(self) -> JobPlan:
        """The ``JobPlan`` for this job: steps, workers, reducers, budget, files."""
        if not self._script_path:
            raise JobDefinitionError("the engine needs the job's .py file (mr_job_script)")
        script = os.path.abspath(self._script_path)
        class_name = self._mrjob_cls.__name__ if self._mrjob_cls else _only_job_class(script)
        workers = validate_workers(self._opts["num_cores"])
        jobconfs = [self._jobconf_for_step(i) for i in range(self._num_steps())]
        steps = step_plans(self._steps, jobconfs, default_reducers=workers)
        max_attempts = self._opts["max_attempts"]
        if max_attempts is not None and int(max_attempts) < 1:
            raise JobDefinitionError(f"--max-attempts must be at least 1, got {max_attempts}")
        skip_bad_records = self._opts["skip_bad_records"]
        if skip_bad_records is not None and int(skip_bad_records) < 0:
            raise JobDefinitionError(f"--skip-bad-records must be 0 or more, got {skip_bad_records}")
        timeout = self._opts["task_timeout"]
        if timeout is not None and float(timeout) <= 0:
            raise JobDefinitionError(f"--task-timeout must be positive, got {timeout}")
        split_size = self._opts["split_size"]
        env = {k.replace(".", "_"): str(v) for k, v in (self._opts["jobconf"] or {}).items()}
        vectorized = self._opts["vectorize"] is not False and self._can_vectorize(script, class_name, steps)
        env.update(self._cmdenv())
        return JobPlan(
            job_script=script,
            job_class=class_name,
            job_args=tuple(self._mr_job_extra_args()),
            steps=steps,
            workers=workers,
            memory_budget=parse_size(self._opts["memory_budget"], DEFAULT_MEMORY_BUDGET),
            max_attempts=int(max_attempts or 4),
            task_timeout=float(timeout) if timeout else None,
            skip_bad_records=int(skip_bad_records or 0),
            sort_values=bool(self._sort_values),
            split_size=parse_size(split_size, 0) if split_size is not None else None,
            precombine=self._opts["precombine"] is not False,
            vectorized=vectorized,
            working_dir=self._setup_working_dir(),
            env=tuple(sorted(env.items())),
        )

    def _can_vectorize(self, script: str, class_name: str, steps: tuple[StepPlan, ...]) -> bool:
        """True if the job offers a vectorized twin the engine can run (every step reduces)."""
        from engine.plan import has_vector_twin
        from engine.tasks import load_job_class

        job_class = self._mrjob_cls or load_job_class(script, class_name)
        if not has_vector_twin(job_class):
            return False
        if not all(step.has_reducer for step in steps) or steps[0].mapper_raw:
            log.info(
                "the job's vectorized twin is ignored: the engine runs twins of jobs whose steps all reduce"
            )
            return False
        log.info("running the job's vectorized (Arrow) twin; --no-vectorize runs its record methods")
        return True

    def _setup_working_dir(self) -> str:
        """A directory holding the job's ``FILES``/``--file``/archives, like a task's cwd."""
        wd = os.path.join(self._get_local_tmp_dir(), "wd")
        os.makedirs(wd, exist_ok=True)
        for name, path in self._working_dir_mgr.name_to_path("file").items():
            dest = os.path.join(wd, name)
            if not os.path.lexists(dest):
                os.symlink(os.path.abspath(path), dest)
        for name, path in self._working_dir_mgr.name_to_path("archive").items():
            shutil.unpack_archive(path, os.path.join(wd, name))
        return wd

    def _run(self) -> None:
        if (self._opts["executor"] or "processes") == "processes":
            from engine.executor import warm_up

            warm_up()
        plan = self.build_plan()
        if self._output_dir is None:
            self._output_dir = os.path.join(self._get_local_tmp_dir(), "output")
        self.stats = run_job(
            plan,
            self._get_input_paths(),
            self._output_dir,
            scratch_root=self._get_local_tmp_dir(),
            executor=self._opts["executor"] or "processes",
        )
        self._counters = self.stats.counters

    def counters(self) -> list[dict[str, dict[str, int]]]:
        """Counters per step, summed over tasks: ``[{group: {name: value}}, ...]``."""
        return self._counters

    def cat_output(self) -> Iterator[bytes]:
        """Stream the output parts in part order (``b''`` between files), skipping ``_*``/``.*``."""
        output_dir = self.get_output_dir()
        if output_dir is None:
            raise ValueError("Run the job before streaming output")
        if is_s3(output_dir):
            from engine.s3 import S3Job

            yield from S3Job(self._get_local_tmp_dir(), "cat").read_output(output_dir)
            return
        for i, name in enumerate(sorted(n for n in os.listdir(output_dir) if not is_hidden(n))):
            if i > 0:
                yield b""
            with open(os.path.join(output_dir, name), "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk


def _only_job_class(script: str) -> str:
    from engine.jobfile import job_class_in_file

    return job_class_in_file(script).__name__
