"""Verdicts in plain words: both tests, their floors and the wording of each outcome."""

from __future__ import annotations

from toobig.reporting.verdicts import Group, comparison


def _groups(ka: int, na: int, kb: int, nb: int, graded: bool = False) -> tuple[Group, Group]:
    def one(name: str, k: int, n: int) -> Group:
        return Group(name, k, n, tuple(1.0 if i < k else 0.0 for i in range(n)) if graded else ())
    return one("a", ka, na), one("b", kb, nb)


def test_verdict_words():
    assert "**holds**" in comparison("h", *_groups(5, 5, 0, 5))
    assert "opposite is significant" in comparison("h", *_groups(0, 5, 5, 5))
    assert "does not hold at 5+ seeds per group (neither group extrapolates)" in comparison("h", *_groups(0, 5, 0, 5))
    assert "does not hold at 5+ seeds per group (no difference in the expected" in comparison("h", *_groups(1, 5, 1, 5))
    assert "undecided at this many seeds (a difference" in comparison("h", *_groups(2, 5, 0, 5))
    assert "too few for the test" in comparison("h", *_groups(1, 1, 0, 1))
    # 2 vs 5 seeds could only reach 5% with all-or-none: no difference yet is not "does not hold".
    assert "undecided at this many seeds (no difference in the expected direction so far" in comparison(
        "h", *_groups(0, 2, 0, 5))
    # Without graded values (no held-out samples) the comparison has the counted line only.
    assert len(comparison("h", *_groups(5, 5, 0, 5)).splitlines()) == 2
    assert len(comparison("h", *_groups(5, 5, 0, 5, graded=True)).splitlines()) == 3


def test_the_graded_reading_tells_apart_what_the_count_cannot():
    # Five seeds near 90% against five at 0%: none extrapolates stably, so the count says "does not
    # hold"; the rank-sum test sees every a above every b: p = 2 / C(10, 5).
    a = Group("a", 0, 5, (0.9, 0.95, 0.875, 0.9, 0.85))
    b = Group("b", 0, 5, (0.0, 0.05, 0.0, 0.0, 0.1))
    counted, graded = comparison("h", a, b).splitlines()[1:]
    assert "**does not hold at 5+ seeds" in counted
    assert "**holds**" in graded and "p = 0.00794" in graded and "Cliff's delta +1.00" in graded
    assert "a mean 89.5% (n=5) vs b 3.0% (n=5)" in graded
    # Two seeds against one can never reach 5% (floor 2/3), whatever they show.
    assert "too few" in comparison("h", Group("a", 0, 2, (1.0, 1.0)), Group("b", 0, 1, (0.0,))).splitlines()[2]
    # Ties can take p below the tie-free floor 2 / C(7, 2): significance is read before the floor.
    graded = comparison("h", Group("a", 2, 2, (1.0, 1.0)), Group("b", 0, 5, (0.0,) * 5)).splitlines()[2]
    assert "**holds**" in graded and "p = 0.0476" in graded
    # The graded reading in the other direction, and over fewer seeds than the count (a run
    # without held-out samples has no graded value).
    graded = comparison("h", Group("a", 0, 6, (0.0,) * 5), Group("b", 0, 5, (0.9, 0.8, 0.85, 0.7, 0.95))).splitlines()[2]
    assert "opposite is significant" in graded and "a mean 0.0% (n=5) vs b 84.0% (n=5)" in graded
