"""The paper's experiments as presets: which configurations each table or figure needs."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, RunConfig
from .presets import grokking_config, make_config, with_max_iters
from .studies import STUDIES

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
    """Comma-separated names: the paper's (table2..table7, grokking, capacity; "all" for every
    one of them) and the studies beyond it (capacity-curve, ...; "beyond" for every one)."""
    names: list[str] = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        expanded = list(EXPERIMENTS) if token == "all" else list(STUDIES) if token == "beyond" else [token]
        names += [n for n in expanded if n not in names]
    if not names:
        raise ConfigError(f"--experiments: no experiment named in {text!r}")
    for name in names:
        if name not in EXPERIMENTS and name not in STUDIES:
            allowed = ", ".join([*EXPERIMENTS, "all", *STUDIES, "beyond"])
            raise ConfigError(f"--experiments: unknown experiment {name!r} (allowed: {allowed})")
    return names


def capacity_config(n_embd: int, seed: int = 0) -> RunConfig:
    """A one-layer, one-head model of width n (MLP ratio 1), labelled n<N>, on arithmetic."""
    return make_config("arithmetic", f"n{n_embd}", seed=seed)


def experiment_configs(
    name: str, seeds: list[int], include_mlt: bool = False, max_iters: int | None = None
) -> list[RunConfig]:
    """Every (model, seed) configuration of one experiment; the capacity search is planned elsewhere."""
    if name in STUDIES:
        return STUDIES[name].configs(seeds, max_iters)
    exp = EXPERIMENTS[name]
    models = [m for m in exp.models if include_mlt or m != "mlt"]
    if name == "grokking":  # an MLT run: skipped like the tables' MLT rows unless included
        configs = [grokking_config(seed) for seed in seeds] if models else []
    elif name == "capacity":
        return []
    else:
        configs = [make_config(exp.task, m, exp.regularization, seed) for m in models for seed in seeds]
    return [with_max_iters(c, max_iters) for c in configs]
