"""What a finished run answers on its held-out prompts at its last evaluation, recorded after
training from its last checkpoint: for runs trained before the evaluation records carried the
answers (`heldout_answers` in metrics.jsonl). The re-evaluation must reproduce the last evaluation
(every count, and the exact corpus loss) or nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from .config import ConfigError
from .inference import evaluate_trained, load_trained
from .store import ANSWERS_FILE, RunDir, StoreError, atomic_write_text

# What the re-evaluation must reproduce, where the last record has it. The counts alone pin down
# little when every held-out sample is wrong (they would pass for any wrong answers); the exact
# loss over the whole corpus pins down the parameters.
_CHECKED = ("iter", "add_correct", "sub_correct", "facts_correct", "heldout_correct", "heldout_total",
            "heldout_by_prompt", "heldout_answers", "loss")
# Losses logged before the evaluation shared the training loss's op (2026-11-30) may differ in
# their last bits; a different set of parameters moves the loss far more.
LOSS_TOLERANCE = 1e-6


def first_difference(logged: Mapping[str, Any], again: Mapping[str, Any]) -> str | None:
    """The first checked key on which a re-evaluation differs from the logged record, or None."""
    for key in _CHECKED:
        if key not in logged:
            continue
        if key == "loss":
            if again.get(key) is None or abs(float(again[key]) - float(logged[key])) > LOSS_TOLERANCE:
                return key
        elif again.get(key) != logged[key]:
            return key
    return None


def record_answers(run_dir: str | Path, device: str = "cpu") -> dict:
    """Evaluate the run's last checkpoint again and write RUN_DIR/answers.json with what it answers
    on each held-out prompt (completion -> samples) and the logged values it reproduced; return
    what was written. Evaluate on the device type the run trained on."""
    run = RunDir(Path(run_dir))
    with run.lock():
        summary = run.read_summary() or {}
        final = summary.get("final")
        if summary.get("status") != "complete" or not final:
            raise StoreError(f"{run.path}: not a complete run; its last evaluation is not final yet")
        if "loss" not in final or "heldout_correct" not in final:
            raise StoreError(f"{run.path}: its last record lacks the loss or the held-out count; nothing to check a re-evaluation against")
        if not run.checkpoint_path("last").is_file():
            raise StoreError(f"{run.path}: no last checkpoint (only the best is kept here), so its last evaluation cannot be repeated")
        trained_on = str((summary.get("environment") or {}).get("device", "cpu")).split(":")[0]
        trained = load_trained(run.path, "last", device)
        if trained.device.type != trained_on:
            raise ConfigError(f"{run.path}: trained on {trained_on}; evaluate it there (device={trained_on!r}) to reproduce its arithmetic")
        again = evaluate_trained(trained)
        differ = first_difference(final, again)
        if differ:
            raise StoreError(
                f"{run.path}: the last checkpoint does not reproduce the last evaluation ({differ}: "
                f"{again.get(differ)!r} against {final[differ]!r} logged); answers not recorded"
            )
        if "heldout_answers" not in again:
            raise ConfigError(f"{run.path}: the run holds nothing out, so it has no held-out answers")
        result = {
            "checkpoint": "last",
            "iteration": again["iter"],
            "device": str(trained.device),
            "torch": torch.__version__,
            "reproduced": {key: final[key] for key in _CHECKED if key in final and key != "heldout_answers"},
            "heldout_answers": again["heldout_answers"],
        }
        atomic_write_text(run.path / ANSWERS_FILE, json.dumps(result, indent=2) + "\n")
    return result
