"""The GPU session in one command: smoke checks, speed, the MLT rows, many-seed populations.

    python benchmarks/gpu_suite.py --out gpu_results              # on the GPU machine
    python benchmarks/gpu_suite.py --out /tmp/dry --dry-run       # the same steps, tiny, on a CPU

Steps run in order, each under its own time cap and within --budget-s overall; each writes its
result as it finishes (OUT/suite.jsonl, one JSON object per step; OUT/speed.md), and training
steps write run directories under OUT/runs that `toobig report OUT/runs` reads. A step cut off
by its cap leaves resumable runs: running the suite again continues them and skips what is done.

1. smoke: a short n14 population on the device has the CPU's initial weights and batches, losses
   within bf16/float tolerance of the CPU's, two identical device runs agree, and a checkpoint
   scores the same on the device and the CPU (float32 on both);
2. speed: ms per model-iteration for n14 at K = 64, 256, 1024 and n56 at K = 64, 256, ms per MLT
   iteration (bf16 autocast, compiled), evaluation share, peak memory per member;
3. the MLT row of Table 2, one seed, full protocol;
4. the other MLT rows (Tables 5, 3, 6, 4, 7) as time allows;
5. Tables 2-7 for the mini models at 20 seeds each as populations, then the capacity curve's
   widths at as many seeds as fit;
6. the studies beyond the paper (order ablation, weight decay, held-out generality, learning rate) at 10 seeds
   per variant, one population per variant, into OUT/beyond/runs with their own report
   (`--only beyond` runs only these).

Steps 1-2 run alone (clean timings). Steps 3-6 run at the same time, one process each, in that
order of priority (--parallel caps how many at once): one small model leaves most of a large GPU
idle between kernel launches, and a GPU window is too short to run them one after the other.

--dry-run runs every step on the CPU with tiny settings (a 24-wide MLT, a few iterations, two
seeds), so a typo never costs GPU minutes; tests/test_gpu_suite.py runs it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import measure  # noqa: E402

from toobig.config import apply_overrides, from_dict, to_dict  # noqa: E402
from toobig.engine import rng  # noqa: E402
from toobig.training import Prepared  # noqa: E402
from toobig.engine.population import Population  # noqa: E402
from toobig.engine.sampling import BatchSampler  # noqa: E402
from toobig.options import RunOptions  # noqa: E402
from toobig.training import resolve_device, train  # noqa: E402
from toobig.experiments import EXPERIMENTS  # noqa: E402
from toobig.presets import make_config, with_max_iters  # noqa: E402
from toobig.studies import CAPACITY_WIDTHS, PAPER_ITERS, STUDIES  # noqa: E402

MLT_TABLE_ORDER = ("table2", "table5", "table3", "table6", "table4", "table7")


@dataclass(frozen=True)
class Plan:
    """What each step runs: the real sizes, or the dry run's tiny ones."""

    device: str
    dry_run: bool
    smoke_iters: int
    speed_iters: int
    speed_grid: tuple[tuple[str, tuple[int, ...]], ...]  # (model, population sizes)
    mlt_overrides: dict
    train_overrides: dict
    population_seeds: int
    capacity_seeds: int
    beyond_seeds: int
    compile: bool
    tables: tuple[str, ...] = MLT_TABLE_ORDER  # the dry run takes one arithmetic and one capitals table

    @classmethod
    def make(cls, device: str, dry_run: bool) -> "Plan":
        if dry_run:
            tiny = {"train": {"max_iters": 4, "batch_size": 8}, "eval": {"interval": 2, "num_samples": 1}}
            return cls("cpu", True, 3, 2, (("n14", (2,)), ("n56", (2,))),
                       {"model": {"n_embd": 24}}, tiny, 2, 1, 1, False, ("table2", "table3"))
        return cls(device, False, 20, 200, (("n14", (64, 256, 1024)), ("n56", (64, 256))), {}, {}, 20, 20, 10, True)

    def config(self, task: str, model: str, regularization: str = "paper", seed: int = 0):
        overrides = dict(self.train_overrides)
        if model == "mlt":
            overrides = {**overrides, **self.mlt_overrides}
        return apply_overrides(make_config(task, model, regularization, seed), overrides)


@dataclass(frozen=True)
class TrainJob:
    """A training step: configurations (final, with the plan's overrides) at seeds, into root."""

    name: str
    cap_s: float
    configs: tuple
    seeds: tuple[int, ...]
    root: Path
    compile: bool = True


class Suite:
    def __init__(self, out: Path, plan: Plan, budget_s: float, only: tuple[str, ...] = ()):
        self.out, self.plan, self.only = out, plan, only
        self.deadline = time.monotonic() + budget_s
        out.mkdir(parents=True, exist_ok=True)
        self.log = out / "suite.jsonl"

    def chosen(self, step: str) -> bool:
        return not self.only or step.startswith(self.only)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, step: str, status: str, seconds: float, **details: Any) -> None:
        entry = {"step": step, "status": status, "seconds": round(seconds, 2), "device": self.plan.device, **details}
        with self.log.open("a") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
        print(json.dumps(entry, default=str), flush=True)

    def step(self, name: str, cap_s: float, fn: Callable[[float], dict]) -> None:
        """Run fn(seconds it may take) unless the budget is spent; record what it returns."""
        if not self.chosen(name):
            return
        allowed = min(cap_s, self.left())
        if allowed < 5:
            self.record(name, "skipped", 0.0, reason=f"budget spent ({self.left():.0f} s left)")
            return
        t0 = time.monotonic()
        try:
            details = fn(allowed)
            status = details.pop("status", "ok")
        except Exception as exc:  # a failed step is recorded and the suite goes on
            status, details = "failed", {"error": f"{type(exc).__name__}: {exc}"}
        self.record(name, status, time.monotonic() - t0, **details)

    def train_command(self, job: TrainJob) -> list[str]:
        """The subprocess that trains (or resumes) the job's runs; they stay resumable."""
        cmd = [sys.executable, str(Path(__file__).resolve()), "_train", "--out", str(job.root),
               "--device", self.plan.device, "--seeds", ",".join(map(str, job.seeds)),
               "--configs", json.dumps([to_dict(c) for c in job.configs])]
        if not job.compile:
            cmd.append("--no-compile")
        return cmd

    def train_concurrently(self, jobs: list[TrainJob], parallel: int) -> None:
        """Run jobs as subprocesses, at most `parallel` at once, in order of priority; each is
        killed at its own cap or at the budget's end and recorded. A compiled job that fails runs
        again uncompiled (its runs resume): torch 2.11 on an H200 failed some MLT backward graphs
        that eager runs."""
        waiting = [replace(job, compile=self.plan.compile) for job in jobs if self.chosen(job.name)]
        running: dict = {}
        logs = self.out / "logs"
        logs.mkdir(exist_ok=True)
        while waiting or running:
            while waiting and len(running) < parallel:
                job = waiting.pop(0)
                allowed = min(job.cap_s, self.left())
                if allowed < 5:
                    self.record(job.name, "skipped", 0.0, reason=f"budget spent ({self.left():.0f} s left)")
                    continue
                with (logs / f"{job.name}.stdout").open("w") as out, (logs / f"{job.name}.stderr").open("w") as err:
                    proc = subprocess.Popen(self.train_command(job), stdout=out, stderr=err, text=True)
                running[job.name] = (proc, time.monotonic(), time.monotonic() + allowed, job)
            time.sleep(0.2)
            for name, (proc, t0, t_end, job) in list(running.items()):
                if proc.poll() is None and time.monotonic() < t_end:
                    continue
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                    status, details = "timeout", {"note": "cut off by its cap; run the suite again to resume"}
                elif proc.returncode != 0:
                    tail = (logs / f"{name}.stderr").read_text().strip().splitlines()[-1:]
                    status, details = "failed", {"error": tail}
                    if job.compile:
                        waiting.insert(0, replace(job, name=f"{name}-eager", compile=False))
                        details["retry"] = f"{name}-eager"
                else:
                    printed = (logs / f"{name}.stdout").read_text().strip().splitlines()
                    status, details = "ok", {"runs": json.loads(printed[-1])}
                del running[name]
                self.record(name, status, time.monotonic() - t0, **details)

def smoke(plan: Plan, out: Path) -> dict:
    device = resolve_device(plan.device)
    cpu = torch.device("cpu")
    config = plan.config("arithmetic", "n14")
    config = replace(config, train=replace(config.train, batch_size=64, warmup_iters=2))
    seeds = [0, 1, 2, 3]
    prepared = Prepared.from_config(config)
    vocab = prepared.tokenizer.vocab_size

    def losses_on(dev: torch.device) -> tuple[torch.Tensor, Population, list]:
        pop = Population(config, seeds, vocab, dev)
        sampler = BatchSampler(config, [prepared.stream()] * len(seeds), rng.member_keys(seeds, dev), dev)
        batches = [b for _, b in sampler.batches(0, plan.smoke_iters)]
        losses = torch.stack([pop.train_step(i, b.x, b.y).float().cpu() for i, b in enumerate(batches)])
        return losses, pop, batches

    cpu_losses, cpu_pop, cpu_batches = losses_on(cpu)
    dev_losses, dev_pop, dev_batches = losses_on(device)
    again, _, _ = losses_on(device)
    init_cpu = Population(config, seeds, vocab, cpu).params
    init_dev = Population(config, seeds, vocab, device).params
    same_init = all(torch.equal(init_cpu[n], init_dev[n].cpu()) for n in init_cpu)
    same_batches = all(torch.equal(a.x, b.x.cpu()) and torch.equal(a.y, b.y.cpu()) for a, b in zip(cpu_batches, dev_batches))
    rel = ((dev_losses - cpu_losses).abs() / cpu_losses.abs()).max().item()
    # bf16 autocast on CUDA ("auto" precision): a few parts in a hundred; float32 elsewhere.
    tolerance = 5e-2 if device.type == "cuda" else 1e-5
    repeat_diff = (again - dev_losses).abs().max().item()

    # A checkpoint scored on the device and on the CPU, float32 on both.
    from toobig.inference import evaluate_trained, load_trained

    # A short run (2 x smoke_iters iterations), float32 so the CPU and the device score alike.
    short = with_max_iters(config, 2 * plan.smoke_iters)
    short = replace(short, eval=replace(short.eval, interval=plan.smoke_iters), train=replace(short.train, precision="float32"))
    (run,) = train(short, [0], out / "smoke", RunOptions(device=plan.device, progress=False, resume=True))
    scores = {d: evaluate_trained(load_trained(run.path, "best", d)) for d in ("cpu", plan.device)}
    keys = ("add_correct", "sub_correct", "heldout_correct")
    same_scores = all(scores["cpu"][k] == scores[plan.device][k] for k in keys)
    ok = same_init and same_batches and rel <= tolerance and repeat_diff <= 1e-6 and same_scores
    return {
        "status": "ok" if ok else "failed",
        "same_initial_weights": same_init,
        "same_batches": same_batches,
        "max_relative_loss_difference_vs_cpu": rel,
        "tolerance": tolerance,
        "repeat_run_max_abs_difference": repeat_diff,
        "checkpoint_scores_cpu": {k: scores["cpu"][k] for k in keys},
        "checkpoint_scores_device": {k: scores[plan.device][k] for k in keys},
    }


def speed(plan: Plan, out: Path, allowed_s: float) -> dict:
    device = resolve_device(plan.device)
    t_end = time.monotonic() + allowed_s
    rows = []
    # The two targets (n14 at K=256, the MLT) first, so a cap cuts the rest.
    jobs = [(m, k, plan.compile, "auto", {}) for m, ks in plan.speed_grid for k in ks]
    jobs.sort(key=lambda job: (job[0], job[1]) != ("n14", 256))
    jobs.insert(1, ("mlt", 1, plan.compile, "bfloat16" if device.type == "cuda" else "float32", plan.mlt_overrides))
    for model, k, compile, precision, overrides in jobs:
        if time.monotonic() > t_end:
            rows.append({"config": f"arithmetic:{model}", "K": k, "skipped": "cap reached"})
            continue
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            r = measure("arithmetic", model, k, device, plan.speed_iters, compile, 1, precision, overrides)
        except Exception as exc:  # one failed measurement (say, compilation) must not cost the others
            rows.append({"config": f"arithmetic:{model}", "K": k, "skipped": f"failed: {type(exc).__name__}: {exc}"[:300]})
            continue
        r["peak_mb_per_member"] = torch.cuda.max_memory_allocated(device) / k / 2**20 if device.type == "cuda" else None
        r["precision"], r["compiled"] = precision, compile
        rows.append(r)
    lines = [
        f"# {time.strftime('%Y-%m-%d')} torch {torch.__version__} "
        f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'} (CUDA {torch.version.cuda})",
        "| config | K | precision | compiled | ms/iter | ms/model-iter | s/eval | eval share | peak MB/member |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['config']} | {r['K']} | | | skipped: {r['skipped']} | | | | |")
            continue
        peak = "" if r["peak_mb_per_member"] is None else f"{r['peak_mb_per_member']:.1f}"
        lines.append(
            f"| {r['config']} | {r['K']} | {r['precision']} | {r['compiled']} | {r['ms_iter']:.3f} | "
            f"{r['ms_model_iter']:.4f} | {r['s_eval']:.3f} | {r['eval_share']:.1%} | {peak} |"
        )
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    return {"rows": rows, "compiled_ok": any("skipped" not in r for r in rows if r.get("compiled", plan.compile))}


def main_train(args: argparse.Namespace) -> int:
    """Internal: train (or resume) the given configurations; prints the run directories as JSON."""
    seeds = [int(s) for s in args.seeds.split(",")]
    options = RunOptions(device=args.device, progress=False, resume=True, compile=not args.no_compile)
    runs = []
    for data in json.loads(args.configs):
        runs += [str(run.path) for run in train(from_dict(data), seeds, args.out, options)]
    print(json.dumps(runs))
    return 0


def beyond_jobs(plan: Plan, root: Path) -> list[TrainJob]:
    """The studies beyond the paper, one job per variant with all the study's seeds as one
    population, in their own folder (their own report and archive). Their paper-protocol
    variants are Table 2's configurations, which the mini jobs train; capacity-curve's widths
    are the capacity job's."""
    jobs = []
    for study in (STUDIES[name] for name in ("order-ablation", "weight-decay", "heldout-generality", "learning-rate")):
        variants = [v for v in study.variants if not v.is_table2][: 1 if plan.dry_run else None]
        for variant in variants:
            config = apply_overrides(variant.config(0), plan.train_overrides)
            cap = 600 * variant.max_iters / PAPER_ITERS
            slug = re.sub(r"[^a-z0-9]+", "-", f"{variant.model} {variant.label}".lower()).strip("-")
            jobs.append(TrainJob(f"beyond-{study.name}-{slug}", cap, (config,), tuple(range(plan.beyond_seeds)), root))
    return jobs


def run_suite(out: Path, device: str, dry_run: bool, budget_s: float, parallel: int = 16,
              only: tuple[str, ...] = ()) -> Path:
    """Run the steps (those whose names start with one of `only`, when given)."""
    plan = Plan.make(device, dry_run)
    suite = Suite(out, plan, budget_s, only)
    suite.record("start", "ok", 0.0, budget_s=budget_s, dry_run=dry_run, torch=torch.__version__,
                 cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    suite.step("smoke", 60, lambda s: smoke(plan, out))
    speed_result: dict = {}
    suite.step("speed", 100, lambda s: speed_result.setdefault("r", speed(plan, out, s)))
    if plan.compile and speed_result and not speed_result["r"].get("compiled_ok", True):
        # Every compiled measurement failed: train uncompiled rather than lose the window.
        plan = replace(plan, compile=False)
        suite.plan = plan
        suite.record("compile-fallback", "ok", 0.0, note="compiled speed runs failed; training runs uncompiled")
    runs = out / "runs"
    jobs: list[TrainJob] = []
    for name in plan.tables:
        e = EXPERIMENTS[name]
        jobs.append(TrainJob(f"mlt-{name}", 600, (plan.config(e.task, "mlt", e.regularization),), (0,), runs))
    seeds = tuple(range(plan.population_seeds))
    for name in plan.tables:
        e = EXPERIMENTS[name]
        configs = tuple(plan.config(e.task, m, e.regularization) for m in ("n14", "n28", "n56"))
        jobs.append(TrainJob(f"mini-{name}-{len(seeds)}-seeds", 600, configs, seeds, runs))
    widths = [w for w in CAPACITY_WIDTHS if w not in (14, 28, 56)][: 2 if plan.dry_run else None]
    capacity = tuple(plan.config("arithmetic", f"n{w}") for w in widths)
    jobs.append(TrainJob(f"capacity-{plan.capacity_seeds}-seeds", 600, capacity, tuple(range(plan.capacity_seeds)), runs))
    jobs += beyond_jobs(plan, out / "beyond" / "runs")
    suite.train_concurrently(jobs, parallel)
    if suite.left() > 20 or dry_run:
        from toobig.reporting import write_report

        for folder, step in ((out, "report"), (out / "beyond", "beyond-report")):
            if (folder / "runs").is_dir():
                write_report(folder / "runs", folder / "report")
                suite.record(step, "ok", 0.0, path=str(folder / "report" / "report.md"))
    return suite.log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    hidden = sub.add_parser("_train")
    for p in (parser, hidden):
        p.add_argument("--out", type=Path, default=Path("gpu_results"))
        p.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="every step tiny, on the CPU")
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget for all steps")
    parser.add_argument("--parallel", type=int, default=16, help="training processes at once (steps 3-6)")
    parser.add_argument("--only", default="", help="comma-separated step names (or prefixes) to run, e.g. smoke,mlt-table2")
    hidden.add_argument("--seeds", required=True)
    hidden.add_argument("--no-compile", action="store_true")
    hidden.add_argument("--configs", required=True, help="JSON list of configurations (toobig.config.to_dict)")
    args = parser.parse_args()
    if args.command == "_train":
        return main_train(args)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_suite: CUDA is not available here (use --dry-run to check the suite on a CPU)", file=sys.stderr)
        return 2
    run_suite(args.out, "cpu" if args.dry_run else args.device, args.dry_run, args.budget_s, args.parallel,
              tuple(filter(None, args.only.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
