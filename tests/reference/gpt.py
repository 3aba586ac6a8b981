"""An independent GPT for reference tests, written from nanoGPT's architecture with torch.nn.

It shares no code with toobig: ordinary nn.Linear / nn.LayerNorm / nn.Embedding modules, exact
GELU, an explicit causal mask and F.cross_entropy. Its state dict uses nanoGPT's names, so one
toobig member's weights load into it unchanged.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

# A dropout site: called with the activation, returns it with the member's mask applied.
Drop = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class Attention(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(self, x: torch.Tensor, drop: Drop) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (drop(att) @ v).transpose(1, 2).contiguous().view(b, t, c)
        return drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd: int, hidden: int):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, hidden, bias=False)
        self.gelu = nn.GELU()  # exact (erf) GELU, as nanoGPT
        self.c_proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x: torch.Tensor, drop: Drop) -> torch.Tensor:
        return drop(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, hidden: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = Attention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, bias=False)
        self.mlp = MLP(n_embd, hidden)

    def forward(self, x: torch.Tensor, drop: Drop) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), drop)
        return x + self.mlp(self.ln_2(x), drop)


class ReferenceGPT(nn.Module):
    def __init__(self, vocab: int, block_size: int, n_layer: int, n_head: int, n_embd: int, mlp_ratio: int):
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(vocab, n_embd),
                wpe=nn.Embedding(block_size, n_embd),
                h=nn.ModuleList([Block(n_embd, n_head, mlp_ratio * n_embd) for _ in range(n_layer)]),
                ln_f=nn.LayerNorm(n_embd, bias=False),
            )
        )
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying

    def forward(self, idx: torch.Tensor, drop: Drop = _identity) -> torch.Tensor:
        t = idx.shape[1]
        x = drop(self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t)))
        for block in self.transformer.h:
            x = block(x, drop)
        return self.lm_head(self.transformer.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor, drop: Drop = _identity) -> torch.Tensor:
        logits = self(idx, drop)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def decay_groups(self, weight_decay: float) -> list[dict]:
        """nanoGPT's configure_optimizers: decay on tensors of >= 2 dims, none on the gains."""
        params = {n: p for n, p in self.named_parameters()}
        return [
            {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
        ]


def reference_lr(it: int, lr: float, min_lr: float, warmup: int, decay_iters: int) -> float:
    """nanoGPT's get_lr, written out again."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return min_lr
    ratio = (it - warmup) / (decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
