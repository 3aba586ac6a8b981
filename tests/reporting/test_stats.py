"""Student-t intervals over seeds, checked against independently computed values."""

from __future__ import annotations

import math
import statistics

import pytest

from toobig.reporting.stats import estimate, t_quantile_975

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
