"""What each run of a study measured: extrapolation in three strengths, held-out accuracy, the
fraction of the line order learned; and the study's variants that ran.

A cell belongs to a study when its configuration digest is one of the study's variants (at the
cell's run length), so runs are found wherever they lie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from ..config import ConfigError
from ..floors import Floors, loss_floors
from ..metrics import (
    STABLE_EVALUATIONS, best_record, heldout_accuracy, heldout_accuracy_tail, heldout_by_operation_tail, heldout_summary,
    in_distribution_perfect, in_distribution_score,
)
from ..studies import Study, Variant
from ..tasks import corpus_text, resolve_task
from .runs import Cell, SeedRun
from .stats import Estimate, estimate

# The three readings of "extrapolates" (metrics.heldout_summary), strictest last.
STRENGTHS = ("at_some_evaluation", "at_in_distribution_best", "stably")
STRENGTH_NAMES = {
    "at_some_evaluation": "at some evaluation",
    "at_in_distribution_best": "at the in-distribution best",
    "stably": f"stably (last {STABLE_EVALUATIONS} evaluations)",
}
# The reading the verdicts use: held-out all right at each of the last STABLE_EVALUATIONS evaluations. It needs
# no checkpoint selection at all; "at the in-distribution best" depends on which of the tied
# in-distribution bests is taken (the first, as the trainer does), and a seed that reaches 100%
# in distribution before it extrapolates reads as not extrapolating there.
VERDICT_STRENGTH = "stably"


@dataclass(frozen=True)
class RunMeasures:
    seed: int
    complete: bool
    learned: bool  # 100% of the in-distribution arithmetic at some evaluation
    extrapolates: dict[str, bool]
    heldout_last: float | None
    heldout_tail: float | None  # pooled over the last STABLE_EVALUATIONS evaluations
    heldout_tail_by_operation: dict[str, float]  # the same per operation; {} for runs before session 11
    heldout_at_id_best: float | None
    heldout_at_paper_best: float | None  # at the evaluation the paper's combined score selects
    heldout_peak: float | None  # the highest held-out accuracy at any evaluation
    heldout_peak_iter: int | None  # the first evaluation that reached it
    in_distribution_at_best: float | None
    final_loss: float | None
    # The loss floors of the run's own training stream and the share of the line order learned
    # between them; None where training does not minimize the stream loss (whole lines, the
    # answer-only loss) or the corpus is not at hand.
    floors: Floors | None
    order_fraction: float | None
    # What the run answered on each held-out prompt at its last evaluation: completion -> samples,
    # from its last record or answers.json (toobig.answers); {} when neither has them.
    heldout_answers_last: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasuredCell:
    """One configuration's complete runs, measured."""

    cell: Cell
    runs: tuple[RunMeasures, ...]  # complete runs only

    @property
    def n(self) -> int:
        return len(self.runs)

    def count(self, strength: str = VERDICT_STRENGTH) -> int:
        return sum(r.extrapolates[strength] for r in self.runs)

    def learned(self) -> int:
        return sum(r.learned for r in self.runs)

    def count_among_learned(self, strength: str = VERDICT_STRENGTH) -> int:
        """Seeds that extrapolate among those that learned the task: a seed that never learned
        it fails to extrapolate for another reason than memorizing."""
        return sum(r.extrapolates[strength] for r in self.runs if r.learned)

    def mean(self, field: str) -> Estimate | None:
        return estimate([getattr(r, field) for r in self.runs if getattr(r, field) is not None])


@dataclass(frozen=True)
class VariantCell(MeasuredCell):
    """A study's variant and its configuration's measured runs."""

    study: Study
    variant: Variant


def measure_cell(cell: Cell) -> MeasuredCell:
    """The configuration's complete runs that evaluated, measured."""
    return MeasuredCell(cell, tuple(measure(r) for r in cell.runs if r.complete and r.metrics))


@lru_cache(maxsize=256)
def _floors(text: str, block: int) -> Floors:
    return loss_floors(text, block)


def _stream_floors(run: SeedRun) -> Floors | None:
    config = run.run_config()
    if config is None:
        return None
    if not config.trains_on_windows:
        return None  # its training loss is not the stream loss the floors bound
    try:
        text = corpus_text(resolve_task(config.task, config.seed))
    except ConfigError:  # e.g. a corpus file of another machine: no floors, the report goes on
        return None
    return _floors(text, config.model.block_size)


def measure(run: SeedRun) -> RunMeasures:
    selection = str(run.config.get("eval", {}).get("selection", "combined"))
    summary = heldout_summary(run.metrics, selection)
    id_best = best_record(run.metrics, "in_distribution")
    final = run.final or (run.metrics[-1] if run.metrics else None)
    final_loss = None if final is None else final.get("loss")
    heldout = [(a, int(r["iter"])) for r in run.metrics if (a := heldout_accuracy(r)) is not None]
    peak = max(heldout, key=lambda point: (point[0], -point[1]), default=(None, None))
    floors = _stream_floors(run)
    return RunMeasures(
        seed=run.seed,
        complete=run.complete,
        learned=any(in_distribution_perfect(r) for r in run.metrics),
        extrapolates=dict(summary.get("extrapolates") or {s: False for s in STRENGTHS}),
        heldout_last=summary.get("heldout_acc_last"),
        heldout_tail=heldout_accuracy_tail(run.metrics),
        heldout_tail_by_operation=heldout_by_operation_tail(run.metrics),
        heldout_at_id_best=summary.get("heldout_acc_at_in_distribution_best"),
        heldout_at_paper_best=summary.get("heldout_acc_at_paper_best"),
        heldout_peak=peak[0],
        heldout_peak_iter=peak[1],
        in_distribution_at_best=None if id_best is None else in_distribution_score(id_best),
        final_loss=final_loss,
        floors=floors,
        order_fraction=None if floors is None or final_loss is None else floors.order_fraction(final_loss),
        heldout_answers_last=dict((final or {}).get("heldout_answers") or run.answers_after_training or {}),
    )


def study_ran(rows: Sequence[VariantCell]) -> bool:
    """A study ran when it has runs beyond the paper's Table 2 configurations."""
    return any(not vc.variant.is_table2 for vc in rows)


def study_cells(study: Study, cells: Sequence[Cell]) -> list[VariantCell]:
    """The study's variants that have complete runs, in the study's order."""
    found: dict[Variant, VariantCell] = {}
    for cell in cells:
        variant = study.variant_of(cell.digest, cell.max_iters)
        if variant is None:
            continue
        measured = measure_cell(cell)
        if measured.runs and (variant not in found or found[variant].cell.max_iters < cell.max_iters):
            found[variant] = VariantCell(cell, measured.runs, study, variant)
    return [found[v] for v in study.variants if v in found]
