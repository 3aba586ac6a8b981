"""The report's section for the studies beyond the paper: per study a table, its verdicts and its
figures, with a note on how to read them. Proportions get exact (Clopper-Pearson) 95% intervals, means
Student-t intervals; the verdicts are toobig.reporting.verdicts'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..metrics import STABLE_EVALUATIONS
from ..studies import NO_WD_100K, PAPER_ITERS, STUDIES, Study, Variant
from .answers import NOTE as ANSWERS_NOTE, answers_table
from .beyond_figures import studies_showing
from .markdown import image_links
from .runs import Cell
from .stats import SPEARMAN_PERMUTATIONS
from .study_measures import STRENGTH_NAMES, VERDICT_STRENGTH, VariantCell, study_cells, study_ran
from .study_table import measures_table
from .verdicts import (
    MARGIN, Comparison, Hypothesis, Judged, Pooled, Shortfall, Trend, Verdict, group, interim_note, judge, verdict_lines,
    verdict_records,
)


def _by(rows: Sequence[VariantCell], model: str, label: str) -> VariantCell | None:
    return next((vc for vc in rows if vc.variant.model == model and vc.variant.label == label), None)


def _capacity_summary(rows: Sequence[VariantCell]) -> str:
    def most(count) -> str:
        widths = [f"{vc.variant.model} ({count(vc)}/{vc.n})" for vc in rows if count(vc) * 2 > vc.n]
        return ", ".join(widths) or "no width"

    def memorizers() -> str:
        means = [(vc.variant.model, vc.mean("order_fraction")) for vc in rows]
        most_of_it = [f"{model} ({100 * e.mean:.0f}%)" for model, e in means if e is not None and e.mean > 0.5]
        return ", ".join(most_of_it) or "no width"

    # The window the study asks for lies between the widths that learn the task and those that
    # memorize the file: these three lines draw its edges.
    return (
        f"- Learns the task (100% in distribution at some evaluation) in most seeds: {most(VariantCell.learned)}; "
        f"extrapolates {STRENGTH_NAMES[VERDICT_STRENGTH]} in most seeds: {most(VariantCell.count)}; "
        f"learns more than half of the training file's line order on average: {memorizers()}."
    )


# The trend is read from the paper's smallest model up: below it the widths mostly fail to learn
# the task at all, which is another reason not to extrapolate than memorizing.
TREND_FROM_WIDTH = 14


def _width(variant: Variant) -> int:
    return int(variant.model.removeprefix("n"))


def _capacity_comparisons(rows: Sequence[VariantCell]) -> list[Hypothesis]:
    # The comparisons are fixed in advance (the paper's extrapolating n14 against its n28, and
    # against the widest width), not chosen after looking at the rates, so their p-values mean
    # what they say. The trend over every width from n14 up was added in session 14, with n14's,
    # n28's and n56's counts and seeds 0-2 of the other widths known (so not blind: starting at
    # n14, the known peak, all but settles its sign); it joins their family, which makes theirs
    # stricter, not looser.
    if len(rows) < 2:
        return []
    widest = rows[-1]
    n14, n28 = (next((vc for vc in rows if vc.variant.model == m), None) for m in ("n14", "n28"))
    out = []
    if n14 is not None and n28 is not None and n28 is not widest:
        out.append(Comparison(
            "Extrapolation falls from n14 to n28 (the paper's Table 2)", group("n14", n14), group("n28", n28), "n14>n28",
        ))
    if n14 is not None and n14 is not widest:
        out.append(Comparison(
            f"Extrapolation falls from n14 to the widest width ({widest.variant.model})",
            group("n14", n14), group(widest.variant.model, widest), "n14>widest",
        ))
    upward = [vc for vc in rows if _width(vc.variant) >= TREND_FROM_WIDTH]
    if len(upward) > 2:  # two widths are a comparison, above
        out.append(Trend(
            f"Extrapolation falls as the width grows from {upward[0].variant.model} to {upward[-1].variant.model} "
            f"({len(upward)} widths; every seed counts)",
            "width", tuple((_width(vc.variant), group(vc.variant.model, vc)) for vc in upward), f"trend from n{TREND_FROM_WIDTH}",
        ))
    return out


# The models whose protocols the order ablation tests (n14's runs show the protocols' cost to the
# model that extrapolates; no hypothesis reads them).
_ORDER_MODELS = ("n28", "n56")


def _order_comparisons(rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Comparison]:
    out = []
    for model in _ORDER_MODELS:
        paper = _by(rows, model, "paper")
        if paper is None:
            continue
        for label in ("per-seed line order", "reshuffled stream", "whole lines", "answer-only loss"):
            other = _by(rows, model, label)
            if other is not None:
                out.append(Comparison(
                    f"{model} extrapolates more with {label} than with the paper's fixed file",
                    group(label, other), group("paper", paper), f"{model}: {label}>paper",
                ))
    return out


def _heldout_comparisons(rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Hypothesis]:
    # n14 against each bigger width on its own: n28 and n56 need not fail alike. First over every
    # held-out set at once, each set compared within itself (added in session 14, with seeds 0-1
    # known: one set's 5 seeds against 5 can never reach 5% among the study's comparisons, 2 of
    # C(10, 5) at best, times 8); then set by set.
    labels = list(dict.fromkeys(vc.variant.label for vc in rows))
    out: list[Hypothesis] = []
    for model in ("n28", "n56"):
        strata = [
            (label, group("n14", small), group(model, big))
            for label in labels
            if (small := _by(rows, "n14", label)) is not None and (big := _by(rows, model, label)) is not None
        ]
        if len(strata) > 1:
            out.append(Pooled(
                f"over every held-out set at once: n14 extrapolates more often than {model}", "held-out set", tuple(strata),
                f"every set: n14>{model}",
            ))
    for label in labels:
        small = _by(rows, "n14", label)
        for model in ("n28", "n56"):
            big = _by(rows, model, label)
            if small is not None and big is not None:
                out.append(Comparison(
                    f"held out {label}: n14 extrapolates more often than {model}",
                    group("n14", small), group(model, big), f"{label}: n14>{model}",
                ))
    return out


def _paper_runs(cells: Sequence[Cell]) -> dict[str, VariantCell]:
    """The paper's protocol per model (the capacity curve's cells, Table 2's among them)."""
    return {vc.variant.model: vc for vc in study_cells(STUDIES["capacity-curve"], cells)}


def _weight_decay_comparisons(rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Comparison]:
    """Each variant against its control: 30k runs against the paper's (no weight decay, 30k);
    100k runs with weight decay against 100k without where those ran, so that only weight decay
    differs; the 100k control itself against the paper's 30k (length alone)."""
    paper = _paper_runs(cells)
    out = []
    for vc in rows:
        model, label, iters = vc.variant.model, vc.variant.label, vc.variant.max_iters
        long_control = _by(rows, model, NO_WD_100K)
        if iters > PAPER_ITERS and label != NO_WD_100K and long_control is not None:
            hypothesis = f"{model} extrapolates more with {label} than without weight decay at as many iterations"
            control = group(NO_WD_100K, long_control)
        elif model not in paper:
            continue
        elif label == NO_WD_100K:
            hypothesis = f"{model} extrapolates more with {iters:,} iterations than with 30,000 (no weight decay either way)"
            control = group("paper", paper[model])
        else:
            longer = " (the paper's runs are 30,000 iterations: the length differs too)" if iters > PAPER_ITERS else ""
            hypothesis = f"{model} extrapolates more with {label} than with the paper's regularization{longer}"
            control = group("paper", paper[model])
        out.append(Comparison(hypothesis, group(label, vc), control, f"{model}: {label}>{control.name}"))
    return out


def _learning_rate_comparisons(rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Comparison]:
    paper = _paper_runs(cells)
    return [
        Comparison(
            f"{vc.variant.model} extrapolates more with {vc.variant.label} than with the paper's 1e-2",
            group(vc.variant.label, vc), group("paper", paper[vc.variant.model]), f"{vc.variant.model}: {vc.variant.label}>paper",
        )
        for vc in rows
        if vc.variant.model in paper
    ]


# The studies whose variants are tested against the capacity curve's runs of the paper's protocol.
_BORROW_PAPER_CONTROLS = ("weight decay", "learning rate")


def _variants_read(study: Study) -> list[Variant]:
    """The study's variants that its hypotheses read: the capacity curve's from n14 up, the order
    ablation's of n28 and n56, every variant of the other studies."""
    if study.axis == "width":
        return [v for v in study.variants if _width(v) >= TREND_FROM_WIDTH]
    if study.axis == "protocol":
        return [v for v in study.variants if v.model in _ORDER_MODELS]
    return list(study.variants)


def _shortfall(study: Study, rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Shortfall]:
    """The configurations the study's verdicts rest on that have fewer complete seeds than
    planned: the variants its hypotheses read (one with none counts too: a held-out set or width
    not yet run would join the pooled and trend hypotheses) and the paper's runs it borrows as
    controls, planned as the capacity curve plans them."""
    have = {vc.variant: vc.n for vc in rows}
    name = (lambda v: v.model) if study.axis == "width" else (lambda v: f"{v.model}, {v.label}")
    short = [Shortfall(name(v), have.get(v, 0), study.seeds) for v in _variants_read(study) if have.get(v, 0) < study.seeds]
    if study.axis in _BORROW_PAPER_CONTROLS:
        curve, paper = STUDIES["capacity-curve"], _paper_runs(cells)
        for model in dict.fromkeys(v.model for v in study.variants):
            seeds = paper[model].n if model in paper else 0
            if seeds < curve.seeds:
                short.append(Shortfall(f"{model}, paper", seeds, curve.seeds))
    return short


# Each study's comparisons by its axis; every builder takes the cells too (the weight-decay and
# learning-rate studies meet the capacity curve's paper runs), so one call fits all.
_COMPARISONS = {
    "protocol": _order_comparisons,
    "held-out set": _heldout_comparisons,
    "weight decay": _weight_decay_comparisons,
    "learning rate": _learning_rate_comparisons,
}


def _hypotheses(study: Study, rows: Sequence[VariantCell], cells: Sequence[Cell]) -> list[Hypothesis]:
    """The study's family of hypotheses on its rows (the capacity curve's: none below two widths)."""
    return _capacity_comparisons(rows) if study.axis == "width" else _COMPARISONS[study.axis](rows, cells)


@dataclass(frozen=True)
class StudyReading:
    """A study that has runs, read once for the report and verdicts.csv: its variants' measures,
    its hypotheses with their verdicts, and the configurations they rest on that are short of
    their planned seeds (which make the verdicts interim)."""

    study: Study
    rows: tuple[VariantCell, ...]
    judged: tuple[Judged, ...]
    short: tuple[Shortfall, ...]


def read_studies(cells: Sequence[Cell]) -> list[StudyReading]:
    """Each study that has runs among cells, in the studies' order."""
    out = []
    for study in STUDIES.values():
        rows = study_cells(study, cells)
        if study_ran(rows):
            short = tuple(_shortfall(study, rows, cells))
            judged = judge(_hypotheses(study, rows, cells), interim=bool(short))
            out.append(StudyReading(study, tuple(rows), tuple(judged), short))
    return out


def beyond_verdicts(studies: Sequence[StudyReading]) -> list[tuple[str, Verdict]]:
    """Every study's verdicts as the report gives them, (study name, verdict), study by study,
    each hypothesis's counted reading before its graded one."""
    return [(reading.study.name, v) for reading in studies for v in verdict_records(reading.judged)]


def _study_section(reading: StudyReading) -> tuple[str, bool]:
    """The study's text, and whether it has a table of held-out answers."""
    study, rows = reading.study, reading.rows
    parts = [f"### {study.title}", "", f"*{study.question}*", ""]
    verdicts = verdict_lines(reading.judged)
    if study.axis == "width":
        first_header, label = "Width", lambda vc: vc.variant.model
        verdicts = [_capacity_summary(rows), *verdicts] if len(rows) > 1 else []
    else:
        first_header, label = f"Model, {study.axis}", lambda vc: f"{vc.variant.model}, {vc.variant.label}"
    parts.append(measures_table(rows, first_header, [label(vc) for vc in rows]))
    # A variant's seeds beyond those asked (the paper's runs, shared with Table 2 at more seeds)
    # cannot stand in for another variant's missing ones.
    missing = study.seeds * len(study.variants) - sum(min(vc.n, study.seeds) for vc in rows)
    parts += ["", f"Seeds asked for: {study.seeds} per variant; complete runs missing: {missing}."]
    note = interim_note(reading.short, len(reading.judged)) if reading.judged else None
    if note:
        parts += ["", note]
    if verdicts:
        parts += ["", *verdicts]
    answers = answers_table(rows, first_header, label)
    if answers:
        parts += ["", answers]
    return "\n".join(parts), answers is not None


_NOTE = (
    "Learned: 100% of the in-distribution arithmetic samples at some evaluation. Extrapolates: every held-out "
    "sample right (i) at some evaluation (the paper's reading), (ii) at the evaluation with the best "
    "in-distribution score (selection blind to the held-out samples; the earliest where several tie, as the paper's best "
    f"checkpoint keeps the first; ties are common once a run has learned), (iii) at each of the last {STABLE_EVALUATIONS} evaluations. "
    f"Held-out accuracy is shown at the last evaluation, pooled over the last {STABLE_EVALUATIONS} evaluations, at the "
    "in-distribution best, at the paper's best (the highest combined score, held-out samples included) and at its peak. "
    "Counts carry exact 95% (Clopper-Pearson) intervals in percent; means carry 95% t-intervals. Floors: the lowest loss, "
    "in nats per character, that a model reaches on the run's stream (its corpus in its line order: the file's, or the one "
    "drawn from its seed; for the reshuffled stream, which never trains on one order, the file's) knowing every line but "
    "not their order (order-agnostic) and knowing the whole stream (exact stream), computed exactly from the corpus; the "
    "final loss is the last evaluation's loss on that stream; means over seeds. Order learned: "
    "(order-agnostic floor - final loss) / (order-agnostic floor - exact-stream floor) of the run's own stream "
    "(0: nothing of the line order, 100%: the whole file; below 0 where the loss has not come down to the order-agnostic "
    "floor, i.e. the lines themselves are not yet learned), see toobig.floors; neither it nor the loss and floors are given "
    "for whole-line batches or the answer-only loss, whose training loss is not the stream loss.\n\n"
    "Each hypothesis gets two verdicts at the 5% level, with p-values Holm-adjusted over the study's comparisons "
    "(one family per test). The verdict of record, fixed before the runs: the share of seeds that extrapolate by "
    "reading (iii), Fisher's exact test; it says 'does not hold' when the Newcombe interval of the difference in "
    f"shares, widened for the study's comparisons (Bonferroni), rules out a gain of {100 * MARGIN:.0f} points or "
    "more. The 95% interval printed beside each count describes the difference; it is a score approximation, not "
    "adjusted, and can exclude 0 where Fisher's exact test is not significant: the test decides. The second, added in session 11 "
    f"after the first counts were known: the graded held-out accuracy pooled over the same last {STABLE_EVALUATIONS} "
    "evaluations, exact rank-sum (Mann-Whitney) test (two-sided: the share of all splits of the seeds whose rank sum lies at "
    "least as far from its expectation as observed, ties at mid-ranks), with Cliff's delta (P(a > b) - P(a < b), -1 to 1) as its "
    "effect size and direction (a 'rank difference', which can point the other way from the means: one seed far out moves "
    "a mean, not the ranks). It tells a seed at 90% from one at 0%, so it sees differences that stay short of "
    "all-or-nothing; with one held-out pair (4 prompts, sampled near-greedily) its values move in steps of "
    "about 25 points. The capacity curve also asks whether extrapolation falls as the width grows from "
    f"n{TREND_FROM_WIDTH} up, over every seed of those widths (added in session 14): Spearman's rank correlation of "
    "width with each seed's outcome, two-sided permutation test, exact where either takes two values (always for the "
    f"count), otherwise estimated from {SPEARMAN_PERMUTATIONS:,} random orderings with a fixed seed, in the same "
    "families. The held-out generality study also asks its question of every held-out set at once (added in session "
    "14): each set's seeds compared only within the set, by exact stratified tests (the count given each set's "
    "margins, as Mantel-Haenszel's exact test; the rank sums within each set, added), in the same families. "
    "'Undecided' means the seeds cannot tell yet; 'too few for the test to reach 5% whatever they show' means that "
    "no outcome of this many seeds could pass Holm's procedure in the study's family, wherever it ranked. "
    "'Interim' marks a study read while configurations its verdicts rest on (its own, or the paper runs it "
    "compares with) have fewer seeds than planned: any of its verdicts, 'holds' included, can still change as "
    "those seeds come in, since Holm's adjustment ties them together."
)


def beyond_section(
    readings: Sequence[StudyReading], figures: Sequence[Path] = (), out_dir: Path | None = None,
) -> str | None:
    """The studies read (read_studies), each with its table, verdicts and figures; None when
    readings is empty (no study has runs)."""
    # name -> (section text, whether it has answers), in the studies' order
    studies = {reading.study.name: _study_section(reading) for reading in readings}
    if not studies:
        return None
    placed: dict[str, list[Path]] = {name: [] for name in studies}
    rest = []
    for path in figures if out_dir is not None else ():
        showing = studies_showing(path.name)
        if showing:
            home = next((name for name in showing if name in studies), None)
            (placed[home] if home else rest).append(path)
    sections = [text + ("\n\n" + image_links(placed[name], out_dir) if placed[name] else "") for name, (text, _) in studies.items()]
    notes = [_NOTE, ANSWERS_NOTE] if any(answered for _, answered in studies.values()) else [_NOTE]
    text = "## Beyond the paper\n\n" + "\n\n".join([*notes, *sections])
    if rest:  # a figure none of whose studies has a section (not drawn that way today)
        text += "\n\n### Other figures of the studies\n\n" + image_links(rest, out_dir)
    return text
