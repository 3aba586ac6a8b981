"""error.json and traceback.txt: what a failed attempt leaves in its run directories."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..store import RunDir, run_lock
from .plan import JobResult


def record_failure(path: Path, result: JobResult, executor: str) -> None:
    """Write error.json and traceback.txt into run directory `path` (under its lock)."""
    job = result.job
    info: dict[str, Any] = {
        "error_type": result.error_type,
        "message": result.message,
        "seeds": list(job.seeds),
        "config_digest": job.config.digest(),
        "executor": executor,
        "host": socket.gethostname(),
        "elapsed_s": round(result.elapsed_s, 3),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with run_lock(path):
        RunDir(path).write_failure(info, result.traceback or result.error + "\n")


def clear_failure(path: Path) -> None:
    """Remove error.json and traceback.txt left by an earlier failed attempt."""
    if not RunDir(path).has_failure():
        return
    with run_lock(path):
        RunDir(path).clear_failure()


def read_failure(path: str | Path) -> dict[str, Any] | None:
    """The error.json of a run directory, or None."""
    return RunDir(Path(path)).read_failure()
