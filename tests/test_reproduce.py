"""`reproduce` trains what is missing, runs the out-of-range test, writes the report, and skips
complete runs when run again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from toobig.config import ConfigError
from toobig.options import RunOptions
from toobig.reproduction import ReproduceOptions, reproduce


def _snapshot(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


def test_reproduce_runs_then_skips(tmp_path):
    messages: list[str] = []
    options = ReproduceOptions(experiments=("table2",), seeds=(0,), out=tmp_path, run_options=RunOptions(device="cpu"), max_iters=20)
    result = reproduce(options, say=messages.append)
    assert result.failed == ()
    report_dir = result.report_dir
    runs = sorted(p.parent for p in (tmp_path / "runs").glob("*/seed0/summary.json"))
    assert [r.parent.name.split("-")[1] for r in runs] == ["n14", "n28", "n56"]  # no MLT on a CPU
    assert any("MLT rows skipped" in m for m in messages)
    assert all(json.loads((r / "summary.json").read_text())["status"] == "complete" for r in runs)
    n14 = next(r for r in runs if "-n14-" in r.parent.name)
    assert json.loads((n14 / "extrapolation.json").read_text())["max_operand"] == 19
    report = (report_dir / "report.md").read_text()
    assert "Table 2" in report and "n14" in report
    before = _snapshot(tmp_path / "runs")

    messages.clear()
    reproduce(options, say=messages.append)
    assert _snapshot(tmp_path / "runs") == before  # nothing retrained, nothing rewritten
    assert any("skipped 3" in m or "3 skipped" in m for m in messages), messages

    # A corrupted checkpoint fails that run's out-of-range test; the report is still written.
    (n14 / "extrapolation.json").unlink()
    best = n14 / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:-7] + b"garbage")
    (report_dir / "report.md").unlink()
    messages.clear()
    result = reproduce(options, say=messages.append)
    assert [f.path for f in result.failed] == [n14] and "out-of-range test" in result.failed[0].error
    assert (report_dir / "report.md").is_file()
    assert any("1 failure(s)" in m for m in messages), messages
    cli = subprocess.run(
        [sys.executable, "-m", "toobig.cli", "reproduce", "--num-seeds", "1", "--max-iters", "20", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 1 and f"{n14}: out-of-range test" in cli.stdout, cli.stdout + cli.stderr


def test_grokking_on_a_cpu_is_skipped_like_the_mlt_rows(tmp_path):
    messages: list[str] = []
    options = ReproduceOptions(experiments=("grokking",), seeds=(0,), out=tmp_path, run_options=RunOptions(device="cpu"), max_iters=5)
    result = reproduce(options, say=messages.append)
    assert result.failed == () and not list((tmp_path / "runs").glob("*/seed0"))
    assert any("MLT rows and the grokking run (an MLT) skipped" in m for m in messages), messages


def test_a_batch_shard_count_that_does_not_suit_a_later_capacity_width_fails_before_training(tmp_path):
    # 4 divides the capitals batch (576) of table3 but not arithmetic's (882), which the
    # capacity search trains only after table3.
    options = ReproduceOptions(
        experiments=("table3", "capacity"), seeds=(0,), out=tmp_path, run_options=RunOptions(device="cpu", batch_shards=4),
        max_iters=5,
    )
    with pytest.raises(ConfigError, match=r"--batch-shards must divide train.batch_size = 882 \(arithmetic-n1-paper"):
        reproduce(options, say=lambda _: None)
    assert not (tmp_path / "runs").exists()


def test_a_dry_run_says_where_the_capacity_search_stands(tmp_path, monkeypatch):
    import toobig.reproduction

    monkeypatch.setattr(toobig.reproduction, "CAPACITY_MAX_N", 2)  # widths n1, n2
    messages: list[str] = []
    options = ReproduceOptions(experiments=("capacity",), seeds=(0,), out=tmp_path, run_options=RunOptions(device="cpu"), max_iters=4)
    dry = ReproduceOptions(**{**options.__dict__, "dry_run": True})
    reproduce(dry, say=messages.append)
    assert messages[1].startswith("capacity search: then width n=1 (0 of 1 seeds complete)")
    assert not tmp_path.joinpath("runs").exists()
    reproduce(options, say=lambda _: None)  # 4 iterations: no width learns
    messages.clear()
    reproduce(dry, say=messages.append)
    assert messages[1] == "capacity search: done, no width up to n=2 learns in most seeds"


def test_no_report_trains_and_tests_but_leaves_the_report_alone(tmp_path):
    # A queue that trains into a folder holding a committed report must not rewrite it.
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    (report_dir / "report.md").write_text("the committed report\n")
    messages: list[str] = []
    options = ReproduceOptions(
        experiments=("table2",), seeds=(0,), out=tmp_path, run_options=RunOptions(device="cpu"), max_iters=5,
        write_report=False,
    )
    result = reproduce(options, say=messages.append)
    assert result.failed == () and result.report_dir is None
    assert len(list((tmp_path / "runs").glob("*/seed0/summary.json"))) == 3
    assert list((tmp_path / "runs").glob("*-n14-*/seed0/extrapolation.json"))  # the out-of-range test still ran
    assert sorted(p.name for p in report_dir.iterdir()) == ["report.md"]
    assert (report_dir / "report.md").read_text() == "the committed report\n"
    assert any(m.startswith("report: not written") for m in messages), messages
    cli = subprocess.run(
        [sys.executable, "-m", "toobig.cli", "reproduce", "--num-seeds", "1", "--max-iters", "5", "--out", str(tmp_path), "--no-report"],
        capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0 and "report: not written" in cli.stdout, cli.stdout + cli.stderr
    assert (report_dir / "report.md").read_text() == "the committed report\n"


def test_models_plans_only_the_runs_of_the_models_named(tmp_path):
    messages: list[str] = []
    options = ReproduceOptions(
        experiments=("order-ablation", "table2"), seeds=(0, 1), models=("n56", "n28"), out=tmp_path,
        run_options=RunOptions(device="cpu"), dry_run=True,
    )
    reproduce(options, say=messages.append)
    lines = [line.strip() for m in messages for line in m.splitlines()]
    planned = [line.split("/")[-2] for line in lines if line.endswith(": new")]
    # 5 protocols x 2 models x 2 seeds; Table 2's n28 and n56 runs are the order ablation's paper runs.
    assert len(planned) == 20 and {name.split("-")[1] for name in planned} == {"n28", "n56"}
    # Nothing of n14's (no out-of-range test to plan) or of the MLT's (no note that it is skipped).
    assert not any("out-of-range" in m or "MLT" in m for m in messages), messages
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("models, experiments, message", [
    (("n14", "n29"), ("order-ablation",), r"--models: n29: not a model of these experiments \(theirs: n14, n28, n56\)"),
    (("mlt",), ("table2",), r"--models: mlt: .*planned on a GPU or with --include-mlt"),
    ((), ("table2",), r"--models: no model named \(the experiments' models: n14, n28, n56\)"),
    (("n14",), ("table2", "capacity"), r"--models does not apply to the capacity search \(the experiment capacity, which all"),
])
def test_models_that_plan_nothing_asked_fail_before_training(tmp_path, models, experiments, message):
    options = ReproduceOptions(
        experiments=experiments, seeds=(0,), models=models, out=tmp_path, run_options=RunOptions(device="cpu"), max_iters=4,
    )
    with pytest.raises(ConfigError, match=message):
        reproduce(options, say=lambda _: None)
    assert not (tmp_path / "runs").exists()
