"""Population sizes: what fits a GPU's free memory, what suits the CPU."""

from __future__ import annotations

import torch

from toobig.engine import chunking
from toobig.presets import make_config


def test_cpu_uses_the_benchmarked_size_and_requests_win():
    config = make_config("arithmetic", "n14")
    assert chunking.members_per_population(config, 17, torch.device("cpu")) == chunking.CPU_MEMBERS
    assert chunking.members_per_population(config, 17, torch.device("cpu"), requested=7) == 7


def test_gpu_population_fits_free_memory(monkeypatch):
    free = 80 * 1024**3
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, free))
    cuda = torch.device("cuda")
    small = chunking.members_per_population(make_config("arithmetic", "n14"), 17, cuda)
    large = chunking.members_per_population(make_config("capitals", "mlt"), 51, cuda)
    assert small > 1000 and 1 <= large < 50
    for config, vocab, k in ((make_config("arithmetic", "n14"), 17, small), (make_config("capitals", "mlt"), 51, large)):
        assert k * chunking.bytes_per_member(config, vocab) <= chunking.GPU_MEMORY_FRACTION * free


def test_split_keeps_order():
    assert chunking.split([5, 6, 7, 8, 9], 2) == [[5, 6], [7, 8], [9]]
