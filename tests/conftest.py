from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from toobig.presets import make_config

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture
def reference_dir() -> Path:
    if not (REFERENCE / "data").is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE


def tiny(task: str = "arithmetic", model: str = "n14", iters: int = 60, interval: int = 20, **train):
    """A short run of a real preset: same model and data, fewer iterations, smaller batches."""
    config = make_config(task, model)
    return replace(
        config,
        train=replace(config.train, max_iters=iters, warmup_iters=10, lr_decay_iters=iters, **train),
        eval=replace(config.eval, interval=interval, num_samples=2),
    )
