"""Word count on >= 30 MB of text with -r engine, -r inline and -r local, in one run.

    python -m bench.wordcount [--size-mb 32] [--repeat 3] [--runners engine,inline,local]

Each runner runs the same job file (jobs/wordcount.py) as a user would, from the command
line; every output is checked equal to the engine's before its time counts. The table, with
the command line and the machine, goes to stdout and to bench/out/wordcount.md (gitignored);
``--record`` also appends it to the tracked bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.datasets import words
from bench.measure import run_measured

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "RESULTS.md"
OUT = ROOT / "bench" / "out"


#: Runner names of this benchmark → the job's command-line switches.
RUNNER_ARGS = {
    "engine": ["-r", "engine"],  # the vectorized twin
    "engine-record": ["-r", "engine", "--no-vectorize"],  # the record methods
    "inline": ["-r", "inline"],
    "local": ["-r", "local"],
}


def run_once(runner: str, inputs: list[str], extra: list[str]) -> tuple[float, bytes, int]:
    """Wall seconds, sorted output, and the peak PSS (bytes) of the whole process tree."""
    done = run_measured(
        [sys.executable, str(ROOT / "jobs" / "wordcount.py"), *RUNNER_ARGS[runner], "-q", *extra, *inputs],
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, runner, done.stdout, done.stderr)
    return done.seconds, b"\n".join(sorted(done.stdout.splitlines())), done.peak_pss


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.wordcount", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=32, help="text in MiB (default 32)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per runner (default 3)")
    parser.add_argument(
        "--runners",
        default="engine,engine-record,inline,local",
        help="comma-separated, from: " + ", ".join(RUNNER_ARGS) + " (default all)",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, metavar="DIR", help="writes DIR/wordcount.md (default bench/out/)"
    )
    record = parser.add_mutually_exclusive_group()
    record.add_argument("--record", action="store_true", help="also append the table to bench/RESULTS.md")
    record.add_argument("--no-record", action="store_true", help="write no file, only print the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    path = words(DATA, args.size_mb) / "words.txt"
    inputs = [str(path)]
    runners = args.runners.split(",")
    times: dict[str, list[float]] = {r: [] for r in runners}
    rss: dict[str, int] = {}
    reference: bytes | None = None
    for _ in range(args.repeat):
        for runner in runners:  # interleaved, so machine noise hits every runner alike
            seconds, output, peak = run_once(runner, inputs, [])
            if reference is None:
                reference = output
            if output != reference:
                raise SystemExit(f"-r {runner} gave a different answer: benchmark void")
            times[runner].append(seconds)
            rss[runner] = max(rss.get(runner, 0), peak)
            print(f"{runner:>13}: {seconds:7.2f} s", flush=True)

    engine = statistics.median(times["engine"]) if "engine" in times else None
    lines = [
        "",
        f"### Word count, {path.stat().st_size / 1e6:.1f} MB of text, {args.repeat} runs each "
        f"({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python -m bench.wordcount {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "",
        "| runner | median s | min–max s | time ÷ vectorized engine's | peak MiB PSS (process tree) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for runner in runners:
        med = statistics.median(times[runner])
        ratio = f"{med / engine:.1f}×" if engine else "–"
        lines.append(
            f"| {' '.join(RUNNER_ARGS[runner])} | {med:.2f} "
            f"| {min(times[runner]):.2f}–{max(times[runner]):.2f} | {ratio} | {rss[runner] / 2**20:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    from bench.report import append, write

    if not args.no_record:
        print(f"written to {write(args.out / 'wordcount.md', text)}")
    if args.record:
        append(RESULTS, text)
        print(f"recorded: appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
