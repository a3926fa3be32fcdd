"""Steps left to their record methods beside steps on Arrow (``engine.arrow.boundary``): the
output is mrjob's inline runner's, whichever steps run on which pipeline."""

from __future__ import annotations

import random

import pytest

from engine.errors import JobDefinitionError
from engine.runner import EngineRunner
from tests.harness import run_engine, run_inline
from tests.jobs.mr_vector_mixed import MRVectorMixed

RECORD_STEPS = ["", "1", "2", "3", "1,2", "2,3", "1,3"]


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    rng = random.Random(11)
    vocabulary = [rng.choice("abcdefgh") * rng.randint(1, 9) + str(i % 7) for i in range(400)] + ["ü", "ßß"]
    path = tmp_path_factory.mktemp("mixed") / "words.txt"
    lines = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _twin_batches(outcome) -> set[int]:
    """The steps whose twin's mapper ran (its ``twin`` counters)."""
    names = {n for step in outcome.counters for n in step.get("twin", {})}
    return {int(n.split()[1]) for n in names}


@pytest.mark.parametrize("record_steps", RECORD_STEPS)
@pytest.mark.parametrize("executor,reducers", [("serial", 1), ("processes", 3)])
def test_any_steps_on_the_record_form_give_inline_s_output(words, record_steps, executor, reducers):
    args = [words, "--record-steps", record_steps]
    outcome = run_engine(MRVectorMixed, args, executor=executor, reducers=reducers, split_size="16K")
    expected = run_inline(MRVectorMixed, args)
    if reducers == 1:
        assert outcome.output == expected.output
    else:
        assert outcome.sorted_lines == expected.sorted_lines
    assert len(expected.lines) == 2  # the two parities
    on_records = {int(s) for s in record_steps.split(",") if s}
    assert _twin_batches(outcome) == {1, 2, 3} - on_records


def test_the_boundary_keeps_to_the_budget_and_spills(words):
    """A tiny budget: both kinds of boundary wave give inline's output, and the record map side
    after an Arrow reduce spills as the record pipeline does."""
    for record_steps in ("2", "1,3"):
        args = [words, "--record-steps", record_steps]
        outcome = run_engine(MRVectorMixed, args, reducers=2, memory_budget="4K", split_size="16K")
        assert outcome.sorted_lines == run_inline(MRVectorMixed, args).sorted_lines
        if record_steps == "2":  # step 1 reduced on Arrow, its words mapped and spilled by the records
            boundary = outcome.stats.phases[1]
            assert boundary.spills > 4 * boundary.tasks


def test_the_plan_names_the_record_steps(words):
    job = MRVectorMixed(args=[words, "--record-steps", "2"])
    kwargs = dict(job._runner_kwargs(), mrjob_cls=MRVectorMixed)
    with EngineRunner(**kwargs) as runner:
        plan = runner.build_plan()
    assert plan.record_steps == (1,) and plan.pipeline == "mixed"
    assert [plan.step_pipeline(i) for i in range(3)] == ["arrow", "records", "arrow"]


def test_a_twin_beside_a_record_step_must_say_how_rows_cross(words, monkeypatch):
    from engine.arrow import VectorStep

    twins = MRVectorMixed.vector_steps

    def without_from_pairs(self):
        steps = twins(self)
        return [steps[0], None, VectorStep(keys=("parity",), aggregate={"total": ("total", "sum")})]

    monkeypatch.setattr(MRVectorMixed, "vector_steps", without_from_pairs)
    with pytest.raises(JobDefinitionError, match="step 3's VectorStep has no from_pairs"):
        run_engine(MRVectorMixed, [words])
