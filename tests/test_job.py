"""engine.job: EngineMRJob's argument parser, built once per class and process."""

from __future__ import annotations

import sys

import pytest

from engine import job as engine_job
from engine.job import EngineMRJob


class _WithSwitch(EngineMRJob):
    def configure_args(self) -> None:
        super().configure_args()
        self.add_passthru_arg("--word", default="a")
        self.add_file_arg("--table-file")


class _SetsState(EngineMRJob):
    def configure_args(self) -> None:
        super().configure_args()
        self.configured = getattr(self, "configured", 0) + 1
        self.add_passthru_arg("--word", default="a")


def test_later_instances_parse_their_own_args_with_a_copy_of_the_first_parser() -> None:
    engine_job._PARSERS.pop(_WithSwitch, None)
    first = _WithSwitch(["--word", "one", "--num-cores", "3"])
    second = _WithSwitch(["--word", "two"])
    assert _WithSwitch in engine_job._PARSERS
    assert (first.options.word, first.options.num_cores) == ("one", 3)
    assert second.options.word == "two" and second.options.num_cores != 3
    assert second.arg_parser is not first.arg_parser
    # the switches mrjob passes on to tasks are known to every instance
    assert second._passthru_arg_dests == first._passthru_arg_dests >= {"word"}
    assert second._file_arg_dests == first._file_arg_dests == {"table_file"}
    assert second._non_option_kwargs()["extra_args"] == ["--word", "two"]  # what tasks are given
    assert second.configure_args.__func__ is _WithSwitch.configure_args  # no instance override left


def test_a_configure_args_that_sets_state_runs_for_every_instance() -> None:
    _SetsState(["--word", "x"])
    job = _SetsState([])
    assert _SetsState not in engine_job._PARSERS
    assert job.configured == 1 and job.options.word == "a"


def test_errors_stay_per_instance(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _WithSwitch([])  # cached
    with pytest.raises(ValueError, match="--num-cores"):
        _WithSwitch(["--num-cores", "many"])  # args given: mrjob raises
    monkeypatch.setattr(sys, "argv", ["job.py", "--num-cores", "many"])
    with pytest.raises(SystemExit):  # from the command line: usage and exit, as mrjob does
        _WithSwitch()
    assert "--num-cores" in capsys.readouterr().err
