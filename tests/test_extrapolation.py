"""The out-of-range test scores an oracle at 100% and writes its result next to the run."""

from __future__ import annotations

import json
from dataclasses import replace

from toobig.options import RunOptions
from toobig.training import train
from toobig.evaluation import Evaluator
from toobig.extrapolation import extrapolate

from .conftest import tiny
from .test_evaluation import _oracle_logits


def test_oracle_extrapolates_perfectly(tmp_path, monkeypatch):
    config = tiny(iters=10, interval=10)
    # A block wide enough that "<12+15=27>" is never cropped: the oracle reads whole prompts.
    config = replace(config, model=replace(config.model, block_size=16))
    (run,) = train(config, [0], tmp_path, RunOptions(device="cpu", progress=False))
    captured = {}

    original = Evaluator.__init__

    def with_oracle(self, prompts, tokenizer, *args, **kwargs):
        original(self, prompts, tokenizer, *args, **kwargs)
        captured["n"] = len(prompts)
        self.next_logits = _oracle_logits(tokenizer, prompts, wrong=False)

    monkeypatch.setattr(Evaluator, "__init__", with_oracle)
    result = extrapolate(run.path, max_operand=19)
    assert captured["n"] == 2 * 300  # pairs in 0..19 with an operand above 9, both operations
    assert result["add_acc"] == result["sub_acc"] == 1.0
    assert result["add_total"] == 300 * config.eval.num_samples
    assert json.loads((run.path / "extrapolation.json").read_text()) == result


def test_untrained_model_does_not_extrapolate(tmp_path):
    (run,) = train(tiny(iters=10, interval=10), [0], tmp_path, RunOptions(device="cpu", progress=False))
    result = extrapolate(run.path, max_operand=19)
    assert result["add_acc"] < 0.05 and result["sub_acc"] < 0.05
