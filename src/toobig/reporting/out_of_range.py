"""Section 5.1: accuracy on operands beyond the training range, from `toobig extrapolate` results."""

from __future__ import annotations

from typing import Sequence

from .markdown import DASH, format_estimate, md_table
from .paper import paper_out_of_range
from .runs import Cell
from .stats import estimate
from .tables import model_label


def out_of_range_section(cells: Sequence[Cell]) -> str | None:
    """One row per cell with extrapolation.json results; None when no run has one."""
    chosen = [c for c in cells if any(r.out_of_range is not None for r in c.runs)]
    if not chosen:
        return None
    paper = paper_out_of_range()
    headers = ["Model", "Task", "Condition", "Seeds", "Operands", "Checkpoint", "Addition", "Addition, paper", "Subtraction", "Subtraction, paper"]
    rows = []
    for cell in chosen:
        results = [r.out_of_range for r in cell.runs if r.out_of_range is not None]
        operands = sorted({(o.trained_operand_max, o.max_operand) for o in results})
        # The paper's figures are for its n14 (paper regularization) tested on 0..19 after 0..9.
        comparable = (cell.model, cell.task, cell.regularization, operands) == (paper.model, "arithmetic", "paper", [(9, 19)])
        checkpoints = sorted({o.checkpoint for o in results})
        rows.append([
            model_label(cell, cells),
            cell.task,
            cell.regularization,
            f"{len(results)} of {len(cell.runs)}",
            ", ".join(f"0..{m} beyond 0..{t}" for t, m in operands),
            ", ".join(checkpoints),
            format_estimate(estimate([o.add_acc for o in results]), 2),
            paper.addition.printed if comparable else DASH,
            format_estimate(estimate([o.sub_acc for o in results]), 2),
            paper.subtraction.printed if comparable else DASH,
        ])
    add_ref, sub_ref = paper.reference_add, paper.reference_sub
    note = (
        "Ours: mean [95% Student-t interval, clipped to 0-100%] over seeds, each seed's checkpoint scored on "
        "every out-of-range pair. "
        f"Pairs with both operands in the training range are excluded, as in the paper. Paper: n14, operands 0..{paper.operand_max}, "
        f"{paper.addition.printed} addition and {paper.subtraction.printed} subtraction; the reference's own result "
        f"file gives {add_ref[0]}/{add_ref[1]} and {sub_ref[0]}/{sub_ref[1]} (= {100 * sub_ref[0] / sub_ref[1]:.2f}%) "
        "on those pairs."
    )
    return "\n\n".join(["## Out-of-range operands (Section 5.1)", md_table(headers, rows), note])
