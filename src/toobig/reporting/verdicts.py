"""A hypothesis "group a is higher than group b", tested twice and said in plain words: the share
of seeds that extrapolate (Fisher's exact test; the verdict of record) and the graded held-out
accuracy (exact rank-sum test). p-values are Holm-adjusted within a study."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..metrics import STABLE_EVALUATIONS
from .stats import cliffs_delta, difference_interval, fisher_exact, holm, rank_sum_floor, rank_sum_test
from .study_measures import STRENGTH_NAMES, VERDICT_STRENGTH, MeasuredCell

ALPHA = 0.05
# "Does not hold" is said when the interval of the difference in the share of seeds that
# extrapolate (95%, widened for the study's comparisons) rules out a gain of this much: a third
# of the way from none to all. Smaller gains stay possible, and the verdict says how large.
MARGIN = 0.30
GRADED_NAME = f"held-out accuracy over the last {STABLE_EVALUATIONS} evaluations"


@dataclass(frozen=True)
class Group:
    """One side of a comparison: the complete seeds of a configuration."""

    name: str
    extrapolating: int  # seeds that extrapolate (VERDICT_STRENGTH)
    seeds: int
    graded: tuple[float, ...]  # each seed's held-out accuracy over the last evaluations


def group(name: str, vc: MeasuredCell) -> Group:
    """A configuration's measured seeds as one side of a comparison, called name."""
    return Group(name, vc.count(), vc.n, tuple(r.heldout_tail for r in vc.runs if r.heldout_tail is not None))


@dataclass(frozen=True)
class Comparison:
    """The hypothesis "a is higher than b", to be tested twice."""

    hypothesis: str
    a: Group
    b: Group

    @property
    def counted_p(self) -> float:
        return fisher_exact(self.a.extrapolating, self.a.seeds, self.b.extrapolating, self.b.seeds)

    @property
    def graded_p(self) -> float | None:
        return rank_sum_test(self.a.graded, self.b.graded) if self.a.graded and self.b.graded else None


def _significant(direction: float) -> str:
    return "holds" if direction > 0 else "does not hold (the opposite is significant)"


# How a family of comparisons is named in the verdicts: a study's, or those asked together by compare.
STUDY_FAMILY = "the study's"


def _too_few(family: int, whose: str) -> str:
    after = f", after the adjustment for {whose} {family} comparisons" if family > 1 else ""
    return f"undecided at this many seeds (too few for the test to reach 5% whatever they show{after})"


NOT_SIGNIFICANT = "undecided at this many seeds (a difference in the expected direction, not significant)"


def counted_verdict(c: Comparison, p: float, family: int = 1, whose: str = STUDY_FAMILY) -> str:
    """Plain words for the share of seeds that extrapolate. p is Fisher's, Holm-adjusted over the
    study's family of comparisons; the margin is read from an interval widened for the family
    (Bonferroni), so that "does not hold" too keeps its 5% meaning."""
    (ka, na), (kb, nb) = (c.a.extrapolating, c.a.seeds), (c.b.extrapolating, c.b.seeds)
    if p < ALPHA:
        return _significant(ka / na - kb / nb)
    level = 1 - ALPHA / family
    high = difference_interval(ka, na, kb, nb, level)[1]
    if high < MARGIN:
        neither = "; neither group extrapolates" if ka == kb == 0 else ""
        return (
            f"does not hold as a gain of {100 * MARGIN:.0f} points or more (the {100 * level:.3g}% interval "
            f"of the difference reaches {100 * high:+.0f}{neither})"
        )
    # The smallest p-value these sizes allow: all of one group against none of the other; Holm
    # multiplies the smallest of a family by its size.
    if family * fisher_exact(na, na, 0, nb) >= ALPHA:
        return _too_few(family, whose)
    if ka / na <= kb / nb:
        return (
            f"undecided at this many seeds (no difference in the expected direction so far; ruling out a "
            f"{100 * MARGIN:.0f}-point gain needs more seeds: the interval reaches {100 * high:+.0f})"
        )
    return NOT_SIGNIFICANT


def graded_verdict(c: Comparison, p: float, family: int = 1, whose: str = STUDY_FAMILY) -> str:
    """Plain words for the graded held-out accuracy; p is the rank-sum test's, Holm-adjusted. It
    says "holds" or its opposite, or undecided: a rank test has no margin to rule a gain out with."""
    a, b = c.a.graded, c.b.graded
    delta = cliffs_delta(a, b)
    if p < ALPHA:
        return _significant(delta)
    if family * rank_sum_floor(len(a), len(b)) >= ALPHA:
        return _too_few(family, whose)
    if delta <= 0:
        return "undecided at this many seeds (no difference in the expected direction so far)"
    return NOT_SIGNIFICANT


def _adjusted(raw: float, adjusted: float, family: int, whose: str) -> str:
    if family == 1:
        return f"p = {raw:.3g}"
    return f"p = {raw:.3g} (Holm-adjusted over {whose} {family} comparisons: {adjusted:.3g})"


def verdict_lines(comparisons: Sequence[Comparison], whose: str = STUDY_FAMILY) -> list[str]:
    """Each comparison of one study as a bullet with its two verdicts. The p-values are adjusted
    within the study (Holm), one family per test, so that "holds" keeps its 5% meaning however
    many comparisons the study makes. whose names the family in the text ("the study's", or e.g.
    "these" for comparisons asked together)."""
    counted_p = [c.counted_p for c in comparisons]
    graded_p = [c.graded_p for c in comparisons]  # each test computed once
    counted = holm(counted_p)
    with_graded = [i for i, p in enumerate(graded_p) if p is not None]
    graded = dict(zip(with_graded, holm([graded_p[i] for i in with_graded])))
    lines = []
    for i, c in enumerate(comparisons):
        (ka, na), (kb, nb) = (c.a.extrapolating, c.a.seeds), (c.b.extrapolating, c.b.seeds)
        low, high = difference_interval(ka, na, kb, nb)
        verdict = counted_verdict(c, counted[i], len(comparisons), whose)
        lines += [
            f"- {c.hypothesis}:",
            f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: **{verdict}**. {c.a.name} {ka}/{na} vs "
            f"{c.b.name} {kb}/{nb} (difference {100 * (ka / na - kb / nb):+.0f} points, 95% interval "
            f"{100 * low:+.0f} to {100 * high:+.0f}); Fisher's exact test, two-sided "
            f"{_adjusted(counted_p[i], counted[i], len(comparisons), whose)}.",
        ]
        if i in graded:
            a, b = c.a.graded, c.b.graded
            verdict = graded_verdict(c, graded[i], len(with_graded), whose)
            mean_a, mean_b = (100 * sum(g) / len(g) for g in (a, b))
            lines.append(
                f"  - {GRADED_NAME}: **{verdict}**. {c.a.name} mean {mean_a:.1f}% (n={len(a)}) vs {c.b.name} "
                f"{mean_b:.1f}% (n={len(b)}); exact rank-sum (Mann-Whitney) test, two-sided "
                f"{_adjusted(graded_p[i], graded[i], len(with_graded), whose)}; Cliff's delta {cliffs_delta(a, b):+.2f}."
            )
    return lines
