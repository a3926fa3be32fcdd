"""What a run's history and report cost: ``python -m bench.report_cost [--size-mb N] [--repeat N]``.

Runs a word count with ``--output-dir`` -- on the embedded sample, or with ``--size-mb N`` on N
MiB of generated text (``bench.datasets.words``, cached under ``--data-dir``) -- then times
``engine.history.write_logs`` (the history JSON and the self-contained report page) on that
run's history, N times into fresh directories, and prints the median, min and max, and the
median as a share of the job's wall time. What the history costs while the job runs is a dict
per task attempt and one per phase (the executor's ``_tell``), microseconds against tasks of
seconds; it is not timed apart. The page's size does not grow with the data, only with the
number of attempts.
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
    ap.add_argument("--size-mb", type=float, default=0, help="MiB of generated text (default: the sample)")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    if args.size_mb:
        from bench import datasets

        data = datasets.words(args.data_dir, args.size_mb) / "words.txt"
    else:
        data = ROOT / "data" / "sample" / "words.txt"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        job = MRWordCount(
            ["-r", "engine", "-q", "--num-cores", str(args.workers), "--output-dir", str(out), str(data)]
        )
        with job.make_runner() as runner:
            runner.run()
        saved = load_history(str(out))
        history = History(saved["job"]["id"], saved["job"]["command"], saved["job"]["inputs"], {})
        for key in ("job", "phases", "attempts", "partitions", "counters", "workers_lost", "sections"):
            setattr(history, key, saved[key])
        seconds = []
        for i in range(args.repeat):
            started = time.perf_counter()
            write_logs(history, str(Path(tmp) / f"logs-{i}"))
            seconds.append(time.perf_counter() - started)
    ms = [s * 1000 for s in seconds]
    wall = saved["job"]["seconds"]
    print(
        f"word count over {data.stat().st_size / (1 << 20):.1f} MiB ({saved['job']['options']['executor']}, "
        f"{args.workers} workers): {wall:.2f} s wall, {len(saved['attempts'])} attempts; write_logs: median "
        f"{statistics.median(ms):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms over {len(ms)} runs "
        f"= {statistics.median(seconds) / wall:.2%} of the job's wall time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
