"""Verdicts in plain words: both tests, their floors, the margin, Holm's adjustment and the
wording of each outcome."""

from __future__ import annotations

import pytest

from toobig.reporting.markdown import format_estimate
from toobig.reporting.stats import estimate
from toobig.reporting.verdicts import (
    GRADED, HOLDS, NO_GAIN, OPPOSITE, UNDECIDED, Comparison, Conclusion, Group, Pooled, Shortfall, Trend, interim_note, judge,
    verdict_lines, verdict_records,
)


def _lines(hypotheses) -> list[str]:
    """One family's bullets, read as a study's."""
    return verdict_lines(judge(hypotheses, interim=None))


def _groups(ka: int, na: int, kb: int, nb: int, graded: bool = False) -> tuple[Group, Group]:
    def one(name: str, k: int, n: int) -> Group:
        return Group(name, k, n, tuple(1.0 if i < k else 0.0 for i in range(n)) if graded else ())
    return one("a", ka, na), one("b", kb, nb)


def comparison(ka: int, na: int, kb: int, nb: int, graded: bool = False) -> str:
    """One comparison tested alone (a family of one: Holm changes nothing)."""
    return "\n".join(_lines([Comparison("h", *_groups(ka, na, kb, nb, graded))]))


def test_verdict_words():
    assert "**holds**" in comparison(5, 5, 0, 5)
    assert "opposite is significant" in comparison(0, 5, 5, 5)
    assert "undecided at this many seeds (a difference" in comparison(2, 5, 0, 5)
    assert "too few for the test" in comparison(1, 1, 0, 1)
    # "Does not hold" only where the interval of the difference rules out a 30-point gain:
    # 0/10 vs 0/10 reaches +28 (Newcombe), 0/5 vs 0/10 still +43.
    assert (
        "**does not hold as a gain of 30 points or more (the 95% interval of the difference reaches +28; "
        "neither group extrapolates)**"
    ) in comparison(0, 10, 0, 10)
    assert (
        "undecided at this many seeds (no difference in the expected direction so far; ruling out a 30-point gain "
        "needs more seeds: the 95% interval reaches +43)"
    ) in comparison(0, 5, 0, 10)
    assert "**does not hold as a gain of 30 points or more (the 95% interval of the difference reaches +11)**" in comparison(1, 40, 1, 40)
    # A gain observed but bounded: what is ruled out is a gain of 30 points, and the line says +10.
    line = comparison(4, 40, 0, 40)
    assert "**does not hold as a gain of 30 points or more" in line and "(difference +10 points" in line
    # The margin is read before "too few": 0/3 against 3/3 already rules the gain out.
    assert "**does not hold as a gain of 30 points or more (the 95% interval of the difference reaches -21)**" in comparison(0, 3, 3, 3)
    assert "a 5/5 vs b 0/5 (difference +100 points, 95% interval +39 to +100)" in comparison(5, 5, 0, 5)
    # Without graded values (no held-out samples) the comparison has the counted line only.
    assert len(comparison(5, 5, 0, 5).splitlines()) == 2
    assert len(comparison(5, 5, 0, 5, graded=True).splitlines()) == 3


def test_p_values_are_holm_adjusted_within_the_study():
    # Three comparisons: raw p 0.0079, 0.0476, 0.0476; Holm: 3 x 0.0079, then 2 x 0.0476 for both.
    comparisons = [Comparison("h1", *_groups(5, 5, 0, 5)), Comparison("h2", *_groups(4, 5, 0, 5)), Comparison("h3", *_groups(4, 5, 0, 5))]
    lines = _lines(comparisons)
    assert "**holds**" in lines[1] and "p = 0.00794 (Holm-adjusted over the study's 3 hypotheses: 0.0238)" in lines[1]
    for line in (lines[3], lines[5]):  # significant alone, not among three
        assert "a difference in the expected direction, not significant" in line
        assert "p = 0.0476 (Holm-adjusted over the study's 3 hypotheses: 0.0952)" in line
    assert "**holds**" in _lines(comparisons[1:2])[1]
    # Among three, 4 seeds against 4 can never get below 5%: 3 x 0.0286 (all against none).
    lines = _lines([Comparison(f"h{i}", *_groups(4, 4, 0, 4)) for i in range(3)])
    assert "too few for the test to reach 5% whatever they show, after the adjustment for the study's 3 hypotheses" in lines[1]
    # "Does not hold" needs the interval widened for the family: 0/10 vs 0/10 rules out +30 alone
    # (95%: +28), not among three (98.3%: +36).
    lines = _lines([Comparison(f"h{i}", *_groups(0, 10, 0, 10)) for i in range(3)])
    assert "ruling out a 30-point gain needs more seeds: the 98.3% interval reaches +36" in lines[1]


def test_the_graded_reading_tells_apart_what_the_count_cannot():
    # Ten seeds near 90% against ten at 0%: none extrapolates stably, so the count rules out a
    # gain of 30 points; the rank-sum test sees every a above every b: p = 2 / C(20, 10).
    a = Group("a", 0, 10, (0.9, 0.95, 0.875, 0.9, 0.85) * 2)
    b = Group("b", 0, 10, (0.0, 0.05, 0.0, 0.0, 0.1) * 2)
    counted, graded = _lines([Comparison("h", a, b)])[1:]
    assert "**does not hold as a gain of 30 points or more" in counted
    assert "**holds**" in graded and "p = 1.08e-05" in graded and "Cliff's delta +1.00" in graded
    assert "a mean 89.5% (n=10) vs b 3.0% (n=10)" in graded

    def graded_line(a: Group, b: Group) -> str:
        return _lines([Comparison("h", a, b)])[2]

    # Two seeds against one can never reach 5% (floor 1/3), whatever they show.
    assert "too few" in graded_line(Group("a", 0, 2, (1.0, 1.0)), Group("b", 0, 1, (0.0,)))
    # Ties take p below the tie-free floor 2 / C(7, 2) = 0.095.
    line = graded_line(Group("a", 2, 2, (1.0, 1.0)), Group("b", 0, 5, (0.0,) * 5))
    assert "**holds**" in line and "p = 0.0476" in line
    # The other direction, over fewer seeds than the count (a run without held-out samples has
    # no graded value); and no "does not hold" from a rank test, which has no margin.
    line = graded_line(Group("a", 0, 6, (0.0,) * 5), Group("b", 0, 5, (0.9, 0.8, 0.85, 0.7, 0.95)))
    assert "opposite is significant" in line and "a mean 0.0% (n=5) vs b 84.0% (n=5)" in line
    line = graded_line(Group("a", 0, 10, (0.0,) * 10), Group("b", 0, 10, (0.0,) * 10))
    assert "**undecided at this many seeds (no rank difference in the expected direction so far)**" in line
    # The direction is the ranks', named as such where the means point the other way: most of a's
    # seeds above most of b's, while one seed of b far out lifts b's mean above a's.
    line = graded_line(Group("a", 0, 5, (0.1, 0.1, 0.1, 0.0, 0.0)), Group("b", 0, 5, (0.0, 0.0, 0.0, 0.0, 1.0)))
    assert "a mean 6.0% (n=5) vs b 20.0% (n=5)" in line and "Cliff's delta +0.28" in line
    assert "**undecided at this many seeds (a rank difference in the expected direction, not significant)**" in line


def _trend(*widths: tuple[int, int, int, tuple[float, ...]]) -> Trend:
    """(width, extrapolating, seeds, graded values) per width."""
    return Trend("h", "width", tuple((w, Group(f"n{w}", k, n, graded)) for w, k, n, graded in widths))


def test_a_trend_over_widths_in_plain_words():
    # Five of five at n14, none of five at n28 or n56: 2 of C(15, 5) subsets of the seeds lie as
    # far from the expected rank sum (all at n14, or all at n56).
    lines = _lines([_trend((14, 5, 5, (1.0,) * 5), (28, 0, 5, (0.0,) * 5), (56, 0, 5, (0.0,) * 5))])
    assert lines[0] == "- h:" and "**holds**" in lines[1] and f"p = {2 / 3003:.3g}." in lines[1]
    assert "n14 5/5, n28 0/5, n56 0/5; Spearman's rho of width and extrapolating -0.87 over 15 seeds" in lines[1]
    assert "**holds**" in lines[2] and "Means n14 100.0%, n28 0.0%, n56 0.0%" in lines[2]
    # The other way round is significant too, and says so.
    lines = _lines([_trend((14, 0, 5, ()), (28, 0, 5, ()), (56, 5, 5, ()))])
    assert "**does not hold (the opposite is significant)**" in lines[1] and "rho of width and extrapolating +0.87" in lines[1]
    assert len(lines) == 2  # no graded values, no graded line
    # A fall too small for the seeds; no seed extrapolating at all; a rise.
    line = _lines([_trend((14, 2, 5, ()), (28, 1, 5, ()), (56, 0, 5, ()))])[1]
    assert "**undecided at this many seeds (a fall in the expected direction, not significant)**" in line
    line = _lines([_trend((14, 0, 5, ()), (28, 0, 5, ()), (56, 0, 5, ()))])[1]
    assert "**undecided at this many seeds (no fall in the expected direction so far)**" in line
    assert "rho of width and extrapolating undefined (every seed alike)" in line and "p = 1." in line
    line = _lines([_trend((14, 0, 5, ()), (28, 1, 5, ()), (56, 1, 5, ()))])[1]
    assert "no fall in the expected direction so far" in line
    # Graded values of one width alone cannot show a trend: the counted line only.
    assert len(_lines([_trend((14, 5, 5, (1.0,) * 5), (28, 0, 5, ()), (56, 0, 5, ()))])) == 2


def test_a_graded_trend_is_estimated_from_random_orderings_and_says_so():
    # Distinct accuracies falling with width over 30 seeds: no random ordering of 100,000 comes
    # as far, so p is the floor 1 / 100,001, and the line says that is what it is.
    widths = [(w, 0, 10, tuple(0.9 - 0.3 * i - 0.01 * j for j in range(10))) for i, w in enumerate((14, 28, 56))]
    graded = _lines([_trend(*widths)])[2]
    assert "**holds**" in graded and "rho of width and accuracy -0.94 over 30 seeds" in graded
    assert (
        "permutation test (100,000 random orderings, fixed seed; none came as far as observed, "
        "so the exact p is below 3e-05 with 95% confidence)"  # the rule of three: 3 / 100,000
    ) in graded
    assert "p = 1e-05" in graded
    # Values that do not order the widths: the estimate, without the floor's words.
    widths = [(w, 0, 4, (0.5 + 0.1 * i, 0.2, 0.7, 0.4 - 0.1 * i)) for i, w in enumerate((14, 28, 56))]
    graded = _lines([_trend(*widths)])[2]
    assert "permutation test (100,000 random orderings, fixed seed)" in graded and "undecided" in graded


def test_trends_and_comparisons_share_one_family():
    # Raw p 0.00794 (the comparison) and 2/3003 (the trend): Holm doubles the smaller and takes
    # the larger once, as the second of two.
    a, b = _groups(5, 5, 0, 5)
    lines = _lines([Comparison("c", a, b), _trend((14, 5, 5, ()), (28, 0, 5, ()), (56, 0, 5, ()))])
    assert "p = 0.00794 (Holm-adjusted over the study's 2 hypotheses: 0.00794)" in lines[1]
    assert f"p = {2 / 3003:.3g} (Holm-adjusted over the study's 2 hypotheses: {4 / 3003:.3g})" in lines[3]


def test_a_trend_is_read_from_its_adjusted_p_and_its_floor():
    # Alone, 4 of 4 seeds at the two narrowest widths against none of 5 wider: exact p = 0.0238
    # (scipy, as in test_stats), a fall. Among three hypotheses Holm triples it: not significant.
    trend = _trend((14, 3, 3, (1.0, 1.0, 1.0)), (16, 1, 2, (1.0, 0.5)), (28, 0, 3, (0.0, 0.0, 0.25)), (56, 0, 1, (0.0,)))
    assert "**holds**" in _lines([trend])[1] and "p = 0.0238." in _lines([trend])[1]
    nothing = Comparison("c", *_groups(0, 5, 0, 5))  # p = 1, and no graded values
    lines = _lines([nothing, nothing, trend])
    counted, graded = lines[-2:]
    assert "**undecided at this many seeds (a fall in the expected direction, not significant)**" in counted
    assert "p = 0.0238 (Holm-adjusted over the study's 3 hypotheses: 0.0714)" in counted
    # The graded family is the trend alone: the comparisons without graded values are not in it.
    assert "Holm" not in graded and "**holds**" in graded
    # One seed per width: no outcome of three seeds reaches 5% (at best 1 in C(3, 1)).
    line = _lines([_trend((14, 1, 1, ()), (28, 0, 1, ()), (56, 0, 1, ()))])[1]
    assert "too few for the test to reach 5% whatever they show" in line


def _pooled(*strata: tuple[int, int, int, int], graded: bool = False) -> Pooled:
    """(ka, na, kb, nb) per held-out set."""
    return Pooled("h", "held-out set", tuple((f"s{i}", *_groups(*stratum, graded)) for i, stratum in enumerate(strata)))


def test_held_out_sets_pooled_in_plain_words():
    # Three sets of 2/2 against 0/2: in each, 2 of 2 has probability 1/6 given the margins, so
    # 6 of 6 has 1/216, and 0 of 6 as well: p = 2/216.
    lines = _lines([_pooled((2, 2, 0, 2), (2, 2, 0, 2), (2, 2, 0, 2), graded=True)])
    assert lines[0] == "- h:" and "**holds**" in lines[1] and f"p = {2 / 216:.3g}." in lines[1]
    assert "a 6/6 vs b 0/6 over 3 held-out sets (s0 2/2 vs 0/2; s1 2/2 vs 0/2; s2 2/2 vs 0/2)" in lines[1]
    assert "**holds**" in lines[2] and "stratified by held-out set" in lines[2]
    assert "a against b over 3 held-out sets, mean held-out accuracy (s0 100.0% vs 0.0%; s1 100.0% vs 0.0%; s2 100.0% vs 0.0%)" in lines[2]
    assert "**does not hold (the opposite is significant)**" in _lines([_pooled(*[(0, 2, 2, 2)] * 3)])[1]
    # A set that is easy for both and one hard for both: nothing differs within either.
    line = _lines([_pooled((4, 4, 1, 1), (0, 1, 0, 4))])[1]
    assert "**undecided at this many seeds (no difference in the expected direction so far)**" in line and "p = 1." in line
    # One seed against one in two sets: at best 1/2 x 1/2, never 5%.
    assert "too few for the test to reach 5% whatever they show" in _lines([_pooled((1, 1, 0, 1), (1, 1, 0, 1))])[1]
    # Without graded values, the counted line only.
    assert len(_lines([_pooled((2, 2, 0, 2), (2, 2, 0, 2))])) == 2
    # Observed exactly as expected within every set: no difference, however it would round.
    line = _lines([_pooled((1, 2, 0, 1), (0, 1, 1, 2), (2, 4, 2, 4), (2, 4, 2, 4))])[1]
    assert "no difference in the expected direction so far" in line


def test_pooled_graded_reading_compares_within_sets_only():
    def pooled(*strata):
        return Pooled("h", "held-out set", tuple(
            (f"s{i}", Group("a", 0, len(a), a), Group("b", 0, len(b), b)) for i, (a, b) in enumerate(strata)
        ))

    # Easy for both, hard for both: a's values are higher overall (it has more seeds in the easy
    # set), but within each set nothing differs.
    line = _lines([pooled(((1.0,) * 4, (1.0,)), ((0.0,), (0.0,) * 4))])[2]
    assert "**undecided at this many seeds (no rank difference in the expected direction so far)**" in line
    assert "(s0 100.0% vs 100.0%; s1 0.0% vs 0.0%)" in line
    # One seed against one in each of two sets: at best 1/2 x 1/2, never 5%.
    line = _lines([pooled(((1.0,), (0.0,)), ((1.0,), (0.0,)))])[2]
    assert "too few for the test to reach 5% whatever they show" in line
    # Equal pair counts above and below within the sets: no direction, exactly.
    line = _lines([pooled(((0.25, 0.25, 0.0, 0.5, 0.0, 0.25, 0.5), (0.25, 0.5, 0.75, 0.0, 0.0)), ((1.0,), (0.0, 0.0)))])[2]
    assert "no rank difference in the expected direction so far" in line


def test_too_few_is_read_from_where_a_hypothesis_could_rank():
    # 2 seeds against 4 (floor 1/15 = 0.067) beside a comparison that can pass first: ranked
    # second, its factor is 1 and 0.067 > 0.05 still; so it is too few. 3 against 4 (floor
    # 1/35 = 0.029) is too few as the first of two (x 2) but not as the second (x 1).
    strong = Comparison("s", *_groups(10, 10, 0, 10))
    assert "too few" in _lines([strong, Comparison("w", *_groups(2, 2, 0, 4))])[3]
    line = _lines([strong, Comparison("w", *_groups(3, 3, 0, 4))])[3]
    assert "too few" not in line and "**holds**" in line and "p = 0.0286 (Holm-adjusted over the study's 2 hypotheses: 0.0286)" in line
    # So 2 of its 3 seeds against none is undecided for want of a difference, not of seeds.
    line = _lines([strong, Comparison("w", *_groups(2, 3, 0, 4))])[3]
    assert "**undecided at this many seeds (a difference in the expected direction, not significant)**" in line



def test_interim_note_names_what_is_short_and_ties_the_family():
    assert interim_note([], 3) is None
    short = [Shortfall("n16", 3, 10), Shortfall("n28, paper", 0, 10)]
    assert interim_note(short, 3) == (
        "Interim (complete seeds of those planned: n16 3/10; n28, paper 0/10): every verdict below, 'holds' included, "
        "can still change as those seeds come in; Holm's adjustment ties the study's 3 hypotheses together."
    )
    # A family of one has no adjustment to tie it; compare names its family "these".
    assert interim_note(short[:1], 1).endswith("can still change as those seeds come in.")
    assert interim_note(short[:1], 2, "these").endswith("Holm's adjustment ties these 2 hypotheses together.")


def test_records_give_each_reading_its_conclusion_and_the_bullets_words():
    # Four comparisons in one family, one per conclusion; a trend without graded values has one reading.
    hypotheses = [
        Comparison("holds", *_groups(10, 10, 0, 10, graded=True)),
        Comparison("opposite", *_groups(0, 10, 10, 10)),
        Comparison("no gain", *_groups(0, 40, 0, 40)),
        Comparison("undecided", *_groups(2, 5, 0, 5)),
        _trend((14, 0, 5, ()), (28, 0, 5, ()), (56, 0, 5, ())),
    ]
    records = verdict_records(judge(hypotheses, interim=False))
    assert [(r.hypothesis, r.reading, r.outcome) for r in records] == [
        ("holds", "counted", HOLDS), ("holds", GRADED, HOLDS), ("opposite", "counted", OPPOSITE),
        ("no gain", "counted", NO_GAIN), ("undecided", "counted", UNDECIDED), (hypotheses[4].hypothesis, "counted", UNDECIDED),
    ]
    # The words and p-values are the bullets': Holm over the 5 counted p-values, the graded alone.
    lines = _lines(hypotheses)
    bullets = [line for line in lines if line.startswith("  - ")]
    assert len(bullets) == len(records)
    for r, bullet in zip(records, bullets):
        assert f"**{r.words}**" in bullet and r.p.text("the study's") in bullet
    assert records[0].key == "holds" and records[5].key == "h"  # no key given: the hypothesis's words
    holds, graded = records[0], records[1]
    assert (holds.p.family, graded.p.family) == (5, 1)
    assert holds.p.raw == pytest.approx(2 / 184756)  # 10/10 against 0/10: 2 of C(20, 10) tables
    assert holds.p.adjusted == pytest.approx(5 * 2 / 184756)
    # Each outcome goes with its words, and a conclusion names one of the four outcomes.
    starts = {HOLDS: "holds", OPPOSITE: "does not hold (the opposite", NO_GAIN: "does not hold as a gain", UNDECIDED: "undecided"}
    assert all(r.words.startswith(starts[r.outcome]) for r in records)
    with pytest.raises(ValueError, match="without a known conclusion"):
        Conclusion("probably", "holds")


def test_graded_means_read_as_the_tables_give_them():
    # n14 on (3,8), seeds 0-4: the mean is 76.65% in exact arithmetic, at a rounding boundary;
    # the verdict's words must give the tables' figure (format_estimate), not one a hair apart.
    values = (0.5, 0.3525, 1.0, 1.0, 0.98)
    table = format_estimate(estimate(values)).split(" ")[0]
    line = _lines([Comparison("h", Group("a", 0, 5, values), Group("b", 0, 5, (0.0,) * 5))])[2]
    assert table == "76.6%" and f"a mean {table} (n=5)" in line
    pooled = _lines([Pooled("p", "set", (("s1", Group("a", 0, 5, values), Group("b", 0, 5, (0.0,) * 5)),) * 2)])
    assert f"s1 {table} vs 0.0%" in pooled[2]
    trend = _lines([_trend((14, 0, 5, values), (28, 0, 5, (0.0,) * 5), (56, 0, 5, (0.0,) * 5))])
    assert f"n14 {table}" in trend[2]
