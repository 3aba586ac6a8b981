"""Fifty capital-city facts to memorize (Section 3.1); the facts ship as package data."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ..config import EvalConfig, TaskConfig
from .base import Prompt

MAX_NEW_TOKENS = 20
# The reference evaluation asked "Capital of USA is " / "Capital of UK is " although training
# says "the USA" / "the UK"; eval.reference_prompts reproduces that mismatch.
_REFERENCE_PROMPT_NAMES = {"the USA": "USA", "the UK": "UK"}


def load_facts() -> list[tuple[str, str]]:
    text = resources.files("toobig.data").joinpath("capitals.tsv").read_text(encoding="utf-8")
    return [tuple(line.split("\t")) for line in text.splitlines() if line]  # type: ignore[misc]


def prefix(country: str) -> str:
    return f"Capital of {country} is "


def score_fact(completion: str, answer: str) -> bool:
    """First line, spaces and a trailing '.' stripped, compared case-insensitively."""
    first = completion.split("\n", 1)[0].strip()
    if first.endswith("."):
        first = first[:-1].strip()
    return first.lower() == answer.lower()


@dataclass(frozen=True)
class CapitalsTask:
    config: TaskConfig
    name: str = "capitals"

    def lines(self) -> list[str]:
        # The trailing space before the newline is in the paper's file.
        return [f"{prefix(country)}{capital} \n" for country, capital in load_facts()]

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        prompts = []
        for country, capital in load_facts():
            if eval_config.reference_prompts:
                country = _REFERENCE_PROMPT_NAMES.get(country, country)
            prompts.append(Prompt(prefix(country), "fact", capital, False, MAX_NEW_TOKENS))
        return prompts
