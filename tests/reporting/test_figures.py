"""What the figures draw: seeds, their mean, the paper's dashed curve, red extrapolation markers."""

from __future__ import annotations

import pytest

from toobig.reporting.figures import FIGURES, experiment_figure, extrapolation_points, grokking_figure, mean_series
from toobig.reporting.paper import paper_curve
from toobig.reporting.runs import load_runs

from .synthetic import arithmetic_seed, config_for, record, short_grokking_config, write_run


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_arithmetic_figure_draws_seeds_mean_paper_and_markers(tmp_path):
    arithmetic_seed(tmp_path, 1, 1.0, 1.0, 40)
    arithmetic_seed(tmp_path, 2, 0.98, 0.98, 0)
    cells = load_runs(tmp_path).cells()
    fig = experiment_figure(FIGURES[0], cells)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    lines = lines_by_label(ax)
    paper = lines["addition (paper)"]
    assert paper.get_linestyle() == "--"
    expected = paper_curve("arithmetic", "n14", "paper")
    assert list(paper.get_ydata()) == pytest.approx([r["add_acc"] for r in expected])
    mean = lines["addition (mean of 2)"]
    assert list(mean.get_xdata()) == [0, 250, 500, 750]
    assert mean.get_ydata()[2] == pytest.approx((1.0 + 0.98) / 2)
    # 3 series (addition, subtraction, held-out pairs) x 2 seeds thin lines + 3 means + 2 paper curves
    assert len(ax.get_lines()) == 11
    assert list(lines["held-out pairs (mean of 2)"].get_ydata()) == pytest.approx([(a + b) / 2 for a, b in zip(
        *[[r["heldout_correct"] / r["heldout_total"] for r in run.metrics] for run in cells[0].runs])])
    assert ax.get_xlim() == (0, 30_000) and ax.get_legend().get_bbox_to_anchor().x0 > ax.bbox.x1  # legend beside the axes
    (markers,) = ax.collections
    assert [tuple(p) for p in markers.get_offsets()] == [(500.0, 1.0)]
    assert experiment_figure(FIGURES[3], cells) is None  # no controlled runs: no Figure 4


def test_mean_is_over_the_seeds_evaluated_at_each_iteration(tmp_path):
    write_run(tmp_path, config_for("arithmetic", seed=1), [record("arithmetic", 0, 0.1, 0.1), record("arithmetic", 250, 0.5, 0.5)])
    write_run(tmp_path, config_for("arithmetic", seed=2), [record("arithmetic", 0, 0.3, 0.3)], status="running")
    (cell,) = load_runs(tmp_path).cells()
    iters, means = mean_series(cell.runs, "add_acc")
    assert iters == [0, 250] and means == pytest.approx([0.2, 0.5])
    assert extrapolation_points(cell.runs[0]) == []


def test_grokking_figure_is_log_scaled_with_the_papers_long_run(tmp_path):
    metrics = [record("arithmetic", i, 0.98, 0.98) for i in (0, 1, 10, 100, 1000)]
    write_run(tmp_path, short_grokking_config(max_iters=1000, log_points=4), metrics, parameters=10_628_352)
    cells = load_runs(tmp_path).cells()
    fig = grokking_figure(cells)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = lines_by_label(ax)
    assert "held-out pairs (mean of 1)" in lines
    assert max(lines["subtraction (paper)"].get_xdata()) == 1_500_000
    assert 0 not in list(lines["addition (mean of 1)"].get_xdata())  # iteration 0 has no place on a log axis
    assert experiment_figure(FIGURES[0], cells) is None  # the grokking run is not part of Figure 1


def test_a_short_run_gets_an_axis_of_its_own_length(tmp_path):
    """A 1,000-iteration run fills its figure: the axis and the paper's curve stop at 1,000."""
    arithmetic_seed(tmp_path, 1, 1.0, 1.0, 40, max_iters=1000)
    fig = experiment_figure(FIGURES[0], load_runs(tmp_path).cells())
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xlim() == (0, 1000)
    assert max(lines_by_label(ax)["addition (paper)"].get_xdata()) <= 1000


def test_a_sweep_gets_one_comparison_figure_with_a_colour_per_value(tmp_path):
    from dataclasses import replace

    from toobig.reporting import write_report
    from toobig.reporting.other import sweep_figure, sweep_groups

    for lr in (3e-3, 1e-2 / 3):
        for seed in (1, 2):
            base = config_for("arithmetic", seed=seed, max_iters=750)
            config = replace(base, train=replace(base.train, learning_rate=lr))
            write_run(tmp_path / "runs", config, [record("arithmetic", i, 0.5, 0.5, heldout=seed * 10) for i in (0, 250, 500, 750)])
    cells = load_runs(tmp_path / "runs").cells()
    (label, group), = sweep_groups(cells).items()
    fig = sweep_figure(label, group)
    combined, heldout = fig.axes
    means = {line.get_label(): line for line in heldout.get_lines() if "mean of 2" in line.get_label()}
    assert sorted(means) == ["train.learning_rate=0.003 (mean of 2)", "train.learning_rate=0.0033333333333333335 (mean of 2)"]
    assert len({line.get_color() for line in means.values()}) == 2  # one colour per swept value
    assert list(means.values())[0].get_ydata().tolist() == [0.375] * 4  # held-out 10/40 and 20/40: mean 37.5%
    assert len(heldout.get_lines()) == 6 and combined.get_xlim() == (0, 750)
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    assert tmp_path / "out" / "figures" / "sweep_arithmetic-n14-paper.png" in paths
    other = paths[0].read_text().split("## Other runs")[1].split("\n## ")[0]  # listed, not lost
    assert other.count("| arithmetic-n14-paper | train.learning_rate=") == 2
