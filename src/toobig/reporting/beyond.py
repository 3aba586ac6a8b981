"""Sections for the studies beyond the paper: tables, tests and verdicts, figures.

A cell belongs to a study when its configuration digest is one of the study's variants (at the
cell's run length), so runs are found wherever they lie. Proportions get exact (Clopper-Pearson)
95% intervals and are compared with Fisher's exact test; means get Student-t intervals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from ..config import ConfigError, from_dict
from ..floors import Floors, loss_floors
from ..metrics import (
    STABLE_EVALUATIONS, best_record, heldout_accuracy, heldout_accuracy_tail, heldout_summary, in_distribution_perfect,
    in_distribution_score,
)
from ..studies import STUDIES, Study, Variant
from ..tasks import corpus_text, resolve_task
from .markdown import DASH, format_estimate, md_table
from .runs import Cell, SeedRun
from .stats import Estimate, clopper_pearson, cliffs_delta, estimate, fisher_exact, rank_sum_floor, rank_sum_test

# The three readings of "extrapolates" (metrics.heldout_summary), strictest last.
STRENGTHS = ("at_some_evaluation", "at_in_distribution_best", "stably")
STRENGTH_NAMES = {"at_some_evaluation": "at some evaluation", "at_in_distribution_best": "at the in-distribution best", "stably": "stably (last 10 evaluations)"}
# The reading the verdicts use: held-out all right at each of the last 10 evaluations. It needs
# no checkpoint selection at all; "at the in-distribution best" depends on which of the tied
# in-distribution bests is taken (the first, as the trainer does), and a seed that reaches 100%
# in distribution before it extrapolates reads as not extrapolating there.
VERDICT_STRENGTH = "stably"
ALPHA = 0.05


@dataclass(frozen=True)
class RunMeasures:
    seed: int
    complete: bool
    learned: bool  # 100% of the in-distribution arithmetic at some evaluation
    extrapolates: dict[str, bool]
    heldout_last: float | None
    heldout_tail: float | None  # pooled over the last STABLE_EVALUATIONS evaluations
    heldout_at_id_best: float | None
    in_distribution_at_best: float | None
    final_loss: float | None
    order_fraction: float | None


@dataclass(frozen=True)
class VariantCell:
    study: Study
    variant: Variant
    cell: Cell
    runs: tuple[RunMeasures, ...]  # complete runs only

    @property
    def n(self) -> int:
        return len(self.runs)

    def count(self, strength: str = VERDICT_STRENGTH) -> int:
        return sum(r.extrapolates[strength] for r in self.runs)

    def learned(self) -> int:
        return sum(r.learned for r in self.runs)

    def mean(self, field: str) -> Estimate | None:
        return estimate([getattr(r, field) for r in self.runs if getattr(r, field) is not None])


@lru_cache(maxsize=256)
def _floors(text: str, block: int) -> Floors:
    return loss_floors(text, block)


def _order_fraction(run: SeedRun, final_loss: float | None) -> float | None:
    if final_loss is None:
        return None
    try:
        config = from_dict({**run.config, "seed": run.seed})
    except ConfigError:
        return None
    if not config.trains_on_windows:
        return None  # its training loss is not the stream loss the floors bound
    try:
        text = corpus_text(resolve_task(config.task, config.seed))
    except ConfigError:  # e.g. a corpus file of another machine: no floors, the report goes on
        return None
    return _floors(text, config.model.block_size).order_fraction(final_loss)


def measure(run: SeedRun) -> RunMeasures:
    selection = str(run.config.get("eval", {}).get("selection", "combined"))
    summary = heldout_summary(run.metrics, selection)
    id_best = best_record(run.metrics, "in_distribution")
    final = run.final or (run.metrics[-1] if run.metrics else None)
    final_loss = None if final is None else final.get("loss")
    return RunMeasures(
        seed=run.seed,
        complete=run.complete,
        learned=any(in_distribution_perfect(r) for r in run.metrics),
        extrapolates=dict(summary.get("extrapolates") or {s: False for s in STRENGTHS}),
        heldout_last=summary.get("heldout_acc_last"),
        heldout_tail=heldout_accuracy_tail(run.metrics),
        heldout_at_id_best=summary.get("heldout_acc_at_in_distribution_best"),
        in_distribution_at_best=None if id_best is None else in_distribution_score(id_best),
        final_loss=final_loss,
        order_fraction=_order_fraction(run, final_loss),
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
        runs = tuple(measure(r) for r in cell.runs if r.complete and r.metrics)
        if runs and (variant not in found or found[variant].cell.max_iters < cell.max_iters):
            found[variant] = VariantCell(study, variant, cell, runs)
    return [found[v] for v in study.variants if v in found]


def _proportion(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} [{100 * low:.0f}, {100 * high:.0f}]"


# "Does not hold" is said only with this many seeds per group or more: with fewer, only an
# all-or-none difference could reach significance, so the absence of one says little.
NEGATIVE_MIN_SEEDS = 5
GRADED_NAME = f"held-out accuracy over the last {STABLE_EVALUATIONS} evaluations"


@dataclass(frozen=True)
class Group:
    """One side of a comparison: the complete seeds of one or more variant cells."""

    name: str
    extrapolating: int  # seeds that extrapolate (VERDICT_STRENGTH)
    seeds: int
    graded: tuple[float, ...]  # each seed's held-out accuracy over the last evaluations


def group(name: str, cells: Sequence[VariantCell | None]) -> Group:
    """The seeds of the cells that ran (None: not run) as one group."""
    present = [vc for vc in cells if vc is not None]
    if not present:
        raise ValueError(f"group {name!r} has no runs")
    return Group(
        name,
        sum(vc.count() for vc in present),
        sum(vc.n for vc in present),
        tuple(r.heldout_tail for vc in present for r in vc.runs if r.heldout_tail is not None),
    )


def verdict(p: float, direction: float, floor: float, smaller_group: int, why_none: str = "no difference in the expected direction") -> str:
    """Plain words for a test of "a is higher than b": p its two-sided p-value, direction the
    observed difference (a - b), floor the smallest p-value these group sizes allow whatever
    the data, why_none what "does not hold" rests on when it is said."""
    if p < ALPHA:
        return "holds" if direction > 0 else "does not hold (the opposite is significant)"
    if floor >= ALPHA:
        return "undecided at this many seeds (too few for the test to reach 5% whatever they show)"
    if direction <= 0 and smaller_group >= NEGATIVE_MIN_SEEDS:
        return f"does not hold at {smaller_group}+ seeds per group ({why_none})"
    if direction <= 0:
        return (
            f"undecided at this many seeds (no difference in the expected direction so far; "
            f"'does not hold' needs {NEGATIVE_MIN_SEEDS}+ seeds per group)"
        )
    return "undecided at this many seeds (a difference in the expected direction, not significant)"


def comparison(hypothesis: str, a: Group, b: Group) -> str:
    """The hypothesis "a is higher than b", tested twice, each with its verdict and numbers:
    the share of seeds that extrapolate (Fisher's exact test: the verdict of record) and the
    graded held-out accuracy (exact rank-sum test: it sees a seed at 90% and one at 0% apart)."""
    (ka, na), (kb, nb) = (a.extrapolating, a.seeds), (b.extrapolating, b.seeds)
    p = fisher_exact(ka, na, kb, nb)
    # Fisher's smallest p-value for these sizes: all of one group against none of the other.
    # Neither group extrapolating is the plainest "does not hold" of all; say it in those words.
    why = "neither group extrapolates" if ka == kb == 0 else "no difference in the expected direction"
    counted = verdict(p, ka / na - kb / nb, fisher_exact(na, na, 0, nb), min(na, nb), why)
    lines = [
        f"- {hypothesis}:",
        f"  - extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]}: **{counted}**. {a.name} {ka}/{na} vs "
        f"{b.name} {kb}/{nb}; Fisher's exact test, two-sided p = {p:.3g}.",
    ]
    if a.graded and b.graded:
        p = rank_sum_test(a.graded, b.graded)
        delta = cliffs_delta(a.graded, b.graded)
        graded = verdict(p, delta, rank_sum_floor(len(a.graded), len(b.graded)), min(len(a.graded), len(b.graded)))
        mean_a, mean_b = (100 * sum(g) / len(g) for g in (a.graded, b.graded))
        lines.append(
            f"  - {GRADED_NAME}: **{graded}**. {a.name} mean {mean_a:.1f}% (n={len(a.graded)}) vs {b.name} "
            f"{mean_b:.1f}% (n={len(b.graded)}); "
            f"exact rank-sum (Mann-Whitney) test, two-sided p = {p:.3g}; Cliff's delta {delta:+.2f}."
        )
    return "\n".join(lines)


def _row(vc: VariantCell, first: str) -> list[Any]:
    unfinished = sum(not r.complete for r in vc.cell.runs)
    seeds = f"{vc.n}" + (f" (+{unfinished} unfinished)" if unfinished else "")
    return [
        first,
        f"{vc.cell.parameters:,}" if vc.cell.parameters else DASH,
        seeds,
        f"{vc.learned()}/{vc.n}",
        *(_proportion(vc.count(s), vc.n) for s in STRENGTHS),
        format_estimate(vc.mean("heldout_last")),
        format_estimate(vc.mean("heldout_tail")),
        format_estimate(vc.mean("in_distribution_at_best")),
        format_estimate(vc.mean("order_fraction"), 0, clip=False),  # below 0: worse than order-agnostic
    ]


_HEADERS = [
    "", "Parameters", "Seeds", "Learned", "Extrapolates at some evaluation", "... at the in-distribution best",
    "... stably", "Held-out acc., last eval.", f"... last {STABLE_EVALUATIONS} evals", "In-distr. acc. at its best", "Order learned",
]


def _table(rows: Sequence[VariantCell], first_header: str, label) -> str:
    return md_table([first_header, *_HEADERS[1:]], [_row(vc, label(vc)) for vc in rows])


def _by(rows: Sequence[VariantCell], model: str, label: str) -> VariantCell | None:
    return next((vc for vc in rows if vc.variant.model == model and vc.variant.label == label), None)


def _capacity_verdicts(rows: Sequence[VariantCell]) -> list[str]:
    if len(rows) < 2:
        return []
    widest = rows[-1]
    lines = []
    learners = [vc.variant.model for vc in rows if vc.learned() * 2 > vc.n]
    extrapolators = [vc.variant.model for vc in rows if vc.count() * 2 > vc.n]
    lines.append(
        f"- Learns the task (100% in distribution at some evaluation) in most seeds: {', '.join(learners) or 'no width'}; "
        f"extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]} in most seeds: {', '.join(extrapolators) or 'no width'}."
    )
    # The comparisons are fixed in advance (the paper's extrapolating n14 against its n28, and
    # against the widest width), not chosen after looking at the rates, so their p-values mean
    # what they say.
    n14 = next((vc for vc in rows if vc.variant.model == "n14"), None)
    n28 = next((vc for vc in rows if vc.variant.model == "n28"), None)
    if n14 is not None and n28 is not None and n28 is not widest:
        lines.append(comparison(
            "Extrapolation falls from n14 to n28 (the paper's Table 2)", group("n14", [n14]), group("n28", [n28]),
        ))
    if n14 is not None and n14 is not widest:
        lines.append(comparison(
            f"Extrapolation falls from n14 to the widest width ({widest.variant.model})",
            group("n14", [n14]), group(widest.variant.model, [widest]),
        ))
    return lines


def _order_verdicts(rows: Sequence[VariantCell]) -> list[str]:
    lines = []
    for model in ("n28", "n56"):
        paper = _by(rows, model, "paper")
        if paper is None:
            continue
        for label in ("per-seed line order", "reshuffled stream", "whole lines", "answer-only loss"):
            other = _by(rows, model, label)
            if other is not None:
                lines.append(comparison(
                    f"{model} extrapolates more with {label} than with the paper's fixed file",
                    group(label, [other]), group("paper", [paper]),
                ))
    return lines


def _heldout_verdicts(rows: Sequence[VariantCell]) -> list[str]:
    lines = []
    for label in dict.fromkeys(vc.variant.label for vc in rows):
        small = _by(rows, "n14", label)
        big = [vc for vc in (_by(rows, m, label) for m in ("n28", "n56")) if vc is not None]
        if small is None or not big:
            continue
        bigger = "+".join(vc.variant.model for vc in big)
        lines.append(comparison(
            f"held out {label}: n14 extrapolates more often than {' and '.join(vc.variant.model for vc in big)}"
            + (" together" if len(big) > 1 else ""),
            group("n14", [small]), group(bigger, big),
        ))
    return lines


def _weight_decay_verdicts(rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[str]:
    baseline = {vc.variant.model: vc for vc in study_cells(STUDIES["capacity-curve"], cells)}
    lines = []
    for vc in rows:
        paper = baseline.get(vc.variant.model)
        if paper is None:
            continue
        lines.append(comparison(
            f"{vc.variant.model} extrapolates more with {vc.variant.label} than with the paper's regularization",
            group(vc.variant.label, [vc]), group("paper", [paper]),
        ))
    return lines


def _study_section(study: Study, rows: list[VariantCell], cells: Sequence[Cell]) -> str:
    parts = [f"### {study.title}", "", f"*{study.question}*", ""]
    if study.axis == "width":
        parts.append(_table(rows, "Width", lambda vc: vc.variant.model))
        verdicts = _capacity_verdicts(rows)
    else:
        parts.append(_table(rows, f"Model, {study.axis}", lambda vc: f"{vc.variant.model}, {vc.variant.label}"))
        verdicts = {
            "protocol": _order_verdicts,
            "held-out set": _heldout_verdicts,
        }.get(study.axis, lambda r: _weight_decay_verdicts(r, cells))(rows)
    missing = study.seeds * len(study.variants) - sum(vc.n for vc in rows)
    parts += ["", f"Seeds asked for: {study.seeds} per variant; complete runs missing: {max(0, missing)}."]
    if verdicts:
        parts += ["", *verdicts]
    return "\n".join(parts)


_NOTE = (
    "Learned: 100% of the in-distribution arithmetic samples at some evaluation. Extrapolates: every held-out "
    "sample right (i) at some evaluation (the paper's reading), (ii) at the evaluation with the best "
    f"in-distribution score (selection blind to the held-out samples), (iii) at each of the last {STABLE_EVALUATIONS} evaluations. "
    "Counts carry exact 95% (Clopper-Pearson) intervals in percent; means carry 95% t-intervals. Order learned: "
    "(order-agnostic floor - final loss) / (order-agnostic floor - exact-stream floor) of the run's own stream "
    "(0: nothing of the line order, 100%: the whole file), see toobig.floors; not defined for whole-line batches or the "
    "answer-only loss, whose training loss is not the stream loss. Each hypothesis gets two verdicts at the 5% "
    "level: the share of seeds that extrapolate by reading (iii), with Fisher's exact test (the verdict of "
    f"record, fixed before the runs), and the graded held-out accuracy pooled over the same last {STABLE_EVALUATIONS} "
    "evaluations, with the exact rank-sum (Mann-Whitney) test. The graded test tells a seed at 90% from one at "
    "0%, so it sees differences that stay short of all-or-nothing; Cliff's delta is its effect size "
    "(P(a > b) - P(a < b), -1 to 1). 'Undecided' means the seeds cannot tell yet."
)


def beyond_section(cells: Sequence[Cell], figures: Sequence[Path] = (), out_dir: Path | None = None) -> str | None:
    """The studies that have runs, each with its table and verdicts; None when none has."""
    sections = []
    for study in STUDIES.values():
        rows = study_cells(study, cells)
        if study_ran(rows):
            sections.append(_study_section(study, rows, cells))
    if not sections:
        return None
    text = "## Beyond the paper\n\n" + _NOTE + "\n\n" + "\n\n".join(sections)
    mine = [p for p in figures if p.name.startswith("beyond_")]
    if mine and out_dir is not None:
        text += "\n\n### Figures\n\n" + "\n\n".join(
            f"![{p.stem}]({Path(os.path.relpath(p, out_dir)).as_posix()})" for p in mine
        )
    return text


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


def _width(model: str) -> int:
    return int(model[1:])


def beyond_figures(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Figures of the studies that have runs: extrapolation against parameters per protocol,
    order learned and held-out accuracy against width, held-out accuracy during training per
    protocol, and the held-out set x width grid."""
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    studies = {name: study_cells(study, cells) for name, study in STUDIES.items()}
    studies = {name: rows if study_ran(rows) else [] for name, rows in studies.items()}
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
        ax.errorbar(xs, ys, yerr=err, marker=marker, capsize=3, label=f"{label} ({min(vc.n for vc in rows)}+ seeds)")

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
        ax.set_title("Extrapolation to the held-out pairs against model size, per protocol (exact 95% intervals)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, "beyond_extrapolation_vs_parameters.png")

    def per_width(ax, rows: Sequence[VariantCell], field: str, label: str, colour: str) -> None:
        for vc in rows:
            values = [getattr(r, field) for r in vc.runs if getattr(r, field) is not None]
            ax.scatter([_width(vc.variant.model)] * len(values), values, s=10, alpha=0.4, color=colour)
        means = [(_width(vc.variant.model), vc.mean(field)) for vc in rows]
        means = [(w, e.mean) for w, e in means if e is not None]
        if means:
            ax.plot(*zip(*means), marker="o", color=colour, label=label)

    if curve:
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        per_width(ax, curve, "order_fraction", "paper protocol (capacity curve)", "tab:blue")
        colours = iter(("tab:orange", "tab:green", "tab:red", "tab:purple"))
        for label in dict.fromkeys(vc.variant.label for vc in ablation if vc.variant.label != "paper"):
            per_width(ax, [vc for vc in ablation if vc.variant.label == label], "order_fraction", label, next(colours, "tab:gray"))
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.axhline(1.0, color="gray", lw=0.8, ls="--")
        ax.set_xlabel("width n")
        ax.set_ylabel("fraction of the line order learned")
        ax.set_title("How much of the training file's line order each width memorizes (dots: seeds)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, "beyond_order_fraction_vs_width.png")

        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        per_width(ax, curve, "heldout_tail", f"held-out, last {STABLE_EVALUATIONS} evaluations", "tab:purple")
        per_width(ax, curve, "heldout_at_id_best", "held-out, at the in-distribution best", "tab:red")
        per_width(ax, curve, "in_distribution_at_best", "in distribution, at its best", "tab:blue")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("width n")
        ax.set_ylabel("accuracy")
        ax.set_title("Held-out and in-distribution accuracy against width (paper protocol; dots: seeds)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        save(fig, "beyond_heldout_vs_width.png")

    if ablation:
        models_run = list(dict.fromkeys(vc.variant.model for vc in ablation))
        fig = Figure(figsize=(4.2 * len(models_run) + 2, 3.8))
        axes = fig.subplots(1, len(models_run), sharey=True, squeeze=False)[0]
        for ax, model in zip(axes, models_run):
            for vc in (vc for vc in ablation if vc.variant.model == model):
                iters, mean = heldout_over_training(vc)
                if iters:
                    ax.plot(iters, mean, lw=1.2, label=f"{vc.variant.label} ({vc.n})")
            ax.set_title(model)
            ax.set_xlabel("iteration")
            ax.set_ylim(-0.05, 1.05)
            if ax.lines:
                ax.legend(fontsize=7, loc="best")
        axes[0].set_ylabel("held-out accuracy, mean over seeds")
        fig.suptitle("Held-out accuracy during training, per protocol (legend: seeds)")
        save(fig, "beyond_heldout_over_training.png")

    grid_rows = [("(5,7), paper", {vc.variant.model: vc for vc in curve})]
    for label in dict.fromkeys(vc.variant.label for vc in generality):
        grid_rows.append((label, {vc.variant.model: vc for vc in generality if vc.variant.label == label}))
    models = ("n14", "n28", "n56")
    if generality:
        fig = Figure(figsize=(6, 0.6 * len(grid_rows) + 1.5))
        ax = fig.add_subplot()
        values = [[(row.get(m).count() / row.get(m).n) if row.get(m) else float("nan") for m in models] for _, row in grid_rows]
        image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for i, (_, row) in enumerate(grid_rows):
            for j, m in enumerate(models):
                vc = row.get(m)
                text = f"{vc.count()}/{vc.n}" if vc else "not run"
                ax.text(j, i, text, ha="center", va="center", color="white" if vc and vc.count() / vc.n < 0.5 else "black")
        ax.set_xticks(range(len(models)), models)
        ax.set_yticks(range(len(grid_rows)), [label for label, _ in grid_rows])
        ax.set_title(f"Seeds that extrapolate {STRENGTH_NAMES[VERDICT_STRENGTH]}")
        fig.colorbar(image, ax=ax, label="fraction of seeds")
        save(fig, "beyond_heldout_grid.png")
    return written
