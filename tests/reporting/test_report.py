"""write_report on synthetic run directories: tables, findings, sections, results.csv, figures."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import replace

import matplotlib
import pytest

from toobig.reporting import write_report
from toobig.reporting.findings import AGREES, DISAGREES, compare_value
from toobig.reporting.paper import PaperValue
from toobig.reporting.stats import estimate
from toobig.studies import STUDIES

from .synthetic import arithmetic_seed, config_for, record, short_grokking_config, write_extrapolation, write_run

T_975_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom
KNOWN_T4 = 2.776445105  # and 4 degrees of freedom


def table_rows(report: str, number: int) -> dict[str, list[str]]:
    """The rows of report Table <number>, keyed by their Model cell."""
    section = report.split(f"### Table {number}.")[1].split("###")[0].split("## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in rows]
    return {c[0]: c for c in cells}


def ci_text(values: list[float]) -> str:
    """Independently computed 'mean% [low, high]' with the interval clipped to [0, 100]."""
    mean = sum(values) / len(values)
    half = T_975_DF2 * statistics.stdev(values) / math.sqrt(len(values))
    return f"{100 * mean:.1f}% [{100 * max(0.0, mean - half):.1f}, {100 * min(1.0, mean + half):.1f}]"


ADD, SUB, HELD = [1.0, 0.98, 0.99], [0.90, 0.92, 0.94], [40, 0, 20]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One set of runs and one report for the read-only tests below (figures take a while to draw)."""
    base = tmp_path_factory.mktemp("report")
    root = base / "runs"
    for seed, (add, sub, held) in enumerate(zip(ADD, SUB, HELD), start=1):
        arithmetic_seed(root, seed, add, sub, held)
    arithmetic_seed(root, 1, 0.5, 0.5, 0, max_iters=1000)  # same label, shortened: another digest
    for seed in (1, 2):
        write_run(root, config_for("capitals", "n28", "paper", seed), [record("capitals", 0), record("capitals", 250, facts=1.0)])
    for seed, facts in ((1, 0.5), (2, 0.6)):
        metrics = [record("combined", 0), record("combined", 250, 0.98, 0.98, facts)]
        write_run(root, config_for("combined", "n56", "controlled", seed), metrics, status="running" if seed == 2 else "complete")
    paths = write_report(root, base / "out")
    return root, base / "out", paths


@pytest.fixture
def runs(built):
    return built[0]


@pytest.fixture
def report(built):
    _, out, paths = built
    return paths, (out / "report.md").read_text()


def test_write_report_returns_what_it_wrote(built):
    _, out, paths = built
    assert paths[:2] == [out / "report.md", out / "results.csv"]
    assert all(p.is_file() for p in paths)


def test_table_cells_are_mean_and_t_interval_beside_the_paper(report):
    _, text = report
    rows = table_rows(text, 2)
    n14 = rows["n14 (train.max_iters=30,000)"]
    assert n14[1] == "1,456 (paper 1.46k)" and n14[2] == "3"
    assert n14[3] == ci_text(ADD) == "99.0% [96.5, 100.0]"
    assert n14[4] == "100.0%"
    assert n14[5] == ci_text(SUB) == "92.0% [87.0, 97.0]"
    assert n14[6] == "100.0%"
    # Seed 1 gets all 40 held-out samples right with subtraction at 90%: extrapolates, not perfect.
    assert n14[7] == "20.0/40; 1 of 3 seeds extrapolate, 0 with add and sub 100%"
    assert n14[8] == "40/40"


def test_a_single_seed_shows_its_value_with_n1(report):
    _, text = report
    short = table_rows(text, 2)["n14 (train.max_iters=1,000)"]
    assert short[2] == "1; 1,000 iterations" and short[3] == "50.0% (n=1)" and short[7] == "0/40; 0 of 1 seeds extrapolate, 0 with add and sub 100%"


def test_missing_models_show_not_run_with_the_paper_value(report):
    _, text = report
    rows = table_rows(text, 2)
    for model in ("n28", "n56", "mlt"):
        assert rows[model][3] == "not run" and rows[model][4] == "98%" and rows[model][8] == "0/40"
    assert table_rows(text, 3)["n14"][3:] == ["not run", "8.2%"]
    # A table none of whose configurations ran is named once, not printed full of "not run".
    assert "### Table 4." not in text and "Not run: Tables 4, 5, 6." in text


def test_facts_and_combined_tables(report):
    _, text = report
    assert table_rows(text, 3)["n28"][3:] == ["100.0% [100.0, 100.0]", "100.0%"]
    n56 = table_rows(text, 7)["n56"]
    assert n56[2] == "2 (1 unfinished)"
    assert n56[7] == ci_text_two([0.5, 0.6])  # facts
    assert n56[8] == "100.0%"
    assert n56[11] == "0.0/40; 0 of 2 seeds extrapolate, 0 with add and sub 100%"


def ci_text_two(values: list[float]) -> str:
    est = estimate(values)
    half = 12.706204736 * statistics.stdev(values) / math.sqrt(2)
    assert est.high == pytest.approx(est.mean + half)
    return f"{100 * est.mean:.1f}% [{100 * max(0.0, est.mean - half):.1f}, {100 * min(1.0, est.mean + half):.1f}]"


def test_findings_say_where_we_agree_and_disagree(report):
    _, text = report
    findings = text.split("## Agreement with the paper")[1].split("\n## ")[0]
    assert "n14 (train.max_iters=30,000) extrapolates to (5,7) in 1/3 seeds; the paper's single run did (40/40): partly agrees" in findings
    assert "n28 facts 100% in 2/2 seeds; the paper 100.0%: agrees" in findings
    assert "n56 facts 100% in 0/2 seeds; the paper 100.0%: disagrees" in findings
    assert "n56 extrapolates to (5,7) in 0/2 seeds; the paper's single run did not (0/40): agrees\n" in findings
    # combined tables compare the arithmetic columns too (Table 7 n56: 98% printed, ours 98.0% in both seeds)
    assert "Table 7 (combined, controlled):\n- n56 extrapolates to (5,7) in 0/2 seeds" in findings
    assert "- n56 addition 98.0% [98.0, 98.0] (one seed: 98.0%..98.0%) vs the paper's 98%: agrees\n- n56 subtraction 98.0%" in findings
    assert "- n14 (train.max_iters=1,000) addition 100% in 0/1 seeds; the paper 100.0%: undecided (one seed); uninformative: our runs have 1,000 iterations, the paper's 30,000\n" in findings
    assert findings.lstrip().startswith("5 agree, 2 partly agree, 2 disagree, 0 undecided (one seed of ours differs")
    assert "3 uninformative (our seeds spread over more than 50.0% of the scale" in findings


def test_an_agreement_of_a_wide_spread_is_uninformative():
    from toobig.reporting.findings import UNINFORMATIVE, accuracy_verdict

    assert accuracy_verdict(estimate([0.20, 0.90]), PaperValue.parse("50%")) == UNINFORMATIVE
    assert accuracy_verdict(estimate([0.96, 0.97, 0.98, 0.98, 0.99]), PaperValue.parse("98%")) == AGREES  # narrow enough
    assert accuracy_verdict(estimate([0.20, 0.90]), PaperValue.parse("50%")) != accuracy_verdict(estimate([0.49, 0.51]), PaperValue.parse("50%"))


def test_value_comparison_uses_the_printed_rounding():
    assert compare_value(estimate([0.98]), PaperValue.parse("98%")) == AGREES
    assert compare_value(estimate([0.978]), PaperValue.parse("98%")) == AGREES
    assert compare_value(estimate([0.97]), PaperValue.parse("98%")) == DISAGREES
    assert compare_value(estimate([0.90, 0.95]), PaperValue.parse("98%")) == AGREES  # wide interval reaches it
    assert compare_value(estimate([0.30, 0.31, 0.32]), PaperValue.parse("39.4%")) == DISAGREES
    # The paper's single run against the spread of our seeds, not against our mean's interval:
    seeds = [0.90, 0.92, 0.94, 0.96, 0.98]
    mean_half = KNOWN_T4 * statistics.stdev(seeds) / math.sqrt(5)
    one_seed_half = KNOWN_T4 * statistics.stdev(seeds) * math.sqrt(1 + 1 / 5)
    assert 0.94 + mean_half < 0.9835 < 0.94 + one_seed_half  # outside the mean's interval, inside one seed's
    assert compare_value(estimate(seeds), PaperValue.parse("98.4%")) == AGREES
    assert compare_value(estimate(seeds), PaperValue.parse("80%")) == DISAGREES  # below one seed's interval


def test_results_csv_has_one_row_per_seed(report, runs):
    paths, _ = report
    with paths[1].open() as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = reader.fieldnames
    for column in ("experiment", "paper_table", "task", "model", "condition", "seed", "add_acc", "sub_acc", "facts_acc",
                   "combined", "best_iter", "extrapolated", "parameters", "config_digest", "max_iters", "total_s"):
        assert column in columns
    assert len(rows) == 3 + 1 + 2 + 2
    n14 = [r for r in rows if r["model"] == "n14"]
    assert len({r["config_digest"] for r in n14}) == 2
    assert sorted(r["max_iters"] for r in n14) == ["1000", "30000", "30000", "30000"]
    seed2 = next(r for r in n14 if r["seed"] == "2" and r["max_iters"] == "30000")
    assert (seed2["experiment"], seed2["paper_table"], seed2["condition"]) == ("table2", "2", "paper")
    assert float(seed2["add_acc"]) == 0.98 and float(seed2["sub_acc"]) == 0.92 and seed2["best_iter"] == "500"
    assert seed2["extrapolated"] == "False" and seed2["facts_acc"] == "" and seed2["parameters"] == "1456"
    assert seed2["total_s"] == "12.0" and (runs / seed2["path"] / "summary.json").is_file()
    facts = next(r for r in rows if r["task"] == "capitals")
    assert facts["facts_acc"] == "1.0" and facts["add_acc"] == "" and facts["paper_table"] == "3"


def test_figures_are_pngs_for_the_experiments_with_data_only(built, report):
    _, out, _ = built
    paths, text = report
    assert paths[2].name == "verdicts.csv"  # then the figures
    figures = sorted(p.name for p in paths[3:])
    assert figures == ["fig1_arithmetic.png", "fig2_facts.png", "fig6_combined_controlled.png"]
    for path in paths[3:]:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert sorted(p.name for p in (out / "figures").iterdir()) == figures
    assert "](figures/fig1_arithmetic.png)" in text


def test_figures_leave_no_global_matplotlib_state(runs, tmp_path):
    import sys

    backend = matplotlib.get_backend()
    write_report(runs, tmp_path / "again")
    assert matplotlib.get_backend() == backend
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


def test_empty_runs_dir_gives_no_tables_and_no_figures(tmp_path):
    (tmp_path / "runs").mkdir()
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    text = paths[0].read_text()
    assert len(paths) == 3 and not (tmp_path / "out" / "figures").exists()
    assert "### Table" not in text and "No run of Tables 2-7's configurations was found." in text
    assert paths[1].read_text().count("\n") == paths[2].read_text().count("\n") == 1  # results and verdicts: headers only


def test_grokking_out_of_range_and_capacity_sections(tmp_path):
    root = tmp_path / "runs"
    for seed, sub in ((1, 195), (2, 150)):
        write_extrapolation(arithmetic_seed(root, seed, 1.0, 1.0, 40), 0, sub)
    write_extrapolation(arithmetic_seed(root, 1, 1.0, 1.0, 40, regularization="controlled"), 0, 90)
    for width, learners in ((4, 0), (8, 1)):
        for seed in (1, 2):
            config = config_for("arithmetic", seed=seed, max_iters=5000)
            config = replace(config, model_name=f"n{width}", model=replace(config.model, n_embd=width))
            acc = 0.98 if seed <= learners else 0.6
            write_run(root, config, [record("arithmetic", 0), record("arithmetic", 250, acc, acc)])
    # A protocol study's n14 (whole-line batches) is not the capacity search's paper condition.
    lines_n14 = STUDIES["order-ablation"].variants[3].config(seed=1, max_iters=5000)
    write_run(root, lines_n14, [record("arithmetic", 0), record("arithmetic", 250, 0.98, 0.98, heldout=40)])
    points = ((0, 3.0), (1, 2.0), (10, 0.9), (100, 0.7), (1000, 0.52), (10_000, 0.55))
    grok = [record("arithmetic", i, 0.98, 0.98, loss=loss) for i, loss in points]
    write_run(root, short_grokking_config(max_iters=10_000, log_points=5), grok, parameters=10_628_352)
    paths = write_report(root, tmp_path / "out")
    text = paths[0].read_text()

    grokking = text.split("## Grokking (Appendix B)")[1].split("\n## ")[0]
    assert "| 1 | paper | 10,000 / 10,000 | 0.5200 | 0/40 | 98.0% | 98.0% | no |" in grokking
    assert "| paper | paper | 1,500,000 | 0.5306 | 0/40 |" in grokking
    assert "0 of 1 seeds ever got every held-out (5,7) sample right" in grokking

    oor = text.split("## Out-of-range operands (Section 5.1)")[1].split("\n## ")[0]
    sub = [195 / 3000, 150 / 3000]
    half = 12.706204736 * statistics.stdev(sub) / math.sqrt(2)
    mean = sum(sub) / 2
    expected_sub = f"{100 * mean:.2f}% [{100 * max(0.0, mean - half):.2f}, {100 * min(1.0, mean + half):.2f}]"
    assert f"| n14 | arithmetic | paper | 2 of 2 | 0..19 beyond 0..9 | best | 0.00% [0.00, 0.00] | 0% | {expected_sub} | 4.75% |" in oor
    # The paper's figures are its paper-regularized n14's: other conditions get no paper value.
    assert "| n14 | arithmetic | controlled | 1 of 1 | 0..19 beyond 0..9 | best | 0.00% (n=1) | — | 3.00% (n=1) | — |" in oor

    capacity = text.split("## Capacity search (Section 3.2)")[1].split("\n## ")[0]
    lines = [line for line in capacity.splitlines() if line.startswith("| ") and " | paper | " in line]
    assert "| 14 | controlled | " in capacity  # the controlled n14 stands in its own condition
    assert [line.split(" | ")[0] for line in lines] == ["| 4", "| 8", "| 14"]
    assert lines[0].endswith("| 2 | 0 of 2 | 0 of 2 |")
    assert lines[1].endswith("| 2 | 1 of 2 | 0 of 2 |")
    assert lines[2].endswith("| 2 | 2 of 2 | 2 of 2 |")
    assert "the smallest model with a seed that learns the task is n8" in capacity
    assert "the smallest whose every seed learns it is n14" in capacity

    assert "fig7_grokking.png" in {p.name for p in paths}
    # The grokking and capacity runs stay out of Table 2.
    assert set(table_rows(text, 2)) == {"n14", "n28", "n56", "mlt"}


def test_unreadable_runs_are_listed_not_dropped(tmp_path):
    broken = arithmetic_seed(tmp_path / "runs", 1, 1.0, 1.0, 40)
    broken.summary_path.write_text("{oops")
    text = write_report(tmp_path / "runs", tmp_path / "out")[0].read_text()
    assert "## Not included" in text and str(broken.path) in text


def test_a_grokking_run_does_not_rename_table_2s_mlt_row(tmp_path):
    root = tmp_path / "runs"
    arithmetic_seed(root, 1, 0.98, 0.98, 0, model="mlt")
    write_run(root, short_grokking_config(max_iters=1000, log_points=4), [record("arithmetic", 0), record("arithmetic", 1, 0.98, 0.98)])
    text = write_report(root, tmp_path / "out")[0].read_text()
    mlt = table_rows(text, 2)["mlt"]
    assert mlt[2] == "1" and mlt[3] == "98.0% (n=1)"


def test_a_single_seed_that_differs_is_undecided_not_a_disagreement(tmp_path):
    root = tmp_path / "runs"
    write_run(root, config_for("capitals", "n14", "paper", 1), [record("capitals", 0), record("capitals", 250, facts=0.10)])
    for seed, facts in ((1, 0.10), (2, 0.11)):
        write_run(root, config_for("capitals", "n14", "controlled", seed), [record("capitals", 0), record("capitals", 250, facts=facts)])
    text = write_report(root, tmp_path / "out")[0].read_text()
    assert "- n14 facts 10.0% (n=1) vs the paper's 8.2%: undecided (one seed), ours higher" in text
    # Two seeds at 10% and 11%: mean 10.5% +- 12.706 * 0.00707 / sqrt(2) = [4.1, 16.9]; one more seed
    # falls in 10.5% +- 12.706 * 0.00707 * sqrt(1.5) = -0.5%..21.5% (shown clipped at 0), holding 12.4%.
    assert "- n14 facts 10.5% [4.1, 16.9] (one seed: 0.0%..21.5%) vs the paper's 12.4%: agrees" in text


def test_results_csv_has_a_column_per_setting_a_run_changes_from_its_preset(tmp_path):
    """A sweep's swept values are columns (each row its own value), not only a digest."""
    import csv
    from dataclasses import replace

    from .synthetic import config_for, record, write_run

    for seed, lr in ((1, 3e-3), (2, 1e-2)):
        base = config_for("arithmetic", seed=seed)
        write_run(tmp_path / "runs", replace(base, train=replace(base.train, learning_rate=lr)),
                  [record("arithmetic", 0), record("arithmetic", 250, 0.5, 0.5)])
    (_, results, *_) = write_report(tmp_path / "runs", tmp_path / "out")
    rows = list(csv.DictReader(results.open()))
    assert list(rows[0])[-1] == "train.learning_rate"  # only the key that moved from the preset
    assert sorted(float(r["train.learning_rate"]) for r in rows) == [3e-3, 1e-2]


def test_other_runs_name_every_setting_that_leaves_the_preset_even_alone_under_their_label(tmp_path):
    """A run of no study, alone under its label: its protocol knobs are named, its length is a
    column and a schedule scaled to it is the preset's; a schedule left at the preset's 30,000
    iterations while the run is shorter is named."""
    import toobig

    knobs = toobig.config(iters=300, sampling="reshuffle", selection="in_distribution", held_out_random=2, seed=1)
    unscaled = toobig.config("arithmetic", "n28", max_iters=300, learning_rate=3e-3, seed=1)
    runs = [write_run(tmp_path / "runs", config, [record("arithmetic", 0), record("arithmetic", 250, 0.5, 0.5)])
            for config in (knobs, replace(knobs, seed=2), unscaled)]
    summary = runs[1].read_summary()
    runs[1].write_summary({**summary, "held_out": [[0, 1], [2, 3]]})  # what the trainer recorded wins
    write_report(tmp_path / "runs", tmp_path / "out")
    other = (tmp_path / "out" / "report.md").read_text().split("## Other runs")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in other.splitlines() if line.startswith("| arithmetic")}
    assert set(rows) == {"arithmetic-n14-paper", "arithmetic-n28-paper"}
    n14 = rows["arithmetic-n14-paper"].split(" | ")[1]
    assert n14 == 'eval.selection="in_distribution", task.held_out_random=2, train.sampling="reshuffle"'
    n28 = rows["arithmetic-n28-paper"].split(" | ")[1]
    assert n28 == "train.learning_rate=0.003, train.lr_decay_iters=25,000, train.warmup_iters=2,000"
    # results.csv files them as the report does: of no study ("beyond" is a study's variant).
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {r["experiment"] for r in rows} == {"other"}
    # A random held-out set is named by the pairs its run drew, as a fixed set is.
    from toobig.tasks import random_held_out

    held_out = {(r["model"], r["seed"]): json.loads(r["held_out"]) for r in rows}
    assert held_out == {("n14", "1"): [list(p) for p in random_held_out(9, 2, 1)], ("n14", "2"): [[0, 1], [2, 3]], ("n28", "1"): [[5, 7]]}
