"""How many jobs run at once and with how many torch threads each."""

from __future__ import annotations

import os
from typing import Sequence

import torch

from .plan import Job


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset and container CPU sets
    except AttributeError:
        return os.cpu_count() or 1


def uses_cuda(jobs: Sequence[Job]) -> bool:
    return any(j.options.device.startswith("cuda") or (j.options.device == "auto" and torch.cuda.is_available()) for j in jobs)


def shards_of(jobs: Sequence[Job]) -> int:
    """The most batch shards any job trains with (each shard runs on its own thread)."""
    return max((j.options.batch_shards for j in jobs), default=1)


def shape(n_jobs: int, workers: int | None, threads: int | None, cuda: bool, shards: int = 1) -> tuple[int, int]:
    """(parallel jobs, torch threads per job); see `execute`. A job with S batch shards needs
    S threads at least (one per shard), so by default it counts as S cores."""
    cores = cpus()
    if workers is None:
        workers = 1 if cuda else max(1, min(n_jobs, cores // max(threads or 1, shards)))
    if threads is None:
        threads = max(shards, cores // workers)
    return workers, threads
