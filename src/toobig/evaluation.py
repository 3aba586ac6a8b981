"""Batched evaluation: every prompt x sample x member in one generate loop, and the exact corpus loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import model as gpt
from . import ops
from .config import EvalConfig, ModelConfig
from .engine import rng
from .engine.population import autocast
from .tasks import Prompt, is_correct
from .tokenizer import CharTokenizer

# Windows per chunk when computing the exact loss (bounds memory for large models).
_LOSS_WINDOWS_PER_CHUNK = 4096


@dataclass(frozen=True)
class Completions:
    tokens: np.ndarray  # (K, rows, max_new) generated token ids, newline-padded after a stop
    prompt_index: np.ndarray  # (rows,) which prompt each row samples


def score(prompts: Sequence[Prompt], completions: Completions, tokenizer: CharTokenizer) -> np.ndarray:
    """Bool (K, rows): is each sampled completion correct? Each distinct completion is decoded once."""
    k_members, rows, width = completions.tokens.shape
    keyed = np.concatenate(
        [np.broadcast_to(completions.prompt_index[None, :, None], (k_members, rows, 1)), completions.tokens],
        axis=-1,
    ).reshape(-1, width + 1)
    unique, inverse = np.unique(keyed, axis=0, return_inverse=True)
    verdicts = np.array([is_correct(prompts[u[0]], tokenizer.decode(u[1:])) for u in unique], dtype=bool)
    return verdicts[inverse.reshape(-1)].reshape(k_members, rows)


def _members_held_out(prompts: Sequence[Prompt], k_members: int, held_out: np.ndarray | None) -> np.ndarray:
    """(K, prompts) bool: each member's own held-out prompts, or the prompts' flags for all."""
    if held_out is not None:
        return held_out
    return np.tile(np.array([p.held_out for p in prompts], dtype=bool), (k_members, 1))


def tally(
    prompts: Sequence[Prompt], correct: np.ndarray, prompt_index: np.ndarray, held_out: np.ndarray | None = None
) -> list[dict]:
    """Per-member counts in the paper's terms, from the (K, rows) correctness matrix.

    held_out (K, prompts), if given, says per member which prompts it never trained on (members
    with random held-out sets differ); otherwise the prompts' own flags hold for every member."""
    kinds = np.array([prompts[i].kind for i in prompt_index])
    held_out = _members_held_out(prompts, correct.shape[0], held_out)
    out = []
    for row, member_held in zip(correct, held_out):
        held = member_held[prompt_index]
        m: dict = {}
        for kind, key in (("add", "add"), ("sub", "sub"), ("fact", "facts")):
            mask = kinds == kind
            m[f"{key}_correct"], m[f"{key}_total"] = int(row[mask].sum()), int(mask.sum())
            m[f"{key}_acc"] = m[f"{key}_correct"] / m[f"{key}_total"] if mask.any() else 0.0
        m["heldout_correct"], m["heldout_total"] = int(row[held].sum()), int(held.sum())
        if member_held.any():
            # Each held-out prompt's own count: the total hides whether a model misses the
            # additions or the subtractions of a pair.
            m["heldout_by_prompt"] = {
                prompts[p].text: int(row[prompt_index == p].sum()) for p in np.flatnonzero(member_held)
            }
        total = m["add_total"] + m["sub_total"] + m["facts_total"]
        m["combined"] = (m["add_correct"] + m["sub_correct"] + m["facts_correct"]) / total
        out.append(m)
    return out


def heldout_answers(
    prompts: Sequence[Prompt], completions: Completions, tokenizer: CharTokenizer, held_out: np.ndarray | None = None
) -> list[dict[str, dict[str, int]]]:
    """Per member, what it answered on each of its held-out prompts: every distinct completion (up
    to the end of its line) and how many samples gave it. The counts say how often a model is
    wrong; the answers say how (off by one, the sign flipped, no number at all). Most frequent
    first, ties in code-point order."""
    held_out = _members_held_out(prompts, completions.tokens.shape[0], held_out)
    out = []
    for tokens, member_held in zip(completions.tokens, held_out):
        answers: dict[str, dict[str, int]] = {}
        for p in np.flatnonzero(member_held):
            counts: dict[str, int] = {}
            for row in tokens[completions.prompt_index == p]:
                text = tokenizer.decode(row).split("\n", 1)[0].rstrip()  # without the line's padding
                counts[text] = counts.get(text, 0) + 1
            answers[prompts[p].text] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        out.append(answers)
    return out


class Evaluator:
    """Scores K members on a task's prompts; built once per run, called at every evaluation."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        tokenizer: CharTokenizer,
        model_config: ModelConfig,
        eval_config: EvalConfig,
        corpus: torch.Tensor,
        device: torch.device,
        held_out: np.ndarray | None = None,
    ):
        """corpus: the training stream (N,) shared by every member, or one per member (K, N).
        held_out: (K, prompts) bool, each member's own held-out prompts (see tally)."""
        self.prompts, self.tokenizer, self.cfg, self.ecfg = list(prompts), tokenizer, model_config, eval_config
        self.device = device
        self.held_out = held_out
        block, samples = model_config.block_size, eval_config.num_samples
        # Rows are prompt-major: row = prompt * samples + sample. Each row is left-aligned in a
        # block-sized buffer (prompts longer than a block are cropped to their end, as nanoGPT's
        # generate does); causal attention makes what lies right of a row's end irrelevant.
        ids = [tokenizer.encode(p.text)[-block:] for p in self.prompts]
        buffer = torch.zeros(len(ids), block, dtype=torch.long)
        for i, seq in enumerate(ids):
            buffer[i, : len(seq)] = torch.tensor(seq)
        self.prompt_index = np.repeat(np.arange(len(ids)), samples)
        self.buffer = buffer.repeat_interleave(samples, dim=0).to(device)
        self.lengths = torch.tensor([len(s) for s in ids]).repeat_interleave(samples).to(device)
        self.max_new = torch.tensor([p.max_new_tokens for p in self.prompts]).repeat_interleave(samples).to(device)
        self.newline = tokenizer.chars.index("\n") if "\n" in tokenizer.chars else -1
        self.corpus = corpus.to(device)

    @torch.inference_mode()
    def generate(self, params: gpt.Params, keys: torch.Tensor, iteration: int) -> Completions:
        k_members = keys.shape[0]
        rows, block = self.buffer.shape
        steps = int(self.max_new.max())
        buf = self.buffer.unsqueeze(0).repeat(k_members, 1, 1)  # (K, R, block)
        lengths = self.lengths.unsqueeze(0).repeat(k_members, 1)  # (K, R)
        out = torch.full((k_members, rows, steps), max(self.newline, 0), dtype=torch.long, device=self.device)
        stopped = torch.zeros(k_members, rows, dtype=torch.bool, device=self.device)
        for step in range(steps):
            # Which rows run, and so the width below, depends on the prompts and the step only,
            # never on other members: a member's logits are the same alone or in a population.
            active = (self.max_new > step).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            seq, length = buf[:, active], lengths[:, active]
            span = int(length.max())
            logits = self.next_logits(params, seq[:, :, :span], length)  # (K, A, V)
            token = self._sample(logits, keys, iteration, step, active)
            token = torch.where(stopped[:, active], out[:, active, step], token)
            out[:, active, step] = token
            if self.newline >= 0:
                stopped[:, active] |= token == self.newline
            # Append the token; a full row slides left by one (nanoGPT crops to the last block).
            full = length >= block
            seq = torch.where(full.unsqueeze(-1), seq.roll(-1, dims=-1), seq)
            position = torch.clamp(length, max=block - 1)
            seq.scatter_(2, position.unsqueeze(-1), token.unsqueeze(-1))
            buf[:, active] = seq
            lengths[:, active] = torch.clamp(length + 1, max=block)
        return Completions(out.cpu().numpy(), self.prompt_index)

    def next_logits(self, params: gpt.Params, seq: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Logits (K, A, V) of the character after each row's last token; rows are (K, A, span)."""
        h = gpt.hidden_states(params, seq, self.cfg)  # (K, A, span, C)
        members = torch.arange(seq.shape[0], device=seq.device).view(-1, 1)
        rows = torch.arange(seq.shape[1], device=seq.device).view(1, -1)
        return gpt.head(params, h[members, rows, length - 1]).float()

    def _sample(
        self, logits: torch.Tensor, keys: torch.Tensor, iteration: int, step: int, rows: torch.Tensor
    ) -> torch.Tensor:
        if self.ecfg.greedy:
            return logits.argmax(dim=-1)
        logits = logits / self.ecfg.temperature
        k = min(self.ecfg.top_k, logits.size(-1))
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        probs = F.softmax(logits.masked_fill(logits < kth, float("-inf")), dim=-1)
        u = rng.uniform(keys, rng.STREAM_SAMPLE, iteration, step, rows.view(1, -1))  # (K, A)
        # Inverse-CDF sampling: the same distribution as torch.multinomial, from the member's own
        # stream. Scaling by the last cumulative value keeps rounding from selecting a token of
        # probability zero.
        cdf = probs.cumsum(dim=-1)
        return (cdf <= u.unsqueeze(-1) * cdf[..., -1:]).sum(dim=-1).clamp(max=logits.size(-1) - 1)

    @torch.inference_mode()
    def loss(self, params: gpt.Params) -> torch.Tensor:
        """Exact mean cross-entropy over every window the trainer can sample (K,)."""
        block = self.cfg.block_size
        n_windows = self.corpus.shape[-1] - block
        k_members = params["transformer.wte.weight"].shape[0]
        total = torch.zeros(k_members, device=self.device, dtype=torch.float64)
        span = torch.arange(block, device=self.device)
        for start in range(0, n_windows, _LOSS_WINDOWS_PER_CHUNK):
            offsets = torch.arange(start, min(n_windows, start + _LOSS_WINDOWS_PER_CHUNK), device=self.device)
            windows = offsets[:, None] + span
            if self.corpus.dim() == 1:
                x = self.corpus[windows].expand(k_members, -1, -1)
                y = self.corpus[windows + 1].expand(k_members, -1, -1)
            else:  # every member scored on its own stream
                x, y = self.corpus[:, windows], self.corpus[:, windows + 1]
            logits = gpt.head(params, gpt.hidden_states(params, x, self.cfg)).float()
            # The training loss's own op: one definition of the loss (it differs from
            # F.cross_entropy in the last bits).
            nll = ops.cross_entropy_rows(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
            total += nll.view(k_members, -1).sum(dim=1).double()
        return (total / (n_windows * block)).float()

    def __call__(self, params: gpt.Params, keys: torch.Tensor, iteration: int, precision: str = "float32") -> list[dict]:
        with autocast(precision, self.device):
            completions = self.generate(params, keys, iteration)
            losses = self.loss(params).tolist()
        correct = score(self.prompts, completions, self.tokenizer)
        metrics = tally(self.prompts, correct, completions.prompt_index, self.held_out)
        answers = heldout_answers(self.prompts, completions, self.tokenizer, self.held_out)
        for m, loss, answered in zip(metrics, losses, answers):
            m["loss"] = loss
            if answered:
                m["heldout_answers"] = answered
        return metrics
