"""Use a trained run: load a checkpoint, re-evaluate it, sample from it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import torch

from . import model as gpt
from .config import ConfigError, EvalConfig, RunConfig
from .engine import rng
from .engine.device import resolve_device
from .training import Prepared
from .evaluation import Evaluator
from .integrity import check_run, check_vocabulary
from .store import RunDir, StoreError
from .tasks import Prompt


@dataclass(frozen=True)
class TrainedRun:
    run: RunDir
    config: RunConfig
    prepared: Prepared
    params: gpt.Params  # one member, stacked (K = 1)
    iteration: int
    device: torch.device

    @property
    def keys(self) -> torch.Tensor:
        return rng.member_keys([self.config.seed], self.device)

    def evaluator(self, prompts: Sequence[Prompt], eval_config: EvalConfig | None = None) -> Evaluator:
        ecfg = eval_config or self.config.eval
        return Evaluator(prompts, self.prepared.tokenizer, self.config.model, ecfg, self.prepared.data, self.device)


def load_trained(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> TrainedRun:
    if checkpoint not in ("best", "last"):
        raise StoreError(f"--checkpoint: unknown checkpoint {checkpoint!r} (allowed: best, last)")
    checked = check_run(RunDir(Path(run_dir)))
    run, config, summary = checked.run, checked.config, checked.summary or {}
    expected = summary.get("checkpoints", {}).get(checkpoint)
    tensors = run.load_checkpoint(checkpoint, expected)
    iteration = int(run.checkpoint_metadata(checkpoint).get("iteration", 0))
    dev = resolve_device(device)
    prepared = Prepared.from_config(config)
    check_vocabulary(run, prepared.tokenizer.chars)
    shapes = gpt.param_shapes(config.model, prepared.tokenizer.vocab_size)
    missing = [n for n in shapes if n not in tensors]
    if missing:
        raise StoreError(f"checkpoint {run.checkpoint_path(checkpoint)} lacks {missing[0]} (incompatible model)")
    params = {n: tensors[n].unsqueeze(0).to(dev) for n in shapes}
    return TrainedRun(run, config, prepared, params, iteration, dev)


def evaluate_trained(trained: TrainedRun, prompts: Sequence[Prompt] | None = None) -> dict:
    """Metrics of the checkpoint; with the run's own prompts, precision and device they equal
    the record logged at that iteration (same sampling stream, same arithmetic; the loss of runs
    trained before 2026-11-30, logged with F.cross_entropy, may differ in its last bits)."""
    prompts = list(prompts) if prompts is not None else trained.prepared.prompts(trained.config.eval)
    evaluator = trained.evaluator(prompts)
    (metrics,) = evaluator(trained.params, trained.keys, trained.iteration, trained.config.train.precision)
    return {"iter": trained.iteration, **metrics}


# A bound on one sample call's completions (num_samples x max_new_tokens): far above any answer
# of these tasks, far below what would exhaust memory.
MAX_SAMPLED_TOKENS = 1_000_000


def sample(
    trained: TrainedRun,
    prompt: str,
    num_samples: int = 10,
    max_new_tokens: int = 20,
    temperature: float | None = None,
    greedy: bool = False,
) -> list[str]:
    """Completions of one prompt, drawn like the evaluation draws them, cut at the first newline."""
    if num_samples < 1 or max_new_tokens < 1:
        raise ConfigError(f"--num-samples and --max-new-tokens must be >= 1, got {num_samples} and {max_new_tokens}")
    if num_samples * max_new_tokens > MAX_SAMPLED_TOKENS:
        raise ConfigError(f"--num-samples x --max-new-tokens must be <= {MAX_SAMPLED_TOKENS:,} "
                          f"(the completions are held in memory at once), got {num_samples:,} x {max_new_tokens:,}")
    if temperature is not None and temperature <= 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature} (use --greedy for argmax)")
    if not prompt:
        raise ConfigError("--prompt must not be empty (the model continues a prompt, e.g. '<5+7=')")
    try:
        trained.prepared.tokenizer.encode(prompt)
    except ValueError as exc:
        raise ConfigError(f"--prompt: {exc}") from None
    ecfg = replace(
        trained.config.eval,
        num_samples=num_samples,
        greedy=greedy,
        temperature=temperature if temperature is not None else trained.config.eval.temperature,
    )
    evaluator = trained.evaluator([Prompt(prompt, "sample", "", False, max_new_tokens)], ecfg)
    completions = evaluator.generate(trained.params, trained.keys, trained.iteration)
    texts = (trained.prepared.tokenizer.decode(row) for row in completions.tokens[0])
    return [text.split("\n", 1)[0] + ("\n" if "\n" in text else "") for text in texts]
