"""A cell's scores over its seeds, each seed taken at its best evaluation (as the paper reports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .runs import Cell, perfect_arithmetic
from .stats import Estimate, estimate

PARTS = ("add", "sub", "facts")


@dataclass(frozen=True)
class CellScores:
    """Mean and 95% interval over the seeds that have been evaluated at least once."""

    cell: Cell
    n: int  # seeds with a best record
    addition: Estimate | None  # None where the task has no such part
    subtraction: Estimate | None
    facts: Estimate | None
    combined: Estimate | None
    heldout: Estimate | None  # held-out correct count at the best evaluation
    heldout_total: int
    extrapolating: int  # seeds that got every held-out sample right at some evaluation
    perfect: int  # seeds that got every addition and subtraction sample right at some evaluation
    best_iter: Estimate | None

    @property
    def seeds(self) -> int:
        return len(self.cell.runs)


def _has(record: Mapping[str, Any], part: str) -> bool:
    return int(record.get(f"{part}_total", 0)) > 0


def score_cell(cell: Cell) -> CellScores:
    bests = [r.best for r in cell.evaluated]

    def part(name: str) -> Estimate | None:
        # A part the task lacks (total 0) has no score; it is not a 0% score.
        values = [b[f"{name}_acc"] for b in bests if b is not None and _has(b, name)]
        return estimate(values)

    heldout_total = max((int(b["heldout_total"]) for b in bests if b is not None), default=0)
    heldout = estimate([b["heldout_correct"] for b in bests if b is not None]) if heldout_total else None
    return CellScores(
        cell=cell,
        n=len(bests),
        addition=part("add"),
        subtraction=part("sub"),
        facts=part("facts"),
        combined=estimate([b["combined"] for b in bests if b is not None]),
        heldout=heldout,
        heldout_total=heldout_total,
        extrapolating=sum(r.extrapolated for r in cell.runs),
        perfect=sum(perfect_arithmetic(r) for r in cell.runs),
        best_iter=estimate([b["iter"] for b in bests if b is not None]),
    )
