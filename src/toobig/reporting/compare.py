"""Configurations of your own, compared with the studies' two tests: does A extrapolate more than
B (and than C, ...)? The share of seeds that extrapolate stably (Fisher's exact test, with the
interval of the difference) and the held-out accuracy over the last evaluations (exact rank-sum
test), Holm-adjusted over the hypotheses asked together."""

from __future__ import annotations

from pathlib import Path

from ..store import StoreError
from .runs import Cell, load_runs
from .study_measures import measure
from .verdicts import Comparison, Group, group_of, verdict_lines


def _one_configuration(path: Path) -> Cell:
    if not path.is_dir():
        raise StoreError(f"no such folder: {path}")
    collection = load_runs(path)
    cells = collection.cells()
    if len(cells) != 1:
        found = f"{len(cells)} configurations" if cells else "no readable run"
        raise StoreError(f"{path}: holds {found}; pass the folder of one configuration (its seed<N> runs)")
    return cells[0]


def _group(name: str, cell: Cell) -> Group:
    runs = [measure(r) for r in cell.runs if r.complete and r.metrics]
    if not any(r.heldout_tail is not None for r in runs):
        raise StoreError(f"{name}: no complete run with held-out samples to compare")
    return group_of(name, runs)


def compare(a: str | Path, *others: str | Path, than: str | Path | None = None) -> str:
    """Hypotheses about configuration folders, tested on their complete seeds as the report's two
    verdicts in plain words (markdown): "A extrapolates more than B" for each B of others, or,
    with `than`, "X extrapolates more than THAN" for each X of A and others. Several hypotheses
    are one family: their p-values are Holm-adjusted together, as within a study."""
    folders = [Path(p) for p in (a, *others)]
    if than is None and not others:
        raise StoreError("compare needs a second configuration folder to compare with (or than=)")
    named = [*folders, *([Path(than)] if than is not None else [])]
    resolved = [p.resolve() for p in named]
    repeated = sorted({str(p) for p, r in zip(named, resolved) if resolved.count(r) > 1})
    if repeated:
        raise StoreError(f"{repeated[0]}: named twice; each configuration folder takes one side")
    groups = [_group(p.name, _one_configuration(p)) for p in named]
    if than is not None:
        *higher, lower = groups
        pairs = [(g, lower) for g in higher]
    else:
        higher, *lower = groups
        pairs = [(higher, g) for g in lower]
    return "\n".join(verdict_lines([Comparison(f"{ga.name} extrapolates more than {gb.name}", ga, gb) for ga, gb in pairs]))
