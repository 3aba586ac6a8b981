"""Planning and executing sweeps: real worker processes, a real local Ray instance, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from toobig import executors
from toobig.config import ConfigError, RunConfig, TaskConfig, validate
from toobig.options import RunOptions
from toobig.executors import ERROR_FILE, TRACEBACK_FILE, Job, JobResult, Plan, execute, plan_jobs, read_failure
from toobig.presets import make_config
from toobig.store import RunDir, StoreError, run_dir_name
from toobig.tasks import corpus_text


def _tiny(task="arithmetic", model="n14", regularization="paper", seed=0, iters=20, **task_fields) -> RunConfig:
    config = make_config(task, model, regularization, seed)
    return validate(
        replace(
            config,
            task=replace(config.task, **task_fields),
            train=replace(config.train, max_iters=iters, warmup_iters=5, lr_decay_iters=iters),
            eval=replace(config.eval, interval=20, num_samples=2),
        )
    )


# -- planning -----------------------------------------------------------------------------------
def test_plan_groups_seeds_into_populations_and_splits_them(tmp_path):
    a = [_tiny(seed=s) for s in range(5)]
    b = [_tiny(regularization="controlled", seed=s) for s in (3, 4)]
    plan = plan_jobs([*a, *b, a[0]], tmp_path, RunOptions(device="cpu", max_members=2))
    assert [(j.config.label, j.seeds) for j in plan.jobs] == [
        ("arithmetic-n14-paper", (0, 1)),
        ("arithmetic-n14-paper", (2, 3)),
        ("arithmetic-n14-paper", (4,)),
        ("arithmetic-n14-controlled", (3, 4)),
    ]
    assert all(j.options == RunOptions(device="cpu", max_members=2) and j.out_root == str(tmp_path) for j in plan.jobs)
    assert plan.jobs[0].runs == (tmp_path / run_dir_name(a[0]), tmp_path / run_dir_name(a[1]))
    assert plan.skipped == ()
    # without max_members: one member per single-thread CPU process, so the cores run seeds in parallel
    six = [_tiny(seed=s) for s in range(6)]
    assert [j.seeds for j in plan_jobs(six, tmp_path, RunOptions(device="cpu")).jobs] == [(s,) for s in range(6)]
    # on a GPU one job keeps the population; the trainer fits it to the GPU's memory
    assert [j.seeds for j in plan_jobs(six, tmp_path, RunOptions(device="cuda")).jobs] == [(0, 1, 2, 3, 4, 5)]
    with pytest.raises(ConfigError, match="--max-members must be an integer >= 1"):
        plan_jobs(six, tmp_path, RunOptions(max_members=0))


def test_plan_skips_complete_runs_only(tmp_path):
    configs = [_tiny(seed=s) for s in range(3)]
    RunDir(tmp_path / run_dir_name(configs[0])).write_summary({"status": "complete"})
    RunDir(tmp_path / run_dir_name(configs[1])).write_summary({"status": "running"})
    (tmp_path / run_dir_name(configs[2])).mkdir(parents=True)
    (tmp_path / run_dir_name(configs[2]) / "summary.json").write_text("{trunc")  # unreadable: train again
    plan = plan_jobs(configs, tmp_path, RunOptions(device="cpu"))
    assert plan.skipped == (tmp_path / run_dir_name(configs[0]),)
    assert [j.seeds for j in plan.jobs] == [(1,), (2,)]  # one member per CPU process
    assert plan_jobs([configs[0]], tmp_path).jobs == ()


def test_shape_gives_cores_to_processes_first(monkeypatch):
    monkeypatch.setattr(executors.cores, "cpus", lambda: 2)
    assert executors.cores.shape(6, None, None, cuda=False) == (2, 1)  # 2 workers x 1 thread
    assert executors.cores.shape(1, None, None, cuda=False) == (1, 2)  # a lone job gets both cores
    assert executors.cores.shape(6, None, None, cuda=True) == (1, 2)   # one process drives the GPU
    assert executors.cores.shape(6, None, 2, cuda=False) == (1, 2)
    assert executors.cores.shape(6, 3, None, cuda=False) == (3, 1)


@pytest.mark.parametrize(
    "cores, jobs, workers, shards, expected",
    [
        (4, 3, None, 1, (3, 1)),
        (4, 3, None, 2, (2, 2)),  # a job with 2 shards counts as 2 cores
        (16, 1, None, 2, (1, 16)),  # one job keeps every core
        (16, 3, None, 2, (3, 5)),
        (2, 3, None, 4, (1, 4)),  # more shards than cores: one job, a thread per shard
        (4, 3, 4, 2, (4, 2)),  # --workers asked for: kept
    ],
)
def test_batch_shards_count_as_cores(monkeypatch, cores, jobs, workers, shards, expected):
    monkeypatch.setattr(executors.cores, "cpus", lambda: cores)
    assert executors.cores.shape(jobs, workers, None, cuda=False, shards=shards) == expected


def test_execute_sizes_workers_by_the_jobs_shards(tmp_path, monkeypatch):
    shapes = []
    monkeypatch.setattr(executors.cores, "cpus", lambda: 4)
    monkeypatch.setattr(executors, "execute_local", lambda jobs, w, t, on_result: shapes.append((w, t)))
    jobs = [Job(_tiny(seed=s), (s,), str(tmp_path), RunOptions(device="cpu", batch_shards=2)) for s in range(3)]
    execute(jobs)
    execute([replace(j, options=RunOptions(device="cpu")) for j in jobs])
    execute(jobs, threads=1)  # threads asked for are kept; each job still runs 2 shard threads
    assert shapes == [(2, 2), (3, 1), (2, 1)]


def test_bad_arguments_and_missing_ray(tmp_path, monkeypatch):
    job = Job(_tiny(), (0,), str(tmp_path), RunOptions(device="cpu"))
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        execute([job], executor="dask")
    with pytest.raises(ConfigError, match="--address is only used with --executor ray"):
        execute([job], address="10.0.0.1:6379")
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        execute([job], workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r"needs `pip install toobig\[ray\]`"):
        execute([job], executor="ray")
    assert execute(Plan((), (tmp_path,)), executor="ray").skipped == (tmp_path,)  # nothing to run: no Ray


def test_run_options_reach_the_trainer_unchanged(tmp_path):
    """A job's options train the run exactly as the direct call with the same options does."""
    import torch

    from toobig.training import train

    options = RunOptions(device="cpu", batch_shards=2)
    outcome = execute(plan_jobs([_tiny(seed=3)], tmp_path / "planned", options), workers=1, threads=2)
    assert outcome.ok and len(outcome.completed) == 1
    (planned,) = outcome.completed
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as in the worker: one intra-op thread per shard
    try:
        (direct,) = train(_tiny(seed=3), [3], tmp_path / "direct", replace(options, progress=False))
    finally:
        torch.set_num_threads(before)
    environment = json.loads((planned / "summary.json").read_text())["environment"]
    assert (environment["batch_shards"], environment["threads"], environment["compiled"]) == (2, 2, False)
    assert (planned / "metrics.jsonl").read_text().count("\n") == 2
    strip = lambda text: [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in text.splitlines()]
    assert strip((planned / "metrics.jsonl").read_text()) == strip(direct.metrics_path.read_text())


def test_tensorboard_is_passed_on_and_required_before_anything_runs(tmp_path, monkeypatch):
    jobs = plan_jobs([_tiny(seed=1)], tmp_path, RunOptions(device="cpu", tensorboard=True))
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
        with pytest.raises(ConfigError, match="--tensorboard needs the tensorboard package"):
            execute(jobs, workers=1)
    assert list(tmp_path.iterdir()) == []
    pytest.importorskip("tensorboard")
    (run,) = execute(jobs, workers=1).completed
    assert (run / "tensorboard").is_dir()


def test_a_planned_job_never_overwrites(tmp_path):
    with pytest.raises(ConfigError, match="never overwrites"):
        plan_jobs([_tiny()], tmp_path, RunOptions(overwrite=True))
    with pytest.raises(TypeError, match="options must be a toobig.RunOptions, got str 'cpu'"):
        plan_jobs([_tiny()], tmp_path, "cpu")


def test_a_plan_says_what_each_run_would_do(tmp_path):
    from toobig.store import run_lock
    from toobig.training import train

    configs = [_tiny(seed=s) for s in range(5)]
    train(configs[0], [0, 1, 4], tmp_path, RunOptions(device="cpu", progress=False))
    interrupted, damaged = (RunDir(tmp_path / run_dir_name(configs[s])) for s in (1, 4))
    for run in (interrupted, damaged):  # as if killed before the end
        run.write_summary({**run.read_summary(), "status": "running"})
    # killed between staging the last checkpoint and renaming it: the trainer completes the commit
    interrupted.checkpoint_path("last").rename(interrupted.staged_path("last"))
    last = damaged.checkpoint_path("last")
    last.write_bytes(last.read_bytes()[:-4] + b"oops")
    failed = tmp_path / run_dir_name(configs[2])
    RunDir(failed).write_config(configs[2])
    result = JobResult(Job(configs[2], (2,), str(tmp_path)), "RuntimeError", "boom\nsecond line")
    executors.record_failure(failed, result, "local")
    plan = plan_jobs(configs, tmp_path, RunOptions(device="cpu"))
    with run_lock(interrupted.path):
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
        lines = plan.describe().splitlines()
        assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before  # describing changes nothing
    assert lines[:4] == [
        "4 jobs (4 runs) to train, 1 complete runs skipped",
        f"  {interrupted.path}: resumes at iteration 20 of 20; toobig process {os.getpid()} is training it now",
        f"  {failed}: starts again (no checkpoint past iteration 0); the last attempt failed: RuntimeError: boom",
        f"  {tmp_path / run_dir_name(configs[3])}: new",
    ]
    assert lines[4].startswith(f"  {damaged.path}: damaged, training would refuse it: checkpoint {last} is corrupted")
    with pytest.raises(StoreError, match="is corrupted"):  # as the trainer does
        train(configs[4], [4], tmp_path, RunOptions(device="cpu", progress=False, resume=True))


# -- a worker that dies -------------------------------------------------------------------------
def _dies_on_seed_7(job: Job, threads: int | None) -> JobResult:
    """Stands in for a job the OS kills (out of memory): the process vanishes without a Python error."""
    if 7 in job.seeds:
        os._exit(9)
    return JobResult(job)


def test_a_dying_worker_fails_only_its_own_job(tmp_path):
    jobs = [Job(_tiny(seed=s), (s,), str(tmp_path), RunOptions(device="cpu")) for s in (7, 1)]
    results: list[JobResult] = []
    executors.local.execute_local(jobs, workers=2, threads=1, on_result=results.append, worker=_dies_on_seed_7)
    by_seed = {r.job.seeds[0]: r for r in results}
    assert sorted(by_seed) == [1, 7]
    assert by_seed[1].ok  # ran beside the dying one, in its own process
    assert by_seed[7].error_type == "BrokenProcessPool" and "worker process died" in by_seed[7].message


# -- real sweeps: one run fails, the re-run completes only that one ------------------------------
def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(f.relative_to(path)): (f.stat().st_mtime_ns, f.read_bytes())
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name != ".lock"
    }


@pytest.mark.parametrize(
    "executor",
    ["local", pytest.param("ray", marks=pytest.mark.skipif(not _ray_available(), reason="ray is not installed"))],
)
def test_sweep_records_a_failure_and_a_rerun_completes_only_it(tmp_path, executor):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(corpus_text(TaskConfig()))
    broken = _tiny(corpus_file=str(corpus))  # validated while the file exists...
    configs = [
        broken,
        *(_tiny(seed=s) for s in (0, 1, 2)),
        *(_tiny(model="n28", regularization="controlled", seed=s) for s in (0, 1)),
    ]
    out = tmp_path / "runs"
    plan = plan_jobs(configs, out, RunOptions(device="cpu", max_members=4))  # real populations inside the workers
    assert [len(j.seeds) for j in plan.jobs] == [1, 3, 2]
    corpus.unlink()  # ...and planned, then gone: the worker's trainer raises

    first = execute(plan, executor=executor, workers=2)

    bad = out / run_dir_name(broken)
    good = [out / run_dir_name(c) for c in configs[1:]]
    assert sorted(first.completed) == sorted(good) and first.skipped == ()
    assert [f.path for f in first.failed] == [bad]
    assert first.failed[0].error.startswith("ConfigError: task.corpus_file: no such file")
    error = read_failure(bad)
    assert error["error_type"] == "ConfigError" and error["seeds"] == [0] and error["executor"] == executor
    assert "Traceback" in (bad / TRACEBACK_FILE).read_text() and "corpus_file" in (bad / TRACEBACK_FILE).read_text()
    assert not RunDir(bad).is_complete()
    for path in good:
        assert RunDir(path).is_complete() and not (path / ERROR_FILE).exists()
    assert "5 completed, 0 skipped (already complete), 1 failed" in first.describe()
    assert f"{bad}: ConfigError" in first.describe()
    before = {p: _snapshot(p) for p in good}

    corpus.write_text(corpus_text(TaskConfig()))  # fix the cause
    again = plan_jobs(configs, out, RunOptions(device="cpu"))
    assert [(j.config.digest(), j.seeds) for j in again.jobs] == [(broken.digest(), (0,))]
    if executor == "ray":
        import ray

        assert not ray.is_initialized()  # the instance the first execute started is gone
        # The re-run finds a Ray instance already up (as in a notebook): it uses it and leaves it up.
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=executors.RAY_OBJECT_STORE_BYTES)
        try:
            second = execute(again, executor=executor, workers=2)
            assert ray.is_initialized()
        finally:
            ray.shutdown()
    else:
        second = execute(again, executor=executor, workers=2)

    assert second.completed == (bad,) and second.failed == ()
    assert sorted(second.skipped) == sorted(good)
    assert RunDir(bad).is_complete()
    assert not (bad / ERROR_FILE).exists() and not (bad / TRACEBACK_FILE).exists()
    assert {p: _snapshot(p) for p in good} == before  # complete runs were not touched
    assert plan_jobs(configs, out, RunOptions(device="cpu")).jobs == ()
    summary = json.loads((bad / "summary.json").read_text())
    assert summary["environment"]["threads"] == 1  # 2 workers x 1 torch thread on this sweep


def test_a_plan_reads_the_files_of_the_runs_it_would_train_and_not_of_complete_ones(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(corpus_text(TaskConfig()))
    trained, missing = _tiny(corpus_file=str(corpus)), _tiny(corpus_file=str(corpus), seed=1)
    execute(plan_jobs([trained], tmp_path / "runs", RunOptions(device="cpu")), workers=1)
    corpus.unlink()
    before = sorted((tmp_path / "runs").rglob("*"))
    with pytest.raises(ConfigError, match="task.corpus_file: no such file"):
        plan_jobs([trained, missing], tmp_path / "runs", RunOptions(device="cpu"))
    with pytest.raises(ConfigError, match="task.name=pairs needs task.pairs_file"):
        plan_jobs([_tiny(task="pairs")], tmp_path / "runs", RunOptions(device="cpu"))
    assert sorted((tmp_path / "runs").rglob("*")) == before
    # A complete run whose file is gone (moved, or trained on another machine) is skipped, not refused.
    assert plan_jobs([trained], tmp_path / "runs", RunOptions(device="cpu")).skipped == (tmp_path / "runs" / run_dir_name(trained),)


def test_plan_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (job,) = plan_jobs([_tiny()], "runs", RunOptions(device="cpu")).jobs
    assert job.out_root == str(tmp_path / "runs") and job.runs[0].is_absolute()


def test_progress_says_what_will_run_then_each_job_with_the_time_left(tmp_path, monkeypatch, capsys):
    plan = plan_jobs([_tiny(seed=s) for s in range(3)], tmp_path, RunOptions(device="cpu", max_members=1))
    clock = iter([100.0, 160.0, 220.0, 280.0])  # the sweep starts at 100 s; each job takes 60 s
    monkeypatch.setattr(executors.time, "monotonic", lambda: next(clock))
    tally = executors._Tally(plan, "local", progress=True)
    for job in plan.jobs:
        for path in job.runs:  # the job trained its run
            RunDir(path).write_summary({"status": "complete"})
        tally.add(JobResult(job, elapsed_s=60.0))
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "3 jobs (3 runs) to train, 0 complete runs skipped"
    # A job is named by its configuration's folder, which names the values that set it apart.
    folder = Path(run_dir_name(plan.jobs[0].config)).parent
    assert lines[1].startswith(f"[1/3] {folder} seeds 0: done in 60.0 s") and "-20it-" in str(folder)
    assert lines[1].split("; ")[1].startswith("about 2 min left (")
    assert lines[2].split("; ")[1].startswith("about 1 min left (")
    assert lines[3].startswith("[3/3]") and "left" not in lines[3]


def test_the_time_left_weighs_each_job_by_its_iterations(tmp_path, monkeypatch, capsys):
    # A 20-iteration job takes 60 s: a 60-iteration one and another of 20 are left, 4 x 60 s.
    configs = [_tiny(seed=0, iters=20), _tiny(seed=0, iters=60), _tiny(seed=1, iters=20)]
    plan = plan_jobs(configs, tmp_path, RunOptions(device="cpu", max_members=1))
    clock = iter([100.0, 160.0])
    monkeypatch.setattr(executors.time, "monotonic", lambda: next(clock))
    tally = executors._Tally(plan, "local", progress=True)
    (first,) = [job for job in plan.jobs if job.config.train.max_iters == 20 and job.seeds == (0,)]
    RunDir(first.runs[0]).write_summary({"status": "complete"})
    tally.add(JobResult(first, elapsed_s=60.0))
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.split("; ")[1].startswith("about 4 min left ("), line


def test_a_script_without_a_main_guard_is_told_why_its_workers_fail(tmp_path):
    # Every spawned worker imports the script that started it: one that starts runs at its top
    # level would start them again in each worker. The worker refuses, saying why.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import toobig\n"
        f"outcome = toobig.sweep(toobig.config('arithmetic', 'n14', iters=2), out={str(tmp_path / 'runs')!r}, device='cpu')\n"
        "print('failed:', len(outcome.failed), outcome.failed[0].error if outcome.failed else '')\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "failed: 1" in result.stdout, result.stdout + result.stderr
    assert "runs were started again by a worker process importing the script that started them" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr
    # The parent, which sees only a worker that died, names the likely cause too.
    assert "or unguarded.py, which every worker imports, starts runs outside" in result.stdout
    assert result.stdout.count("failed: ") == 1  # the worker ran no sweep of its own


def test_workers_of_a_sweep_killed_outright_end_and_free_their_runs(tmp_path):
    """SIGKILL of the sweep: its worker stops too (instead of training on, holding the run's lock,
    then waiting forever for another job), so a rerun can resume the run at once."""
    import signal
    import time

    import toobig
    from toobig.store import lock_holder

    config = toobig.config("arithmetic", "n14", iters=20_000, eval_interval=1_000, num_samples=1, seed=0)
    run = tmp_path / "runs" / run_dir_name(config)
    script = tmp_path / "sweep.py"
    script.write_text(
        "import toobig\n"
        "if __name__ == '__main__':\n"
        "    config = toobig.config('arithmetic', 'n14', iters=20_000, eval_interval=1_000, num_samples=1, seed=0)\n"
        f"    toobig.sweep(config, out={str(tmp_path / 'runs')!r}, workers=1, device='cpu', progress=False)\n"
    )
    sweep = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, worker = time.monotonic() + 120, None
        while worker is None and time.monotonic() < deadline and sweep.poll() is None:
            holder = lock_holder(run)
            worker = holder if holder not in (None, sweep.pid) else None
            time.sleep(0.2)
        assert worker is not None, "the worker never started training: " + (sweep.stderr.read().decode() if sweep.poll() is not None else "")
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
        deadline = time.monotonic() + 30
        while lock_holder(run) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lock_holder(run) is None, "the orphaned worker still holds the run"
        try:  # gone, or a zombie its new parent has not reaped yet
            assert "zombie" in Path(f"/proc/{worker}/status").read_text()
        except FileNotFoundError:
            pass
        assert not RunDir(run).is_complete()  # stopped, not trained to the end
    finally:
        if sweep.poll() is None:
            sweep.kill()
