"""Training batches of every member, drawn from its own seed: the paper's random windows over a
fixed stream, windows over a stream re-shuffled every iteration, or independent whole lines.

A member's data is its stream (its corpus lines in its order), the spans of its lines, and
(for the answer-only loss) which characters are answers. Every draw is counter-based
(engine/rng.py): a function of the member's seed, the iteration and the row alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from ..config import ConfigError, RunConfig
from . import rng

# Upper bound on random draws materialized at once (members x iterations x batch x positions).
MAX_DRAWS = 1 << 22


@dataclass(frozen=True)
class MemberStream:
    """One member's training text as token ids, with its line spans and answer mask."""

    tokens: torch.Tensor  # (N,) int64
    line_starts: torch.Tensor  # (L,) int64
    line_lengths: torch.Tensor  # (L,) int64
    answers: torch.Tensor  # (N,) bool: an answer character (after '=' through '>')


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (K, B, T) inputs
    y: torch.Tensor  # (K, B, T) next characters
    # (K, B, T) loss weight per target, normalized so each member's weights average 1 (the
    # member's loss is then mean(nll * weights)); None: every character counts (the paper).
    weights: torch.Tensor | None


def check_streams(config: RunConfig, streams: Sequence[MemberStream]) -> None:
    """Refuse, by name, a corpus the sampling cannot use (called before anything is written)."""
    block = config.model.block_size
    for stream in streams:
        if stream.tokens.numel() <= block:
            raise ConfigError(
                f"the training corpus ({stream.tokens.numel()} characters) is not longer than model.block_size ({block})"
            )
        longest = int(stream.line_lengths.max())
        if config.train.sampling == "lines" and longest > block + 1:
            raise ConfigError(
                f"train.sampling=lines: a corpus line has {longest} characters, more than model.block_size + 1 "
                f"({block + 1}), so its end would never be trained"
            )


def stack_streams(streams: Sequence[MemberStream], device: torch.device) -> dict[str, torch.Tensor]:
    lengths = {int(s.tokens.numel()) for s in streams}
    lines = {int(s.line_starts.numel()) for s in streams}
    if len(lengths) != 1 or len(lines) != 1:
        raise ValueError("members of one population need streams of one length and line count")
    return {
        name: torch.stack([getattr(s, name) for s in streams]).to(device)
        for name in ("tokens", "line_starts", "line_lengths", "answers")
    }


class BatchSampler:
    """Batches for iterations [start, stop), computed a chunk of iterations at a time."""

    def __init__(self, config: RunConfig, streams: Sequence[MemberStream], keys: torch.Tensor, device: torch.device):
        self.mode, self.loss_on = config.train.sampling, config.train.loss_on
        self.batch, self.block = config.train.batch_size, config.model.block_size
        self.keys, self.device = keys, device
        data = stack_streams(streams, device)
        self.tokens, self.answers = data["tokens"], data["answers"]
        self.starts, self.lengths = data["line_starts"], data["line_lengths"]
        self.n_windows = self.tokens.shape[1] - self.block
        check_streams(config, streams)
        # Lines a row may touch: its first line (from any offset), then enough to cover the block.
        self.lines_per_row = 1 + math.ceil(self.block / int(self.lengths.min()))
        self.span = torch.arange(self.block + 1, device=device)

    @property
    def size(self) -> int:
        return int(self.keys.shape[0])

    def chunks(self, start: int, stop: int) -> list[tuple[int, int]]:
        per_iteration = self.size * self.batch * (1 if self.mode == "windows" else self.block + 1)
        per_chunk = max(1, MAX_DRAWS // per_iteration)
        return [(a, min(stop, a + per_chunk)) for a in range(start, stop, per_chunk)]

    def window_offsets(self, start: int, stop: int, high: int) -> torch.Tensor:
        """Uniform integers (K, stop - start, B) in [0, high): window starts of iterations [start, stop)."""
        its = torch.arange(start, stop, device=self.device).view(1, -1, 1)
        rows = torch.arange(self.batch, device=self.device).view(1, 1, -1)
        return rng.randint(self.keys, rng.STREAM_BATCH, high, its, rows)

    def batches(self, start: int, stop: int) -> Iterator[tuple[int, Batch]]:
        """(iteration, batch) for every iteration of the chunk [start, stop)."""
        if self.mode == "windows":
            offsets = self.window_offsets(start, stop, self.n_windows)  # (K, I, B)
            for j, it in enumerate(range(start, stop)):
                yield it, self._gather(offsets[:, j, :, None] + self.span)
            return
        first, within = self._reshuffled_rows(start, stop) if self.mode == "reshuffle" else self._line_rows(start, stop)
        for j, it in enumerate(range(start, stop)):
            yield it, self._gather(self._positions(first[:, j], within[:, j]))

    def _gather(self, positions: torch.Tensor) -> Batch:
        """Inputs, targets and weights at stream positions (K, B, T + 1) of each member."""
        k = positions.shape[0]
        flat = positions.reshape(k, -1)
        chars = self.tokens.gather(1, flat).view(positions.shape)
        weights = None
        if self.loss_on == "answers":
            w = self.answers.gather(1, flat).view(positions.shape)[..., 1:].float().contiguous()
            weights = w * (w[0].numel() / w.sum(dim=(1, 2), keepdim=True).clamp(min=1.0))
        return Batch(chars[..., :-1].contiguous(), chars[..., 1:].contiguous(), weights)

    def _reshuffled_rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every iteration orders the lines afresh (a permutation from the member's seed and the
        iteration); each row is a window at a uniform offset of that stream. Returns the row's
        lines (K, I, B, J) and its start within the first (K, I, B)."""
        its = torch.arange(start, stop, device=self.device).view(1, -1, 1)
        n_lines = self.lengths.shape[1]
        lines = torch.arange(n_lines, device=self.device).view(1, 1, -1)
        order = rng.hash32(self.keys.view(-1, 1, 1), rng.STREAM_ORDER, its, lines).argsort(dim=-1, stable=True)
        lengths = self.lengths.unsqueeze(1).expand_as(order).gather(2, order)  # (K, I, L)
        ends = lengths.cumsum(dim=-1)
        offsets = self.window_offsets(start, stop, self.n_windows)  # (K, I, B)
        first = torch.searchsorted(ends, offsets, right=True)  # the line holding each window's start
        within = offsets - (ends.gather(2, first) - lengths.gather(2, first))
        following = (first.unsqueeze(-1) + torch.arange(self.lines_per_row, device=self.device)).clamp(max=n_lines - 1)
        rows = order.unsqueeze(2).expand(-1, -1, self.batch, -1).gather(3, following)  # (K, I, B, J)
        return rows, within

    def _line_rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row starts at the start of a line drawn uniformly, followed by independent lines."""
        its = torch.arange(start, stop, device=self.device).view(1, -1, 1, 1)
        rows = torch.arange(self.batch, device=self.device).view(1, 1, -1, 1)
        slots = torch.arange(self.lines_per_row, device=self.device).view(1, 1, 1, -1)
        n_lines = self.lengths.shape[1]
        chosen = rng.randint(self.keys, rng.STREAM_LINES, n_lines, its, rows, slots)  # (K, I, B, J)
        return chosen, torch.zeros(chosen.shape[:3], dtype=torch.long, device=self.device)

    def _positions(self, lines: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
        """Stream positions (K, B, T + 1) of rows made of consecutive `lines` (K, B, J) from
        offset `within` (K, B) of the first."""
        k = lines.shape[0]
        lengths = self.lengths.gather(1, lines.view(k, -1)).view(lines.shape)
        starts = self.starts.gather(1, lines.view(k, -1)).view(lines.shape)
        ends = lengths.cumsum(dim=-1)
        offset = within.unsqueeze(-1) + self.span  # (K, B, T + 1) position in the row's text
        segment = torch.searchsorted(ends, offset, right=True)
        into = offset - (ends.gather(2, segment) - lengths.gather(2, segment))
        return starts.gather(2, segment) + into
