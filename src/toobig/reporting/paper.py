"""The paper's published numbers (Tables 2-7, Section 5.1, Appendix B) and curves, as package data.

Source: Barron & White, "Too Big to Think" (2025, arXiv 2506.09099) and the result files of its
reference implementation; see `citation()` and the "sources" and "notes" of data/paper_results.json.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

_RESULTS_FILE = "paper_results.json"
_CURVES_DIR = "paper_curves"

# toobig's names -> the reference's file-name parts.
_CURVE_TASKS = {"arithmetic": "math", "capitals": "facts", "combined": "both"}
_CURVE_MODELS = {"n14": "mini_14", "n28": "mini_28", "n56": "mini_56", "mlt": "mlt"}
_CURVE_CONDITIONS = {"paper": "", "controlled": "_wd"}


@dataclass(frozen=True)
class PaperValue:
    """One printed percentage: the text, its value as a fraction, and half its last printed digit."""

    printed: str
    value: float
    half_unit: float  # "98%" -> 0.005, "97.9%" -> 0.0005: how far the unrounded value may lie

    @classmethod
    def parse(cls, text: str) -> "PaperValue":
        number = text.strip().rstrip("%")
        decimals = len(number.split(".")[1]) if "." in number else 0
        return cls(text, float(number) / 100.0, 0.5 * 10.0 ** (-decimals) / 100.0)


@dataclass(frozen=True)
class PaperCount:
    """A printed count such as "40/40"."""

    printed: str
    correct: int
    total: int

    @classmethod
    def parse(cls, text: str) -> "PaperCount":
        correct, total = (int(x) for x in text.split("/"))
        return cls(text, correct, total)


@dataclass(frozen=True)
class PaperCsvScores:
    """Exact best-checkpoint fractions from the reference's results CSV."""

    source: str
    addition: float
    subtraction: float
    facts: float
    combined: float


@dataclass(frozen=True)
class PaperRow:
    """One model's row of a printed table, with the exact numbers that go with it."""

    model: str
    parameters: int  # exact count; parameters_printed is the table's rounded text
    parameters_printed: str
    addition: PaperValue | None
    subtraction: PaperValue | None
    facts: PaperValue | None
    combined: PaperValue | None
    heldout: PaperCount | None
    csv: PaperCsvScores | None


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    section: str
    task: str
    condition: str
    columns: tuple[str, ...]
    footnote: str
    rows: tuple[PaperRow, ...]

    def row(self, model: str) -> PaperRow | None:
        return next((r for r in self.rows if r.model == model), None)


@dataclass(frozen=True)
class PaperOutOfRange:
    """Section 5.1: n14 on operands 0..operand_max, pairs with both operands in 0..9 excluded."""

    model: str
    operand_max: int
    addition: PaperValue
    subtraction: PaperValue
    reference_add: tuple[int, int]  # (correct, total) in the reference's own result file
    reference_sub: tuple[int, int]


@dataclass(frozen=True)
class PaperGrokking:
    """Appendix B: the 1.5M-iteration MLT arithmetic run."""

    iterations: int
    learning_rate: float
    min_lr: float
    lr_decay_iters: int
    lowest_val_loss: float
    heldout_correct: int
    heldout_total: int


def _load() -> dict[str, Any]:
    text = resources.files("toobig.data").joinpath(_RESULTS_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def citation() -> str:
    return _load()["citation"]


def paper_notes() -> tuple[str, ...]:
    """Where the paper's printed tables, its CSVs, its curves and its text disagree."""
    return tuple(_load()["notes"])


def paper_max_iters() -> int:
    """Iterations of every run in Tables 2-7 (Section 3.3)."""
    return int(_load()["protocol"]["max_iters"])


def paper_parameters(task: str, model: str) -> int | None:
    return _load()["parameters"].get(task, {}).get(model)


def _value(text: str | None) -> PaperValue | None:
    return None if text is None else PaperValue.parse(text)


def _row(raw: dict[str, Any], task: str, condition: str, data: dict[str, Any]) -> PaperRow:
    model = raw["model"]
    exact = data["csv"].get(condition, {}).get(task, {}).get(model)
    scores = None
    if exact is not None:
        scores = PaperCsvScores(exact["source"], exact["addition"], exact["subtraction"], exact["facts"], exact["combined"])
    return PaperRow(
        model=model,
        parameters=data["parameters"][task][model],
        parameters_printed=raw["parameters"],
        addition=_value(raw.get("addition")),
        subtraction=_value(raw.get("subtraction")),
        facts=_value(raw.get("facts")),
        combined=_value(raw.get("combined")),
        heldout=PaperCount.parse(raw["heldout"]) if "heldout" in raw else None,
        csv=scores,
    )


def _table(raw: dict[str, Any], data: dict[str, Any]) -> PaperTable:
    task, condition = raw["task"], raw["condition"]
    return PaperTable(
        number=raw["number"],
        title=raw["title"],
        section=raw["section"],
        task=task,
        condition=condition,
        columns=tuple(raw["columns"]),
        footnote=raw["footnote"],
        rows=tuple(_row(r, task, condition, data) for r in raw["rows"]),
    )


def paper_tables() -> tuple[PaperTable, ...]:
    """Tables 2-7 in order."""
    data = _load()
    return tuple(_table(t, data) for t in data["tables"])


def paper_table(experiment: int | tuple[str, str]) -> PaperTable:
    """A table by number (2..7) or by (task, condition), e.g. ("arithmetic", "controlled") -> Table 5."""
    for table in paper_tables():
        if experiment == table.number or experiment == (table.task, table.condition):
            return table
    raise KeyError(f"the paper has no table for {experiment!r}")


def table_number(task: str, condition: str) -> int | None:
    """The paper's table for a task and regularization condition; None if it has none."""
    try:
        return paper_table((task, condition)).number
    except KeyError:
        return None


def paper_out_of_range() -> PaperOutOfRange:
    raw = _load()["out_of_range"]
    ref = raw["reference_file"]
    return PaperOutOfRange(
        model=raw["model"],
        operand_max=raw["operand_max"],
        addition=PaperValue.parse(raw["printed"]["addition"]),
        subtraction=PaperValue.parse(raw["printed"]["subtraction"]),
        reference_add=(ref["add_correct"], ref["add_total"]),
        reference_sub=(ref["sub_correct"], ref["sub_total"]),
    )


def paper_grokking() -> PaperGrokking:
    raw = _load()["grokking"]
    return PaperGrokking(
        iterations=raw["iterations"],
        learning_rate=raw["learning_rate"],
        min_lr=raw["min_lr"],
        lr_decay_iters=raw["lr_decay_iters"],
        lowest_val_loss=raw["lowest_val_loss"],
        heldout_correct=raw["heldout_correct"],
        heldout_total=raw["heldout_total"],
    )


def curve_file_name(task: str, model: str, condition: str, grokking: bool = False) -> str | None:
    """The reference's curve file for a toobig (task, model, condition); None if it never ran one."""
    if grokking:
        return "math_mlt_gk_final.csv" if (task, model, condition) == ("arithmetic", "mlt", "paper") else None
    if task not in _CURVE_TASKS or model not in _CURVE_MODELS or condition not in _CURVE_CONDITIONS:
        return None
    return f"{_CURVE_TASKS[task]}_{_CURVE_MODELS[model]}{_CURVE_CONDITIONS[condition]}_final.csv"


def _accuracy(correct: int, total: int) -> float | None:
    return correct / total if total else None


def _curve_row(raw: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"iter": int(raw["iter"])}
    for part in ("add", "sub", "facts"):
        correct, total = int(raw[f"{part}_correct"]), int(raw[f"{part}_total"])
        row[f"{part}_correct"], row[f"{part}_total"] = correct, total
        # Accuracies are recomputed from the counts (a part the task lacks gives None, not 0).
        row[f"{part}_acc"] = _accuracy(correct, total)
    total = row["add_total"] + row["sub_total"] + row["facts_total"]
    row["combined"] = _accuracy(row["add_correct"] + row["sub_correct"] + row["facts_correct"], total)
    row["train_loss"], row["val_loss"] = float(raw["train_loss"]), float(raw["val_loss"])
    return row


def paper_curve(task: str, model: str, condition: str, grokking: bool = False) -> list[dict[str, Any]] | None:
    """The paper's evaluation curve: one dict per evaluation (iter, *_correct, *_total, *_acc,
    combined, train_loss, val_loss), or None where the paper has no such run."""
    name = curve_file_name(task, model, condition, grokking)
    if name is None:
        return None
    path = resources.files("toobig.data").joinpath(_CURVES_DIR).joinpath(name)
    if not path.is_file():
        return None
    return [_curve_row(r) for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))]
