"""Synthetic run directories written with the real RunDir API (no training), for the report tests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from toobig.config import RunConfig
from toobig.model import count_parameters
from toobig.presets import grokking_config, make_config
from toobig.store import RunDir, run_dir_name

# Totals of toobig's default evaluation: all 100 pairs x 10 samples per operation, 50 facts x 10.
TOTALS = {
    "arithmetic": {"add": 1000, "sub": 1000, "facts": 0, "heldout": 40},
    "capitals": {"add": 0, "sub": 0, "facts": 500, "heldout": 0},
    "combined": {"add": 1000, "sub": 1000, "facts": 500, "heldout": 40},
}
VOCAB = {"arithmetic": 17, "capitals": 51, "combined": 66}


def record(task: str, it: int, add: float = 0.0, sub: float = 0.0, facts: float = 0.0, heldout: int = 0, loss: float = 1.0) -> dict[str, Any]:
    """A metrics record as the trainer writes it, from accuracies (counts are rounded from them)."""
    t = TOTALS[task]
    m: dict[str, Any] = {"iter": it}
    for part, acc in (("add", add), ("sub", sub), ("facts", facts)):
        m[f"{part}_correct"] = round(acc * t[part])
        m[f"{part}_total"] = t[part]
        m[f"{part}_acc"] = m[f"{part}_correct"] / t[part] if t[part] else 0.0
    m["heldout_correct"], m["heldout_total"] = heldout, t["heldout"]
    total = t["add"] + t["sub"] + t["facts"]
    m["combined"] = (m["add_correct"] + m["sub_correct"] + m["facts_correct"]) / total
    m.update(loss=loss, lr=1e-3, elapsed_s=float(it) / 100)
    return m


def config_for(task: str, model: str = "n14", regularization: str = "paper", seed: int = 1, max_iters: int | None = None) -> RunConfig:
    config = replace(make_config(task, model, regularization), seed=seed)
    if max_iters is not None:
        config = replace(config, train=replace(config.train, max_iters=max_iters))
    return config


def short_grokking_config(max_iters: int, log_points: int, seed: int = 1) -> RunConfig:
    """Appendix B's run cut short, with log_points evaluations (e.g. 1000 and 4: 0, 1, 10, 100, 1000)."""
    config = grokking_config(seed=seed, max_iters=max_iters)
    return replace(config, eval=replace(config.eval, log_points=log_points))


def write_run(
    root: Path,
    config: RunConfig,
    metrics: Sequence[dict[str, Any]],
    status: str = "complete",
    parameters: int | None = None,
    subdir: str = "",
) -> RunDir:
    """A run directory as the trainer leaves it: config.toml, metrics.jsonl, summary.json.
    The metrics must sit at the first of the config's evaluation points, as a real run's do."""
    run = RunDir(Path(root) / subdir / run_dir_name(config))
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    run.write_metrics(metrics)
    best = None
    for m in metrics:
        if best is None or m["combined"] > best["combined"]:
            best = m
    first = next((m["iter"] for m in metrics if m["heldout_total"] and m["heldout_correct"] == m["heldout_total"]), None)
    run.write_summary({
        "status": status,
        "label": config.label,
        "task": config.task.name,
        "model": config.model_name,
        "regularization": config.regularization,
        "seed": config.seed,
        "config_digest": config.digest(),
        "parameters": parameters if parameters is not None else count_parameters(config.model, VOCAB[config.task.name]),
        "vocab_size": VOCAB[config.task.name],
        "iteration": metrics[-1]["iter"] if metrics else 0,
        "max_iters": config.train.max_iters,
        "best": best,
        "final": metrics[-1] if status == "complete" and metrics else None,
        "extrapolated": first is not None,
        "first_extrapolation_iter": first,
        "timings": {"train_s": 10.0, "eval_s": 2.0, "total_s": 12.0},
        "environment": {"toobig": "0.1.0", "python": "3.11", "torch": "2.13.0", "numpy": "2.4.6", "device": "cpu",
                        "device_name": "x86_64", "threads": 2, "git_commit": None, "compiled": False, "population_size": 3},
        "checkpoints": {},
    })
    return run


def arithmetic_seed(root: Path, seed: int, best_add: float, best_sub: float, heldout: int, model: str = "n14",
                    regularization: str = "paper", max_iters: int | None = None, subdir: str = "") -> RunDir:
    """An arithmetic run with a rising curve whose best evaluation has the given scores."""
    metrics = [
        record("arithmetic", 0, 0.0, 0.0, loss=2.8),
        record("arithmetic", 250, best_add * 0.5, best_sub * 0.5, loss=1.5),
        record("arithmetic", 500, best_add, best_sub, heldout=heldout, loss=0.8),
        record("arithmetic", 750, best_add * 0.99, best_sub * 0.99, loss=0.79),
    ]
    return write_run(root, config_for("arithmetic", model, regularization, seed, max_iters), metrics, subdir=subdir)


def write_extrapolation(run: RunDir, add_correct: int, sub_correct: int, total: int = 3000) -> None:
    (run.path / "extrapolation.json").write_text(json.dumps({
        "max_operand": 19, "checkpoint": "best", "add_correct": add_correct, "add_total": total,
        "sub_correct": sub_correct, "sub_total": total, "add_acc": add_correct / total,
        "sub_acc": sub_correct / total, "iteration": 500,
    }))
