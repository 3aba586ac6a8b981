"""The GPT matches the paper's parameter counts and behaves as K independent models."""

from __future__ import annotations

import pytest
import torch

from toobig import model as gpt
from toobig.presets import make_config

PAPER_COUNTS = {
    ("arithmetic", "n14"): 1_456, ("arithmetic", "n28"): 5_264, ("arithmetic", "n56"): 19_936,
    ("arithmetic", "mlt"): 10_628_352,
    ("capitals", "n14"): 1_932, ("capitals", "n28"): 6_216, ("capitals", "n56"): 21_840,
    ("capitals", "mlt"): 10_641_408,
    ("combined", "n14"): 2_142, ("combined", "n28"): 6_636, ("combined", "n56"): 22_680,
    ("combined", "mlt"): 10_647_168,
}
VOCAB = {"arithmetic": 17, "capitals": 51, "combined": 66}


@pytest.mark.parametrize("task,model", sorted(PAPER_COUNTS))
def test_parameter_count_equals_paper(task, model):
    config = make_config(task, model)
    assert gpt.count_parameters(config.model, VOCAB[task]) == PAPER_COUNTS[task, model]


def test_members_are_independent_and_seeded():
    cfg = make_config("arithmetic", "n28").model
    a, b = gpt.init_member(cfg, 17, 1), gpt.init_member(cfg, 17, 2)
    assert torch.equal(a["transformer.wte.weight"], gpt.init_member(cfg, 17, 1)["transformer.wte.weight"])
    assert not torch.equal(a["transformer.wte.weight"], b["transformer.wte.weight"])
    x = torch.randint(0, 17, (1, 5, 9))
    stacked = gpt.stack_members([a, b])
    both = gpt.head(stacked, gpt.hidden_states(stacked, x.expand(2, -1, -1), cfg))
    alone = gpt.head(gpt.stack_members([b]), gpt.hidden_states(gpt.stack_members([b]), x, cfg))
    torch.testing.assert_close(both[1], alone[0])


def test_attention_is_causal():
    cfg = make_config("arithmetic", "mlt").model
    params = gpt.stack_members([gpt.init_member(cfg, 17, 0)])
    x = torch.randint(0, 17, (1, 2, 9))
    y = x.clone()
    y[..., 5:] = (y[..., 5:] + 1) % 17
    hx, hy = gpt.hidden_states(params, x, cfg), gpt.hidden_states(params, y, cfg)
    torch.testing.assert_close(hx[..., :5, :], hy[..., :5, :])
    assert not torch.allclose(hx[..., 5:, :], hy[..., 5:, :])


def test_describe_names_every_weight_and_the_count():
    cfg = make_config("arithmetic", "n14").model
    text = gpt.describe(cfg, 17)
    assert "transformer.h.0.attn.c_attn.weight" in text and "1,456" in text


def test_initialization_follows_nanogpt():
    """normal(0, 0.02) everywhere, 0.02 / sqrt(2 * n_layer) on the residual projections, unit gains."""
    cfg = make_config("arithmetic", "mlt").model
    params = gpt.init_member(cfg, 17, 0)
    for name, w in params.items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            assert torch.equal(w, torch.ones_like(w)), name
            continue
        want = 0.02 / (2 * cfg.n_layer) ** 0.5 if name.endswith("c_proj.weight") else 0.02
        assert abs(w.mean().item()) < 0.1 * want, name
        assert w.std().item() == pytest.approx(want, rel=0.05), name
