"""A nanoGPT-shaped GPT whose every weight carries a leading member axis K.

Pre-LayerNorm blocks, causal self-attention, an MLP of hidden size mlp_ratio * n_embd, no biases,
learned position embeddings, token embedding tied to the output head. Parameter names and
layouts follow nanoGPT (`transformer.h.0.attn.c_attn.weight`, Linear weights as (out, in)), so
one member's slice is a nanoGPT state dict. K = 1 is an ordinary model.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from . import ops
from .config import ModelConfig

Params = dict[str, torch.Tensor]
Dropout = Callable[[torch.Tensor], torch.Tensor]


def param_shapes(cfg: ModelConfig, vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Per-member shapes, in the order in which weights are initialized."""
    c, hidden = cfg.n_embd, cfg.mlp_ratio * cfg.n_embd
    shapes: dict[str, tuple[int, ...]] = {
        "transformer.wte.weight": (vocab_size, c),
        "transformer.wpe.weight": (cfg.block_size, c),
    }
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        shapes[p + "ln_1.weight"] = (c,)
        shapes[p + "attn.c_attn.weight"] = (3 * c, c)
        shapes[p + "attn.c_proj.weight"] = (c, c)
        shapes[p + "ln_2.weight"] = (c,)
        shapes[p + "mlp.c_fc.weight"] = (hidden, c)
        shapes[p + "mlp.c_proj.weight"] = (c, hidden)
    shapes["transformer.ln_f.weight"] = (c,)
    return shapes


def count_parameters(cfg: ModelConfig, vocab_size: int) -> int:
    """nanoGPT's count (and the paper's): position embeddings excluded, tied head counted once."""
    return sum(
        math.prod(shape)
        for name, shape in param_shapes(cfg, vocab_size).items()
        if name != "transformer.wpe.weight"
    )


def init_member(cfg: ModelConfig, vocab_size: int, seed: int) -> Params:
    """nanoGPT's initialization, drawn from a generator owned by this member's seed alone."""
    gen = torch.Generator().manual_seed(seed)
    params: Params = {}
    for name, shape in param_shapes(cfg, vocab_size).items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            params[name] = torch.ones(shape)
            continue
        # Residual projections get the GPT-2 scaled init.
        std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("c_proj.weight") else 0.02
        params[name] = torch.normal(0.0, std, size=shape, generator=gen)
    return params


def stack_members(members: Iterable[Params]) -> Params:
    members = list(members)
    return {name: torch.stack([m[name] for m in members]) for name in members[0]}


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """float32 for reduced-precision (autocast) tensors; float64 stays float64 (reference tests)."""
    return t if t.dtype == torch.float64 else t.float()


def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    # (K, N, in) @ (K, in, out): one batched GEMM over all members.
    return torch.bmm(x, weight.mT)


def _attention(
    x: torch.Tensor, params: Params, prefix: str, cfg: ModelConfig, batch: int, dropout: Dropout | None
) -> torch.Tensor:
    k_members, n, c = x.shape
    t, h = n // batch, cfg.n_head
    qkv = _linear(x, params[prefix + "c_attn.weight"])  # (K, B*T, 3C)
    q, k, v = (z.view(k_members, batch, t, h, c // h).transpose(2, 3) for z in qkv.split(c, dim=-1))
    # Explicit attention: for blocks of 9-24 characters it beats SDPA's CPU path, compiles
    # cleanly, and lets attention-weight dropout use the member's own masks.
    # Scores and softmax in float32 even under bf16 autocast, as fused attention kernels do.
    att = ops.causal_softmax(at_least_float32(q @ k.mT), 1.0 / math.sqrt(k.size(-1)))  # (K, B, H, T, T)
    if dropout is not None:
        att = dropout(att)
    y = att.to(v.dtype) @ v  # (K, B, H, T, D)
    y = y.transpose(2, 3).reshape(k_members, n, c)
    y = _linear(y, params[prefix + "c_proj.weight"])
    return y if dropout is None else dropout(y)


def _mlp(x: torch.Tensor, params: Params, prefix: str, dropout: Dropout | None) -> torch.Tensor:
    y = _linear(F.gelu(_linear(x, params[prefix + "c_fc.weight"])), params[prefix + "c_proj.weight"])
    return y if dropout is None else dropout(y)


def hidden_states(params: Params, idx: torch.Tensor, cfg: ModelConfig, dropout: Dropout | None = None) -> torch.Tensor:
    """Final (post ln_f) hidden states (K, B, T, C) for token ids idx (K, B, T)."""
    k_members, batch, t = idx.shape
    wte = params["transformer.wte.weight"]  # (K, V, C)
    # A gather whose backward is the one-hot GEMM (ops.embedding): deterministic gradients.
    # Embeddings stay float32 under autocast, as nn.Embedding's do.
    x = ops.embedding(idx, at_least_float32(wte))  # (K, B, T, C)
    x = (x + params["transformer.wpe.weight"][:, None, :t, :]).reshape(k_members, batch * t, -1)
    if dropout is not None:
        x = dropout(x)
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        x = x + _attention(ops.layer_norm(x, params[p + "ln_1.weight"]), params, p + "attn.", cfg, batch, dropout)
        x = x + _mlp(ops.layer_norm(x, params[p + "ln_2.weight"]), params, p + "mlp.", dropout)
    x = ops.layer_norm(x, params["transformer.ln_f.weight"])
    return x.view(k_members, batch, t, -1)


def head(params: Params, h: torch.Tensor) -> torch.Tensor:
    """Logits through the tied output head: (K, ..., C) -> (K, ..., V)."""
    k_members = h.shape[0]
    flat = h.reshape(k_members, -1, h.shape[-1])
    return torch.bmm(flat, params["transformer.wte.weight"].mT).view(*h.shape[:-1], -1)


def describe(cfg: ModelConfig, vocab_size: int) -> str:
    lines = [
        f"GPT: {cfg.n_layer} layer(s), {cfg.n_head} head(s), n_embd {cfg.n_embd}, "
        f"MLP hidden {cfg.mlp_ratio * cfg.n_embd} (ratio {cfg.mlp_ratio}), block_size {cfg.block_size}, "
        f"vocab {vocab_size}, dropout {cfg.dropout}, no biases, tied embeddings",
    ]
    for name, shape in param_shapes(cfg, vocab_size).items():
        lines.append(f"  {name:40s} {'x'.join(map(str, shape)):>12s} {math.prod(shape):>12,d}")
    lines.append(f"parameters (position embeddings excluded): {count_parameters(cfg, vocab_size):,}")
    return "\n".join(lines)
