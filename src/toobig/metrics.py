"""What an evaluation record means: scores, the best evaluation, extrapolation in three strengths.

One definition of each, used by the trainer while it runs and by the report afterwards. A
record is one line of metrics.jsonl: counts of correct samples per kind (add, sub, facts) and
of the held-out samples among them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

Record = Mapping[str, Any]

# "Stably extrapolates": every held-out sample right at each of the last this many evaluations.
STABLE_EVALUATIONS = 10


def _totals(record: Record) -> tuple[int, int]:
    correct = record["add_correct"] + record["sub_correct"] + record.get("facts_correct", 0)
    total = record["add_total"] + record["sub_total"] + record.get("facts_total", 0)
    return correct, total


def in_distribution_score(record: Record) -> float:
    """Accuracy over every sample except the held-out ones (what training could have taught)."""
    correct, total = _totals(record)
    total -= record.get("heldout_total", 0)
    correct -= record.get("heldout_correct", 0)
    return correct / total if total > 0 else 0.0


def selection_score(record: Record, selection: str = "combined") -> float:
    """The score that picks the best evaluation: the paper's combined score (held-out samples
    counted) or the in-distribution score (held-out samples excluded)."""
    if selection == "combined":
        return record["combined"]
    if selection == "in_distribution":
        return in_distribution_score(record)
    raise ValueError(f"unknown selection {selection!r}")


def is_improvement(record: Record, best: Record | None, selection: str = "combined") -> bool:
    """A strictly higher score: the first evaluation reaching the best score wins ties."""
    return best is None or selection_score(record, selection) > selection_score(best, selection)


def best_record(records: Sequence[Record], selection: str = "combined") -> Record | None:
    best = None
    for record in records:
        if is_improvement(record, best, selection):
            best = record
    return best


def extrapolated(record: Record) -> bool:
    """Every held-out sample right at this evaluation."""
    return record.get("heldout_total", 0) > 0 and record["heldout_correct"] == record["heldout_total"]


def heldout_accuracy(record: Record | None) -> float | None:
    if record is None or not record.get("heldout_total"):
        return None
    return record["heldout_correct"] / record["heldout_total"]


def stable_window(records: Sequence[Record]) -> list[Record]:
    """The last STABLE_EVALUATIONS evaluations (all of them in a shorter run)."""
    return list(records)[-STABLE_EVALUATIONS:]


def heldout_accuracy_tail(records: Sequence[Record]) -> float | None:
    """Held-out accuracy pooled over the last STABLE_EVALUATIONS evaluations (all of them in a
    shorter run): the graded form of "stably extrapolates", which is this being 1.0 over a full
    window. None without held-out samples."""
    tail = stable_window(records)
    total = sum(r.get("heldout_total", 0) for r in tail)
    if not total:
        return None
    return sum(r["heldout_correct"] for r in tail if r.get("heldout_total")) / total


def heldout_by_operation_tail(records: Sequence[Record]) -> dict[str, float]:
    """Held-out accuracy per operation ("add": prompts with "+", "sub": with "-") pooled over
    the last STABLE_EVALUATIONS evaluations, from the records that name their held-out prompts
    (runs trained since session 11); {} when none does. Every held-out prompt of a record is
    sampled equally often: heldout_total / its number of prompts."""
    correct: dict[str, int] = {}
    total: dict[str, float] = {}
    for record in stable_window(records):
        by_prompt = record.get("heldout_by_prompt") or {}
        for text, right in by_prompt.items():
            operation = "add" if "+" in text else "sub" if "-" in text else None
            if operation is not None:
                correct[operation] = correct.get(operation, 0) + right
                total[operation] = total.get(operation, 0) + record["heldout_total"] / len(by_prompt)
    return {operation: correct[operation] / total[operation] for operation in sorted(total) if total[operation]}


def in_distribution_perfect(record: Record) -> bool:
    """Every non-held-out arithmetic sample right at this evaluation (held-out ones may be wrong)."""
    total = record["add_total"] + record["sub_total"] - record["heldout_total"]
    correct = record["add_correct"] + record["sub_correct"] - record["heldout_correct"]
    return total > 0 and correct == total


def arithmetic_perfect(record: Record) -> bool:
    """Every addition and subtraction sample right, held-out ones included: the paper's Figure 1
    red dots, and what its 40/40 rows (100%, 100%, 40/40) show."""
    return bool(record.get("add_total")) and bool(record.get("sub_total")) and (
        record["add_correct"] == record["add_total"] and record["sub_correct"] == record["sub_total"]
    )


def heldout_summary(records: Sequence[Record], selection: str = "combined") -> dict[str, Any]:
    """Held-out accuracy where it matters and whether the run extrapolates, in three strengths:

    - at_some_evaluation: all held-out samples right at one evaluation or more (the paper's
      reading, and today's "extrapolated");
    - at_in_distribution_best: all right at the evaluation selected without the held-out samples;
    - stably: all right at each of the last STABLE_EVALUATIONS evaluations."""
    records = list(records)
    if not records:
        return {}
    paper_best = best_record(records, "combined")
    id_best = best_record(records, "in_distribution")
    first = next((r["iter"] for r in records if extrapolated(r)), None)
    tail = stable_window(records)
    return {
        "heldout_total": records[-1].get("heldout_total", 0),
        "heldout_acc_last": heldout_accuracy(records[-1]),
        "heldout_acc_at_in_distribution_best": heldout_accuracy(id_best),
        "heldout_acc_at_paper_best": heldout_accuracy(paper_best),
        "in_distribution_best_iter": id_best["iter"] if id_best else None,
        "extrapolates": {
            "at_some_evaluation": first is not None,
            "at_in_distribution_best": bool(id_best and extrapolated(id_best)),
            "stably": len(tail) == STABLE_EVALUATIONS and all(extrapolated(r) for r in tail),
        },
        "first_extrapolation_iter": first,
        "selection": selection,
    }
