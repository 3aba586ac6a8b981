"""Run many populations: plan them from configs, execute them locally or on a Ray cluster.

`plan_jobs` groups configs that differ only in their seed into populations (one `Job` each) and
leaves out runs that are already complete, so running the same plan again retries only what
failed or is missing. `execute` runs the jobs on a local process pool or on Ray; a job that
raises does not stop the others: each of its unfinished run directories gets `error.json` and
`traceback.txt`, which a later successful attempt removes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import socket
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from .config import ConfigError, RunConfig
from .engine.chunking import CPU_MEMBERS_PER_PROCESS, split
from .store import (
    ERROR_FILE,
    TRACEBACK_FILE,
    RunDir,
    RunDirBusy,
    StoreError,
    atomic_write_text,
    run_dir_name,
    run_lock,
)

EXECUTORS = ("local", "ray")
RAY_MISSING = "the ray executor needs `pip install toobig[ray]`"
# A Ray task lost with its worker or node is retried this often; training resumes from the last
# checkpoint, so a retry costs at most one checkpoint interval. Python errors are not retried.
RAY_MAX_RETRIES = 2
# A local Ray instance only passes small job descriptions and results around.
RAY_OBJECT_STORE_BYTES = 128 * 1024**2


@dataclass(frozen=True)
class Job:
    """One population: the seeds of one config, trained in lockstep in one worker."""

    config: RunConfig
    seeds: tuple[int, ...]
    out_root: str
    device: str = "auto"
    compile: bool = False
    # Passed on to the trainer, which otherwise splits by what fits the device.
    max_members: int | None = None

    @property
    def runs(self) -> tuple[Path, ...]:
        return tuple(Path(self.out_root) / run_dir_name(replace(self.config, seed=s)) for s in self.seeds)

    @property
    def name(self) -> str:
        return f"{self.config.label}-{self.config.digest()} seeds {','.join(map(str, self.seeds))}"


@dataclass(frozen=True)
class Plan:
    """The jobs still to run and the run directories that were already complete."""

    jobs: tuple[Job, ...]
    skipped: tuple[Path, ...] = ()


@dataclass(frozen=True)
class JobResult:
    job: Job
    error_type: str | None = None
    message: str = ""
    traceback: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def error(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.error_type}: {first}" if first else str(self.error_type)


@dataclass(frozen=True)
class Failure:
    path: Path
    error: str


@dataclass(frozen=True)
class SweepOutcome:
    completed: tuple[Path, ...] = ()
    skipped: tuple[Path, ...] = ()
    failed: tuple[Failure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        """A summary for people: counts, then every run under its status."""
        lines = [f"{len(self.completed)} completed, {len(self.skipped)} skipped (already complete), {len(self.failed)} failed"]
        for title, paths in (("completed", self.completed), ("skipped", self.skipped)):
            if paths:
                lines.append(f"{title}:")
                by_config: dict[Path, list[str]] = {}
                for p in paths:  # one line per configuration: its seeds' directories
                    by_config.setdefault(p.parent, []).append(p.name)
                lines += [f"  {parent}: {' '.join(names)}" for parent, names in by_config.items()]
        if self.failed:
            lines.append(f"failed (details in each directory's {ERROR_FILE} and {TRACEBACK_FILE}; re-run to retry):")
            lines += [f"  {f.path}: {f.error}" for f in self.failed]
        return "\n".join(lines)


# -- planning -----------------------------------------------------------------------------------
def plan_jobs(
    configs: Iterable[RunConfig],
    out_root: str | Path,
    device: str = "auto",
    max_members: int | None = None,
    compile: bool = False,
) -> Plan:
    """Group configs into populations (same `digest()`), skip complete runs, split big ones.

    Without max_members, populations on the CPU are split into CPU_MEMBERS_PER_PROCESS members
    per job, so that the pieces run in parallel single-thread processes; on a GPU one job keeps the
    whole population and the trainer fits it to the GPU's memory.
    """
    if max_members is not None and max_members < 1:
        raise ConfigError(f"--max-members must be >= 1, got {max_members}")
    # Absolute: a Ray worker's working directory is not the driver's.
    out_root = Path(os.path.abspath(out_root))
    size = max_members
    if size is None and (device == "cpu" or (device == "auto" and not torch.cuda.is_available())):
        size = CPU_MEMBERS_PER_PROCESS
    groups: dict[str, tuple[RunConfig, list[int]]] = {}
    skipped: list[Path] = []
    seen: set[Path] = set()
    for config in configs:
        path = out_root / run_dir_name(config)
        if path in seen:
            continue  # listed twice
        seen.add(path)
        base, seeds = groups.setdefault(config.digest(), (config, []))
        if _is_complete(path):
            skipped.append(path)
        else:
            seeds.append(config.seed)
    jobs = [
        Job(base, tuple(chunk), str(out_root), device, compile, max_members)
        for base, seeds in groups.values()
        for chunk in split(seeds, size or max(1, len(seeds)))
        if chunk
    ]
    return Plan(tuple(jobs), tuple(skipped))


def _is_complete(path: Path) -> bool:
    try:
        return RunDir(path).is_complete()
    except StoreError:  # an unreadable summary: train it again
        return False


# -- the worker ---------------------------------------------------------------------------------
def run_job(job: Job, threads: int | None = None) -> JobResult:
    """Train one job in this process; an exception becomes a failed JobResult, not a raise.

    resume=True: complete members are skipped and interrupted ones continue from their last
    checkpoint, so a retried job redoes at most one checkpoint interval.
    """
    from .training import train  # the worker's import; planning does not need it

    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        train(
            job.config, list(job.seeds), job.out_root, device=job.device, progress=False,
            resume=True, compile=job.compile, max_members=job.max_members,
        )
    except Exception as exc:
        return JobResult(job, type(exc).__name__, str(exc), traceback.format_exc(), time.perf_counter() - t0)
    return JobResult(job, elapsed_s=time.perf_counter() - t0)


def _lost(job: Job, exc: BaseException, what: str) -> JobResult:
    """A job whose worker never returned a result (killed, crashed, lost with its node)."""
    text = "".join(traceback.format_exception(exc))
    return JobResult(job, type(exc).__name__, f"{what}: {exc}".rstrip(": "), text)


# -- error files --------------------------------------------------------------------------------
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
        atomic_write_text(path / ERROR_FILE, json.dumps(info, indent=2) + "\n")
        atomic_write_text(path / TRACEBACK_FILE, result.traceback or result.error + "\n")


def clear_failure(path: Path) -> None:
    """Remove error.json and traceback.txt left by an earlier failed attempt."""
    if not (path / ERROR_FILE).exists() and not (path / TRACEBACK_FILE).exists():
        return
    with run_lock(path):
        RunDir(path).clear_failure()


def read_failure(path: str | Path) -> dict[str, Any] | None:
    """The error.json of a run directory, or None."""
    file = Path(path) / ERROR_FILE
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# -- execution ----------------------------------------------------------------------------------
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
    to each job's threads; workers x threads never exceeds the cores (oversubscribed OpenMP
    threads slowed a step tens of times in our measurements). On a GPU the default is one
    worker: a population already fills the device.
    """
    plan = jobs if isinstance(jobs, Plan) else Plan(tuple(jobs))
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    for name, value in (("--workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if address is not None and executor != "ray":
        raise ConfigError("--address is only used with --executor ray")
    tally = _Tally(plan, executor, progress)
    if plan.jobs:
        if executor == "local":
            w, t = _shape(len(plan.jobs), workers, threads, _uses_cuda(plan.jobs))
            _execute_local(plan.jobs, w, t, tally.add)
        else:
            _execute_ray(plan.jobs, address, workers, threads, tally.add)
    return tally.outcome()


class _Tally:
    """Sorts each finished job's runs into completed and failed, and keeps their error files."""

    def __init__(self, plan: Plan, executor: str, progress: bool) -> None:
        self.plan, self.executor, self.progress = plan, executor, progress
        self.completed: list[Path] = []
        self.failed: list[Failure] = []
        self.done = 0

    def add(self, result: JobResult) -> None:
        for path in result.job.runs:
            if _is_complete(path):
                self.completed.append(path)
                _keep_going(clear_failure, path)  # a stale error file is harmless next to a summary
            elif result.ok:  # should not happen: the trainer returned without finishing
                self.failed.append(Failure(path, "the trainer returned but the run is not complete"))
            else:
                note = _keep_going(record_failure, path, result, self.executor)
                self.failed.append(Failure(path, result.error + (f" ({note})" if note else "")))
        self.done += 1
        if self.progress:
            status = "done" if result.ok else f"FAILED ({result.error})"
            print(
                f"[{self.done}/{len(self.plan.jobs)}] {result.job.name}: {status} in {result.elapsed_s:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    def outcome(self) -> SweepOutcome:
        return SweepOutcome(tuple(self.completed), self.plan.skipped, tuple(self.failed))


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


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset and container CPU sets
    except AttributeError:
        return os.cpu_count() or 1


def _uses_cuda(jobs: Sequence[Job]) -> bool:
    return any(j.device.startswith("cuda") or (j.device == "auto" and torch.cuda.is_available()) for j in jobs)


def _shape(n_jobs: int, workers: int | None, threads: int | None, cuda: bool) -> tuple[int, int]:
    """(parallel jobs, torch threads per job); see `execute`."""
    cpus = _cpus()
    if workers is None:
        workers = 1 if cuda else max(1, min(n_jobs, cpus // (threads or 1)))
    if threads is None:
        threads = max(1, cpus // workers)
    return workers, threads


Worker = Callable[[Job, int | None], JobResult]


def _execute_local(jobs: Sequence[Job], workers: int, threads: int, on_result: Callable[[JobResult], None],
                   worker: Worker = run_job) -> None:
    """Each job in a fresh "spawn" process, `workers` at a time.

    One process per job rather than one shared pool: a worker killed by the OS (out of memory)
    or crashing breaks a ProcessPoolExecutor for every job queued on it, while here it fails
    only its own job. Starting a process (and importing torch) costs a second or two, small
    against a training job.
    "spawn" because forking a process that has touched torch threads or CUDA is unsafe.
    """
    context = multiprocessing.get_context("spawn")

    def isolated(job: Job) -> JobResult:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            try:
                return pool.submit(worker, job, threads).result()
            except BrokenProcessPool as exc:
                return _lost(job, exc, "the worker process died (killed by the OS, e.g. out of memory, or crashed)")
            except Exception as exc:  # the job or its result could not cross the process boundary
                return _lost(job, exc, "the worker could not run the job")

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="toobig-job") as threads_pool:
        pending = {threads_pool.submit(isolated, job) for job in jobs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())  # results are handled here, in one thread
        except BaseException:
            # Ctrl-C also reaches the workers (same process group); drop what has not started.
            threads_pool.shutdown(wait=False, cancel_futures=True)
            raise


def _execute_ray(jobs: Sequence[Job], address: str | None, workers: int | None, threads: int | None,
                 on_result: Callable[[JobResult], None]) -> None:
    """Each job a Ray task; without an address, on a local Ray instance started (and stopped) here."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None

    started = False
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, logging_level=logging.WARNING)
            except ConnectionError as exc:
                raise ConfigError(f"--address {address}: cannot reach the Ray cluster ({exc})") from None
            threads = threads or 1  # node sizes are the cluster's business
        else:
            workers, threads = _shape(len(jobs), workers, threads, cuda=False)
            ray.init(
                num_cpus=workers * threads,
                include_dashboard=False,
                object_store_memory=RAY_OBJECT_STORE_BYTES,
                logging_level=logging.WARNING,
            )
        started = True
    threads = threads or 1
    refs: dict[Any, Job] = {}
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) >= 1
        tasks = {
            gpus: ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=RAY_MAX_RETRIES)(run_job) for gpus in (0, 1)
        }
        for job in jobs:
            # A CUDA job must reserve a GPU, or Ray hides the GPUs from its worker ("auto" -> CPU).
            gpus = 1 if job.device.startswith("cuda") or (job.device == "auto" and has_gpu) else 0
            refs[tasks[gpus].remote(job, threads)] = job
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task was lost: worker crash, node failure, cancelled
                    result = _lost(refs[ref], exc, "the Ray task did not return")
                on_result(result)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
