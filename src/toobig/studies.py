"""Studies beyond the paper: named grids of protocol variants that test its claims.

Each study answers one question with configurations that differ from the paper's Table 2
protocol (arithmetic, paper regularization) in named ways; `toobig reproduce --experiments NAME`
runs it and the report gives it a section with a verdict.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from .config import RunConfig, apply_overrides, validate
from .presets import make_config, with_max_iters

PAPER_ITERS = 30_000


@dataclass(frozen=True)
class Variant:
    """One configuration of a study: a model and the settings that differ from the paper's."""

    label: str  # what the report calls it, e.g. "per-seed line order" or "(3,8)"
    model: str
    sets: tuple[tuple[str, Any], ...] = ()  # ("section.name", value) pairs
    max_iters: int = PAPER_ITERS
    eval_interval: int | None = None

    @property
    def is_table2(self) -> bool:
        """The paper's own Table 2 configuration (its runs belong to the paper's report too)."""
        return not self.sets and self.max_iters == PAPER_ITERS and self.eval_interval is None and self.model in ("n14", "n28", "n56")

    def config(self, seed: int, max_iters: int | None = None) -> RunConfig:
        """The variant for one seed; max_iters shortens it (the schedule's milestones in proportion)."""
        config = make_config("arithmetic", self.model, "paper", seed)
        overrides: dict[str, dict[str, Any]] = {}
        for key, value in self.sets:
            section, name = key.split(".")
            overrides.setdefault(section, {})[name] = value
        config = apply_overrides(config, overrides)
        if self.eval_interval is not None:
            config = replace(config, eval=replace(config.eval, interval=self.eval_interval))
        config = with_max_iters(validate(config), self.max_iters)
        return with_max_iters(config, max_iters) if max_iters is not None else config


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    question: str
    axis: str  # what the variants vary: "width", "protocol", "held-out set", "weight decay"
    variants: tuple[Variant, ...]
    seeds: int  # the seeds the study asks for (reproduce's default)

    def configs(self, seeds: list[int], max_iters: int | None = None) -> list[RunConfig]:
        """Every (variant, seed) configuration; max_iters shortens the paper-length variants to
        it and longer variants in proportion."""
        out = []
        for variant in self.variants:
            length = None if max_iters is None else max(1, round(max_iters * variant.max_iters / PAPER_ITERS))
            out += [variant.config(seed, length) for seed in seeds]
        return out

    def variant_of(self, digest: str, max_iters: int) -> Variant | None:
        """The variant whose configuration has this digest (at this run length), if any."""
        for variant in self.variants:
            for length in {variant.max_iters, max_iters}:
                if variant.config(0, length).digest() == digest:
                    return variant
        return None


CAPACITY_WIDTHS = (4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 40, 56)
_MODELS = ("n14", "n28", "n56")
_PROTOCOLS = (
    ("paper", ()),
    ("per-seed line order", (("task.line_order", "seed"),)),
    ("reshuffled stream", (("train.sampling", "reshuffle"),)),
    ("whole lines", (("train.sampling", "lines"),)),
    ("answer-only loss", (("train.loss_on", "answers"),)),
)
_HELD_OUT = (
    ("(3,8)", (("task.held_out", ((3, 8),)),)),
    ("(2,9)", (("task.held_out", ((2, 9),)),)),
    ("(1,6)", (("task.held_out", ((1, 6),)),)),
    ("5 random pairs per seed", (("task.held_out_random", 5),)),
)
# Decoupled weight decay 1.0 at the paper's learning rate: lr x wd = 1e-2 per step at the peak,
# ten times the controlled condition's 1e-3 (wd 0.1).
_WEIGHT_DECAY = (("train.weight_decay", 1.0),)
NO_WD_100K = "no wd, 100k"

STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study(
            "capacity-curve",
            "Capacity curve: extrapolation against width",
            "Where is the window in which a model learns the task but cannot memorize it?",
            "width",
            tuple(Variant(f"n{w}", f"n{w}") for w in CAPACITY_WIDTHS),
            10,
        ),
        Study(
            "order-ablation",
            "Order ablation: can the file be memorized?",
            "Do n28 and n56 extrapolate once the line order of the training file cannot be memorized?",
            "protocol",
            tuple(Variant(label, m, sets) for m in _MODELS for label, sets in _PROTOCOLS),
            # 10, not the 5, since session 13 (the graded verdicts moved with the seeds):
            # the report calls a verdict interim until its plan, so the plan is the one pursued.
            10,
        ),
        Study(
            "heldout-generality",
            "Held-out generality: other pairs, random sets",
            "Does 'the smallest model extrapolates, bigger ones do not' hold for other held-out pairs?",
            "held-out set",
            tuple(Variant(label, m, sets) for m in _MODELS for label, sets in _HELD_OUT),
            5,
        ),
        Study(
            "weight-decay",
            "Weight decay: size, or too little regularization?",
            "Do n28 and n56 extrapolate with weight decay strong enough to matter (lr x wd = 1e-2)?",
            "weight decay",
            (
                Variant("wd 1.0, 30k", "n28", _WEIGHT_DECAY),
                Variant("wd 1.0, 100k", "n28", _WEIGHT_DECAY, 100_000, 1_000),
                # The 100k runs' control: as long, without weight decay (n28 only: an n56 run
                # of 100k iterations takes over an hour on one core).
                Variant(NO_WD_100K, "n28", (), 100_000, 1_000),
                Variant("wd 1.0, 30k", "n56", _WEIGHT_DECAY),
                Variant("wd 1.0, 100k", "n56", _WEIGHT_DECAY, 100_000, 1_000),
            ),
            5,
        ),
        Study(
            "learning-rate",
            "Learning rate: size, or a schedule too fast for it?",
            "Does n28 extrapolate with a lower peak learning rate? At the paper's 1e-2 it learns the task, and "
            "peaks on the held-out pairs, during the warmup.",
            "learning rate",
            tuple(
                Variant(label, "n28", (("train.learning_rate", lr), ("train.min_lr", lr / 100)))
                for label, lr in (("lr 3e-3", 3e-3), ("lr 1e-3", 1e-3))
            ),
            5,
        ),
    )
}


@functools.lru_cache(maxsize=None)
def study_of(digest: str, max_iters: int) -> tuple[Study, Variant] | None:
    """The first study (in STUDIES' order) with a variant of this configuration digest at this run
    length, and the variant; None for a configuration of no study. Cached: a report asks for every
    cell many times, and each answer builds every variant's configuration."""
    for study in STUDIES.values():
        variant = study.variant_of(digest, max_iters)
        if variant is not None:
            return study, variant
    return None
