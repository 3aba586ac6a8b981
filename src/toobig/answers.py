"""What a finished run answers on its held-out prompts at its last evaluation, recorded after
training from its last checkpoint: for runs trained before the evaluation records carried the
answers (`heldout_answers` in metrics.jsonl). The checkpoint must reproduce the last evaluation's
counts exactly (same sampling stream, same arithmetic), or nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

from .config import ConfigError
from .inference import evaluate_trained, load_trained
from .store import ANSWERS_FILE, RunDir, StoreError, atomic_write_text

# The counts a re-evaluation must reproduce before its answers stand for the logged evaluation.
_COUNTS = ("add_correct", "sub_correct", "facts_correct", "heldout_correct", "heldout_by_prompt")


def record_answers(run_dir: str | Path, device: str = "cpu") -> dict:
    """Evaluate the run's last checkpoint again and write RUN_DIR/answers.json with what it answers
    on each held-out prompt (completion -> samples); return what was written."""
    run = RunDir(Path(run_dir))
    summary = run.read_summary() or {}
    final = summary.get("final")
    if summary.get("status") != "complete" or not final:
        raise StoreError(f"{run.path}: not a complete run; its last evaluation is not final yet")
    if not run.checkpoint_path("last").is_file():
        raise StoreError(f"{run.path}: no last checkpoint (only the best is kept here), so its last evaluation cannot be repeated")
    again = evaluate_trained(load_trained(run.path, "last", device))
    differ = [k for k in ("iter", *_COUNTS) if k in final and again.get(k) != final[k]]
    if differ:
        raise StoreError(
            f"{run.path}: the last checkpoint does not reproduce the last evaluation ({differ[0]}: "
            f"{again.get(differ[0])!r} against {final[differ[0]]!r} logged); answers not recorded"
        )
    if "heldout_answers" not in again:
        raise ConfigError(f"{run.path}: the run holds nothing out, so it has no held-out answers")
    result = {"checkpoint": "last", "iteration": again["iter"], "heldout_answers": again["heldout_answers"]}
    with run.lock():
        atomic_write_text(run.path / ANSWERS_FILE, json.dumps(result, indent=2) + "\n")
    return result
