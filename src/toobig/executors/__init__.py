"""Run many populations: plan them from configs, execute them locally or on a Ray cluster.

`plan_jobs` groups configs that differ only in their seed into populations (one `Job` each) and
leaves out runs that are already complete, so running the same plan again retries only what
failed or is missing. `execute` runs the jobs on a local process pool or on Ray; a job that
raises does not stop the others: each of its unfinished run directories gets `error.json` and
`traceback.txt`, which a later successful attempt removes.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import ConfigError
from ..engine.device import resolve_device
from ..options import RunOptions
from ..store import ERROR_FILE, TRACEBACK_FILE, RunDirBusy
from .cores import shape, shards_of, uses_cuda
from .failures import clear_failure, read_failure, record_failure
from .local import execute_local
from .plan import Failure, Job, JobResult, Plan, SweepOutcome, is_complete, plan_jobs, run_job
from .ray_backend import RAY_OBJECT_STORE_BYTES, execute_ray

EXECUTORS = ("local", "ray")


def execute(
    jobs: Plan | Sequence[Job],
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    threads: int | None = None,
) -> SweepOutcome:
    """Run every job; failures are recorded in their run directories and the others go on.

    workers: jobs at once (local: processes; a local Ray instance: its CPUs / threads).
    threads: torch intra-op threads per job (Ray: the CPUs each task reserves).

    By default the cores go to processes first, one torch thread each: these models' kernels
    are too small for intra-op threads to pay (docs/performance.md: on 2 cores a second thread
    takes one n14 model from 11.5 to 11.2 ms per iteration, while two single-thread processes
    side by side each ran at 11.1 ms). Cores left over when there are fewer jobs than cores go
    to each job's threads. A job with S batch shards counts as S cores (a thread per shard). By
    default workers x threads never exceeds the cores (oversubscribed OpenMP threads slowed a
    step tens of times in our measurements), unless one job's shards alone outnumber them. On a
    GPU the default is one worker: a population already fills the device.
    """
    plan = jobs if isinstance(jobs, Plan) else Plan(tuple(jobs))
    check_execution(executor, address, workers, threads, [job.options for job in plan.jobs])
    tally = _Tally(plan, executor, progress)
    if plan.jobs:
        if executor == "local":
            w, t = shape(len(plan.jobs), workers, threads, uses_cuda(plan.jobs), shards_of(plan.jobs))
            execute_local(plan.jobs, w, t, tally.add)
        else:
            execute_ray(plan.jobs, address, workers, threads, tally.add)
    return tally.outcome()


def check_execution(
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    options: Sequence[RunOptions] = (),
) -> None:
    """What execute() checks before it starts anything, for callers that check first and then
    say or write something (a dry run, reproduce's notes): the arguments, and what runs with
    these options need of this machine. ConfigError names the problem."""
    require_not_importing_main()
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    for name, value in (("--workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if address is not None and executor != "ray":
        raise ConfigError("--address is only used with --executor ray")
    if address is None:
        # The jobs run on this machine: a device or package it lacks fails once here, not in
        # every worker (a Ray cluster's nodes may have what this machine has not).
        for device in sorted({o.device for o in options}):
            resolve_device(device)
        if any(o.tensorboard for o in options):
            from ..training import require_tensorboard

            require_tensorboard()


def require_not_importing_main() -> None:
    """Refuse to start runs from a worker that is still importing the parent's main script."""
    # A "spawn" worker imports the script that started it before it runs its job (as Python's
    # multiprocessing does for every spawned process): a script that starts runs at its top level
    # would start them again in every worker, each failing obscurely. Python's own check for this
    # is private too; this is the attribute it reads.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "runs were started again by a worker process importing the script that started them: put the "
            "script's top level under `if __name__ == \"__main__\":`, as for any program that starts processes"
        )


class _Tally:
    """Sorts each finished job's runs into completed and failed, and keeps their error files."""

    def __init__(self, plan: Plan, executor: str, progress: bool) -> None:
        self.plan, self.executor, self.progress = plan, executor, progress
        self.completed: list[Path] = []
        self.failed: list[Failure] = []
        self.done = 0
        self.work_total, self.work_done = sum(_work(job) for job in plan.jobs), 0
        self.started = time.monotonic()
        if progress and plan.jobs:
            print(plan.headline, file=sys.stderr, flush=True)

    def add(self, result: JobResult) -> None:
        for path in result.job.runs:
            if is_complete(path):
                self.completed.append(path)
                _keep_going(clear_failure, path)  # a stale error file is harmless next to a summary
            elif result.ok:  # should not happen: the trainer returned without finishing
                self.failed.append(Failure(path, "the trainer returned but the run is not complete"))
            else:
                note = _keep_going(record_failure, path, result, self.executor)
                self.failed.append(Failure(path, result.error + (f" ({note})" if note else "")))
        self.done += 1
        self.work_done += _work(result.job)
        if self.progress:
            status = "done" if result.ok else f"FAILED ({result.error})"
            print(
                f"[{self.done}/{len(self.plan.jobs)}] {result.job.name}: {status} in {result.elapsed_s:.1f} s"
                f"{self.time_left()}",
                file=sys.stderr,
                flush=True,
            )

    def time_left(self) -> str:
        """'; about 12 min left (14:35 UTC)': the wall time so far (parallel workers included)
        per model-iteration finished, times the model-iterations of the jobs still to run. Models
        of unequal size, resumed runs and jobs running in parallel make it rough."""
        if self.done == len(self.plan.jobs):
            return ""
        left = self.work_total - self.work_done
        seconds = (time.monotonic() - self.started) / max(self.work_done, 1) * left
        at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        return f"; about {seconds / 60:.0f} min left ({at:%H:%M} UTC)"

    def outcome(self) -> SweepOutcome:
        return SweepOutcome(tuple(self.completed), self.plan.skipped, tuple(self.failed))


def _work(job: Job) -> int:
    """A job's size for the time left: its members' iterations (a 100k-iteration run is 3 of 30k)."""
    return len(job.seeds) * job.config.train.max_iters


def _keep_going(action: Callable[..., None], path: Path, *args: Any) -> str:
    """Run a bookkeeping action on a run directory; a problem becomes a note, not a stopped sweep."""
    try:
        action(path, *args)
    except RunDirBusy:
        # Another process is writing this directory (a second sweep, a `toobig train`): its
        # files are not ours to touch.
        return "error files not written: another toobig process holds the directory"
    except OSError as exc:
        return f"error files not written: {exc}"
    return ""


__all__ = [
    "EXECUTORS", "ERROR_FILE", "TRACEBACK_FILE", "RAY_OBJECT_STORE_BYTES", "Failure", "Job", "JobResult", "Plan",
    "SweepOutcome", "check_execution", "clear_failure", "execute", "plan_jobs", "read_failure", "record_failure",
    "require_not_importing_main", "run_job",
]
