"""summary.json: what a run states about itself (scores, data, floors, environment)."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..version import __version__
from ..config import protocol_changes, to_dict
from ..integrity import metrics_digest
from ..metrics import heldout_summary
from ..store import metrics_text
from .records import MemberRecord

# Fields of a metrics record that are measured in wall-clock time (excluded from determinism checks).
TIMING_FIELDS = ("elapsed_s",)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "toobig": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }


@dataclass(frozen=True)
class PopulationFacts:
    """What every member's summary.json states about the population it trained in."""

    parameters: int
    vocab_size: int
    environment: dict


def data_summary(rec: MemberRecord, status: str) -> dict:
    """The run's own data (held-out pairs, protocol) and, once complete, its loss floors."""
    out: dict = {"held_out": rec.prepared.held_out_record, "protocol": protocol_changes(to_dict(rec.config))}
    if rec.config.task.name == "pairs":
        out["prompts_sha256"] = rec.prepared.prompts_sha256
    out["heldout"] = heldout_summary(rec.history, rec.config.eval.selection)
    out["metrics"] = metrics_digest(metrics_text(rec.history))
    if status == "complete":
        floors = rec.prepared.floors(rec.config.model.block_size)
        out["loss_floors"] = floors.as_dict()
        final = (rec.last or {}).get("loss")
        fraction = floors.order_fraction(final) if final is not None and rec.config.trains_on_windows else None
        out["order_fraction"] = None if fraction is None else round(fraction, 6)
    return out


def summary(rec: MemberRecord, facts: PopulationFacts, status: str, iteration: int) -> dict:
    return {
        "status": status,
        "label": rec.config.label,
        "task": rec.config.task.name,
        "model": rec.config.model_name,
        "regularization": rec.config.regularization,
        "seed": rec.config.seed,
        "config_digest": rec.config.digest(),
        "parameters": facts.parameters,
        "vocab_size": facts.vocab_size,
        "corpus_sha256": rec.prepared.text_sha256,
        "iteration": iteration,
        "max_iters": rec.config.train.max_iters,
        "best": rec.best,
        "final": rec.last if status == "complete" else None,
        "extrapolated": rec.first_extrapolation is not None,
        "first_extrapolation_iter": rec.first_extrapolation,
        "timings": {"train_s": round(rec.train_s, 3), "eval_s": round(rec.eval_s, 3), "total_s": round(rec.train_s + rec.eval_s, 3)},
        "environment": rec.trained_in or facts.environment,
        "checkpoints": dict(rec.checkpoints),
        **data_summary(rec, status),
    }
