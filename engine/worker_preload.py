"""What the workers' forkserver imports before it forks them: ``engine.executor._context`` names
this module as its preload. The engine, mrjob and pyarrow load with the cyclic collector paused,
and what they made is frozen after (``engine.startup_gc``), so a forked worker never scans them
(nor, copy-on-write, copies their pages to do so). On Python 3.12+, setuptools' copy of
``distutils`` comes first, without setuptools (``engine.__main__._distutils_without_setuptools``),
as ``python -m engine`` does for the driver; below 3.12 the forkserver gets the standard library's
through ``SETUPTOOLS_USE_DISTUTILS=stdlib`` (``engine.executor._context``)."""

import importlib
import sys

from engine import startup_gc

#: The modules a task runs with, so that no worker imports them after its fork.
MODULES = (
    "engine.tasks",
    "engine.records",
    "engine.arrow.pipeline",
    "mrjob.job",
    "mrjob.protocol",
    "pyarrow.acero",
    "pyarrow.parquet",
)

startup_gc.pause()
if sys.version_info >= (3, 12):
    from engine.__main__ import _distutils_without_setuptools

    _distutils_without_setuptools()
for _name in MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:  # as the forkserver's own preload loop: a task imports it, or says why not
        pass
startup_gc.resume()
