"""One run's data: its corpus (held-out set and line order resolved for its seed), tokenizer,
prompts, training stream and loss floors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ..config import ARITHMETIC_TASKS, ConfigError, EvalConfig, RunConfig, TaskConfig
from ..evaluation import Evaluator
from ..floors import Floors, loss_floors
from ..tasks import Prompt, answer_mask, build_task, corpus_text, line_spans, read_pairs, resolve_task
from ..tokenizer import CharTokenizer
from ..engine.sampling import MemberStream


@dataclass(frozen=True)
class Prepared:
    """What one run (one seed of a configuration) trains and is evaluated on."""

    task: TaskConfig  # resolved: concrete held-out pairs and line-order seed
    text: str
    tokenizer: CharTokenizer
    data: torch.Tensor

    @classmethod
    def from_config(cls, config: RunConfig) -> "Prepared":
        task = resolve_task(config.task, config.seed)
        text = corpus_text(task)
        if not text:
            raise ConfigError(f"the training corpus of task {task.name!r} is empty")
        tokenizer = CharTokenizer.from_text(text)
        unseen = sorted({c for p in build_task(task).prompts(config.eval) for c in p.text} - set(tokenizer.chars))
        if unseen:
            source = f"task.corpus_file {task.corpus_file!r}" if task.corpus_file else f"the {task.name} corpus"
            raise ConfigError(
                f"{source} lacks the characters {''.join(unseen)!r} that the {task.name} evaluation prompts use; "
                "a model can only read characters of its training corpus"
            )
        return cls(task, text, tokenizer, tokenizer.tensor(text))

    @classmethod
    def check(cls, config: RunConfig) -> None:
        """Read what the configuration's runs would train on (its corpus or pairs file): a missing
        or malformed file raises ConfigError now, before anything is written."""
        cls.from_config(config)

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def held_out(self) -> tuple[tuple[int, int], ...]:
        """The operand pairs this run never saw ((5,7) under the paper's protocol)."""
        return self.task.held_out if self.task.name in ARITHMETIC_TASKS else ()

    @property
    def held_out_record(self) -> list:
        """What summary.json states as held out: operand pairs, or a pairs task's prompts."""
        if self.task.name == "pairs":
            return [p.prompt for p in read_pairs(self.task) if p.held_out]
        return [list(p) for p in self.held_out]

    @property
    def prompts_sha256(self) -> str:
        """A digest of the evaluation prompts and answers (a pairs file edited after training shows)."""
        prompts = build_task(self.task).prompts(EvalConfig())
        blob = "\n".join(f"{p.text}\t{p.answer}\t{p.held_out}" for p in prompts)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        return build_task(self.task).prompts(eval_config)

    def stream(self) -> MemberStream:
        spans = line_spans(self.text)
        return MemberStream(
            tokens=self.data,
            line_starts=torch.tensor([s for s, _ in spans], dtype=torch.long),
            line_lengths=torch.tensor([n for _, n in spans], dtype=torch.long),
            answers=torch.tensor(answer_mask(self.text), dtype=torch.bool),
        )

    def floors(self, block_size: int) -> Floors:
        return _floors(self.text, block_size)

    def evaluator(self, config: RunConfig, device: torch.device) -> Evaluator:
        return population_evaluator([self], config, device)


@lru_cache(maxsize=64)
def _floors(text: str, block_size: int) -> Floors:
    # Members sharing a corpus share its floors (seconds for the combined task): computed once.
    return loss_floors(text, block_size)


def population_evaluator(members: Sequence[Prepared], config: RunConfig, device: torch.device) -> Evaluator:
    """One evaluator for members that share the prompts but may differ in held-out set and stream."""
    first = members[0]
    prompts = first.prompts(config.eval)
    if any(m.tokenizer != first.tokenizer for m in members):
        raise ValueError("members of one population need one vocabulary")
    held = np.array([[p.held_out for p in m.prompts(config.eval)] for m in members], dtype=bool)
    held = held.reshape(len(members), len(prompts))
    same_stream = all(m.text == first.text for m in members)
    corpus = first.data if same_stream else torch.stack([m.data for m in members])
    return Evaluator(prompts, first.tokenizer, config.model, config.eval, corpus, device, held)
