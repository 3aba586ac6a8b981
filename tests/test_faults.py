"""Fault injection: a run killed (SIGKILL) at a file write and resumed ends bitwise like an
uninterrupted one, with nothing left behind. TOOBIG_KILL_AT_WRITE=N makes toobig kill itself
at its N-th write point (store.py). CI runs a spread of write points; every point of a run:
`pytest -m slow tests/test_faults.py` (also for a two-member population)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

import toobig
from toobig.config import ConfigError
from toobig.store import KILL_AT_WRITE_ENV, sha256_file

ARGS = ["--task", "arithmetic", "--model", "n14", "--iters", "40", "--eval-interval", "10",
        "--set", "eval.num_samples=2", "--set", "train.checkpoint_every=2", "--quiet", "--out", "runs"]


def _train(cwd: Path, seeds: str, kill_at: int | None = None, resume: Path | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_WRITE_ENV}
    if kill_at is not None:
        env[KILL_AT_WRITE_ENV] = str(kill_at)
    args = ["train", "--resume", str(resume)] if resume else ["train", *ARGS, "--seeds", seeds]
    return subprocess.run([sys.executable, "-m", "toobig.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300).returncode


def _state(run: Path) -> dict:
    metrics = [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
               for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    tensors = {name: load_file(run / "checkpoints" / f"{name}.safetensors") for name in ("best", "last")}
    timeless = lambda record: {k: v for k, v in record.items() if k != "elapsed_s"}  # noqa: E731
    return {"metrics": metrics, "best": timeless(summary["best"]), "final": timeless(summary["final"]), "status": summary["status"],
            "population_size": summary["environment"]["population_size"],  # resumed together, as trained
            "tensors": {n: {k: v.tolist() for k, v in t.items()} for n, t in tensors.items()}}


def _check_trial(tmp: Path, seeds: str, kill_at: int, reference: dict[str, dict]) -> bool:
    """Kill at write point kill_at, resume what was left, compare; False when no kill happened
    (kill_at is past the run's last write point)."""
    rc = _train(tmp, seeds, kill_at)
    if rc == 0:
        return False
    assert rc == -9, f"expected SIGKILL, got exit code {rc}"
    _resume_and_compare(tmp, seeds, f"kill at write {kill_at}", reference)
    return True


def _check_random_kill(tmp: Path, seeds: str, delay_s: float, reference: dict[str, dict]) -> bool:
    """SIGKILL delay_s after the run's first evaluation is logged, resume, compare; False when
    the run ended before the kill."""
    proc = subprocess.Popen([sys.executable, "-m", "toobig.cli", "train", *ARGS, "--seeds", seeds], cwd=tmp,
                            env={k: v for k, v in os.environ.items() if k != KILL_AT_WRITE_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size for p in (tmp / "runs").glob("*/seed*/metrics.jsonl")):
            break
        time.sleep(0.01)
    time.sleep(delay_s)
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.wait(timeout=60)
    _resume_and_compare(tmp, seeds, f"kill {delay_s:.2f} s after the first evaluation", reference)
    return True


def _resume_and_compare(tmp: Path, seeds: str, what: str, reference: dict[str, dict]) -> None:
    # What a user does next: resume the run directories that exist, rerun the command otherwise.
    dirs = sorted(p for p in (tmp / "runs").glob("*/seed*") if (p / "config.toml").is_file())
    if len(dirs) == len(reference):
        for d in dirs:
            assert _train(tmp, seeds, resume=d) == 0
    else:
        assert _train(tmp, seeds) == 0
    for name, expected in reference.items():
        run = next((tmp / "runs").glob(f"*/{name}"))
        got = _state(run)
        assert got == expected, f"{what}: {name} differs after resume"
        summary = json.loads((run / "summary.json").read_text())
        for ck, digest in summary["checkpoints"].items():
            assert sha256_file(run / "checkpoints" / f"{ck}.safetensors") == digest, f"{what}: stale {ck} digest"
        leftovers = [p.name for p in run.rglob("*") if p.name.endswith(".tmp")]
        assert not leftovers, f"{what}: {leftovers} left behind"


def _reference(tmp: Path, seeds: str) -> dict[str, dict]:
    ref = tmp / "reference"
    ref.mkdir()
    assert _train(ref, seeds) == 0
    return {p.name: _state(p) for p in (ref / "runs").glob("*/seed*")}


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory) -> dict[str, dict]:
    return _reference(tmp_path_factory.mktemp("ref"), "3")


@pytest.mark.parametrize("kill_at", [1, 7, 11, 16])
def test_a_kill_at_a_write_then_resume_equals_the_uninterrupted_run(tmp_path, one_seed, kill_at):
    assert _check_trial(tmp_path, "3", kill_at, one_seed)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory) -> dict[str, dict]:
    return _reference(tmp_path_factory.mktemp("ref2"), "3,4")


# 6: both configs written, no summary yet. At the evaluation of iteration 20: 49, seed 3's last
# checkpoint staged, seed 4's not yet (the staged file is dropped, both resume from iteration 0);
# 53, seed 3's committed, seed 4's still staged (its commit is finished, both resume from 20).
# Before staged commits, such kills resumed the members as two populations of one.
@pytest.mark.parametrize("kill_at", [6, 49, 53])
def test_a_population_killed_between_its_members_writes_resumes_together(tmp_path, two_seeds, kill_at):
    assert _check_trial(tmp_path, "3,4", kill_at, two_seeds)


def test_the_python_api_resumes_a_killed_population_together(tmp_path, two_seeds, capsys):
    # toobig.resume, given one member of a population killed between its members' writes,
    # continues the whole population as it was trained: bitwise the uninterrupted runs.
    assert _train(tmp_path, "3,4", kill_at=53) == -9
    seed3, seed4 = (next((tmp_path / "runs").glob(f"*/{name}")) for name in ("seed3", "seed4"))
    summary = json.loads((seed3 / "summary.json").read_text())
    assert summary["status"] != "complete" and summary["environment"]["population_seeds"] == [3, 4]
    runs = toobig.resume(seed3, device="cpu", progress=False)
    assert [run.path.name for run in runs] == ["seed3", "seed4"]
    assert f"resuming {seed3} with the rest of its population: seed4" in capsys.readouterr().err
    for run in runs:
        assert _state(run.path) == two_seeds[run.path.name]
    for how in ({"overwrite": True}, {"compile": True}, {"batch_shards": 2}, {"max_members": 1}):
        with pytest.raises(ConfigError, match=f"resume\\(\\): {next(iter(how))}=.* does not apply"):
            toobig.resume(runs[0], **how)


def test_a_resumed_run_logs_each_step_once_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def tensorboard_steps(run: Path) -> list[int]:
        events = EventAccumulator(str(run / "tensorboard"))
        events.Reload()
        return [e.step for e in events.Scalars("eval/loss")]

    # Write 36: iteration 30 evaluated and logged, the last checkpoint still iteration 20's, so the
    # resume evaluates iteration 30 again.
    args = [sys.executable, "-m", "toobig.cli", "train", *ARGS, "--seeds", "3", "--tensorboard"]
    killed = subprocess.run(args, cwd=tmp_path, env={**os.environ, KILL_AT_WRITE_ENV: "36"}, capture_output=True, timeout=300)
    assert killed.returncode == -9
    (run,) = (tmp_path / "runs").glob("*/seed3")
    assert tensorboard_steps(run) == [0, 10, 20, 30]
    # TensorBoard reads a folder's event files in the order of their names, which begin with the
    # second each was created: a resume within the second its run started could sort first (by
    # process id), as it would for TensorBoard itself. A resume comes later than that in use.
    time.sleep(1.1)
    toobig.resume(run, device="cpu", progress=False, tensorboard=True)
    assert tensorboard_steps(run) == [0, 10, 20, 30, 40]
    logged = [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("eval/loss")] == pytest.approx(logged)


def _random_kills(tmp_path_factory, seeds: str, reference: dict[str, dict], trials: int, seed: int) -> int:
    """Kill `trials` runs at random moments (delays drawn from `seed`, so a failure reproduces)."""
    rng = random.Random(seed)
    killed = attempts = 0
    while killed < trials:
        attempts += 1
        assert attempts <= 3 * trials, "the runs kept ending before the kill"
        killed += _check_random_kill(tmp_path_factory.mktemp(f"random{attempts}"), seeds, rng.uniform(0.0, 1.0), reference)
    return killed


def test_kills_at_random_moments_then_resume_equal_the_uninterrupted_run(tmp_path_factory, one_seed):
    assert _random_kills(tmp_path_factory, "3", one_seed, trials=2, seed=0) == 2


@pytest.mark.slow
@pytest.mark.parametrize("seeds", ["3", "3,4"])
def test_many_kills_at_random_moments(tmp_path_factory, seeds):
    reference = _reference(tmp_path_factory.mktemp("ref"), seeds)
    killed = _random_kills(tmp_path_factory, seeds, reference, trials=20, seed=1)
    print(f"seeds {seeds}: {killed} random kills resumed, all identical")


@pytest.mark.slow
@pytest.mark.parametrize("seeds", ["3", "3,4"])
def test_every_write_point_of_a_run(tmp_path_factory, seeds):
    reference = _reference(tmp_path_factory.mktemp("ref"), seeds)
    kill_at, killed = 1, 0
    while _check_trial(tmp_path_factory.mktemp(f"trial{kill_at}"), seeds, kill_at, reference):
        kill_at, killed = kill_at + 1, killed + 1
    print(f"seeds {seeds}: {killed} write points killed and resumed, all identical")
    assert killed > 10
