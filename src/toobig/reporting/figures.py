"""Figures 1-7: accuracy over iterations per model, one thin line per seed, the mean, the paper's curve.

matplotlib is imported inside the functions and drawn on an explicit Agg canvas (no pyplot, no
global backend switch), so importing this module has no side effects.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .paper import paper_curve
from ..metrics import arithmetic_perfect, heldout_accuracy
from .runs import Cell, SeedRun
from .tables import model_label

# (metrics key, legend name, colour) per task; accuracies over all prompts, held-out included.
# The held-out pairs' accuracy is the paper's key result: drawn beside the in-distribution curves
# (the paper's own curves have no such series).
_HELDOUT = ("heldout_acc", "held-out pairs", "tab:purple")
_SERIES = {
    "arithmetic": (("add_acc", "addition", "tab:blue"), ("sub_acc", "subtraction", "tab:orange"), _HELDOUT),
    "capitals": (("facts_acc", "facts", "tab:green"),),
    "combined": (
        ("add_acc", "addition", "tab:blue"),
        ("sub_acc", "subtraction", "tab:orange"),
        _HELDOUT,
        ("facts_acc", "facts", "tab:green"),
    ),
}
_GROKKING_SERIES = _SERIES["arithmetic"]


@dataclass(frozen=True)
class FigureSpec:
    number: int
    task: str
    condition: str
    file_name: str
    title: str


FIGURES = (
    FigureSpec(1, "arithmetic", "paper", "fig1_arithmetic.png", "Figure 1: addition and subtraction accuracy"),
    FigureSpec(2, "capitals", "paper", "fig2_facts.png", "Figure 2: factual recall"),
    FigureSpec(3, "combined", "paper", "fig3_combined.png", "Figure 3: joint task"),
    FigureSpec(4, "arithmetic", "controlled", "fig4_arithmetic_controlled.png", "Figure 4: arithmetic, controlled regularization"),
    FigureSpec(5, "capitals", "controlled", "fig5_facts_controlled.png", "Figure 5: factual recall, controlled regularization"),
    FigureSpec(6, "combined", "controlled", "fig6_combined_controlled.png", "Figure 6: joint task, controlled regularization"),
)
GROKKING_FILE = "fig7_grokking.png"


def _value(record: Mapping[str, Any], key: str) -> float | None:
    if key == "heldout_acc":
        return heldout_accuracy(record)
    part = key.removesuffix("_acc")
    if part in ("add", "sub", "facts") and not record.get(f"{part}_total"):
        return None  # the task has no such part
    return record.get(key)


def seed_series(run: SeedRun, key: str) -> tuple[list[int], list[float]]:
    points = [(int(m["iter"]), _value(m, key)) for m in run.metrics]
    points = [(i, v) for i, v in points if v is not None]
    return [i for i, _ in points], [float(v) for _, v in points]


def mean_series(runs: Sequence[SeedRun], key: str) -> tuple[list[int], list[float]]:
    """Mean over the seeds evaluated at each iteration (running seeds simply stop contributing)."""
    by_iter: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for i, v in zip(*seed_series(run, key)):
            by_iter[i].append(v)
    iters = sorted(by_iter)
    return iters, [sum(by_iter[i]) / len(by_iter[i]) for i in iters]


def extrapolation_points(run: SeedRun) -> list[int]:
    """Iterations where addition and subtraction are both 100% over all prompts, held-out included."""
    return [int(m["iter"]) for m in run.metrics if arithmetic_perfect(m)]


def _draw_cell(ax: Any, cell: Cell, series: Sequence[tuple[str, str, str]], paper: list[dict] | None, log_x: bool, title: str) -> None:
    positive = (lambda xs, ys: ([x for x in xs if x > 0], [y for x, y in zip(xs, ys) if x > 0])) if log_x else (lambda xs, ys: (xs, ys))
    for key, name, colour in series:
        for run in cell.runs:
            xs, ys = positive(*seed_series(run, key))
            ax.plot(xs, ys, color=colour, linewidth=0.6, alpha=0.35)
        xs, ys = positive(*mean_series(cell.runs, key))
        if xs:
            ax.plot(xs, ys, color=colour, linewidth=1.8, label=f"{name} (mean of {len(cell.runs)})")
        if paper is not None and key != "heldout_acc":
            # On the linear axes the paper's curve stops where our runs do (the axis spans their
            # length); the grokking figure's log axis shows the paper's whole long run.
            pts = [(r["iter"], r[key]) for r in paper if r.get(key) is not None and (log_x or r["iter"] <= cell.max_iters)]
            pxs, pys = positive([p[0] for p in pts], [p[1] for p in pts])
            if pxs:
                ax.plot(pxs, pys, color=colour, linewidth=1.2, linestyle="--", alpha=0.9, label=f"{name} (paper)")
    if any(key == "add_acc" for key, _, _ in series):
        hits = [i for run in cell.runs for i in extrapolation_points(run) if i > 0 or not log_x]
        if hits:
            ax.scatter(hits, [1.0] * len(hits), color="red", s=14, zorder=5, label="add and sub 100% (extrapolation)")
    if log_x:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, cell.max_iters)
    ax.set_ylim(-0.03, 1.05)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # beside the data, not on it


def _figure(cells: Sequence[Cell], all_cells: Sequence[Cell], series_of: Any, paper_of: Any, log_x: bool, title: str) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = 1 if len(cells) == 1 else 2
    nrows = math.ceil(len(cells) / ncols)
    fig = Figure(figsize=(7.5 * ncols, 3.8 * nrows), layout="constrained")  # room for the legends
    FigureCanvasAgg(fig)  # an explicit Agg canvas: no pyplot state, no global backend
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, cell in zip(axes, cells):
        label = model_label(cell, all_cells)
        seeds = len(cell.runs)
        _draw_cell(ax, cell, series_of(cell), paper_of(cell), log_x, f"{label}, {seeds} seed{'s' if seeds != 1 else ''}")
    for ax in axes[len(cells):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def _has_metrics(cell: Cell) -> bool:
    return any(run.metrics for run in cell.runs)


def experiment_figure(spec: FigureSpec, cells: Sequence[Cell]) -> Any | None:
    """Figure spec.number (1-6) as a matplotlib Figure, one subplot per cell; None without data."""
    chosen = [
        c for c in cells
        if c.experiment.startswith("table") and c.task == spec.task and c.regularization == spec.condition and _has_metrics(c)
    ]
    if not chosen:
        return None
    return _figure(
        chosen, cells,
        series_of=lambda c: _SERIES[c.task],
        paper_of=lambda c: paper_curve(c.task, c.model, c.regularization),
        log_x=False,
        title=spec.title,
    )


def grokking_figure(cells: Sequence[Cell]) -> Any | None:
    """Figure 7: the grokking run(s) on a log-scaled iteration axis; None without data."""
    chosen = [c for c in cells if c.experiment == "grokking" and _has_metrics(c)]
    if not chosen:
        return None
    return _figure(
        chosen, cells,
        series_of=lambda c: _GROKKING_SERIES,
        paper_of=lambda c: paper_curve("arithmetic", "mlt", "paper", grokking=True),
        log_x=True,
        title="Figure 7: extended MLT training on arithmetic (log-scaled iterations)",
    )


def write_figures(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Write Figures 1-7 that have data into out_dir; return the paths written (none for a figure without data)."""
    out_dir = Path(out_dir)
    figures = [(experiment_figure(spec, cells), spec.file_name) for spec in FIGURES]
    figures.append((grokking_figure(cells), GROKKING_FILE))
    written: list[Path] = []
    for fig, name in figures:
        if fig is None:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_dir / name, dpi=110)
        written.append(out_dir / name)
    return written
