"""Mean and Student-t 95% confidence interval over seeds (numpy only, no scipy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
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
