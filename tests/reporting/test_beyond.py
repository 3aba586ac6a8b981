"""The studies' report section and figures, on synthetic runs."""

from __future__ import annotations

import csv

import pytest

from toobig.cli import main
from toobig.reporting import write_report
from toobig.reporting.beyond import beyond_section, read_studies
from toobig.reporting.beyond_figures import beyond_figures, heldout_over_training, seeds_figure, studies_showing
from toobig.reporting.study_measures import study_cells
from toobig.reporting.runs import load_runs
from toobig.studies import STUDIES

from .synthetic import config_for, record, write_run


def test_an_order_fraction_below_zero_keeps_its_interval():
    from toobig.reporting.markdown import format_estimate
    from toobig.reporting.stats import estimate

    assert format_estimate(estimate([-0.04, -0.02]), 0, clip=False).startswith("-3% [-")
    assert format_estimate(estimate([0.2, 0.4])).startswith("30.0% [0.0, ")  # an accuracy: clipped at 0


def _metrics(extrapolate_at_best: bool, stably: bool, steps: int = 12, every: int = 250, final_loss: float = 1.0):
    """A run that learns; its in-distribution best is its last evaluation."""
    out = []
    for i in range(steps):
        frac = (i + 1) / steps
        held = 40 if (stably and i >= steps - 10) or (extrapolate_at_best and i == steps - 1) else 0
        out.append(record("arithmetic", every * i, frac, frac, heldout=held, loss=final_loss + 1.0 - frac))
    return out


def _study_runs(root, study: str, label: str, model: str, extrapolating: int, seeds: int = 5, stably: bool = False, final_loss: float = 1.0):
    variant = next(v for v in STUDIES[study].variants if v.label == label and v.model == model)
    for seed in range(seeds):
        config = variant.config(seed)
        metrics = _metrics(seed < extrapolating, stably and seed < extrapolating, every=config.eval.interval, final_loss=final_loss)
        write_run(root, config, metrics)


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
    text = beyond_section(read_studies(cells))
    body = text.splitlines()
    lines = {line[2:-1]: body[i + 1: i + 3] for i, line in enumerate(body) if line.startswith("- n28")}
    reshuffled = lines["n28 extrapolates more with reshuffled stream than with the paper's fixed file"]
    assert "**holds**" in reshuffled[0] and "p = 0.00794" in reshuffled[0]
    # Held-out accuracy over the last 10 evaluations: 100% for the five reshuffled seeds, 0% for the paper's.
    assert "**holds**" in reshuffled[1] and "mean 100.0% (n=5) vs paper 0.0% (n=5)" in reshuffled[1] and "p = 0.00794" in reshuffled[1]
    assert "**undecided at this many seeds" in lines["n28 extrapolates more with whole lines than with the paper's fixed file"][0]
    # 0/5 against 0/5: a gain of 43 points and more is still possible, so no "does not hold" yet.
    assert "**undecided at this many seeds (no difference in the expected direction so far; ruling out a 30-point gain needs more seeds" in lines["n28 extrapolates more with answer-only loss than with the paper's fixed file"][0]
    # During training: 2 of the 5 whole-line seeds get the held-out samples right in the last 10
    # of their 12 evaluations, none before.
    iters, mean = heldout_over_training(rows[2])
    assert iters == [250 * i for i in range(12)] and mean == [0.0, 0.0] + [0.4] * 10
    names = {p.name for p in beyond_figures(cells, tmp_path / "figures")}
    assert "beyond_heldout_over_training.png" in names
    assert (
        "| n28, reshuffled stream | 5,264 | 5 | 5/5 | 5/5 [48, 100] | 5/5 [48, 100] | 5/5 [48, 100] | 5/5 [48, 100] "
        "| 100.0% [100.0, 100.0] | 100.0% [100.0, 100.0] | 100.0% [100.0, 100.0] | 100.0% [100.0, 100.0] "
        "| 100.0% [100.0, 100.0] at 500 |"
    ) in text


def test_held_out_accuracy_at_either_best_and_the_stream_floors_reach_the_table_and_results_csv(tmp_path):
    from toobig.reporting.results_csv import write_results_csv
    from toobig.reporting.study_table import measures_table

    # The paper's combined score counts the held-out samples, so it picks iteration 250 (every
    # held-out sample right, 99% combined); the in-distribution score picks 500 (100% in
    # distribution, none of the held-out samples).
    metrics = [
        record("arithmetic", 0, 0.1, 0.1, loss=2.0),
        record("arithmetic", 250, 0.99, 0.99, heldout=40, loss=0.8),
        record("arithmetic", 500, 0.98, 0.98, heldout=0, loss=0.6),
    ]
    for label in ("paper", "whole lines"):
        variant = next(v for v in STUDIES["order-ablation"].variants if v.label == label and v.model == "n28")
        for seed in range(2):
            write_run(tmp_path, variant.config(seed), metrics)
    paper, lines = study_cells(STUDIES["order-ablation"], load_runs(tmp_path).cells())
    run = paper.runs[0]
    assert (run.heldout_at_paper_best, run.heldout_at_id_best, run.heldout_last) == (1.0, 0.0, 0.0)
    # The arithmetic corpus's floors (tests/test_floors.py computes them by brute force on small corpora).
    assert (run.floors.order_agnostic, run.floors.exact_stream) == (pytest.approx(0.76666, abs=1e-4), pytest.approx(0.53081, abs=1e-4))
    assert lines.runs[0].floors is None and lines.runs[0].heldout_at_paper_best == 1.0  # whole lines: no stream
    table = measures_table([paper, lines], "", ["paper", "lines"]).splitlines()
    cells = lambda line: [c.strip() for c in line.strip("|").split("|")]  # noqa: E731
    column = dict(zip(cells(table[0]), cells(table[2])))  # each header over its own value
    assert column["... at the in-distr. best"] == "0.0% [0.0, 0.0]"
    assert column["... at the paper's best"] == "100.0% [100.0, 100.0]"
    assert column["Final loss (floors: order-agnostic, exact stream)"] == "0.600 (0.767, 0.531)"
    assert column["Order learned"] == "71% [71, 71]" and len(cells(table[0])) == len(cells(table[2]))
    assert "| 0.0% [0.0, 0.0] | 100.0% [100.0, 100.0] | 100.0% [100.0, 100.0] at 250 |" in table[2]
    assert table[2].endswith("| 0.600 (0.767, 0.531) | 71% [71, 71] |")
    assert table[3].endswith("| — | — |")
    write_results_csv([paper.cell, lines.cell], tmp_path, tmp_path / "results.csv")
    rows = {(r["protocol"] == "{}", r["seed"]): r for r in csv.DictReader((tmp_path / "results.csv").open())}
    row = rows[(True, "0")]  # the paper's protocol
    assert (row["heldout_acc_at_paper_best"], row["heldout_acc_at_in_distribution_best"], row["final_loss"]) == ("1.0", "0.0", "0.6")
    assert float(row["floor_order_agnostic"]) == pytest.approx(run.floors.order_agnostic, abs=1e-6)
    assert float(row["floor_exact_stream"]) == pytest.approx(run.floors.exact_stream, abs=1e-6)
    assert rows[(False, "1")]["floor_order_agnostic"] == rows[(False, "1")]["order_fraction"] == ""  # whole lines


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
    assert "### Capacity curve" in text and "extrapolates stably (last 10 evaluations) in most seeds: n8 (3/3); learns more than half of the training file's line order on average: no width." in text
    names = {p.name for p in paths}
    assert {"beyond_extrapolation_vs_parameters.png", "beyond_order_fraction_vs_width.png", "beyond_heldout_vs_width.png"} <= names


def test_held_out_verdict_names_the_models_that_ran(tmp_path):
    _study_runs(tmp_path, "heldout-generality", "(3,8)", "n14", 5, stably=True)
    _study_runs(tmp_path, "heldout-generality", "(3,8)", "n28", 0, stably=True)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    # n56 has not run: the n14 group is compared with n28 alone, and named so.
    assert "- held out (3,8): n14 extrapolates more often than n28:" in text
    assert "n14 5/5 vs n28 0/5" in text
    assert "over every held-out set" not in text  # one set: nothing to pool


def test_held_out_sets_are_also_tested_at_once_each_within_itself(tmp_path):
    # Over both sets at once: every n14 seed extrapolates, no n28 seed; 2 of C(10, 5)^2 splits of
    # the seeds within the sets lie as far out. The sets one by one join the same family.
    for label in ("(3,8)", "(1,6)"):
        _study_runs(tmp_path, "heldout-generality", label, "n14", 5, stably=True)
        _study_runs(tmp_path, "heldout-generality", label, "n28", 0, stably=True)
    lines = beyond_section(read_studies(load_runs(tmp_path).cells())).splitlines()
    titles = [line for line in lines if line.startswith("- ") and "extrapolates more often" in line]
    assert titles == [
        "- over every held-out set at once: n14 extrapolates more often than n28:",
        "- held out (3,8): n14 extrapolates more often than n28:",
        "- held out (1,6): n14 extrapolates more often than n28:",
    ]
    counted, graded = lines[lines.index(titles[0]) + 1: lines.index(titles[0]) + 3]
    assert "**holds**" in counted and "n14 10/10 vs n28 0/10 over 2 held-out sets ((3,8) 5/5 vs 0/5; (1,6) 5/5 vs 0/5)" in counted
    assert f"two-sided p = {2 / 252 ** 2:.3g} (Holm-adjusted over the study's 3 hypotheses: {6 / 252 ** 2:.3g})" in counted
    assert "**holds**" in graded and "n14 against n28 over 2 held-out sets, mean held-out accuracy ((3,8) 100.0% vs 0.0%; (1,6) 100.0% vs 0.0%)" in graded
    set_by_set = lines[lines.index(titles[1]) + 1]
    assert "p = 0.00794 (Holm-adjusted over the study's 3 hypotheses: 0.0159)" in set_by_set


def test_capacity_verdicts_compare_n14_with_n28_and_the_widest_width(tmp_path):
    _study_runs(tmp_path, "capacity-curve", "n8", "n8", 0)  # a width beyond Table 2: the study ran
    _study_runs(tmp_path, "capacity-curve", "n14", "n14", 5, stably=True)
    # Final loss 0.55 against the floors 0.7667 and 0.5308: (0.7667 - 0.55) / 0.2359 = 92% of the order.
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, stably=True, final_loss=0.55)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "learns more than half of the training file's line order on average: n28 (92%)." in text
    # n28 is the widest width that ran: one comparison, not the same one twice.
    assert "falls from n14 to n28 (the paper's Table 2)" not in text
    assert "- Extrapolation falls from n14 to the widest width (n28):" in text
    _study_runs(tmp_path, "capacity-curve", "n56", "n56", 0, stably=True)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    lines = text.splitlines()
    for title in ("- Extrapolation falls from n14 to n28 (the paper's Table 2):", "- Extrapolation falls from n14 to the widest width (n56):"):
        counted = lines[lines.index(title) + 1]
        assert "**holds**" in counted and "n14 5/5 vs" in counted and " 0/5 (difference +100 points" in counted
        assert "p = 0.00794 (Holm-adjusted over the study's 3 hypotheses: 0.0159)" in counted
    # Three widths from n14 up: the trend over all of them joins the family, n8 stays out of it.
    # Exact: the five extrapolating seeds are all n14's, 2 of C(15, 5) subsets lie as far out.
    title = "- Extrapolation falls as the width grows from n14 to n56 (3 widths; every seed counts):"
    counted, graded = lines[lines.index(title) + 1: lines.index(title) + 3]
    assert "**holds**" in counted and "n14 5/5, n28 0/5, n56 0/5; Spearman's rho of width and extrapolating -0.87 over 15 seeds" in counted
    assert f"exact permutation test, two-sided p = {2 / 3003:.3g} (Holm-adjusted over the study's 3 hypotheses: {6 / 3003:.3g})" in counted
    assert "**holds**" in graded and "Means n14 100.0%, n28 0.0%, n56 0.0%" in graded and "exact permutation test" in graded


def test_the_trend_is_named_by_the_widths_it_reads(tmp_path):
    # Without n14 the trend starts at the narrowest width from n14 up that ran, and says so.
    for model in ("n8", "n16", "n20", "n24"):
        _study_runs(tmp_path, "capacity-curve", model, model, 0)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "- Extrapolation falls as the width grows from n16 to n24 (3 widths; every seed counts):" in text


def test_weight_decay_variants_meet_their_own_controls(tmp_path):
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, stably=True)
    _study_runs(tmp_path, "weight-decay", "wd 1.0, 30k", "n28", 5, stably=True)
    _study_runs(tmp_path, "weight-decay", "wd 1.0, 100k", "n56", 5, stably=True)  # no n56 100k control
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "- n28 extrapolates more with wd 1.0, 30k than with the paper's regularization:" in text
    assert "- n56 extrapolates more with wd 1.0, 100k than with the paper's regularization (the paper's runs are 30,000 iterations: the length differs too):" not in text  # no n56 paper runs
    _study_runs(tmp_path, "weight-decay", "wd 1.0, 100k", "n28", 5, stably=True)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "- n28 extrapolates more with wd 1.0, 100k than with the paper's regularization (the paper's runs are 30,000 iterations: the length differs too):" in text
    # With the 100k control, the 100k runs meet it: only weight decay differs.
    _study_runs(tmp_path, "weight-decay", "no wd, 100k", "n28", 2, stably=True)
    lines = beyond_section(read_studies(load_runs(tmp_path).cells())).splitlines()
    title = "- n28 extrapolates more with wd 1.0, 100k than without weight decay at as many iterations:"
    assert "wd 1.0, 100k 5/5 vs no wd, 100k 2/5" in lines[lines.index(title) + 1]
    title = "- n28 extrapolates more with 100,000 iterations than with 30,000 (no weight decay either way):"
    assert "no wd, 100k 2/5 vs paper 0/5" in lines[lines.index(title) + 1]


def test_extrapolation_among_the_seeds_that_learned_and_the_held_out_peak(tmp_path):
    variant = STUDIES["capacity-curve"].variants[2]  # n8
    learns_and_holds = _metrics(False, True)
    never_learns = [record("arithmetic", 250 * i, 0.5, 0.5, heldout=20 if i == 3 else 0) for i in range(12)]
    learns_then_loses = _metrics(False, False)
    learns_then_loses[4] = record("arithmetic", 1000, 0.4, 0.4, heldout=30)
    learns_then_loses[6] = record("arithmetic", 1500, 0.6, 0.6, heldout=30)
    learns_then_loses[-1] = record("arithmetic", 2750, 0.98, 0.98, heldout=0)  # all but the 40 held-out right
    for seed, metrics in enumerate((learns_and_holds, never_learns, learns_then_loses)):
        write_run(tmp_path, variant.config(seed), metrics)
    (vc,) = study_cells(STUDIES["capacity-curve"], load_runs(tmp_path).cells())
    assert (vc.count(), vc.learned(), vc.count_among_learned()) == (1, 2, 1)
    # Peaks: 40/40 first at iteration 500; 20/40 at 750; 30/40 first at 1,000 (again at 1,500).
    assert [(r.heldout_peak, r.heldout_peak_iter) for r in vc.runs] == [(1.0, 500), (0.5, 750), (0.75, 1000)]


def test_learning_rate_variants_meet_the_papers_n28(tmp_path):
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 1e-3", "n28", 5, stably=True)
    (row,) = study_cells(STUDIES["learning-rate"], load_runs(tmp_path).cells())
    assert row.variant.config(0).train.learning_rate == 1e-3 and row.variant.config(0).train.min_lr == pytest.approx(1e-5)
    lines = beyond_section(read_studies(load_runs(tmp_path).cells())).splitlines()
    title = "- n28 extrapolates more with lr 1e-3 than with the paper's 1e-2:"
    assert "**holds**" in lines[lines.index(title) + 1] and "lr 1e-3 5/5 vs paper 0/5" in lines[lines.index(title) + 1]


def test_results_csv_splits_the_held_out_accuracy_by_operation_when_the_prompts_are_named(tmp_path):

    variant = STUDIES["capacity-curve"].variants[2]  # n8
    metrics = _metrics(False, False)
    for r in metrics:  # the additions of the pair right, the subtractions wrong
        r["heldout_correct"], r["heldout_by_prompt"] = 20, {"<5+7=": 10, "<7+5=": 10, "<5-7=": 0, "<7-5=": 0}
    write_run(tmp_path, variant.config(0), metrics)
    write_run(tmp_path, variant.config(1), _metrics(False, False))  # trained before the names
    write_report(tmp_path, tmp_path / "report")
    rows = {r["seed"]: r for r in csv.DictReader((tmp_path / "report" / "results.csv").open())}
    assert (rows["0"]["heldout_add_acc_last10"], rows["0"]["heldout_sub_acc_last10"]) == ("1.0", "0.0")
    assert (rows["1"]["heldout_add_acc_last10"], rows["1"]["heldout_sub_acc_last10"]) == ("", "")


def test_missing_runs_count_each_variant_up_to_the_seeds_asked(tmp_path):
    # The paper's protocol beyond the plan (Table 2's runs) does not make up for a protocol short of it.
    study = STUDIES["order-ablation"]
    planned, variants = study.seeds, len(study.variants)
    _study_runs(tmp_path, "order-ablation", "paper", "n28", 0, seeds=planned + 2)
    _study_runs(tmp_path, "order-ablation", "whole lines", "n28", 0, seeds=3)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    section = text[text.index("### Order ablation"):]
    assert f"Seeds asked for: {planned} per variant; complete runs missing: {planned * variants - planned - 3}." in section


def test_a_study_read_before_its_planned_seeds_says_its_verdicts_are_interim(tmp_path):
    # The learning-rate study plans 5 seeds of each rate; its control is the capacity curve's n28,
    # planned at 10. With lr 3e-3 not yet run and the control at 5, every verdict is interim,
    # and the note names both: a variant with no runs counts as 0.
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 1e-3", "n28", 5, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 3e-3", "n28", 2, seeds=2, stably=True)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    section = text[text.index("### Learning rate"):].splitlines()
    note = section.index(
        "Interim (complete seeds of those planned: n28, lr 3e-3 2/5; n28, paper 5/10): every verdict below, "
        "'holds' included, can still change as those seeds come in; Holm's adjustment ties the study's 2 hypotheses together."
    )
    assert section[note - 2].startswith("Seeds asked for: 5 per variant") and section[note + 2].startswith("- n28 extrapolates")
    assert "**holds**" in section[note + 6]  # lr 1e-3 5/5 against 0/5: at its plan, still interim through the family
    # With every configuration at its plan, no note.
    _study_runs(tmp_path, "learning-rate", "lr 3e-3", "n28", 2, stably=True)
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, seeds=10, stably=True)
    assert "Interim (" not in beyond_section(read_studies(load_runs(tmp_path).cells()))


def test_the_capacity_curves_note_names_every_width_its_hypotheses_read_short_of_its_plan(tmp_path):
    # From n14 up, a width not yet run counts as 0 (it would join the trend); below n14 no
    # hypothesis reads a width, so n4-n12 stay out of the note however few their seeds.
    _study_runs(tmp_path, "capacity-curve", "n8", "n8", 0, seeds=3)
    _study_runs(tmp_path, "capacity-curve", "n14", "n14", 5, stably=True)
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, seeds=10, stably=True)
    _study_runs(tmp_path, "capacity-curve", "n56", "n56", 0, seeds=3, stably=True)
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    widths = "n14 5/10; n16 0/10; n20 0/10; n24 0/10; n40 0/10; n56 3/10"
    assert f"Interim (complete seeds of those planned: {widths}): every verdict below" in text
    assert "ties the study's 3 hypotheses together." in text


def test_weight_decay_and_learning_rate_get_their_own_figures(tmp_path):
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0)
    names = {p.name for p in beyond_figures(load_runs(tmp_path).cells(), tmp_path / "figures")}
    assert not names & {"beyond_weight_decay_over_training.png", "beyond_learning_rate_over_training.png"}
    _study_runs(tmp_path, "weight-decay", "wd 1.0, 30k", "n28", 0, seeds=2)
    _study_runs(tmp_path, "learning-rate", "lr 3e-3", "n28", 0, seeds=2)
    names = {p.name for p in beyond_figures(load_runs(tmp_path).cells(), tmp_path / "figures")}
    assert {"beyond_weight_decay_over_training.png", "beyond_learning_rate_over_training.png"} <= names


def test_each_study_shows_its_own_figures_in_its_section(tmp_path):
    # The order ablation and the learning rate only: the extrapolation figure, drawn for the
    # capacity curve first, goes to the order ablation's section, the one study of its that ran.
    _study_runs(tmp_path, "order-ablation", "paper", "n28", 0, stably=True)
    _study_runs(tmp_path, "order-ablation", "whole lines", "n28", 2, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 1e-3", "n28", 0, stably=True)
    write_report(tmp_path, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    sections = text.split("\n### ")
    ablation = next(s for s in sections if s.startswith("Order ablation"))
    learning_rate = next(s for s in sections if s.startswith("Learning rate"))
    assert "](figures/beyond_heldout_over_training.png)" in ablation
    assert "](figures/beyond_extrapolation_vs_parameters.png)" in ablation
    assert "](figures/beyond_learning_rate_over_training.png)" in learning_rate
    assert "beyond_learning_rate" not in ablation and "beyond_heldout_over_training" not in learning_rate
    assert text.count("beyond_extrapolation_vs_parameters.png") == 1 and "Other figures of the studies" not in text
    # The paper's figures keep their own section, without the studies'.
    paper = text.split("\n## Figures")[1]
    assert "beyond_" not in paper and "fig1_arithmetic.png" in paper
    # A figure none of whose studies has a section is listed after the sections.
    cells = load_runs(tmp_path).cells()
    figures = [tmp_path / "report" / "figures" / "beyond_order_fraction_vs_width.png"]
    assert beyond_section(read_studies(cells), figures, tmp_path / "report").endswith(
        "### Other figures of the studies\n\n![beyond_order_fraction_vs_width](figures/beyond_order_fraction_vs_width.png)"
    )


def test_every_study_figure_has_a_section_to_go_to_and_answers_come_last(tmp_path):
    for study, label, model in (
        ("capacity-curve", "n8", "n8"), ("order-ablation", "whole lines", "n28"), ("heldout-generality", "(3,8)", "n14"),
        ("weight-decay", "wd 1.0, 30k", "n28"), ("learning-rate", "lr 1e-3", "n28"),
    ):
        _study_runs(tmp_path, study, label, model, 1, seeds=2, stably=True)
    answered = next(v for v in STUDIES["learning-rate"].variants if v.label == "lr 1e-3")
    metrics = _metrics(True, True)
    write_run(tmp_path, answered.config(7), [{**r, "heldout_answers": {"<5+7=": {"12>": 10}}} for r in metrics])
    paths = beyond_figures(load_runs(tmp_path).cells(), tmp_path / "figures")
    names = [p.name for p in paths]
    assert sorted(names) == [
        "beyond_answers_over_training_learning-rate.png", "beyond_extrapolation_vs_parameters.png", "beyond_heldout_grid.png",
        "beyond_heldout_over_training.png", "beyond_heldout_vs_order_fraction.png", "beyond_heldout_vs_width.png",
        "beyond_learning_rate_over_training.png",
        "beyond_order_fraction_vs_width.png", "beyond_weight_decay_over_training.png",
    ]
    assert all(studies_showing(name) for name in names)
    assert names.index("beyond_answers_over_training_learning-rate.png") > names.index("beyond_learning_rate_over_training.png")


def test_each_width_gets_a_panel_of_its_seeds_order_learned_against_extrapolation(tmp_path):
    # n14: one seed extrapolates stably at 0% of the order (final loss at the order-agnostic floor
    # 0.7667), one does not. n28: every non-held-out sample right (98% of add and sub with the 40
    # held-out ones wrong), held-out 0%, at 92% of the order (final loss 0.55; floors 0.7667 and 0.5308).
    _study_runs(tmp_path, "capacity-curve", "n14", "n14", 1, seeds=2, stably=True, final_loss=0.7667)
    n28 = next(v for v in STUDIES["capacity-curve"].variants if v.model == "n28")
    for seed in range(3):
        write_run(tmp_path, n28.config(seed), [record("arithmetic", 250 * i, 0.98, 0.98, loss=0.55 + (11 - i) / 11) for i in range(12)])
    _study_runs(tmp_path, "capacity-curve", "n8", "n8", 0, seeds=1)  # a width beyond Table 2: the study ran
    n8 = next(v for v in STUDIES["capacity-curve"].variants if v.model == "n8")
    write_run(tmp_path, n8.config(1), _metrics(False, False)[:3], status="running")  # incomplete: not drawn
    rows = study_cells(STUDIES["capacity-curve"], load_runs(tmp_path).cells())
    fig = seeds_figure(rows)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["n8 (1 seed)", "n14 (2 seeds)", "n28 (3 seeds)"]
    drawn = drawn[1:]

    def points(ax, kind):
        return sorted(tuple(round(float(v), 2) for v in xy) for c in ax.collections if c.get_gid() == kind for xy in c.get_offsets())

    # Filled: reached 100% in distribution. _metrics counts the held-out samples inside add/sub at
    # 100%, so its seed that gets them wrong has 40 others wrong too and never learns the task.
    assert points(drawn[0], "learned") == [(0.0, 1.0)] and points(drawn[0], "never learned") == [(0.0, 0.0)]
    assert points(drawn[1], "learned") == [(0.92, 0.0)] * 3 and points(drawn[1], "never learned") == []
    # Seeds a hundredth apart are not spread across the panel: it spans at least 0.2 of the order.
    low, high = drawn[1].get_xlim()
    assert high - low >= 0.2 and low < 0.92 < high
    names = {p.name for p in beyond_figures(load_runs(tmp_path).cells(), tmp_path / "figures")}
    assert "beyond_heldout_vs_order_fraction.png" in names and studies_showing("beyond_heldout_vs_order_fraction.png") == ("capacity-curve",)
    assert seeds_figure([]) is None


def _bullet(report: str, row: dict[str, str]) -> str:
    """The report's line of one verdict: under its hypothesis's bullet, counted first, then graded."""
    lines = report.splitlines()
    at = lines.index(f"- {row['hypothesis']}:")
    return lines[at + (1 if row["reading"] == "counted" else 2)]


def test_verdicts_csv_holds_the_reports_verdicts_and_says_which_are_interim(tmp_path, capsys):
    # The order ablation at 5 of its planned 10 seeds: interim, and the note names only n28's and
    # n56's protocols, which its hypotheses read (not n14's, short as they are).
    _study_runs(tmp_path, "order-ablation", "paper", "n28", 0, stably=True)
    _study_runs(tmp_path, "order-ablation", "reshuffled stream", "n28", 5, stably=True)
    _study_runs(tmp_path, "order-ablation", "whole lines", "n28", 0, stably=True)
    write_report(tmp_path, tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    rows = list(csv.DictReader((tmp_path / "report" / "verdicts.csv").open()))
    reshuffled, lines = (f"n28 extrapolates more with {label} than with the paper's fixed file" for label in ("reshuffled stream", "whole lines"))
    assert [(r["study"], r["key"], r["hypothesis"], r["reading"], r["outcome"]) for r in rows] == [
        ("order-ablation", "n28: reshuffled stream>paper", reshuffled, "counted", "holds"),
        ("order-ablation", "n28: reshuffled stream>paper", reshuffled, "graded", "holds"),
        ("order-ablation", "n28: whole lines>paper", lines, "counted", "undecided"),
        ("order-ablation", "n28: whole lines>paper", lines, "graded", "undecided"),
    ]
    for r in rows:  # each the words and p-values of its own line in the report
        bullet = _bullet(report, r)
        assert f"**{r['verdict']}**" in bullet and r["interim"] == "True" and r["family"] == "2"
        assert f"p = {float(r['p']):.3g} (Holm-adjusted over the study's 2 hypotheses: {float(r['p_holm']):.3g})" in bullet
    assert float(rows[0]["p"]) == pytest.approx(2 / 252) and float(rows[0]["p_holm"]) == pytest.approx(4 / 252)  # 2 of C(10, 5)
    note = next(line for line in report.splitlines() if line.startswith("Interim (") and "n28, paper 5/10" in line)
    assert "n14" not in note and "n56, whole lines 0/10" in note
    # The command line names it among what it wrote.
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(tmp_path / "report" / "verdicts.csv")


def test_a_study_at_its_planned_seeds_is_not_interim_in_verdicts_csv(tmp_path):
    # The learning-rate study at its 5 seeds a rate, its control (the paper's n28) at the capacity
    # curve's 10: no verdict is interim (the capacity curve, one width, has none).
    _study_runs(tmp_path, "capacity-curve", "n28", "n28", 0, seeds=10, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 1e-3", "n28", 5, stably=True)
    _study_runs(tmp_path, "learning-rate", "lr 3e-3", "n28", 0, stably=True)
    write_report(tmp_path, tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    rows = list(csv.DictReader((tmp_path / "report" / "verdicts.csv").open()))
    assert [(r["study"], r["key"], r["reading"], r["outcome"], r["interim"]) for r in rows] == [  # the study's order
        ("learning-rate", "n28: lr 3e-3>paper", "counted", "undecided", "False"), ("learning-rate", "n28: lr 3e-3>paper", "graded", "undecided", "False"),
        ("learning-rate", "n28: lr 1e-3>paper", "counted", "holds", "False"), ("learning-rate", "n28: lr 1e-3>paper", "graded", "holds", "False"),
    ]
    for r in rows:
        assert f"**{r['verdict']}**" in _bullet(report, r)
    assert float(rows[2]["p"]) == pytest.approx(1 / 3003)  # 5/5 against 0/10: 1 of C(15, 5) tables


def test_verdicts_csv_without_a_verdict_is_its_header(tmp_path):
    # The file is always there for scripts, and an earlier report's verdicts never outlive it.
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "verdicts.csv").write_text("study\nold\n")
    write_run(tmp_path, config_for("arithmetic", "n14", "controlled", seed=0), _metrics(False, False))  # Table 5's, no study's
    written = write_report(tmp_path, tmp_path / "report")
    assert (tmp_path / "report" / "verdicts.csv").read_text().splitlines() == [
        "study,key,hypothesis,reading,outcome,interim,p,p_holm,family,verdict"
    ]
    assert tmp_path / "report" / "verdicts.csv" in written


def test_no_text_of_the_reports_keeps_an_unfilled_placeholder():
    # A string split over lines keeps its f on one part only: "{NAME}" would then reach the report.
    import importlib
    import pkgutil
    import re

    import toobig.reporting

    for info in pkgutil.iter_modules(toobig.reporting.__path__):
        module = importlib.import_module(f"toobig.reporting.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, str):
                assert not re.search(r"\{[A-Z_][A-Z0-9_]*\}", value), f"toobig.reporting.{info.name}.{name}: {value[:80]}"
