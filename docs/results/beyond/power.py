"""Print how likely Fisher's exact test is to call a difference in stable extrapolation
significant, for a few seed counts and rates: the planning figures of README.md's "What more
seeds buy". Usage: python docs/results/beyond/power.py [RATE_A RATE_B ...]"""

from __future__ import annotations

import sys

from toobig.reporting.stats import fisher_power

SEEDS = (5, 10, 15, 20, 25, 30)


def main(pairs: list[tuple[float, float]]) -> None:
    print("| stable rate a | stable rate b | " + " | ".join(f"{n} seeds each" for n in SEEDS) + " |")
    print("|---|---|" + "---|" * len(SEEDS))
    for a, b in pairs:
        cells = " | ".join(f"{100 * fisher_power(a, b, n, n):.0f}%" for n in SEEDS)
        print(f"| {100 * a:.0f}% | {100 * b:.0f}% | {cells} |")


if __name__ == "__main__":
    numbers = [float(x) for x in sys.argv[1:]]
    if len(numbers) % 2:
        sys.exit("power.py: give rates in pairs (RATE_A RATE_B ...)")
    main(list(zip(numbers[::2], numbers[1::2])) or [(0.4, 0.0), (0.4, 0.1), (0.6, 0.0), (0.3, 0.0)])
