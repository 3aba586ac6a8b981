"""Configurations of your own, compared with the studies' two tests: does A extrapolate more than
B (and than C, ...)? The share of seeds that extrapolate stably (Fisher's exact test, with the
interval of the difference) and the held-out accuracy over the last evaluations (exact rank-sum
test), Holm-adjusted over the hypotheses asked together."""

from __future__ import annotations

from pathlib import Path

from ..store import StoreError
from .beyond import measures_table
from .runs import Cell, load_runs
from .study_measures import MeasuredCell, measure_cell
from .verdicts import Comparison, group, verdict_lines


def _one_configuration(path: Path) -> Cell:
    if not path.is_dir():
        raise StoreError(f"no such folder: {path}")
    collection = load_runs(path)
    cells = collection.cells()
    if len(cells) != 1:
        found = f"{len(cells)} configurations" if cells else "no readable run"
        raise StoreError(f"{path}: holds {found}; pass the folder of one configuration (its seed<N> runs)")
    return cells[0]


def _measured(path: Path) -> MeasuredCell:
    measured = measure_cell(_one_configuration(path))
    if not any(r.heldout_tail is not None for r in measured.runs):
        raise StoreError(f"{path.name}: no complete run with held-out samples to compare")
    return measured


def compare(a: str | Path, *others: str | Path, than: str | Path | None = None) -> str:
    """Hypotheses about configuration folders, tested on their complete seeds as the report's two
    verdicts in plain words, below the studies' table of the folders' measures (markdown): "A
    extrapolates more than B" for each B of others, or, with `than`, "X extrapolates more than
    THAN" for each X of A and others. Several hypotheses are one family: their p-values are
    Holm-adjusted together, as within a study."""
    folders = [Path(p) for p in (a, *others)]
    if than is None and not others:
        raise StoreError("compare needs a second configuration folder to compare with (or than=)")
    named = [*folders, *([Path(than)] if than is not None else [])]
    resolved = [p.resolve() for p in named]
    repeated = sorted({str(p) for p, r in zip(named, resolved) if resolved.count(r) > 1})
    if repeated:
        raise StoreError(f"{repeated[0]}: named twice; each configuration folder takes one side")
    measured = [_measured(p) for p in named]
    names = [p.name for p in named]
    groups = [group(name, m) for name, m in zip(names, measured)]
    if than is not None:
        *higher, lower = groups
        pairs = [(g, lower) for g in higher]
    else:
        higher, *lower = groups
        pairs = [(higher, g) for g in lower]
    comparisons = [Comparison(f"{ga.name} extrapolates more than {gb.name}", ga, gb) for ga, gb in pairs]
    return measures_table(measured, "Configuration", names) + "\n\n" + "\n".join(verdict_lines(comparisons))
