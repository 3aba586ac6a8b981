"""A/B: toobig's hand-written LayerNorm, causal softmax and cross-entropy (ops.py) against ATen's.

Each trial is its own process (a fresh torch.compile), A and B interleaved so that the machine's
drift falls on both; prints one line per trial and a summary table, asserts nothing.

    python benchmarks/bench_ops.py                         # n14 and n56, K=1, compiled and eager
    python benchmarks/bench_ops.py --pairs 3 --iters 400 --configs n14 --modes compiled
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import date


def _aten_ops() -> None:
    """Replace ops.py's three functions with ATen compositions of the same maths."""
    import torch
    import torch.nn.functional as F

    from toobig import ops

    def layer_norm(x, weight, eps=1e-5):
        gain = weight.view(weight.shape[0], *([1] * (x.dim() - 2)), weight.shape[-1])
        return F.layer_norm(x, (x.shape[-1],), eps=eps) * gain

    def causal_softmax(scores, scale):
        t = scores.shape[-1]
        future = torch.ones(t, t, dtype=torch.bool, device=scores.device).triu(1)
        return (scores * scale).masked_fill(future, float("-inf")).softmax(dim=-1)

    def cross_entropy_rows(logits, targets):
        return F.cross_entropy(logits, targets, reduction="none")

    ops.layer_norm, ops.causal_softmax, ops.cross_entropy_rows = layer_norm, causal_softmax, cross_entropy_rows


def trial(variant: str, model: str, compiled: bool, iters: int) -> dict:
    import torch

    torch.set_num_threads(1)
    if variant == "aten":
        _aten_ops()
    sys.path.insert(0, "benchmarks")
    from bench_train import measure

    result = measure("arithmetic", model, 1, torch.device("cpu"), iters, compiled)
    return {"variant": variant, "model": model, "compiled": compiled, "ms_iter": result["ms_iter"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="n14,n56")
    ap.add_argument("--modes", default="compiled,eager")
    ap.add_argument("--pairs", type=int, default=3, help="A/B pairs per configuration")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--trial", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial:
        variant, model, mode = args.trial.split(":")
        print(json.dumps(trial(variant, model, mode == "compiled", args.iters)))
        return
    print(f"# {date.today()} one thread, K=1, {args.iters} timed iterations per trial, {args.pairs} A/B pairs")
    results: dict[tuple[str, str, str], list[float]] = {}
    for model in args.configs.split(","):
        for mode in args.modes.split(","):
            for pair in range(args.pairs):
                order = ("handwritten", "aten") if pair % 2 == 0 else ("aten", "handwritten")
                for variant in order:
                    out = subprocess.run(
                        [sys.executable, __file__, "--trial", f"{variant}:{model}:{mode}", "--iters", str(args.iters)],
                        capture_output=True, text=True, check=True,
                    )
                    ms = json.loads(out.stdout.strip().splitlines()[-1])["ms_iter"]
                    results.setdefault((model, mode, variant), []).append(ms)
                    print(f"{model} {mode} {variant}: {ms:.3f} ms/iter", flush=True)
    print("\n| model | mode | hand-written ms/iter (median) | ATen ms/iter (median) | ATen / hand-written |")
    print("|---|---|---|---|---|")
    for model in args.configs.split(","):
        for mode in args.modes.split(","):
            a = statistics.median(results[(model, mode, "handwritten")])
            b = statistics.median(results[(model, mode, "aten")])
            print(f"| {model} | {mode} | {a:.3f} | {b:.3f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
