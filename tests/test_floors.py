"""The loss floors against brute force: every line order enumerated, every window counted."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from toobig.floors import exact_stream_floor, loss_floors, order_agnostic_floor
from toobig.presets import make_config
from toobig.tasks import corpus_text

# Lines of different lengths, one repeated, some shorter than the block: contexts then span
# three lines and the exclusions of a permutation matter.
LINES = ["ab\n", "a\n", "bba\n", "ab\n", "b\n"]
TEXT = "".join(LINES)
BLOCK = 5


def _windows(text: str, block: int):
    return [(text[o : o + t + 1], text[o + t + 1]) for o in range(len(text) - block) for t in range(block)]


def test_exact_stream_floor_is_the_entropy_of_the_next_character_brute_force():
    pairs = _windows(TEXT, BLOCK)
    total = 0.0
    for context, nxt in pairs:
        same = [n for c, n in pairs if c == context]
        total -= math.log(same.count(nxt) / len(same))
    assert exact_stream_floor(TEXT, BLOCK) == pytest.approx(total / len(pairs), rel=1e-12)


def test_order_agnostic_floor_equals_enumerating_every_line_order():
    # Every permutation of the lines, every start inside its first line: the window start is
    # uniform over the characters and the lines after it are the others in random order.
    counts: Counter = Counter()
    for order in itertools.permutations(range(len(LINES))):
        stream = "".join(LINES[i] for i in order)
        for u in range(len(LINES[order[0]])):
            text = stream[u:]
            for n in range(1, min(len(text), BLOCK + 1) + 1):
                counts[text[:n]] += 1
    total = 0.0
    pairs = _windows(TEXT, BLOCK)
    for context, nxt in pairs:
        total -= math.log(counts[context + nxt] / counts[context])
    assert order_agnostic_floor(TEXT, BLOCK) == pytest.approx(total / len(pairs), rel=1e-12)


def test_floors_of_the_paper_arithmetic_corpus():
    # The figures the protocol audit measured: 0.767 and 0.531 nats per character.
    config = make_config("arithmetic", "n14")
    floors = loss_floors(corpus_text(config.task), config.model.block_size)
    assert floors.order_agnostic == pytest.approx(0.7667, abs=5e-4)
    assert floors.exact_stream == pytest.approx(0.5308, abs=5e-4)
    assert floors.order_fraction(floors.order_agnostic) == pytest.approx(0.0)
    assert floors.order_fraction(floors.exact_stream) == pytest.approx(1.0)
    assert floors.order_fraction(0.595) == pytest.approx((0.7667 - 0.595) / (0.7667 - 0.5308), abs=2e-3)


def test_only_newline_ends_a_line_and_repeated_lines_stay_cheap():
    import random
    import time

    # "\r" is a character of a line here, not a line end (str.splitlines would split at it).
    text = "ab\rcd\nef\n" * 3
    floors = loss_floors(text, 4)
    assert 0 < floors.exact_stream <= floors.order_agnostic
    lines = ["a\n"] * 60 + ["b\n"] * 60
    random.Random(0).shuffle(lines)
    t0 = time.perf_counter()
    order_agnostic_floor("".join(lines), 6)
    assert time.perf_counter() - t0 < 5.0  # interchangeable lines are counted, not enumerated
