"""What the trainer keeps of each member while it trains."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import RunConfig
from ..metrics import extrapolated, is_improvement
from ..store import RunDir
from .corpus import Prepared


@dataclass
class MemberRecord:
    """Bookkeeping of one member's run directory while it trains."""

    run: RunDir
    config: RunConfig
    prepared: Prepared
    best: dict | None = None
    last: dict | None = None
    first_extrapolation: int | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # every record in metrics.jsonl, in order
    train_s: float = 0.0
    eval_s: float = 0.0
    elapsed_before: float = 0.0  # a resumed run's elapsed_s at the checkpoint it resumed from
    trained_in: dict | None = None  # the environment it trained in, when this process trains nothing

    def observe(self, metrics: dict) -> bool:
        self.history.append(metrics)
        self.last = metrics
        if self.first_extrapolation is None and extrapolated(metrics):
            self.first_extrapolation = metrics["iter"]
        if is_improvement(metrics, self.best, self.config.eval.selection):
            self.best = metrics
            return True
        return False
