"""How many members one population may hold: what fits the GPU's memory, what suits the CPU's cores."""

from __future__ import annotations

import math

import torch

from .. import model as gpt
from ..config import RunConfig

# CPU population sizes, from benchmarks/bench_train.py (docs/performance.md): tiny models are
# memory-bound, so a population saves little per model. One process using every core does best
# with 2 members; an executor worker with one thread per core gains nothing from a second
# member, so it gets one member (and the cores run members in parallel processes).
CPU_MEMBERS = 2
CPU_MEMBERS_PER_PROCESS = 1
# Use at most this fraction of the free GPU memory for one population.
GPU_MEMORY_FRACTION = 0.6
# Activation floats kept per token per layer for the backward pass (q, k, v, MLP hidden, norms,
# residuals): a deliberate over-estimate, checked against torch.cuda.max_memory_allocated.
_FLOATS_PER_TOKEN_PER_WIDTH = 24


def bytes_per_member(config: RunConfig, vocab_size: int) -> int:
    """Estimated training memory of one member: weights, grads, AdamW moments and activations."""
    m, b = config.model, config.train.batch_size
    weights = gpt.count_parameters(m, vocab_size) + m.block_size * m.n_embd
    tokens = b * m.block_size
    per_layer = tokens * (
        _FLOATS_PER_TOKEN_PER_WIDTH * m.n_embd + 2 * m.mlp_ratio * m.n_embd + 3 * m.n_head * m.block_size
    )
    activations = m.n_layer * per_layer + tokens * (3 * vocab_size + 4 * m.n_embd)
    return 4 * (4 * weights + activations)


def members_per_population(config: RunConfig, vocab_size: int, device: torch.device, requested: int | None = None) -> int:
    """The population size to use: `requested` if given, else what the device suits."""
    if requested is not None:
        return max(1, requested)
    if device.type != "cuda":
        return CPU_MEMBERS
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, math.floor(free * GPU_MEMORY_FRACTION / bytes_per_member(config, vocab_size)))


def split(seeds: list[int], size: int) -> list[list[int]]:
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]
