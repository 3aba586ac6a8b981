"""Held-out answers recorded after training: the last checkpoint must reproduce the last evaluation."""

from __future__ import annotations

import json

import pytest

import toobig.answers as answers_module
from toobig.answers import record_answers
from toobig.options import RunOptions
from toobig.store import RunDir, StoreError
from toobig.training import train

from .conftest import tiny


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("answers")
    (run,) = train(tiny(iters=20, interval=10), [0], root, RunOptions(device="cpu", progress=False))
    return run.path


def test_answers_from_the_last_checkpoint_equal_those_the_trainer_recorded(finished):
    last = json.loads((finished / "metrics.jsonl").read_text().splitlines()[-1])
    result = record_answers(finished)
    # The trainer's own record of its last evaluation is the independent reference.
    assert (result["checkpoint"], result["iteration"], result["device"]) == ("last", 20, "cpu")
    assert result["heldout_answers"] == last["heldout_answers"]
    checked = ("iter", "add_correct", "sub_correct", "facts_correct", "heldout_correct", "heldout_total", "heldout_by_prompt", "loss")
    assert result["reproduced"] == {k: last[k] for k in checked}
    assert sum(sum(c.values()) for c in result["heldout_answers"].values()) == last["heldout_total"]
    assert json.loads((finished / "answers.json").read_text()) == result


def test_a_fresh_start_removes_recorded_answers_with_the_other_results(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "answers.json").write_text("{}")
    assert run.earlier_results() == "results of an earlier run"
    run.clear_outputs()
    assert not (tmp_path / "answers.json").exists()


def test_an_unfinished_run_has_no_final_answers(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(StoreError, match="not a complete run"):
        record_answers(tmp_path)


@pytest.mark.parametrize("key, change", [
    ("heldout_correct", lambda v: v + 1),
    ("heldout_by_prompt", lambda v: {**v, "<5+7=": v["<5+7="] + 1}),
    ("add_correct", lambda v: v - 1),
    # Every held-out sample wrong both times, counts equal: only the loss tells other parameters.
    ("loss", lambda v: v + 1e-4),
])
def test_a_checkpoint_that_does_not_reproduce_the_last_evaluation_writes_nothing(finished, monkeypatch, key, change):
    (finished / "answers.json").unlink(missing_ok=True)
    original = answers_module.evaluate_trained

    def changed(trained):
        again = original(trained)
        return {**again, key: change(again[key])}

    monkeypatch.setattr(answers_module, "evaluate_trained", changed)
    with pytest.raises(StoreError, match=f"does not reproduce the last evaluation \\({key}"):
        record_answers(finished)
    assert not (finished / "answers.json").exists()


def test_a_loss_within_the_tolerance_of_old_logs_still_reproduces(finished, monkeypatch):
    original = answers_module.evaluate_trained
    monkeypatch.setattr(answers_module, "evaluate_trained", lambda trained: {**original(trained), "loss": original(trained)["loss"] + 1e-7})
    assert record_answers(finished)["iteration"] == 20


def test_no_last_checkpoint_no_answers(tmp_path):
    (run,) = train(tiny(iters=10, interval=10), [0], tmp_path, RunOptions(device="cpu", progress=False))
    RunDir(run.path).checkpoint_path("last").unlink()
    with pytest.raises(StoreError, match="no last checkpoint"):
        record_answers(run.path)
    assert not (run.path / "answers.json").exists()
