"""The capacity search of Section 3.2: the smallest 1-layer n<N> model that learns the arithmetic task."""

from __future__ import annotations

from typing import Sequence

from .markdown import md_table, thousands, unfinished_text
from .runs import Cell, follows_preset_protocol, is_single_layer_n_model, learned_task


def capacity_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Capacity-search cells plus, for context, the paper's n-models on arithmetic (not grokking),
    under their preset's protocol: a protocol study's variants (another line order, held-out set or
    weight decay) would read as more seeds of the paper's condition."""
    if not any(c.experiment == "capacity" for c in cells):
        return []
    chosen = [
        c for c in cells
        if c.task == "arithmetic" and c.experiment != "grokking" and is_single_layer_n_model(c) and follows_preset_protocol(c)
    ]
    return sorted(chosen, key=lambda c: (c.regularization, _width(c), -c.max_iters, c.digest))


def _width(cell: Cell) -> int:
    return int(cell.config.get("model", {}).get("n_embd", 0))


def capacity_section(cells: Sequence[Cell]) -> str | None:
    """Per n: seeds, how many learn the task (100% in-distribution at some evaluation), how many extrapolate."""
    chosen = capacity_cells(cells)
    if not chosen:
        return None
    headers = ["n", "Condition", "Parameters", "max_iters", "Seeds", "Learn the task", "Extrapolate"]
    rows = []
    for cell in chosen:
        seeds = len(cell.runs)
        learned = sum(learned_task(r) for r in cell.runs)
        extrapolate = sum(r.extrapolated for r in cell.runs)
        running = f" ({unfinished_text(cell.unfinished, cell.failed)})" if cell.unfinished else ""
        rows.append([
            _width(cell),
            cell.regularization,
            thousands(cell.parameters),
            f"{cell.max_iters:,}",
            f"{seeds}{running}",
            f"{learned} of {seeds}",
            f"{extrapolate} of {seeds}",
        ])
    lines = [
        "## Capacity search (Section 3.2)",
        md_table(headers, rows),
        "Learn the task: every in-distribution addition and subtraction sample right at some evaluation "
        "(held-out (5,7) samples excluded). Extrapolate: every held-out sample right at some evaluation.",
    ]
    lines.append(_summary(chosen))
    return "\n\n".join(lines)


def _summary(cells: Sequence[Cell]) -> str:
    by_condition: dict[str, list[Cell]] = {}
    for cell in cells:
        by_condition.setdefault(cell.regularization, []).append(cell)
    parts = []
    for condition, group in by_condition.items():
        any_n = [c for c in group if any(learned_task(r) for r in c.runs)]
        all_n = [c for c in group if c.runs and all(learned_task(r) for r in c.runs)]
        parts.append(
            f"{condition}: the smallest model with a seed that learns the task is {_first(any_n)}; "
            f"the smallest whose every seed learns it is {_first(all_n)}"
        )
    return "; ".join(parts) + ". The paper found n14 the smallest viable model (one run per size)."


def _first(cells: Sequence[Cell]) -> str:
    return cells[0].model if cells else "none"  # cells are sorted by width
