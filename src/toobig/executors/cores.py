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


def shape(n_jobs: int, workers: int | None, threads: int | None, cuda: bool) -> tuple[int, int]:
    """(parallel jobs, torch threads per job); see `execute`."""
    cores = cpus()
    if workers is None:
        workers = 1 if cuda else max(1, min(n_jobs, cores // (threads or 1)))
    if threads is None:
        threads = max(1, cores // workers)
    return workers, threads
