"""The local backend: each job in a fresh process, as many at once as the cores allow."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from .plan import Job, JobResult, lost, run_job

Worker = Callable[[Job, int | None], JobResult]


def execute_local(jobs: Sequence[Job], workers: int, threads: int, on_result: Callable[[JobResult], None],
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
                return lost(job, exc, "the worker process died (killed by the OS, e.g. out of memory, or crashed)")
            except Exception as exc:  # the job or its result could not cross the process boundary
                return lost(job, exc, "the worker could not run the job")

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
