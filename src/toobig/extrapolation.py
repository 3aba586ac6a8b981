"""Section 5.1: does a model trained on operands 0-9 answer problems with operands up to 19?"""

from __future__ import annotations

import json
from pathlib import Path

from .config import ConfigError
from .inference import evaluate_trained, load_trained
from .store import EXTRAPOLATION_FILE, RunDir, atomic_write_text
from .tasks import arithmetic_prompts


def extrapolate(run_dir: str | Path, max_operand: int = 19, checkpoint: str = "best", device: str = "cpu") -> dict:
    """Score a run's checkpoint on every pair in 0..max_operand with at least one operand above
    the training range; write the result to RUN_DIR/extrapolation.json."""
    trained = load_trained(run_dir, checkpoint, device)
    trained_max = trained.config.task.operand_max
    if max_operand <= trained_max:
        raise ConfigError(
            f"--max-operand {max_operand} adds no operand beyond the run's training range 0..{trained_max}; "
            f"pass one above {trained_max}"
        )
    longest = f"<{max_operand}+{max_operand}="
    if len(longest) > trained.config.model.block_size:
        raise ConfigError(
            f"--max-operand {max_operand}: the prompt {longest!r} ({len(longest)} characters) does not fit the "
            f"model's context of {trained.config.model.block_size}"
        )
    prompts = arithmetic_prompts(max_operand, trained.config.task.held_out, skip_below=trained_max)
    metrics = evaluate_trained(trained, prompts)
    result = {
        "max_operand": max_operand,
        "trained_operand_max": trained_max,
        "checkpoint": checkpoint,
        "iteration": trained.iteration,
        **{k: metrics[k] for k in ("add_correct", "add_total", "add_acc", "sub_correct", "sub_total", "sub_acc")},
    }
    with RunDir(Path(run_dir)).lock():
        atomic_write_text(Path(run_dir) / EXTRAPOLATION_FILE, json.dumps(result, indent=2) + "\n")
    return result
