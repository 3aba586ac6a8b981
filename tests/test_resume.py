"""A run killed with SIGKILL resumes from its last checkpoint and ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ARGS = [
    "--task", "arithmetic", "--model", "n14", "--seeds", "3", "--eval-interval", "20",
    "--set", "train.warmup_iters=20", "--set", "eval.num_samples=2", "--quiet",
]


def _toobig(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "toobig.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _summary(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    for key in ("best", "final"):  # their wall-clock field differs, everything else must not
        summary[key] = {k: v for k, v in summary[key].items() if k != "elapsed_s"}
    return {k: summary[k] for k in ("best", "final", "extrapolated", "first_extrapolation_iter", "status")}


@pytest.mark.parametrize("numerics", [[], ["--batch-shards", "2"]], ids=["eager", "batch-shards"])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, numerics):
    # `--resume` takes no numerics flags: the run continues with those it was started with.
    reference = _toobig("train", *ARGS, *numerics, "--iters", "400", "--out", "ref", cwd=tmp_path)
    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    (ref_run,) = (tmp_path / "ref").glob("*/seed3")

    victim = _toobig("train", *ARGS, *numerics, "--iters", "400", "--out", "killed", cwd=tmp_path)
    deadline = time.time() + 300
    run = None
    while time.time() < deadline:
        found = list((tmp_path / "killed").glob("*/seed3/metrics.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 6:
            run = found[0].parent
            break
        time.sleep(0.05)
    assert run is not None, "training never reached its sixth evaluation"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    logged = len((run / "metrics.jsonl").read_text().splitlines())
    assert logged < len(_records(ref_run)), "the run finished before it could be killed"

    resumed = _toobig("train", "--resume", str(run), cwd=tmp_path)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert _records(run) == _records(ref_run)
    assert _summary(run) == _summary(ref_run)
    # The wall clock goes on from the checkpoint's time instead of restarting at zero.
    clock = [json.loads(line)["elapsed_s"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert clock == sorted(clock) and clock[-1] > 0
    for name in ("best", "last"):
        ours, theirs = (load_file(str(r / "checkpoints" / f"{name}.safetensors")) for r in (run, ref_run))
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_resume_of_a_complete_run_changes_nothing(tmp_path):
    first = _toobig("train", *ARGS, "--iters", "40", "--out", "runs", cwd=tmp_path)
    assert first.wait(timeout=600) == 0
    (run,) = (tmp_path / "runs").glob("*/seed3")
    before = (run / "metrics.jsonl").read_text(), (run / "summary.json").read_text()
    again = _toobig("train", "--resume", str(run), cwd=tmp_path)
    assert again.wait(timeout=600) == 0
    assert ((run / "metrics.jsonl").read_text(), (run / "summary.json").read_text()) == before


def test_a_resume_brings_along_its_own_population_and_no_other(tmp_path):
    from dataclasses import replace

    from tests.conftest import tiny
    from toobig.store import RunDir
    from toobig.training.resume import population_siblings

    config, folder = tiny(), tmp_path / "arithmetic-n14"

    def member(seed: int, population: list[int] | None, status: str = "running", size: int | None = None) -> RunDir:
        run = RunDir(folder / f"seed{seed}")
        run.write_config(replace(config, seed=seed))
        environment = {"population_size": size or len(population or [])}
        if population is not None:
            environment["population_seeds"] = population
        run.write_summary({"status": status, "environment": environment})
        return run

    # Seeds 0-5 trained as populations {0, 1, 2} and {3, 4, 5} (a sweep's chunks), seed 2 complete.
    runs = [member(s, [0, 1, 2] if s < 3 else [3, 4, 5], "complete" if s == 2 else "running") for s in range(6)]
    names = lambda found: [r.path.name for r in found]  # noqa: E731
    assert names(population_siblings(runs[0], replace(config, seed=0))) == ["seed1"]
    assert names(population_siblings(runs[4], replace(config, seed=4))) == ["seed3", "seed5"]
    # Runs from before the seeds were recorded: the folder's unfinished seeds of the same population size.
    folder = tmp_path / "older"
    runs = [member(s, None, size=2 if s < 2 else 3) for s in range(5)]
    assert names(population_siblings(runs[0], replace(config, seed=0))) == ["seed1"]
    assert names(population_siblings(runs[3], replace(config, seed=3))) == ["seed2", "seed4"]
    # A run trained alone brings nobody along.
    assert population_siblings(member(0, [0]), replace(config, seed=0)) == []
