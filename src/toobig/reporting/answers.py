"""What the models answer on their held-out prompts at the last evaluation, and how the wrong
answers are wrong: a neighbouring line's answer (off by one), a subtraction's operands swapped
(sign flipped), another number, or no number at all. A model that "memorizes instead" might be
expected to answer with a line it has seen; these counts say whether it does."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Callable, Mapping, Sequence

from ..tasks import parse_answer, prompt_answer
from .markdown import DASH, md_table
from .study_measures import VariantCell

KINDS = ("right", "off by one", "sign flipped", "another number", "no number")

# How to read the tables below; said once, in the report's note on the studies.
NOTE = (
    "Answers on the held-out prompts: each seed's most frequent completion of each held-out prompt at "
    "its last evaluation, counted by kind. Off by one: the answer with one operand moved by one (a "
    "neighbouring line's); sign flipped: a subtraction's operands swapped; distance: the median of "
    "|answer - right answer| over the wrong numbers. The answers come from the last evaluation record "
    "(`heldout_answers`) or, for runs trained before the records carried them, from answers.json, "
    "written from the run's last checkpoint, which must reproduce the last evaluation's counts exactly "
    "(`toobig.answers.record_answers`)."
)


def answer_kind(prompt: str, completion: str) -> str | None:
    """How a completion answers an arithmetic prompt (one of KINDS); None for any other prompt."""
    right = prompt_answer(prompt)
    if right is None:
        return None
    given = parse_answer(completion)
    if given is None:
        return "no number"
    if given == right:
        return "right"
    if abs(given - right) == 1:
        return "off by one"
    if given == -right and "-" in prompt:  # operands are never negative: "-" is the operator
        return "sign flipped"
    return "another number"


def most_frequent(counts: Mapping[str, int]) -> str:
    """The completion sampled most often; on a tie the first recorded (records list the most
    frequent first, then by text)."""
    return max(counts, key=counts.__getitem__)


def _shown(completion: str) -> str:
    given = parse_answer(completion)
    return repr(completion) if given is None else str(given)


def _per_prompt(answers: Sequence[Mapping[str, Mapping[str, int]]]) -> str:
    """'5+7: 13 ×2, 12 ×1; ...' over seeds that share one held-out set; a dash when the sets differ
    (random held-out sets are drawn per seed)."""
    prompts = list(answers[0])
    if any(set(a) != set(prompts) for a in answers[1:]):
        return DASH
    parts = []
    for prompt in prompts:
        tally = Counter(_shown(most_frequent(a[prompt])) for a in answers)
        ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
        parts.append(f"{prompt.strip('<=')}: " + ", ".join(f"{text} ×{n}" for text, n in ranked))
    return "; ".join(parts)


def answers_table(rows: Sequence[VariantCell], first_header: str, label: Callable[[VariantCell], str]) -> str | None:
    """Per variant, each seed's most frequent completion of each held-out prompt, counted by kind;
    None when no run of the study recorded its answers."""
    table, recorded, total = [], 0, 0
    for vc in rows:
        answers = [r.heldout_answers_last for r in vc.runs if r.heldout_answers_last]
        total += vc.n
        recorded += len(answers)
        modal = [(prompt, most_frequent(counts)) for a in answers for prompt, counts in a.items()]
        kinds = Counter(answer_kind(prompt, completion) for prompt, completion in modal)
        given = sum(kinds[k] for k in KINDS)
        if not given:
            continue  # nothing recorded, or held-out prompts that are not arithmetic
        table.append([
            label(vc), len(answers), *(f"{kinds[k]}/{given}" for k in KINDS), _median_distance(modal), _per_prompt(answers),
        ])
    if not table:
        return None
    headers = [first_header, "Seeds", *(k.capitalize() for k in KINDS), "Distance", "Answers per held-out prompt (seeds)"]
    return (
        f"Answers on the held-out prompts at the last evaluation ({recorded} of {total} runs recorded them):\n\n"
        + md_table(headers, table)
    )


def _median_distance(modal: Sequence[tuple[str, str]]) -> str:
    """Median |answer - right answer| over the wrong numeric answers, or a dash when there are none."""
    distances = []
    for prompt, completion in modal:
        right, given = prompt_answer(prompt), parse_answer(completion)
        if right is not None and given is not None and given != right:
            distances.append(abs(given - right))
    return f"{statistics.median(distances):g}" if distances else DASH
