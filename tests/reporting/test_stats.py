"""Intervals and exact tests over seeds, checked against independently computed values."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from toobig.reporting.stats import (
    clopper_pearson, cliffs_delta, difference_interval, estimate, fisher_exact, fisher_power, holm, holm_reachable,
    rank_sum_floor,
    rank_sum_test, spearman_floor, spearman_test, stratified_fisher, stratified_floor, stratified_rank_sum, t_quantile_975,
    wilson_interval,
)

# Reference quantiles t_{0.975, df} (as tabulated, e.g. scipy.stats.t.ppf(0.975, df)).
KNOWN_T = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105, 9: 2.262157163, 29: 2.045229642,
           30: 2.042272456, 31: 2.039513446, 60: 2.000297822, 100: 1.983971519, 1000: 1.962339081}


@pytest.mark.parametrize("df,expected", sorted(KNOWN_T.items()))
def test_t_quantiles(df, expected):
    assert t_quantile_975(df) == pytest.approx(expected, abs=2e-5)


def test_t_quantile_rejects_zero_degrees_of_freedom():
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_estimate_is_mean_and_t_interval():
    values = [1.0, 0.98, 0.99]
    est = estimate(values)
    half = KNOWN_T[2] * statistics.stdev(values) / math.sqrt(3)
    assert est.n == 3
    assert est.mean == pytest.approx(0.99)
    assert est.low == pytest.approx(0.99 - half)
    assert est.high == pytest.approx(0.99 + half)
    assert est.values == (1.0, 0.98, 0.99)


def test_one_seed_has_no_width_and_no_seed_has_no_estimate():
    one = estimate([0.5])
    assert (one.n, one.mean, one.low, one.high) == (1, 0.5, 0.5, 0.5)
    assert estimate([]) is None


def test_prediction_interval_for_one_more_seed():
    values = [0.9, 0.8, 0.95, 0.85]
    half = 3.182446305  # t_{0.975, 3}
    expected = half * statistics.stdev(values) * math.sqrt(1 + 1 / 4)
    low, high = estimate(values).prediction_interval()
    assert (low, high) == (pytest.approx(0.875 - expected), pytest.approx(0.875 + expected))
    assert estimate([0.4]).prediction_interval() == (0.4, 0.4)


def _brute_rank_sum(a, b):
    """Every split of the pooled values, mid-ranks counted directly: the definition, slowly."""
    from itertools import combinations

    pooled = [*a, *b]
    rank = [sum(w < v for w in pooled) + (sum(w == v for w in pooled) + 1) / 2 for v in pooled]
    expected = len(a) * (len(pooled) + 1) / 2
    observed = abs(sum(rank[: len(a)]) - expected)
    splits = list(combinations(range(len(pooled)), len(a)))
    return sum(abs(sum(rank[i] for i in s) - expected) >= observed - 1e-9 for s in splits) / len(splits)


def test_rank_sum_test_equals_scipy_and_brute_force():
    # Reference values from scipy.stats.permutation_test (rank sum of rankdata, exact, two-sided)
    # and mannwhitneyu(method="exact") for the tie-free case, computed once outside toobig.
    n14 = [1.0, 1.0, 1.0, 1.0, 0.85, 0.6, 0.5, 0.25, 0.0, 0.9]
    n28 = [0.05, 0.0, 0.1, 0.0, 0.0, 0.125, 0.0, 0.05, 0.0, 0.0]
    assert rank_sum_test(n14, n28) == pytest.approx(0.000368052999631947, rel=1e-12)
    assert rank_sum_test([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(0.42857142857142855, rel=1e-12)
    assert rank_sum_test([0.3, 0.7, 0.2, 0.9, 0.5], [0.4, 0.1, 0.8, 0.6]) == pytest.approx(0.9047619047619048, rel=1e-12)
    assert rank_sum_test([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1) == rank_sum_floor(3, 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        na, nb = rng.integers(1, 7, size=2)
        a, b = (list(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=k)) for k in (na, nb))
        assert rank_sum_test(a, b) == pytest.approx(_brute_rank_sum(a, b), rel=1e-12)
        assert rank_sum_test(a, b) == pytest.approx(rank_sum_test(b, a), rel=1e-12)  # two-sided
    with pytest.raises(ValueError, match="each group"):
        rank_sum_test([], [1.0])


def test_cliffs_delta_counts_pairs():
    assert cliffs_delta([1, 2], [0, 0]) == 1.0
    assert cliffs_delta([0, 1], [0, 1]) == 0.0
    assert cliffs_delta([0], [1, 0, -1, 1]) == pytest.approx((1 - 2) / 4)


def test_fisher_power_equals_simulation():
    # Simulated studies, each tested with Fisher's exact test (checked against scipy elsewhere).
    rng = np.random.default_rng(1)
    draws = 4000
    for p1, p2, n in ((0.4, 0.0, 10), (0.4, 0.05, 15), (0.9, 0.2, 6)):
        k1, k2 = rng.binomial(n, p1, draws), rng.binomial(n, p2, draws)
        hits = sum(a > b and fisher_exact(int(a), n, int(b), n) < 0.05 for a, b in zip(k1, k2))
        expected = fisher_power(p1, p2, n, n)
        assert abs(hits / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws) + 1e-9
    # 10 seeds each at 40% against 0%: significant exactly when 5 or more of the 10 succeed.
    assert fisher_power(0.4, 0.0, 10, 10) == pytest.approx(sum(math.comb(10, k) * 0.4**k * 0.6 ** (10 - k) for k in range(5, 11)))
    assert fisher_power(0.5, 0.5, 1, 1) == 0.0  # one seed each can never reach 5%
    assert fisher_power(0.0, 0.9, 10, 10) == 0.0  # only group 1 higher counts: the hypothesis is one-sided


def test_clopper_pearson_and_fisher_equal_reference_values():
    # Reference values from scipy.stats (beta.ppf, fisher_exact), computed once outside toobig.
    assert clopper_pearson(0, 5) == pytest.approx((0.0, 0.5218237501049814), abs=1e-9)
    assert clopper_pearson(3, 10) == pytest.approx((0.06673951117773447, 0.6524528500599973), abs=1e-9)
    assert clopper_pearson(10, 10) == pytest.approx((0.6915028921812392, 1.0), abs=1e-9)
    assert fisher_exact(0, 5, 5, 5) == pytest.approx(0.007936507936507938, rel=1e-9)
    assert fisher_exact(0, 5, 3, 5) == pytest.approx(0.16666666666666666, rel=1e-9)
    assert fisher_exact(1, 10, 9, 10) == pytest.approx(0.001093333910671372, rel=1e-9)
    assert fisher_exact(3, 8, 7, 9) == pytest.approx(0.15343480049362404, rel=1e-9)


def test_rank_sum_floor_is_the_smallest_p_any_values_give():
    from itertools import product

    for na, nb in ((1, 2), (2, 2), (2, 3), (3, 2), (3, 3)):
        smallest = min(rank_sum_test(v[:na], v[na:]) for v in product(range(3), repeat=na + nb))
        assert rank_sum_floor(na, nb) == pytest.approx(smallest, rel=1e-12)


def test_wilson_and_newcombe_intervals_equal_reference_values():
    # scipy.stats.binomtest(k, n).proportion_ci(method="wilson"), and Newcombe's method 10 built
    # from those, computed once outside toobig; the first two are Newcombe's (1998) own examples.
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753279986288926), abs=1e-12)
    assert difference_interval(56, 70, 48, 80) == pytest.approx((0.052431472402364815, 0.3338726540369059), abs=1e-12)
    assert difference_interval(9, 10, 3, 10) == pytest.approx((0.17052272393450302, 0.8090179735354881), abs=1e-12)
    assert difference_interval(5, 56, 0, 29) == pytest.approx((-0.03813714790353688, 0.1925600138551116), abs=1e-12)
    assert difference_interval(0, 5, 0, 10) == pytest.approx((-0.27753279986288926, 0.43448246478317476), abs=1e-12)
    assert difference_interval(10, 10, 0, 10) == pytest.approx((0.6075093504305242, 1.0), abs=1e-12)
    assert difference_interval(4, 10, 0, 10) == pytest.approx((0.03838582088800235, 0.6873262302663417), abs=1e-12)


def test_holm_steps_down_and_keeps_the_order():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, each at least the one before it.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5] and holm([]) == []
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])  # capped at 1, then carried


def _brute_spearman_p(x, y):
    """Every ordering of y against x, mid-ranks counted directly: the definition, slowly."""
    from itertools import permutations

    def midranks(v):
        return [sum(w < a for w in v) + (sum(w == a for w in v) + 1) / 2 for a in v]

    rx, ry = midranks(x), midranks(y)
    mean = sum(rx) * sum(ry) / len(x)
    observed = abs(sum(a * b for a, b in zip(rx, ry)) - mean)
    orders = list(permutations(ry))
    return sum(abs(sum(a * b for a, b in zip(rx, o)) - mean) >= observed - 1e-9 for o in orders) / len(orders)


def test_spearman_test_equals_scipy_and_brute_force():
    # Reference values from scipy.stats.spearmanr and permutation_test (pairings, every one of
    # them, statistic |rho|), computed once outside toobig.
    widths, accuracies = [14, 14, 16, 16, 20, 20, 24], [1, 0.9, 0.5, 1, 0, 0.25, 0]
    graded = spearman_test(widths, accuracies)
    assert graded.rho == pytest.approx(-0.8505044337062674, rel=1e-12)
    # Seven distinct pairings' worth of values: estimated from 100,000 permutations (sd ~5e-4).
    assert graded.permutations == 100_000 and graded.p == pytest.approx(0.02857142857142857, abs=3e-3)
    assert spearman_test([1, 2, 3, 4, 5, 6, 7, 8], [0.1, 0.3, 0.2, 0.5, 0.4, 0.7, 0.6, 0.8]).p == pytest.approx(
        0.002232142857142857, abs=1e-3)
    # A 0/1 outcome is counted exactly, over every subset.
    counted = spearman_test([14, 14, 14, 16, 16, 28, 28, 28, 56], [1, 1, 1, 1, 0, 0, 0, 0, 0])
    assert counted.permutations is None
    assert counted.rho == pytest.approx(-0.8554278208924215, rel=1e-12)
    assert counted.p == pytest.approx(0.023809523809523808, rel=1e-12)
    assert spearman_test([14, 14, 14, 28, 28, 56, 56, 56], [1, 1, 0, 0, 0, 0, 1, 0]).p == pytest.approx(
        0.6785714285714286, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(12):
        n = int(rng.integers(3, 8))
        x = list(rng.choice([14, 16, 20, 28], size=n))
        y = list(rng.choice([0.0, 1.0] if rng.random() < 0.5 else [0.0, 0.25, 0.5, 1.0], size=n))
        result, brute = spearman_test(x, y, permutations=20_000), _brute_spearman_p(x, y)
        if result.permutations is None:
            assert result.p == pytest.approx(brute, rel=1e-12)
        else:
            assert result.p == pytest.approx(brute, abs=0.015)
        swapped = spearman_test(y, x, permutations=20_000)
        assert swapped.rho == pytest.approx(result.rho, nan_ok=True)
        assert swapped.p == pytest.approx(brute, rel=1e-12 if swapped.permutations is None else 0.0, abs=0.0 if swapped.permutations is None else 0.015)
    # Two x values against graded y: exact over the subsets of x's upper value (scipy as above).
    two_widths = spearman_test([14, 14, 14, 28, 28, 28, 28], [0.9, 0.5, 0.7, 0.2, 0.5, 0.1, 0.0])
    assert two_widths.permutations is None and two_widths.rho == pytest.approx(-0.8010409893798611, rel=1e-12)
    assert two_widths.p == pytest.approx(0.08571428571428572, rel=1e-12)


def test_spearman_test_is_reproducible_and_valid_at_the_extremes():
    x, y = [1, 2, 3, 4, 5, 6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert spearman_test(x, y) == spearman_test(x, y)  # a fixed seed: the report reads the same twice
    # The most extreme order of six distinct values: 2 of 720 orderings, estimated without ever
    # reading 0 (the observed order counts as one of the permutations).
    result = spearman_test(x, y)
    assert result.rho == -1.0 and result.p == pytest.approx(2 / 720, abs=1e-3) and result.p > 0
    # A constant has no order: p = 1, no correlation to speak of.
    assert spearman_test(x, [0.0] * 6).p == 1.0
    with pytest.raises(ValueError, match="pairs"):
        spearman_test([1], [1])


def test_spearman_floor_bounds_the_smallest_p_any_outcome_gives():
    from itertools import product

    for sizes in ((1, 1, 1), (2, 1), (2, 2, 1), (1, 2, 2), (3, 2)):
        x = [i for i, k in enumerate(sizes) for _ in range(k)]
        smallest_binary = min(spearman_test(x, y).p for y in product((0.0, 1.0), repeat=len(x)))
        # Graded: every outcome over three values, each p counted over every ordering.
        smallest_graded = min(_brute_spearman_p(x, y) for y in product((0.0, 0.5, 1.0), repeat=len(x)) if len(set(y)) > 1)
        for binary, smallest in ((True, smallest_binary), (False, smallest_graded)):
            floor = spearman_floor(sizes, binary)
            # A bound that the most extreme outcome reaches, or reaches twice (its mirror image).
            assert floor <= smallest * (1 + 1e-12) and smallest <= 2 * floor * (1 + 1e-12), (sizes, binary)
    # Estimated from random orderings, p never falls below 1 / (1 + orderings).
    assert spearman_floor((20, 20, 20), binary=False, permutations=1000) == 1 / 1001


def _brute_stratified(strata, statistic, two_sided_by_probability: bool):
    """Every split of every stratum's pooled seeds into groups of the observed sizes, each
    equally likely: the stratified permutation test by its definition, slowly."""
    from collections import Counter
    from itertools import combinations, product

    def splits(a, b):
        pooled = [*a, *b]
        return [([pooled[i] for i in c], [pooled[i] for i in range(len(pooled)) if i not in c])
                for c in combinations(range(len(pooled)), len(a))]

    totals = [sum(statistic(x, y) for x, y in choice) for choice in product(*(splits(a, b) for a, b in strata))]
    observed = sum(statistic(a, b) for a, b in strata)
    if two_sided_by_probability:  # Fisher's convention: sums no more likely than the observed one
        counts = Counter(totals)
        return sum(c for t, c in counts.items() if c <= counts[observed]) / len(totals)
    expected = sum(totals) / len(totals)
    return sum(abs(t - expected) >= abs(observed - expected) - 1e-9 for t in totals) / len(totals)


def _midrank_sum(a, b):
    pooled = [*a, *b]
    return sum(sum(w < v for w in pooled) + (sum(w == v for w in pooled) + 1) / 2 for v in a)


def test_stratified_tests_equal_every_split_of_every_stratum():
    rng = np.random.default_rng(3)
    for _ in range(12):
        strata = []
        for _ in range(int(rng.integers(1, 4))):
            na, nb = (int(k) for k in rng.integers(1, 4, size=2))
            strata.append((list(rng.choice([0.0, 1.0], size=na)), list(rng.choice([0.0, 1.0], size=nb))))
        counted = [(int(sum(a)), len(a), int(sum(b)), len(b)) for a, b in strata]
        assert stratified_fisher(counted) == pytest.approx(_brute_stratified(strata, lambda a, b: sum(a), True), rel=1e-9)
        graded = [([v + 0.25 * rng.integers(0, 3) for v in a], list(b)) for a, b in strata]
        assert stratified_rank_sum(graded) == pytest.approx(_brute_stratified(graded, _midrank_sum, False), rel=1e-9)
    # One stratum is the unstratified test (checked against scipy above).
    assert stratified_fisher([(4, 5, 0, 5)]) == pytest.approx(fisher_exact(4, 5, 0, 5), rel=1e-12)
    n14 = [1.0, 1.0, 1.0, 1.0, 0.85, 0.6, 0.5, 0.25, 0.0, 0.9]
    n28 = [0.05, 0.0, 0.1, 0.0, 0.0, 0.125, 0.0, 0.05, 0.0, 0.0]
    assert stratified_rank_sum([(n14, n28)]) == pytest.approx(0.000368052999631947, rel=1e-12)
    with pytest.raises(ValueError, match="stratum"):
        stratified_fisher([])
    with pytest.raises(ValueError, match="every stratum"):
        stratified_rank_sum([([1.0], [])])


def test_a_stratum_easier_for_both_groups_is_not_a_difference():
    # Within each stratum the groups are alike; across strata the values differ. Pooled without
    # strata a looks higher (it has more seeds in the easy stratum); stratified, nothing differs.
    easy, hard = ([1.0] * 4, [1.0]), ([0.0], [0.0] * 4)
    assert stratified_rank_sum([easy, hard]) == 1.0
    assert rank_sum_test([1.0] * 4 + [0.0], [1.0] + [0.0] * 4) < 0.25
    assert stratified_fisher([(4, 4, 1, 1), (0, 1, 0, 4)]) == 1.0


def test_stratified_floor_bounds_the_smallest_p_any_outcome_gives():
    from itertools import product

    for sizes in (((1, 1), (1, 1)), ((2, 1), (1, 2)), ((2, 2), (1, 1)), ((2, 2),)):
        n = sum(na + nb for na, nb in sizes)
        smallest = 1.0
        for values in product((0.0, 0.5, 1.0), repeat=n):
            strata, i = [], 0
            for na, nb in sizes:
                strata.append((values[i:i + na], values[i + na:i + na + nb]))
                i += na + nb
            smallest = min(smallest, stratified_rank_sum(strata))
            if all(v in (0.0, 1.0) for v in values):
                smallest = min(smallest, stratified_fisher([(int(sum(a)), len(a), int(sum(b)), len(b)) for a, b in strata]))
        floor = stratified_floor(sizes)
        assert floor <= smallest * (1 + 1e-12) and smallest <= 2 * floor * (1 + 1e-12), sizes


def test_holm_reachable_equals_every_outcome_on_a_grid():
    from itertools import product

    # Reachable: some p-values at or above the floors make Holm reject it; every p is tried from a
    # grid that holds each floor, so the best case is among them.
    grid = (0.001, 0.004, 0.0079, 0.01, 0.02, 0.03, 0.045, 0.2, 1.0)
    rng = np.random.default_rng(5)
    for _ in range(40):
        floors = [float(f) for f in rng.choice(grid, size=int(rng.integers(1, 5)))]
        reachable = [False] * len(floors)
        for ps in product(*([g for g in grid if g >= f] for f in floors)):
            for i, adjusted in enumerate(holm(list(ps))):
                reachable[i] |= adjusted < 0.05
        assert holm_reachable(floors) == reachable, floors
    # A hypothesis that can pass only after another: 2 x 0.03 fails first, 1 x 0.03 second.
    assert holm_reachable([1e-6, 0.03]) == [True, True]
    # The held-out study: two pooled hypotheses and eight sets of 5 seeds against 5 (2/252 each).
    assert holm_reachable([1e-6, 1e-6] + [2 / 252] * 8) == [True, True] + [False] * 8
