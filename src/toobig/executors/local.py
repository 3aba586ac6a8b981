"""The local backend: each job in a fresh process, as many at once as the cores allow."""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Sequence

from .plan import Job, JobResult, lost, run_job

Worker = Callable[[Job, int | None], JobResult]


def _unguarded_main_script() -> str | None:
    """The name of the main script, where its top level has no `if __name__ == "__main__":`."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return None
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    guarded = any(
        isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test)
        for node in tree.body
    )
    return None if guarded else Path(path).name


def _died() -> str:
    """Why a worker died, as far as the parent can tell."""
    # A worker imports the parent's main script before it runs its job: one that starts runs at
    # its top level is refused there (executors.require_not_importing_main) and dies this way.
    script = _unguarded_main_script()
    maybe = (f"; or {script}, which every worker imports, starts runs outside `if __name__ == \"__main__\":` "
             "(the worker's stderr says which)") if script else ""
    return f"the worker process died (killed by the OS, e.g. out of memory, or crashed{maybe})"


PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker once the sweep that started it is gone.

    A parent killed outright (SIGKILL, the OS) leaves its workers behind: each would finish its
    job holding the run's lock, so that a rerun finds the run busy, then wait forever for the
    next job. Ending at once is a kill at any moment, which a run resumes from (its last
    checkpoint; the kernel drops the lock)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="toobig-parent-watch", daemon=True).start()


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
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            try:
                return pool.submit(worker, job, threads).result()
            except BrokenProcessPool as exc:
                return lost(job, exc, _died())
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
