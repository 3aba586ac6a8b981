"""The hand-written backward passes agree with autograd's derivation of the same functions."""

import math

import pytest
import torch
import torch.nn.functional as F

from toobig import ops


def _double(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_layer_norm_matches_torch_per_member():
    x, w = _double(3, 20, 7), _double(3, 7)
    out = ops.layer_norm(x, w)
    for k in range(3):
        torch.testing.assert_close(out[k], F.layer_norm(x[k], (7,), w[k], None, 1e-5))
    assert torch.autograd.gradcheck(lambda x, w: ops.layer_norm(x, w), (x, w))


def test_layer_norm_gain_gradient_stays_within_its_member():
    x, w = _double(2, 5, 4, 6), _double(2, 6)
    ops.layer_norm(x, w)[0].sum().backward()
    assert w.grad[1].abs().max() == 0 and w.grad[0].abs().max() > 0


def test_causal_softmax_matches_masked_softmax():
    scores = _double(2, 4, 1, 6, 6)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    expected = torch.softmax((scores * 0.3).masked_fill(~causal, -math.inf), dim=-1)
    torch.testing.assert_close(ops.causal_softmax(scores, 0.3), expected)
    assert torch.autograd.gradcheck(lambda s: ops.causal_softmax(s, 0.3), (scores,))


def test_cross_entropy_rows_matches_torch():
    logits, targets = _double(40, 9), torch.randint(0, 9, (40,))
    torch.testing.assert_close(ops.cross_entropy_rows(logits, targets), F.cross_entropy(logits, targets, reduction="none"))
    assert torch.autograd.gradcheck(lambda z: ops.cross_entropy_rows(z, targets), (logits,))


def test_ops_are_bitwise_deterministic_in_float32():
    x, w = torch.randn(1, 7938, 14, requires_grad=True), torch.randn(1, 14, requires_grad=True)
    grads = []
    for _ in range(2):
        x.grad = w.grad = None
        (ops.layer_norm(x, w) ** 2).sum().backward()
        grads.append((x.grad.clone(), w.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
