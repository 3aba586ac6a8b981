"""Single-digit addition and subtraction with held-out operand pairs (Section 3.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from ..config import EvalConfig, TaskConfig
from .base import Prompt

MAX_NEW_TOKENS = 4  # the reference generates 4 characters after "="
_ANSWER = re.compile(r"-?\d+")
_PROMPT = re.compile(r"<(\d+)([+-])(\d+)=")


def _pairs(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    for a in range(lo, hi + 1):
        for b in range(lo, hi + 1):
            yield a, b


def _is_held_out(a: int, b: int, held_out: tuple[tuple[int, int], ...]) -> bool:
    return any({a, b} == {x, y} for x, y in held_out)


def expression(a: int, op: str, b: int) -> str:
    return f"<{a}{op}{b}={a + b if op == '+' else a - b}>"


def line_width(operand_max: int) -> int:
    """Every line is padded to the longest expression plus its newline (9 for operands 0-9)."""
    return max(len(expression(a, op, b)) for a, b in _pairs(0, operand_max) for op in "+-") + 1


def parse_answer(completion: str) -> int | None:
    """The integer right after '=' (up to the next non-digit), or None when there is none."""
    match = _ANSWER.match(completion)
    return None if match is None else int(match.group())


def parse_prompt(text: str) -> tuple[int, str, int] | None:
    """(a, operator, b) of a prompt '<a+b=' or '<a-b='; None for any other text."""
    match = _PROMPT.fullmatch(text)
    return None if match is None else (int(match[1]), match[2], int(match[3]))


def prompt_answer(text: str) -> int | None:
    """The right answer of a prompt '<a+b=' or '<a-b='; None for any other text."""
    parsed = parse_prompt(text)
    if parsed is None:
        return None
    a, op, b = parsed
    return a + b if op == "+" else a - b


def score_arithmetic(completion: str, answer: str) -> bool:
    """Correct if the integer right after '=' equals the answer."""
    given = parse_answer(completion)
    return given is not None and given == int(answer)


def arithmetic_prompts(
    operand_max: int,
    held_out: tuple[tuple[int, int], ...],
    *,
    paper_counts: bool = False,
    skip_below: int = -1,
) -> list[Prompt]:
    """Prompts '<a+b=' and '<a-b=' for all operand pairs.

    paper_counts reproduces the reference's logged loop, which skipped b = 0 for a >= 1
    (91 pairs per operation, 910 samples). skip_below drops pairs where both operands are
    <= skip_below (the out-of-range test keeps only pairs with an operand above 9).
    """
    prompts = []
    for op, kind in (("+", "add"), ("-", "sub")):
        for a, b in _pairs(0, operand_max):
            if paper_counts and a >= 1 and b == 0:
                continue
            if a <= skip_below and b <= skip_below:
                continue
            answer = str(a + b if op == "+" else a - b)
            prompts.append(
                Prompt(f"<{a}{op}{b}=", kind, answer, _is_held_out(a, b, held_out), MAX_NEW_TOKENS)
            )
    return prompts


@dataclass(frozen=True)
class ArithmeticTask:
    config: TaskConfig
    name: str = "arithmetic"

    def lines(self) -> list[str]:
        width = line_width(self.config.operand_max)
        return [
            expression(a, op, b).ljust(width - 1) + "\n"
            for a, b in _pairs(0, self.config.operand_max)
            if not _is_held_out(a, b, self.config.held_out)
            for op in "+-"
        ]

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        return arithmetic_prompts(
            self.config.operand_max, self.config.held_out, paper_counts=eval_config.paper_counts
        )
