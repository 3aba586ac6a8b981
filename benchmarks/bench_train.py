"""Training and evaluation speed of toobig's population engine; prints a table, asserts nothing.

    python benchmarks/bench_train.py                       # CPU defaults
    python benchmarks/bench_train.py --device cuda --configs arithmetic:n14 --members 64,256
    python benchmarks/bench_train.py --compile              # include torch.compile (compile time counted)
    python benchmarks/bench_train.py --batch-shards 2 --members 1 --compile   # one seed on both cores
    python benchmarks/bench_train.py --precision bfloat16   # bf16 autocast (as the reference ran on CUDA)

Columns: ms per iteration of the whole population, ms per model-iteration, seconds per
evaluation (all prompts x 10 samples x members, plus the exact loss), the evaluation share of a
full run, and the full-run estimate (30,000 iterations + 121 evaluations + compile time) per model.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from datetime import date

import torch

from toobig.engine.memory import keep_freed_memory
from toobig.engine.population import Population
from toobig.engine.schedule import eval_points
from toobig.training import Prepared
from toobig.engine.sampling import BatchSampler
from toobig.training import resolve_device, shard_threads
from toobig.config import apply_overrides
from toobig.presets import make_config


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(
    task: str,
    model: str,
    members: int,
    device: torch.device,
    iters: int,
    compile: bool,
    batch_shards: int = 1,
    precision: str = "auto",
    overrides: dict | None = None,
) -> dict:
    """Timings of one population; overrides (a nested dict as in config.toml) adjust the preset."""
    config = apply_overrides(make_config(task, model), overrides or {})
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision=precision))
    prepared = Prepared.from_config(config)
    pop = Population(
        config, list(range(members)), prepared.tokenizer.vocab_size, device, compile=compile, batch_shards=batch_shards
    )
    sampler = BatchSampler(config, [prepared.stream()] * members, pop.keys, device)

    def step(j: int) -> None:
        # The batch is gathered inside the timed step, as the trainer does every iteration.
        ((_, batch),) = sampler.batches(j, j + 1)
        pop.train_step(j, batch.x, batch.y)

    # As in the trainer: shards share the intra-op threads while training, evaluation gets them all.
    with shard_threads(pop):
        t0 = time.perf_counter()
        for j in range(3):  # warm-up (and compilation)
            step(j)
        _sync(device)
        warmup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for j in range(3, iters + 3):
            step(j)
        _sync(device)
        per_iter = (time.perf_counter() - t0) / iters

    evaluator = prepared.evaluator(config, device)
    evaluator(pop.params, pop.keys, 0)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    repeats = 3
    for r in range(repeats):
        evaluator(pop.params, pop.keys, r + 1)
    _sync(device)
    per_eval = (time.perf_counter() - t0) / repeats

    n_evals = len(eval_points(config.train.max_iters, config.eval))
    train_total = per_iter * config.train.max_iters
    eval_total = per_eval * n_evals
    compile_s = warmup_s if compile else 0.0
    full = train_total + eval_total + compile_s
    return {
        "config": f"{task}:{model}",
        "K": members,
        "ms_iter": per_iter * 1e3,
        "ms_model_iter": per_iter * 1e3 / members,
        "s_eval": per_eval,
        "eval_share": eval_total / full,
        "full_run_min_per_model": full / members / 60,
        "full_run_min_population": full / 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="arithmetic:n14,arithmetic:n28,arithmetic:n56,capitals:n28")
    ap.add_argument("--members", default="1,2,4,8")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--batch-shards", type=int, default=1, help="shards of each batch, each on its own thread")
    ap.add_argument("--precision", default="auto", help="train.precision: auto, float32 or bfloat16")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cpu":
        keep_freed_memory()  # as the trainer does
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"# {date.today()} torch {torch.__version__} device {device} ({name}), threads {torch.get_num_threads()}, "
        f"compile {args.compile}, batch shards {args.batch_shards}, precision {args.precision}, "
        f"{args.iters} timed iterations"
    )
    header = "| config | K | ms/iter | ms/model-iter | s/eval | eval share | full run (min/model) | full run (min, population) |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for cfg in args.configs.split(","):
        task, model = cfg.split(":")
        for k in (int(x) for x in args.members.split(",")):
            r = measure(task, model, k, device, args.iters, args.compile, args.batch_shards, args.precision)
            print(
                f"| {r['config']} | {r['K']} | {r['ms_iter']:.2f} | {r['ms_model_iter']:.3f} | {r['s_eval']:.3f} | "
                f"{r['eval_share']:.1%} | {r['full_run_min_per_model']:.2f} | {r['full_run_min_population']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
