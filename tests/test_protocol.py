"""The protocol knobs beyond the paper change exactly what they say, from the member's seed alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import torch

from toobig.config import ConfigError, validate
from toobig.engine import rng
from toobig.options import RunOptions
from toobig.training import Prepared
from toobig.engine.sampling import BatchSampler
from toobig.training import train
from toobig.tasks import answer_mask, random_held_out, resolve_task

from .conftest import tiny

CPU = torch.device("cpu")


def _with(config, section: str, **values):
    return validate(replace(config, **{section: replace(getattr(config, section), **values)}))


def _batches(config, seeds, start=0, stop=3):
    members = [Prepared.from_config(replace(config, seed=s)) for s in seeds]
    sampler = BatchSampler(config, [m.stream() for m in members], rng.member_keys(list(seeds)), CPU)
    return members, [b for _, b in sampler.batches(start, stop)]


def _rows_text(members, batch, k):
    tok = members[k].tokenizer
    full = torch.cat([batch.x[k], batch.y[k][:, -1:]], dim=1)
    return [tok.decode(row.tolist()) for row in full]


def test_paper_protocol_is_the_default_and_keeps_earlier_digests():
    config = tiny()
    assert config.paper_protocol
    # Adding the knobs left the directory names of the paper's runs as they were.
    from toobig.presets import make_config

    assert make_config("arithmetic", "n14").digest() == "3dfe1109"
    knob = _with(config, "train", sampling="lines")
    assert not knob.paper_protocol and knob.digest() != config.digest()


def test_per_seed_line_order_is_a_permutation_drawn_from_the_seed():
    config = _with(tiny(), "task", line_order="seed")
    texts = {s: Prepared.from_config(replace(config, seed=s)).text for s in (1, 2)}
    paper = Prepared.from_config(tiny()).text
    assert texts[1] != texts[2] and texts[1] != paper
    assert Counter(texts[1].splitlines()) == Counter(texts[2].splitlines()) == Counter(paper.splitlines())
    assert Prepared.from_config(replace(config, seed=1)).text == texts[1]  # reproducible
    # The paper's fixed order is one order for every seed.
    assert Prepared.from_config(replace(tiny(), seed=1)).text == Prepared.from_config(replace(tiny(), seed=2)).text


def test_whole_line_batches_start_at_line_starts_with_independent_lines():
    config = _with(tiny(batch_size=64), "train", sampling="lines")
    members, batches = _batches(config, [4, 9])
    lines = set(members[0].text.splitlines(keepends=True))
    for batch in batches:
        for k in range(2):
            for row in _rows_text(members, batch, k):
                first, rest = row[:9], row[9:]
                assert first in lines  # a whole line, from its start
                assert rest == "<"  # the next line's first character
    # Whole lines: with block 9 and lines of 9 characters, each row is exactly one line.
    assert batches[0].x.shape == (2, 64, 9)


def test_whole_lines_refuse_lines_longer_than_the_block():
    config = _with(tiny("capitals"), "train", sampling="lines")
    with pytest.raises(ConfigError, match="sampling=lines: a corpus line has"):
        _batches(config, [1])


def test_reshuffle_draws_a_new_line_order_every_iteration_from_the_member_seed_alone():
    config = _with(tiny(batch_size=256), "train", sampling="reshuffle")
    members, batches = _batches(config, [5, 6], 0, 40)
    lines = members[0].text.splitlines(keepends=True)
    line_set = set(lines)
    fixed_pairs = set(zip(lines, lines[1:]))
    pairs = []
    for batch in batches:
        for row in _rows_text(members, batch, 0):
            # Every row lies in a stream of whole lines: it cuts one line and continues in another.
            cut = row.index("\n") + 1
            if cut < len(row):
                assert any(line.endswith(row[:cut]) for line in line_set)
                assert any(line.startswith(row[cut:]) for line in line_set)
                pairs.append((row[:cut], row[cut:]))
    # Neighbours that the fixed stream never has: the order is not the file's.
    new = sum(1 for a, b in pairs if not any(x.endswith(a) and y.startswith(b) for x, y in fixed_pairs))
    assert new > len(pairs) // 2
    # A member's batches are its own: alone, or beside another member, the same.
    _, alone = _batches(config, [6], 0, 40)
    for together, solo in zip(batches, alone):
        assert torch.equal(together.x[1], solo.x[0]) and torch.equal(together.y[1], solo.y[0])


def test_reshuffle_orders_the_lines_once_per_iteration_and_afresh_at_the_next():
    config = _with(tiny(batch_size=256), "train", sampling="reshuffle")
    (member,) = [Prepared.from_config(replace(config, seed=5))]
    sampler = BatchSampler(config, [member.stream()], rng.member_keys([5]), CPU)
    rows, _ = sampler._reshuffled_rows(0, 20)  # each row's consecutive lines, (K, I, B, J) line indices
    assert rows.shape[-1] >= 2
    successors = []
    for it in range(20):
        following: dict[int, int] = {}
        for row in rows[0, it].tolist():
            for a, b in zip(row, row[1:]):
                assert following.setdefault(a, b) == b  # one line order within an iteration
        successors.append(following)
    # The next iteration's order is another: most lines seen in both are followed by another line.
    for now, then in zip(successors, successors[1:]):
        shared = now.keys() & then.keys()
        assert len(shared) > 20 and sum(now[x] != then[x] for x in shared) > 0.9 * len(shared)


def test_windows_sampling_is_the_paper_fixed_stream():
    config = tiny(batch_size=32)
    members, batches = _batches(config, [3])
    text = members[0].text
    for row in _rows_text(members, batches[0], 0):
        assert row in text


def _in_answer(row: str, i: int) -> bool:
    """Is row[i] an answer character ('=' excluded, '>' included), told from the window alone: by
    the next of '<', '=', '>' after it or, where the window ends first, the last one before it."""
    if row[i] == ">":
        return True
    if row[i] in "<=":
        return False
    after = next((c for c in row[i + 1:] if c in "<=>"), None)
    if after is not None:
        return after == ">"
    before = next((c for c in reversed(row[:i]) if c in "<=>"), None)
    return before == "="


def test_answer_mask_covers_exactly_the_answer_characters():
    text = "<5+3=8>  \n<3-5=-2> \n<9+9=18> \n"
    chosen = "".join(c for c, m in zip(text, answer_mask(text)) if m)
    assert chosen == "8>-2>18>"
    config = _with(tiny(batch_size=32), "train", loss_on="answers")
    members, batches = _batches(config, [2])
    batch = batches[0]
    tok = members[0].tokenizer
    for row_x, row_y, row_w in zip(batch.x[0], batch.y[0], batch.weights[0]):
        row = tok.decode(row_x.tolist()) + tok.decode(row_y[-1:].tolist())
        weighted = [w > 0 for w in row_w.tolist()]
        assert weighted == [_in_answer(row, i) for i in range(1, len(row))], row
    # Weights average 1 per member, so the loss is the mean over answer characters.
    assert batch.weights[0].mean().item() == pytest.approx(1.0)


def test_answer_only_loss_is_the_mean_over_answer_targets():
    from toobig.engine.population import member_losses
    from toobig import model as gpt

    config = _with(tiny(batch_size=16), "train", loss_on="answers")
    members, batches = _batches(config, [1])
    batch = batches[0]
    params = gpt.stack_members([gpt.init_member(config.model, members[0].tokenizer.vocab_size, 1)])
    weighted = member_losses(params, batch.x, batch.y, config.model, None, batch.weights)
    logits = gpt.head(params, gpt.hidden_states(params, batch.x, config.model))
    nll = torch.nn.functional.cross_entropy(logits[0].reshape(-1, logits.shape[-1]), batch.y[0].reshape(-1), reduction="none")
    mask = batch.weights[0].reshape(-1) > 0
    torch.testing.assert_close(weighted[0], nll[mask].mean(), rtol=1e-5, atol=1e-6)


def test_random_held_out_sets_are_reproducible_distinct_and_disjoint_from_training():
    assert random_held_out(9, 5, 3) == random_held_out(9, 5, 3)
    assert random_held_out(9, 5, 3) != random_held_out(9, 5, 4)
    config = _with(tiny(), "task", held_out_random=5)
    for seed in (0, 1, 2):
        prepared = Prepared.from_config(replace(config, seed=seed))
        pairs = prepared.held_out
        assert len(pairs) == 5 and all(a < b for a, b in pairs)
        lines = prepared.text.splitlines()
        for a, b in pairs:
            for expr in (f"<{a}+{b}=", f"<{b}+{a}=", f"<{a}-{b}=", f"<{b}-{a}="):
                assert not any(line.startswith(expr) for line in lines)
        assert len(lines) == 200 - 4 * 5  # every set removes the same number of lines
        held_prompts = {p.text for p in prepared.prompts(config.eval) if p.held_out}
        assert len(held_prompts) == 4 * 5
    # A fixed draw seed gives every run the same set.
    fixed = _with(config, "task", held_out_seed=7)
    assert resolve_task(fixed.task, 1).held_out == resolve_task(fixed.task, 2).held_out == random_held_out(9, 5, 7)


def test_members_with_different_held_out_sets_train_together_and_score_their_own(tmp_path):
    config = _with(tiny(iters=20, interval=10), "task", held_out_random=3)
    runs = train(config, [1, 2], tmp_path, RunOptions(device="cpu", progress=False, max_members=2))
    (alone,) = train(config, [2], tmp_path / "solo", RunOptions(device="cpu", progress=False))
    summaries = [r.read_summary() for r in runs]
    assert summaries[0]["held_out"] != summaries[1]["held_out"]
    assert summaries[0]["protocol"] == {"task.held_out_random": 3}
    for summary in summaries:
        assert summary["heldout"]["heldout_total"] == 4 * 3 * config.eval.num_samples
    together = [r["loss"] for r in runs[1].read_metrics()]
    solo = [r["loss"] for r in alone.read_metrics()]
    assert together == pytest.approx(solo, rel=1e-5)


def test_in_distribution_selection_ignores_the_held_out_samples(tmp_path):
    from toobig.metrics import best_record

    records = [
        {"iter": 0, "add_correct": 10, "add_total": 20, "sub_correct": 10, "sub_total": 20, "heldout_correct": 4, "heldout_total": 4, "combined": 0.5},
        {"iter": 1, "add_correct": 12, "add_total": 20, "sub_correct": 6, "sub_total": 20, "heldout_correct": 0, "heldout_total": 4, "combined": 0.45},
    ]
    assert best_record(records, "combined")["iter"] == 0
    assert best_record(records, "in_distribution")["iter"] == 1  # 18/36 beats 16/36
    config = _with(tiny(iters=20, interval=10), "eval", selection="in_distribution")
    (run,) = train(config, [1], tmp_path, RunOptions(device="cpu", progress=False))
    assert run.read_summary()["best"]["iter"] == best_record(run.read_metrics(), "in_distribution")["iter"]


@pytest.mark.parametrize(
    "section,values,message",
    [
        ("task", {"held_out": ((a, b) for a in range(10) for b in range(a, 10))}, "every operand pair is held out"),
        ("task", {"held_out_random": 46}, "larger than the number of unordered pairs"),
        ("task", {"line_order": "random"}, "task.line_order: unknown mode"),
        ("train", {"sampling": "shuffled"}, "train.sampling: unknown mode"),
        ("train", {"loss_on": "digits"}, "train.loss_on: unknown mode"),
        ("eval", {"selection": "heldout"}, "eval.selection: unknown mode"),
        ("task", {"held_out_seed": 3}, "held_out_seed only applies with task.held_out_random"),
    ],
)
def test_bad_protocol_values_are_refused_by_name(section, values, message):
    config = tiny()
    values = {k: tuple(v) if k == "held_out" else v for k, v in values.items()}
    with pytest.raises(ConfigError, match=message):
        _with(config, section, **values)


def test_answer_loss_on_a_task_without_answers_is_refused():
    with pytest.raises(ConfigError, match="only the arithmetic task marks its answers"):
        _with(tiny("capitals"), "train", loss_on="answers")


def test_order_fraction_only_where_training_minimizes_the_stream_loss(tmp_path):
    windows = tiny(iters=10, interval=10)
    lines = _with(windows, "train", sampling="lines")
    answers = _with(windows, "train", loss_on="answers")
    fractions = {}
    for name, config in (("windows", windows), ("lines", lines), ("answers", answers)):
        (run,) = train(config, [1], tmp_path / name, RunOptions(device="cpu", progress=False))
        summary = run.read_summary()
        assert summary["loss_floors"] == {"order_agnostic": pytest.approx(0.76666, abs=1e-4), "exact_stream": pytest.approx(0.53081, abs=1e-4)}
        fractions[name] = summary["order_fraction"]
    assert isinstance(fractions["windows"], float) and fractions["lines"] is None and fractions["answers"] is None
