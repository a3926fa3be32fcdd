"""Plans: sizes, reducer counts, and unsupported features refused up front."""

from __future__ import annotations

import pytest

from engine.errors import JobDefinitionError
from engine.plan import num_reducers_from, parse_size, step_plans, validate_workers


@pytest.mark.parametrize(
    "text,expected", [("512M", 512 << 20), ("2G", 2 << 30), ("4096", 4096), ("1.5KB", 1536)]
)
def test_parse_size(text, expected):
    assert parse_size(text, 1) == expected


@pytest.mark.parametrize("text", ["-1", "0", "lots"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(JobDefinitionError):
        parse_size(text, 1)


def test_reducer_count_from_jobconf():
    assert num_reducers_from({"mapreduce.job.reduces": "5"}, 2) == 5
    assert num_reducers_from({"mapred.reduce.tasks": 3}, 2) == 3
    assert num_reducers_from({}, 2) == 2
    with pytest.raises(JobDefinitionError, match="at least one reducer"):
        num_reducers_from({"mapreduce.job.reduces": "0"}, 2)


def test_workers_must_be_positive():
    with pytest.raises(JobDefinitionError, match="--num-cores"):
        validate_workers(0)


@pytest.mark.parametrize(
    "desc,feature",
    [
        ({"type": "jar", "jar": "x.jar"}, "'jar' step"),
        ({"type": "spark"}, "'spark' step"),
        ({"type": "streaming", "mapper": {"type": "command", "command": "cat"}}, "mapper_cmd"),
        ({"type": "streaming", "mapper": {"type": "script", "pre_filter": "grep x"}}, "mapper_pre_filter"),
    ],
)
def test_unsupported_steps_are_refused_naming_the_feature(desc, feature):
    with pytest.raises(JobDefinitionError, match=feature.replace("(", r"\(")):
        step_plans([desc])
