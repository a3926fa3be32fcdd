"""engine.forkserver: which executor a job gets, and the forkserver started for it -- early (this
module imports nothing heavy) and with the modules it is asked to preload."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.forkserver import SMALL_INPUT_BYTES, choose_executor

ROOT = Path(__file__).parent.parent


def _printed(code: str) -> str:
    """What *code* prints, run by a fresh interpreter in the repository (a forkserver of its own)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_auto_runs_small_local_inputs_in_this_process_and_the_rest_in_workers(tmp_path):
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text("a b\n")
    with open(big, "wb") as f:  # sparse: one byte past the limit, written in no time
        f.truncate(SMALL_INPUT_BYTES + 1)
    assert choose_executor("auto", [str(small)]) == "auto"  # AutoExecutor: this process first
    assert choose_executor("auto", [str(tmp_path)]) == "processes"  # the directory holds both
    assert choose_executor("auto", [str(big)]) == "processes"
    assert choose_executor("auto", [str(small)], timeouts_set=True) == "processes"  # only a worker is killed
    assert choose_executor("auto", ["s3://bucket/key"]) == "processes"
    assert choose_executor("auto", [str(tmp_path / "missing")]) == "processes"  # the driver names it
    assert choose_executor("processes", [str(small)]) == "processes"
    assert choose_executor("serial", [str(big)]) == "serial"


def test_the_module_imports_nothing_heavy():
    """A SQL command starts the forkserver before its own imports: this module must not pull
    them in (mrjob, pyarrow, sqlglot, the executor) or the forkserver waits for them."""
    code = (
        "import sys\n"
        "import engine.forkserver\n"
        "print(sorted(m for m in ('mrjob', 'pyarrow', 'sqlglot', 'numpy', 'engine.executor', 'engine.tasks')"
        " if m in sys.modules))\n"
    )
    assert _printed(code) == "[]"


def test_the_forkserver_preloads_the_modules_it_is_started_with(tmp_path):
    """start_executor(..., preload) starts the forkserver with those modules imported after the
    engine's (engine.worker_preload): a process it forks has them before it imports anything,
    and the collector on again (only the forkserver itself keeps it paused)."""
    data = tmp_path / "in.txt"
    data.write_text("a\n")
    code = (
        "import multiprocessing, sys\n"
        "from engine.forkserver import start_executor\n"
        f"assert start_executor('processes', [{str(data)!r}], preload=['json.tool']) == 'processes'\n"
        "assert 'json.tool' not in sys.modules\n"
        "ctx = multiprocessing.get_context('forkserver')\n"
        "here, there = ctx.Pipe()\n"
        "report = 'import gc, sys; conn.send([m in sys.modules for m in names] + [gc.isenabled()])'\n"
        "names = ('json.tool', 'engine.tasks')\n"
        "child = ctx.Process(target=exec, args=(report, {'conn': there, 'names': names}))\n"
        "child.start()\n"
        "print(here.recv())\n"
        "child.join()\n"
    )
    assert _printed(code) == "[True, True, True]"


def test_workers_allocate_arrow_memory_from_the_system_allocator_unless_the_user_chose_one(tmp_path):
    # engine.arrow_pool: the forkserver starts with it, the command's own environment stays as it was
    data = tmp_path / "in.txt"
    data.write_text("a\n")
    code = (
        "import multiprocessing, os\n"
        "os.environ.pop('ARROW_DEFAULT_MEMORY_POOL', None)\n"
        "from engine.forkserver import start_executor\n"
        f"assert start_executor('processes', [{str(data)!r}]) == 'processes'\n"
        "print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))\n"
        "ctx = multiprocessing.get_context('forkserver')\n"
        "here, there = ctx.Pipe()\n"
        "report = 'import pyarrow; conn.send(pyarrow.default_memory_pool().backend_name)'\n"
        "child = ctx.Process(target=exec, args=(report, {'conn': there}))\n"
        "child.start()\n"
        "print(here.recv())\n"
        "child.join()\n"
    )
    assert _printed(code).split() == ["None", "system"]
    chosen = code.replace(
        "os.environ.pop('ARROW_DEFAULT_MEMORY_POOL', None)",
        "os.environ['ARROW_DEFAULT_MEMORY_POOL'] = 'mimalloc'",
    )
    assert _printed(chosen).split() == ["mimalloc", "mimalloc"]
