"""The GPU suite's dry run on the CPU: every step runs, records its result, and leaves run
directories that the report reads, so GPU minutes are never spent on a typo."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from toobig.training import Prepared
from toobig.engine.population import Population, member_losses
from toobig.engine.sampling import BatchSampler
from toobig.presets import make_config
from toobig.reporting.runs import load_runs

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_runs_every_step_and_the_report_reads_its_runs(tmp_path):
    out = tmp_path / "dry"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--dry-run", "--out", str(out), "--budget-s", "400"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = {e["step"]: e for e in map(json.loads, (out / "suite.jsonl").read_text().splitlines())}
    beyond = {"beyond-order-ablation-n14-per-seed-line-order", "beyond-weight-decay-n28-wd-1-0-30k",
              "beyond-heldout-generality-n14-3-8", "beyond-learning-rate-n28-lr-3e-3"}
    expected = {"start", "smoke", "speed", "mlt-table2", "mlt-table3", "mini-table2-2-seeds", "mini-table3-2-seeds",
                "capacity-1-seeds", *beyond, "report", "beyond-report"}
    assert set(steps) == expected and list(steps)[:3] == ["start", "smoke", "speed"] and list(steps)[-1] == "beyond-report"
    assert all(e["status"] == "ok" for e in steps.values()), {k: e for k, e in steps.items() if e["status"] != "ok"}
    smoke = steps["smoke"]
    assert smoke["same_initial_weights"] and smoke["same_batches"] and smoke["repeat_run_max_abs_difference"] == 0.0
    assert "| arithmetic:mlt | 1 |" in (out / "speed.md").read_text()
    runs = load_runs(out / "runs")
    assert not runs.skipped and {r.model for r in runs.runs} == {"mlt", "n14", "n28", "n56", "n4", "n6"}
    assert all(r.complete for r in runs.runs)
    assert (out / "report" / "report.md").is_file()
    # the studies beyond the paper: their own folder, the variants' own configurations, a report
    beyond_runs = load_runs(out / "beyond" / "runs")
    assert len(beyond_runs.runs) == 4 and all(r.complete for r in beyond_runs.runs)
    settings = sorted(
        (r.config["task"]["line_order"], r.config["task"]["held_out"], r.config["train"]["weight_decay"], r.config["train"]["learning_rate"])
        for r in beyond_runs.runs
    )
    assert settings == [
        ("fixed", [[3, 8]], 0.0, 1e-2), ("fixed", [[5, 7]], 0.0, 3e-3), ("fixed", [[5, 7]], 1.0, 1e-2), ("seed", [[5, 7]], 0.0, 1e-2),
    ]
    # (the dry run's tiny settings make them "other runs"; at full length the report files them by study)
    assert "4 run directories" in (out / "beyond" / "report" / "report.md").read_text()


def test_gpu_suite_refuses_to_start_without_cuda_unless_dry_run(tmp_path):
    if torch.cuda.is_available():
        return
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr and proc.stderr.count("\n") == 1


def test_compiled_step_has_no_graph_break():
    """What a CPU can check of the GPU path: the compiled loss is one graph."""
    import torch._dynamo

    config = make_config("arithmetic", "n14")
    prepared = Prepared.from_config(config)
    pop = Population(config, [0, 1], prepared.tokenizer.vocab_size, torch.device("cpu"))
    ((_, batch),) = BatchSampler(config, [prepared.stream()] * 2, pop.keys, torch.device("cpu")).batches(0, 1)
    explanation = torch._dynamo.explain(member_losses)(pop.params, batch.x, batch.y, config.model, None, None)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1


class _HostSync(Exception):
    pass


def test_training_step_never_synchronizes_with_the_host(monkeypatch):
    """No .item(), .tolist(), .cpu(), bool() or printing of a tensor inside a step: on a GPU each
    would stall the stream. Checked on the CPU by making those calls fail during the step."""
    config = make_config("arithmetic", "n14")
    prepared = Prepared.from_config(config)
    pop = Population(config, [0, 1], prepared.tokenizer.vocab_size, torch.device("cpu"))
    sampler = BatchSampler(config, [prepared.stream()] * 2, pop.keys, torch.device("cpu"))
    batches = [b for _, b in sampler.batches(0, 2)]
    pop.train_step(0, batches[0].x, batches[0].y)  # the optimizer's state is created outside the check

    def refuse(*args, **kwargs):
        raise _HostSync()

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "__repr__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    pop.train_step(1, batches[1].x, batches[1].y)
    monkeypatch.undo()


def test_a_compiled_training_job_that_fails_runs_again_uncompiled(tmp_path):
    """torch 2.11 on an H200 failed the compiled backward of two MLT rows: the suite retries
    such a job eagerly instead of losing the row for the whole window."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_suite

    class Probe(gpu_suite.Suite):
        def train_command(self, job):
            code = "import sys; sys.exit(1) if sys.argv[1] == 'compiled' else print('[\"run\"]')"
            return [sys.executable, "-c", code, "compiled" if job.compile else "eager"]

    plan = replace(gpu_suite.Plan.make("cpu", dry_run=True), compile=True)
    suite = Probe(tmp_path, plan, budget_s=60)
    suite.train_concurrently([gpu_suite.TrainJob(name, 30, (), (0,), tmp_path) for name in ("mlt-table3", "mlt-table4")], parallel=2)
    records = {e["step"]: e for e in map(json.loads, (tmp_path / "suite.jsonl").read_text().splitlines())}
    assert {k: e["status"] for k, e in records.items()} == {
        "mlt-table3": "failed", "mlt-table4": "failed", "mlt-table3-eager": "ok", "mlt-table4-eager": "ok"}
    assert records["mlt-table3"]["retry"] == "mlt-table3-eager" and records["mlt-table3-eager"]["runs"] == ["run"]


def test_the_beyond_step_trains_the_studies_own_configurations_at_ten_seeds(tmp_path):
    """On the GPU (no dry-run overrides) each job is one study variant, with the digest the CPU
    study uses, so `toobig report` files the runs under their study."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_suite
    from toobig.studies import STUDIES

    jobs = gpu_suite.beyond_jobs(gpu_suite.Plan.make("cuda", dry_run=False), tmp_path)
    expected = {
        v.config(0).digest()
        for name in ("order-ablation", "weight-decay", "heldout-generality", "learning-rate")
        for v in STUDIES[name].variants
        if not v.is_table2
    }
    assert len(jobs) == len(expected) == 31
    assert {job.configs[0].digest() for job in jobs} == expected
    assert all(job.seeds == tuple(range(10)) and job.root == tmp_path and len(job.configs) == 1 for job in jobs)
    assert len({job.name for job in jobs}) == 31
