"""``EngineRunner``: the engine as one more mrjob runner (``-r engine``).

mrjob's programmatic API keeps working: ``make_runner()``, ``run()``, ``cat_output()``,
``counters()``. Options (declared in ``engine.options``) come from the command line
(see ``engine.job``) or from ``mrjob.conf`` under ``runners: engine:``.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import logging
import os
import shutil
import stat
import sys
from typing import Any, Iterator

from mrjob.runner import MRJobRunner
from mrjob.util import unarchive

from engine.driver import run_job
from engine.environment import jobconf_environment
from engine.errors import JobDefinitionError
from engine.mrjob_bridge import Counters
from engine.options import OPTION_NAMES, OPTIONS_BY_NAME, defaults, resolve
from engine.plan import JobPlan, StepPlan, step_plans
from engine.progress import JobStats
from engine.s3 import is_s3
from engine.splits import is_hidden, list_input_files, local_path

log = logging.getLogger(__name__)

#: ``--executor`` when none is given (``engine.options``).
DEFAULT_EXECUTOR = OPTIONS_BY_NAME["executor"].default


class EngineRunner(MRJobRunner):
    """Runs a job's steps on the engine: parallel map, sort-based shuffle, reduce."""

    alias = "engine"
    OPT_NAMES = MRJobRunner.OPT_NAMES | OPTION_NAMES  # its own: engine.options
    _STEP_TYPES = {"streaming"}

    def __init__(self, mrjob_cls: type | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mrjob_cls = mrjob_cls
        self._counters: list[Counters] = []
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
        return dict(super()._default_opts(), **defaults(), cleanup_on_failure=["ALL"])

    def build_plan(self) -> JobPlan:
        """The ``JobPlan`` for this job: steps, workers, reducers, budget, files."""
        if not self._script_path:
            raise JobDefinitionError("the engine needs the job's .py file (mr_job_script)")
        script = os.path.abspath(self._script_path)
        class_name = self._mrjob_cls.__name__ if self._mrjob_cls else _only_job_class(script)
        values = resolve(self._opts, warn=log.warning)  # engine.options: refuses bad values
        workers = values["num_cores"]
        jobconfs = [self._jobconf_for_step(i) for i in range(self._num_steps())]
        steps = step_plans(self._steps, jobconfs, default_reducers=workers)
        if self._opts["setup"]:
            raise JobDefinitionError(
                f"--setup {self._opts['setup'][0]!r}: the engine runs tasks in its own worker "
                "processes and does not run shell set-up commands; run them once yourself "
                "before the job, or use -r local, which runs them before each task"
            )
        env = {k.replace(".", "_"): str(v) for k, v in (self._opts["jobconf"] or {}).items()}
        record_steps = self._twin_record_steps(script, class_name, steps) if values["vectorize"] else None
        working_dir = self._setup_working_dir()
        for name, value in jobconf_environment(self._cache_jobconf(working_dir)).items():
            env.setdefault(name, value)
        env.update(self._cmdenv())
        return JobPlan(
            job_script=script,
            job_class=class_name,
            job_args=tuple(self._mr_job_extra_args()),
            steps=steps,
            workers=workers,
            memory_budget=values["memory_budget"],
            max_attempts=values["max_attempts"],
            task_timeout=values["task_timeout"],
            skip_bad_records=values["skip_bad_records"],
            sort_values=bool(self._sort_values),
            split_size=values["split_size"],
            precombine=values["precombine"],
            vectorized=record_steps is not None,
            record_steps=record_steps or (),
            working_dir=working_dir,
            python_path=tuple(self._python_path(working_dir)),
            env=tuple(sorted(env.items())),
        )

    def _twin_record_steps(
        self, script: str, class_name: str, steps: tuple[StepPlan, ...]
    ) -> tuple[int, ...] | None:
        """``None`` unless the job offers a vectorized twin the engine can run (every step
        reduces, or the job is one map-only step); else the steps the twin leaves to their
        record methods (``JobPlan.record_steps``)."""
        from engine.mrjob_bridge import load_job_class
        from engine.plan import has_vector_twin

        job_class = self._mrjob_cls or load_job_class(script, class_name)
        self._job_class_for_plan = job_class
        if not has_vector_twin(job_class):
            return None
        map_only = len(steps) == 1 and not steps[0].has_reducer and not steps[0].has_combiner
        if not (map_only or all(step.has_reducer for step in steps)) or steps[0].mapper_raw:
            log.info(
                "the job's vectorized twin is ignored: the engine runs twins of jobs whose steps "
                "all reduce, or of one map-only step"
            )
            return None
        record_steps = self._check_twin(steps)
        if record_steps is None:
            log.info("the job offers no vectorized twin for this run (vector_steps() gives no VectorStep)")
            return None
        if record_steps:
            names = ", ".join(f"step {i + 1}" for i in record_steps)
            log.info(f"running the job's vectorized (Arrow) twin, {names} on its record methods")
        else:
            log.info("running the job's vectorized (Arrow) twin; --no-vectorize runs its record methods")
        return record_steps

    def _check_twin(self, steps: tuple[StepPlan, ...]) -> tuple[int, ...] | None:
        """Validate the twin's declarations once, here, before any worker starts; ``None``
        when ``vector_steps()`` is ``None`` (a job whose twin covers only some of its runs,
        as a compiled SQL query's covers the plans that have an Arrow form), else the steps
        it gives ``None`` for: they run their record methods, and the twins beside them
        convert the rows (``to_pairs``, ``from_pairs``)."""
        from engine.mrjob_bridge import TaskCounters, make_job
        from engine.plan import JobPlan

        probe = JobPlan(self._script_path or "", "", tuple(self._mr_job_extra_args()), steps, 1, 1)
        job = make_job(probe, 0, "mapper", TaskCounters(), job_class=self._job_class_for_plan)
        offers = getattr(job, "offers_vector_steps", None)
        if offers is not None:
            # a job that builds its twin from its options (SqlJob) says whether it has one, and
            # which steps it leaves to the record methods; its generated declarations need no
            # checking: nothing is built (no pyarrow here)
            if not offers():
                return None
            record = getattr(job, "vector_record_steps", None)
            return tuple(record()) if record is not None else ()
        twins = job.vector_steps()
        if twins is None:
            return None
        if len(twins) != len(steps):
            raise JobDefinitionError(
                f"vector_steps() gives {len(twins)} steps but steps() has {len(steps)}: "
                "give one VectorStep per step, or no vector_steps()"
            )
        record_steps = tuple(i for i, twin in enumerate(twins) if twin is None)
        if len(record_steps) == len(twins):
            return None
        for i, twin in enumerate(twins):
            if twin is None:
                continue
            twin.validate()
            if i > 0 and twins[i - 1] is None and twin.from_pairs is None:
                raise JobDefinitionError(
                    f"vector_steps() gives None for step {i} but step {i + 1}'s VectorStep has no "
                    "from_pairs: declare how the record reducer's pairs become its input table"
                )
            if i + 1 < len(twins) and twins[i + 1] is None and twin.to_pairs is None:
                raise JobDefinitionError(
                    f"vector_steps() gives None for step {i + 2} but step {i + 1}'s VectorStep has no "
                    "to_pairs: declare how its result table becomes the record reducer's pairs"
                )
        return record_steps

    def _setup_working_dir(self) -> str:
        """A directory holding the job's ``FILES``/``--files``/archives, like a task's cwd.

        As mrjob's local runners build their simulated distributed cache: each file is a
        *copy* made readable and executable by its owner (mrjob #1619: a task may run an
        uploaded script), each archive is unpacked the same way, and ``file://`` URIs
        name local paths.
        """
        wd = os.path.join(self._get_local_tmp_dir(), "wd")
        os.makedirs(wd, exist_ok=True)
        for name, path in self._working_dir_mgr.name_to_path("file").items():
            dest = os.path.join(wd, name)
            if not os.path.lexists(dest):
                shutil.copy(local_path(path), dest)
                _chmod_user_rx(dest)
        for name, path in self._working_dir_mgr.name_to_path("archive").items():
            dest = os.path.join(wd, name)
            unarchive(local_path(path), dest)
            for root, _, names in os.walk(dest):
                for file_name in names:
                    _chmod_user_rx(os.path.join(root, file_name))
        return wd

    def _python_path(self, working_dir: str) -> list[str]:
        """``--py-files`` (zips, eggs, .py files) copied into the working directory: what
        tasks put on ``sys.path``, as mrjob's runners put them on ``PYTHONPATH``."""
        paths = []
        for path in self._opts["py_files"] or ():
            source = local_path(path)
            dest = os.path.join(working_dir, os.path.basename(source))
            if not os.path.lexists(dest):
                shutil.copy(source, dest)
            # a .py file is importable from its directory, an archive from itself
            paths.append(working_dir if dest.endswith(".py") else dest)
        return list(dict.fromkeys(paths))

    def _cache_jobconf(self, working_dir: str) -> dict[str, str]:
        """The distributed-cache task variables Hadoop and mrjob's runners set."""
        jobconf = {}
        for kind in ("archive", "file"):
            named = sorted(self._working_dir_mgr.name_to_path(kind).items())
            jobconf[f"mapreduce.job.cache.{kind}s"] = ",".join(f"{path}#{name}" for name, path in named)
            jobconf[f"mapreduce.job.cache.local.{kind}s"] = ",".join(
                os.path.join(working_dir, name) for name, _ in named
            )
        return jobconf

    def _run(self) -> None:
        # Workers must not re-run the caller's __main__ (a script calling make_runner()
        # without an ``if __name__ == "__main__":`` guard would run the job again in every
        # worker): they load the job from its file by path and need nothing from __main__.
        with _main_module_not_rerun_in_workers():
            from engine.forkserver import start_executor

            opts = self._opts
            jobconf = opts["jobconf"] or {}
            timeouts_set = opts["task_timeout"] is not None or "mapreduce.task.timeout" in jobconf
            kind = opts["executor"] or DEFAULT_EXECUTOR
            executor = start_executor(kind, self._get_input_paths(), timeouts_set)
            plan = self.build_plan()
            user_output = self._output_dir is not None  # type: ignore[has-type]  # mrjob's untyped runner
            if not user_output:
                self._output_dir = os.path.join(self._get_local_tmp_dir(), "output")
            write_history = user_output and self._opts.get("history") is not False
            report_path = self._opts.get("report")
            history = self._history(plan, executor) if write_history or report_path else None
            self.stats = run_job(
                plan,
                self._get_input_paths(),
                self._output_dir,
                scratch_root=self._get_local_tmp_dir(),
                also_owned=[self._get_local_tmp_dir()],
                executor=executor,
                history=history,
                write_history=write_history,
                report_path=report_path,
            )
        self._counters = self.stats.counters

    def _history(self, plan: Any, executor: str) -> Any:
        """A fresh ``engine.history.History`` of this run (its id is set by the driver)."""
        import sys

        from engine.history import History

        options = {
            "workers": plan.workers,
            "reducers": [s.num_reducers for s in plan.steps],
            "memory_budget": plan.memory_budget,
            "pipeline": plan.pipeline,
            "executor": executor,
            "max_attempts": plan.max_attempts,
        }
        history = History("", sys.argv, list(self._get_input_paths()), options)
        if self._mrjob_cls is not None and hasattr(self._mrjob_cls, "report_sections"):
            # the job's own part of the report (SqlJob: its stage plan), from a copy of the job
            history.describe = self._mrjob_cls(self._mr_job_extra_args()).report_sections
        return history

    def counters(self) -> list[Counters]:
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


def _chmod_user_rx(path: str) -> None:
    """Readable and executable by its owner, as mrjob's ``_chmod_u_rx`` leaves cache files."""
    os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)


@contextlib.contextmanager
def _main_module_not_rerun_in_workers() -> Iterator[None]:
    """Make multiprocessing treat ``__main__`` as nothing to re-import in a new process.

    A worker started by spawn or the forkserver prepares itself from the parent's
    ``__main__``: by its ``__spec__.name`` (re-imported unless it is ``__main__`` or ends
    in ``.__main__``) or else its ``__file__`` (run again as ``__mp_main__``). A spec named
    ``__main__`` is skipped, so workers start without running the caller's script.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None) or ""
    if main is None or name == "__main__" or name.endswith(".__main__"):
        yield
        return
    if spec is None and not getattr(main, "__file__", None):
        yield  # an interactive session: nothing is re-run
        return
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = spec


def _only_job_class(script: str) -> str:
    from engine.jobfile import job_class_in_file

    return job_class_in_file(script).__name__
