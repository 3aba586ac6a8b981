"""Counter-based random numbers: a pure function of (member seed, stream, counters).

Every random draw of a member (its training windows, dropout masks, evaluation samples) is a
hash of its own seed and of where the draw happens (iteration, position). So a member sees the
same numbers alone or among 64 others, on CPU or GPU, and after a resume there is no generator
state to restore. The hash is murmur3's 32-bit finalizer, computed in int64 without overflow so
it is exact and identical on every device.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B1

# Stream ids keep independent uses of a member's seed apart.
STREAM_BATCH = 1
STREAM_DROPOUT = 2
STREAM_SAMPLE = 3
STREAM_ORDER = 4  # line orders of the "reshuffle" sampling
STREAM_LINES = 5  # independent lines of the "lines" sampling


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2**32 for 0 <= x < 2**32, split so no int64 product overflows."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def hash32(*words: torch.Tensor | int) -> torch.Tensor:
    """Hash broadcastable int64 tensors (or ints) to uniform 32-bit values."""
    h = torch.tensor(0x2545F491, dtype=torch.long)
    for word in words:
        h = _fmix32(_mul32(h, _GOLDEN) ^ (torch.as_tensor(word, dtype=torch.long) & _MASK32))
    return h


def member_keys(seeds: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """One 32-bit key per member, mixing all 64 bits of its seed."""
    low = torch.tensor([s & _MASK32 for s in seeds], dtype=torch.long, device=device)
    high = torch.tensor([(s >> 32) & _MASK32 for s in seeds], dtype=torch.long, device=device)
    return hash32(low, high)


def _member_view(keys: torch.Tensor, counters: tuple[torch.Tensor | int, ...]) -> torch.Tensor:
    # A list, not a generator with default=: torch.compile traces this (dropout in the graph).
    dims = max([c.dim() for c in counters if isinstance(c, torch.Tensor)] + [1])
    return keys.view(-1, *([1] * max(0, dims - 1)))


def randint(keys: torch.Tensor, stream: int, high: int, *counters: torch.Tensor | int) -> torch.Tensor:
    """Integers in [0, high): member keys (K,) on the first axis, broadcast against the counters."""
    return hash32(_member_view(keys, counters), stream, *counters) % high


def uniform(keys: torch.Tensor, stream: int, *counters: torch.Tensor | int) -> torch.Tensor:
    """float32 in [0, 1) with 24 random bits, laid out like randint."""
    bits = hash32(_member_view(keys, counters), stream, *counters) >> 8
    return bits.to(torch.float32) * (1.0 / (1 << 24))
