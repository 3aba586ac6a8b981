"""Runs outside the paper's experiments and the studies (a task of your own, a sweep of other
settings): one row per configuration, so every run that trained shows in the report."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..config import ConfigError, from_dict
from ..metrics import best_record, extrapolated, heldout_accuracy, in_distribution_score
from ..tasks import held_out_label
from .markdown import DASH, md_table, pct
from .runs import Cell, config_differences, preset_changes, shown_setting

HEADERS = ["Configuration", "Differs in", "Seeds complete", "Iterations", "Best combined", "In-distribution at best",
           "Held-out set", "Held-out at best", "Held-out at last", "Extrapolates stably"]


def _mean(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    return pct(sum(present) / len(present)) if present else DASH


def _held_out_set(cell: Cell) -> str:
    try:
        return held_out_label(from_dict(cell.config).task) or DASH
    except ConfigError:
        return DASH


def _row(cell: Cell, differs: tuple[str, ...]) -> list[object]:
    runs = cell.evaluated
    selection = str(cell.config.get("eval", {}).get("selection", "combined"))
    bests = [best_record(r.metrics, selection) or r.best for r in runs]
    lasts = [r.metrics[-1] if r.metrics else r.final for r in runs]
    stable = [r for r in runs if len(r.metrics) >= 10 and all(extrapolated(m) for m in r.metrics[-10:])]
    has_held_out = any((b or {}).get("heldout_total") for b in bests)
    return [
        cell.label,
        ", ".join(differs) or DASH,
        f"{sum(r.complete for r in cell.runs)} of {len(cell.runs)}",
        f"{cell.max_iters:,}",
        _mean([(b or {}).get("combined") for b in bests]),
        _mean([in_distribution_score(b) if b else None for b in bests]),
        _held_out_set(cell),
        _mean([heldout_accuracy(b) for b in bests]) if has_held_out else DASH,
        _mean([heldout_accuracy(m) for m in lasts]) if has_held_out else DASH,
        f"{len(stable)} of {len(runs)}" if has_held_out else DASH,
    ]


def other_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Cells of no paper experiment and no study: e.g. a task of your own, a learning-rate sweep."""
    return [c for c in cells if c.experiment == "other"]


def sweep_groups(cells: Sequence[Cell]) -> dict[str, list[Cell]]:
    """Other cells that share a label but differ in some setting (a sweep): label -> cells."""
    by_label: dict[str, list[Cell]] = defaultdict(list)
    for cell in other_cells(cells):
        by_label[cell.label].append(cell)
    return {label: group for label, group in by_label.items() if len(group) > 1}


def sweep_figure(label: str, group: Sequence[Cell]) -> Any:
    """One axis per score, one colour per configuration: thin lines per seed, thick the mean."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .figures import mean_series, seed_series

    differences = config_differences(group)
    scores = [("combined", "combined score")]
    if any(r.best and r.best.get("heldout_total") for c in group for r in c.runs):
        scores.append(("heldout_acc", "held-out accuracy"))
    fig = Figure(figsize=(6.5 * len(scores) + 2.5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(scores), squeeze=False).ravel()
    for ax, (key, name) in zip(axes, scores):
        for i, cell in enumerate(group):
            colour = f"C{i % 10}"
            for run in cell.runs:
                ax.plot(*seed_series(run, key), color=colour, linewidth=0.6, alpha=0.35)
            xs, ys = mean_series(cell.runs, key)
            setting = ", ".join(differences[cell.digest]) or cell.digest
            ax.plot(xs, ys, color=colour, linewidth=1.8, label=f"{setting} (mean of {len(cell.runs)})")
        ax.set_xlim(0, max(c.max_iters for c in group))
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("iteration")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(f"{label}: {len(group)} configurations")
    return fig


def sweep_figures(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """A comparison figure per sweep among the other runs; return the paths written."""
    written = []
    for label, group in sweep_groups(cells).items():
        path = Path(out_dir) / f"sweep_{label}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_figure(label, group).savefig(path, dpi=110)
        written.append(path)
    return written


def other_section(cells: Sequence[Cell]) -> str | None:
    others = other_cells(cells)
    if not others:
        return None
    by_label: dict[str, list[Cell]] = defaultdict(list)
    for cell in others:
        by_label[cell.label].append(cell)
    differences: dict[str, tuple[str, ...]] = {}
    for group in by_label.values():
        # What sets a configuration apart from its preset, and from the others of its label (a
        # setting of a label without a preset, e.g. of a task of your own).
        among = config_differences(group) if len(group) > 1 else {}
        for cell in group:
            ours = [shown_setting(k, v) for k, v in sorted(preset_changes(cell, at_its_length=True).items())]
            differences[cell.digest] = tuple(dict.fromkeys([*ours, *among.get(cell.digest, ())]))
    rows = [_row(c, differences[c.digest]) for c in others]
    note = (
        "Runs of no paper experiment or study, one row per configuration; accuracies are means over the "
        "seeds with an evaluation. Differs in: every setting that is not its preset's (at the run's length; "
        "a schedule scaled to it is the preset's), and what tells apart the configurations of one label. "
        "Best: the evaluation with the highest selection score (eval.selection). "
        "Extrapolates stably: every held-out sample right at each of the last 10 evaluations."
    )
    return "## Other runs\n\n" + md_table(HEADERS, rows) + "\n\n" + note
