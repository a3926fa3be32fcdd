"""What a run's history and report cost: ``python -m bench.report_cost [--repeat N]``.

Runs a tiny word count (the embedded sample) with ``--output-dir``, then times
``engine.history.write_logs`` -- the history JSON and the self-contained report page -- on that
run's history, N times into fresh directories, and prints the median, min and max. (The cost on
a large job is the same plus a few microseconds per task attempt: the page's size does not grow
with the data, only with the number of attempts.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    from engine.history import History, write_logs
    from engine.report import load_history
    from jobs.wordcount import MRWordCount

    ap = argparse.ArgumentParser(prog="python -m bench.report_cost", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        job = MRWordCount(
            ["-r", "engine", "-q", "--output-dir", str(out), str(ROOT / "data/sample/words.txt")]
        )
        with job.make_runner() as runner:
            runner.run()
        saved = load_history(str(out))
        history = History(saved["job"]["id"], saved["job"]["command"], saved["job"]["inputs"], {})
        for key in ("job", "phases", "attempts", "partitions", "counters", "workers_lost"):
            setattr(history, key, saved[key])
        seconds = []
        for i in range(args.repeat):
            started = time.perf_counter()
            write_logs(history, str(Path(tmp) / f"logs-{i}"))
            seconds.append(time.perf_counter() - started)
    ms = [s * 1000 for s in seconds]
    print(
        f"write_logs ({len(saved['attempts'])} attempts): median {statistics.median(ms):.1f} ms, "
        f"min {min(ms):.1f} ms, max {max(ms):.1f} ms over {len(ms)} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
