"""Appendix B: the long MLT arithmetic run (log-spaced evaluations) beside the paper's."""

from __future__ import annotations

from typing import Sequence

from .markdown import DASH, md_table, pct
from .paper import paper_grokking
from .runs import Cell, SeedRun


def grokking_cells(cells: Sequence[Cell]) -> list[Cell]:
    return [c for c in cells if c.experiment == "grokking"]


def _lowest_loss(run: SeedRun) -> float | None:
    losses = [float(m["loss"]) for m in run.metrics if m.get("loss") is not None]
    return min(losses) if losses else None


def _most_heldout(run: SeedRun) -> int | None:
    counts = [int(m["heldout_correct"]) for m in run.metrics]
    return max(counts) if counts else None


def grokking_section(cells: Sequence[Cell]) -> str | None:
    """The section, or None when no grokking run exists."""
    chosen = grokking_cells(cells)
    if not chosen:
        return None
    paper = paper_grokking()
    headers = ["Seed", "Condition", "Iterations", "Lowest loss", "Most held-out right", "Addition (best)", "Subtraction (best)", "Extrapolated"]
    rows = []
    for cell in chosen:
        for run in cell.runs:
            loss, held = _lowest_loss(run), _most_heldout(run)
            total = run.best["heldout_total"] if run.best else 0
            rows.append([
                run.seed,
                run.regularization,
                f"{run.iteration:,} / {run.max_iters:,}" + ("" if run.complete else " (running)"),
                DASH if loss is None else f"{loss:.4f}",
                DASH if held is None else f"{held}/{total}",
                pct(run.best["add_acc"]) if run.best else DASH,
                pct(run.best["sub_acc"]) if run.best else DASH,
                "yes" if run.extrapolated else "no",
            ])
    rows.append([
        "paper", "paper", f"{paper.iterations:,}", f"{paper.lowest_val_loss:.4f}",
        f"{paper.heldout_correct}/{paper.heldout_total}", "98% (Fig. 7)", "98% (Fig. 7)", "no",
    ])
    runs = [r for c in chosen for r in c.runs]
    k = sum(r.extrapolated for r in runs)
    verdict = "agrees" if k == 0 else "disagrees" if k == len(runs) else "partly agrees"
    losses = [x for x in (_lowest_loss(r) for r in runs) if x is not None]
    summary = (
        f"{k} of {len(runs)} seeds ever got every held-out (5,7) sample right; the paper's run never did "
        f"(0/{paper.heldout_total}): {verdict}."
    )
    if losses:
        summary += (
            f" Lowest loss per seed: {', '.join(f'{x:.4f}' for x in losses)}; the paper's lowest validation loss: "
            f"{paper.lowest_val_loss}. Our loss is the exact mean over every training window; the paper's was "
            "estimated from 100 random batches."
        )
    return "\n\n".join(["## Grokking (Appendix B)", md_table(headers, rows), summary])
