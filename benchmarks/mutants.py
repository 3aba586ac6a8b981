"""Mutation check: does the test suite notice a wrong model, optimizer, evaluation, score or verdict?

Each mutant is one single-line change to toobig's source. For each, the source tree is copied to
a temporary folder, the line is changed, and the tests that guard that part (the model, engine,
evaluation and scoring, or the statistics and verdicts of the report) run against the copy
(PYTHONPATH puts it ahead of the installed package). A mutant is killed when those tests fail.
Prints a table and the score; exits 1 if any mutant survives.

    python benchmarks/mutants.py [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
# Fast, sharp tests first: with -x a killed mutant usually stops within seconds.
TESTS = [
    "tests/test_reference.py", "tests/test_metrics.py", "tests/test_floors.py", "tests/test_ops.py",
    "tests/test_model.py", "tests/test_tasks.py", "tests/test_protocol.py", "tests/test_evaluation.py",
    "tests/test_engine.py", "tests/test_gpu_suite.py::test_training_step_never_synchronizes_with_the_host",
]
# The tests that guard the report's statistics and verdicts.
REPORT_TESTS = [
    "tests/reporting/test_stats.py", "tests/reporting/test_verdicts.py", "tests/reporting/test_compare.py",
    "tests/reporting/test_beyond.py",
]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/toobig
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...] = tuple(TESTS)


MUTANTS = [
    Mutant("gelu-tanh", "model.py", "F.gelu(_linear(x,", 'F.gelu(approximate="tanh", input=_linear(x,'),
    Mutant("no-position-embedding", "model.py", 'x = (x + params["transformer.wpe.weight"][:, None, :t, :])', "x = (x + 0 * params[\"transformer.wpe.weight\"][:, None, :t, :])"),
    Mutant("attention-scale-1/d", "model.py", "1.0 / math.sqrt(k.size(-1))", "1.0 / k.size(-1)"),
    Mutant("no-final-layernorm", "model.py", 'x = ops.layer_norm(x, params["transformer.ln_f.weight"])', "x = x"),
    Mutant("residual-init-unscaled", "model.py", "0.02 / math.sqrt(2 * cfg.n_layer) if", "0.02 if"),
    Mutant("layernorm-eps-x10", "ops.py", "centered.square().mean(dim=-1, keepdim=True) + eps", "centered.square().mean(dim=-1, keepdim=True) + 10 * eps"),
    Mutant("layernorm-backward-drops-term", "ops.py", "grad_x = (g - g.mean(dim=-1, keepdim=True) - normed * (g * normed).mean(dim=-1, keepdim=True)) * inv_std", "grad_x = (g - g.mean(dim=-1, keepdim=True)) * inv_std"),
    Mutant("causal-mask-leaks-next", "ops.py", "device=scores.device).triu(1)", "device=scores.device).triu(2)"),
    Mutant("cross-entropy-backward-half-target", "ops.py", "grad_logits.scatter_add_(-1, targets.unsqueeze(-1), -g)", "grad_logits.scatter_add_(-1, targets.unsqueeze(-1), -0.5 * g)"),
    Mutant("embedding-backward-doubled", "ops.py", "one_hot.scatter_(2, flat, 1.0)", "one_hot.scatter_(2, flat, 2.0)"),
    Mutant("weight-decay-on-gains", "engine/population.py", "decay = [p for p in self.params.values() if p.dim() >= 3]", "decay = [p for p in self.params.values() if p.dim() >= 2]"),
    Mutant("lr-never-written", "engine/population.py", 'group["lr"] = lr', 'group["lr"] = group["lr"]'),
    Mutant("dropout-no-rescale", "engine/population.py", "return x * (u >= self.p) * (1.0 / (1.0 - self.p))", "return x * (u >= self.p)"),
    Mutant("clip-scale-unclamped", "engine/population.py", "scale = (max_norm / (total + 1e-6)).clamp(max=1.0)", "scale = max_norm / (total + 1e-6)"),
    Mutant("step-synchronizes-host", "engine/population.py", "self._steps_taken += 1", "self._steps_taken += int(losses.sum() > -1)"),
    Mutant("adam-beta2-is-beta1", "engine/population.py", "betas=(tc.beta1, tc.beta2)", "betas=(tc.beta1, tc.beta1)"),
    Mutant("warmup-off-by-one", "engine/schedule.py", "return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)", "return cfg.learning_rate * it / (cfg.warmup_iters + 1)"),
    Mutant("sampling-temperature-ignored", "evaluation.py", "logits = logits / self.ecfg.temperature", "logits = logits / 1.0"),
    Mutant("sampling-top-k-ignored", "evaluation.py", "probs = F.softmax(logits.masked_fill(logits < kth, float(\"-inf\")), dim=-1)", "probs = F.softmax(logits, dim=-1)"),
    Mutant("heldout-counts-the-rest", "evaluation.py", 'int(row[held].sum()), int(held.sum())', 'int(row[~held].sum()), int(held.sum())'),
    Mutant("exact-loss-misses-last-window", "evaluation.py", "n_windows = self.corpus.shape[-1] - block\n", "n_windows = self.corpus.shape[-1] - block - 1\n"),
    Mutant("answer-sign-ignored", "tasks/arithmetic.py", '_ANSWER = re.compile(r"-?\\d+")', '_ANSWER = re.compile(r"\\d+")'),
    Mutant("held-out-ordered-pairs", "tasks/arithmetic.py", "return any({a, b} == {x, y} for x, y in held_out)", "return any((a, b) == (x, y) for x, y in held_out)"),
    Mutant("fact-case-sensitive", "tasks/capitals.py", "return first.lower() == answer.lower()", "return first == answer"),
    Mutant("best-last-of-ties", "metrics.py", "return best is None or selection_score(record, selection) > selection_score(best, selection)", "return best is None or selection_score(record, selection) >= selection_score(best, selection)"),
    Mutant("stable-window-shorter", "metrics.py", "STABLE_EVALUATIONS = 10", "STABLE_EVALUATIONS = 5"),
    Mutant("in-distribution-keeps-heldout", "metrics.py", 'total -= record.get("heldout_total", 0)', 'total -= 0'),
    Mutant("answer-mask-includes-equals", "tasks/__init__.py", "mask += [eq < i < stop for i in range(len(line))]", "mask += [eq <= i < stop for i in range(len(line))]"),
    Mutant("reshuffle-order-shared-by-members", "engine/sampling.py", "order = rng.hash32(self.keys.view(-1, 1, 1), rng.STREAM_ORDER, its, lines)", "order = rng.hash32(self.keys[:1].view(-1, 1, 1), rng.STREAM_ORDER, its, lines).expand(self.size, -1, -1)"),
    Mutant("floor-ignores-used-lines", "floors.py", "ways = float(self.prefix_total.get(r, 0) - sum(1 for text in used if text in starting))", "ways = float(self.prefix_total.get(r, 0))"),
    *(
        Mutant(name, path, old, new, tuple(REPORT_TESTS))
        for name, path, old, new in (
            ("holm-is-bonferroni", "reporting/stats.py", "min(1.0, (len(p_values) - rank) * p_values[i])", "min(1.0, len(p_values) * p_values[i])"),
            ("holm-not-monotone", "reporting/stats.py", "running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))", "running = min(1.0, (len(p_values) - rank) * p_values[i])"),
            ("fisher-one-tail", "reporting/stats.py", "distribution[distribution <= p_observed * (1 + 1e-9)].sum()", "distribution[observed:].sum()"),
            ("fisher-drops-ties", "reporting/stats.py", "distribution <= p_observed * (1 + 1e-9)", "distribution < p_observed * (1 - 1e-9)"),
            ("stratified-fisher-last-stratum", "reporting/stats.py", "_hypergeometric(k1, n1, k2, n2)), observed + k1", "_hypergeometric(k1, n1, k2, n2)), k1"),
            ("ties-get-lowest-rank", "reporting/stats.py", "ranks[i] = start + end + 2", "ranks[i] = 2 * start + 2"),
            ("rank-sum-drops-equal-distance", "reporting/stats.py", "weights[distance >= abs(den * observed - num)]", "weights[distance > abs(den * observed - num)]"),
            ("newcombe-wrong-limbs", "reporting/stats.py", "math.hypot(p1 - l1, u2 - p2)", "math.hypot(p1 - l1, p2 - l2)"),
            ("verdict-reads-raw-p", "reporting/verdicts.py", "if p.adjusted < ALPHA:\n        return _significant(ka / na - kb / nb)", "if p.raw < ALPHA:\n        return _significant(ka / na - kb / nb)"),
            ("margin-interval-not-widened", "reporting/verdicts.py", "level = 1 - ALPHA / family", "level = 1 - ALPHA"),
            ("opposite-counted-as-holds", "reporting/verdicts.py", "return Conclusion(OPPOSITE, ", "return Conclusion(HOLDS, "),
            ("no-gain-counted-as-undecided", "reporting/verdicts.py", "return Conclusion(NO_GAIN, (", "return Conclusion(UNDECIDED, ("),
            ("interim-ignores-borrowed-controls", "reporting/beyond.py", "if seeds < curve.seeds:", "if False:"),
        )
    ),
]


def apply(src: Path, mutant: Mutant) -> None:
    path = src / "toobig" / mutant.path
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name}: expected the line once in {mutant.path}, found it {count} times")
    path.write_text(text.replace(mutant.old, mutant.new))


def run_tests(pythonpath: str | None, tests: Sequence[str]) -> tuple[bool, float, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    tests = [t for t in tests if (ROOT / t.split("::")[0]).is_file()]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    return proc.returncode == 0, time.perf_counter() - t0, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.name:36s} {m.path}")
        return 0
    passed, seconds, tail = run_tests(None, list(dict.fromkeys(t for m in mutants for t in m.tests)))
    print(f"unmutated suite: {'passes' if passed else 'FAILS'} ({seconds:.0f} s): {tail}")
    if not passed:
        return 1
    killed = 0
    for m in mutants:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            apply(src, m)
            survived, seconds, tail = run_tests(str(src), m.tests)
        killed += not survived
        print(f"{m.name:36s} {'SURVIVED' if survived else 'killed'}  ({seconds:.0f} s) {m.path}: {tail}")
    print(f"mutation score: {killed}/{len(mutants)} killed")
    return 0 if killed == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
