"""Tables 2-7 in the paper's layout: our mean [95% CI] over seeds beside the paper's printed value."""

from __future__ import annotations

from typing import Sequence

from .markdown import DASH, NOT_RUN, format_count, format_estimate, md_table, thousands, unfinished_text
from .paper import PaperRow, PaperTable, PaperValue, paper_max_iters, paper_tables
from .runs import Cell, config_differences, model_order
from .scores import CellScores, score_cell

# Which score columns each task's table has (Table 2/5, 3/6, 4/7).
_COLUMNS = {
    "arithmetic": ("addition", "subtraction", "heldout"),
    "capitals": ("facts",),
    "combined": ("addition", "subtraction", "facts", "combined", "heldout"),
}
_HEADERS = {"addition": "Addition", "subtraction": "Subtraction", "facts": "Facts", "combined": "Combined", "heldout": "(5,7)*"}


def table_cells(table: PaperTable, cells: Sequence[Cell]) -> list[Cell]:
    """Our cells that belong in this table (grokking and capacity-search runs have their own sections)."""
    chosen = [c for c in cells if c.experiment == f"table{table.number}"]
    return sorted(chosen, key=lambda c: (model_order(c.model), -c.max_iters, c.digest))


def model_label(cell: Cell, cells: Sequence[Cell]) -> str:
    """The model's name, plus how this cell's configuration differs when its label has several digests
    within the same experiment (a grokking run does not rename Table 2's MLT row)."""
    siblings = [c for c in cells if c.label == cell.label and c.experiment == cell.experiment]
    if len(siblings) < 2:
        return cell.model
    diff = config_differences(siblings)[cell.digest]
    return f"{cell.model} ({', '.join(diff) or cell.digest})"


def seeds_text(cell: Cell) -> str:
    text = str(len(cell.runs))
    if cell.unfinished:
        text += f" ({unfinished_text(cell.unfinished, cell.failed)})"
    if cell.max_iters != paper_max_iters():
        # A shortened (or longer) run is not the paper's experiment; say so where the numbers are.
        text += f"; {cell.max_iters:,} iterations"
    return text


def _ours(scores: CellScores, column: str) -> str:
    if column == "heldout":
        if scores.heldout is None:
            return DASH
        return (
            f"{format_count(scores.heldout, scores.heldout_total)}; "
            f"{scores.extrapolating} of {scores.seeds} seeds extrapolate, {scores.perfect} with add and sub 100%"
        )
    return format_estimate(getattr(scores, column))


def _paper(row: PaperRow | None, column: str) -> str:
    if row is None:
        return DASH
    if column == "heldout":
        return row.heldout.printed if row.heldout else DASH
    value: PaperValue | None = getattr(row, column)
    return value.printed if value else DASH


def _parameters(ours: int | None, row: PaperRow | None) -> str:
    paper = f"paper {row.parameters_printed}" if row else ""
    if ours is None:
        return paper or DASH
    return f"{ours:,} ({paper})" if paper else thousands(ours)


def render_table(table: PaperTable, cells: Sequence[Cell]) -> str:
    """One table as markdown: a row per paper model (or 'not run') and per extra cell we have."""
    columns = _COLUMNS[table.task]
    headers = ["Model", "Parameters", "Seeds"]
    for column in columns:
        headers += [_HEADERS[column], f"{_HEADERS[column]}, paper"]
    ours = table_cells(table, cells)
    rows: list[list[str]] = []
    models = [r.model for r in table.rows] + sorted({c.model for c in ours} - {r.model for r in table.rows}, key=model_order)
    for model in models:
        paper_row = table.row(model)
        model_cells = [c for c in ours if c.model == model]
        if not model_cells:
            row = [model, _parameters(None, paper_row), "0"]
            for column in columns:
                row += [NOT_RUN, _paper(paper_row, column)]
            rows.append(row)
            continue
        for cell in model_cells:
            scores = score_cell(cell)
            row = [model_label(cell, ours), _parameters(cell.parameters, paper_row), seeds_text(cell)]
            for column in columns:
                row += [_ours(scores, column), _paper(paper_row, column)]
            rows.append(row)
    title = f"### Table {table.number}. {table.title} ({table.task}, {table.condition} regularization)"
    notes = [
        "Ours: mean [95% Student-t interval, clipped to 0-100%] over seeds of each seed's best evaluation "
        "(best combined score).",
    ]
    if "heldout" in columns:
        notes.append(
            "(5,7)*: held-out samples right at the best evaluation, mean over seeds; a seed extrapolates when it "
            "got every held-out sample right at some evaluation; \"with add and sub 100%\": seeds that got every "
            "addition and subtraction sample right, held-out included, at some evaluation (the paper's Figure 1 "
            "red dots; its 40/40 rows are such runs)."
        )
    if table.footnote:
        notes.append(f"Paper: \\* {table.footnote}.")
    return "\n\n".join([title, md_table(headers, rows), " ".join(notes)])


def tables_section(cells: Sequence[Cell]) -> str:
    """Tables 2-7 (paper regularization, then controlled), each in the paper's column order;
    only the tables with runs of ours (the others are named in one line)."""
    parts = ["## Tables 2-7: our runs beside the paper"]
    ran = [t for t in paper_tables() if table_cells(t, cells)]
    if not ran:
        return parts[0] + "\n\nNo run of Tables 2-7's configurations was found."
    parts += [render_table(t, cells) for t in ran]
    missing = [str(t.number) for t in paper_tables() if t not in ran]
    if missing:
        parts.append(f"Not run: Table{'s' if len(missing) > 1 else ''} {', '.join(missing)}.")
    return "\n\n".join(parts)
