"""The two loss floors of a training stream, computed exactly by counting.

The trainer's objective, and the exact loss logged at every evaluation, is the mean over every
window start o in [0, N - block) and position t < block of -log q(text[o+t+1] | text[o:o+t+1]):
the context is what the window shows, from its start. Two predictors bound it from below:

- the exact-stream floor: a predictor that knows the stream, character for character. Its best
  q is the empirical distribution of the next character over the (o, t) sharing a context, and
  the floor is the conditional entropy H(next | context) over those (o, t).
- the order-agnostic floor: a predictor that knows every line but not their order. Its best q is
  the Bayes predictor under a uniformly random line order (window start uniform over the
  characters, the following lines a random sequence of the other lines); the floor is its
  cross-entropy on the actual stream.

A run's loss between the two has learned part of the line order: `order_fraction` says how much.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

from .tasks.base import split_lines


@dataclass(frozen=True)
class Floors:
    order_agnostic: float
    exact_stream: float

    def order_fraction(self, loss: float) -> float | None:
        """(order-agnostic floor - loss) / (order-agnostic floor - exact-stream floor): 0 for a
        run that knows nothing of the line order, 1 for one that reached the stream floor."""
        gap = self.order_agnostic - self.exact_stream
        return None if gap <= 1e-12 else (self.order_agnostic - loss) / gap

    def as_dict(self) -> dict[str, float]:
        return {"order_agnostic": round(self.order_agnostic, 6), "exact_stream": round(self.exact_stream, 6)}


def _pairs(text: str, block: int):
    """Every (context, next character) the trainer's windows score: context = text[o:o+t+1]."""
    for o in range(len(text) - block):
        for t in range(block):
            yield text[o : o + t + 1], text[o + t + 1]


def exact_stream_floor(text: str, block: int) -> float:
    """H(next | context) over every (window, position) of the stream, in nats per character."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for context, nxt in _pairs(text, block):
        counts[context][nxt] += 1
    total = sum(n * math.log(sum(c.values()) / n) for c in counts.values() for n in c.values())
    return total / ((len(text) - block) * block)


class _RandomOrder:
    """Probabilities of strings at a uniform position of a stream of the given lines in random order.

    Lines with the same text are interchangeable, so the lines already used up are tracked as a
    sorted tuple of texts: repeated lines cost nothing extra."""

    def __init__(self, lines: list[str]):
        self.n_lines = len(lines)
        self.chars = sum(len(line) for line in lines)
        self.copies = Counter(lines)  # line text -> how many lines have it
        self.within: Counter = Counter()  # substring -> (line, offset) pairs where it lies inside the line
        self.suffix: dict[str, Counter] = defaultdict(Counter)  # line suffix -> texts of the lines ending so
        self.prefix: dict[str, Counter] = defaultdict(Counter)  # string -> texts of the lines starting with it
        for line, n in self.copies.items():
            for u in range(len(line)):
                self.suffix[line[u:]][line] += n
                self.prefix[line[: u + 1]][line] += n
                for v in range(u + 1, len(line) + 1):
                    self.within[line[u:v]] += n
        self.prefix_total = {r: sum(c.values()) for r, c in self.prefix.items()}
        self.start = lru_cache(maxsize=None)(self._start)
        self.following = self._following

    def _start(self, s: str) -> float:
        """P(the stream from a uniform character position begins with s)."""
        ways = float(self.within[s])
        for k in range(1, len(s)):
            if s[k - 1] != "\n":
                continue
            # s crosses from the end of a line A into the lines after it.
            enders, rest = self.suffix.get(s[:k], Counter()), s[k:]
            if "\n" in rest[:-1]:
                ways += sum(n * self.following(rest, (text,)) for text, n in enders.items())
            else:  # rest lies within the next line: count the lines it starts, minus A's own copy
                starting = self.prefix.get(rest, Counter())
                total = self.prefix_total.get(rest, 0)
                hits = sum(n for text, n in enders.items() if text in starting)
                ways += (sum(enders.values()) * total - hits) / (self.n_lines - 1)
        return ways / self.chars

    def _available(self, text: str, used: tuple[str, ...]) -> int:
        return self.copies[text] - used.count(text)

    def _following(self, r: str, used: tuple[str, ...]) -> float:
        """P(a random sequence of distinct lines, none of those `used` (sorted texts), begins with r)."""
        left = self.n_lines - len(used)
        if left <= 0:
            return 0.0
        starting = self.prefix.get(r, Counter())
        ways = float(self.prefix_total.get(r, 0) - sum(1 for text in used if text in starting))
        for j in range(1, len(r)):
            if r[j - 1] == "\n":  # r covers a whole line B, then continues into the next
                available = self._available(r[:j], used)
                if available > 0:
                    ways += available * self.following(r[j:], tuple(sorted((*used, r[:j]))))
        return ways / left


def order_agnostic_floor(text: str, block: int) -> float:
    """Cross-entropy of the random-line-order Bayes predictor on the stream, in nats per character."""
    model = _RandomOrder(split_lines(text))
    total = 0.0
    for context, nxt in _pairs(text, block):
        total -= math.log(model.start(context + nxt) / model.start(context))
    return total / ((len(text) - block) * block)


def loss_floors(text: str, block: int) -> Floors:
    return Floors(order_agnostic_floor(text, block), exact_stream_floor(text, block))
