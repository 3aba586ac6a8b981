"""Continuing an interrupted run: refuse to overwrite results, restore state, keep the numerics."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..config import RunConfig
from ..store import CHECKPOINT_NAMES, RunDir, RunExists, StoreError, sha256_file
from .options import EngineOptions
from .records import MemberRecord


def refuse_earlier_results(runs: Sequence[RunDir]) -> None:
    """A fresh start deletes a directory's results, so it needs --resume or --overwrite to go on."""
    for run in runs:
        found = run.earlier_results()
        if found is None:
            continue
        how = "" if found == "a complete run" else f"continue it with `toobig train --resume {run.path}`, or "
        raise RunExists(
            f"run directory {run.path} already holds {found}; {how}pass --overwrite to delete it and train afresh"
        )


def numerics_of(run: RunDir, options: EngineOptions) -> EngineOptions:
    """A resumed run continues with the numerics it started with (compiled or eager, batch
    shards), whatever the resuming command asks: its float rounding stays one path throughout.
    (A run killed before its first checkpoint has no state to keep and starts afresh with the
    resuming command's options.)"""
    trained_with = (run.read_summary() or {}).get("environment", {})
    return replace(
        options,
        compile=bool(trained_with.get("compiled", options.compile)),
        batch_shards=int(trained_with.get("batch_shards", 1)),
    )


def restore(rec: MemberRecord) -> tuple[int, dict]:
    summary = rec.run.read_summary() or {}
    recorded = summary.get("corpus_sha256")
    if recorded is not None and recorded != rec.prepared.text_sha256:
        raise StoreError(
            f"{rec.run.path}: the training corpus changed since this run started "
            f"(task.corpus_file {rec.config.task.corpus_file!r}); restore it or start a new run"
        )
    expected = summary.get("checkpoints", {}).get("last")
    state = rec.run.load_checkpoint("last", expected)
    meta = rec.run.checkpoint_metadata("last")
    iteration = int(meta["iteration"])
    # Metrics logged after the checkpoint are recomputed identically on the way.
    history = [m for m in rec.run.read_metrics() if m["iter"] <= iteration]
    rec.run.write_metrics(history)
    for m in history:
        rec.observe(m)
    rec.checkpoints = _checkpoints_on_disk(rec.run, summary)
    timings = summary.get("timings", {})
    rec.train_s, rec.eval_s = float(timings.get("train_s", 0.0)), float(timings.get("eval_s", 0.0))
    return iteration, {"tensors": state, "steps": int(meta.get("optimizer_steps", 0))}


def _checkpoints_on_disk(run: RunDir, summary: dict) -> dict[str, str]:
    """The SHA-256 of each checkpoint file as it is now. A kill between a checkpoint's rename and
    the summary's rewrite leaves summary.json with the previous digest; the manifest (written
    before the rename) holds the new one, so the file must match one of the two."""
    found: dict[str, str] = {}
    recorded = run.checkpoint_digests()
    for name in CHECKPOINT_NAMES:
        path = run.checkpoint_path(name)
        if not path.is_file():
            continue
        digest = sha256_file(path)
        if digest not in {*recorded.get(name, []), summary.get("checkpoints", {}).get(name)}:
            raise StoreError(f"checkpoint {path} is corrupted (its SHA-256 matches no recorded checksum)")
        found[name] = digest
    return found


def population_siblings(run: RunDir, config: RunConfig) -> list[RunDir]:
    """The unfinished seeds that trained in one population with `run` (same configuration folder,
    same configuration but the seed): resumed together they keep the population's float rounding."""
    summary = run.read_summary()
    # Killed before its first evaluation, a run has no summary to say whether it had company:
    # siblings equally without one started with it (all start afresh, together).
    if summary is not None and int(summary.get("environment", {}).get("population_size", 1)) <= 1:
        return []
    siblings = []
    for path in sorted(run.path.parent.glob("seed*")):
        other = RunDir(path)
        if path == run.path or not other.config_path.is_file() or other.is_complete():
            continue
        if summary is None and other.read_summary() is not None:
            continue
        if other.read_config().without_seed() == config.without_seed():
            siblings.append(other)
    return siblings
