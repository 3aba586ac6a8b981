"""The Ray backend: each job a Ray task, on a cluster or a local Ray instance started for the sweep."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from ..config import ConfigError
from .cores import shape, shards_of
from .plan import Job, JobResult, lost, run_job

RAY_MISSING = "the ray executor needs `pip install toobig[ray]`"
# A Ray task lost with its worker or node is retried this often; training resumes from the last
# checkpoint, so a retry costs at most one checkpoint interval. Python errors are not retried.
RAY_MAX_RETRIES = 2
# A local Ray instance only passes small job descriptions and results around.
RAY_OBJECT_STORE_BYTES = 128 * 1024**2


def execute_ray(jobs: Sequence[Job], address: str | None, workers: int | None, threads: int | None,
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
            threads = threads or shards_of(jobs)  # node sizes are the cluster's business
        else:
            workers, threads = shape(len(jobs), workers, threads, cuda=False, shards=shards_of(jobs))
            ray.init(
                num_cpus=workers * threads,
                include_dashboard=False,
                object_store_memory=RAY_OBJECT_STORE_BYTES,
                logging_level=logging.WARNING,
            )
        started = True
    threads = threads or shards_of(jobs)
    refs: dict[Any, Job] = {}
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) >= 1
        tasks = {
            gpus: ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=RAY_MAX_RETRIES)(run_job) for gpus in (0, 1)
        }
        for job in jobs:
            # A CUDA job must reserve a GPU, or Ray hides the GPUs from its worker ("auto" -> CPU).
            gpus = 1 if job.options.device.startswith("cuda") or (job.options.device == "auto" and has_gpu) else 0
            refs[tasks[gpus].remote(job, threads)] = job
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task was lost: worker crash, node failure, cancelled
                    result = lost(refs[ref], exc, "the Ray task did not return")
                on_result(result)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
