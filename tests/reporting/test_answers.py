"""What the models answer on their held-out prompts: kinds of answers, the study table, results.csv."""

from __future__ import annotations

import csv
import json

import pytest

from toobig.reporting import write_report
from toobig.reporting.answers import answer_kind, most_frequent
from toobig.reporting.beyond import beyond_section
from toobig.reporting.runs import load_runs
from toobig.studies import STUDIES

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
    text = beyond_section(load_runs(tmp_path).cells())
    assert "Answers on the held-out prompts at the last evaluation (3 of 4 runs recorded them):" in text
    # 12 answers (3 seeds x 4 prompts), counted by hand. Seed 0: 13 off by one, 12 right, 2 sign
    # flipped, 2 right; seed 1: 13 off, 11 off, 2 flipped, 2 right; seed 2: 12 right, no number,
    # -2 right, 2 right.
    assert (
        # Wrong numbers: 13, 13, 11 (1 off), 2, 2 (4 off): median distance 1.
        "| n28, whole lines | 3 | 6/12 | 3/12 | 2/12 | 0/12 | 1/12 | 1 | "
        "5+7: 13 ×2, 12 ×1; 5-7: 2 ×2, -2 ×1; 7+5: '>' ×1, 11 ×1, 12 ×1; 7-5: 2 ×3 |"  # prompts in the records' order
    ) in text


def test_random_held_out_sets_are_counted_but_not_listed(tmp_path):
    _runs(tmp_path, [_ANSWERS[0], {"<1+2=": {"3>": 10}, "<2+1=": {"4>": 10}, "<1-2=": {"1>": 10}, "<2-1=": {"1>": 10}}])
    text = beyond_section(load_runs(tmp_path).cells())
    # Wrong numbers: 13 and 4 (1 off), 2 for -2 (4 off), 1 for -1 (2 off): median distance 1.5.
    assert "| n28, whole lines | 2 | 4/8 | 2/8 | 2/8 | 0/8 | 0/8 | 1.5 | — |" in text


def test_no_answers_recorded_no_table(tmp_path):
    _runs(tmp_path, [None, None])
    assert "What the models answer" not in beyond_section(load_runs(tmp_path).cells())


def test_results_csv_names_each_prompts_most_frequent_answer(tmp_path):
    _runs(tmp_path, [_ANSWERS[1], None])
    write_report(tmp_path, tmp_path / "report")
    with open(tmp_path / "report" / "results.csv") as f:
        rows = {int(r["seed"]): r for r in csv.DictReader(f)}
    assert json.loads(rows[0]["heldout_answers_last"]) == {"<5+7=": "13>", "<7+5=": "11>", "<5-7=": "2>", "<7-5=": "2>"}
    assert rows[1]["heldout_answers_last"] == ""


def test_answers_json_stands_in_for_records_that_lack_the_answers(tmp_path):
    _runs(tmp_path, [None, None])
    seeds = sorted(tmp_path.glob("*/seed*"))
    (seeds[0] / "answers.json").write_text(json.dumps({"checkpoint": "last", "iteration": 2750, "heldout_answers": _ANSWERS[0]}))
    (seeds[1] / "answers.json").write_text(json.dumps({"checkpoint": "last", "iteration": 250, "heldout_answers": _ANSWERS[1]}))
    collection = load_runs(tmp_path)
    # Seed 1's file is from another iteration than its last evaluation: ignored, and said so.
    assert any("not the last evaluation (2750); ignored" in w for w in collection.warnings)
    text = beyond_section(collection.cells())
    assert "(1 of 2 runs recorded them)" in text
    assert "| n28, whole lines | 1 | 2/4 | 1/4 | 1/4 | 0/4 | 0/4 | 2.5 | 5+7: 13 ×1; 7+5: 12 ×1; 5-7: 2 ×1; 7-5: 2 ×1 |" in text


def test_distance_is_the_median_of_how_far_the_wrong_numbers_fall(tmp_path):
    # 9 for 12 (3 below), 10 for 12 (2 below), -1 for -2 (1 above); 7-5 right: median distance 2.
    _runs(tmp_path, [{"<5+7=": {"9>": 10}, "<7+5=": {"10>": 10}, "<5-7=": {"-1>": 10}, "<7-5=": {"2>": 10}}])
    text = beyond_section(load_runs(tmp_path).cells())
    assert "| n28, whole lines | 1 | 1/4 | 1/4 | 0/4 | 2/4 | 0/4 | 2 |" in text
