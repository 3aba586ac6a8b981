"""The paper's experiments as presets: which configurations each table or figure needs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import ConfigError, RunConfig, validate
from .presets import grokking_config, make_config

MINI_MODELS = ("n14", "n28", "n56")
ALL_MODELS = (*MINI_MODELS, "mlt")


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    task: str
    regularization: str
    models: tuple[str, ...] = ALL_MODELS


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("table2", "Table 2: addition and subtraction, (5,7) held out", "arithmetic", "paper"),
        Experiment("table3", "Table 3: capital-city facts", "capitals", "paper"),
        Experiment("table4", "Table 4: arithmetic and facts together", "combined", "paper"),
        Experiment("table5", "Table 5: arithmetic, controlled regularization", "arithmetic", "controlled"),
        Experiment("table6", "Table 6: facts, controlled regularization", "capitals", "controlled"),
        Experiment("table7", "Table 7: combined, controlled regularization", "combined", "controlled"),
        Experiment("grokking", "Appendix B: MLT on arithmetic for 1.5M iterations", "arithmetic", "paper", ("mlt",)),
        Experiment("capacity", "Section 3.2: smallest n that learns arithmetic", "arithmetic", "paper", ()),
    )
}
TABLES = tuple(f"table{i}" for i in range(2, 8))


def parse_experiments(text: str) -> list[str]:
    names = list(EXPERIMENTS) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in EXPERIMENTS:
            raise ConfigError(f"--experiments: unknown experiment {name!r} (allowed: {', '.join(EXPERIMENTS)}, all)")
    return names


def capacity_config(n_embd: int, seed: int = 0) -> RunConfig:
    """A one-layer, one-head model of width n (MLP ratio 1), labelled n<N>, on arithmetic."""
    return make_config("arithmetic", f"n{n_embd}", seed=seed)


def with_max_iters(config: RunConfig, max_iters: int | None) -> RunConfig:
    """Shorten a run (for a quick look); the schedule's milestones shrink in proportion."""
    if max_iters is None or max_iters == config.train.max_iters:
        return config
    scale = max_iters / config.train.max_iters
    train = replace(
        config.train,
        max_iters=max_iters,
        warmup_iters=round(config.train.warmup_iters * scale),
        lr_decay_iters=max(1, round(config.train.lr_decay_iters * scale)),
    )
    return validate(replace(config, train=train))


def experiment_configs(
    name: str, seeds: list[int], include_mlt: bool = False, max_iters: int | None = None
) -> list[RunConfig]:
    """Every (model, seed) configuration of one experiment; the capacity search is planned elsewhere."""
    exp = EXPERIMENTS[name]
    models = [m for m in exp.models if include_mlt or m != "mlt"]
    if name == "grokking":  # an MLT run: skipped like the tables' MLT rows unless included
        configs = [grokking_config(seed) for seed in seeds] if models else []
    elif name == "capacity":
        return []
    else:
        configs = [make_config(exp.task, m, exp.regularization, seed) for m in models for seed in seeds]
    return [with_max_iters(c, max_iters) for c in configs]
