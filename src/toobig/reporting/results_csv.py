"""results.csv: one tidy row per (experiment, task, model, condition, configuration, seed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from ..store import atomic_write_text
from ..config import protocol_changes
from ..studies import study_of
from ..tasks import resolve_task
from .answers import most_frequent
from .study_measures import measure
from .runs import Cell, SeedRun, flatten, learned_task, perfect_arithmetic, preset_changes


def _study_of(cell: Cell) -> tuple[str, str]:
    """(study, variant label) of a cell; a Table 2 configuration counts for the first study using it."""
    found = study_of(cell.digest, cell.max_iters)
    return (found[0].name, found[1].label) if found else ("", "")

COLUMNS = (
    "experiment", "paper_table", "task", "model", "condition", "seed", "status", "config_digest",
    "max_iters", "iteration", "best_iter", "add_acc", "sub_acc", "facts_acc", "combined",
    "add_correct", "add_total", "sub_correct", "sub_total", "facts_correct", "facts_total",
    "heldout_correct", "heldout_total", "extrapolated", "first_extrapolation_iter", "learned_task",
    "perfect_arithmetic", "study", "variant", "protocol", "held_out", "extrapolates_at_in_distribution_best",
    "extrapolates_stably", "heldout_acc_last", "heldout_acc_last10", "heldout_add_acc_last10", "heldout_sub_acc_last10", "heldout_acc_peak", "heldout_peak_iter", "heldout_acc_at_in_distribution_best",
    "heldout_acc_at_paper_best", "heldout_answers_last", "final_loss", "floor_order_agnostic", "floor_exact_stream", "order_fraction",
    "out_of_range_add_acc", "out_of_range_sub_acc", "parameters", "train_s", "eval_s", "total_s", "device", "torch", "numerics", "git_commit", "path",
)
_SCORES = (
    "add_acc", "sub_acc", "facts_acc", "combined", "add_correct", "add_total", "sub_correct", "sub_total",
    "facts_correct", "facts_total", "heldout_correct", "heldout_total",
)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _drawn_held_out(run: SeedRun) -> str:
    """The pairs a random held-out set drew for this run, as JSON like a fixed set's: as its
    summary.json records them, else drawn again from its configuration."""
    if run.held_out is not None:
        return json.dumps([list(pair) for pair in run.held_out])
    config = run.run_config()
    if config is None:
        return "random (pairs unknown)"
    return json.dumps([list(pair) for pair in resolve_task(config.task, config.seed).held_out])


def _row(cell: Cell, run: SeedRun, root: Path) -> dict[str, Any]:
    experiment = cell.experiment
    best = run.best or {}
    row: dict[str, Any] = {
        "experiment": experiment,
        "paper_table": experiment.removeprefix("table") if experiment.startswith("table") else "",
        "task": run.task,
        "model": run.model,
        "condition": run.regularization,
        "seed": run.seed,
        "status": run.status,
        "config_digest": run.digest,
        "max_iters": run.max_iters,
        "iteration": run.iteration,
        "best_iter": best.get("iter", ""),
        "extrapolated": run.extrapolated,
        "first_extrapolation_iter": _blank(run.first_extrapolation_iter),
        "learned_task": learned_task(run) if run.task in ("arithmetic", "combined") else "",
        "perfect_arithmetic": perfect_arithmetic(run) if run.task in ("arithmetic", "combined") else "",
        "out_of_range_add_acc": run.out_of_range.add_acc if run.out_of_range else "",
        "out_of_range_sub_acc": run.out_of_range.sub_acc if run.out_of_range else "",
        "parameters": _blank(run.parameters),
        "train_s": _blank(run.train_s),
        "eval_s": _blank(run.eval_s),
        "total_s": _blank(run.total_s),
        "device": run.environment.get("device", ""),
        "torch": run.environment.get("torch", ""),
        "numerics": run.numerics,
        "git_commit": run.environment.get("git_commit", ""),
        "path": _relative(run.path, root),
    }
    row["study"], row["variant"] = _study_of(cell)
    row["protocol"] = json.dumps(protocol_changes(run.config), sort_keys=True)
    task = run.config.get("task", {})
    if run.task == "capitals":
        row["held_out"] = ""
    elif run.task == "pairs":
        row["held_out"] = f"held-out pairs of {Path(str(task.get('pairs_file', ''))).name} (prompts in summary.json)"
    elif task.get("held_out_random"):
        row["held_out"] = _drawn_held_out(run)
    else:
        row["held_out"] = json.dumps(task.get("held_out", []))
    if run.task in ("arithmetic", "combined") and run.metrics:
        m = measure(run)
        row["extrapolates_at_in_distribution_best"] = m.extrapolates.get("at_in_distribution_best", "")
        row["extrapolates_stably"] = m.extrapolates.get("stably", "")
        row["heldout_acc_last"] = _blank(m.heldout_last)
        row["heldout_acc_last10"] = _blank(m.heldout_tail)
        row["heldout_add_acc_last10"] = _blank(m.heldout_tail_by_operation.get("add"))
        row["heldout_sub_acc_last10"] = _blank(m.heldout_tail_by_operation.get("sub"))
        row["heldout_acc_peak"] = _blank(m.heldout_peak)
        row["heldout_peak_iter"] = _blank(m.heldout_peak_iter)
        row["heldout_acc_at_in_distribution_best"] = _blank(m.heldout_at_id_best)
        row["heldout_acc_at_paper_best"] = _blank(m.heldout_at_paper_best)
        # Each held-out prompt's most frequent completion at the last evaluation, where recorded.
        row["heldout_answers_last"] = json.dumps(
            {prompt: most_frequent(counts) for prompt, counts in m.heldout_answers_last.items()}
        ) if m.heldout_answers_last else ""
        row["final_loss"] = _blank(m.final_loss)
        if m.floors is not None:  # nats per character, of the run's own training stream
            row["floor_order_agnostic"], row["floor_exact_stream"] = round(m.floors.order_agnostic, 6), round(m.floors.exact_stream, 6)
        row["order_fraction"] = "" if m.order_fraction is None else round(m.order_fraction, 6)
    for key in _SCORES:
        row[key] = best.get(key, "")
    for part in ("add", "sub", "facts"):
        # A part the task lacks (total 0) has no accuracy; a 0.0 there would read as a score.
        if best and not best.get(f"{part}_total"):
            row[f"{part}_acc"] = ""
    return row


def _setting(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else _blank(value)


def _blank(value: Any) -> Any:
    return "" if value is None else value


def results_rows(cells: Sequence[Cell], root: Path, settings: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per run; with `settings` (config keys), each row also holds its run's values of them."""
    rows = []
    for cell in cells:
        flat = flatten(cell.config)
        values = {key: _setting(flat.get(key)) for key in settings}
        rows += [{**_row(cell, run, Path(root)), **values} for run in cell.runs]
    return rows


def setting_columns(cells: Sequence[Cell]) -> list[str]:
    """The config keys (e.g. "train.learning_rate") on which any run leaves its preset: a sweep's
    swept values, as columns of results.csv beside the fixed ones."""
    keys: set[str] = set()
    for cell in cells:
        keys |= preset_changes(cell).keys()
    return sorted(keys)


def write_results_csv(cells: Sequence[Cell], root: Path, path: Path) -> Path:
    """The fixed COLUMNS, then one column per setting that any run changes from its preset
    (every row holds its own value there)."""
    settings = setting_columns(cells)
    rows = results_rows(cells, root, settings)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *settings], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(path), buffer.getvalue())
    return Path(path)
