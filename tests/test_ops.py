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
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x, w = torch.randn(1, 7938, 14, requires_grad=True), torch.randn(1, 14, requires_grad=True)
        scores = torch.randn(1, 882, 1, 9, 9, requires_grad=True)
        logits, targets = torch.randn(7938, 17, requires_grad=True), torch.randint(0, 17, (7938,))
        grads = []
        for _ in range(2):
            x.grad = w.grad = scores.grad = logits.grad = None
            loss = (ops.layer_norm(x, w) ** 2).sum() + (ops.causal_softmax(scores, 0.3) ** 2).sum()
            (loss + ops.cross_entropy_rows(logits, targets).sum()).backward()
            grads.append([t.grad.clone() for t in (x, w, scores, logits)])
        assert all(torch.equal(a, b) for a, b in zip(*grads))
    finally:
        torch.set_num_threads(before)


def test_layer_norm_accepts_one_row_per_member():
    x, w = _double(3, 5), _double(3, 5)
    assert torch.autograd.gradcheck(lambda x, w: ops.layer_norm(x, w), (x, w))


def test_embedding_equals_the_one_hot_product_bitwise():
    idx = torch.randint(0, 17, (3, 40, 9))
    weight = torch.randn(3, 17, 14, requires_grad=True)
    grad_out = torch.randn(3, 40, 9, 14)
    out = ops.embedding(idx, weight)
    (grad,) = torch.autograd.grad(out, weight, grad_out)
    one_hot = F.one_hot(idx.reshape(3, -1), 17).float()
    expected = torch.bmm(one_hot, weight).view(3, 40, 9, 14)
    (expected_grad,) = torch.autograd.grad(expected, weight, grad_out)
    assert torch.equal(out, expected) and torch.equal(grad, expected_grad)
