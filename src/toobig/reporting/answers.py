"""What the models answer on their held-out prompts at the last evaluation, and how the wrong
answers are wrong: a neighbouring line's answer (off by one), a subtraction's operands swapped
(sign flipped), another number, or no number at all. A model that "memorizes instead" might be
expected to answer with a line it has seen; these counts say whether it does."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Mapping, Sequence

from ..tasks import parse_answer, prompt_answer
from .markdown import DASH, md_table
from .study_measures import VariantCell

KINDS = ("right", "off by one", "sign flipped", "another number", "no number")


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
        if not answers:
            continue
        kinds = Counter(
            answer_kind(prompt, most_frequent(counts)) for a in answers for prompt, counts in a.items()
        )
        given = sum(kinds[k] for k in KINDS)
        if not given:
            continue  # held-out prompts that are not arithmetic
        table.append([label(vc), len(answers), *(f"{kinds[k]}/{given}" for k in KINDS), _per_prompt(answers)])
    if not table:
        return None
    headers = [first_header, "Seeds", *(k.capitalize() for k in KINDS), "Answers per held-out prompt (seeds)"]
    return (
        "What the models answer on their held-out prompts at the last evaluation: each seed's most "
        f"frequent completion of each prompt, counted by kind, for the {recorded} of {total} runs whose "
        "records carry the answers (`heldout_answers` in metrics.jsonl; earlier runs only counted them). "
        "Off by one: the answer with one operand moved by one (a neighbouring line's); sign flipped: a "
        "subtraction's operands swapped.\n\n"
        + md_table(headers, table)
    )
