"""The benchmark suite: the engine beside DuckDB and mrjob's runners, on the same files, in one run.

    python -m bench [--scale 1] [--rows 100000] [--size-mb 32] [--workers 1,2] [--repeat 3]
                    [--format text|parquet] [--with-mrjob auto|yes|no] [--with-sql auto|yes|no]
                    [--systems engine,engine-vec,engine-sql[,engine-sql-warm]] [--memory-bound]
                    [--quick]
                    [--out bench/out] [--record]

For each query (word count, CloudFront OS counts, TICKIT top buyers, total sales on a
date, 99.9 percentile events) and each worker count, it runs, as separate processes:

* ``engine``      -- ``python jobs/X.py -r engine --no-vectorize --num-cores N`` (record path);
* ``engine-vec``  -- ``python jobs/X.py -r engine --num-cores N``, only when the job class has
  a ``vector_steps`` twin (otherwise the two modes would run the same code: "no twin");
* ``engine-sql``  -- the lab's own SQL compiled by the engine's SQL front end and run on
  ``-r engine --num-cores N``: ``python -m engine sql --dialect redshift -f SCRIPT`` (the TICKIT
  queries: sql/tickit_lab.sql's DDL and COPY commands pointed at the same files, then the
  query's original text) or ``python -m engine hive -f emr/Hive_CloudFront.q -d INPUT=...
  -d OUTPUT=...`` (the tutorial's script itself); at the largest worker count only, on text
  inputs only, and (``--with-sql auto``) only where a run is cheap: TICKIT inputs under 250k
  rows, CloudFront logs under 1M lines (bench/queries.py ``SQL_AUTO_MAX_ROWS``). Word count
  has no SQL text in the labs;
* ``engine-sql-warm`` -- the same command handed to a warm server (``python -m engine server``,
  started for the run on a socket of its own and stopped at its end; ``bench.measure.warm_server``
  fails the run unless the server ran every warm run), where engine-sql runs; not by default.
  Its memory is the client's alone (the server's children are not its process tree): "n/a";
* ``duckdb``      -- the lab's SQL on the same files with ``SET threads = N`` (bench/duckrun.py);
* ``inline``, ``local`` -- mrjob's own runners, at the largest worker count only, and only
  for small inputs (``--with-mrjob auto``: fewer than ``--mrjob-max-rows`` input rows).

Defaults finish in about 10 minutes on 2 cores (5 without engine-sql: ``--systems
engine,engine-vec``; more on a loaded machine). CloudFront defaults to 100k lines because
DuckDB's RE2 needs ~80 µs a line to extract the RegexSerDe groups (1M lines: ~100 s on
one thread); ``--rows``, ``--scale`` and ``--size-mb`` raise the sizes.

Runs are interleaved (repeat, query, workers, system), so machine noise hits every system
alike. Every answer is checked equal to DuckDB's before its time counts; a wrong answer
or a failed run voids that row (reported loudly, exit status 1). Wall time includes
process start-up, as a user sees it; memory is the peak over the whole process tree
(bench/measure.py), sampled in one extra, untimed run per cell (round "memory"), since
reading /proc every 20 ms slows the processes it reads.

Results: a short table of ratios to DuckDB on stdout, and the full report under ``--out``
(``bench/out/``, gitignored, rewritten by each run): ``results.md`` (the Markdown section),
``results.png`` (the chart; needs matplotlib: ``pip install -e '.[bench]'``) and
``results.json``. Only ``--record`` touches the tracked files: it appends the section to
bench/RESULTS.md and draws the chart to bench/results.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import operator
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import datasets, queries
from bench.measure import Measurement, compile_bytecode, run_measured, warm_server
from bench.queries import Query

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"  # a run's report (gitignored)
RESULTS = BENCH / "RESULTS.md"  # tracked: written only by --record
RESULTS_CHART = BENCH / "results.png"  # tracked: written only by --record
SYSTEMS = (
    "duckdb",
    "engine",
    "engine-vec",
    "engine-sql",
    "engine-sql-warm",
    "inline",
    "local",
)  # duckdb first
ENGINE_SYSTEMS = ("engine", "engine-vec", "engine-sql")  # --systems's default
SYSTEM_CHOICES = (*ENGINE_SYSTEMS, "engine-sql-warm")  # what --systems chooses from
SQL_SYSTEMS = frozenset({"engine-sql", "engine-sql-warm"})  # the labs' SQL text: where sql_plan says
MRJOB_RUNNERS = ("inline", "local")
ALL_QUERIES = ("wordcount", "cloudfront", "top_buyers", "total_sales", "percentile")


@dataclass
class Cell:
    """Every run of one (query, system, workers)."""

    times: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)  # DuckDB: time inside the process
    peak_rss: int = 0
    peak_pss: int = 0
    errors: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.errors else None


# ------------------------------------------------------------------------ arguments


def _size_bytes(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def default_workers() -> str:
    cores = os.cpu_count() or 1
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    if cores > 1:
        counts.append(cores)
    return ",".join(map(str, counts))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="TICKIT scale (1 = the real sample: 172k sales)")
    p.add_argument("--rows", type=int, default=100_000, help="CloudFront log lines (default 100k)")
    p.add_argument("--size-mb", type=float, default=32, help="word-count text in MiB (default 32)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the generated data (text, CloudFront logs, TICKIT rows)"
    )
    p.add_argument(
        "--workers", default=None, help=f"worker counts, e.g. 1,2,4 (default here: {default_workers()})"
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    p.add_argument(
        "--queries", default=",".join(ALL_QUERIES), help="comma-separated subset of " + ",".join(ALL_QUERIES)
    )
    p.add_argument(
        "--format", choices=["text", "parquet"], default="text", help="TICKIT/CloudFront input files"
    )
    p.add_argument(
        "--with-mrjob",
        choices=["auto", "yes", "no"],
        default="auto",
        help="also run -r inline / -r local (auto: when the query's input has < --mrjob-max-rows rows)",
    )
    p.add_argument(
        "--mrjob-max-rows",
        type=int,
        default=150_000,
        help="with --with-mrjob auto, run mrjob's runners only on inputs of fewer rows (default 150000)",
    )
    p.add_argument(
        "--systems",
        default=",".join(ENGINE_SYSTEMS),
        help="engine systems to run beside DuckDB: engine (record path), engine-vec (the twin), "
        "engine-sql (the labs' SQL text compiled by the engine's SQL front end; see --with-sql), "
        "engine-sql-warm (the same on a warm server started for the run); "
        f"default {','.join(ENGINE_SYSTEMS)}; e.g. engine-vec alone to skip the record path at large sizes",
    )
    p.add_argument(
        "--with-sql",
        choices=["auto", "yes", "no"],
        default="auto",
        help="when engine-sql (if in --systems) runs, at the largest worker count, on text inputs: "
        "auto (default) where a run is cheap: TICKIT inputs under "
        f"{queries.SQL_AUTO_MAX_ROWS['tickit']:,} rows, CloudFront logs under "
        f"{queries.SQL_AUTO_MAX_ROWS['cloudfront']:,} lines (row-at-a-time Python); yes: any size; no: never",
    )
    p.add_argument(
        "--mrjob-runners",
        default="inline,local",
        help="which of mrjob's own runners to run beside the engine: inline, local (default inline,local)",
    )
    p.add_argument("--memory-bound", action="store_true", help="also run the memory-bound word count")
    p.add_argument("--memory-budget", default="32M", help="engine --memory-budget of the memory-bound run")
    p.add_argument(
        "--memory-size-mb", type=float, default=None, help="its text (default: map output >= 10x budget)"
    )
    p.add_argument(
        "--memory-repeat", type=int, default=1, help="runs of the memory-bound word count (default 1)"
    )
    p.add_argument(
        "--memory-distinct-words",
        type=int,
        default=6_000_000,
        metavar="N",
        help="the memory-bound run also counts N distinct words (each once: every key a reduce group) "
        "on both pipelines, Arrow and record, with the same budget (default 6000000, ~54 MB of text; "
        "0: skip)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny data, 1 repeat, 2 workers, inline only (smoke test)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=OUT,
        metavar="DIR",
        help="directory for this run's report: results.md (the full Markdown), results.png (the chart), "
        "results.json (every measurement), each rewritten by every run (default bench/out/, gitignored)",
    )
    record = p.add_mutually_exclusive_group()
    record.add_argument(
        "--record",
        action="store_true",
        help="also record the run in the tracked files: append its Markdown section to --results and "
        "draw the chart to bench/results.png (a plain run leaves both alone)",
    )
    record.add_argument(
        "--no-record",
        action="store_true",
        help="write no report files at all, not even under --out (only --chart/--json if given); "
        "print the full Markdown instead",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=BENCH / "data",
        metavar="DIR",
        help="cache of generated data (default bench/data/)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        metavar="FILE",
        help="the tracked Markdown file --record appends the run's section to (default bench/RESULTS.md)",
    )
    p.add_argument("--chart", type=Path, default=None, metavar="PNG", help="also draw the chart here")
    p.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write every measurement as JSON here"
    )
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run is killed (a failure)")
    return p


# ------------------------------------------------------------------------ running


def job_argv(system: str, query: Query, workers: int, extra: list[str] | None = None) -> list[str]:
    argv = [sys.executable, str(query.job)]
    if system == "engine":
        argv += ["-r", "engine", "--no-vectorize", "--num-cores", str(workers)]
    elif system == "engine-vec":
        argv += ["-r", "engine", "--num-cores", str(workers)]
    elif system == "inline":
        argv += ["-r", "inline"]
    elif system == "local":
        argv += ["-r", "local", "--num-cores", str(workers)]
    else:
        raise ValueError(system)
    return [*argv, "-q", *(extra or []), *query.job_args, *map(str, query.inputs)]


def sql_argv(query: Query, workers: int, scratch: Path) -> list[str]:
    """engine-sql's command: ``python -m engine sql|hive ... -r engine --num-cores N`` (the
    command hands the switches it does not know to the compiled job, as ``python JOB.py`` takes them)."""
    assert query.sql is not None
    return [sys.executable, "-m", "engine", *query.sql(scratch), "-r", "engine", "--num-cores", str(workers)]


class Runner:
    """Runs one measurement at a time and checks its answer."""

    def __init__(self, timeout: float, tmp: Path):
        self.timeout = timeout
        self.tmp = tmp
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "ENGINE_SERVER": "off",  # each run its own process, whatever warm server runs here
        }
        # engine-sql-warm's: the run's own server (main starts it), on a short path (a socket's)
        self.warm_env = {
            **self.env,
            "ENGINE_SERVER": "on",
            "ENGINE_SERVER_SOCKET": str(tmp / "s" / "server.sock"),
        }
        self.warm_runs = 0

    def duckdb(
        self, query: Query, threads: int, memory: bool = False
    ) -> tuple[Measurement, Any, float | None]:
        spec = self.tmp / f"{query.name}.sql.json"
        spec.write_text(json.dumps(query.duckdb_sql))
        m = self._measured([sys.executable, "-m", "bench.duckrun", str(threads), str(spec)], memory)
        if m.returncode != 0:
            return m, None, None
        out = json.loads(m.stdout)
        return m, query.from_duckdb(out["rows"]), out["seconds"]

    def _measured(self, argv: list[str], memory: bool, warm: bool = False) -> Measurement:
        """One system's process, from the repository root, timed (and memory-sampled if asked)."""
        env = self.warm_env if warm else self.env
        self.warm_runs += warm
        return run_measured(argv, cwd=ROOT, env=env, timeout=self.timeout, sample_memory=memory)

    def sql(
        self, query: Query, workers: int, memory: bool = False, warm: bool = False
    ) -> tuple[Measurement, Any]:
        """engine-sql: the query's lab script on ``python -m engine sql|hive -r engine``, in a
        fresh scratch directory (its script, its input links, its Hive output); with *warm*, the
        command handed to the warm server of ``warm_env``."""
        assert query.sql is not None and query.from_sql is not None
        scratch = self.tmp / f"sql-{query.name}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        m = self._measured(sql_argv(query, workers, scratch), memory, warm)
        if m.returncode != 0:
            return m, None
        try:
            return m, query.from_sql(m.stdout, scratch)
        except (ValueError, KeyError, OSError) as e:  # no output where it should be: a wrong answer
            return m, f"unreadable output: {e}"

    def job(self, system: str, query: Query, workers: int, memory: bool = False) -> tuple[Measurement, Any]:
        m = self._measured(job_argv(system, query, workers), memory)
        if m.returncode != 0:
            return m, None
        return m, query.from_job(queries.parse_pairs(m.stdout))


def _tail(data: bytes, lines: int = 15) -> str:
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def _loud(msg: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{msg}\n{bar}\n", file=sys.stderr, flush=True)


def warm_cache(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def parse_systems(text: str) -> list[str]:
    """``--systems``: the engine systems, in the order given."""
    engines = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(engines) - set(SYSTEM_CHOICES)
    if unknown:
        raise SystemExit(f"--systems: unknown {sorted(unknown)}; choose from {', '.join(SYSTEM_CHOICES)}")
    return engines


def sql_plan(args, qs: list[Query]) -> dict[str, str | None]:
    """Per query, None where engine-sql runs (at the largest worker count), else why not."""
    out: dict[str, str | None] = {}
    for q in qs:
        if not SQL_SYSTEMS & set(parse_systems(args.systems)):
            out[q.name] = "not in --systems"
        elif q.sql is None:
            out[q.name] = "no SQL text in the labs" if q.name == "wordcount" else "text inputs only"
        elif args.with_sql == "no":
            out[q.name] = "--with-sql no"
        elif args.with_sql == "auto" and q.rows >= q.sql_max_rows:
            out[q.name] = f"--with-sql auto: {q.rows:,} input rows, not under {q.sql_max_rows:,}"
        else:
            out[q.name] = None
    return out


def run_suite(
    args,
    qs: list[Query],
    workers: list[int],
    mrjob_for: dict[str, list[str]],
    runner: Runner,
    sql_for: dict[str, str | None] | None = None,
):
    cells: dict[tuple[str, str, int], Cell] = {}
    reference: dict[str, Any] = {}
    twins = {q.name: q.has_twin() for q in qs}
    engines = [s for s in parse_systems(args.systems) if s not in SQL_SYSTEMS]
    sqls = [s for s in parse_systems(args.systems) if s in SQL_SYSTEMS]
    sql_for = sql_for if sql_for is not None else sql_plan(args, qs)
    # Round 0 samples memory and is not timed (sampling /proc slows what it samples);
    # rounds 1..repeat are timed.
    for rep in range(args.repeat + 1):
        memory = rep == 0
        for q in qs:
            for w in workers:
                systems = ["duckdb"] + [
                    s for s in engines if s == "engine" or (s == "engine-vec" and twins[q.name])
                ]
                if w == workers[-1]:
                    systems += sqls if sql_for[q.name] is None else []
                    systems += mrjob_for[q.name]
                for system in systems:
                    cell = cells.setdefault((q.name, system, w), Cell())
                    if cell.errors:
                        continue  # this row is void already
                    if system == "duckdb":
                        m, answer, inner = runner.duckdb(q, w, memory)
                    elif system in SQL_SYSTEMS:
                        (m, answer), inner = runner.sql(q, w, memory, system == "engine-sql-warm"), None
                    else:
                        (m, answer), inner = runner.job(system, q, w, memory), None
                    round_name = "memory" if memory else f"{rep}/{args.repeat}"
                    label = f"[{round_name}] {q.name:<12} {system:<10} w={w}"
                    if m.returncode != 0:
                        cell.errors.append(f"exit status {m.returncode}")
                        _loud(f"{label}: FAILED (exit {m.returncode}); row void\n{_tail(m.stderr)}")
                        continue
                    if q.name not in reference:
                        if system != "duckdb":
                            raise AssertionError("DuckDB's answer must come first")
                        if not answer:
                            raise SystemExit(
                                f"DuckDB's answer to {q.name} is empty: the benchmark would prove nothing"
                            )
                        reference[q.name] = answer
                    agrees = q.sql_agrees if system in SQL_SYSTEMS and q.sql_agrees else operator.eq
                    if not agrees(answer, reference[q.name]):
                        cell.errors.append("answer differs from DuckDB's")
                        got = answer if not isinstance(answer, list) else answer[:5]
                        want = reference[q.name] if not isinstance(answer, list) else reference[q.name][:5]
                        _loud(
                            f"{label}: ANSWER DIFFERS FROM DUCKDB'S; row void\n got (first 5): {got}\n"
                            f"want (first 5): {want}"
                        )
                        continue
                    if memory and system == "engine-sql-warm":  # its client's memory alone
                        print(f"{label}: answer ok", flush=True)
                        continue
                    if memory:
                        cell.peak_rss = max(cell.peak_rss, m.peak_rss)
                        cell.peak_pss = max(cell.peak_pss, m.peak_pss)
                        print(f"{label}: peak {m.peak_pss / 2**20:6.0f} MiB PSS  ok", flush=True)
                        continue
                    cell.times.append(m.seconds)
                    if inner is not None:
                        cell.inner.append(inner)
                    print(f"{label}: {m.seconds:7.2f} s  ok", flush=True)
    return cells, twins


# ------------------------------------------------------------------------ memory-bound


@dataclass
class ManyKeysRun:
    """One pipeline's word count over many distinct words within the memory budget."""

    pipeline: str  # "Arrow" (the twin) or "record" (--no-vectorize)
    seconds: float
    peak_pss: int
    peak_rss: int


@dataclass
class MemoryResult:
    budget: int
    text_bytes: int
    map_output_bytes: int
    records: int
    workers: int
    runs: list[tuple[float, int, int]]  # seconds, peak PSS, peak RSS
    summary: str
    errors: list[str]
    # word count over many distinct words on both pipelines (--memory-distinct-words)
    distinct_words: int = 0
    distinct_text_bytes: int = 0
    many_keys: list[ManyKeysRun] = field(default_factory=list)

    @property
    def pss_limit(self) -> int:
        """The target: peak PSS of the whole process tree within budget + 300 MiB."""
        return self.budget + 300 * 2**20

    def many_keys_markdown(self) -> str:
        """The many-keys runs as a Markdown paragraph and table ('' if none ran)."""
        if not self.distinct_words:
            return ""
        limit = self.pss_limit
        out = [
            f"`jobs/wordcount.py` on {self.distinct_text_bytes / 1e6:.0f} MB of text holding "
            f"{self.distinct_words:,} distinct words, each once (every word its own reduce group; "
            f"the output is as large as the map output), `--memory-budget {self.budget >> 20}M`, "
            f"{self.workers} workers, on both pipelines; each output checked equal to DuckDB's "
            "(MD5 of the sorted lines), and the two pipelines' parts byte for byte.",
            "",
            "| pipeline | peak PSS (tree) | peak RSS (tree sum) | budget + 300 MiB | target | wall s |",
            "| --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for r in self.many_keys:
            verdict = "met" if r.peak_pss <= limit else "MISSED"
            out.append(
                f"| {r.pipeline} | {r.peak_pss / 2**20:.0f} MiB | {r.peak_rss / 2**20:.0f} MiB "
                f"| {limit >> 20} MiB | {verdict} (PSS) | {r.seconds:.1f} |"
            )
        return "\n".join(out)


def _budget_argv(budget: str, q: Query, workers: int, *switches: str) -> list[str]:
    """``python -m engine run`` of *q* under the memory-bound run's ``--memory-budget``."""
    return [
        sys.executable, "-m", "engine", "run", "--memory-budget", budget, *switches,
        str(q.job), "--num-cores", str(workers), *map(str, q.inputs),
    ]  # fmt: skip


def memory_bound(args, workers: int, runner: Runner) -> MemoryResult:
    import duckdb

    budget = _size_bytes(args.memory_budget)
    size_mb = args.memory_size_mb or math.ceil(budget / 2**20 * 10 / 1.45)
    wdir = datasets.words(args.data_dir, size_mb, seed=args.seed + 1)
    q = queries.finish(queries.no_combiner_count(wdir))
    src = queries._text_src(q.inputs)
    # map output: one JSON line '"word"\t1\n' per word (ASCII words: len + 5 bytes)
    sql = (
        "SELECT count(*), sum(length(word) + 5) FROM (SELECT unnest(string_split_regex(trim(line), '\\s+'))"
        f" AS word FROM read_csv({src['src']}, delim = {src['delim']}, header = false, quote = '',"
        " escape = '', auto_detect = false, columns = {'line': 'VARCHAR'})) WHERE word <> ''"
    )
    records, out_bytes = duckdb.connect().execute(sql).fetchone()
    errors = []
    if out_bytes < 10 * budget:
        _loud(f"memory-bound: map output {out_bytes / 2**20:.0f} MiB < 10 x budget; raise --memory-size-mb")
        errors.append("map output < 10x budget")
    ref = None
    runs = []
    summary = ""
    for rep in range(args.memory_repeat):
        if ref is None:
            _, ref, _ = runner.duckdb(q, workers)
        argv = _budget_argv(args.memory_budget, q, workers)
        m = run_measured(argv, cwd=ROOT, env=runner.env, timeout=runner.timeout)
        label = (
            f"[{rep + 1}/{args.memory_repeat}] memory-bound engine w={workers} budget {args.memory_budget}"
        )
        if m.returncode != 0:
            errors.append(f"exit status {m.returncode}")
            _loud(f"{label}: FAILED\n{_tail(m.stderr)}")
            break
        if q.from_job(queries.parse_pairs(m.stdout)) != ref:
            errors.append("answer differs from DuckDB's")
            _loud(f"{label}: ANSWER DIFFERS FROM DUCKDB'S")
            break
        lines = m.stderr.decode(errors="replace").splitlines()
        wanted = ("job ", "  map", "  reduce", "  step", "  wave")
        # the engine's end-of-job summary (once: it can be printed twice)
        summary = "\n".join(dict.fromkeys(x for x in lines if x.startswith(wanted) and "counter" not in x))
        runs.append((m.seconds, m.peak_pss, m.peak_rss))
        print(
            f"{label}: {m.seconds:7.2f} s  peak {m.peak_pss / 2**20:.0f} MiB PSS, "
            f"{m.peak_rss / 2**20:.0f} MiB RSS  ok",
            flush=True,
        )
    result = MemoryResult(budget, q.bytes, int(out_bytes), int(records), workers, runs, summary, errors)
    words = args.memory_distinct_words
    if words > 0:
        many_keys(args, min(words, 200_000) if args.quick else words, workers, runner, result)
    return result


def distinct_words(base: Path, words: int, seed: int) -> Path:
    """A directory holding ``words.txt``: *words* distinct lower-case words of 8 letters,
    each once, 10 to a line (9 bytes a word), shuffled; generated once and cached."""
    import numpy as np

    def build(tmp: Path) -> dict:
        tmp.mkdir(parents=True)
        rng = np.random.default_rng(seed)
        ids = rng.permutation(words)  # < 26**6: six base-26 digits name each word apart
        letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
        chunk = 1_000_000  # a multiple of 10: every chunk starts a line
        with open(tmp / "words.txt", "wb") as f:
            for start in range(0, words, chunk):
                part = ids[start : start + chunk]
                digits = [(part // 26**i) % 26 for i in range(6)]
                digits += [rng.integers(0, 26, len(part)) for _ in range(2)]
                ends = np.full((len(part), 1), ord(" "), dtype=np.uint8)
                ends[9::10] = ord("\n")
                ends[-1] = ord("\n")
                f.write(np.hstack([letters[np.stack(digits, axis=1)], ends]).tobytes())
        return {"words": words}

    if words > 26**6:
        raise SystemExit(f"--memory-distinct-words: at most {26**6:,}")
    path, _ = datasets._cached(base, f"distinct-words-{words}-seed{seed}", build)
    return path


def _sorted_digest(lines: list[bytes]) -> str:
    import hashlib

    return hashlib.md5(b"\n".join(sorted(lines))).hexdigest()


def many_keys(args, words: int, workers: int, runner: Runner, result: MemoryResult) -> None:
    """Word count over *words* distinct words on the Arrow and the record pipeline, each
    with ``--memory-budget``: its peak (process tree) against budget + 300 MiB, its answer
    against DuckDB's, and the two pipelines' output byte for byte."""
    import duckdb

    q = queries.finish(queries.wordcount(distinct_words(args.data_dir, words, args.seed + 2)))
    result.distinct_words, result.distinct_text_bytes = words, q.bytes
    warm_cache(q.inputs)
    # DuckDB's word count of the same file, as the job's output lines ('"word"\tcount'),
    # sorted by their bytes and hashed
    counts = q.duckdb_sql[-1]
    line = "'\"' || word || '\"' || chr(9) || CAST(n AS VARCHAR)"
    expected = (
        duckdb.connect()
        .execute(f"SELECT md5(string_agg({line}, chr(10) ORDER BY {line})) FROM ({counts}) AS t(word, n)")
        .fetchone()[0]
    )
    limit = result.pss_limit
    outputs = []
    for pipeline, switch in (("Arrow", []), ("record", ["--no-vectorize"])):
        argv = _budget_argv(args.memory_budget, q, workers, *switch)
        m = run_measured(argv, cwd=ROOT, env=runner.env, timeout=runner.timeout)
        what = f"{pipeline} pipeline on {words:,} distinct words"
        label = f"memory-bound {what}, w={workers} budget {args.memory_budget}"
        if m.returncode != 0:
            result.errors.append(f"{what}: exit status {m.returncode}")
            _loud(f"{label}: FAILED\n{_tail(m.stderr)}")
            continue
        lines = m.stdout.splitlines()
        if len(lines) != words or _sorted_digest(lines) != expected:
            result.errors.append(f"{what}: answer differs from DuckDB's")
            _loud(f"{label}: ANSWER DIFFERS FROM DUCKDB'S ({len(lines):,} lines)")
            continue
        outputs.append(m.stdout)
        result.many_keys.append(ManyKeysRun(pipeline, m.seconds, m.peak_pss, m.peak_rss))
        verdict = "ok" if m.peak_pss <= limit else f"OVER budget + 300 MiB ({limit >> 20} MiB)"
        if m.peak_pss > limit:
            result.errors.append(f"{what}: peak over budget + 300 MiB")
        print(
            f"{label}: {m.seconds:7.2f} s  peak {m.peak_pss / 2**20:.0f} MiB PSS, "
            f"{m.peak_rss / 2**20:.0f} MiB RSS  {verdict}",
            flush=True,
        )
    if len(outputs) == 2 and outputs[0] != outputs[1]:
        result.errors.append(f"the two pipelines' outputs on {words:,} distinct words differ")
        _loud("memory-bound: the Arrow and the record pipeline wrote different parts")
    if result.many_keys:
        print("\n" + result.many_keys_markdown() + "\n", flush=True)


# ------------------------------------------------------------------------ main


def machine() -> dict[str, str]:
    info = {"cores": str(os.cpu_count()), "cpu": platform.processor() or platform.machine(), "ram": "?"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram"] = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    info["os"] = platform.platform()
    return info


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("duckdb", "pyarrow", "mrjob"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _shown(path: Path) -> str:
    """*path* relative to the working directory when it lies under it (as a user would type it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.results != RESULTS and not args.record:
        parser.error("--results names the file --record appends to: pass --record as well")
    if args.quick:
        args.scale, args.rows, args.size_mb, args.repeat = 0.03, 3000, 1, 1
        args.workers = args.workers or "2"
        args.mrjob_runners = "inline"
        args.memory_budget, args.memory_size_mb = "1M", args.memory_size_mb or 8
    parse_systems(args.systems)  # an unknown system fails before any data is generated
    compile_bytecode()
    workers = sorted({int(w) for w in (args.workers or default_workers()).split(",")})
    if not workers or workers[0] < 1:
        raise SystemExit("--workers: positive integers, e.g. 1,2")
    names = [n.strip() for n in args.queries.split(",") if n.strip()]
    unknown = set(names) - set(ALL_QUERIES)
    if unknown:
        raise SystemExit(f"unknown queries {sorted(unknown)}; choose from {', '.join(ALL_QUERIES)}")

    qs: list[Query] = []
    if "wordcount" in names:
        qs.append(queries.wordcount(datasets.words(args.data_dir, args.size_mb, args.seed)))
    if "cloudfront" in names:
        qs.append(
            queries.cloudfront_os(datasets.cloudfront_data(args.data_dir, args.rows, args.seed), args.format)
        )
    tk = None
    for name, make in (
        ("top_buyers", queries.top_buyers),
        ("total_sales", queries.total_sales),
        ("percentile", queries.percentile),
    ):
        if name in names:
            tk = tk or datasets.tickit_data(args.data_dir, args.scale, args.seed)
            qs.append(make(tk, args.format))
    qs = [queries.finish(q) for q in qs]
    for q in qs:
        warm_cache(q.inputs)

    runners = [r for r in args.mrjob_runners.split(",") if r in MRJOB_RUNNERS]
    mrjob_for = {}
    for q in qs:
        small = args.with_mrjob == "yes" or (args.with_mrjob == "auto" and q.rows < args.mrjob_max_rows)
        parquet = any(p.suffix == ".parquet" for p in q.inputs)  # mrjob's runners read text only
        mrjob_for[q.name] = runners if small and not parquet else []
    sql_for = sql_plan(args, qs)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        runner = Runner(args.timeout, Path(tmp))
        warm = "engine-sql-warm" in parse_systems(args.systems)
        with warm_server(runner.warm_env) if warm else contextlib.nullcontext() as check_served:
            cells, twins = run_suite(args, qs, workers, mrjob_for, runner, sql_for)
            if check_served is not None:
                check_served(runner.warm_runs)
        mem = memory_bound(args, workers[-1], runner) if args.memory_bound else None
    elapsed = time.time() - started

    from bench import report

    command = "python -m bench" + (" " + shlex.join(argv) if argv else "")
    host = machine()
    text = report.markdown(
        command, host, versions(), args, qs, workers, cells, twins, mrjob_for, mem, elapsed, sql_for
    )
    if args.no_record:
        print("\n" + text)  # written nowhere else
    print("\n" + report.summary(qs, workers, cells, twins, mem) + "\n")
    # Every run writes its report under --out; only --record touches the tracked files.
    charts = [] if args.no_record else [args.out / "results.png"]
    charts += [args.chart] if args.chart else []
    charts += [RESULTS_CHART] if args.record else []
    jsons = [] if args.no_record else [args.out / "results.json"]
    jsons += [args.json] if args.json else []
    if not args.no_record:
        print(f"full report (Markdown): {_shown(report.write(args.out / 'results.md', text))}")
    drawn = None
    for path in charts:
        if drawn is None:
            drawn = report.chart(path, qs, workers, cells, twins, command, host, args.repeat)
            if drawn is None:
                print("chart: not drawn (matplotlib missing: pip install -e '.[bench]')")
                break
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(drawn, path)
        print(f"chart: {_shown(path)}")
    measurements = json.dumps(report.as_json(command, qs, workers, cells, twins, mem), indent=1)
    for path in jsons:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(measurements)
        print(f"measurements (JSON): {_shown(path)}")
    if args.record:
        report.append(args.results, text)
        print(f"recorded: section appended to {_shown(args.results)}")
    failed = any(c.errors for c in cells.values()) or (mem is not None and bool(mem.errors))
    if failed:
        _loud("some rows are void (failed or wrong answer): see above")
    return 1 if failed else 0
