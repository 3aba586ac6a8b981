"""A hypothesis "group a is higher than group b", tested twice and said in plain words: the share
of seeds that extrapolate (Fisher's exact test) and the graded held-out accuracy (exact rank-sum
test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..metrics import STABLE_EVALUATIONS
from .stats import cliffs_delta, fisher_exact, rank_sum_floor, rank_sum_test
from .study_measures import STRENGTH_NAMES, VERDICT_STRENGTH, VariantCell

ALPHA = 0.05
# "Does not hold" is said only with this many seeds per group or more: with fewer, only an
# all-or-none difference could reach significance, so the absence of one says little.
NEGATIVE_MIN_SEEDS = 5
GRADED_NAME = f"held-out accuracy over the last {STABLE_EVALUATIONS} evaluations"


@dataclass(frozen=True)
class Group:
    """One side of a comparison: the complete seeds of one or more variant cells."""

    name: str
    extrapolating: int  # seeds that extrapolate (VERDICT_STRENGTH)
    seeds: int
    graded: tuple[float, ...]  # each seed's held-out accuracy over the last evaluations


def group(name: str, cells: Sequence[VariantCell | None]) -> Group:
    """The seeds of the cells that ran (None: not run) as one group."""
    present = [vc for vc in cells if vc is not None]
    if not present:
        raise ValueError(f"group {name!r} has no runs")
    return Group(
        name,
        sum(vc.count() for vc in present),
        sum(vc.n for vc in present),
        tuple(r.heldout_tail for vc in present for r in vc.runs if r.heldout_tail is not None),
    )


def verdict(p: float, direction: float, floor: float, smaller_group: int, why_none: str = "no difference in the expected direction") -> str:
    """Plain words for a test of "a is higher than b": p its two-sided p-value, direction the
    observed difference (a - b), floor the smallest p-value these group sizes allow whatever
    the data, why_none what "does not hold" rests on when it is said."""
    if p < ALPHA:
        return "holds" if direction > 0 else "does not hold (the opposite is significant)"
    if floor >= ALPHA:
        return "undecided at this many seeds (too few for the test to reach 5% whatever they show)"
    if direction <= 0 and smaller_group >= NEGATIVE_MIN_SEEDS:
        return f"does not hold at {smaller_group}+ seeds per group ({why_none})"
    if direction <= 0:
        return (
            f"undecided at this many seeds (no difference in the expected direction so far; "
            f"'does not hold' needs {NEGATIVE_MIN_SEEDS}+ seeds per group)"
        )
    return "undecided at this many seeds (a difference in the expected direction, not significant)"


def comparison(hypothesis: str, a: Group, b: Group) -> str:
    """The hypothesis "a is higher than b", tested twice, each with its verdict and numbers:
    the share of seeds that extrapolate (Fisher's exact test: the verdict of record) and the
    graded held-out accuracy (exact rank-sum test: it sees a seed at 90% and one at 0% apart)."""
    (ka, na), (kb, nb) = (a.extrapolating, a.seeds), (b.extrapolating, b.seeds)
    p = fisher_exact(ka, na, kb, nb)
    # Fisher's smallest p-value for these sizes: all of one group against none of the other.
    # Neither group extrapolating is the plainest "does not hold" of all; say it in those words.
    why = "neither group extrapolates" if ka == kb == 0 else "no difference in the expected direction"
    counted = verdict(p, ka / na - kb / nb, fisher_exact(na, na, 0, nb), min(na, nb), why)
    lines = [
        f"- {hypothesis}:",
        f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: **{counted}**. {a.name} {ka}/{na} vs "
        f"{b.name} {kb}/{nb}; Fisher's exact test, two-sided p = {p:.3g}.",
    ]
    if a.graded and b.graded:
        p = rank_sum_test(a.graded, b.graded)
        delta = cliffs_delta(a.graded, b.graded)
        graded = verdict(p, delta, rank_sum_floor(len(a.graded), len(b.graded)), min(len(a.graded), len(b.graded)))
        mean_a, mean_b = (100 * sum(g) / len(g) for g in (a.graded, b.graded))
        lines.append(
            f"  - {GRADED_NAME}: **{graded}**. {a.name} mean {mean_a:.1f}% (n={len(a.graded)}) vs {b.name} "
            f"{mean_b:.1f}% (n={len(b.graded)}); "
            f"exact rank-sum (Mann-Whitney) test, two-sided p = {p:.3g}; Cliff's delta {delta:+.2f}."
        )
    return "\n".join(lines)
