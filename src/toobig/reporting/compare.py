"""Two configurations of your own, compared with the studies' two tests: does A extrapolate more
than B? The share of seeds that extrapolate stably (Fisher's exact test, with the interval of the
difference) and the held-out accuracy over the last evaluations (exact rank-sum test)."""

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


def compare(a: str | Path, b: str | Path) -> str:
    """The hypothesis "A extrapolates more than B" tested on the complete seeds of two
    configuration folders, as the report's two verdicts in plain words (markdown)."""
    ga, gb = (_group(Path(p).name, _one_configuration(Path(p))) for p in (a, b))
    return "\n".join(verdict_lines([Comparison(f"{ga.name} extrapolates more than {gb.name}", ga, gb)]))
