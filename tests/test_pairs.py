"""A task of your own from a file of prompt/answer pairs: the corpus, the prompts, the scores,
and train, eval, sample, runs and report through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toobig
from toobig import cli
from toobig.config import ConfigError
from toobig.tasks import build_task, corpus_text, is_correct
from toobig.training import Prepared

# Multiplication, with two products held out.
PAIRS = "".join(f"<{a}*{b}=\t{a * b}>{chr(9) + 'held_out' if (a, b) in {(3, 4), (4, 3)} else ''}\n"
                for a in range(1, 6) for b in range(1, 6))


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    path = tmp_path / "mul.tsv"
    path.write_text("# products of 1..5\n\n" + PAIRS)
    return path


def _config(pairs_file: Path, **values):
    return toobig.config("pairs", "n14", pairs_file=str(pairs_file), **values)


def test_the_corpus_is_the_pairs_not_held_out_and_every_pair_is_a_prompt(pairs_file):
    config = _config(pairs_file)
    text = corpus_text(config.task)
    expected = {f"<{a}*{b}={a * b}>\n" for a in range(1, 6) for b in range(1, 6) if (a, b) not in {(3, 4), (4, 3)}}
    assert sorted(text.splitlines(keepends=True)) == sorted(expected)  # 23 lines, each once
    assert text != "".join(sorted(expected))  # shuffled with data_seed
    prompts = build_task(config.task).prompts(config.eval)
    assert len(prompts) == 25 and {p.text for p in prompts if p.held_out} == {"<3*4=", "<4*3="}
    (p34,) = [p for p in prompts if p.text == "<3*4="]
    assert p34.answer == "12>" and p34.kind == "fact" and p34.max_new_tokens == len("12>") + 2


def test_a_completion_is_right_when_its_first_line_is_the_answer(pairs_file):
    (prompt,) = [p for p in build_task(_config(pairs_file).task).prompts(_config(pairs_file).eval) if p.text == "<2*5="]
    assert is_correct(prompt, "10>\n<1*")
    assert not is_correct(prompt, "10\n") and not is_correct(prompt, "100>\n")


def test_per_seed_line_order_shuffles_the_pairs_corpus_per_seed(pairs_file):
    from dataclasses import replace

    config = _config(pairs_file, line_order="seed")
    texts = {Prepared.from_config(replace(config, seed=s)).text for s in (1, 2)}
    assert len(texts) == 2 and len({tuple(sorted(t.splitlines())) for t in texts}) == 1


def test_train_eval_sample_runs_and_report_through_the_cli(pairs_file, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["train", "--task", "pairs", "--pairs", str(pairs_file), "--iters", "30", "--eval-interval", "10",
                     "--set", "eval.num_samples=2", "--seeds", "1,2", "--quiet", "--out", str(out)]) == 0
    runs = sorted(out.glob("pairs-n14-paper-*/seed*"))
    assert [r.name for r in runs] == ["seed1", "seed2"]
    record = json.loads((runs[0] / "metrics.jsonl").read_text().splitlines()[-1])
    # Every pair asked num_samples times, the held-out ones among them; no arithmetic.
    assert (record["facts_total"], record["heldout_total"], record["add_total"]) == (50, 4, 0)
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["held_out"] == ["<3*4=", "<4*3="]
    capsys.readouterr()
    assert cli.main(["eval", str(runs[0]), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    best = summary["best"]
    assert {k: evaluated[k] for k in ("facts_correct", "heldout_correct")} == {k: best[k] for k in ("facts_correct", "heldout_correct")}
    assert cli.main(["sample", str(runs[0]), "--prompt", "<3*4=", "--max-new-tokens", "3"]) == 0
    assert len(capsys.readouterr().out.strip()) > 0
    assert cli.main(["runs", str(out)]) == 0
    assert "pairs-n14-paper" in capsys.readouterr().out
    assert cli.main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    other = (tmp_path / "report" / "report.md").read_text().split("## Other runs")[1].split("\n## ")[0]
    assert "pairs-n14-paper" in other and "held-out pairs of mul.tsv" in other and "| 2 of 2 |" in other


@pytest.mark.parametrize("text,message", [
    ("<1*1=\t1>\n<1*2=\n", "line 2: expected 'prompt<TAB>answer'"),
    ("<1*1=\t1>\tmaybe\n", "line 1: expected 'prompt<TAB>answer' or 'prompt<TAB>answer<TAB>held_out'"),
    ("<1*1=\t \n", "line 1: the prompt and the answer must not be empty"),
    ("<1*1=\t1>\n<1*1=\t2>\n", "line 2: the prompt '<1*1=' is already on line 1"),
    ("<1*1=\t1>\theld_out\n", "every pair is held out"),
    ("# nothing\n", "no prompt/answer pairs"),
])
def test_a_bad_pairs_file_is_refused_with_its_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("(", r"\(")):
        Prepared.from_config(_config(path))


def test_pairs_need_a_file_and_only_the_pairs_task_takes_one(tmp_path):
    with pytest.raises(ConfigError, match="task.name=pairs needs task.pairs_file"):
        Prepared.from_config(toobig.config("pairs", "n14"))
    with pytest.raises(ConfigError, match="task.pairs_file: only the pairs task reads one"):
        toobig.config("arithmetic", "n14", pairs_file=str(tmp_path / "x.tsv"))
    with pytest.raises(ConfigError, match="no such file"):
        Prepared.from_config(_config(tmp_path / "missing.tsv"))


def test_the_example_pairs_file_is_multiplication_with_3x7_held_out():
    example = Path(__file__).resolve().parents[1] / "examples" / "multiplication.tsv"
    prompts = build_task(_config(example).task).prompts(_config(example).eval)
    assert len(prompts) == 100 and sorted(p.text for p in prompts if p.held_out) == ["<3*7=", "<7*3="]
    assert all(p.answer == f"{eval(p.text[1:-1])}>" for p in prompts)  # noqa: S307 (our own file)


def test_a_relative_file_is_stored_absolute_so_the_run_reads_it_from_anywhere(pairs_file, tmp_path, monkeypatch):
    from toobig.sweep_file import load_sweep

    monkeypatch.chdir(tmp_path)
    assert toobig.config("pairs", "n14", pairs_file="mul.tsv").task.pairs_file == str(pairs_file)
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[sweep]\ntasks = ["pairs"]\nmodels = ["n14"]\n[set]\n"task.pairs_file" = "mul.tsv"\n')
    (config,) = load_sweep(sweep)
    assert config.task.pairs_file == str(pairs_file)
    # As the CLI's --pairs: a relative path through a link names the file itself (one run
    # directory per file); an absolute path is kept as given, so that its digest stays.
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    assert toobig.config("pairs", "n14", pairs_file="link/mul.tsv").task.pairs_file == str(pairs_file)
    given = f"{tmp_path}/./mul.tsv"
    assert toobig.config("pairs", "n14", pairs_file=given).task.pairs_file == given
