"""LayerNorm, causal softmax and cross-entropy with hand-written backward passes.

The mini models push ~8k-14k rows of 9-56 elements through every op. Autograd's derivation of
these three ops takes some 35 element-wise kernels per step, several over broadcast (strided)
operands that ATen does not vectorize; the analytic backward passes below take about a third of
that, on contiguous tensors only. Every reduction is over a row or over the rows of one member,
so a member's numbers do not depend on the population around it.
"""

from __future__ import annotations

import torch


class _LayerNorm(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) * weight, without bias; weight is (K, C) per member."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        centered = x - x.mean(dim=-1, keepdim=True)
        inv_std = torch.rsqrt(centered.square().mean(dim=-1, keepdim=True) + eps)
        normed = centered * inv_std
        gain = weight.view(weight.shape[0], *([1] * (x.dim() - 2)), weight.shape[-1])
        ctx.save_for_backward(normed, inv_std, gain)
        return normed * gain

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        normed, inv_std, gain = ctx.saved_tensors
        grad_weight = None
        if ctx.needs_input_grad[1]:
            k, c = gain.shape[0], gain.shape[-1]
            grad_weight = (grad * normed).reshape(k, -1, c).sum(dim=1)
        grad_x = None
        if ctx.needs_input_grad[0]:
            g = grad * gain
            grad_x = (g - g.mean(dim=-1, keepdim=True) - normed * (g * normed).mean(dim=-1, keepdim=True)) * inv_std
        return grad_x, grad_weight, None


class _CausalSoftmax(torch.autograd.Function):
    """softmax(scores * scale) over the last dim, future positions (j > i) masked out."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, scale: float) -> torch.Tensor:
        t = scores.shape[-1]
        future = torch.ones(t, t, dtype=torch.bool, device=scores.device).triu(1)
        z = (scores * scale).masked_fill_(future, float("-inf"))
        e = (z - z.amax(dim=-1, keepdim=True)).exp_()
        probs = e.div_(e.sum(dim=-1, keepdim=True))
        ctx.scale = scale
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (probs,) = ctx.saved_tensors
        # Masked entries have probability 0, so their gradient is 0 without a second mask.
        weighted = grad * probs
        return (weighted - probs * weighted.sum(dim=-1, keepdim=True)) * ctx.scale, None


class _CrossEntropyRows(torch.autograd.Function):
    """Per-row negative log-likelihood of targets under logits (N, V)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        shifted = logits - logits.amax(dim=-1, keepdim=True)
        e = shifted.exp()
        total = e.sum(dim=-1, keepdim=True)
        nll = total.log().squeeze(-1) - shifted.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        ctx.save_for_backward(e, total, targets)
        return nll

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        e, total, targets = ctx.saved_tensors
        g = grad.unsqueeze(-1)
        # d nll / d logits = softmax - one_hot(target); each row has one target, so the
        # scatter writes every element at most once and is deterministic.
        grad_logits = e * (g / total)
        grad_logits.scatter_add_(-1, targets.unsqueeze(-1), -g)
        return grad_logits, None


class _Embedding(torch.autograd.Function):
    """Row lookup weight[k, idx[k, n]] for every member k, with the gradient of a one-hot product.

    The forward pass gathers rows: the same values as one_hot(idx) @ weight, without building
    the (K, N, V) one-hot matrix. The backward pass is that product's: one_hot(idx)^T @ grad, a
    GEMM, so gradients are summed in a fixed order (a scatter-add is not bitwise reproducible
    on several CPU threads).
    """

    @staticmethod
    def forward(ctx, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        k, vocab = weight.shape[0], weight.shape[1]
        rows = idx + vocab * torch.arange(k, device=idx.device).view(k, *([1] * (idx.dim() - 1)))
        ctx.save_for_backward(idx)
        ctx.vocab = vocab
        return weight.reshape(k * vocab, -1).index_select(0, rows.reshape(-1)).view(*idx.shape, -1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (idx,) = ctx.saved_tensors
        k = idx.shape[0]
        flat = idx.reshape(k, -1, 1)
        one_hot = torch.zeros(k, flat.shape[1], ctx.vocab, dtype=grad.dtype, device=grad.device)
        one_hot.scatter_(2, flat, 1.0)
        return None, torch.bmm(one_hot.mT, grad.reshape(k, -1, grad.shape[-1]))


def embedding(idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Token embeddings (K, ..., C) of ids idx (K, ...) in each member's table weight (K, V, C)."""
    return _Embedding.apply(idx, weight)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """nanoGPT's bias-free LayerNorm with a gain per member: x (K, ..., C), weight (K, C)."""
    return _LayerNorm.apply(x, weight, eps)


def causal_softmax(scores: torch.Tensor, scale: float) -> torch.Tensor:
    """Attention weights from raw scores (..., T, T): scaled, causally masked, normalized."""
    return _CausalSoftmax.apply(scores, scale)


def cross_entropy_rows(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """F.cross_entropy(logits, targets, reduction="none") for logits (N, V), targets (N,)."""
    return _CrossEntropyRows.apply(logits, targets)
