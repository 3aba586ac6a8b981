"""Jobs: populations planned from configurations, what running one gives back, and the worker."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import torch

from ..config import ConfigError, RunConfig
from ..engine.chunking import CPU_MEMBERS_PER_PROCESS, split
from ..engine.population import check_batch_shards
from ..options import RunOptions, require_options
from ..store import ERROR_FILE, TRACEBACK_FILE, RunDir, StoreError, lock_holder, require_folder, run_dir_name
from ..training.corpus import Prepared


@dataclass(frozen=True)
class Job:
    """One population: the seeds of one config, trained in lockstep in one worker."""

    config: RunConfig
    seeds: tuple[int, ...]
    out_root: str
    # The worker trains with these, always resuming (complete runs are skipped, interrupted ones
    # continue) and without a progress bar.
    options: RunOptions = RunOptions()

    @property
    def runs(self) -> tuple[Path, ...]:
        return tuple(Path(self.out_root) / run_dir_name(replace(self.config, seed=s)) for s in self.seeds)

    @property
    def name(self) -> str:
        # The configuration's folder, which names its non-default values (e.g. "-lr0.003-10000it").
        return f"{Path(run_dir_name(self.config)).parent} seeds {','.join(map(str, self.seeds))}"


@dataclass(frozen=True)
class Plan:
    """The jobs still to run and the run directories that were already complete."""

    jobs: tuple[Job, ...]
    skipped: tuple[Path, ...] = ()

    @property
    def headline(self) -> str:
        runs = sum(len(job.runs) for job in self.jobs)
        return f"{len(self.jobs)} jobs ({runs} runs) to train, {len(self.skipped)} complete runs skipped"

    def describe(self) -> str:
        """What running the plan would do, a line per run: new, resumed (from which iteration),
        started again, refused as damaged; busy in another process; failed last time."""
        lines = [self.headline]
        for job in self.jobs:
            lines += [f"  {path}: {state}" for path, state in zip(job.runs, run_states(job))]
        return "\n".join(lines)


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
    # A dry run's runs still to train (new, resumed or started again); a real run leaves it empty.
    planned: tuple[Path, ...] = ()

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


def require_plannable(options: RunOptions) -> None:
    """Options a planned job can train with (it resumes, so never overwrites); ConfigError if not."""
    require_options(options)
    if options.overwrite:
        raise ConfigError("a planned job resumes its runs and never overwrites them; delete the run directories to start afresh")


def plan_jobs(configs: Iterable[RunConfig], out_root: str | Path, options: RunOptions = RunOptions()) -> Plan:
    """Group configs into populations (same `digest()`), skip complete runs, split big ones.

    Without options.max_members, populations on the CPU are split into CPU_MEMBERS_PER_PROCESS members
    per job, so that the pieces run in parallel single-thread processes; on a GPU one job keeps the
    whole population and the trainer fits it to the GPU's memory.
    """
    require_plannable(options)
    # Absolute: a Ray worker's working directory is not the driver's.
    out_root = Path(os.path.abspath(out_root))
    require_folder(out_root)
    device, size = options.device, options.max_members
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
        if config.digest() not in groups:  # a bad option fails here once, not in every worker
            check_batch_shards(config, options.batch_shards)
        base, seeds = groups.setdefault(config.digest(), (config, []))
        if is_complete(path):
            skipped.append(path)
        else:
            seeds.append(config.seed)
    for base, seeds in groups.values():
        if seeds:
            # The files a configuration reads (a pairs file, a corpus) are read now, so that a
            # missing or malformed one fails here, with one line, and not in a worker later.
            Prepared.check(replace(base, seed=seeds[0]))
    jobs = [
        Job(base, tuple(chunk), str(out_root), options)
        for base, seeds in groups.values()
        for chunk in split(seeds, size or max(1, len(seeds)))
        if chunk
    ]
    return Plan(tuple(jobs), tuple(skipped))


def run_states(job: Job) -> list[str]:
    """Read-only: where each run of a job stands, as the trainer would find it (an interrupted
    checkpoint commit settled, damaged files refused)."""
    from ..training.resume import resume_point, staged_commit_point

    runs = [RunDir(path) for path in job.runs]
    try:
        settled = staged_commit_point(runs)
    except Exception as exc:  # an unreadable staged checkpoint
        return [_REFUSED + f"a staged checkpoint is unreadable ({type(exc).__name__})"] * len(runs)
    states = []
    for run in runs:
        if not run.config_path.is_file():
            states.append("new")
            continue
        try:
            iteration = resume_point(run, settled)
        except Exception as exc:  # damaged files: training this job would stop with this message
            state = _REFUSED + (str(exc).splitlines() or [type(exc).__name__])[0]
        else:
            total = job.config.train.max_iters
            state = f"resumes at iteration {iteration:,} of {total:,}" if iteration else "starts again (no checkpoint past iteration 0)"
        holder = lock_holder(run.path)
        if holder is not None:
            state += f"; toobig process {holder} is training it now"
        failure = run.read_failure()
        if isinstance(failure, dict):
            message = str(failure.get("message") or "").strip().splitlines()
            state += f"; the last attempt failed: {failure.get('error_type')}" + (f": {message[0]}" if message else "")
        states.append(state)
    return states


_REFUSED = "damaged, training would refuse it: "


def is_complete(path: Path) -> bool:
    try:
        return RunDir(path).is_complete()
    except StoreError:  # an unreadable summary: train it again
        return False


def run_job(job: Job, threads: int | None = None) -> JobResult:
    """Train one job in this process; an exception becomes a failed JobResult, not a raise.

    resume=True: complete members are skipped and interrupted ones continue from their last
    checkpoint, so a retried job redoes at most one checkpoint interval.
    """
    from ..training import train  # the worker's import; planning does not need it

    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        train(job.config, list(job.seeds), job.out_root, replace(job.options, progress=False, resume=True))
    except Exception as exc:
        return JobResult(job, type(exc).__name__, str(exc), traceback.format_exc(), time.perf_counter() - t0)
    return JobResult(job, elapsed_s=time.perf_counter() - t0)


def lost(job: Job, exc: BaseException, what: str) -> JobResult:
    """A job whose worker never returned a result (killed, crashed, lost with its node)."""
    text = "".join(traceback.format_exception(exc))
    return JobResult(job, type(exc).__name__, f"{what}: {exc}".rstrip(": "), text)
