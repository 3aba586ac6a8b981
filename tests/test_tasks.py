"""Tasks generate exactly the paper's corpora and the right evaluation prompts."""

from __future__ import annotations

import pytest

from toobig.config import TaskConfig
from toobig.tasks import build_task, corpus_text, parse_answer, prompt_answer
from toobig.tasks.arithmetic import arithmetic_prompts, line_width
from toobig.tokenizer import CharTokenizer

FILES = {"arithmetic": "arithmetic.txt", "capitals": "capitals.txt", "combined": "combined.txt"}


@pytest.mark.parametrize("task", FILES)
def test_generated_corpus_has_exactly_the_reference_lines(task, reference_dir):
    reference = (reference_dir / "data" / FILES[task]).read_text()
    generated = corpus_text(TaskConfig(name=task))
    assert sorted(generated.splitlines(keepends=True)) == sorted(reference.splitlines(keepends=True))
    assert len(generated) == len(reference)


def test_combined_corpus_is_arithmetic_then_capitals(reference_dir):
    combined = corpus_text(TaskConfig(name="combined"))
    arithmetic = corpus_text(TaskConfig(name="arithmetic"))
    capitals = corpus_text(TaskConfig(name="capitals"))
    assert combined == arithmetic + capitals


@pytest.mark.parametrize("task,vocab", [("arithmetic", 17), ("capitals", 51), ("combined", 66)])
def test_vocabulary_sizes(task, vocab):
    assert CharTokenizer.from_text(corpus_text(TaskConfig(name=task))).vocab_size == vocab


def test_corpus_file_is_loaded_as_is(reference_dir):
    path = reference_dir / "data" / "arithmetic.txt"
    assert corpus_text(TaskConfig(corpus_file=str(path))) == path.read_text()


def test_shuffle_depends_on_data_seed_only():
    a = corpus_text(TaskConfig(data_seed=1))
    assert a == corpus_text(TaskConfig(data_seed=1))
    assert a != corpus_text(TaskConfig(data_seed=2))


def test_held_out_lines_are_absent_and_only_they():
    lines = build_task(TaskConfig()).lines()
    bodies = {line.strip() for line in lines}
    for held in ("<5+7=12>", "<7+5=12>", "<5-7=-2>", "<7-5=2>"):
        assert held not in bodies
    assert len(lines) == 196
    assert all(len(line) == 9 and line.endswith("\n") for line in lines)


def test_held_out_pairs_and_operand_range_are_configurable():
    task = build_task(TaskConfig(operand_max=12, held_out=((3, 4), (0, 11))))
    bodies = {line.strip() for line in task.lines()}
    assert "<5+7=12>" in bodies and "<3+4=7>" not in bodies and "<11-0=11>" not in bodies
    width = line_width(12)
    assert all(len(line) == width for line in task.lines())
    assert len(task.lines()) == 2 * (13 * 13 - 4)


def test_out_of_range_prompts_exclude_single_digit_pairs():
    prompts = arithmetic_prompts(19, ((5, 7),), skip_below=9)
    assert len(prompts) == 2 * (400 - 100)
    assert all(max(int(x) for x in p.text[1:-1].replace("+", " ").replace("-", " ").split()) > 9 for p in prompts)


def test_capital_prompts_use_training_prefix_unless_reference_prompts():
    from toobig.config import EvalConfig

    task = build_task(TaskConfig(name="capitals"))
    texts = [p.text for p in task.prompts(EvalConfig())]
    assert "Capital of the USA is " in texts and "Capital of the UK is " in texts
    reference = [p.text for p in task.prompts(EvalConfig(reference_prompts=True))]
    assert "Capital of USA is " in reference and "Capital of UK is " in reference
    assert len(texts) == len(reference) == 50


def test_fact_scoring_takes_the_first_line_trimmed_and_ignores_case_and_a_final_period():
    from toobig.tasks.capitals import score_fact

    assert score_fact("paris \nCapital of", "Paris")
    assert score_fact(" PARIS.", "Paris")
    assert not score_fact("Pari", "Paris") and not score_fact("\nParis", "Paris")


def test_prompt_answer_and_parse_answer_read_arithmetic_text():
    for a in range(20):
        for b in range(20):
            assert prompt_answer(f"<{a}+{b}=") == a + b and prompt_answer(f"<{a}-{b}=") == a - b
    assert [prompt_answer(t) for t in ("<5+7", "5+7=", "<5*7=", "<Paris=", "<5+7=1")] == [None] * 5
    assert [parse_answer(t) for t in ("12>", "-2> ", "7", ">12", "", "- 2")] == [12, -2, 7, None, None, None]
