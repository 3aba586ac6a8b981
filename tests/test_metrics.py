"""What a run's records mean: best evaluation, held-out accuracy, extrapolation in three strengths."""

from __future__ import annotations

import pytest

from toobig.metrics import (
    STABLE_EVALUATIONS, best_record, heldout_accuracy_tail, heldout_by_operation_tail, heldout_summary,
    in_distribution_score, is_improvement,
)


def record(it, add, sub, held, combined=None, total=20, held_total=4):
    combined = (add + sub) / (2 * total) if combined is None else combined
    return {"iter": it, "add_correct": add, "add_total": total, "sub_correct": sub, "sub_total": total,
            "facts_correct": 0, "facts_total": 0, "heldout_correct": held, "heldout_total": held_total, "combined": combined}


def test_the_first_evaluation_reaching_the_best_score_wins_ties():
    first, second = record(0, 10, 10, 0), record(1, 10, 10, 0)
    assert best_record([first, second])["iter"] == 0
    assert not is_improvement(second, first)


def test_in_distribution_score_excludes_the_held_out_samples():
    assert in_distribution_score(record(0, 18, 18, 0)) == pytest.approx(36 / 36)
    assert in_distribution_score(record(0, 20, 20, 4)) == pytest.approx(36 / 36)
    assert in_distribution_score(record(0, 10, 10, 4)) == pytest.approx(16 / 36)


def test_extrapolation_in_three_strengths():
    # Held-out right once, early, while in-distribution accuracy is still low: the paper's
    # lenient reading counts it; the in-distribution-selected best and stability do not.
    records = [record(i, 10, 10, 0) for i in range(20)]
    records[3] = record(3, 12, 12, 4)
    records[15] = record(15, 18, 18, 0)  # best in distribution, held-out wrong
    summary = heldout_summary(records)
    assert summary["extrapolates"] == {"at_some_evaluation": True, "at_in_distribution_best": False, "stably": False}
    assert summary["first_extrapolation_iter"] == 3
    assert summary["in_distribution_best_iter"] == 15
    assert summary["heldout_acc_at_paper_best"] == 0.0 and summary["heldout_acc_last"] == 0.0


def test_stable_extrapolation_needs_the_last_evaluations_all_right():
    assert STABLE_EVALUATIONS == 10  # the definition: the last 10 evaluations
    records = [record(i, 10, 10, 0) for i in range(5)] + [record(5 + i, 20, 20, 4) for i in range(10)]
    assert heldout_summary(records)["extrapolates"]["stably"] is True  # the 11th from the end is wrong
    records[5] = record(5, 20, 20, 3)  # the 10th from the end: inside the window
    assert heldout_summary(records)["extrapolates"]["stably"] is False
    records = [record(i, 10, 10, 0) for i in range(5)] + [record(5 + i, 20, 20, 4) for i in range(10)]
    summary = heldout_summary(records)
    assert summary["extrapolates"] == {"at_some_evaluation": True, "at_in_distribution_best": True, "stably": True}
    records[-1] = record(99, 20, 20, 3)
    assert heldout_summary(records)["extrapolates"]["stably"] is False
    assert heldout_summary(records)["heldout_acc_last"] == 0.75


def test_graded_held_out_accuracy_pools_the_last_evaluations():
    # 20 evaluations: the first 11 all right, then none of the held-out 4: the window of the last
    # 10 holds exactly one all-right evaluation.
    records = [record(i, 20, 20, 4 if i <= 10 else 0) for i in range(20)]
    assert heldout_accuracy_tail(records) == pytest.approx(4 / 40)
    # Pooled over samples, not averaged over evaluations: a larger held-out set weighs more.
    assert heldout_accuracy_tail([record(0, 20, 20, 0, held_total=2), record(1, 20, 20, 8, held_total=8)]) == pytest.approx(0.8)
    assert heldout_accuracy_tail([record(0, 20, 20, 0, held_total=0)]) is None
    assert heldout_accuracy_tail([]) is None


def test_held_out_accuracy_per_operation_from_the_named_prompts():
    def named(it, add_right, sub_right, total=40):
        r = record(it, 20, 20, 0, held_total=total)
        per = total // 4
        r["heldout_by_prompt"] = {"<5+7=": add_right, "<7+5=": per, "<5-7=": sub_right, "<7-5=": 0}
        r["heldout_correct"] = add_right + per + sub_right
        return r

    # An old record without names, then 10 named ones: the window holds the named ones only.
    records = [record(0, 20, 20, 4)] + [named(i, 10, 5) for i in range(1, 11)]
    assert heldout_by_operation_tail(records) == pytest.approx({"add": 20 / 20, "sub": 5 / 20})
    # Mixed windows pool what is named; no names at all gives nothing.
    assert heldout_by_operation_tail([record(0, 20, 20, 4), named(1, 0, 1, total=8)]) == pytest.approx({"add": 2 / 4, "sub": 1 / 4})
    assert heldout_by_operation_tail([record(0, 20, 20, 4)]) == {}
