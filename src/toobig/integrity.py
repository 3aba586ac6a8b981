"""Cross-checks of a run directory: every file toobig reads back must agree with what it wrote.

- config.toml hashes to the digest in the directory's name and in summary.json, and its seed is
  the directory's (an edited learning rate or width would otherwise be resumed or evaluated as if
  it had trained the run);
- metrics.jsonl is UTF-8 JSON lines at exactly the run's evaluation points, and its bytes match
  the SHA-256 summary.json recorded for them (a line lost or edited is caught; runs trained
  before summaries recorded it are checked against the schedule only);
- summary.json is an object with fields of the types toobig writes, and its best and final
  records and extrapolation claim are those of metrics.jsonl;
- the checkpoints match a recorded SHA-256.

A file that disagrees is refused by name with the way to recover (RunDamaged), never carried
silently into a resume, an evaluation or a report.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import RunConfig
from .engine.schedule import eval_points
from .metrics import best_record, extrapolated
from .store import CHECKPOINT_NAMES, RECOVER, RunDir, StoreError, sha256_file

_DIGEST_IN_NAME = re.compile(r"-([0-9a-f]{8})$")
_SEED_NAME = re.compile(r"seed(\d+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")

# The summary fields a reader relies on, with the types toobig writes them as.
_SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "seed": (int,),
    "config_digest": (str,),
    "iteration": (int,),
    "max_iters": (int,),
    "best": (dict, type(None)),
    "final": (dict, type(None)),
    "extrapolated": (bool,),
    "checkpoints": (dict,),
    "timings": (dict,),
    "environment": (dict,),
}
_STATUSES = ("running", "complete")


class RunDamaged(StoreError):
    """A run directory whose files disagree with each other or with what toobig wrote."""


@dataclass(frozen=True)
class CheckedRun:
    """A run directory's configuration, summary and metrics, read once and cross-checked."""

    run: RunDir
    config: RunConfig
    summary: dict[str, Any] | None  # None: killed before its first evaluation
    metrics: list[dict[str, Any]]


def damaged(path: Path, problem: str) -> RunDamaged:
    return RunDamaged(f"{path}: {problem}; {RECOVER}")


def metrics_digest(text: str) -> dict[str, Any]:
    """What summary.json records of metrics.jsonl: the SHA-256 and length of its UTF-8 bytes."""
    data = text.encode("utf-8")
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def check_run(run: RunDir | str | Path) -> CheckedRun:
    """Read a run directory and cross-check its files; raise RunDamaged naming the first
    file that disagrees (StoreError when it is not a run directory at all)."""
    run = run if isinstance(run, RunDir) else RunDir(Path(run))
    config = run.read_config()
    summary = _checked_summary(run)
    _check_identity(run, config, summary)
    metrics = _checked_metrics(run, config, summary)
    if summary is not None:
        _check_scores(run, config, summary, metrics)
    checkpoints_on_disk(run, summary)
    run.read_vocab()  # its form; whether it is the corpus's is checked where the corpus is read
    return CheckedRun(run, config, summary, metrics)


def check_vocabulary(run: RunDir, chars: str) -> None:
    """The corpus read today gives the vocabulary the run trained with (vocab.json, where kept):
    else the checkpoint's token ids would mean other characters."""
    kept = run.read_vocab()
    if kept is not None and kept != chars:
        raise RunDamaged(
            f"{run.vocab_path}: the run trained with the characters {kept!r}, but its corpus now gives {chars!r}; "
            "restore the corpus file the run trained on"
        )


def _checked_summary(run: RunDir) -> dict[str, Any] | None:
    summary = run.read_summary()
    if summary is None:
        return None
    path = run.summary_path  # read_summary refuses anything but a JSON object
    for name, types in _SUMMARY_FIELDS.items():
        if name not in summary:
            raise damaged(path, f"lacks the field {name!r}")
        value = summary[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise damaged(path, f"field {name!r} is a {type(value).__name__}, not a {types[0].__name__}")
    if summary["status"] not in _STATUSES:
        raise damaged(path, f"unknown status {summary['status']!r} (toobig writes {', '.join(_STATUSES)})")
    for name, digest in summary["checkpoints"].items():
        if name not in CHECKPOINT_NAMES or not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            raise damaged(path, f"'checkpoints' holds {name!r}: {digest!r}, not a checkpoint's SHA-256")
    return summary


def _check_identity(run: RunDir, config: RunConfig, summary: dict[str, Any] | None) -> None:
    """The configuration is the one the run trained: same digest and seed as its name and summary."""
    digest = config.digest()
    named = _DIGEST_IN_NAME.search(run.path.parent.name)
    recorded = [("the directory name", named[1])] if named else []
    if summary is not None:
        recorded.append(("summary.json", summary["config_digest"]))
    for where, expected in recorded:
        if expected != digest:
            raise damaged(
                run.config_path,
                f"this configuration (digest {digest}) is not the one the run trained ({expected}, in {where}); "
                "to train a changed configuration, start a new run",
            )
    seed_in_name = _SEED_NAME.fullmatch(run.path.name)
    seeds = [("the directory name", int(seed_in_name[1]))] if seed_in_name else []
    if summary is not None:
        seeds.append(("summary.json", summary["seed"]))
    for where, seed in seeds:
        if seed != config.seed:
            raise damaged(run.config_path, f"seed {config.seed} is not the run's seed ({seed}, in {where})")


def _checked_metrics(run: RunDir, config: RunConfig, summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    path = run.metrics_path
    text = run.read_metrics_text()
    if text is None:
        if summary is not None:
            raise damaged(path, "is missing")
        return []
    complete = bool(summary and summary["status"] == "complete")
    if complete and text and not text.endswith("\n"):
        raise damaged(path, "ends in a partial line although the run is complete")
    records = run.parse_metrics(text)
    schedule = eval_points(config.train.max_iters, config.eval)
    iters = [r["iter"] for r in records]
    if iters != schedule[: len(iters)]:
        where = next(i for i, (got, want) in enumerate(zip(iters + [None], schedule)) if got != want)
        found = "nothing" if where >= len(iters) else f"iteration {iters[where]}"
        raise damaged(path, f"line {where + 1} holds {found} where the run evaluated iteration {schedule[where]}")
    recorded = (summary or {}).get("metrics")
    if isinstance(recorded, dict):
        _check_metrics_bytes(path, text, recorded, exact=complete)
    return records


def _check_metrics_bytes(path: Path, text: str, recorded: dict[str, Any], exact: bool) -> None:
    """The first recorded["bytes"] bytes are the ones summary.json saw (a running run's file may
    have grown since); a complete run's file is exactly those bytes."""
    data = text.encode("utf-8")
    size = recorded.get("bytes")
    if not isinstance(size, int) or len(data) < size or (exact and len(data) != size):
        raise damaged(path, f"was changed after summary.json recorded its SHA-256 ({len(data)} bytes, {size} recorded)")
    if hashlib.sha256(data[:size]).hexdigest() != recorded.get("sha256"):
        raise damaged(path, "was changed after summary.json recorded its SHA-256")


def _check_scores(run: RunDir, config: RunConfig, summary: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
    """The scores summary.json states are those of metrics.jsonl (a report reads them from here)."""
    path = run.summary_path
    by_iter = {r["iter"]: r for r in metrics}
    best = summary["best"]
    if best is not None and by_iter.get(best.get("iter")) != best:
        raise damaged(path, f"its best record (iteration {best.get('iter')}) is not metrics.jsonl's")
    if summary["status"] != "complete":
        return
    if summary["final"] != (metrics[-1] if metrics else None):
        raise damaged(path, "its final record is not metrics.jsonl's last")
    if best != best_record(metrics, config.eval.selection):
        raise damaged(path, f"its best record is not the best of metrics.jsonl by {config.eval.selection} score")
    first = next((r["iter"] for r in metrics if extrapolated(r)), None)
    if summary["extrapolated"] != (first is not None) or summary.get("first_extrapolation_iter") != first:
        raise damaged(path, f"its extrapolation claim disagrees with metrics.jsonl (first extrapolation: {first})")


def checkpoints_on_disk(run: RunDir, summary: dict[str, Any] | None) -> dict[str, str]:
    """The SHA-256 of each checkpoint file present. A kill between a checkpoint's rename and the
    summary's rewrite leaves summary.json with the previous digest; the manifest (written before
    the rename) holds the new one, so the file must match one of the two."""
    found: dict[str, str] = {}
    recorded = run.checkpoint_digests()
    for name in CHECKPOINT_NAMES:
        path = run.checkpoint_path(name)
        if not path.is_file():
            continue
        digest = sha256_file(path)
        if digest not in {*recorded.get(name, []), (summary or {}).get("checkpoints", {}).get(name)}:
            raise RunDamaged(f"checkpoint {path} is corrupted (its SHA-256 matches no recorded checksum); {RECOVER}")
        found[name] = digest
    return found
