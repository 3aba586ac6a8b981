"""Hypotheses tested twice and said in plain words: on the share of seeds that extrapolate (the
verdict of record) and on the graded held-out accuracy. "Group a is higher than group b" uses
Fisher's exact test and the exact rank-sum test; "extrapolation falls as the configurations grow"
uses Spearman's rank correlation with a permutation test. p-values are Holm-adjusted within a study."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Protocol, Sequence

from ..metrics import STABLE_EVALUATIONS
from .markdown import pct
from .stats import (
    RankCorrelation, cliffs_delta, difference_interval, estimate, fisher_exact, holm, holm_reachable, pair_balance, rank_sum_floor,
    rank_sum_test,
    spearman_floor, spearman_test, stratified_fisher, stratified_floor, stratified_rank_sum,
)
from .study_measures import STRENGTH_NAMES, VERDICT_STRENGTH, MeasuredCell

ALPHA = 0.05
# "Does not hold" is said when the interval of the difference in the share of seeds that
# extrapolate (95%, widened for the study's comparisons) rules out a gain of this much: a third
# of the way from none to all. Smaller gains stay possible, and the verdict says how large.
MARGIN = 0.30
GRADED_NAME = f"held-out accuracy over the last {STABLE_EVALUATIONS} evaluations"

# What a verdict concludes, for tables and scripts (its words say why).
HOLDS, OPPOSITE, NO_GAIN, UNDECIDED = "holds", "opposite", "does not hold", "undecided"
# The two readings of a hypothesis: the share of seeds that extrapolate, the graded accuracy.
COUNTED, GRADED = "counted", "graded"


@dataclass(frozen=True)
class Conclusion:
    """What a test's outcome concludes (HOLDS, OPPOSITE, NO_GAIN or UNDECIDED) and, in the
    report's words, why."""

    outcome: str
    words: str

    def __post_init__(self) -> None:
        if self.outcome not in (HOLDS, OPPOSITE, NO_GAIN, UNDECIDED):
            raise ValueError(f"a verdict without a known conclusion: {self.outcome!r} ({self.words!r})")


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
class Adjusted:
    """A test's p-value and what Holm's adjustment over its family made of it."""

    raw: float
    adjusted: float
    family: int
    # Whether any outcome of these seeds could pass Holm's procedure in this family (holm_reachable).
    reachable: bool = True

    def text(self, whose: str) -> str:
        if self.family == 1:
            return f"p = {self.raw:.3g}"
        return f"p = {self.raw:.3g} (Holm-adjusted over {whose} {self.family} hypotheses: {self.adjusted:.3g})"


@dataclass(frozen=True)
class Comparison:
    """The hypothesis "a is higher than b", to be tested twice."""

    hypothesis: str
    a: Group
    b: Group
    key: str = ""  # a short name that stays as runs come in, e.g. "n28: whole lines>paper" (default: hypothesis)

    @property
    def counted_p(self) -> float:
        return fisher_exact(self.a.extrapolating, self.a.seeds, self.b.extrapolating, self.b.seeds)

    @property
    def graded_p(self) -> float | None:
        return rank_sum_test(self.a.graded, self.b.graded) if self.a.graded and self.b.graded else None

    @property
    def counted_floor(self) -> float:
        """The smallest p these group sizes allow: all of one group against none of the other."""
        return fisher_exact(self.a.seeds, self.a.seeds, 0, self.b.seeds)

    @property
    def graded_floor(self) -> float:
        return rank_sum_floor(len(self.a.graded), len(self.b.graded))

    def conclude_counted(self, counted: Adjusted, whose: str) -> Conclusion:
        return counted_verdict(self, counted, whose)

    def conclude_graded(self, graded: Adjusted, whose: str) -> Conclusion:
        return graded_verdict(self, graded, whose)

    def lines(self, counted: Verdict, graded: Verdict | None, whose: str) -> list[str]:
        """The hypothesis as a bullet with its two verdicts."""
        (ka, na), (kb, nb) = (self.a.extrapolating, self.a.seeds), (self.b.extrapolating, self.b.seeds)
        low, high = difference_interval(ka, na, kb, nb)
        lines = [
            f"- {self.hypothesis}:",
            f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: **{counted.words}**. {self.a.name} {ka}/{na} vs "
            f"{self.b.name} {kb}/{nb} (difference {100 * (ka / na - kb / nb):+.0f} points, 95% interval "
            f"{100 * low:+.0f} to {100 * high:+.0f}); Fisher's exact test, two-sided {counted.p.text(whose)}.",
        ]
        if graded is not None:
            a, b = self.a.graded, self.b.graded
            lines.append(
                f"  - {GRADED_NAME}: **{graded.words}**. {self.a.name} mean {_mean(a)} (n={len(a)}) vs {self.b.name} "
                f"{_mean(b)} (n={len(b)}); exact rank-sum (Mann-Whitney) test, two-sided {graded.p.text(whose)}; "
                f"Cliff's delta {cliffs_delta(a, b):+.2f}."
            )
        return lines


# How the verdicts that conclude neither way, and "does not hold" with a margin, begin.
_UNDECIDED, _NO_GAIN = "undecided at this many seeds", "does not hold as a gain"


def _significant(direction: float) -> Conclusion:
    if direction > 0:
        return Conclusion(HOLDS, "holds")
    return Conclusion(OPPOSITE, "does not hold (the opposite is significant)")


def _undecided(why: str) -> Conclusion:
    return Conclusion(UNDECIDED, f"{_UNDECIDED} ({why})")


# How a family of comparisons is named in the verdicts: a study's, or those asked together by compare.
STUDY_FAMILY = "the study's"


def _too_few(family: int, whose: str) -> Conclusion:
    after = f", after the adjustment for {whose} {family} hypotheses" if family > 1 else ""
    return _undecided(f"too few for the test to reach 5% whatever they show{after}")


def _not_significant(what: str) -> Conclusion:
    return _undecided(f"a {what} in the expected direction, not significant")


# What the graded verdicts read their direction from: the ranks (Cliff's delta), not the means
# printed beside them, which one seed far out can pull the other way.
RANK_DIFFERENCE = "rank difference"


def directional_verdict(direction: float, p: Adjusted, whose: str, what: str = "difference") -> Conclusion:
    """Plain words for a test with no margin to rule an effect out with: "holds" (direction > 0
    and p, Holm-adjusted, below 5%), its opposite, or undecided, and why; what names the effect
    ("difference", "fall", RANK_DIFFERENCE)."""
    if p.adjusted < ALPHA:
        return _significant(direction)
    if not p.reachable:
        return _too_few(p.family, whose)
    if math.isnan(direction) or direction <= 0:
        return _undecided(f"no {what} in the expected direction so far")
    return _not_significant(what)


def counted_verdict(c: Comparison, p: Adjusted, whose: str = STUDY_FAMILY) -> Conclusion:
    """Plain words for the share of seeds that extrapolate. p is Fisher's, Holm-adjusted over the
    study's family of comparisons; the margin is read from an interval widened for the family
    (Bonferroni), so that "does not hold" too keeps its 5% meaning."""
    (ka, na), (kb, nb) = (c.a.extrapolating, c.a.seeds), (c.b.extrapolating, c.b.seeds)
    family = p.family
    if p.adjusted < ALPHA:
        return _significant(ka / na - kb / nb)
    level = 1 - ALPHA / family
    high = difference_interval(ka, na, kb, nb, level)[1]
    if high < MARGIN:
        neither = "; neither group extrapolates" if ka == kb == 0 else ""
        return Conclusion(NO_GAIN, (
            f"{_NO_GAIN} of {100 * MARGIN:.0f} points or more (the {100 * level:.3g}% interval "
            f"of the difference reaches {100 * high:+.0f}{neither})"
        ))
    if not p.reachable:
        return _too_few(family, whose)
    if ka / na <= kb / nb:
        return _undecided(
            f"no difference in the expected direction so far; ruling out a {100 * MARGIN:.0f}-point gain needs "
            f"more seeds: the {100 * level:.3g}% interval reaches {100 * high:+.0f}"
        )
    return _not_significant("difference")


def graded_verdict(c: Comparison, p: Adjusted, whose: str = STUDY_FAMILY) -> Conclusion:
    """Plain words for the graded held-out accuracy; p is the rank-sum test's, Holm-adjusted. It
    says "holds" or its opposite, or undecided: a rank test has no margin to rule a gain out with."""
    return directional_verdict(cliffs_delta(c.a.graded, c.b.graded), p, whose, RANK_DIFFERENCE)


class Hypothesis(Protocol):
    """What judge needs of a hypothesis: its two p-values and, once they are adjusted, its
    conclusions; and what verdict_lines needs: its bullet, given its verdicts."""

    @property
    def hypothesis(self) -> str: ...  # in words; they may change as runs come in (e.g. "to n56 (7 widths)")

    @property
    def key(self) -> str: ...  # a short name that does not, or "" to use hypothesis

    @property
    def counted_p(self) -> float: ...

    @property
    def graded_p(self) -> float | None: ...

    @property
    def counted_floor(self) -> float: ...  # the smallest counted_p these seeds' numbers allow

    @property
    def graded_floor(self) -> float: ...  # the same for graded_p, where it exists

    def conclude_counted(self, counted: Adjusted, whose: str) -> Conclusion: ...

    def conclude_graded(self, graded: Adjusted, whose: str) -> Conclusion: ...  # only where graded_p exists

    def lines(self, counted: Verdict, graded: Verdict | None, whose: str) -> list[str]: ...


@dataclass(frozen=True)
class Trend:
    """The hypothesis "extrapolation falls as x grows", over the seeds of several configurations
    (e.g. widths), each at its x: Spearman's rank correlation of x with each seed's outcome, so
    that every configuration's seeds count, not only two configurations'."""

    hypothesis: str
    axis: str  # what x is, e.g. "width"
    points: tuple[tuple[float, Group], ...]  # (x, the configuration's seeds), in x's order
    key: str = ""

    @cached_property
    def counted(self) -> RankCorrelation:
        x = [x for x, g in self.points for _ in range(g.seeds)]
        y = [1.0 if i < g.extrapolating else 0.0 for _, g in self.points for i in range(g.seeds)]
        return spearman_test(x, y)  # a 0/1 outcome: exact

    @cached_property
    def graded(self) -> RankCorrelation | None:
        x = [x for x, g in self.points for _ in g.graded]
        y = [v for _, g in self.points for v in g.graded]
        return spearman_test(x, y) if len({x_ for x_, g in self.points if g.graded}) > 1 else None

    @property
    def counted_p(self) -> float:
        return self.counted.p

    @property
    def graded_p(self) -> float | None:
        return None if self.graded is None else self.graded.p

    @property
    def counted_floor(self) -> float:
        return spearman_floor([g.seeds for _, g in self.points], binary=True)

    @property
    def graded_floor(self) -> float:
        sizes = [len(g.graded) for _, g in self.points if g.graded]
        return spearman_floor(sizes, binary=False, permutations=None if self.graded is None else self.graded.permutations)

    def conclude_counted(self, counted: Adjusted, whose: str) -> Conclusion:
        return trend_verdict(self.counted, counted, whose)

    def conclude_graded(self, graded: Adjusted, whose: str) -> Conclusion:
        assert self.graded is not None, "no graded trend: graded_p is None"
        return trend_verdict(self.graded, graded, whose)

    def lines(self, counted: Verdict, graded: Verdict | None, whose: str) -> list[str]:
        """The hypothesis as a bullet with its two verdicts."""
        counts = ", ".join(f"{g.name} {g.extrapolating}/{g.seeds}" for _, g in self.points)
        sizes = [g.seeds for _, g in self.points]
        lines = [
            f"- {self.hypothesis}:",
            f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: **{counted.words}**. "
            f"{counts}; Spearman's rho of {self.axis} and extrapolating {_rho(self.counted)} over {sum(sizes)} seeds; "
            f"{_method(self.counted)}, two-sided {counted.p.text(whose)}.",
        ]
        if graded is not None and self.graded is not None:
            means = ", ".join(
                f"{g.name} {_mean(g.graded)}" for _, g in self.points if g.graded
            )
            sizes = [len(g.graded) for _, g in self.points if g.graded]
            lines.append(
                f"  - {GRADED_NAME}: **{graded.words}**. Means {means}; "
                f"Spearman's rho of {self.axis} and accuracy {_rho(self.graded)} over {sum(sizes)} seeds; "
                f"{_method(self.graded)}, two-sided {graded.p.text(whose)}."
            )
        return lines


@dataclass(frozen=True)
class Pooled:
    """The hypothesis "a is higher than b" asked of several strata at once (e.g. held-out sets),
    each stratum's seeds compared only within it: exact stratified tests, so that every stratum's
    seeds count while a stratum easier for both groups cannot pass for a difference."""

    hypothesis: str
    stratum: str  # what a stratum is, e.g. "held-out set"
    strata: tuple[tuple[str, Group, Group], ...]  # (label, a, b)
    key: str = ""

    @property
    def counted_p(self) -> float:
        return stratified_fisher([(a.extrapolating, a.seeds, b.extrapolating, b.seeds) for _, a, b in self.strata])

    @property
    def graded_p(self) -> float | None:
        strata = [(a.graded, b.graded) for _, a, b in self.strata if a.graded and b.graded]
        return stratified_rank_sum(strata) if strata else None

    @property
    def counted_floor(self) -> float:
        return stratified_floor([(a.seeds, b.seeds) for _, a, b in self.strata])

    @property
    def graded_floor(self) -> float:
        return stratified_floor([(len(a.graded), len(b.graded)) for _, a, b in self.strata if a.graded and b.graded])

    @property
    def _graded_strata(self) -> list[tuple[str, Group, Group]]:
        return [(label, a, b) for label, a, b in self.strata if a.graded and b.graded]

    def conclude_counted(self, counted: Adjusted, whose: str) -> Conclusion:
        # Observed against expected within each stratum, given its margins: the test's direction,
        # exact (a float could read 0 as a hair above it).
        direction = sum(
            Fraction(a.extrapolating * (a.seeds + b.seeds) - a.seeds * (a.extrapolating + b.extrapolating), a.seeds + b.seeds)
            for _, a, b in self.strata
        )
        return directional_verdict(direction, counted, whose)

    def conclude_graded(self, graded: Adjusted, whose: str) -> Conclusion:
        # Pairs a above b minus pairs below, within each stratum: the sign of the rank sums' excess.
        balance = sum(pair_balance(a.graded, b.graded) for _, a, b in self._graded_strata)
        return directional_verdict(balance, graded, whose, RANK_DIFFERENCE)

    def lines(self, counted: Verdict, graded: Verdict | None, whose: str) -> list[str]:
        """The hypothesis as a bullet with its two verdicts."""
        a_name, b_name = self.strata[0][1].name, self.strata[0][2].name
        ka, na = sum(a.extrapolating for _, a, _ in self.strata), sum(a.seeds for _, a, _ in self.strata)
        kb, nb = sum(b.extrapolating for _, _, b in self.strata), sum(b.seeds for _, _, b in self.strata)
        each = "; ".join(f"{label} {a.extrapolating}/{a.seeds} vs {b.extrapolating}/{b.seeds}" for label, a, b in self.strata)
        lines = [
            f"- {self.hypothesis}:",
            f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: "
            f"**{counted.words}**. {a_name} {ka}/{na} vs "
            f"{b_name} {kb}/{nb} over {len(self.strata)} {self.stratum}s ({each}); exact test stratified by {self.stratum} "
            f"(given each one's margins, as Mantel-Haenszel's exact test), two-sided {counted.p.text(whose)}.",
        ]
        strata = self._graded_strata
        if graded is not None and strata:
            # Means per stratum: pooled over strata they could point the other way from the test.
            each = "; ".join(
                f"{label} {_mean(a.graded)} vs {_mean(b.graded)}"
                for label, a, b in strata
            )
            lines.append(
                f"  - {GRADED_NAME}: **{graded.words}**. "
                f"{a_name} against {b_name} over {len(strata)} {self.stratum}s, mean held-out accuracy ({each}); exact "
                f"rank-sum test stratified by {self.stratum} (ranks within each, added), two-sided {graded.p.text(whose)}."
            )
        return lines


def _mean(values: Sequence[float]) -> str:
    """The seeds' mean accuracy in percent, computed as the report's tables compute it (so that
    a mean at a rounding boundary reads the same in both)."""
    mean = estimate(values)
    assert mean is not None, "a mean of no seeds"
    return pct(mean.mean)


def _rho(r: RankCorrelation) -> str:
    return "undefined (every seed alike)" if math.isnan(r.rho) else f"{r.rho:+.2f}"


def _method(r: RankCorrelation) -> str:
    if r.permutations is None:
        return "exact permutation test"
    # p = (1 + hits) / (1 + orderings). With no hits that is the estimate's floor, not a bound
    # on the exact p: 3 / orderings bounds it with 95% confidence (the rule of three).
    floor = (
        f"; none came as far as observed, so the exact p is below {3 / r.permutations:.1g} with 95% confidence"
        if r.hits == 0 else ""
    )
    return f"permutation test ({r.permutations:,} random orderings, fixed seed{floor})"


def trend_verdict(r: RankCorrelation, p: Adjusted, whose: str = STUDY_FAMILY) -> Conclusion:
    """Plain words for "falls as x grows" (a negative rank correlation), from the Holm-adjusted p."""
    return directional_verdict(-r.rho, p, whose, "fall")


def holm_family(hypotheses: Sequence[Hypothesis]) -> list[tuple[Adjusted, Adjusted | None]]:
    """Each hypothesis's two p-values, Holm-adjusted within the family, one family per test (the
    graded one over the hypotheses that have graded values), so that "holds" keeps its 5% meaning
    however many hypotheses a study tests."""
    counted_p = [h.counted_p for h in hypotheses]
    graded_p = [h.graded_p for h in hypotheses]  # each test computed once
    counted = holm(counted_p)
    with_graded = [i for i, p in enumerate(graded_p) if p is not None]
    graded = dict(zip(with_graded, holm([graded_p[i] for i in with_graded])))
    counted_reachable = holm_reachable([h.counted_floor for h in hypotheses], ALPHA)
    graded_reachable = dict(zip(with_graded, holm_reachable([hypotheses[i].graded_floor for i in with_graded], ALPHA)))
    return [
        (
            Adjusted(counted_p[i], counted[i], len(hypotheses), counted_reachable[i]),
            Adjusted(graded_p[i], graded[i], len(with_graded), graded_reachable[i]) if i in graded else None,
        )
        for i in range(len(hypotheses))
    ]


@dataclass(frozen=True)
class Verdict:
    """One reading of one hypothesis: what it concludes, in a word and in the report's words."""

    key: str  # the hypothesis's short name, the same from one report to the next
    hypothesis: str
    reading: str  # COUNTED (the share of seeds that extrapolate stably) or GRADED
    outcome: str  # HOLDS, OPPOSITE, NO_GAIN or UNDECIDED
    words: str
    p: Adjusted
    # Read before every configuration of its family had its planned seeds (interim_note); None
    # where no plan was given (compare without planned).
    interim: bool | None


@dataclass(frozen=True)
class Judged:
    """A hypothesis with its verdicts: counted, and graded where it has graded values."""

    tested: Hypothesis
    counted: Verdict
    graded: Verdict | None
    whose: str  # how the words name the family: "the study's", or e.g. "these" (compare)

    @property
    def verdicts(self) -> list[Verdict]:
        return [self.counted] + ([self.graded] if self.graded is not None else [])

    def lines(self) -> list[str]:
        """The hypothesis as a bullet with its two verdicts."""
        return self.tested.lines(self.counted, self.graded, self.whose)


def _verdict(h: Hypothesis, reading: str, c: Conclusion, p: Adjusted, interim: bool | None) -> Verdict:
    return Verdict(h.key or h.hypothesis, h.hypothesis, reading, c.outcome, c.words, p, interim)


def judge(hypotheses: Sequence[Hypothesis], *, interim: bool | None, whose: str = STUDY_FAMILY) -> list[Judged]:
    """Each hypothesis of one family (a study's) with its verdicts, Holm-adjusted within the
    family. interim says whether they were read before the planned seeds were in (None: no plan
    was given); whose names the family in the words ("the study's", or e.g. "these" for
    comparisons asked together)."""
    out = []
    for h, (counted_p, graded_p) in zip(hypotheses, holm_family(hypotheses)):
        counted = _verdict(h, COUNTED, h.conclude_counted(counted_p, whose), counted_p, interim)
        graded = None if graded_p is None else _verdict(h, GRADED, h.conclude_graded(graded_p, whose), graded_p, interim)
        out.append(Judged(h, counted, graded, whose))
    return out


def verdict_lines(judged: Sequence[Judged]) -> list[str]:
    """Each judged hypothesis of one family as a bullet with its two verdicts."""
    return [line for j in judged for line in j.lines()]


def verdict_records(judged: Sequence[Judged]) -> list[Verdict]:
    """The family's verdicts, one per hypothesis and reading, each counted one before its graded."""
    return [v for j in judged for v in j.verdicts]


@dataclass(frozen=True)
class Shortfall:
    """A configuration a family of hypotheses rests on, with fewer complete seeds than planned."""

    name: str
    seeds: int
    planned: int


def interim_note(short: Sequence[Shortfall], hypotheses: int, whose: str = STUDY_FAMILY) -> str | None:
    """Why verdicts read before every configuration has its planned seeds are not the last word;
    None when none is short. It speaks for the whole family: Holm's adjustment ties each verdict
    to the others' p-values, so a configuration's next seed can move any of them."""
    if not short:
        return None
    each = "; ".join(f"{s.name} {s.seeds}/{s.planned}" for s in short)
    tied = f"; Holm's adjustment ties {whose} {hypotheses} hypotheses together" if hypotheses > 1 else ""
    return (
        f"Interim (complete seeds of those planned: {each}): every verdict below, 'holds' included, can still "
        f"change as those seeds come in{tied}."
    )
