"""Continuing an interrupted run: refuse to overwrite results, restore state, keep the numerics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..config import RunConfig
from ..integrity import RECOVER, RunDamaged, check_run, check_vocabulary, checkpoints_on_disk
from ..options import RunOptions
from ..store import RunDir, RunExists, StoreError, checkpoint_file_metadata
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


def numerics_of(run: RunDir, options: RunOptions) -> RunOptions:
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
    checked = check_run(rec.run)
    summary = checked.summary or {}
    recorded = summary.get("corpus_sha256")
    if recorded is not None and recorded != rec.prepared.text_sha256:
        raise StoreError(
            f"{rec.run.path}: the training corpus changed since this run started "
            f"(task.corpus_file {rec.config.task.corpus_file!r}); restore it or start a new run"
        )
    recorded = summary.get("prompts_sha256")
    if recorded is not None and recorded != rec.prepared.prompts_sha256:
        raise StoreError(
            f"{rec.run.path}: the task's prompts changed since this run started "
            f"(task.pairs_file {rec.config.task.pairs_file!r}); restore the file or start a new run"
        )
    check_vocabulary(rec.run, rec.prepared.tokenizer.chars)
    expected = summary.get("checkpoints", {}).get("last")
    state = rec.run.load_checkpoint("last", expected)
    meta = rec.run.checkpoint_metadata("last")
    iteration = int(meta["iteration"])
    # Metrics logged after the checkpoint are recomputed identically on the way.
    history = [m for m in checked.metrics if m["iter"] <= iteration]
    if not history or history[-1]["iter"] != iteration:
        raise _lacks_evaluation(rec.run, iteration)
    rec.run.write_metrics(history)
    for m in history:
        rec.observe(m)
    rec.checkpoints = checkpoints_on_disk(rec.run, summary)
    rec.elapsed_before = float(history[-1].get("elapsed_s", 0.0))
    timings = summary.get("timings", {})
    rec.train_s, rec.eval_s = float(timings.get("train_s", 0.0)), float(timings.get("eval_s", 0.0))
    return iteration, {"tensors": state, "steps": int(meta.get("optimizer_steps", 0))}


def staged_commit_point(runs: Sequence[RunDir]) -> int | None:
    """The iteration at which a population's interrupted checkpoint commit will be completed, or
    None when nothing is staged or the staged files will be dropped (see settle_staged_checkpoints)."""
    staged = [r for r in runs if r.staged_path("last").is_file()]
    if not staged:
        return None
    point = _iteration(staged[0].staged_path("last"))
    committed = all(
        r.staged_path("last").is_file() or (r.checkpoint_path("last").is_file() and _iteration(r.checkpoint_path("last")) == point)
        for r in runs
    )
    return point if committed else None


def settle_staged_checkpoints(runs: Sequence[RunDir]) -> None:
    """Finish or undo a population's interrupted checkpoint commit.

    Every member's last checkpoint is first staged, then all are committed (renamed into place).
    If every member of the population has its staged file or has already committed it, the kill
    fell among the renames: complete them. Otherwise it fell among the staged writes, before any
    rename: drop the staged files, and every member resumes from its previous checkpoint."""
    complete_commit = staged_commit_point(runs) is not None
    for run in runs:
        if not run.staged_path("last").is_file():
            continue
        if complete_commit:
            run.commit_staged("last")
        else:
            run.staged_path("last").unlink()


def resume_point(run: RunDir, settled: int | None) -> int:
    """Read-only: the iteration a run that is not complete would resume from (0: from the start),
    given its population's staged_commit_point. Raises RunDamaged (naming the file) for a run
    the trainer would refuse."""
    checked = check_run(run)
    if settled is not None and run.staged_path("last").is_file():
        return settled
    iteration = last_iteration(run)
    if iteration > 0 and iteration not in {m["iter"] for m in checked.metrics}:
        raise _lacks_evaluation(run, iteration)
    return iteration


def last_iteration(run: RunDir) -> int:
    """The iteration of the run's last checkpoint, 0 without one. A last checkpoint at iteration
    0 holds the seed's initial weights and nothing else: resuming from it is starting afresh."""
    path = run.checkpoint_path("last")
    return max(_iteration(path), 0) if path.is_file() else 0


def _lacks_evaluation(run: RunDir, iteration: int) -> RunDamaged:
    return RunDamaged(f"{run.metrics_path}: lacks the evaluation at iteration {iteration} of checkpoints/last.safetensors; {RECOVER}")


def _iteration(checkpoint: Path) -> int:
    return int(checkpoint_file_metadata(checkpoint).get("iteration", -1))


def population_siblings(run: RunDir, config: RunConfig) -> list[RunDir]:
    """The unfinished seeds that trained in one population with `run` (same configuration folder,
    same configuration but the seed): resumed together they keep the population's float rounding."""
    summary = run.read_summary()
    trained_in = (summary or {}).get("environment", {})
    if summary is not None and int(trained_in.get("population_size", 1)) <= 1:
        return []
    recorded = trained_in.get("population_seeds")
    if recorded is not None:  # the population's own members, not every seed of the folder
        paths = [run.path.parent / f"seed{seed}" for seed in recorded]
    else:  # runs trained before it was recorded: the folder's seeds that trained alike
        paths = sorted(run.path.parent.glob("seed*"))
    siblings = []
    for path in paths:
        other = RunDir(path)
        if path == run.path or not other.config_path.is_file() or other.is_complete():
            continue
        # Killed before its first evaluation, a run has no summary to say whether it had company:
        # siblings equally without one started with it (all start afresh, together).
        theirs = other.read_summary()
        if summary is None and theirs is not None:
            continue
        if recorded is None and theirs is not None and theirs.get("environment", {}).get("population_size") != trained_in.get("population_size"):
            continue  # another population of the folder's
        if other.read_config().without_seed() == config.without_seed():
            siblings.append(other)
    return siblings
