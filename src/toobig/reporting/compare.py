"""Configurations of your own, compared with the studies' two tests: does A extrapolate more than
B (and than C, ...)? The share of seeds that extrapolate stably (Fisher's exact test, with the
interval of the difference) and the held-out accuracy over the last evaluations (exact rank-sum
test), Holm-adjusted over the hypotheses asked together. Or, as the capacity curve asks of its
widths: does extrapolation fall along A, B, C, ... (Spearman's rank correlation)?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..store import StoreError
from .runs import Cell, load_runs
from .study_measures import MeasuredCell, measure_cell
from .study_table import measures_table
from .verdicts import (
    Comparison, Hypothesis, Shortfall, Trend, Verdict, group, interim_note, judge, verdict_lines, verdict_records,
)


def _one_configuration(path: Path) -> Cell:
    if not path.is_dir():
        raise StoreError(f"no such folder: {path}")
    collection = load_runs(path)
    cells = collection.cells()
    if len(cells) != 1:
        found = f"{len(cells)} configurations" if cells else "no readable run"
        raise StoreError(f"{path}: holds {found}; pass the folder of one configuration (its seed<N> runs)")
    return cells[0]


def _labels(folders: list[Path]) -> list[str]:
    """Each folder's name (a "." or ".." resolved), with its parent's where two names are alike."""
    names = [p.resolve().name for p in folders]
    return [
        f"{p.resolve().parent.name}/{name}" if names.count(name) > 1 else name for p, name in zip(folders, names)
    ]


def _names(names: Sequence[str], folders: list[Path]) -> list[str]:
    """The names given to the folders, in their order (than's last), checked."""
    names = [n.strip() for n in names]
    if len(names) != len(folders):
        raise StoreError(f"names: {len(names)} given for {len(folders)} configuration folders (one each, --than's last)")
    if not all(names) or len(set(names)) != len(names):
        raise StoreError(f"names must be distinct and not empty, got {', '.join(map(repr, names))}")
    return names


@dataclass(frozen=True)
class _Family:
    """The configurations asked about together and the hypotheses about them."""

    labels: list[str]
    measured: list[MeasuredCell]
    hypotheses: list[Hypothesis]
    short: list[Shortfall]


def _family(
    a: str | Path, others: Sequence[str | Path], than: str | Path | None, trend: bool, planned: int | None,
    names: Sequence[str] | None = None,
) -> _Family:
    if planned is not None and planned < 1:
        raise StoreError(f"planned (the seeds meant for each folder) must be 1 or more, got {planned}")
    if trend and than is not None:
        raise StoreError("compare takes --trend or --than, not both: a trend has no control")
    if trend and len(others) < 2:
        raise StoreError("a trend needs three configuration folders or more, in order (two are a comparison)")
    if than is None and not others:
        raise StoreError("compare needs a second configuration folder to compare with (or than=)")
    folders = [Path(p) for p in (a, *others, *([than] if than is not None else []))]
    cells = [_one_configuration(p) for p in folders]
    # One run on both sides would compare it with itself: refuse folders that share runs (the
    # same folder twice, however spelled, or a folder and one of its seed<N> runs).
    runs = [{r.path.resolve() for r in cell.runs} for cell in cells]
    for i, j in ((i, j) for i in range(len(folders)) for j in range(i + 1, len(folders))):
        if runs[i] & runs[j]:
            raise StoreError(f"{folders[i]} and {folders[j]} share runs; each configuration folder takes one side")
    labels = _labels(folders) if names is None else _names(names, folders)
    measured = [measure_cell(cell) for cell in cells]
    for folder, m in zip(folders, measured):
        if not any(r.heldout_tail is not None for r in m.runs):
            raise StoreError(f"{folder}: no complete run with held-out samples to compare")
    groups = [group(label, m) for label, m in zip(labels, measured)]
    hypotheses: list[Hypothesis]
    if trend:
        hypothesis = f"Extrapolation falls along {', '.join(labels)} ({len(labels)} configurations; every seed counts)"
        hypotheses = [Trend(hypothesis, "the folders' order", tuple(enumerate(groups)), "trend")]
    else:
        if than is not None:
            *higher, lower = groups
            pairs = [(g, lower) for g in higher]
        else:
            higher, *lower = groups
            pairs = [(higher, g) for g in lower]
        hypotheses = [Comparison(f"{ga.name} extrapolates more than {gb.name}", ga, gb, f"{ga.name}>{gb.name}") for ga, gb in pairs]
    short = [Shortfall(g.name, g.seeds, planned) for g in groups if planned is not None and g.seeds < planned]
    return _Family(labels, measured, hypotheses, short)


def compare(
    a: str | Path, *others: str | Path, than: str | Path | None = None, trend: bool = False, planned: int | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """Hypotheses about configuration folders, tested on their complete seeds as the report's two
    verdicts in plain words, below the studies' table of the folders' measures (markdown): "A
    extrapolates more than B" for each B of others, or, with `than`, "X extrapolates more than
    THAN" for each X of A and others. Several hypotheses are one family: their p-values are
    Holm-adjusted together, as within a study. With `trend`, one hypothesis instead: extrapolation
    falls steadily along the folders in the order given (e.g. widths from the one expected to
    extrapolate most to the widest), over every seed. A rank correlation sees a monotone fall:
    a rise then a fall (widths below and above a peak) reads as no trend. With `planned` (the seeds
    meant for each folder), verdicts read while a folder has fewer are said to be interim. names
    calls the folders so in the table and the verdicts (one each, in order, than's last; default:
    each folder's name)."""
    family = _family(a, others, than, trend, planned, names)
    note = interim_note(family.short, len(family.hypotheses), "these")
    verdicts = "\n".join(verdict_lines(judge(family.hypotheses, interim=None, whose="these")))
    return "\n\n".join([measures_table(family.measured, "Configuration", family.labels), *([note] if note else []), verdicts])


def compare_verdicts(
    a: str | Path, *others: str | Path, than: str | Path | None = None, trend: bool = False, planned: int | None = None,
    names: Sequence[str] | None = None,
) -> list[Verdict]:
    """compare's verdicts as records, one per hypothesis and reading, for scripts."""
    family = _family(a, others, than, trend, planned, names)
    return verdict_records(judge(family.hypotheses, interim=bool(family.short) if planned is not None else None, whose="these"))
