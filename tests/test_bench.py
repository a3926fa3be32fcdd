"""The benchmark suite: ``python -m bench --quick`` runs end to end; where a run writes
(bench/out/ by default, the tracked bench/RESULTS.md and bench/results.png only with
``--record``); the chart drawn from a small synthetic result set; every option's help;
``engine-sql`` (the labs' own SQL on the engine): its scripts, when it runs, one real run.

Tiny data, one run per cell: this only keeps bench/ from rotting (every query runs on the
engine, DuckDB and ``-r inline``, the SQL queries on ``engine-sql`` too, and every answer is
checked equal to DuckDB's by the suite itself). No timing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import queries, report, suite
from bench import wordcount as bench_wordcount
from bench.queries import Query
from bench.suite import Cell
from data import duckdb_sql

ROOT = Path(__file__).resolve().parent.parent
TRACKED = [ROOT / "bench" / "RESULTS.md", ROOT / "bench" / "results.png"]
#: the smallest real run: one query, one worker count, DuckDB and the engine (record path)
TINY = ["--quick", "--queries", "wordcount", "--workers", "1", "--with-mrjob", "no"]
TINY += ["--systems", "engine"]


def _digests(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-data")


def test_default_run_writes_under_out_and_nothing_tracked(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert suite.build_parser().get_default("out") == ROOT / "bench" / "out"
    before = _digests(TRACKED)
    out = tmp_path / "out"
    monkeypatch.setattr(suite, "OUT", out)  # the default --out, away from the checkout's bench/out/
    assert suite.main([*TINY, "--data-dir", str(data_dir)]) == 0
    assert _digests(TRACKED) == before  # bench/RESULTS.md and bench/results.png untouched
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md", "results.png"]
    md = (out / "results.md").read_text()
    assert "| wordcount | engine (record) | 1 |" in md and "`python -m bench --quick" in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert {c["system"] for c in cells} == {"duckdb", "engine"}
    stdout = capsys.readouterr().out
    # a short summary, not the Markdown; and where the full report went
    assert "| wordcount |" not in stdout
    assert "Median wall time ÷ DuckDB's at 1 worker(s)" in stdout
    assert any(line.startswith("wordcount") and line.rstrip().endswith("×") for line in stdout.splitlines())
    assert f"full report (Markdown): {out / 'results.md'}" in stdout
    assert f"chart: {out / 'results.png'}" in stdout
    assert "recorded" not in stdout


def test_record_appends_to_results_and_draws_the_tracked_chart(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digests(TRACKED)
    results, chart = tmp_path / "RESULTS.md", tmp_path / "results.png"
    old = TRACKED[0].read_text()
    results.write_text(old)  # a copy of the real file, to append to
    monkeypatch.setattr(suite, "RESULTS", results)
    monkeypatch.setattr(suite, "RESULTS_CHART", chart)
    monkeypatch.setattr(suite, "OUT", tmp_path / "out")
    assert suite.main([*TINY, "--data-dir", str(data_dir), "--record"]) == 0
    new = results.read_text()
    assert new.startswith(old) and len(new) > len(old)  # appended; what was there is intact
    section = new[len(old) :]
    assert section.count("\n## ") == 1 and "python -m bench --quick --queries wordcount" in section
    assert "| wordcount | engine (record) | 1 |" in section
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "results.md").read_text().endswith(section)
    assert f"recorded: section appended to {results}" in capsys.readouterr().out
    assert _digests(TRACKED) == before


def test_results_without_record_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        suite.main(["--results", str(tmp_path / "R.md")])
    assert exc.value.code == 2
    assert "pass --record" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        suite.main(["--record", "--no-record"])
    assert "not allowed with" in capsys.readouterr().err


def _query(name: str, title: str, rows: int, size: int) -> Query:
    return Query(name, title, Path(f"{name}.py"), [], [], [], list, list, rows=rows, bytes=size)


def _synthetic(workers: list[int]) -> tuple[list[Query], dict, dict]:
    """Three queries, DuckDB and four systems, three timed runs a cell: made-up seconds, one
    system faster than DuckDB (cloudfront), one without a twin, one void cell."""
    qs = [
        _query("wordcount", "word count", 455_000, 33_800_000),
        _query("cloudfront", "CloudFront OS counts", 100_008, 20_800_000),
        _query("top_buyers", "TICKIT top 10 buyers", 222_446, 17_900_000),
    ]
    duck_secs = {"wordcount": 1.0, "cloudfront": 4.0, "top_buyers": 0.25}
    ratio = {"engine": 3.0, "engine-vec": 1.4, "engine-sql": 12.0, "inline": 6.0, "local": 9.0}
    cells = {}
    for q in qs:
        for w in workers:
            duck = duck_secs[q.name] / w**0.8
            cells[(q.name, "duckdb", w)] = Cell(times=[duck * 0.98, duck, duck * 1.05])
            for s, r in ratio.items():
                # mrjob's runners and engine-sql: at the largest count only; no SQL for word count
                not_here = s in ("inline", "local", "engine-sql") and w != workers[-1]
                if not_here or (s, q.name) in (("engine-vec", "cloudfront"), ("engine-sql", "wordcount")):
                    continue
                t = duck * (r / 20 if q.name == "cloudfront" else r) * w ** (0.45 if s == "engine" else 0.3)
                cells[(q.name, s, w)] = Cell(times=[t * 0.95, t, t * 1.1])
    cells[("top_buyers", "local", workers[-1])] = Cell(errors=["answer differs from DuckDB's"])
    twins = {"wordcount": True, "cloudfront": False, "top_buyers": True}
    return qs, cells, twins


@pytest.mark.parametrize("workers", [[1, 2, 4, 8, 16], [2]])
def test_chart_from_synthetic_results(tmp_path: Path, workers: list[int]) -> None:
    pytest.importorskip("matplotlib")
    qs, cells, twins = _synthetic(workers)
    machine = {"cores": "16", "cpu": "Test CPU 9000", "ram": "64.0 GiB"}
    path = report.chart(tmp_path / "c.png", qs, workers, cells, twins, "python -m bench --x", machine, 3)
    assert path == tmp_path / "c.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000

    fig = report.figure(qs, workers, cells, twins, "python -m bench --x", machine, 3)
    fig.canvas.draw()
    title = fig._suptitle.get_text()
    assert "16 cores" in title and "Test CPU 9000" in title  # the machine
    assert f"workers {', '.join(map(str, workers))}" in title  # the worker counts
    assert "wordcount 455k rows" in title and "cloudfront 100k rows" in title  # the sizes
    ratio_ax = fig.axes[0]
    ticks = [t.get_text() for t in ratio_ax.get_xticklabels()]
    assert {"0.5×", "1×", "2×", "10×"} <= set(ticks), ticks
    assert not any("^" in t or "10^" in t for t in ticks)  # no 10⁰/10¹
    assert ratio_ax.get_xscale() == "log"
    texts = [t.get_text() for t in ratio_ax.texts]
    assert any("DuckDB = 1×" in t for t in texts)
    # each bar says its ratio and its seconds: word count at the largest worker count
    t_eng = cells[("wordcount", "engine", workers[-1])].median()
    t_duck = cells[("wordcount", "duckdb", workers[-1])].median()
    assert f"{report._ratio(t_eng / t_duck)}  {report._secs(t_eng)}" in texts
    assert any("VOID" in t for t in texts)  # the void cell is shown, not dropped
    # whiskers: one errorbar per bar that has several runs
    bars = [p for p in ratio_ax.patches if p.get_height() > 0]
    assert len(bars) == len([k for k in cells if k[2] == workers[-1] and k[1] != "duckdb" and cells[k].times])
    assert len(ratio_ax.containers) >= len(bars)
    labels = [t.get_text() for t in ratio_ax.get_yticklabels()]
    assert any("(no vectorized twin)" in t for t in labels)
    assert len(ratio_ax.get_legend().get_texts()) <= 7
    assert "engine (SQL)" in [t.get_text() for t in ratio_ax.get_legend().get_texts()]
    if len(workers) > 1:
        scaling_ax = fig.axes[1]
        legend = [t.get_text() for t in scaling_ax.get_legend().get_texts()]
        assert len(legend) == 4 and legend[-1] == "ideal (linear)"  # three systems and the ideal
        assert len(scaling_ax.lines) == 4
    else:
        assert len(fig.axes) == 1


def test_summary_and_markdown_show_engine_sql_ratios() -> None:
    qs, cells, twins = _synthetic([1, 2])
    text = report.summary(qs, [1, 2], cells, twins)
    assert "engine-sql" in text.splitlines()[1]
    lines = report.sql_markdown(qs, [1, 2], cells, {"wordcount": "no SQL text in the labs"})
    # top buyers: engine-sql at 2 workers over DuckDB's, the record path's, the twin's medians
    med = cells[("top_buyers", "engine-sql", 2)].median()
    want = [med / cells[("top_buyers", s, 2)].median() for s in ("duckdb", "engine", "engine-vec")]
    row = next(x for x in lines if x.startswith("| top_buyers |"))
    assert row == f"| top_buyers | {med:.2f} | " + " | ".join(f"{r:.2f}" for r in want) + " |"
    assert "| cloudfront | " in "\n".join(lines) and "| wordcount |" not in "\n".join(lines)
    assert lines[-1] == "engine (SQL) was not run on wordcount (no SQL text in the labs)."


def test_engine_sql_runs_the_labs_own_text(tmp_path: Path) -> None:
    """The TICKIT scripts: the lab's DDL and seven COPY commands pointed at the bench's files,
    then one query exactly as the lab (and DuckDB's reference text) has it; CloudFront: the
    tutorial's script itself, on a directory of links to the logs alone."""
    tk, cf = tmp_path / "tickit", tmp_path / "cf"
    tk.mkdir()
    original = {
        "top_buyers": duckdb_sql.TOP_BUYERS_SQL,
        "total_sales": duckdb_sql.TOTAL_SALES_ON_DATE_SQL,
        "percentile": duckdb_sql.PERCENTILE_EVENTS_SQL,
    }
    for name, make in (
        ("top_buyers", queries.top_buyers),
        ("total_sales", queries.total_sales),
        ("percentile", queries.percentile),
    ):
        assert queries.lab_query(name) == original[name]
        q = make(tk)
        scratch = tmp_path / name
        scratch.mkdir()
        argv = suite.sql_argv(q, 2, scratch)
        assert argv[:4] == [sys.executable, "-m", "engine", "sql"]
        assert argv[-4:] == ["-r", "engine", "--num-cores", "2"]
        script = Path(argv[argv.index("-f") + 1]).read_text()
        assert script.count("create table ") == 7 and script.count(f"from '{tk.resolve()}/") == 7
        assert "'data/sample/" not in script and script.rstrip().endswith(original[name])
        assert make(tk, "parquet").sql is None  # the lab COPYs text
    (cf / "parquet").mkdir(parents=True)
    logs = [cf / "a.log", cf / "b.log"]
    for log in logs:
        log.write_text("x\n")
    q = queries.cloudfront_os(cf)
    argv = suite.sql_argv(q, 1, tmp_path / "cf-run")
    assert argv[3:6] == ["hive", "-f", str(queries.HIVE_SCRIPT)]
    assert f"INPUT={tmp_path / 'cf-run' / 'input'}" in argv
    linked = sorted((tmp_path / "cf-run" / "input" / "cloudfront" / "data").iterdir())
    assert [p.name for p in linked] == ["a.log", "b.log"] and all(p.is_symlink() for p in linked)
    out = tmp_path / "cf-run" / "output" / "os_requests"
    out.mkdir(parents=True)
    (out / "000000_0").write_text("Linux\x013\niOS\x0112\n")
    (out / "_SUCCESS").write_text("")
    assert q.from_sql(b"", tmp_path / "cf-run") == [("Linux", 3), ("iOS", 12)]


def test_engine_sql_runs_where_cheap(tmp_path: Path) -> None:
    args = suite.build_parser().parse_args([])
    assert args.systems == "engine,engine-vec,engine-sql" and args.with_sql == "auto"
    qs = [queries.wordcount(tmp_path), queries.cloudfront_os(tmp_path, "parquet")]
    qs += [queries.top_buyers(tmp_path), queries.total_sales(tmp_path)]
    qs[2].rows, qs[3].rows = queries.SQL_AUTO_MAX_ROWS["tickit"] - 1, queries.SQL_AUTO_MAX_ROWS["tickit"]
    plan = suite.sql_plan(args, qs)
    assert plan["wordcount"] == "no SQL text in the labs" and plan["cloudfront"] == "text inputs only"
    assert plan["top_buyers"] is None and "--with-sql auto" in plan["total_sales"]
    args.with_sql = "yes"
    assert suite.sql_plan(args, qs)["total_sales"] is None
    args.systems = "engine"
    assert set(suite.sql_plan(args, qs).values()) == {"not in --systems"}
    with pytest.raises(SystemExit, match="choose from engine, engine-vec, engine-sql"):
        suite.main(["--systems", "engine,sql"])


def test_engine_sql_real_run(data_dir: Path, tmp_path: Path) -> None:
    """One TICKIT query on engine-sql, on a warm server and on DuckDB, each answer checked by the
    suite (which fails unless the server it started ran every warm run, then stops it)."""
    out = tmp_path / "out"
    argv = ["--quick", "--queries", "total_sales", "--workers", "1", "--with-mrjob", "no"]
    argv += ["--systems", "engine-sql,engine-sql-warm", "--data-dir", str(data_dir), "--out", str(out)]
    assert suite.main(argv) == 0
    cells = {c["system"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert set(cells) == {"duckdb", "engine-sql", "engine-sql-warm"}
    assert all(c["times"] and not c["errors"] for c in cells.values())
    assert cells["engine-sql"]["peak_pss"] > 0 and cells["engine-sql-warm"]["peak_pss"] == 0  # not its tree
    md = (out / "results.md").read_text()
    assert "| total_sales | engine (SQL) | 1 |" in md and "| query | engine (SQL) median s |" in md
    assert "| total_sales | engine (SQL, warm server) | 1 |" in md and "| n/a |" in md
    assert "| query | engine (SQL, warm server) median s |" in md


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("module", [suite, bench_wordcount], ids=["bench", "bench.wordcount"])
def test_every_option_has_help(module) -> None:
    parser = module.build_parser()
    for action in _options(parser):
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
        assert len(action.help) >= 15, action.option_strings
    text = parser.format_help()
    for option in ("--seed", "--mrjob-max-rows", "--mrjob-runners", "--memory-repeat", "--results"):
        if module is suite:
            assert option in text
    if module is suite:
        helps = {a.dest: a.help for a in _options(parser)}
        assert "seed" in helps["seed"] and "mrjob" in helps["mrjob_max_rows"]
        assert "inline" in helps["mrjob_runners"] and "memory-bound" in helps["memory_repeat"]
        assert "--record" in helps["results"] and "bench/out" in helps["out"]


def test_python_m_bench_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--record" in done.stdout and "bench/out/" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)  # engine-sql's CloudFront regex alone takes ~10 s a run here (see bench/queries.py)
def test_bench_quick_runs_and_every_answer_agrees(tmp_path):
    out = tmp_path / "bench.json"
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--no-record",
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        str(out),
    ]
    try:
        import matplotlib  # noqa: F401

        argv += ["--chart", str(tmp_path / "chart.png")]
    except ImportError:
        pass
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["queries"]) == {"wordcount", "cloudfront", "top_buyers", "total_sales", "percentile"}
    ran = {(c["query"], c["system"]) for c in result["cells"] if c["times"] and not c["errors"]}
    for query in result["queries"]:
        assert {(query, "duckdb"), (query, "engine"), (query, "inline")} <= ran, query
        if query != "wordcount":  # the labs' SQL queries, on -r engine too
            assert (query, "engine-sql") in ran, query
    # memory comes from the untimed sampled round, for every cell that ran
    assert all(c["peak_pss"] > 0 for c in result["cells"] if c["times"]), result["cells"]
    assert "| wordcount | engine (record) |" in done.stdout
    if "--chart" in argv:
        assert (tmp_path / "chart.png").stat().st_size > 10_000


def test_report_cost_times_write_logs_against_the_jobs_wall_time(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import report_cost

    assert report_cost.main(["--repeat", "2"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("word count over 0.0 MiB (auto, 2 workers): ")  # the 4 KB sample, in-process
    assert "over 2 runs = " in line and line.rstrip().endswith("of the job's wall time")
