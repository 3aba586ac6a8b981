"""The studies' report: exact intervals and tests against reference values, verdicts on synthetic runs."""

from __future__ import annotations

import pytest

from toobig.reporting import write_report
from toobig.reporting.beyond import Group, beyond_figures, beyond_section, comparison, heldout_over_training, study_cells
from toobig.reporting.runs import load_runs
from toobig.reporting.stats import clopper_pearson, fisher_exact
from toobig.studies import STUDIES

from .synthetic import record, write_run


def test_clopper_pearson_and_fisher_equal_reference_values():
    # Reference values from scipy.stats (beta.ppf, fisher_exact), computed once outside toobig.
    assert clopper_pearson(0, 5) == pytest.approx((0.0, 0.5218237501049814), abs=1e-9)
    assert clopper_pearson(3, 10) == pytest.approx((0.06673951117773447, 0.6524528500599973), abs=1e-9)
    assert clopper_pearson(10, 10) == pytest.approx((0.6915028921812392, 1.0), abs=1e-9)
    assert fisher_exact(0, 5, 5, 5) == pytest.approx(0.007936507936507938, rel=1e-9)
    assert fisher_exact(0, 5, 3, 5) == pytest.approx(0.16666666666666666, rel=1e-9)
    assert fisher_exact(1, 10, 9, 10) == pytest.approx(0.001093333910671372, rel=1e-9)
    assert fisher_exact(3, 8, 7, 9) == pytest.approx(0.15343480049362404, rel=1e-9)


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


def test_rank_sum_floor_is_the_smallest_p_any_values_give():
    from itertools import product

    from toobig.reporting.stats import rank_sum_floor, rank_sum_test

    for na, nb in ((1, 2), (2, 2), (2, 3), (3, 2), (3, 3)):
        smallest = min(rank_sum_test(v[:na], v[na:]) for v in product(range(3), repeat=na + nb))
        assert rank_sum_floor(na, nb) == pytest.approx(smallest, rel=1e-12)


def test_an_order_fraction_below_zero_keeps_its_interval():
    from toobig.reporting.markdown import format_estimate
    from toobig.reporting.stats import estimate

    assert format_estimate(estimate([-0.04, -0.02]), 0, clip=False).startswith("-3% [-")
    assert format_estimate(estimate([0.2, 0.4])).startswith("30.0% [0.0, ")  # an accuracy: clipped at 0


def _metrics(extrapolate_at_best: bool, stably: bool, steps: int = 12):
    """A run that learns; its in-distribution best is its last evaluation."""
    out = []
    for i in range(steps):
        frac = (i + 1) / steps
        held = 40 if (stably and i >= steps - 10) or (extrapolate_at_best and i == steps - 1) else 0
        out.append(record("arithmetic", 250 * i, frac, frac, heldout=held, loss=2.0 - frac))
    return out


def _study_runs(root, study: str, label: str, model: str, extrapolating: int, seeds: int = 5, stably: bool = False):
    variant = next(v for v in STUDIES[study].variants if v.label == label and v.model == model)
    for seed in range(seeds):
        write_run(root, variant.config(seed), _metrics(seed < extrapolating, stably and seed < extrapolating))


def test_order_ablation_verdicts_on_synthetic_runs(tmp_path):
    _study_runs(tmp_path, "order-ablation", "paper", "n28", 0, stably=True)
    _study_runs(tmp_path, "order-ablation", "reshuffled stream", "n28", 5, stably=True)
    _study_runs(tmp_path, "order-ablation", "whole lines", "n28", 2, stably=True)
    _study_runs(tmp_path, "order-ablation", "answer-only loss", "n28", 0, stably=True)
    cells = load_runs(tmp_path).cells()
    # Only the paper's protocol is Table 2; the other protocols are filed as beyond the paper.
    assert sorted(c.experiment for c in cells) == ["beyond", "beyond", "beyond", "table2"]
    rows = study_cells(STUDIES["order-ablation"], cells)
    assert [(vc.variant.label, vc.count()) for vc in rows] == [
        ("paper", 0), ("reshuffled stream", 5), ("whole lines", 2), ("answer-only loss", 0)
    ]
    text = beyond_section(cells)
    body = text.splitlines()
    lines = {line[2:-1]: body[i + 1: i + 3] for i, line in enumerate(body) if line.startswith("- n28")}
    reshuffled = lines["n28 extrapolates more with reshuffled stream than with the paper's fixed file"]
    assert "**holds**" in reshuffled[0] and "p = 0.00794" in reshuffled[0]
    # Held-out accuracy over the last 10 evaluations: 100% for the five reshuffled seeds, 0% for the paper's.
    assert "**holds**" in reshuffled[1] and "mean 100.0% (n=5) vs paper 0.0% (n=5)" in reshuffled[1] and "p = 0.00794" in reshuffled[1]
    assert "**undecided at this many seeds" in lines["n28 extrapolates more with whole lines than with the paper's fixed file"][0]
    assert "**does not hold at 5+ seeds" in lines["n28 extrapolates more with answer-only loss than with the paper's fixed file"][0]
    # During training: 2 of the 5 whole-line seeds get the held-out samples right in the last 10
    # of their 12 evaluations, none before.
    iters, mean = heldout_over_training(rows[2])
    assert iters == [250 * i for i in range(12)] and mean == [0.0, 0.0] + [0.4] * 10
    names = {p.name for p in beyond_figures(cells, tmp_path / "figures")}
    assert "beyond_heldout_over_training.png" in names
    assert "| n28, reshuffled stream | 5,264 | 5 | 5/5 | 5/5 [48, 100] | 5/5 [48, 100] | 5/5 [48, 100] | 100.0% [100.0, 100.0] | 100.0% [100.0, 100.0] |" in text


def test_three_strengths_and_capacity_rows(tmp_path):
    # n4 extrapolates once early (at some evaluation only); n8 at its best and stably.
    n4 = STUDIES["capacity-curve"].variants[0]
    n8 = STUDIES["capacity-curve"].variants[2]
    for seed in range(3):
        metrics = _metrics(False, False)
        metrics[2] = record("arithmetic", 500, 0.2, 0.2, heldout=40, loss=1.8)
        write_run(tmp_path, n4.config(seed), metrics)
        write_run(tmp_path, n8.config(seed), _metrics(True, True))
    cells = load_runs(tmp_path).cells()
    rows = {vc.variant.model: vc for vc in study_cells(STUDIES["capacity-curve"], cells)}
    assert [rows["n4"].count(s) for s in ("at_some_evaluation", "at_in_distribution_best", "stably")] == [3, 0, 0]
    assert [rows["n8"].count(s) for s in ("at_some_evaluation", "at_in_distribution_best", "stably")] == [3, 3, 3]
    # Final loss 1.0 against the arithmetic corpus's floors 0.7667 (order-agnostic) and 0.5308.
    assert rows["n8"].runs[0].order_fraction == pytest.approx((0.76666 - 1.0) / (0.76666 - 0.53081), abs=1e-3)
    paths = write_report(tmp_path, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "### Capacity curve" in text and "extrapolates stably (last 10 evaluations) in most seeds: n8." in text
    names = {p.name for p in paths}
    assert {"beyond_extrapolation_vs_parameters.png", "beyond_order_fraction_vs_width.png", "beyond_heldout_vs_width.png"} <= names


def test_held_out_verdict_names_the_models_that_ran(tmp_path):
    _study_runs(tmp_path, "heldout-generality", "(3,8)", "n14", 5, stably=True)
    _study_runs(tmp_path, "heldout-generality", "(3,8)", "n28", 0, stably=True)
    text = beyond_section(load_runs(tmp_path).cells())
    # n56 has not run: the n14 group is compared with n28 alone, and named so.
    assert "- held out (3,8): n14 extrapolates more often than n28:" in text
    assert "n14 5/5 vs n28 0/5" in text


def test_capacity_verdicts_compare_n14_with_n28_and_the_widest_width(tmp_path):
    _study_runs(tmp_path, "capacity-curve", "n8", "n8", 0)  # a width beyond Table 2: the study ran
    _study_runs(tmp_path, "capacity-curve", "n14", "n14", 5, stably=True)
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, stably=True)
    text = beyond_section(load_runs(tmp_path).cells())
    # n28 is the widest width that ran: one comparison, not the same one twice.
    assert "falls from n14 to n28 (the paper's Table 2)" not in text
    assert "- Extrapolation falls from n14 to the widest width (n28):" in text
    _study_runs(tmp_path, "capacity-curve", "n56", "n56", 0, stably=True)
    text = beyond_section(load_runs(tmp_path).cells())
    lines = text.splitlines()
    for title in ("- Extrapolation falls from n14 to n28 (the paper's Table 2):", "- Extrapolation falls from n14 to the widest width (n56):"):
        counted = lines[lines.index(title) + 1]
        assert "**holds**" in counted and "5/5 vs" in counted and "0/5; Fisher's exact test, two-sided p = 0.00794" in counted
