"""Arithmetic and capitals together: the arithmetic corpus followed by the capitals corpus."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import EvalConfig, TaskConfig
from .arithmetic import ArithmeticTask
from .base import Prompt
from .capitals import CapitalsTask


@dataclass(frozen=True)
class CombinedTask:
    config: TaskConfig
    name: str = "combined"

    @property
    def parts(self) -> tuple[ArithmeticTask, CapitalsTask]:
        return ArithmeticTask(self.config), CapitalsTask(self.config)

    def lines(self) -> list[str]:
        return [line for part in self.parts for line in part.lines()]

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        return [p for part in self.parts for p in part.prompts(eval_config)]
