"""The studies' table of measured configurations: seeds, how many learn and extrapolate (three
strengths, exact intervals), held-out and in-distribution accuracy, the loss floors and the
order learned. The report's study sections and `toobig compare` print it."""

from __future__ import annotations

import statistics
from typing import Any, Sequence

from ..metrics import STABLE_EVALUATIONS
from .markdown import DASH, format_estimate, md_table
from .stats import clopper_pearson
from .study_measures import STRENGTHS, MeasuredCell


def _proportion(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} [{100 * low:.0f}, {100 * high:.0f}]"


def _peak(vc: MeasuredCell) -> str:
    iters = [r.heldout_peak_iter for r in vc.runs if r.heldout_peak_iter is not None]
    if not iters:
        return DASH
    return f"{format_estimate(vc.mean('heldout_peak'))} at {statistics.median(iters):,.0f}"


def _loss_and_floors(vc: MeasuredCell) -> str:
    """Mean final training loss and the mean floors of the runs' own streams (order-agnostic,
    exact-stream), in nats per character; a dash where training is not on the stream."""
    runs = [r for r in vc.runs if r.floors is not None and r.final_loss is not None]
    if not runs:
        return DASH
    mean = statistics.fmean
    return (
        f"{mean(r.final_loss for r in runs):.3f} "
        f"({mean(r.floors.order_agnostic for r in runs):.3f}, {mean(r.floors.exact_stream for r in runs):.3f})"
    )


def _row(vc: MeasuredCell, first: str) -> list[Any]:
    unfinished = sum(not r.complete for r in vc.cell.runs)
    seeds = f"{vc.n}" + (f" (+{unfinished} unfinished)" if unfinished else "")
    return [
        first,
        f"{vc.cell.parameters:,}" if vc.cell.parameters else DASH,
        seeds,
        f"{vc.learned()}/{vc.n}",
        *(_proportion(vc.count(s), vc.n) for s in STRENGTHS),
        _proportion(vc.count_among_learned(), vc.learned()) if vc.learned() else DASH,
        format_estimate(vc.mean("heldout_last")),
        format_estimate(vc.mean("heldout_tail")),
        format_estimate(vc.mean("heldout_at_id_best")),
        format_estimate(vc.mean("heldout_at_paper_best")),
        _peak(vc),
        format_estimate(vc.mean("in_distribution_at_best")),
        _loss_and_floors(vc),
        format_estimate(vc.mean("order_fraction"), 0, clip=False),  # below 0: worse than order-agnostic
    ]


_HEADERS = [
    "", "Parameters", "Seeds", "Learned", "Extrapolates at some evaluation", "... at the in-distribution best",
    "... stably", "... stably, of those that learned", "Held-out acc., last eval.", f"... last {STABLE_EVALUATIONS} evals",
    "... at the in-distr. best", "... at the paper's best", "Held-out peak, at iteration (median)", "In-distr. acc. at its best",
    "Final loss (floors: order-agnostic, exact stream)", "Order learned",
]


def measures_table(rows: Sequence[MeasuredCell], first_header: str, labels: Sequence[str]) -> str:
    """The studies' table: per configuration (labelled), its seeds, how many learn and extrapolate
    (three strengths), held-out accuracy (last, last evaluations, at either best, peak),
    in-distribution accuracy, the final loss against its stream's floors and the order learned."""
    return md_table([first_header, *_HEADERS[1:]], [_row(vc, label) for vc, label in zip(rows, labels)])
