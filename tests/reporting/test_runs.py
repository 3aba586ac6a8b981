"""Reading run directories: discovery at any depth, grouping by digest, classification, learning."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

from toobig.presets import grokking_config
from toobig.reporting.runs import arithmetic_perfect, config_differences, in_distribution_perfect, learned_task, load_runs, perfect_arithmetic

from .synthetic import arithmetic_seed, config_for, record, write_extrapolation, write_run


def write_report_text(root):
    from toobig.reporting import write_report

    write_report(root, root / "report")
    return (root / "report" / "report.md").read_text()


def test_runs_are_found_at_any_depth_and_broken_ones_are_listed(tmp_path):
    arithmetic_seed(tmp_path, 1, 1.0, 1.0, 40)
    arithmetic_seed(tmp_path, 2, 0.98, 0.98, 0, subdir="gpu/batch1")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "not-a-run" / "summary.json").write_text("{}")  # no config.toml beside it
    broken = arithmetic_seed(tmp_path, 3, 0.98, 0.98, 0)
    broken.summary_path.write_text("{not json")
    collection = load_runs(tmp_path)
    assert sorted(r.seed for r in collection.runs) == [1, 2]
    assert [p for p, _ in collection.skipped] == [broken.path]
    assert "summary.json" in collection.skipped[0][1]


def test_a_label_with_two_digests_stays_two_cells(tmp_path):
    for seed in (1, 2):
        arithmetic_seed(tmp_path, seed, 1.0, 1.0, 40)
    arithmetic_seed(tmp_path, 1, 0.9, 0.9, 0, max_iters=1000)
    cells = load_runs(tmp_path).cells()
    assert len(cells) == 2 and {c.label for c in cells} == {"arithmetic-n14-paper"}
    assert sorted(len(c.runs) for c in cells) == [1, 2]
    diff = config_differences(cells)
    short = next(c for c in cells if c.max_iters == 1000)
    assert diff[short.digest] == ("train.max_iters=1,000",)


def test_run_fields_come_from_summary_metrics_and_extrapolation_json(tmp_path):
    run_dir = arithmetic_seed(tmp_path, 4, 1.0, 1.0, 40)
    write_extrapolation(run_dir, 0, 195)
    (run,) = load_runs(tmp_path).runs
    assert (run.task, run.model, run.regularization, run.seed) == ("arithmetic", "n14", "paper", 4)
    assert run.best["iter"] == 500 and run.extrapolated and run.first_extrapolation_iter == 500
    assert len(run.metrics) == 4 and run.complete and run.total_s == 12.0
    assert run.out_of_range.sub_acc == 195 / 3000 and run.out_of_range.max_operand == 19


def test_a_run_whose_corpus_file_is_gone_is_still_read(tmp_path):
    corpus = tmp_path / "arithmetic.txt"
    corpus.write_text("<1+1=2>  \n")
    config = config_for("arithmetic", seed=1)
    config = replace(config, task=replace(config.task, corpus_file=str(corpus)))
    write_run(tmp_path / "runs", config, [record("arithmetic", 0)])
    corpus.unlink()  # e.g. runs copied from another machine
    collection = load_runs(tmp_path / "runs")
    assert collection.skipped == () and collection.runs[0].config["task"]["corpus_file"] == str(corpus)


def test_experiments_are_classified(tmp_path):
    arithmetic_seed(tmp_path, 1, 1.0, 1.0, 40)
    write_run(tmp_path, config_for("capitals", "n28", "controlled"), [record("capitals", 0, facts=0.5)])
    narrow = config_for("arithmetic", seed=1, max_iters=2000)
    narrow = replace(narrow, model_name="n5", model=replace(narrow.model, n_embd=5))
    write_run(tmp_path, narrow, [record("arithmetic", 0)])
    write_run(tmp_path, grokking_config(seed=1, max_iters=1000), [record("arithmetic", 0)])
    kinds = {(c.task, c.model): c.experiment for c in load_runs(tmp_path).cells()}
    assert kinds == {
        ("arithmetic", "n14"): "table2",
        ("capitals", "n28"): "table6",
        ("arithmetic", "n5"): "capacity",
        ("arithmetic", "mlt"): "grokking",
    }


def test_learning_the_task_means_every_in_distribution_sample_right(tmp_path):
    # 980/1000 per operation with all 40 held-out samples wrong: every in-distribution sample is right.
    assert in_distribution_perfect(record("arithmetic", 0, 0.98, 0.98, heldout=0))
    assert not in_distribution_perfect(record("arithmetic", 0, 0.979, 0.98, heldout=0))
    assert in_distribution_perfect(record("arithmetic", 0, 0.99, 0.99, heldout=20))
    write_run(tmp_path, config_for("arithmetic", seed=1), [record("arithmetic", 0), record("arithmetic", 250, 0.98, 0.98), record("arithmetic", 500, 0.5, 0.5)])
    write_run(tmp_path, config_for("arithmetic", seed=2), [record("arithmetic", 0), record("arithmetic", 250, 0.97, 0.98)])
    learned = {r.seed: learned_task(r) for r in load_runs(tmp_path).runs}
    assert learned == {1: True, 2: False}


def test_perfect_arithmetic_needs_every_sample_right_held_out_included(tmp_path):
    # The paper's Figure 1 red dots: add and sub both 100%; 40/40 held-out alone is not enough.
    assert arithmetic_perfect(record("arithmetic", 0, 1.0, 1.0, heldout=40))
    assert not arithmetic_perfect(record("arithmetic", 0, 1.0, 0.999, heldout=40))
    assert not arithmetic_perfect(record("capitals", 0, facts=1.0))
    write_run(tmp_path, config_for("arithmetic", seed=1), [record("arithmetic", 0), record("arithmetic", 250, 1.0, 0.9, heldout=40)])
    write_run(tmp_path, config_for("arithmetic", seed=2), [record("arithmetic", 0), record("arithmetic", 250, 1.0, 1.0, heldout=40), record("arithmetic", 500, 0.9, 0.9)])
    runs = {r.seed: r for r in load_runs(tmp_path).runs}
    assert runs[1].extrapolated and not perfect_arithmetic(runs[1])
    assert runs[2].extrapolated and perfect_arithmetic(runs[2])
    assert "| 40.0/40; 2 of 2 seeds extrapolate, 1 with add and sub 100% |" in write_report_text(tmp_path)
    with open(tmp_path / "report" / "results.csv", newline="") as fh:
        assert {row["seed"]: row["perfect_arithmetic"] for row in csv.DictReader(fh)} == {"1": "False", "2": "True"}


def test_unfinished_runs_are_read_from_their_newer_metrics_and_failures_are_named(tmp_path):
    config = config_for("arithmetic", "n14", "paper", 1)
    early = [record("arithmetic", 0), record("arithmetic", 250, 0.5, 0.5)]
    run = write_run(tmp_path, config, early, status="running")  # summary.json as of the last checkpoint
    later = [*early, record("arithmetic", 500, 1.0, 1.0, heldout=40), record("arithmetic", 750, 0.9, 0.9)]
    run.write_metrics(later)  # evaluations logged after that checkpoint
    (seed_run,) = load_runs(tmp_path).runs
    assert (seed_run.status, seed_run.iteration, seed_run.best["iter"]) == ("running", 750, 500)
    assert seed_run.extrapolated and seed_run.first_extrapolation_iter == 500

    (run.path / "error.json").write_text('{"error": "boom"}')  # left by a failed sweep attempt
    (cell,) = load_runs(tmp_path).cells()
    assert cell.runs[0].failed and (cell.unfinished, cell.failed) == (1, 1)
    report = write_report_text(tmp_path)
    assert "1 run directories (1 unfinished, 1 failed)" in report and "| 1 (1 unfinished, 1 failed) |" in report


def test_the_environments_table_tells_eager_from_compiled_and_sharded_runs_and_csv_keeps_each_commit(tmp_path):
    commits = {1: "a" * 40, 2: "b" * 40, 3: "c" * 40}
    for seed, commit in commits.items():
        run = arithmetic_seed(tmp_path, seed, 1.0, 1.0, 40)
        summary = json.loads(run.summary_path.read_text())
        summary["environment"]["git_commit"] = commit
        if seed > 1:
            summary["environment"].update(compiled=True, batch_shards=2)
        run.write_summary(summary)
    environments = write_report_text(tmp_path).split("## Environments")[1].split("\n## ")[0]
    assert "| Numerics | git commits | Runs |" in environments
    # Seeds 2 and 3 share a setup but not a commit: one row, two commits, two runs.
    assert "| eager | 1 | 1 |" in environments and "| compiled, 2 batch shards | 2 | 2 |" in environments
    with open(tmp_path / "report" / "results.csv", newline="") as f:
        rows = {int(r["seed"]): r for r in csv.DictReader(f)}
    assert {seed: rows[seed]["git_commit"] for seed in rows} == commits
    assert (rows[1]["numerics"], rows[3]["numerics"], rows[3]["device"]) == ("eager", "compiled, 2 batch shards", "cpu")
