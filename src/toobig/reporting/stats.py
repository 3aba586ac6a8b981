"""Intervals and exact tests over seeds: Student-t means, Clopper-Pearson proportions, Fisher's
exact test, the exact rank-sum test and a permutation test of Spearman's rank correlation (numpy
only, no scipy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Sequence

import numpy as np

# Two-sided 95% quantiles t_{0.975, df} for df = 1..30 (checked against numerical integration of
# the t density to 1e-6); beyond 30 the Cornish-Fisher expansion below is accurate to ~1e-5.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with df degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Estimate:
    """Mean over n seeds with its 95% t-interval; low == high == mean when n == 1."""

    n: int
    mean: float
    low: float
    high: float
    values: tuple[float, ...]

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def prediction_interval(self) -> tuple[float, float]:
        """Where one more seed's value falls with 95% probability: mean +- t * s * sqrt(1 + 1/n).

        The right yardstick for a single run such as the paper's: its value is one draw from the
        spread over seeds, not an estimate of our mean. A point when n == 1 (no spread known)."""
        if self.n == 1:
            return self.mean, self.mean
        sd = float(np.std(self.values, ddof=1))
        half = t_quantile_975(self.n - 1) * sd * math.sqrt(1 + 1 / self.n)
        return self.mean - half, self.mean + half


def estimate(values: Sequence[float]) -> Estimate | None:
    """Mean and 95% Student-t interval of the values; None when there are none."""
    data = np.asarray([float(v) for v in values], dtype=np.float64)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1:
        return Estimate(1, mean, mean, mean, (mean,))
    half = t_quantile_975(data.size - 1) * float(data.std(ddof=1)) / math.sqrt(data.size)
    return Estimate(int(data.size), mean, mean - half, mean + half, tuple(float(v) for v in data))


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _bisect(f, target: float, decreasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if (f(mid) > target) == decreasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion k/n: never shorter than it should be."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    alpha = (1 - level) / 2
    # P(X >= k | p) grows with p; P(X <= k | p) falls with p.
    low = 0.0 if k == 0 else _bisect(lambda p: 1 - _binomial_cdf(k - 1, n, p), alpha, decreasing=False)
    high = 1.0 if k == n else _bisect(lambda p: _binomial_cdf(k, n, p), alpha, decreasing=True)
    return low, high


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that k1/n1 and k2/n2 share one proportion: the
    probability, given the margins, of a table no more likely than the one observed."""
    return stratified_fisher([(k1, n1, k2, n2)])


def _hypergeometric(k1: int, n1: int, k2: int, n2: int) -> np.ndarray:
    """The probability of x successes in the first group, x = 0 .. min(n1, k1 + k2), given both
    groups' sizes and their successes together."""
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2) or n1 < 1 or n2 < 1:
        raise ValueError(f"need 0 <= k <= n for both groups, got {k1}/{n1} and {k2}/{n2}")
    successes, total = k1 + k2, n1 + n2
    out = np.zeros(min(n1, successes) + 1)
    for x in range(max(0, successes - n2), len(out)):
        out[x] = math.comb(n1, x) * math.comb(n2, successes - x) / math.comb(total, successes)
    return out


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for k1/n1 - k2/n2: Newcombe's hybrid score interval (his method 10), which keeps
    its coverage with few seeds and with 0/n or n/n, where the Wald interval collapses."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1, level), wilson_interval(k2, n2, level)
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of p-values tested together (in their order): rejecting
    where the adjusted value is below alpha keeps the chance of any false rejection below alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_reachable(floors: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """For each hypothesis of a family, whether Holm's procedure could reject it at alpha for
    some outcome, knowing only the smallest p-value each can take (its floor). Holm rejects the
    j-th smallest p only if every i-th before it has (m - i + 1) p_(i) < alpha. The best case
    for a hypothesis places before it the others with the smallest floors, each at its floor, as
    many as still pass their own step; it then needs (m - k) max(its floor, theirs) < alpha."""
    m = len(floors)
    out = []
    for h, floor in enumerate(floors):
        others = sorted(f for i, f in enumerate(floors) if i != h)
        reachable = False
        for k in range(m):  # k others rejected before it, the smallest floors first
            if k and (m - k + 1) * others[k - 1] >= alpha:
                break  # the k-th of them cannot pass its own step, nor can any later one
            if (m - k) * max([floor, *others[:k]]) < alpha:
                reachable = True
                break
        out.append(reachable)
    return out


def fisher_power(p1: float, p2: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    """The chance that Fisher's exact test finds group 1 significantly higher (two-sided p <
    alpha, k1/n1 > k2/n2) when its seeds succeed with probability p1 and group 2's with p2:
    every pair of outcomes weighed by its binomial probability. For planning seeds."""
    if not (0 <= p1 <= 1 and 0 <= p2 <= 1) or n1 < 1 or n2 < 1:
        raise ValueError(f"need rates in [0, 1] and groups of 1 or more, got {p1}, {p2}, {n1}, {n2}")

    def binomial(k: int, n: int, p: float) -> float:
        return math.comb(n, k) * p**k * (1 - p) ** (n - k)

    return sum(
        binomial(k1, n1, p1) * binomial(k2, n2, p2)
        for k1 in range(n1 + 1)
        for k2 in range(n2 + 1)
        if k1 * n2 > k2 * n1 and fisher_exact(k1, n1, k2, n2) < alpha
    )


def _doubled_midranks(values: Sequence[float]) -> list[int]:
    """Twice each value's rank among all of them, ties sharing their mean rank (integers)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            ranks[i] = start + end + 2  # 2 x the mean of the ranks start+1 .. end+1
        start = end + 1
    return ranks


def rank_sum_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the exact Wilcoxon rank-sum (Mann-Whitney) test that a and b come from
    one distribution: the share of all C(n, len(a)) splits of the pooled values whose rank sum
    lies at least as far from its expectation as a's. Ties get mid-ranks and the count is exact
    with them (a permutation test of the rank sum), so 0% and 100% plateaus are handled right."""
    na, nb = len(a), len(b)
    if na < 1 or nb < 1:
        raise ValueError(f"need one value or more in each group, got {na} and {nb}")
    ranks = _doubled_midranks([float(v) for v in (*a, *b)])
    return _subset_sum_p(ranks, range(na))


def _subset_sums(weights: Sequence[int], k: int) -> np.ndarray:
    """How many subsets of k of the weights sum to s, for s = 0 .. sum(weights)."""
    top = sum(weights)
    # ways[j, s]: subsets of j weights summing to s, as float64: exact integers to n ~ 55, beyond
    # that rounded to 16 digits, which only their ratio feels (checked against integer counts at
    # n = 70: 3e-16 relative). numpy reads overlapping operands as if copied first, so each
    # weight joins a subset at most once.
    ways = np.zeros((k + 1, top + 1))
    ways[0, 0] = 1.0
    for w in weights:
        ways[1:, w:] += ways[:-1, : top + 1 - w]
    return ways[k]


def _two_sided(weights: np.ndarray, observed: int, expected: Fraction) -> float:
    """The share of the weight (counts or probabilities of the sums 0, 1, 2, ...) on sums at least
    as far from their expectation as observed; the expectation is exact, so ties count."""
    num, den = expected.numerator, expected.denominator
    distance = np.abs(den * np.arange(len(weights), dtype=np.int64) - num)
    return float(min(1.0, weights[distance >= abs(den * observed - num)].sum() / weights.sum()))


def _subset_sum_p(weights: Sequence[int], chosen: Sequence[int]) -> float:
    """Two-sided exact p-value of the sum of the chosen weights against every subset of as many
    of them: the share whose sum lies at least as far from its expectation."""
    k = len(chosen)
    return _two_sided(_subset_sums(weights, k), sum(weights[i] for i in chosen), Fraction(k * sum(weights), len(weights)))


def stratified_fisher(strata: Sequence[tuple[int, int, int, int]]) -> float:
    """Two-sided exact p-value of the test that within every stratum (k1, n1, k2, n2) the two
    groups share one proportion (the exact conditional test of Mantel and Haenszel's setting):
    given each stratum's margins, the first group's successes summed over the strata; p is the
    probability of a sum no more likely than the one observed. One stratum is Fisher's test."""
    if not strata:
        raise ValueError("need one stratum or more")
    distribution, observed = np.ones(1), 0
    for k1, n1, k2, n2 in strata:
        distribution, observed = np.convolve(distribution, _hypergeometric(k1, n1, k2, n2)), observed + k1
    p_observed = distribution[observed]
    return float(min(1.0, distribution[distribution <= p_observed * (1 + 1e-9)].sum()))


def stratified_rank_sum(strata: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
    """Two-sided exact p-value of the stratified rank-sum test that a and b come from one
    distribution within every stratum: a's rank sum within each stratum (ties at mid-ranks),
    added over the strata, against every split of every stratum; the share of them whose sum lies
    at least as far from its expectation. Strata are never ranked against each other, so a
    stratum that is easier for both groups cannot pass for a difference. One stratum is
    rank_sum_test."""
    if not strata:
        raise ValueError("need one stratum or more")
    distribution, observed, expected = np.ones(1), 0, Fraction(0)
    for a, b in strata:
        if not a or not b:
            raise ValueError(f"need one value or more in each group of every stratum, got {len(a)} and {len(b)}")
        ranks = _doubled_midranks([float(v) for v in (*a, *b)])
        counts = _subset_sums(ranks, len(a))
        distribution = np.convolve(distribution, counts / counts.sum())
        observed += sum(ranks[: len(a)])
        expected += Fraction(len(a) * sum(ranks), len(ranks))
    return _two_sided(distribution, observed, expected)


def stratified_floor(sizes: Sequence[tuple[int, int]]) -> float:
    """A lower bound on the smallest p-value either stratified test can give strata of these
    group sizes (na, nb), whatever the outcomes. A p-value includes the observed outcome, and in
    each stratum that outcome has probability at least 1 / C(na + nb, na) (one split of the
    stratum's seeds among all; a hypergeometric term C(m, x) C(n - m, na - x) / C(n, na) is never
    less), so p is at least their product. Every a above every b in every stratum reaches it, or
    twice it with its mirror image."""
    return math.prod(1 / math.comb(na + nb, na) for na, nb in sizes)


def rank_sum_floor(na: int, nb: int) -> float:
    """The smallest p-value rank_sum_test can give these group sizes, whatever the values: every
    a above every b, with a's values tied and b's tied, so that only the observed split (and its
    mirror image, when the groups are the same size) lies that far out."""
    return min(1.0, (2 if na == nb else 1) / math.comb(na + nb, na))


def pair_balance(a: Sequence[float], b: Sequence[float]) -> int:
    """Pairs with a above b minus pairs with a below b: twice a's rank sum minus its expectation
    (an integer, so its sign is exact)."""
    return sum((x > y) - (x < y) for x in a for y in b)


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) - P(a < b) over all pairs: the rank-sum test's effect size, from -1 to 1."""
    if not a or not b:
        raise ValueError("need one value or more in each group")
    return pair_balance(a, b) / (len(a) * len(b))


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rank correlation of x and y, with its permutation test's two-sided p-value."""

    rho: float
    p: float
    permutations: int | None = None  # None: exact, over every pairing of the values
    hits: int | None = None  # random orderings as far from zero as observed, when estimated


SPEARMAN_PERMUTATIONS = 100_000


def spearman_test(
    x: Sequence[float], y: Sequence[float], permutations: int = SPEARMAN_PERMUTATIONS, seed: int = 0
) -> RankCorrelation:
    """Spearman's rho (ties at mid-ranks) and the permutation test that x and y are unrelated: the
    share of pairings of x with the y values in another order whose rank correlation lies at least
    as far from zero. Exact when x or y takes at most two values (a 0/1 outcome: the rank sum of
    the ones, counted over every subset as in rank_sum_test); otherwise estimated from random
    permutations with a fixed seed, as (1 + hits) / (1 + permutations), which keeps the test valid."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two or more (x, y) pairs of equal length, got {len(x)} and {len(y)}")
    rx, ry = (np.array(_doubled_midranks([float(v) for v in values]), dtype=np.int64) for values in (x, y))
    n = len(rx)
    if len(set(rx.tolist())) < 2 or len(set(ry.tolist())) < 2:
        return RankCorrelation(float("nan"), 1.0)  # a constant has no order to follow
    # With doubled mid-ranks every product sum is an integer and its mean under permutation is
    # n (n + 1)^2, so the distances are compared exactly.
    mean = n * (n + 1) ** 2
    cx, cy = rx - (n + 1), ry - (n + 1)  # twice each rank's distance from the mean rank
    rho = float(cx @ cy / math.sqrt((cx @ cx) * (cy @ cy)))
    binary = next((r for r in (ry, rx) if len(set(r.tolist())) == 2), None)
    if binary is not None:
        other = rx if binary is ry else ry
        # The product sum is affine in the other's rank sum over the upper value's positions.
        upper = [i for i in range(n) if binary[i] == binary.max()]
        return RankCorrelation(rho, _subset_sum_p(other.tolist(), upper))
    observed = abs(int(rx @ ry) - mean)
    rng = np.random.default_rng(seed)
    hits, left = 0, permutations
    while left:
        chunk = min(left, 10_000)
        shuffled = rng.permuted(np.broadcast_to(ry, (chunk, n)), axis=1)
        hits += int((np.abs(shuffled @ rx - mean) >= observed).sum())
        left -= chunk
    return RankCorrelation(rho, (1 + hits) / (1 + permutations), permutations, hits)


def spearman_floor(sizes: Sequence[int], binary: bool, permutations: int | None = None) -> float:
    """A lower bound on the smallest p-value spearman_test can give when x takes len(sizes)
    values, sizes[i] of each, whatever y is: y 0/1 (binary) or graded, exact or estimated from
    this many permutations. The most extreme y lines up with x; as many orderings of y as keep
    each of x's blocks whole match it (its mirror image can double that, hence a bound)."""
    n = sum(sizes)
    if binary:  # the ones filling whole blocks from one end: 1 of C(n, block total) subsets
        totals = [sum(sizes[:k]) for k in range(1, len(sizes))]
        return min((1 / math.comb(n, t) for t in totals), default=1.0)
    exact = math.prod(math.factorial(k) for k in sizes) / math.factorial(n)
    return exact if permutations is None else max(exact, 1 / (1 + permutations))
