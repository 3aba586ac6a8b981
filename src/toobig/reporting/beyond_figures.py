"""Figures of the studies beyond the paper: extrapolation against parameters per protocol, order
learned and held-out accuracy against width, each seed's held-out accuracy against the order it
learned, held-out accuracy during training (per protocol, per
weight decay, per learning rate), the held-out set x width grid, and per study the kinds of the
held-out answers during training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from ..metrics import STABLE_EVALUATIONS, heldout_accuracy
from ..studies import STUDIES, Variant
from .answers import KINDS, kinds_over_training
from .runs import Cell
from .stats import clopper_pearson
from .study_measures import STRENGTH_NAMES, VERDICT_STRENGTH, VariantCell, study_cells, study_ran


def heldout_over_training(vc: VariantCell) -> tuple[list[int], list[float]]:
    """Held-out accuracy at each evaluation, averaged over the cell's complete seeds (the
    evaluations every one of them has: seeds of a cell share one schedule)."""
    by_iter: dict[int, list[float]] = {}
    runs = [run for run in vc.cell.runs if run.complete and run.metrics]
    for run in runs:
        for record in run.metrics:
            accuracy = heldout_accuracy(record)
            if accuracy is not None:
                by_iter.setdefault(int(record["iter"]), []).append(accuracy)
    iters = sorted(i for i, values in by_iter.items() if len(values) == len(runs))
    return iters, [sum(by_iter[i]) / len(runs) for i in iters]


# Below this many seeds a point is drawn hollow and not joined to its neighbours, and a grid cell
# is left grey: its share of seeds that extrapolate can be anything from 0 to 1.
FEW_SEEDS = 5
_FEW_NOTE = f"(dots: seeds; mean hollow and not joined below {FEW_SEEDS} seeds)"


# The figures' files, and the studies whose sections may show each, in order of preference: a
# figure goes to the first of them that has a section in the report.
EXTRAPOLATION_FIGURE = "beyond_extrapolation_vs_parameters.png"
ORDER_FIGURE = "beyond_order_fraction_vs_width.png"
WIDTH_FIGURE = "beyond_heldout_vs_width.png"
PROTOCOL_FIGURE = "beyond_heldout_over_training.png"
WEIGHT_DECAY_FIGURE = "beyond_weight_decay_over_training.png"
LEARNING_RATE_FIGURE = "beyond_learning_rate_over_training.png"
GRID_FIGURE = "beyond_heldout_grid.png"
SEEDS_FIGURE = "beyond_heldout_vs_order_fraction.png"
_SHOWN_IN = {
    EXTRAPOLATION_FIGURE: ("capacity-curve", "order-ablation"), ORDER_FIGURE: ("capacity-curve",),
    WIDTH_FIGURE: ("capacity-curve",), SEEDS_FIGURE: ("capacity-curve",), PROTOCOL_FIGURE: ("order-ablation",), WEIGHT_DECAY_FIGURE: ("weight-decay",),
    LEARNING_RATE_FIGURE: ("learning-rate",), GRID_FIGURE: ("heldout-generality",),
}
_ANSWERS_FIGURE = "beyond_answers_over_training_{}.png"


def studies_showing(name: str) -> tuple[str, ...]:
    """The studies whose report sections may show the figure file called name, in order of
    preference; () for a file that is not a study's figure."""
    answers = tuple(study for study in STUDIES if name == _ANSWERS_FIGURE.format(study))
    return answers or _SHOWN_IN.get(name, ())


# How the paper's runs are named beside each study's variants.
_PAPER_LABELS = {"weight-decay": "paper: no wd, 30k", "learning-rate": "paper: lr 1e-2", "heldout-generality": "(5,7), paper"}

# The kinds of held-out answers, right to wrong; grey for no number at all.
_KIND_COLOURS = dict(zip(KINDS, ("tab:green", "tab:orange", "tab:purple", "tab:red", "0.75")))


def _width(model: str) -> int:
    return int(model[1:])


# A study of one variant per model (the capacity curve) wraps its panels at this many columns.
_WRAP = 6


def panel_grid(variants: Sequence[Variant]) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Where each variant's panel goes, (row, column), and the grid's (rows, columns): a row per
    model and a column per label, or, with one variant per model, the models in reading order."""
    labels = list(dict.fromkeys(v.label for v in variants))
    models = list(dict.fromkeys(v.model for v in variants))
    if len(models) == len(variants):
        columns = min(len(variants), _WRAP)
        return [divmod(i, columns) for i in range(len(variants))], (-(-len(variants) // columns), columns)
    return [(models.index(v.model), labels.index(v.label)) for v in variants], (len(models), len(labels))


# A panel of the seeds figure spans at least this much of the order learned, so that seeds a
# hundredth apart do not look far apart.
_MIN_ORDER_SPAN = 0.2


def seeds_figure(rows: Sequence[VariantCell]) -> Any | None:
    """Each width's seeds in a panel of their own: held-out accuracy over the last evaluations
    against the share of the line order learned (hollow: never 100% in distribution). Between
    widths the two fall together (the other figures); the panels ask whether, within a width, the
    seeds that memorize more of the order extrapolate less. None when no seed has both."""
    from matplotlib.figure import Figure

    panels = [(vc, [r for r in vc.runs if r.order_fraction is not None and r.heldout_tail is not None]) for vc in rows]
    panels = [(vc, runs) for vc, runs in panels if runs]
    if not panels:
        return None
    places, shape = panel_grid([vc.variant for vc, _ in panels])
    fig = Figure(figsize=(2.3 * shape[1] + 1.5, 2.1 * shape[0] + 1.3), layout="constrained")
    axes = fig.subplots(*shape, sharey=True, squeeze=False)
    for (vc, runs), (row, column) in zip(panels, places):
        ax = axes[row][column]
        for learned in (True, False):
            these = [r for r in runs if r.learned is learned]
            if these:
                ax.scatter(
                    [r.order_fraction for r in these], [r.heldout_tail for r in these], s=18, alpha=0.6,
                    edgecolors="tab:blue", facecolors="tab:blue" if learned else "none",
                    gid="learned" if learned else "never learned",
                )
        xs = [r.order_fraction for r in runs]
        middle, half = (min(xs) + max(xs)) / 2, max(max(xs) - min(xs), _MIN_ORDER_SPAN) / 2 * 1.15
        ax.set_xlim(middle - half, middle + half)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"{vc.variant.model} ({len(runs)} seed{'' if len(runs) == 1 else 's'})", fontsize=8)
        ax.tick_params(labelsize=7)
    for row in range(shape[0]):
        for column in range(shape[1]):
            if (row, column) not in places:
                axes[row][column].set_axis_off()
    fig.supxlabel("fraction of the training file's line order learned (each panel its own scale)", fontsize=9)
    fig.supylabel(f"held-out accuracy, last {STABLE_EVALUATIONS} evaluations", fontsize=9)
    # The markers are explained in the title: a legend beside a title collides with it in
    # constrained layout.
    fig.suptitle(
        "Each seed of the capacity curve, width by width: extrapolation against the line order it memorized\n"
        "(filled: 100% in distribution at some evaluation; hollow: never)",
        fontsize=10,
    )
    return fig


def beyond_figures(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Figures of the studies that have runs: extrapolation against parameters per protocol,
    order learned and held-out accuracy against width, held-out accuracy during training per
    protocol, weight decay and learning rate (beside the paper's runs), the held-out set x width
    grid, and per study the kinds of the held-out answers during training."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    out_dir = Path(out_dir)
    measured = {name: study_cells(study, cells) for name, study in STUDIES.items()}
    studies = {name: rows if study_ran(rows) else [] for name, rows in measured.items()}
    curve, ablation, generality = studies["capacity-curve"], studies["order-ablation"], studies["heldout-generality"]
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        written.append(out_dir / name)

    def rate_series(ax, rows: Sequence[VariantCell], label: str, marker: str, offset: int = 0) -> None:
        rows = [vc for vc in rows if vc.cell.parameters]
        if not rows:
            return
        # Protocols share their model sizes: nudge each series sideways so none hides another.
        xs = [vc.cell.parameters * 1.04**offset for vc in rows]
        ys = [vc.count() / vc.n for vc in rows]
        bounds = [clopper_pearson(vc.count(), vc.n) for vc in rows]
        err = [[y - lo for y, (lo, _) in zip(ys, bounds)], [hi - y for y, (_, hi) in zip(ys, bounds)]]
        seeds = "/".join(str(n) for n in sorted({vc.n for vc in rows}))
        colour = f"C{offset}"
        ax.errorbar(xs, ys, yerr=err, fmt="none", capsize=3, alpha=0.6, color=colour)
        many = [i for i, vc in enumerate(rows) if vc.n >= FEW_SEEDS]
        # A line joins only the sizes with enough seeds; fewer seeds: a hollow marker on its own.
        ax.plot([xs[i] for i in many], [ys[i] for i in many], marker=marker, color=colour, label=f"{label} ({seeds} seeds)")
        few = [i for i, vc in enumerate(rows) if vc.n < FEW_SEEDS]
        ax.plot([xs[i] for i in few], [ys[i] for i in few], marker=marker, ls="none", mfc="none", color=colour)

    if curve or ablation:
        fig = Figure(figsize=(8, 4.5))
        ax = fig.add_subplot()
        if curve:
            rate_series(ax, curve, "capacity curve (paper protocol)", "o")
        for i, label in enumerate(dict.fromkeys(vc.variant.label for vc in ablation)):
            if label != "paper" or not curve:
                rate_series(ax, [vc for vc in ablation if vc.variant.label == label], label, "s", i + 1)
        ax.set_xscale("log")
        ax.set_xlabel("parameters (position embeddings excluded; protocols nudged apart)")
        ax.set_ylabel(f"P(extrapolate {STRENGTH_NAMES[VERDICT_STRENGTH]})")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(
            "Extrapolation to the held-out pairs against model size, per protocol\n"
            f"(exact 95% intervals; hollow: fewer than {FEW_SEEDS} seeds, not joined)"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, EXTRAPOLATION_FIGURE)

    def per_width(ax, rows: Sequence[VariantCell], field: str, label: str, colour: str) -> None:
        for vc in rows:
            values = [getattr(r, field) for r in vc.runs if getattr(r, field) is not None]
            ax.scatter([_width(vc.variant.model)] * len(values), values, s=10, alpha=0.4, color=colour)
        means = [(_width(vc.variant.model), vc.mean(field), vc.n >= FEW_SEEDS) for vc in rows]
        means = [(w, e.mean, many) for w, e, many in means if e is not None]
        if not means:
            return
        joined = [(w, m) for w, m, many in means if many]
        ax.plot([w for w, _ in joined], [m for _, m in joined], marker="o", color=colour, label=label)
        alone = [(w, m) for w, m, many in means if not many]
        ax.plot([w for w, _ in alone], [m for _, m in alone], marker="o", ls="none", mfc="none", color=colour)

    if curve:
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        per_width(ax, curve, "order_fraction", "paper protocol (capacity curve)", "tab:blue")
        colours = iter(("tab:orange", "tab:green", "tab:red", "tab:purple"))
        for label in dict.fromkeys(vc.variant.label for vc in ablation if vc.variant.label != "paper"):
            per_width(ax, [vc for vc in ablation if vc.variant.label == label], "order_fraction", label, next(colours, "tab:gray"))
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.axhline(1.0, color="gray", lw=0.8, ls="--")
        low = min([0.0, *ax.get_ylim()])
        ax.axhspan(low, 0.0, color="0.9", zorder=0, label="below 0: the lines themselves not yet fitted")
        ax.set_xlabel("width n")
        ax.set_ylabel("fraction of the line order learned")
        ax.set_title(f"How much of the training file's line order each width memorizes\n{_FEW_NOTE}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, ORDER_FIGURE)

        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        per_width(ax, curve, "heldout_tail", f"held-out, last {STABLE_EVALUATIONS} evaluations", "tab:purple")
        per_width(ax, curve, "heldout_at_id_best", "held-out, at the in-distribution best", "tab:red")
        per_width(ax, curve, "in_distribution_at_best", "in distribution, at its best", "tab:blue")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("width n")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Held-out and in-distribution accuracy against width, paper protocol\n{_FEW_NOTE}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, WIDTH_FIGURE)

        fig = seeds_figure(curve)
        if fig is not None:
            save(fig, SEEDS_FIGURE)

    def over_training(rows: Sequence[VariantCell], what: str, name: str) -> None:
        """One panel per model: held-out accuracy at each evaluation, per variant."""
        models_run = list(dict.fromkeys(vc.variant.model for vc in rows))
        fig = Figure(figsize=(4.2 * len(models_run) + 2, 3.8))
        axes = fig.subplots(1, len(models_run), sharey=True, squeeze=False)[0]
        for ax, model in zip(axes, models_run):
            for vc in (vc for vc in rows if vc.variant.model == model):
                iters, mean = heldout_over_training(vc)
                if not iters:
                    continue
                (line,) = ax.plot(iters, mean, lw=1.6, label=f"{vc.variant.label} ({vc.n})")
                # Outcomes are all-or-nothing per seed: the seeds show what the mean hides.
                for run in (run for run in vc.cell.runs if run.complete and run.metrics):
                    points = [(int(r["iter"]), a) for r in run.metrics if (a := heldout_accuracy(r)) is not None]
                    ax.plot(*zip(*points), lw=0.5, alpha=0.25, color=line.get_color())
            ax.set_title(model)
            ax.set_xlabel("iteration")
            ax.set_ylim(-0.05, 1.05)
            if ax.lines:
                ax.legend(fontsize=7, loc="best")
        axes[0].set_ylabel("held-out accuracy, mean over seeds")
        fig.suptitle(f"Held-out accuracy during training, per {what} (thick: mean; thin: seeds; legend: seeds)")
        save(fig, name)

    def answers_over_training(rows: Sequence[VariantCell], study: str) -> None:
        """One panel per variant (panel_grid): the kinds of the seeds' most frequent held-out
        answers at each evaluation."""
        panels = [(vc, kinds_over_training(vc.cell.runs)) for vc in rows]
        if not any(kinds for _, kinds in panels):
            return
        places, shape = panel_grid([vc.variant for vc in rows])
        fig = Figure(figsize=(2.6 * shape[1] + 1, 2.2 * shape[0] + 1.4), layout="constrained")
        # Columns share their length (30k or 100k iterations); every panel shares the shares' axis.
        axes = fig.subplots(*shape, sharex="col", sharey=True, squeeze=False)
        for (vc, kinds), (row, column) in zip(panels, places):
            ax = axes[row][column]
            ax.set_xlim(0, vc.cell.max_iters)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
            title = vc.variant.model if vc.variant.label == vc.variant.model else f"{vc.variant.model}, {vc.variant.label}"
            if kinds is None:
                ax.text(0.5, 0.5, "answers not recorded\nat every evaluation", ha="center", va="center", fontsize=7, transform=ax.transAxes)
                ax.set_title(title, fontsize=8)
                continue
            ax.stackplot(kinds.iterations, *(kinds.shares[k] for k in KINDS), colors=[_KIND_COLOURS[k] for k in KINDS], lw=0)
            # The seeds pooled are those trained since the records carried answers: say how many of all.
            ax.set_title(f"{title} ({len(kinds.seeds)} of {vc.n} seeds)", fontsize=8)
            ax.set_ylim(0, 1)
        for row in range(shape[0]):
            for column in range(shape[1]):
                if (row, column) not in places:
                    axes[row][column].set_axis_off()
        handles = [Patch(color=_KIND_COLOURS[k], label=k) for k in KINDS]
        fig.legend(handles=handles, loc="outside right center", fontsize=8)
        fig.supxlabel("iteration")
        fig.supylabel("share of held-out answers")
        fig.suptitle(
            f"{STUDIES[study].title}\nHeld-out answers during training: each seed's most frequent answer per prompt,\n"
            "pooled over the complete seeds that recorded answers at every evaluation",
            fontsize=9,
        )
        save(fig, _ANSWERS_FIGURE.format(study))

    if ablation:
        over_training(ablation, "protocol", PROTOCOL_FIGURE)
    # The weight-decay, learning-rate and held-out set variants beside the paper's runs of the
    # same models.
    paper = [vc for vc in measured["capacity-curve"] if vc.variant.is_table2]

    def with_paper(study: str) -> list[VariantCell]:
        rows = studies[study]
        models = {vc.variant.model for vc in rows}
        control = [replace(vc, variant=replace(vc.variant, label=_PAPER_LABELS[study])) for vc in paper if vc.variant.model in models]
        return [*control, *rows]

    for study, what, name in (
        ("weight-decay", "weight decay and length", WEIGHT_DECAY_FIGURE),
        ("learning-rate", "peak learning rate", LEARNING_RATE_FIGURE),
    ):
        if studies[study]:
            over_training(with_paper(study), what, name)

    grid_rows = [(_PAPER_LABELS["heldout-generality"], {vc.variant.model: vc for vc in curve})]
    for label in dict.fromkeys(vc.variant.label for vc in generality):
        grid_rows.append((label, {vc.variant.model: vc for vc in generality if vc.variant.label == label}))
    models = ("n14", "n28", "n56")
    if generality:
        fig = Figure(figsize=(6, 0.6 * len(grid_rows) + 1.5))
        ax = fig.add_subplot()
        # Cells with fewer than FEW_SEEDS seeds stay grey: a colour for 0/1 would read as 0/10.
        values = [
            [row[m].count() / row[m].n if m in row and row[m].n >= FEW_SEEDS else float("nan") for m in models]
            for _, row in grid_rows
        ]
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
        image = ax.imshow(values, vmin=0, vmax=1, cmap=cmap, aspect="auto")
        for i, (_, row) in enumerate(grid_rows):
            for j, m in enumerate(models):
                vc = row.get(m)
                if vc is None:
                    text, dark = "not run", False
                else:
                    tail = vc.mean("heldout_tail")
                    text = f"{vc.count()}/{vc.n}" + (f"\n{100 * tail.mean:.0f}% held-out" if tail else "")
                    dark = vc.n >= FEW_SEEDS and vc.count() / vc.n < 0.5
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(models)), models)
        ax.set_yticks(range(len(grid_rows)), [label for label, _ in grid_rows])
        ax.set_title(
            f"Seeds that extrapolate {STRENGTH_NAMES[VERDICT_STRENGTH]}, and mean held-out accuracy\n"
            f"over the last {STABLE_EVALUATIONS} evaluations (grey: fewer than {FEW_SEEDS} seeds)"
        )
        fig.colorbar(image, ax=ax, label="fraction of seeds")
        save(fig, GRID_FIGURE)
    # Last, so that each study's section shows them after its own figures.
    for study, rows in studies.items():
        if rows:
            answers_over_training(with_paper(study) if study in _PAPER_LABELS else rows, study)
    return written
