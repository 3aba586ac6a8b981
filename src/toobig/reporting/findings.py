"""Where our runs agree and disagree with the paper, derived from the numbers, one line each."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .markdown import format_estimate, pct
from .paper import PaperRow, PaperTable, PaperValue, paper_max_iters, paper_tables
from .runs import Cell
from .scores import CellScores, score_cell
from .stats import Estimate
from .tables import model_label, table_cells

AGREES, PARTLY, DISAGREES = "agrees", "partly agrees", "disagrees"
# One seed of ours that differs from the paper's one run: no spread over seeds to judge it by.
UNDECIDED = "undecided (one seed)"
# Agreement that says nothing: our seeds spread over more than UNINFORMATIVE_WIDTH of the scale,
# or our runs are not the paper's length.
UNINFORMATIVE = "uninformative"
UNINFORMATIVE_WIDTH = 0.5

# Which comparisons each table's experiment is about.
_ASPECTS = {
    "arithmetic": ("extrapolation", "addition", "subtraction"),
    "capitals": ("facts",),
    "combined": ("extrapolation", "addition", "subtraction", "facts", "combined"),
}


@dataclass(frozen=True)
class Finding:
    table: int
    model: str
    aspect: str
    verdict: str  # AGREES, PARTLY, DISAGREES or UNDECIDED
    text: str


def _share_verdict(k: int, n: int, paper_did: bool) -> str:
    """k of n seeds show a behaviour the paper's single run did (or did not) show."""
    hits = k if paper_did else n - k
    return _weighed(AGREES if hits == n else DISAGREES if hits == 0 else PARTLY, n)


def _weighed(verdict: str, seeds: int) -> str:
    """A disagreement resting on one seed of ours is undecided: seeds differ as much as that."""
    return UNDECIDED if verdict == DISAGREES and seeds == 1 else verdict


def compare_value(est: Estimate, paper: PaperValue) -> str:
    """Agreement when our 95% prediction interval for one seed (a point for one seed of ours)
    overlaps the printed value's rounding range: the paper's value is a single seed's."""
    low, high = est.prediction_interval()
    if low <= paper.value + paper.half_unit + 1e-12 and high >= paper.value - paper.half_unit - 1e-12:
        return AGREES
    return DISAGREES


def accuracy_verdict(est: Estimate, paper: PaperValue) -> str:
    """compare_value, weighed by our number of seeds; an agreement of a spread wider than
    UNINFORMATIVE_WIDTH is uninformative (almost any printed value would have agreed)."""
    verdict = _weighed(compare_value(est, paper), est.n)
    low, high = est.prediction_interval()
    if verdict == AGREES and est.n > 1 and min(high, 1.0) - max(low, 0.0) > UNINFORMATIVE_WIDTH:
        return UNINFORMATIVE
    return verdict


def _extrapolation(table: PaperTable, label: str, scores: CellScores, row: PaperRow) -> Finding | None:
    if row.heldout is None or scores.heldout_total == 0:
        return None
    paper_did = row.heldout.correct == row.heldout.total
    k, n = scores.extrapolating, scores.n  # seeds evaluated so far
    verdict = _share_verdict(k, n, paper_did)
    paper_text = f"the paper's single run {'did' if paper_did else 'did not'} ({row.heldout.printed})"
    text = f"{label} extrapolates to (5,7) in {k}/{n} seeds; {paper_text}: {verdict}"
    return Finding(table.number, scores.cell.model, "extrapolation", verdict, text)


def _accuracy(table: PaperTable, label: str, scores: CellScores, row: PaperRow, aspect: str) -> Finding | None:
    paper: PaperValue | None = getattr(row, aspect)
    est: Estimate | None = getattr(scores, aspect)
    if paper is None or est is None:
        return None
    if paper.value >= 1.0:
        # A perfect printed score: count the seeds that reached it rather than compare a mean.
        k = sum(v >= 1.0 for v in est.values)
        verdict = _share_verdict(k, est.n, True)
        text = f"{label} {aspect} 100% in {k}/{est.n} seeds; the paper {paper.printed}: {verdict}"
        return Finding(table.number, scores.cell.model, aspect, verdict, text)
    verdict = accuracy_verdict(est, paper)
    if verdict in (DISAGREES, UNDECIDED):
        direction = "higher" if est.mean > paper.value else "lower"
        verdict_text = f"{verdict}, ours {direction}" if verdict == UNDECIDED else f"{verdict} (ours {direction})"
    elif verdict == UNINFORMATIVE:
        verdict_text = f"{verdict} (our seeds spread over more than {pct(UNINFORMATIVE_WIDTH)} of the scale)"
    else:
        verdict_text = verdict
    spread = ""
    if est.n > 1:
        low, high = est.prediction_interval()
        spread = f" (one seed: {pct(max(low, 0.0))}..{pct(min(high, 1.0))})"
    text = f"{label} {aspect} {format_estimate(est)}{spread} vs the paper's {paper.printed}: {verdict_text}"
    return Finding(table.number, scores.cell.model, aspect, verdict, text)


def _with_length(finding: Finding, cell: Cell) -> Finding:
    paper_iters = paper_max_iters()
    if cell.max_iters == paper_iters:
        return finding
    note = f"; {UNINFORMATIVE}: our runs have {cell.max_iters:,} iterations, the paper's {paper_iters:,}"
    return replace(finding, verdict=UNINFORMATIVE, text=finding.text + note)


def table_findings(table: PaperTable, cells: Sequence[Cell]) -> list[Finding]:
    found: list[Finding] = []
    ours = table_cells(table, cells)
    for cell in ours:
        row = table.row(cell.model)
        if row is None or not cell.evaluated:
            continue
        scores = score_cell(cell)
        label = model_label(cell, ours)
        for aspect in _ASPECTS[table.task]:
            if aspect == "extrapolation":
                finding = _extrapolation(table, label, scores, row)
            else:
                finding = _accuracy(table, label, scores, row, aspect)
            if finding is not None:
                found.append(_with_length(finding, cell))
    return found


def all_findings(cells: Sequence[Cell]) -> list[Finding]:
    return [f for table in paper_tables() for f in table_findings(table, cells)]


def findings_section(cells: Sequence[Cell]) -> str:
    findings = all_findings(cells)
    if not findings:
        return "## Agreement with the paper\n\nNo run of a paper model has been evaluated yet."
    counts = {v: sum(f.verdict == v for f in findings) for v in (AGREES, PARTLY, DISAGREES, UNDECIDED, UNINFORMATIVE)}
    lines = [
        "## Agreement with the paper",
        "",
        f"{counts[AGREES]} agree, {counts[PARTLY]} partly agree, {counts[DISAGREES]} disagree, "
        f"{counts[UNDECIDED]} undecided (one seed of ours differs from the paper's one run), "
        f"{counts[UNINFORMATIVE]} uninformative (our seeds spread over more than {pct(UNINFORMATIVE_WIDTH)} "
        "of the scale, so any printed value would agree; or our runs are not the paper's length). "
        "The paper ran one seed, so its value is one draw from the spread over seeds: a score agrees when the "
        "printed value's rounding range "
        f"(e.g. 98% = {pct(0.975)}..{pct(0.985)}) overlaps our 95% prediction interval for one seed, "
        "mean +- t * sd * sqrt(1 + 1/n) (with one seed of ours: its value). This is wider than the tables' "
        "interval for our mean. A behaviour (extrapolation, a perfect score) agrees when every seed "
        "matches the paper's single run, partly when some do.",
    ]
    for table in paper_tables():
        items = [f for f in findings if f.table == table.number]
        if items:
            lines += ["", f"Table {table.number} ({table.task}, {table.condition}):"]
            lines += [f"- {f.text}" for f in items]
    return "\n".join(lines)
