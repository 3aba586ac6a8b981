"""Learning-rate schedule and evaluation points of the reference protocol."""

from __future__ import annotations

import math

from ..config import EvalConfig, TrainConfig


def learning_rate(it: int, cfg: TrainConfig) -> float:
    """nanoGPT's get_lr: linear warmup, cosine decay to min_lr at lr_decay_iters, then min_lr."""
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it > cfg.lr_decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(1, cfg.lr_decay_iters - cfg.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, ratio))))
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def eval_points(max_iters: int, cfg: EvalConfig) -> list[int]:
    """Iterations at which the model is evaluated: 0, every interval (or log-spaced), and the end."""
    if cfg.schedule == "log":
        ratio = max_iters ** (1.0 / (cfg.log_points - 1))
        points = {round(ratio**i) for i in range(cfg.log_points)}
    else:
        points = set(range(0, max_iters, cfg.interval))
    return sorted(points | {0, max_iters})
