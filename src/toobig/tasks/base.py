"""What a task is: a corpus to train on, prompts to evaluate, and a rule that scores a completion."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, Sequence

from ..config import EvalConfig

KINDS = ("add", "sub", "fact")


@dataclass(frozen=True)
class Prompt:
    text: str
    kind: str  # one of KINDS
    answer: str  # the expected answer, e.g. "12" or "Paris"
    held_out: bool  # withheld from the training corpus (the (5,7) pairs)
    max_new_tokens: int


class Task(Protocol):
    name: str

    def lines(self) -> list[str]:
        """The corpus lines (each ends with a newline) in canonical order."""

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        """Every evaluation prompt of the task."""


def shuffled_corpus(lines: Sequence[str], seed: int) -> str:
    """The corpus text: the lines in a seeded shuffled order (the reference files are shuffled too)."""
    order = list(lines)
    random.Random(seed).shuffle(order)
    return "".join(order)


def split_lines(text: str) -> list[str]:
    """The lines of a corpus, each with its newline: only "\n" ends a line (str.splitlines also
    splits at "\r", form feeds and other separators, which a corpus may contain as characters)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
