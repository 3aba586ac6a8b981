"""What the models answer on their held-out prompts: kinds of answers, the study table, results.csv."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from toobig.reporting import write_report
from toobig.reporting.answers import answer_kind, kinds_over_training, most_frequent
from toobig.reporting.beyond import beyond_section, read_studies
from toobig.reporting.beyond_figures import beyond_figures, panel_grid
from toobig.reporting.runs import load_runs
from toobig.studies import STUDIES, Variant

from .synthetic import record, write_run


@pytest.mark.parametrize("prompt, completion, kind", [
    ("<5+7=", "12>", "right"),
    ("<5+7=", "13>", "off by one"),
    ("<5+7=", "11", "off by one"),
    ("<5+7=", "21>", "another number"),
    ("<5+7=", "-12>", "another number"),  # the sign of a sum is not a swapped subtraction
    ("<5-7=", "-2>", "right"),
    ("<5-7=", "2>", "sign flipped"),
    ("<5-7=", "-3>", "off by one"),
    ("<7-5=", "-2>", "sign flipped"),
    ("<7-5=", "0>", "another number"),
    ("<3-3=", "0", "right"),
    ("<3-3=", "1>", "off by one"),
    ("<5+7=", ">", "no number"),
    ("<5+7=", "", "no number"),
    ("<Paris is the capital of=", "France", None),
])
def test_answer_kinds(prompt, completion, kind):
    assert answer_kind(prompt, completion) == kind


def test_most_frequent_takes_the_first_recorded_on_a_tie():
    assert most_frequent({"13>": 6, "12>": 4}) == "13>"
    assert most_frequent({"12>": 5, "13>": 5}) == "12>"


_ANSWERS = [  # three seeds of n28 holding out (5,7), at their last evaluation
    {"<5+7=": {"13>": 10}, "<7+5=": {"12>": 10}, "<5-7=": {"2>": 10}, "<7-5=": {"2>": 10}},
    {"<5+7=": {"13>": 6, "12>": 4}, "<7+5=": {"11>": 10}, "<5-7=": {"2>": 10}, "<7-5=": {"2>": 10}},
    {"<5+7=": {"12>": 10}, "<7+5=": {">": 10}, "<5-7=": {"-2>": 10}, "<7-5=": {"2>": 10}},
]


def _runs(root, answers) -> None:
    variant = next(v for v in STUDIES["order-ablation"].variants if v.label == "whole lines" and v.model == "n28")
    for seed, answered in enumerate(answers):
        config = variant.config(seed)
        metrics = [record("arithmetic", 250 * i, 1.0, 1.0, heldout=10, loss=0.6) for i in range(12)]
        if answered is not None:
            metrics[-1] = {**metrics[-1], "heldout_answers": answered}
        write_run(root, config, metrics)


def test_the_study_section_counts_each_seeds_answers_by_kind(tmp_path):
    _runs(tmp_path, [*_ANSWERS, None])  # a fourth seed from before answers were recorded
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "Answers on the held-out prompts at the last evaluation (3 of 4 runs recorded them):" in text
    assert "Off by one: |answer - right answer| = 1" in text  # the note, once the study has a table
    # 12 answers (3 seeds x 4 prompts), counted by hand. Seed 0: 13 off by one, 12 right, 2 sign
    # flipped, 2 right; seed 1: 13 off, 11 off, 2 flipped, 2 right; seed 2: 12 right, no number,
    # -2 right, 2 right. Wrong numbers: 13, 13, 11 (1 off), 2, 2 (4 off): median distance 1 of 5.
    # Prompts in the task's order (additions first), whatever order the records hold them in.
    assert (
        "| n28, whole lines | 3 (0-2) | 6/12 | 3/12 | 2/12 | 0/12 | 1/12 | 1 (n=5) | "
        "5+7: 13 ×2, 12 ×1; 7+5: '>' ×1, 11 ×1, 12 ×1; 5-7: 2 ×2, -2 ×1; 7-5: 2 ×3 |"
    ) in text


def test_random_held_out_sets_are_counted_but_not_listed(tmp_path):
    _runs(tmp_path, [_ANSWERS[0], {"<1+2=": {"3>": 10}, "<2+1=": {"4>": 10}, "<1-2=": {"1>": 10}, "<2-1=": {"1>": 10}}])
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    # Wrong numbers: 13 and 4 (1 off), 2 for -2 (4 off), 1 for -1 (2 off): median distance 1.5.
    assert "| n28, whole lines | 2 (0-1) | 4/8 | 2/8 | 2/8 | 0/8 | 0/8 | 1.5 (n=4) | — |" in text


def test_no_answers_recorded_no_table_and_no_note(tmp_path):
    _runs(tmp_path, [None, None])
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "### Order ablation" in text
    assert "Answers on the held-out prompts" not in text and "Off by one" not in text


def test_results_csv_names_each_prompts_most_frequent_answer(tmp_path):
    _runs(tmp_path, [_ANSWERS[1], None])
    write_report(tmp_path, tmp_path / "report")
    with open(tmp_path / "report" / "results.csv") as f:
        rows = {int(r["seed"]): r for r in csv.DictReader(f)}
    assert json.loads(rows[0]["heldout_answers_last"]) == {"<5+7=": "13>", "<7+5=": "11>", "<5-7=": "2>", "<7-5=": "2>"}
    assert rows[1]["heldout_answers_last"] == ""


def _answers_file(seed_dir, answers, **changed) -> None:
    """answers.json as record_answers writes it, reproducing the run's own last record unless changed."""
    final = json.loads((seed_dir / "summary.json").read_text())["final"]
    checked = ("iter", "add_correct", "sub_correct", "facts_correct", "heldout_correct", "heldout_total", "heldout_by_prompt", "loss")
    reproduced = {k: v for k, v in final.items() if k in checked}
    (seed_dir / "answers.json").write_text(json.dumps({
        "checkpoint": "last", "iteration": final["iter"], "reproduced": {**reproduced, **changed}, "heldout_answers": answers,
    }))


def test_answers_json_stands_in_for_records_that_lack_the_answers(tmp_path):
    _runs(tmp_path, [None, None, _ANSWERS[2]])
    seeds = sorted(tmp_path.glob("*/seed*"))
    _answers_file(seeds[0], _ANSWERS[0])
    _answers_file(seeds[1], _ANSWERS[1], loss=0.61)  # e.g. another run's file copied here
    _answers_file(seeds[2], _ANSWERS[0])  # the record has its own answers, which win
    collection = load_runs(tmp_path)
    assert any("seed1/answers.json: its loss is not this run's last evaluation's; ignored" in w for w in collection.warnings)
    runs = {r.seed: r for c in collection.cells() for r in c.runs}
    assert runs[0].answers_after_training == _ANSWERS[0]
    assert runs[1].answers_after_training is None and runs[2].answers_after_training is None
    text = beyond_section(read_studies(collection.cells()))
    assert "(2 of 3 runs recorded them)" in text
    # Seed 0 from its file (13 off, 12 right, 2 flipped, 2 right), seed 2 from its record.
    assert "| n28, whole lines | 2 (0, 2) | 5/8 | 1/8 | 1/8 | 0/8 | 1/8 | 2.5 (n=2) | 5+7: 12 ×1, 13 ×1; 7+5: '>' ×1, 12 ×1;" in text


def test_distance_is_the_median_of_how_far_the_wrong_numbers_fall(tmp_path):
    # 9 for 12 (3 below), 10 for 12 (2 below), -1 for -2 (1 above); 7-5 right: median distance 2.
    _runs(tmp_path, [{"<5+7=": {"9>": 10}, "<7+5=": {"10>": 10}, "<5-7=": {"-1>": 10}, "<7-5=": {"2>": 10}}])
    text = beyond_section(read_studies(load_runs(tmp_path).cells()))
    assert "| n28, whole lines | 1 (0) | 1/4 | 1/4 | 0/4 | 2/4 | 0/4 | 2 (n=3) |" in text


def _runs_answering_over_training(root, answers_at, every=250, status="complete") -> None:
    """One n28 whole-lines seed per entry: its i-th evaluation (at every * i) answers entry[i]
    (None: not recorded)."""
    variant = next(v for v in STUDIES["order-ablation"].variants if v.label == "whole lines" and v.model == "n28")
    variant = replace(variant, eval_interval=every)
    for seed, answers in enumerate(answers_at):
        metrics = [record("arithmetic", every * i, 1.0, 1.0, heldout=0, loss=0.6) for i in range(len(answers))]
        for i, answered in enumerate(answers):
            if answered is not None:
                metrics[i] = {**metrics[i], "heldout_answers": answered}
        write_run(root, variant.config(seed), metrics, status=status)


_RIGHT = {"<5+7=": {"12>": 10}, "<7+5=": {"12>": 10}, "<5-7=": {"-2>": 10}, "<7-5=": {"2>": 10}}
_SLIPPED = {"<5+7=": {"13>": 10}, "<7+5=": {"12>": 3, "13>": 7}, "<5-7=": {"2>": 10}, "<7-5=": {">": 10}}


def test_kinds_over_training_pool_the_seeds_that_recorded_every_evaluation(tmp_path):
    _runs_answering_over_training(tmp_path, [
        [_RIGHT, _RIGHT, _SLIPPED],
        [_RIGHT, _SLIPPED, _SLIPPED],
        [None, _SLIPPED, _SLIPPED],  # resumed across the change that added the answers: left out
        [None, None, None],  # trained before it: left out
    ])
    (cell,) = load_runs(tmp_path).cells()
    kinds = kinds_over_training(cell.runs)
    assert kinds.seeds == (0, 1) and kinds.iterations == (0, 250, 500)
    # _SLIPPED by hand: 13 off by one, 13 off by one (7 of 10 samples; 3 say 12), 2 sign flipped, no number.
    assert kinds.shares == {
        "right": (1.0, 0.5, 0.0),
        "off by one": (0.0, 0.25, 0.5),
        "sign flipped": (0.0, 0.125, 0.25),
        "another number": (0.0, 0.0, 0.0),
        "no number": (0.0, 0.125, 0.25),
    }


def test_kinds_over_training_leave_out_what_cannot_be_pooled(tmp_path):
    unfinished, apart, capitals = tmp_path / "unfinished", tmp_path / "apart", tmp_path / "capitals"
    _runs_answering_over_training(unfinished, [[_RIGHT, _SLIPPED]], status="running")
    assert kinds_over_training(load_runs(unfinished).cells()[0].runs) is None
    # Seeds evaluated at different iterations: only the evaluations they share are pooled.
    _runs_answering_over_training(apart / "a", [[_RIGHT, _RIGHT, _SLIPPED]], every=250)
    _runs_answering_over_training(apart / "b", [[], [_SLIPPED, _SLIPPED, _SLIPPED]], every=500)
    kinds = kinds_over_training([run for cell in load_runs(apart).cells() for run in cell.runs])
    assert kinds.seeds == (0, 1) and kinds.iterations == (0, 500) and kinds.shares["right"] == (0.5, 0.0)
    # Held-out prompts that are not arithmetic have no kind.
    _runs_answering_over_training(capitals, [[{"<Paris is the capital of=": {"France": 10}}]])
    assert kinds_over_training(load_runs(capitals).cells()[0].runs) is None


@pytest.mark.parametrize("variants, places, shape", [
    # The capacity curve: one variant per width, wrapped at 6 columns.
    ([(f"n{w}", f"n{w}") for w in (4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 40, 56)],
     [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)], (2, 6)),
    # The weight-decay study beside the paper's runs: a row per model, a column per label, n56 has
    # no run without weight decay at 100k.
    ([("paper", "n28"), ("paper", "n56"), ("wd 30k", "n28"), ("wd 100k", "n28"), ("no wd 100k", "n28"),
      ("wd 30k", "n56"), ("wd 100k", "n56")],
     [(0, 0), (1, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2)], (2, 4)),
    ([("lr 1e-3", "n28")], [(0, 0)], (1, 1)),
])
def test_answer_panels_go_a_row_per_model_and_a_column_per_variant(variants, places, shape):
    assert panel_grid([Variant(label, model) for label, model in variants]) == (places, shape)


def test_each_study_with_answers_over_training_gets_a_figure_of_them(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    _runs_answering_over_training(before, [[None, None, None]])
    assert kinds_over_training(load_runs(before).cells()[0].runs) is None
    names = {p.name for p in beyond_figures(load_runs(before).cells(), tmp_path / "figures")}
    assert "beyond_heldout_over_training.png" in names
    assert "beyond_answers_over_training_order-ablation.png" not in names
    _runs_answering_over_training(after, [[_RIGHT, _SLIPPED, _SLIPPED]])
    names = {p.name for p in beyond_figures(load_runs(after).cells(), tmp_path / "figures")}
    assert "beyond_answers_over_training_order-ablation.png" in names
