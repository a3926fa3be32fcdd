"""What the workers' forkserver imports before it forks them: ``engine.forkserver.context`` names
this module first in its preload (a SQL query's modules follow: ``engine.sql.WORKER_MODULES``).
The cyclic collector is paused here for the forkserver's life (``engine.startup_gc``): the
modules load without collections, and the forkserver, which only forks, makes no garbage; each
process it forks freezes what it inherits and turns the collector on (``startup_gc.pause``
has it done at every fork): an engine worker, and any other -- a ``multiprocessing`` pool of
the user's code, which shares this forkserver. On Python 3.12+, setuptools' copy of
``distutils`` comes first, without setuptools (``engine.__main__._distutils_without_setuptools``),
as ``python -m engine`` does for the driver; below 3.12 the forkserver gets the standard
library's through ``SETUPTOOLS_USE_DISTUTILS=stdlib`` (``engine.forkserver.context``)."""

import atexit
import importlib
import sys

from engine import startup_gc

#: The modules every task runs with, so that no worker imports them after its fork.
MODULES = (
    "engine.tasks",
    "engine.records",
    "engine.arrow.pipeline",
    "engine.arrow.boundary",
    "mrjob.job",
    "mrjob.protocol",
    "pyarrow.acero",
    "pyarrow.parquet",
    "numpy.ma",  # numpy 2 imports it at the Arrow shuffle's first pa.array(ndarray): ~10 ms
)

startup_gc.pause()
# Its exit (its command's end) scans nothing: a pipe the command wrote to sees its end only when
# the forkserver, which holds it too, is gone: ~70 ms sooner. The forked children end in os._exit.
atexit.register(startup_gc.freeze_for_exit)
if sys.version_info >= (3, 12):
    from engine.__main__ import _distutils_without_setuptools

    _distutils_without_setuptools()
for _name in MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:  # as the forkserver's own preload loop: a task imports it, or says why not
        pass
