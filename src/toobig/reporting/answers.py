"""What the models answer on their held-out prompts, at the last evaluation and over training, and
how the wrong answers are wrong: off by one, a subtraction's sign flipped, another number, or no
number."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from ..tasks import parse_answer, parse_prompt, prompt_answer
from .markdown import DASH, md_table
from .runs import SeedRun
from .study_measures import VariantCell

KINDS = ("right", "off by one", "sign flipped", "another number", "no number")

# How to read the tables; said once, in the report's note on the studies.
NOTE = (
    "Answers on the held-out prompts: each seed's most frequent completion of each held-out prompt at "
    "its last evaluation, counted by kind. Off by one: |answer - right answer| = 1 (an arithmetic slip "
    "and a neighbouring line's answer look alike here; for scale, with operands 0-9 a wrong answer drawn "
    "uniformly from the other answers of its operation is off by one at most 1 time in 9); sign flipped: the negative of a subtraction's "
    "answer (its operands swapped); distance: the median of |answer - right answer| over the wrong "
    "numbers, with how many there are. 'Seeds recorded' lists the seeds whose answers are known: from "
    "the last evaluation record (`heldout_answers`) or, for runs trained before the records carried "
    "them, from answers.json, written from the run's last checkpoint only where it reproduces the last "
    "evaluation's counts and exact loss (`toobig.answers.record_answers`); a run whose last checkpoint "
    "is gone has none, so the seeds recorded are not a random subset."
)


def answer_kind(prompt: str, completion: str) -> str | None:
    """How a completion answers an arithmetic prompt (one of KINDS); None for any other prompt."""
    parsed, right = parse_prompt(prompt), prompt_answer(prompt)
    if parsed is None or right is None:
        return None
    given = parse_answer(completion)
    if given is None:
        return "no number"
    if given == right:
        return "right"
    if abs(given - right) == 1:
        return "off by one"
    if given == -right and parsed[1] == "-":
        return "sign flipped"
    return "another number"


def ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(text, count) pairs, most frequent first, ties in code-point order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def most_frequent(counts: Mapping[str, int]) -> str:
    """The completion sampled most often; ties go to the first in code-point order."""
    return ranked(counts)[0][0]


def _prompt_order(prompt: str) -> tuple:
    """Additions before subtractions, then by operands (the task's own order); other text last."""
    parsed = parse_prompt(prompt)
    return (0, parsed[1] == "-", parsed[0], parsed[2]) if parsed else (1, prompt)


def _shown(completion: str) -> str:
    if completion == "":
        return "(empty)"
    given = parse_answer(completion)
    return repr(completion) if given is None else str(given)


def _per_prompt(answers: Sequence[Mapping[str, Mapping[str, int]]]) -> str:
    """'5+7: 13 ×2, 12 ×1; ...' over seeds that share one held-out set; a dash when the sets differ
    (random held-out sets are drawn per seed)."""
    prompts = sorted(answers[0], key=_prompt_order)
    if any(set(a) != set(prompts) for a in answers[1:]):
        return DASH
    parts = []
    for prompt in prompts:
        tally = Counter(_shown(most_frequent(a[prompt])) for a in answers)
        parts.append(f"{prompt.strip('<=')}: " + ", ".join(f"{text} ×{n}" for text, n in ranked(tally)))
    return "; ".join(parts)


def _median_distance(modal: Sequence[tuple[str, str]]) -> str:
    """'1 (n=13)': the median |answer - right answer| over the wrong numeric answers; a dash when none."""
    distances = []
    for prompt, completion in modal:
        right, given = prompt_answer(prompt), parse_answer(completion)
        if right is not None and given is not None and given != right:
            distances.append(abs(given - right))
    return f"{statistics.median(distances):g} (n={len(distances)})" if distances else DASH


@dataclass(frozen=True)
class KindsOverTraining:
    """The share of each kind among the seeds' most frequent held-out answers at each evaluation."""

    seeds: tuple[int, ...]  # the runs pooled: those that recorded answers at every evaluation
    iterations: tuple[int, ...]  # the evaluations all of them have
    shares: dict[str, tuple[float, ...]]  # kind (KINDS) -> share at each iteration


def kind_counts(modal: Iterable[tuple[str, str]]) -> tuple[Counter, int]:
    """How many (prompt, most frequent completion) pairs are of each kind, and how many have a
    kind at all (arithmetic prompts)."""
    kinds = Counter(answer_kind(prompt, completion) for prompt, completion in modal)
    return kinds, sum(kinds[k] for k in KINDS)


def kinds_over_training(runs: Sequence[SeedRun]) -> KindsOverTraining | None:
    """The share of each kind at each evaluation, pooled over the complete runs whose every
    evaluation record names its held-out answers (runs resumed across the change that added them,
    and older runs, are left out); None when no run qualifies, they share no evaluation, or the
    held-out prompts are not arithmetic."""
    by_run = []
    for run in runs:
        evaluations = [r for r in run.metrics if r.get("heldout_total")]
        if run.complete and evaluations and all("heldout_answers" in r for r in evaluations):
            by_run.append((run.seed, {int(r["iter"]): r["heldout_answers"] for r in evaluations}))
    if not by_run:
        return None
    iterations = sorted(set.intersection(*(set(answers) for _, answers in by_run)))
    if not iterations:
        return None
    shares: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for iteration in iterations:
        kinds, given = kind_counts(
            (prompt, most_frequent(counts)) for _, answers in by_run for prompt, counts in answers[iteration].items()
        )
        if not given:
            return None
        for kind in KINDS:
            shares[kind].append(kinds[kind] / given)
    return KindsOverTraining(
        tuple(sorted(seed for seed, _ in by_run)), tuple(iterations), {k: tuple(v) for k, v in shares.items()}
    )


def seed_ranges(seeds: Sequence[int]) -> str:
    """'0-3, 5, 7-9' from the seeds in any order."""
    spans: list[list[int]] = []
    for seed in sorted(set(seeds)):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def answers_table(rows: Sequence[VariantCell], first_header: str, label: Callable[[VariantCell], str]) -> str | None:
    """Per variant, each seed's most frequent completion of each held-out prompt, counted by kind;
    None when no run of the study recorded its answers."""
    table, recorded, total = [], 0, 0
    for vc in rows:
        runs = [r for r in vc.runs if r.heldout_answers_last]
        total += vc.n
        recorded += len(runs)
        modal = [(prompt, most_frequent(counts)) for r in runs for prompt, counts in r.heldout_answers_last.items()]
        kinds, given = kind_counts(modal)
        if not given:
            continue  # nothing recorded, or held-out prompts that are not arithmetic
        table.append([
            label(vc), f"{len(runs)} ({seed_ranges([r.seed for r in runs])})", *(f"{kinds[k]}/{given}" for k in KINDS),
            _median_distance(modal), _per_prompt([r.heldout_answers_last for r in runs]),
        ])
    if not table:
        return None
    headers = [first_header, "Seeds recorded", *(k.capitalize() for k in KINDS), "Distance", "Answers per held-out prompt (seeds)"]
    return (
        f"Answers on the held-out prompts at the last evaluation ({recorded} of {total} runs recorded them):\n\n"
        + md_table(headers, table)
    )
