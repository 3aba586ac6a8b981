"""Runs outside the paper's experiments and the studies (a task of your own, a sweep of other
settings): one row per configuration, so every run that trained shows in the report."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from ..config import ConfigError, from_dict
from ..metrics import best_record, extrapolated, heldout_accuracy, in_distribution_score
from ..tasks import held_out_label
from .markdown import DASH, md_table, pct
from .runs import Cell, config_differences

HEADERS = ["Configuration", "Differs in", "Seeds complete", "Iterations", "Best combined", "In-distribution at best",
           "Held-out set", "Held-out at best", "Held-out at last", "Extrapolates stably"]


def _mean(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    return pct(sum(present) / len(present)) if present else DASH


def _held_out_set(cell: Cell) -> str:
    try:
        return held_out_label(from_dict(cell.config).task) or DASH
    except ConfigError:
        return DASH


def _row(cell: Cell, differs: tuple[str, ...]) -> list[object]:
    runs = cell.evaluated
    selection = str(cell.config.get("eval", {}).get("selection", "combined"))
    bests = [best_record(r.metrics, selection) or r.best for r in runs]
    lasts = [r.metrics[-1] if r.metrics else r.final for r in runs]
    stable = [r for r in runs if len(r.metrics) >= 10 and all(extrapolated(m) for m in r.metrics[-10:])]
    has_held_out = any((b or {}).get("heldout_total") for b in bests)
    return [
        cell.label,
        ", ".join(differs) or DASH,
        f"{sum(r.complete for r in cell.runs)} of {len(cell.runs)}",
        f"{cell.max_iters:,}",
        _mean([(b or {}).get("combined") for b in bests]),
        _mean([in_distribution_score(b) if b else None for b in bests]),
        _held_out_set(cell),
        _mean([heldout_accuracy(b) for b in bests]) if has_held_out else DASH,
        _mean([heldout_accuracy(m) for m in lasts]) if has_held_out else DASH,
        f"{len(stable)} of {len(runs)}" if has_held_out else DASH,
    ]


def other_section(cells: Sequence[Cell]) -> str | None:
    others = [c for c in cells if c.experiment == "other"]
    if not others:
        return None
    by_label: dict[str, list[Cell]] = defaultdict(list)
    for cell in others:
        by_label[cell.label].append(cell)
    differences: dict[str, tuple[str, ...]] = {}
    for group in by_label.values():  # what tells apart configurations that share a label
        differences.update(config_differences(group) if len(group) > 1 else {group[0].digest: ()})
    rows = [_row(c, differences[c.digest]) for c in others]
    note = (
        "Runs of no paper experiment or study, one row per configuration; accuracies are means over the "
        "seeds with an evaluation. Best: the evaluation with the highest selection score (eval.selection). "
        "Extrapolates stably: every held-out sample right at each of the last 10 evaluations."
    )
    return "## Other runs\n\n" + md_table(HEADERS, rows) + "\n\n" + note
