"""Which allocator Arrow's memory comes from in the engine's processes: the C library's (``system``)
rather than the mimalloc pyarrow picks by default. A value the user set in
``ARROW_DEFAULT_MEMORY_POOL`` is kept.

pyarrow reads the variable once per process, when Arrow first allocates, so ``python -m engine``
sets it first thing (for itself, the warm server and the processes they start), and the workers'
forkserver is started with it (``engine.forkserver.context``). Measured side by side here
(bench/RESULTS.md): the same speed or better (a join of 10M visits with 1M pages from Parquet,
median 4.2 s against 3.9 s) and a smaller peak, since mimalloc keeps the pages a worker freed
(AMPLab 2A from Parquet, the process tree: 440 against 357 MiB at 2 workers, 808 against 636
MiB at 8). This module imports nothing but ``os``: every ``hive``/``sql`` command imports it,
also the ones a warm server runs.
"""

from __future__ import annotations

import os

#: pyarrow's choice of allocator, read once per process when Arrow first allocates.
ARROW_POOL_VAR = "ARROW_DEFAULT_MEMORY_POOL"
#: ``ARROW_POOL_VAR`` in the engine's processes where the user sets none.
ARROW_POOL = "system"


def default() -> None:
    """This process's Arrow allocator is ``ARROW_POOL`` unless the user chose one; call it
    before pyarrow allocates."""
    os.environ.setdefault(ARROW_POOL_VAR, ARROW_POOL)
