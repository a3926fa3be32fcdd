"""engine.options: each engine option declared once. The switches (--help), the runner's
option names and defaults, mrjob.conf, the checks of build_plan and README.md's options
table all agree with OPTIONS."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mrjob.options import _RUNNER_OPTS

from engine.errors import JobDefinitionError
from engine.job import conf_names_help
from engine.options import (
    CONF_NAMES,
    OPTION_NAMES,
    OPTIONS,
    OPTIONS_BY_NAME,
    defaults,
    parse_size,
    resolve,
)
from engine.runner import EngineRunner
from jobs.wordcount import MRWordCount
from tests.jobs.mr_word_count import MRWordCountPlain

ROOT = Path(__file__).parent.parent
OWN_SWITCHES = [option for option in OPTIONS if option.switch and not option.mrjob_switch]


def squashed(text: str) -> str:
    """*text* without whitespace: argparse wraps help lines where the terminal is narrow."""
    return re.sub(r"\s+", "", text)


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def readme_options_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n### Options\n", 1)[1].split("\n### ", 1)[0]


def readme_table_rows() -> list[list[str]]:
    """The options table's rows (after its header), each a list of cells."""
    rows = [line for line in readme_options_section().splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows[2:]]


# --- the declarations ---------------------------------------------------------------------------


def test_each_option_is_declared_once_with_its_own_switch():
    names = [option.name for option in OPTIONS]
    switches = [option.switch for option in OPTIONS if option.switch]
    assert len(set(names)) == len(names) and len(set(switches)) == len(switches)
    assert OPTION_NAMES == set(names) and set(OPTIONS_BY_NAME) == set(names)
    assert set(CONF_NAMES) == {option.name for option in OPTIONS if not option.mrjob_switch}


def test_mrjob_switches_are_mrjobs_and_the_others_are_not():
    """An option whose switch mrjob declares (--num-cores) is not declared again; every
    other name is free in mrjob's runner options, so the engine's cannot clash."""
    for option in OPTIONS:
        assert (option.name in _RUNNER_OPTS) == option.mrjob_switch, option.name
        if option.mrjob_switch:
            mrjob_switches = [s for names, _ in _RUNNER_OPTS[option.name]["switches"] for s in names]
            assert option.switch in mrjob_switches


def test_shown_defaults_and_helps_agree_with_the_defaults():
    for option in OPTIONS:
        assert option.shown_default and option.help, option.name
        if option.default is None or option.kind == "off_switch":
            continue
        first = option.shown_default.split()[0]
        if option.kind == "size":
            assert parse_size(first, 0) == option.default, option.name
        elif option.kind == "choice":
            assert first == option.default and option.default in option.choices
        else:
            assert first == str(option.default), option.name
        if option.kind in ("int", "size"):
            assert f"default {first}" in option.help, option.name


def test_the_runner_takes_its_names_and_defaults_from_the_options():
    assert OPTION_NAMES <= EngineRunner.OPT_NAMES
    job = MRWordCountPlain(args=[str(ROOT / "README.md")])
    with EngineRunner(**dict(job._runner_kwargs(), conf_paths=[])) as runner:
        for name, default in defaults().items():
            assert runner._opts[name] == default, name
        assert runner._opts["cleanup_on_failure"] == ["ALL"]


# --- reading and checking values ----------------------------------------------------------------


def test_unset_options_resolve_to_their_defaults():
    expected = {
        "num_cores": os.cpu_count() or 1,
        "memory_budget": 512 << 20,
        "max_attempts": 4,
        "executor": "auto",
        "split_size": None,
        "vectorize": True,
        "skip_bad_records": 0,
        "task_timeout": None,
        "history": True,
        "report": None,
        "precombine": True,
    }
    assert resolve({}) == expected
    assert resolve(defaults()) == expected


def test_values_from_mrjob_conf_are_read_as_the_switches_read_them():
    given = {
        "num_cores": "3",
        "memory_budget": "64K",
        "max_attempts": "2",
        "executor": "serial",
        "split_size": "1.5M",
        "vectorize": False,
        "skip_bad_records": "5",
        "task_timeout": "30",
        "history": False,
        "report": "r.html",
        "precombine": False,
    }
    assert resolve(given, warn=lambda message: None) == {
        "num_cores": 3,
        "memory_budget": 64 << 10,
        "max_attempts": 2,
        "executor": "serial",
        "split_size": 3 << 19,
        "vectorize": False,
        "skip_bad_records": 5,
        "task_timeout": 30.0,
        "history": False,
        "report": "r.html",
        "precombine": False,
    }


@pytest.mark.parametrize(
    "given,message",
    [
        ({"num_cores": 0}, "--num-cores must be at least 1, got 0"),
        ({"max_attempts": 0}, "--max-attempts must be at least 1, got 0"),
        ({"task_timeout": -1.0}, "--task-timeout must be positive, got -1.0"),
        ({"task_timeout": 0}, "--task-timeout must be positive, got 0"),
        ({"skip_bad_records": -2}, "--skip-bad-records must be 0 or more, got -2"),
        ({"split_size": "0"}, "--split-size 0: a size must be positive, got '0'"),
        ({"memory_budget": "-64M"}, "--memory-budget -64M: a size must be positive, got '-64M'"),
        (
            {"memory_budget": "lots"},
            "--memory-budget lots: cannot read the size 'lots': give bytes or a number with K, M or G "
            "(e.g. 512M)",
        ),
        (
            {"memory_budget": "10"},
            "--memory-budget 10: 10 bytes is too small; give at least 1K (the budget holds the map "
            "tasks' output buffers; the default is 512M)",
        ),
        ({"executor": "threads"}, "--executor must be 'auto', 'processes' or 'serial', got 'threads'"),
    ],
)
def test_values_out_of_range_are_refused_naming_the_switch(given, message):
    with pytest.raises(JobDefinitionError) as caught:
        resolve(given)
    assert str(caught.value) == message


def test_a_small_memory_budget_is_warned_about_naming_the_workers():
    warnings: list[str] = []
    values = resolve({"memory_budget": "512K", "num_cores": 2}, warn=warnings.append)
    assert values["memory_budget"] == 512 << 10
    assert warnings == [
        "--memory-budget 512K (524288 bytes, shared by 2 workers) is below 1M: the map tasks will "
        "spill to disk every few records (the default is 512M)"
    ]
    assert resolve({"memory_budget": "1M"}, warn=warnings.append) and len(warnings) == 1


def test_mrjob_conf_names_reach_the_plan(tmp_path):
    given = {"memory_budget": "64K", "max_attempts": 2, "executor": "serial", "split_size": "4K"}
    given.update(vectorize=False, skip_bad_records=3, task_timeout=30, precombine=False)
    conf = tmp_path / "mrjob.conf"
    conf.write_text(json.dumps({"runners": {"engine": given}}))  # JSON is YAML too
    job = MRWordCountPlain(args=["--num-cores", "2", str(ROOT / "README.md")])
    with EngineRunner(**dict(job._runner_kwargs(), conf_paths=[str(conf)])) as runner:
        plan = runner.build_plan()
        assert runner._opts["executor"] == "serial"
    assert (plan.workers, plan.memory_budget, plan.max_attempts, plan.split_size) == (2, 64 << 10, 2, 4096)
    assert (plan.skip_bad_records, plan.task_timeout, plan.precombine) == (3, 30.0, False)

    conf.write_text(json.dumps({"runners": {"engine": {"max_attempts": 0}}}))
    with EngineRunner(**dict(job._runner_kwargs(), conf_paths=[str(conf)])) as runner:
        with pytest.raises(JobDefinitionError, match="^--max-attempts must be at least 1, got 0$"):
            runner.build_plan()


def test_a_jobs_switches_reach_the_runner():
    switches = ["--memory-budget", "64K", "--max-attempts", "2", "--executor", "serial"]
    switches += ["--split-size", "4K", "--no-vectorize", "--skip-bad-records", "1", "--task-timeout", "5"]
    switches += ["--no-report", "--report", "r.html"]
    kwargs = MRWordCount(args=["-r", "engine", *switches, "--num-cores", "3", "in"])._runner_kwargs()
    expected = dict(memory_budget="64K", max_attempts=2, executor="serial", split_size="4K")
    expected.update(vectorize=False, skip_bad_records=1, task_timeout=5.0, num_cores=3)
    expected.update(history=False, report="r.html")
    assert {name: kwargs.get(name) for name in OPTION_NAMES} == dict(expected, precombine=None)
    kwargs = MRWordCount(args=["-r", "engine", "in"])._runner_kwargs()
    assert not {option.name for option in OWN_SWITCHES} & set(kwargs)


# --- what users read: --help and README.md --------------------------------------------------------


def switch_with_help(option) -> str:
    """How argparse lists *option*'s switch, metavar and help (without whitespace)."""
    metavar = {"choice": "{" + ",".join(option.choices) + "}", "off_switch": ""}
    return squashed(option.switch + metavar.get(option.kind, option.name.upper()) + option.help)


@pytest.mark.parametrize(
    "command",
    [
        ["jobs/wordcount.py", "--help"],  # an EngineMRJob's help
        ["-m", "engine", "run", "--help"],
        ["-m", "engine", "run", "tests/jobs/mr_word_count.py", "--help"],  # a plain MRJob's
    ],
)
def test_help_lists_each_switch_with_its_help(command):
    out = squashed(cli(*command))
    for option in OWN_SWITCHES:
        assert switch_with_help(option) in out, option.switch


def test_help_for_the_engine_runner_lists_every_switch_and_conf_name():
    out = cli("jobs/wordcount.py", "--help", "-r", "engine")
    for option in OPTIONS:
        if option.switch:
            assert option.switch in out
    for option in OWN_SWITCHES:
        assert switch_with_help(option) in squashed(out), option.switch
    assert conf_names_help() in out
    assert all(name in conf_names_help() for name in CONF_NAMES)


def test_the_readme_table_lists_each_switch_with_its_default():
    rows = readme_table_rows()
    for option in OPTIONS:
        if not option.switch:
            continue
        found = [row for row in rows if row[0].strip("`").split()[0] == option.switch]
        assert len(found) == 1, f"README.md's options table has no row for {option.switch}"
        assert found[0][-1].replace("`", "") == option.shown_default, option.switch


def test_the_readme_names_every_mrjob_conf_key():
    section = readme_options_section()
    sentence = section.split("under `runners: engine:`", 1)[1].split(").", 1)[0]
    assert set(re.findall(r"`(\w+)`", sentence)) == set(CONF_NAMES)


def test_the_automatic_split_size_range_is_the_splitters():
    from engine.splits import MAX_SPLIT_SIZE, MIN_SPLIT_SIZE

    low, high = OPTIONS_BY_NAME["split_size"].shown_default.rsplit(" ", 1)[1].split("–")
    assert (parse_size(low, 0), parse_size(high, 0)) == (MIN_SPLIT_SIZE, MAX_SPLIT_SIZE)


def test_the_readme_shows_the_no_progress_timeout_default():
    """Not an engine option but a jobconf the engine reads; its default is the executor's."""
    from engine.executor import DEFAULT_NO_PROGRESS_TIMEOUT

    [row] = [row for row in readme_table_rows() if "mapreduce.task.timeout" in row[0]]
    assert int(row[-1].split()[0]) == DEFAULT_NO_PROGRESS_TIMEOUT * 1000


# --- importable on clusters -------------------------------------------------------------------------


def test_options_imports_only_the_standard_library_and_engine_errors():
    tree = ast.parse((ROOT / "engine" / "options.py").read_text())
    imported = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names} == {
        "engine.errors"
    }


def test_job_and_options_import_nothing_heavy():
    code = (
        "import sys, engine.job; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'numpy') "
        "or m in ('engine.runner', 'engine.plan', 'engine.tasks')))"
    )
    assert cli("-c", code).strip() == "[]"


def _python39() -> str | None:
    found = sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3"))
    return str(found[-1]) if found else None


@pytest.mark.skipif(_python39() is None, reason="no Python 3.9 interpreter here")
def test_options_work_on_python_39():
    """EMR 7's Python is 3.9: engine.job (which imports engine.options) must run there."""
    code = (
        "import ast, engine.options as o; "
        "ast.parse(open('engine/job.py').read()); "
        "print(o.resolve({'memory_budget': '2G'})['memory_budget'])"
    )
    done = subprocess.run([_python39(), "-S", "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == str(2 << 30)
