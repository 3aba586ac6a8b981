"""Evaluation: an oracle scores 100%, a wrong model 0%, batched generation equals one-at-a-time."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from toobig import model as gpt
from toobig.engine import rng
from toobig.training import Prepared
from toobig.evaluation import Completions, Evaluator, heldout_answers, score, tally
from toobig.presets import make_config
from toobig.tasks import build_task


def _oracle_logits(tokenizer, prompts, wrong: bool):
    """A 'model' that reads each row's text and puts all mass on the right (or a wrong) next char."""
    targets = {}
    for p in prompts:
        answer = p.answer if not wrong else ("x" if p.kind == "fact" else str(int(p.answer) + 1))
        terminator = "\n" if p.kind == "fact" else ">"
        targets[p.text] = answer + terminator

    def next_logits(params, seq, length):
        k, a, _ = seq.shape
        logits = torch.full((k, a, tokenizer.vocab_size), -1e4)
        for i in range(k):
            for j in range(a):
                text = tokenizer.decode(seq[i, j, : int(length[i, j])])
                prompt = next(t for t in targets if text.startswith(t))
                done = len(text) - len(prompt)
                full = targets[prompt]
                ch = full[done] if done < len(full) else " "
                if ch not in tokenizer.chars:  # "x" is not in the arithmetic vocabulary
                    ch = "+"
                logits[i, j, tokenizer.chars.index(ch)] = 1e4
        return logits

    return next_logits


@pytest.mark.parametrize("task", ["arithmetic", "capitals", "combined"])
@pytest.mark.parametrize("wrong", [False, True])
def test_oracle_scores_all_and_wrong_model_scores_nothing(task, wrong):
    config = make_config(task, "n14")
    # A block wide enough that no prompt is cropped: the oracle reads whole prompts.
    config = replace(config, model=replace(config.model, block_size=64), eval=replace(config.eval, num_samples=2))
    prepared = Prepared.from_config(config)
    prompts = build_task(config.task).prompts(config.eval)
    evaluator = Evaluator(prompts, prepared.tokenizer, config.model, config.eval, prepared.data, torch.device("cpu"))
    evaluator.next_logits = _oracle_logits(prepared.tokenizer, prompts, wrong)
    params = gpt.stack_members([gpt.init_member(config.model, prepared.tokenizer.vocab_size, 0)])
    completions = evaluator.generate(params, rng.member_keys([0]), iteration=0)
    (metrics,) = tally(prompts, score(prompts, completions, prepared.tokenizer), completions.prompt_index)
    expected = 0.0 if wrong else 1.0
    assert metrics["combined"] == expected
    if task != "capitals":
        assert metrics["add_total"] == metrics["sub_total"] == 200  # 100 pairs x 2 samples
        assert metrics["heldout_total"] == 8  # 4 held-out prompts x 2 samples
        assert metrics["heldout_correct"] == (0 if wrong else 8)
        right = 0 if wrong else 2  # of each held-out prompt's 2 samples
        assert metrics["heldout_by_prompt"] == {"<5+7=": right, "<7+5=": right, "<5-7=": right, "<7-5=": right}
        (answers,) = heldout_answers(prompts, completions, prepared.tokenizer)
        # The oracle's wrong answer is the right one plus 1; 4 characters are generated, the 4th
        # the line's padding.
        given = {"<5+7=": 12, "<7+5=": 12, "<5-7=": -2, "<7-5=": 2}
        assert answers == {text: {f"{value + wrong}>": 2} for text, value in given.items()}
        assert metrics["add_acc"] == metrics["sub_acc"] == expected
    else:
        assert "heldout_by_prompt" not in metrics  # nothing held out
        (recorded,) = evaluator(params, rng.member_keys([0]), iteration=0)
        assert "heldout_answers" not in recorded and "heldout_by_prompt" not in recorded
    if task != "arithmetic":
        assert metrics["facts_total"] == 100
        assert metrics["facts_acc"] == expected


def test_heldout_answers_count_each_members_own_completions():
    config = make_config("arithmetic", "n14")
    prompts = build_task(config.task).prompts(replace(config.eval, paper_counts=False))
    tokenizer = Prepared.from_config(config).tokenizer
    index = {p.text: i for i, p in enumerate(prompts)}
    picked = ["<5+7=", "<1+1=", "<3-8="]
    # Two members, three samples per prompt; member 0 holds out (5,7), member 1 (1,1) and (3,8).
    sampled = {
        0: {"<5+7=": ["13>\n", "12>\n", "13>\n"], "<1+1=": ["2>\n"] * 3, "<3-8=": ["5>\n"] * 3},
        1: {"<5+7=": ["12>\n"] * 3, "<1+1=": ["2>\n", "11>\n", ">\n\n\n"], "<3-8=": ["5> \n", "-5>\n", "5>\n"]},
    }
    rows = [(text, s) for text in picked for s in range(3)]
    tokens = np.array([[tokenizer.encode(sampled[m][text][s].ljust(4, "\n")) for text, s in rows] for m in (0, 1)])
    completions = Completions(tokens, np.array([index[text] for text, _ in rows]))
    held_out = np.zeros((2, len(prompts)), dtype=bool)
    held_out[0, index["<5+7="]] = True
    held_out[1, [index["<1+1="], index["<3-8="]]] = True
    answers = heldout_answers(prompts, completions, tokenizer, held_out)
    assert answers == [
        {"<5+7=": {"13>": 2, "12>": 1}},
        {"<1+1=": {">": 1, "11>": 1, "2>": 1}, "<3-8=": {"5>": 2, "-5>": 1}},
    ]
    # Most frequent first, ties by text (dicts compare equal in any order, lists do not).
    assert [list(a.items()) for a in answers[1].values()] == [[("11>", 1), ("2>", 1), (">", 1)], [("5>", 2), ("-5>", 1)]]
    assert list(answers[0]["<5+7="]) == ["13>", "12>"]
    assert heldout_answers(prompts, completions, tokenizer, np.zeros_like(held_out)) == [{}, {}]


def test_paper_counts_give_910_per_operation():
    config = make_config("arithmetic", "n14")
    prompts = build_task(config.task).prompts(replace(config.eval, paper_counts=True))
    assert sum(p.kind == "add" for p in prompts) * 10 == 910
    assert sum(p.kind == "sub" for p in prompts) * 10 == 910
    assert sum(p.held_out for p in prompts) * 10 == 40


def _reference_generate(params, cfg, tokenizer, text, max_new):
    """nanoGPT's generate for one prompt, greedy: crop to block_size, append argmax."""
    idx = tokenizer.encode(text)
    for _ in range(max_new):
        window = torch.tensor([idx[-cfg.block_size:]])
        logits = gpt.head(params, gpt.hidden_states(params, window.unsqueeze(0), cfg))[0, 0, -1]
        idx.append(int(logits.argmax()))
    return tokenizer.decode(idx[len(tokenizer.encode(text)):])


def test_batched_generation_equals_one_prompt_at_a_time():
    # Capitals prompts are longer than the 24-character block, so cropping and sliding are exercised.
    config = make_config("combined", "n28")
    config = replace(config, eval=replace(config.eval, greedy=True, num_samples=1))
    prepared = Prepared.from_config(config)
    prompts = build_task(config.task).prompts(config.eval)[::7]  # a spread of both kinds
    evaluator = Evaluator(prompts, prepared.tokenizer, config.model, config.eval, prepared.data, torch.device("cpu"))
    members = [gpt.init_member(config.model, prepared.tokenizer.vocab_size, s) for s in (3, 4)]
    params = gpt.stack_members(members)
    completions = evaluator.generate(params, rng.member_keys([3, 4]), iteration=0)
    for k in range(2):
        single = gpt.stack_members([members[k]])
        for row, p in enumerate(prompts):
            expected = _reference_generate(single, config.model, prepared.tokenizer, p.text, p.max_new_tokens)
            got = prepared.tokenizer.decode(completions.tokens[k, row, : p.max_new_tokens])
            # Generation stops at a newline; compare up to and including it.
            cut = expected.find("\n")
            if cut >= 0:
                expected, got = expected[: cut + 1], got[: cut + 1]
            assert got == expected, (k, p.text)


def test_exact_loss_matches_naive_average_over_all_windows():
    config = make_config("arithmetic", "n14")
    prepared = Prepared.from_config(config)
    evaluator = Evaluator([], prepared.tokenizer, config.model, config.eval, prepared.data, torch.device("cpu"))
    # Large weights make the windows' losses differ widely, so one window missing would show.
    params = {n: 30 * w for n, w in gpt.stack_members([gpt.init_member(config.model, prepared.tokenizer.vocab_size, 5)]).items()}
    data, t = prepared.data, config.model.block_size
    losses = []
    for i in range(data.numel() - t):
        x, y = data[i : i + t], data[i + 1 : i + 1 + t]
        logits = gpt.head(params, gpt.hidden_states(params, x.view(1, 1, -1), config.model))[0, 0]
        losses.append(torch.nn.functional.cross_entropy(logits, y))
    assert torch.stack(losses).std().item() > 1.0
    assert evaluator.loss(params)[0].item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-6)


def test_a_members_samples_do_not_depend_on_the_population():
    # Capitals prompts differ in length and rows stop at different steps: the riskiest case.
    config = make_config("capitals", "n28")
    prepared = Prepared.from_config(config)
    prompts = build_task(config.task).prompts(config.eval)
    evaluator = Evaluator(prompts, prepared.tokenizer, config.model, config.eval, prepared.data, torch.device("cpu"))
    members = [gpt.init_member(config.model, prepared.tokenizer.vocab_size, s) for s in (8, 9)]
    both = evaluator.generate(gpt.stack_members(members), rng.member_keys([8, 9]), iteration=250)
    alone = evaluator.generate(gpt.stack_members(members[1:]), rng.member_keys([9]), iteration=250)
    assert (both.tokens[1] == alone.tokens[0]).all()


@pytest.mark.parametrize("temperature,top_k", [(1.0, 17), (0.7, 3)])
def test_sampling_draws_from_the_tempered_top_k_softmax(temperature, top_k):
    """Empirical frequencies of the evaluation's sampler against probabilities computed here:
    softmax(logits / temperature) over the top_k logits, zero elsewhere."""
    config = make_config("arithmetic", "n14")
    prepared = Prepared.from_config(config)
    ecfg = replace(config.eval, temperature=temperature, top_k=top_k)
    evaluator = Evaluator([], prepared.tokenizer, config.model, ecfg, prepared.data, torch.device("cpu"))
    vocab, rows = 17, 40_000
    logits = torch.linspace(-1.0, 2.0, vocab)[torch.randperm(vocab, generator=torch.Generator().manual_seed(3))]
    keys = rng.member_keys([11])
    tokens = evaluator._sample(logits.expand(1, rows, vocab), keys, 7, 0, torch.arange(rows))
    counts = torch.bincount(tokens[0], minlength=vocab).double()
    top = logits.topk(top_k).indices
    want = torch.zeros(vocab, dtype=torch.float64)
    want[top] = torch.softmax(logits[top].double() / temperature, dim=0)
    assert counts[want == 0].sum() == 0
    sigma = torch.sqrt(rows * want * (1 - want)).clamp(min=1.0)
    assert ((counts - rows * want).abs() <= 5 * sigma).all(), (counts / rows, want)
