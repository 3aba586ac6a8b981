"""Print how likely Fisher's exact test is to call a difference in stable extrapolation
significant, for a few seed counts and rates: the planning figures of README.md's "What more
seeds buy". With --pooled, the same for the held-out generality study's test over its four held-out
sets at once (stratified by set), against a model that never extrapolates stably.
Usage: python docs/results/beyond/power.py [RATE_A RATE_B ...]
       python docs/results/beyond/power.py --pooled"""

from __future__ import annotations

import itertools
import math
import sys

from toobig.reporting.stats import fisher_power, stratified_fisher

SEEDS = (5, 10, 15, 20, 25, 30)
# The pooled hypotheses as the first of the study's 10 under Holm: p below 0.05 / 10.
POOLED_ALPHA = 0.05 / 10
POOLED_SETS = 4


def main(pairs: list[tuple[float, float]]) -> None:
    print("| stable rate a | stable rate b | " + " | ".join(f"{n} seeds each" for n in SEEDS) + " |")
    print("|---|---|" + "---|" * len(SEEDS))
    for a, b in pairs:
        cells = " | ".join(f"{100 * fisher_power(a, b, n, n):.0f}%" for n in SEEDS)
        print(f"| {100 * a:.0f}% | {100 * b:.0f}% | {cells} |")


def pooled_power(rate: float, seeds: int) -> float:
    """The chance that the stratified exact test over POOLED_SETS held-out sets, seeds against
    seeds in each, finds a higher at POOLED_ALPHA when a's seeds extrapolate stably with this
    rate and b's never do: every outcome of a's seeds weighed by its binomial probability."""
    total = 0.0
    for counts in itertools.product(range(seeds + 1), repeat=POOLED_SETS):
        if sum(counts) and stratified_fisher([(k, seeds, 0, seeds) for k in counts]) < POOLED_ALPHA:
            total += math.prod(math.comb(seeds, k) * rate**k * (1 - rate) ** (seeds - k) for k in counts)
    return total


def main_pooled() -> None:
    rates = (0.2, 0.3, 0.4, 0.5)
    print("| seeds per set and model | " + " | ".join(f"stable rate {100 * r:.0f}% vs 0%" for r in rates) + " |")
    print("|---|" + "---|" * len(rates))
    for seeds in (5, 10):
        print(f"| {seeds} | " + " | ".join(f"{100 * pooled_power(r, seeds):.0f}%" for r in rates) + " |")


if __name__ == "__main__":
    if sys.argv[1:] == ["--pooled"]:
        main_pooled()
        sys.exit()
    numbers = [float(x) for x in sys.argv[1:]]
    if len(numbers) % 2:
        sys.exit("power.py: give rates in pairs (RATE_A RATE_B ...), or --pooled")
    main(list(zip(numbers[::2], numbers[1::2])) or [(0.4, 0.0), (0.4, 0.1), (0.6, 0.0), (0.3, 0.0)])
