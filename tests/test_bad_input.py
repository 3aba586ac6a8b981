"""Bad input across every subcommand: exit code 2, one short message (at most 2 lines), no
traceback, nothing new or changed on disk. Runs in-process (cli.main) to keep 60+ cases fast;
tests/test_cli.py checks the same through real subprocesses for a sample of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import toobig
from toobig import cli

RUN = "{run}"  # replaced by a real, complete run directory
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="refuses --device cuda only where CUDA is missing")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad-input-run")
    (run,) = toobig.train(toobig.config(iters=20, eval_interval=10, num_samples=2), seeds=[1], out=out, device="cpu", progress=False)
    return run.path


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.name != ".lock"}


CASES = [
    # train: configuration
    (["train", "--task", "poetry"], "unknown task 'poetry'"),
    (["train", "--model", "gpt2"], "unknown model 'gpt2'"),
    (["train", "--model", "n0"], "unknown model 'n0'"),
    (["train", "--regularization", "heavy"], "unknown condition 'heavy'"),
    (["train", "--set", "train.learning_rate=-1"], "train.learning_rate must be > 0"),
    (["train", "--set", "train.nonsense=1"], "unknown config key 'train.nonsense'"),
    (["train", "--set", "train.learning_rate"], "--set expects key=value"),
    (["train", "--set", "train.learning_rate=fast"], "train.learning_rate"),
    (["train", "--set", "model.n_embd=15", "--set", "model.n_head=2"], "must be divisible by model.n_head"),
    (["train", "--set", "model.block_size=4"], "model.block_size (4) is shorter"),
    (["train", "--set", "model.dropout=1.5"], "model.dropout must be in [0, 1)"),
    (["train", "--set", "task.held_out=[[5, 12]]"], "outside the operand range"),
    (["train", "--set", "task.held_out_random=46"], "larger than the number of unordered pairs"),
    (["train", "--set", "task.held_out=" + str([[a, b] for a in range(10) for b in range(a, 10)])], "every operand pair is held out"),
    (["train", "--set", "task.line_order=random"], "task.line_order: unknown mode 'random'"),
    (["train", "--set", "train.sampling=shuffle"], "train.sampling: unknown mode 'shuffle'"),
    (["train", "--set", "eval.selection=heldout"], "eval.selection: unknown mode 'heldout'"),
    (["train", "--set", "train.max_iters=-5"], "train.max_iters must be >= 1"),
    (["train", "--set", "train.batch_size=0"], "train.batch_size"),
    (["train", "--set", "eval.interval=0"], "eval.interval"),
    (["train", "--set", "eval.num_samples=0"], "eval.num_samples"),
    (["train", "--set", "model_name=../../x"], "unknown model '../../x'"),
    (["train", "--set", "task.name=../x"], "unknown task '../x'"),
    (["train", "--set", "regularization=../x"], "unknown condition '../x'"),
    (["train", "--task", "capitals", "--set", "train.loss_on=answers"], "loss_on=answers: only the arithmetic task marks its answers (after '=' through '>'); the capitals task does not"),
    (["train", "--set", "train.loss_on=characters"], "train.loss_on: unknown mode 'characters'"),
    (["train", "--task", "capitals", "--set", "train.sampling=lines"], "sampling=lines: a corpus line has"),
    # train: flags
    (["train", "--iters", "0"], "--iters must be >= 1, got 0"),
    (["train", "--iters", "-5"], "--iters must be >= 1, got -5"),
    (["train", "--iters", "1e3"], "argument --iters: invalid int value: '1e3'"),
    (["train", "--iters", "100", "--schedule", "linear"], "invalid choice: 'linear'"),
    (["train", "--seeds", "a,b"], "--seeds expects comma-separated integers"),
    (["train", "--seeds", "1,1"], "--seeds must be a non-empty list of distinct integers"),
    (["train", "--seeds", "-1"], "--seeds must be a non-empty list of distinct integers"),
    (["train", "--num-seeds", "0"], "--num-seeds must be >= 1"),
    (["train", "--seeds", "1", "--num-seeds", "2"], "mutually exclusive"),
    (["train", "--device", "tpu"], "--device: unknown device 'tpu'"),
    (["train", "--batch-shards", "5"], "--batch-shards must divide train.batch_size = 882 (arithmetic-n14-paper), got 5"),
    (["train", "--batch-shards", "0"], "--batch-shards must be an integer >= 1, got 0"),
    (["train", "--max-members", "0"], "--max-members must be an integer >= 1"),
    (["train", "--config", "missing.toml"], "missing.toml"),
    (["train", "--config", "{bad_toml}"], "bad.toml"),
    (["train", "--corpus", "missing.txt"], "missing.txt"),
    (["train", "--corpus", "{empty_corpus}"], "the training corpus of task 'arithmetic' is empty"),
    (["train", "--corpus", "{binary_corpus}"], "cannot read"),
    (["train", "--corpus", "{foreign_corpus}"], "lacks the characters '+-0123456789<=' that the arithmetic evaluation prompts use"),
    (["train", "--corpus", "{partial_corpus}"], "lacks the characters '-0456789'"),
    (["train", "--task", "pairs"], "task.name=pairs needs task.pairs_file"),
    (["train", "--task", "pairs", "--pairs", "{partial_corpus}"], "line 1: expected 'prompt<TAB>answer'"),
    (["train", "--task", "pairs", "--pairs", "missing.tsv"], "task.pairs_file: no such file"),
    (["train", "--pairs", "{partial_corpus}"], "task.pairs_file: only the pairs task reads one"),
    (["train", "--resume", "x", "--iters", "5"], "--resume continues a run with its own config.toml"),
    (["train", "--resume", "x", "--compile"], "--resume continues a run with the --compile/--batch-shards"),
    (["train", "--resume", "no-such-run"], "no-such-run"),
    (["train", "--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    (["train", "--set", "seed=-3"], "seed must be in [0, 2**63), got -3"),
    (["train", "--iters", "1000000000000"], "train.max_iters must be <= 100,000,000"),
    (["train", "--set", "eval.num_samples=1000000000"], "eval.num_samples must be <= 1,000"),
    (["train", "--out", "{a_file}"], "is a file; runs go into a folder"),
    (["reproduce", "--out", "{a_file}"], "is a file; the runs and the report go into a folder"),
    (["sweep", "{sweep_ok}", "--out", "{a_file}"], "is a file; runs go into a folder"),
    (["train", "--out", "{below_a_file}"], "is a file; runs go into a folder"),
    (["report", "{empty_dir}", "--out", "{a_file}"], "is a file; the report goes into a folder"),
    (["report", "{empty_dir}", "--out", "{figures_a_file}"], "is a file; the report's figures go into a folder"),
    (["reproduce", "--out", "{report_a_file}"], "is a file; the report goes into a folder"),  # before training
    (["train", "--set", "model.block_size=10000000"], "model.block_size must be <= 1,000,000"),
    (["train", "--set", "model.n_embd=1e30"], "model.n_embd must be <= 1,000,000"),
    (["train", "--set", "model.n_layer=100000"], "model.n_layer must be <= 1,000"),
    (["train", "--set", "train.batch_size=100000000"], "train.batch_size must be <= 1,000,000"),
    # eval, sample, extrapolate
    (["eval", "no-such-run"], "no-such-run"),
    (["eval", RUN, "--checkpoint", "middle"], "unknown checkpoint 'middle'"),
    (["eval", "{empty_dir}"], "empty"),
    (["sample", RUN, "--prompt", "<5+7=", "--num-samples", "0"], "--num-samples and --max-new-tokens must be >= 1"),
    (["sample", RUN, "--prompt", "<5+7=", "--max-new-tokens", "0"], "--num-samples and --max-new-tokens must be >= 1"),
    (["sample", RUN, "--prompt", "<5+7=", "--temperature", "0"], "--temperature must be > 0"),
    (["sample", RUN, "--prompt", "<5*7="], "--prompt"),
    (["sample", RUN, "--prompt", ""], "--prompt must not be empty"),
    (["sample", RUN, "--prompt", "<5+7=", "--max-new-tokens", "1000000000"], "--max-new-tokens"),
    (["sample", RUN], "--prompt"),
    (["sample", "no-such-run", "--prompt", "<5+7="], "no-such-run"),
    (["extrapolate", RUN, "--max-operand", "0"], "--max-operand must be >= 1"),
    (["extrapolate", "no-such-run"], "no-such-run"),
    (["extrapolate", RUN, "--max-operand", "9"], "adds no operand beyond the run's training range 0..9"),
    (["extrapolate", RUN, "--max-operand", "9999"], "does not fit the model's context of 9"),
    # reproduce, sweep, report, runs, info
    (["reproduce", "--experiments", "table9"], "unknown experiment 'table9'"),
    (["reproduce", "--num-seeds", "0"], "--num-seeds must be >= 1"),
    (["reproduce", "--max-iters", "0"], "--max-iters must be >= 1"),
    (["reproduce", "--models", " , "], "--models expects comma-separated model names (e.g. n28,n56), got ' , '"),
    (["reproduce", "--experiments", "order-ablation", "--models", "n29"], "--models: n29: not a model of these experiments"),
    (["reproduce", "--models", "mlt", "--device", "cpu"], "--models: mlt: not a model of these experiments"),
    (["reproduce", "--experiments", " , "], "--experiments: no experiment named in ' , '"),
    (["reproduce", "--workers", "0"], "--workers must be >= 1, got 0"),
    (["reproduce", "--address", "ray://x:1"], "--address is only used with --executor ray"),
    (["sweep", "{empty_dir}"], "is a folder, not a TOML file"),
    (["reproduce", "--executor", "slurm"], "invalid choice: 'slurm'"),
    (["sweep", "missing.toml"], "missing.toml"),
    (["sweep", "{bad_toml}"], "bad.toml"),
    (["sweep", "{sweep_unknown_model}"], "sweep.models: unknown name 'gpt2'"),
    (["sweep", "{sweep_ok}", "--batch-shards", "5"], "--batch-shards must divide train.batch_size"),
    (["sweep", "{sweep_ok}", "--batch-shards", "0"], "--batch-shards must be an integer >= 1, got 0"),
    (["sweep", "{sweep_ok}", "--max-members", "0"], "--max-members must be an integer >= 1"),
    (["reproduce", "--batch-shards", "5"], "--batch-shards must divide train.batch_size = 882 (arithmetic-n14-paper), got 5"),
    (["reproduce", "--max-members", "-1"], "--max-members must be an integer >= 1, got -1"),
    (["train", "--resume", "x", "--max-members", "2"], "--resume trains the run's whole population at once"),
    pytest.param(["sweep", "{sweep_ok}", "--device", "cuda"], "CUDA is not available", marks=NO_CUDA),
    pytest.param(["reproduce", "--experiments", "table2", "--device", "cuda"], "CUDA is not available", marks=NO_CUDA),
    (["report", "no-such-dir"], "no such runs directory: no-such-dir"),
    (["compare", "no-such-dir", RUN], "no such folder: no-such-dir"),
    (["compare", RUN, "{empty_dir}"], "holds no readable run; pass the folder of one configuration"),
    (["compare", RUN], "compare needs two configuration folders, or one or more with --than FOLDER"),
    (["compare", RUN, "--than", RUN], "share runs; each configuration folder takes one side"),
    (["compare", RUN, "{run_dot}"], "share runs; each configuration folder takes one side"),  # one folder, spelled twice
    (["compare", "{run_parent}", RUN], "share runs; each configuration folder takes one side"),  # a folder and its seed run
    (["runs", "no-such-dir"], "no such runs directory: no-such-dir"),
    (["info", "--model", "n0"], "unknown model 'n0'"),
    (["info", "--set", "model.n_layer=0"], "model.n_layer"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
]


def _case_id(case) -> str:
    argv = case.values[0] if hasattr(case, "values") else case[0]
    return " ".join(argv)[:60] or "(none)"


@pytest.mark.parametrize("argv,message", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_on_disk(argv, message, run_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.toml").write_text("x = \n")
    (tmp_path / "sweep.toml").write_text('[sweep]\ntasks = ["arithmetic"]\nmodels = ["gpt2"]\n')
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    for folder, name in (("figures_a_file", "figures"), ("report_a_file", "report")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("not a folder\n")
    (tmp_path / "ok.toml").write_text('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\niters = 10\n')
    corpora = {"empty": b"", "binary": bytes(range(256)), "foreign": "h\u00e9llo w\u00f6rld\n".encode(),
               "partial": b"<1+1=2>\n<12+1=13>\n"}
    for name, data in corpora.items():
        (tmp_path / f"{name}.txt").write_bytes(data)
    paths = {**{f"{{{name}_corpus}}": str(tmp_path / f"{name}.txt") for name in corpora},"{run}": str(run_dir), "{run_dot}": f"{run_dir}/.", "{run_parent}": str(run_dir.parent), "{bad_toml}": str(tmp_path / "bad.toml"), "{empty_dir}": str(tmp_path / "empty"),
             "{sweep_unknown_model}": str(tmp_path / "sweep.toml"), "{a_file}": str(tmp_path / "a_file"),
             "{below_a_file}": str(tmp_path / "a_file" / "below"),
             "{figures_a_file}": str(tmp_path / "figures_a_file"), "{report_a_file}": str(tmp_path / "report_a_file"),
             "{sweep_ok}": str(tmp_path / "ok.toml")}
    argv = [paths.get(a, a) for a in argv]
    if argv and argv[0] in ("train", "reproduce") and "--out" not in argv:
        argv += ["--out", "runs"]
    monkeypatch.chdir(tmp_path)
    before, run_before = _files(tmp_path), _files(run_dir)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.strip().count("\n") <= 1, err
    assert out == "", out  # the one line is all bad input gets
    assert _files(tmp_path) == before and _files(run_dir) == run_before
