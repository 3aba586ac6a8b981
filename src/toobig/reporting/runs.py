"""Read finished (or running) run directories from disk and group them into cells of seeds.

Only files are read (config.toml, metrics.jsonl, summary.json, extrapolation.json), never live
training objects, so a report can be made on another machine or while training goes on.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..answers import first_difference
from ..config import ConfigError, RunConfig, from_dict, protocol_changes, to_dict
from ..integrity import check_run
from ..metrics import arithmetic_perfect, best_record, extrapolated, in_distribution_perfect
from ..presets import MODEL_NAMES, make_config, with_max_iters
from ..store import ANSWERS_FILE, CONFIG_FILE, ERROR_FILE, EXTRAPOLATION_FILE, SUMMARY_FILE, RunDir, StoreError
from ..studies import study_of
from .paper import table_number

_N_MODEL = re.compile(r"n(\d+)")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutOfRange:
    """Section 5.1 result written by `toobig extrapolate` (operands beyond the training range)."""

    max_operand: int
    trained_operand_max: int  # operands both within 0..this were in training and are not scored
    checkpoint: str
    iteration: int | None
    add_correct: int
    add_total: int
    sub_correct: int
    sub_total: int

    @property
    def add_acc(self) -> float:
        return self.add_correct / self.add_total if self.add_total else 0.0

    @property
    def sub_acc(self) -> float:
        return self.sub_correct / self.sub_total if self.sub_total else 0.0


@dataclass(frozen=True)
class SeedRun:
    """One run directory: one configuration, one seed."""

    path: Path
    label: str
    task: str
    model: str
    regularization: str
    seed: int
    digest: str
    status: str
    parameters: int | None
    iteration: int
    max_iters: int
    best: Mapping[str, Any] | None  # the metrics record at the best combined score
    final: Mapping[str, Any] | None
    extrapolated: bool
    first_extrapolation_iter: int | None
    train_s: float | None
    eval_s: float | None
    total_s: float | None
    environment: Mapping[str, Any]
    config: Mapping[str, Any]  # nested dict as in config.toml
    metrics: tuple[Mapping[str, Any], ...]
    out_of_range: OutOfRange | None
    # What it answered on its held-out prompts at its last evaluation, from answers.json (runs
    # trained before the records carried them); None when absent.
    answers_after_training: Mapping[str, Mapping[str, int]] | None = None
    # What summary.json states as held out: operand pairs, or a pairs task's prompts; None when
    # it does not say (synthetic or hand-made runs).
    held_out: Sequence[Any] | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def schedule(self) -> str:
        return str(self.config.get("eval", {}).get("schedule", "linear"))

    @property
    def n_embd(self) -> int | None:
        return self.config.get("model", {}).get("n_embd")

    def run_config(self) -> RunConfig | None:
        """The run's configuration as this toobig reads it; None where it cannot (e.g. a run
        written by a version with settings this one lacks)."""
        try:
            return from_dict({**self.config, "seed": self.seed})
        except ConfigError:
            return None

    @property
    def numerics(self) -> str:
        """Eager or compiled, and batch shards: runs that differ here differ in float rounding."""
        shards = int(self.environment.get("batch_shards") or 1)
        kind = "compiled" if self.environment.get("compiled") else "eager"
        return kind + (f", {shards} batch shards" if shards > 1 else "")


@dataclass(frozen=True)
class Cell:
    """All seeds of one configuration: same (task, model, regularization, config digest)."""

    task: str
    model: str
    regularization: str
    digest: str
    runs: tuple[SeedRun, ...]  # ordered by seed

    @property
    def label(self) -> str:
        return f"{self.task}-{self.model}-{self.regularization}"

    @property
    def config(self) -> Mapping[str, Any]:
        return self.runs[0].config

    @property
    def max_iters(self) -> int:
        return self.runs[0].max_iters

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r.seed for r in self.runs)

    @property
    def evaluated(self) -> tuple[SeedRun, ...]:
        """Seeds with at least one evaluation (a best record)."""
        return tuple(r for r in self.runs if r.best is not None)

    @property
    def unfinished(self) -> int:
        """Seeds not complete: running, interrupted or failed."""
        return sum(not r.complete for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs)

    @property
    def parameters(self) -> int | None:
        return next((r.parameters for r in self.runs if r.parameters is not None), None)

    @property
    def experiment(self) -> str:
        """"grokking", "capacity", "table2".."table7", "beyond" (a study's variant beyond the
        paper's protocol), or "other" (e.g. a task of your own, a sweep of other settings)."""
        if is_grokking(self):  # Appendix B's own learning rates
            return "grokking"
        if not follows_preset_protocol(self):
            return "beyond" if in_a_study(self) else "other"
        if is_capacity(self):
            return "capacity"
        number = table_number(self.task, self.regularization)
        return f"table{number}" if number is not None else "other"


@dataclass(frozen=True)
class RunCollection:
    """Everything found under a runs directory, with what could not be read and why."""

    root: Path
    runs: tuple[SeedRun, ...]
    skipped: tuple[tuple[Path, str], ...]
    warnings: tuple[str, ...]

    def cells(self) -> tuple[Cell, ...]:
        return group_cells(self.runs)


def discover_run_dirs(runs_dir: Path) -> list[Path]:
    """Every run directory below runs_dir (any depth, runs_dir itself included): a folder with config.toml."""
    return sorted(p.parent for p in Path(runs_dir).rglob(CONFIG_FILE) if p.is_file())


def _read_out_of_range(path: Path, trained_max: int) -> OutOfRange:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return OutOfRange(
        max_operand=int(raw["max_operand"]),
        trained_operand_max=int(raw.get("trained_operand_max", trained_max)),
        checkpoint=str(raw.get("checkpoint", "best")),
        iteration=raw.get("iteration"),
        add_correct=int(raw["add_correct"]),
        add_total=int(raw["add_total"]),
        sub_correct=int(raw["sub_correct"]),
        sub_total=int(raw["sub_total"]),
    )


def load_run(path: Path) -> tuple[SeedRun, list[str]]:
    """Read one run directory; returns the run and warnings about optional files. Raises StoreError."""
    checked = check_run(RunDir(Path(path)))
    run, summary, metrics = checked.run, checked.summary, tuple(checked.metrics)
    if summary is None:
        raise StoreError(
            f"{run.path}: no {SUMMARY_FILE} yet (stopped before its first evaluation, or still before it; "
            f"`toobig train --resume {run.path}` continues it)"
        )
    config = to_dict(checked.config)
    warnings: list[str] = []
    out_of_range = None
    extrapolation = run.path / EXTRAPOLATION_FILE
    if extrapolation.is_file():
        try:
            out_of_range = _read_out_of_range(extrapolation, int(config.get("task", {}).get("operand_max", 9)))
        except (ValueError, KeyError, TypeError) as exc:
            warnings.append(f"{extrapolation}: unreadable, ignored ({exc!r})")
    answers = None
    answers_path = run.path / ANSWERS_FILE
    final = summary.get("final") or {}
    if answers_path.is_file() and "heldout_answers" not in final:  # the record's own answers win
        try:
            raw = json.loads(answers_path.read_text(encoding="utf-8"))
            # The values the re-evaluation reproduced must be this run's last evaluation's: a file
            # of another run, seed or iteration is refused.
            differ = first_difference(final, raw["reproduced"])
            if differ is None:
                answers = {str(p): {str(c): int(n) for c, n in counts.items()} for p, counts in raw["heldout_answers"].items()}
            else:
                warnings.append(f"{answers_path}: its {differ} is not this run's last evaluation's; ignored")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.append(f"{answers_path}: unreadable, ignored ({exc!r})")
    task_cfg = config.get("task", {})
    train_cfg = config.get("train", {})
    timings = summary.get("timings") or {}
    complete = summary.get("status") == "complete"
    selection = str(config.get("eval", {}).get("selection", "combined"))
    if complete:
        status, best = "complete", summary.get("best") or best_record(metrics, selection)
        did_extrapolate, first_extrapolation = bool(summary.get("extrapolated")), summary.get("first_extrapolation_iter")
    else:
        # summary.json of an unfinished run dates from its last checkpoint; metrics.jsonl is newer.
        status = "failed" if (run.path / ERROR_FILE).is_file() else str(summary.get("status", "running"))
        best = best_record(metrics, selection) or summary.get("best")
        first_extrapolation = next((m["iter"] for m in metrics if extrapolated(m)), None)
        did_extrapolate = first_extrapolation is not None
    seed_run = SeedRun(
        path=run.path,
        label=summary.get("label", ""),
        task=summary.get("task", task_cfg.get("name", "")),
        model=summary.get("model", config.get("model_name", "")),
        regularization=summary.get("regularization", config.get("regularization", "")),
        seed=int(summary.get("seed", config.get("seed", 0))),
        digest=summary.get("config_digest", ""),
        status=status,
        parameters=summary.get("parameters"),
        iteration=int(metrics[-1]["iter"] if metrics and not complete else summary.get("iteration", 0)),
        max_iters=int(summary.get("max_iters", train_cfg.get("max_iters", 0))),
        best=best,
        final=summary.get("final"),
        extrapolated=did_extrapolate,
        first_extrapolation_iter=first_extrapolation,
        train_s=timings.get("train_s"),
        eval_s=timings.get("eval_s"),
        total_s=timings.get("total_s"),
        environment=summary.get("environment") or {},
        config=config,
        metrics=metrics,
        out_of_range=out_of_range,
        answers_after_training=answers,
        held_out=summary.get("held_out"),
    )
    return seed_run, warnings


def load_runs(runs_dir: Path) -> RunCollection:
    """Every readable run below runs_dir; unreadable ones are listed with the reason, not dropped silently."""
    runs: list[SeedRun] = []
    skipped: list[tuple[Path, str]] = []
    warnings: list[str] = []
    for path in discover_run_dirs(Path(runs_dir)):
        try:
            run, notes = load_run(path)
        except (StoreError, KeyError, TypeError, ValueError) as exc:
            skipped.append((path, str(exc)))
            log.warning("not included: %s", exc)
            continue
        runs.append(run)
        warnings.extend(notes)
    return RunCollection(Path(runs_dir), tuple(runs), tuple(skipped), tuple(warnings))


def group_cells(runs: Sequence[SeedRun]) -> tuple[Cell, ...]:
    """Group by (task, model, regularization, digest); a label with several digests gives several cells."""
    groups: dict[tuple[str, str, str, str], list[SeedRun]] = defaultdict(list)
    for run in runs:
        groups[(run.task, run.model, run.regularization, run.digest)].append(run)
    cells = [Cell(*key, tuple(sorted(members, key=lambda r: (r.seed, str(r.path))))) for key, members in groups.items()]
    return tuple(sorted(cells, key=lambda c: (c.task, model_order(c.model), c.regularization, -c.max_iters, c.digest)))


def model_order(model: str) -> tuple[int, int, str]:
    """Sort key: the paper's models first in its order, then n<N> by N, then the rest by name."""
    if model in MODEL_NAMES:
        return (0, MODEL_NAMES.index(model), model)
    match = _N_MODEL.fullmatch(model)
    return (1, int(match[1]), model) if match else (2, 0, model)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as {"section.key": value}."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_differences(cells: Sequence[Cell]) -> dict[str, tuple[str, ...]]:
    """For cells sharing a label: per digest, the 'key=value' settings in which they differ (seed ignored)."""
    flats = {c.digest: {k: v for k, v in flatten(c.config).items() if k != "seed"} for c in cells}
    keys = sorted({k for f in flats.values() for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats.values()}) > 1]
    return {d: tuple(shown_setting(k, f.get(k)) for k in differing) for d, f in flats.items()}


def preset_changes(cell: Cell, at_its_length: bool = False) -> dict[str, Any]:
    """The settings ("train.learning_rate": value) in which the cell leaves its label's preset,
    the seed and the derived model name aside; {} where the label names no preset. at_its_length:
    against the preset at the cell's length (its warmup and decay scaled to it), the length aside."""
    try:
        preset = make_config(cell.task, cell.model, cell.regularization)
    except ConfigError:
        return {}
    ignored = {"seed", "model_name"}
    if at_its_length:
        preset = with_max_iters(preset, cell.max_iters)
        ignored.add("train.max_iters")
    theirs = flatten(to_dict(preset))
    return {k: v for k, v in flatten(cell.config).items() if k not in ignored and theirs.get(k) != v}


def shown_setting(key: str, value: Any) -> str:
    return f"{key}={_show(value)}"


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000:
        return f"{value:,}"
    return json.dumps(value) if isinstance(value, (list, str)) else str(value)


def follows_preset_protocol(cell: Cell) -> bool:
    """The paper's protocol for the cell's preset: no knob beyond the paper, the (5,7) pairs held
    out, and the preset's learning rates, dropout and weight decay (run length may differ)."""
    config = cell.config
    if protocol_changes(config):
        return False
    if cell.task != "capitals" and [list(p) for p in config.get("task", {}).get("held_out", [[5, 7]])] != [[5, 7]]:
        return False
    try:
        preset = make_config(cell.task, cell.model, cell.regularization)
    except ConfigError:
        return True  # not a preset's label: nothing to compare with
    train, model = config.get("train", {}), config.get("model", {})
    return (
        train.get("weight_decay", preset.train.weight_decay) == preset.train.weight_decay
        and model.get("dropout", preset.model.dropout) == preset.model.dropout
        and train.get("learning_rate", preset.train.learning_rate) == preset.train.learning_rate
        and train.get("min_lr", preset.train.min_lr) == preset.train.min_lr
    )


def in_a_study(cell: Cell) -> bool:
    return study_of(cell.digest, cell.max_iters) is not None


def is_grokking(cell: Cell) -> bool:
    """Appendix B's run: MLT on arithmetic with a log-spaced evaluation schedule."""
    return cell.model == "mlt" and cell.task == "arithmetic" and cell.runs[0].schedule == "log"


def is_capacity(cell: Cell) -> bool:
    """A capacity-search run: arithmetic, 1 layer, 1 head, MLP ratio 1, named n<N> but not a paper model."""
    return cell.task == "arithmetic" and cell.model not in MODEL_NAMES and is_single_layer_n_model(cell)


def is_single_layer_n_model(cell: Cell) -> bool:
    model = cell.config.get("model", {})
    return (
        _N_MODEL.fullmatch(cell.model) is not None
        and model.get("n_layer") == 1
        and model.get("n_head") == 1
        and model.get("mlp_ratio") == 1
    )


def perfect_arithmetic(run: SeedRun) -> bool:
    """The seed got every addition and subtraction sample right at some evaluation."""
    records = run.metrics or tuple(r for r in (run.best, run.final) if r is not None)
    return any(arithmetic_perfect(r) for r in records)


def learned_task(run: SeedRun) -> bool:
    """The seed reached 100% on the in-distribution arithmetic prompts at some evaluation."""
    records = run.metrics or tuple(r for r in (run.best, run.final) if r is not None)
    return any(in_distribution_perfect(r) for r in records)
