"""What a person watches while runs train: the progress bar and TensorBoard scalars."""

from __future__ import annotations

import torch

from ..config import ConfigError, RunConfig
from .records import MemberRecord

TENSORBOARD_DIR = "tensorboard"
_SCALARS = ("loss", "add_acc", "sub_acc", "facts_acc", "combined", "heldout_correct", "lr")


def require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install toobig[tensorboard]") from None


def tensorboard_writers(records: list[MemberRecord], start: int = 0) -> list:
    """One writer per member; resumed at iteration `start`, a member's events logged after it
    (by the interrupted process, logged again now) are hidden, so no step shows twice."""
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    purge_step = start + 1 if start > 0 else None
    return [SummaryWriter(log_dir=str(rec.run.path / TENSORBOARD_DIR), purge_step=purge_step) for rec in records]


def log_scalars(boards: list, records: list[MemberRecord], point: int) -> None:
    for board, rec in zip(boards, records):
        for key in _SCALARS:
            board.add_scalar(f"eval/{key}", rec.last[key], point)  # type: ignore[index]
        board.flush()


def postfix(loss: torch.Tensor | None, records: list[MemberRecord]) -> str:
    parts = []
    if loss is not None:
        parts.append(f"loss {loss.mean().item():.3f}")
    last = [r.last for r in records if r.last]
    if last:
        mean = lambda key: sum(m[key] for m in last) / len(last)  # noqa: E731
        if last[0]["add_total"]:
            parts.append(f"add {mean('add_acc'):.0%} sub {mean('sub_acc'):.0%}")
            parts.append(f"held-out {mean('heldout_correct'):.0f}/{last[0]['heldout_total']}")
        if last[0]["facts_total"]:
            parts.append(f"facts {mean('facts_acc'):.0%}")
    return " ".join(parts)


def progress_bar(config: RunConfig, k: int, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=config.train.max_iters,
        initial=start,
        desc=f"{config.label} x{k}",
        unit="it",
        dynamic_ncols=True,
    )
